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
from PIL import Image

from aepipe.training.export import load_checkpoint

BLOCK = 16


def read(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"), dtype=np.float32) / 255


def psnr(output: np.ndarray, reference: np.ndarray) -> float:
    return float(10 * np.log10(1 / np.mean((np.clip(output, 0, 1) - reference) ** 2)))


def transform_ceiling(checkpoint: Path, images: list[Path]) -> tuple[float, float]:
    """Mean PSNR of the unrounded round trip and of the top rate."""
    model, _ = load_checkpoint(checkpoint)
    model.eval()
    gain, inverse = model.gains(len(model.lambdas) - 1)
    unrounded, top = [], []
    for path in images:
        image = read(path)
        x = torch.from_numpy(image.transpose(2, 0, 1)[None].copy())
        with torch.no_grad():
            y = model.g_a(x)
            for scores, latent in ((unrounded, y), (top, torch.round(y * gain) * inverse)):
                scores.append(psnr(model.g_s(latent)[0].numpy().transpose(1, 2, 0), image))
    return float(np.mean(unrounded)), float(np.mean(top))


def blocks(image: np.ndarray) -> np.ndarray:
    """Whole 16x16 blocks as rows of 768 values."""
    h, w = (image.shape[0] // BLOCK) * BLOCK, (image.shape[1] // BLOCK) * BLOCK
    tiles = image[:h, :w].reshape(h // BLOCK, BLOCK, w // BLOCK, BLOCK, 3)
    return tiles.transpose(0, 2, 1, 3, 4).reshape(-1, BLOCK * BLOCK * 3)


def linear_ceiling(train: list[Path], images: list[Path], widths: list[int]) -> dict[int, float]:
    """Mean PSNR of a PCA that keeps ``width`` components of each block, per width."""
    rows = np.concatenate([blocks(read(path)) for path in train])
    mean = rows.mean(axis=0)
    _, vectors = np.linalg.eigh(np.cov((rows - mean).T))
    vectors = vectors[:, ::-1]
    ceiling = {}
    for width in widths:
        basis = vectors[:, :width]
        scores = []
        for path in images:
            centred = blocks(read(path)) - mean
            scores.append(psnr(centred @ basis @ basis.T + mean, centred + mean))
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
    images = sorted(args.images.glob("*.png"))
    unrounded, top = transform_ceiling(args.checkpoint, images)
    print(f"{args.checkpoint}: unrounded {unrounded:.2f} dB, top rate {top:.2f} dB")
    train = sorted(args.pca_data.iterdir())[: args.pca_images]
    for width, score in linear_ceiling(train, images, args.widths).items():
        print(f"PCA of 16x16 blocks, {width} channels: {score:.2f} dB")


if __name__ == "__main__":
    main()
