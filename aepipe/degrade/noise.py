"""Additive white Gaussian noise as denoising papers (DnCNN, FFDNet, DRUNet) evaluate it, and
as an 8-bit file holds it: the one definition that training, evaluation and the demo share."""

from __future__ import annotations

import numpy as np

from aepipe.images.pixels import from_float, to_float


def add_gaussian_noise(
    image: np.ndarray, sigma: float | np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """``image + N(0, (sigma/255)²)`` per value; ``image`` in [0, 1], ``sigma`` on the 0–255 scale.

    ``sigma`` may be an array that broadcasts against ``image`` (one σ per image of a batch).
    Not clipped and not quantised: the papers' protocol feeds the unclipped float noisy image to
    the denoiser, and clipping would change the noise statistics near black and white.
    """
    noise = rng.standard_normal(np.shape(image))
    return (np.asarray(image, dtype=np.float64) + noise * (np.asarray(sigma) / 255.0)).astype(
        np.float32
    )


def noisy_file(clean: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """``clean`` (native dtype) plus σ noise, rounded and clipped to that dtype like a real file.

    Near black and white the clipped noise is no longer zero-mean: that bias is what a
    denoiser meets in real files, so training, ``aepipe eval`` and the demo all use this.
    """
    return from_float(add_gaussian_noise(to_float(clean), sigma, rng), clean.dtype)


def as_8bit(image: np.ndarray) -> np.ndarray:
    """Float ``image`` in [0, 1] as an 8-bit file stores it: clipped, on the 1/255 grid, float32."""
    return to_float(from_float(image, "uint8"))
