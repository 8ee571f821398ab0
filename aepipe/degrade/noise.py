"""Additive white Gaussian noise as denoising papers (DnCNN, FFDNet, DRUNet) evaluate it."""

from __future__ import annotations

import numpy as np


def add_gaussian_noise(image: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """``image + N(0, (sigma/255)²)`` per value; ``image`` in [0, 1], ``sigma`` on the 0–255 scale.

    Not clipped and not quantised: the benchmark protocol feeds the unclipped float noisy image
    to the denoiser, and clipping would change the noise statistics near black and white.
    """
    noise = rng.standard_normal(np.shape(image))
    return (np.asarray(image, dtype=np.float64) + noise * (sigma / 255.0)).astype(np.float32)
