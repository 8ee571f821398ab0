"""Why aec-lapped-s starts from block PCA: a linear codec, before any training, against JPEG.

Each 16x16x3 block of an image is projected on the block PCA of training images (the linear
autoencoder that is optimal in MSE), every coefficient quantised with one step, and coded by
two entropy models whose code length is counted ideally (-log2 P, the ANS coder is within 1 %):

- *static*: one Laplacian per channel (what a factorized prior can do);
- *block-adaptive*: aec-lapped-s's model: per block and channel group a class (its RMS in
  steps, half octaves), coded given the previous group's class; each coefficient a Laplacian
  whose scale depends on its channel and its block's class. Fitted on the training blocks.

    python scripts/codec_design.py ../shared/data/CBSD432 ../shared/data/Kodak24

Prints bpp and PSNR per step and the BD-rate of each against JPEG (4:2:0, Pillow) on the
same images: where a codec trained from this starting point begins.
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from aepipe.runtime.codec.anchors import rd_curve
from aepipe.runtime.codec.priors import block_classes
from aepipe.tools.evaluation.rd import bd_rate, mean_curve
from aepipe.training.data import load_rgb_images
from aepipe.training.networks.lapped_codec import (
    BLOCK,
    CLASS_OFFSET,
    CLASSES,
    fit_block_pca,
    group_bounds,
    image_blocks,
    laplace_bin_probability,
)

STEPS = (0.6, 0.45, 0.34, 0.25, 0.18, 0.13)
LATENT = 192


def laplace_bits(values: np.ndarray, scales: np.ndarray) -> float:
    """-Σ log2 P of integer values under zero-mean Laplacians of the given scales."""
    p = laplace_bin_probability(torch.from_numpy(values), torch.from_numpy(scales))
    return float(-torch.log2(p.clamp_min(1e-12)).sum())


class LinearCodec:
    """Block PCA, one quantiser step, and both entropy models fitted on training latents."""

    def __init__(self, train: list[np.ndarray]) -> None:
        blocks = image_blocks(train)
        self.basis, colour = fit_block_pca(blocks, LATENT)
        self.centre = np.repeat(colour, BLOCK * BLOCK)
        self.bounds = group_bounds(LATENT)
        self.train = (blocks - self.centre) @ self.basis.T

    def classes(self, scaled: np.ndarray) -> np.ndarray:
        """(N, G) classes of block latents (N, C), as the codec's encoder computes them."""
        starts = [start for start, _ in self.bounds]
        return block_classes(scaled[:, :, None, None], starts, CLASS_OFFSET, CLASSES)[:, :, 0, 0]

    def fit(self, step: float) -> None:
        scaled = self.train / step
        magnitude = np.abs(np.rint(scaled))
        self.static = np.maximum(magnitude.mean(axis=0), 0.05)
        classes = self.classes(scaled)
        self.scales = np.empty((LATENT, CLASSES))
        self.class_logp = np.zeros((len(self.bounds), CLASSES, CLASSES))
        for group, (start, end) in enumerate(self.bounds):
            in_class = classes[:, group]
            counts = np.bincount(in_class, minlength=CLASSES)
            for channel in range(start, end):
                sums = np.bincount(in_class, magnitude[:, channel], minlength=CLASSES)
                prior = magnitude[:, channel].mean()
                self.scales[channel] = np.maximum((sums + 5 * prior) / (counts + 5), 0.05)
            if group:
                joint = np.zeros((CLASSES, CLASSES)) + 0.1
                np.add.at(joint, (classes[:, group - 1], in_class), 1)
                self.class_logp[group] = np.log2(joint / joint.sum(axis=1, keepdims=True))

    def code(self, image: np.ndarray, step: float) -> tuple[float, float, float]:
        """(static bpp, block-adaptive bpp, PSNR) of one image at one step."""
        blocks = image_blocks([image], limit=10**9)
        symbols = np.rint((blocks - self.centre) @ self.basis.T / step)
        decoded = np.clip(symbols * step @ self.basis + self.centre, 0, 1)
        mse = np.mean((np.round(decoded * 255) / 255 - blocks) ** 2)
        pixels = blocks.shape[0] * BLOCK * BLOCK
        static = laplace_bits(symbols, np.broadcast_to(self.static, symbols.shape).copy())
        classes = self.classes((blocks - self.centre) @ self.basis.T / step)
        first = self.bounds[1][0]
        channel_class = np.concatenate(
            [np.zeros((len(blocks), first), int)]
            + [
                np.repeat(classes[:, [g]], end - start, axis=1)
                for g, (start, end) in enumerate(self.bounds)
                if g
            ],
            axis=1,
        )
        scales = self.scales[np.arange(LATENT)[None, :], channel_class]
        scales[:, :first] = self.static[:first]
        side = -sum(
            self.class_logp[g, classes[:, g - 1], classes[:, g]].sum()
            for g in range(1, len(self.bounds))
        )
        adaptive = laplace_bits(symbols, scales) + side
        return static / pixels, adaptive / pixels, float(10 * np.log10(1 / mse))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("train")
    parser.add_argument("images")
    parser.add_argument("--train-images", type=int, default=150)
    args = parser.parse_args()
    codec = LinearCodec(load_rgb_images(args.train)[: args.train_images])
    images = load_rgb_images(args.images)
    curves: dict[str, list[tuple[float, float]]] = {"static": [], "block-adaptive": []}
    print("| step | static bpp | block-adaptive bpp | PSNR (dB) |\n|---|---|---|---|")
    for step in STEPS:
        codec.fit(step)
        static, adaptive, psnr = np.mean([codec.code(image, step) for image in images], axis=0)
        curves["static"].append((static, psnr))
        curves["block-adaptive"].append((adaptive, psnr))
        print(f"| {step} | {static:.3f} | {adaptive:.3f} | {psnr:.2f} |")
    jpeg = mean_curve([rd_curve(image, "jpeg", range(5, 96, 5)) for image in images])
    anchor = [(p.bpp, p.psnr) for p in jpeg]
    for label, curve in curves.items():
        print(
            f"BD-rate of the linear codec, {label} entropy model, vs JPEG: "
            f"{bd_rate(anchor, curve):+.1f} %"
        )


if __name__ == "__main__":
    main()
