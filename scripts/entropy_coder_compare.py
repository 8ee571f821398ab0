"""The entropy coder of an earlier commit against today's, side by side in one process.

    git show 7c5244b:aepipe/runtime/codec/entropy.py > /tmp/entropy_old.py
    python scripts/entropy_coder_compare.py /tmp/entropy_old.py

Same Laplacian tables and symbols (2 M, 192 channels, one table per channel) for both; the
bytes must be identical; prints the median encode/decode MB/s of int32 symbols over 5 rounds.
"""

from __future__ import annotations

import importlib.util
import sys
import time

import numpy as np

from aepipe.runtime.codec import entropy as current


def load(path: str):
    spec = importlib.util.spec_from_file_location("entropy_earlier", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["entropy_earlier"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def main() -> None:
    earlier = load(sys.argv[1])
    rng = np.random.default_rng(0)
    scales = rng.uniform(0.3, 4.0, size=192)
    tables = current._laplacian_tables(scales)
    coders = {
        "earlier": (earlier, earlier.EntropyTables.from_json(tables.to_json())),
        "current": (current, tables),
    }
    shape = (192, 1, 2_000_000 // 192)
    symbols = np.rint(rng.laplace(0.0, scales[:, None, None], size=shape)).astype(np.int32)
    streams = {name: m.encode_symbols(symbols, t) for name, (m, t) in coders.items()}
    assert streams["earlier"] == streams["current"], "the coders write different bytes"
    speeds: dict[str, list[tuple[float, float]]] = {name: [] for name in coders}
    for _ in range(5):
        for name, (module, table) in coders.items():
            start = time.perf_counter()
            main_stream, escapes = module.encode_symbols(symbols, table)
            encode = time.perf_counter() - start
            start = time.perf_counter()
            module.decode_symbols(main_stream, escapes, shape, table)
            decode = time.perf_counter() - start
            megabytes = 4 * symbols.size / 1e6
            speeds[name].append((megabytes / encode, megabytes / decode))
    for name, rows in speeds.items():
        encode, decode = np.median(np.array(rows), axis=0)
        print(f"{name}: encode {encode:.0f} MB/s, decode {decode:.0f} MB/s")


if __name__ == "__main__":
    main()
