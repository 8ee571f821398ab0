r"""Start a network of issue 17 from the watermark remover's weights (``unwatermark-unet-s``).

Both share its trunk, so fine-tuning from there (``aepipe train --init-from OUT``) teaches
them what is new instead of relearning what a mark looks like:

- ``segmenter`` (``mark-segment-unet-s``): one output, the remover's alpha row of its last
  layer; it finds most marks before its first step.
- ``guided`` (``unwatermark-guided-unet-s``): a fourth input channel, the detector's mask, whose
  first-layer weights start at zero, so it starts as exactly the remover it came from.

    python scripts/init_from_matte.py segmenter checkpoints/unwatermark-unet-s.pt \
        runs/segment-init.pt
    python scripts/init_from_matte.py guided checkpoints/unwatermark-unet-s-wide.pt \
        runs/guided-init.pt
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

import torch

from aepipe.training.export import load_checkpoint, save_weights
from aepipe.training.networks import create_model

Weights = dict[str, torch.Tensor]
ALPHA_CHANNEL = 0  # the remover's outputs: alpha logit, colour (3), residual (3)


def alpha_row_only(weights: Weights) -> Weights:
    alpha = slice(ALPHA_CHANNEL, ALPHA_CHANNEL + 1)
    return {
        **weights,
        "tail.weight": weights["tail.weight"][alpha].clone(),
        "tail.bias": weights["tail.bias"][alpha].clone(),
    }


def zero_mask_channel(weights: Weights) -> Weights:
    head = weights["head.weight"]
    return {**weights, "head.weight": torch.cat([head, torch.zeros_like(head[:, :1])], dim=1)}


TARGETS: dict[str, tuple[str, Callable[[Weights], Weights]]] = {
    "segmenter": ("mark-segment-unet-s", alpha_row_only),
    "guided": ("unwatermark-guided-unet-s", zero_mask_channel),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("target", choices=tuple(TARGETS))
    parser.add_argument("matte", type=Path, help="weights-only checkpoint of unwatermark-unet-s")
    parser.add_argument("out", type=Path, help="weights-only checkpoint of the new network")
    args = parser.parse_args()
    name, adapt = TARGETS[args.target]
    matte, config = load_checkpoint(args.matte)
    network = create_model(name)
    network.load_state_dict(adapt(matte.state_dict()))  # strict: the trunk must match
    save_weights(network, {**config, "model": name, "init_from": str(args.matte)}, args.out)
    print(f"{args.out}: {name} from {args.matte} (step {config['step']})")


if __name__ == "__main__":
    main()
