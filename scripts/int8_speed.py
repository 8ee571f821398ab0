"""Every int8 copy in the zoo against its float model: the same input, timed in alternation.

    python scripts/int8_speed.py [--side 256] [--batch 1] [--repeats 9] [--threads 2]

(`aepipe bench` shows the default denoiser's copy beside it; this covers every copy.)
"""

from __future__ import annotations

import argparse
import statistics
from functools import partial

from aepipe.runtime.model.providers import CPU
from aepipe.runtime.model.zoo import load_manifest, load_model
from aepipe.tools.bench.models import model_inputs
from aepipe.tools.bench.timing import interleaved, megapixels


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--side", type=int, default=256)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    print("| float model | int8 copy | float ms | int8 ms | speed-up | input |")
    print("|---|---|---|---|---|---|")
    for copy in (e.card for e in load_manifest() if e.card.quantized_from):
        models = {
            name: load_model(name, copy.task, providers=[CPU], threads=args.threads)[0]
            for name in (copy.quantized_from, copy.name)
        }
        card = models[copy.name].card
        side = -(-args.side // card.pad_multiple) * card.pad_multiple
        x, level = (model_inputs(card, args.batch, side).get(k) for k in ("x", "noise_level"))
        assert x is not None
        calls = {name: partial(model.run, x, noise_level=level) for name, model in models.items()}
        samples = interleaved(calls, args.repeats)
        medians = {name: 1000 * statistics.median(s.wall for s in v) for name, v in samples.items()}
        slow, fast = medians[copy.quantized_from], medians[copy.name]
        work = megapixels(side, side, args.batch)
        shape = f"{args.batch}x{card.in_channels}x{side}x{side} ({work:.3f} MP)"
        print(
            f"| {copy.quantized_from} | {copy.name} | {slow:.1f} | {fast:.1f} | "
            f"{slow / fast:.2f}x | {shape} |"
        )


if __name__ == "__main__":
    main()
