"""How good can a codec's transforms get before any quantisation? Two ceilings on Kodak24.

1. The trained pair: PSNR of ``g_s(g_a(x))`` with the latent left unrounded, beside the top rate.
2. The latent's width: the best *linear* transform with as many channels per 16x16x3 block
   (PCA fitted on training blocks), a bound the nonlinear pair needs training to beat.

    python scripts/codec_ceiling.py checkpoints/aec-factorized-s.pt ../shared/data/Kodak24 \\
        --pca-data ../shared/data/CBSD432
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from aepipe.images.pixels import to_float
from aepipe.metrics import psnr
from aepipe.training.data import load_rgb_images
from aepipe.training.export import load_checkpoint

BLOCK = 16


def clipped(estimate: np.ndarray) -> np.ndarray:
    """A float estimate as an image holds it: within [0, 1]."""
    return np.clip(estimate, 0, 1).astype(np.float32)


def transform_ceiling(checkpoint: Path, images: list[np.ndarray]) -> tuple[float, float]:
    """Mean PSNR of the unrounded round trip and of the top rate."""
    model, _ = load_checkpoint(checkpoint)
    model.eval()
    gain, inverse = model.gains(len(model.lambdas) - 1)
    unrounded, top = [], []
    for image in images:
        x = torch.from_numpy(to_float(image).transpose(2, 0, 1)[None].copy())
        with torch.no_grad():
            y = model.g_a(x)
            for scores, latent in ((unrounded, y), (top, torch.round(y * gain) * inverse)):
                output = model.g_s(latent)[0].numpy().transpose(1, 2, 0)
                scores.append(psnr(image, clipped(output)))
    return float(np.mean(unrounded)), float(np.mean(top))


def blocks(image: np.ndarray) -> np.ndarray:
    """Whole 16x16 blocks of a uint8 image as rows of 768 values in [0, 1]."""
    image = to_float(image)
    h, w = (image.shape[0] // BLOCK) * BLOCK, (image.shape[1] // BLOCK) * BLOCK
    tiles = image[:h, :w].reshape(h // BLOCK, BLOCK, w // BLOCK, BLOCK, 3)
    return tiles.transpose(0, 2, 1, 3, 4).reshape(-1, BLOCK * BLOCK * 3)


def linear_ceiling(
    train: list[np.ndarray], images: list[np.ndarray], widths: list[int]
) -> dict[int, float]:
    """Mean PSNR of a PCA that keeps ``width`` components of each block, per width."""
    rows = np.concatenate([blocks(image) for image in train])
    mean = rows.mean(axis=0)
    _, vectors = np.linalg.eigh(np.cov((rows - mean).T))
    vectors = vectors[:, ::-1]
    ceiling = {}
    for width in widths:
        basis = vectors[:, :width]
        scores = []
        for image in images:
            centred = blocks(image) - mean
            scores.append(psnr(centred + mean, clipped(centred @ basis @ basis.T + mean)))
        ceiling[width] = float(np.mean(scores))
    return ceiling


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint", type=Path)
    parser.add_argument("images", type=Path)
    parser.add_argument("--pca-data", type=Path, required=True)
    parser.add_argument("--pca-images", type=int, default=150)
    parser.add_argument("--widths", type=int, nargs="+", default=[96, 192, 320])
    args = parser.parse_args()
    images = load_rgb_images(str(args.images))
    unrounded, top = transform_ceiling(args.checkpoint, images)
    print(f"{args.checkpoint}: unrounded {unrounded:.2f} dB, top rate {top:.2f} dB")
    train = load_rgb_images(str(args.pca_data))[: args.pca_images]
    for width, score in linear_ceiling(train, images, args.widths).items():
        print(f"PCA of 16x16 blocks, {width} channels: {score:.2f} dB")


if __name__ == "__main__":
    main()
