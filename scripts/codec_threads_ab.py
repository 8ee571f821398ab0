"""The pipeline's codec on the model's thread against on the I/O threads, same code, interleaved.

    python scripts/codec_threads_ab.py IMAGES SIZE REPEATS     # e.g. 16 512 3

``PARALLEL_CODEC_PIXELS = 0`` forces the serial path (every image decoded and encoded on the
model's thread); the shipped bound lets images up to it use the I/O threads. Identity and
denoise (σ 25) over the same synthetic PNGs in a local folder, median seconds per pass.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from aepipe.runtime.options import ChunkOptions, TaskOptions
from aepipe.runtime.pipeline import chunk
from aepipe.runtime.reports import RowStatus
from aepipe.runtime.tasks.build import build_task
from aepipe.storage import open_storage
from aepipe.tools.bench.pipeline import synthetic_pngs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("images", type=int)
    parser.add_argument("size", type=int)
    parser.add_argument("repeats", type=int)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="codec-ab-"))
    source = open_storage(str(folder / "in"))
    for key, data in synthetic_pngs(args.images, args.size).items():
        source.write(key, data, {})
    keys = list(source.list())
    tasks = {
        "identity": build_task(TaskOptions(task="identity")),
        "denoise": build_task(TaskOptions(task="denoise", noise_level=25)),
    }
    modes = {"serial codec": 0, "codec on the I/O threads": chunk.PARALLEL_CODEC_PIXELS}
    settings = ChunkOptions(overwrite=True)
    megapixels = args.images * args.size**2 / 1e6
    for name, task in tasks.items():
        dest = open_storage(str(folder / f"out-{name}"))
        chunk.process_chunk(keys[:1], source, dest, task, settings)  # warm-up
        seconds: dict[str, list[float]] = {mode: [] for mode in modes}
        for _ in range(args.repeats):
            for mode, bound in modes.items():
                chunk.PARALLEL_CODEC_PIXELS = bound
                started = time.perf_counter()
                rows = chunk.process_chunk(keys, source, dest, task, settings)
                seconds[mode].append(time.perf_counter() - started)
                assert all(row.status is RowStatus.OK for row in rows), rows
        for mode, samples in seconds.items():
            median = statistics.median(samples)
            print(f"{name:8s} {mode:26s} {median:.3f} s/pass  {megapixels / median:.2f} MP/s")


if __name__ == "__main__":
    main()
