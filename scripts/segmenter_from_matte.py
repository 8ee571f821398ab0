"""Start the mark segmenter from the watermark remover's own alpha estimate (issue 17).

``unwatermark-unet-s`` already finds most marks (its alpha channel) after 34,526 CPU steps;
``mark-segment-unet-s`` has the same trunk with one output, so its weights are the remover's
trunk plus the alpha row of its last layer. Fine-tuning from there (``aepipe train --task
segment --init-from OUT``) teaches it the wide synthesis and the unmarked photos, instead of
relearning what a mark looks like:

    python scripts/segmenter_from_matte.py checkpoints/unwatermark-unet-s.pt runs/segment-init.pt
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from aepipe.training.export import load_checkpoint, save_weights
from aepipe.training.networks import create_model

SEGMENTER = "mark-segment-unet-s"
ALPHA_CHANNEL = 0  # the remover's outputs: alpha logit, colour (3), residual (3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("matte", type=Path, help="weights-only checkpoint of unwatermark-unet-s")
    parser.add_argument("out", type=Path, help="weights-only checkpoint of the segmenter")
    args = parser.parse_args()
    matte, config = load_checkpoint(args.matte)
    segmenter = create_model(SEGMENTER)
    weights = matte.state_dict()
    alpha = slice(ALPHA_CHANNEL, ALPHA_CHANNEL + 1)
    weights["tail.weight"] = weights["tail.weight"][alpha].clone()
    weights["tail.bias"] = weights["tail.bias"][alpha].clone()
    segmenter.load_state_dict(weights)  # strict: every other tensor must match the trunk
    with torch.no_grad():
        found = segmenter(torch.rand(1, 3, 32, 32)).mean().item()
    save_weights(segmenter, {**config, "model": SEGMENTER, "init_from": str(args.matte)}, args.out)
    print(
        f"{args.out}: {SEGMENTER} from {args.matte} (step {config['step']}); "
        f"mean probability on noise {found:.3f}"
    )


if __name__ == "__main__":
    main()
