"""Reconstruction error between a model's input and output, band by band.

Computed at the input's resolution (a super-resolved output is downscaled first), on the
0–1 scale, so that figures compare across bit depths. Bands of rows keep the float working
set small for huge images.
"""

from __future__ import annotations

import math

import numpy as np

from aepipe.images.pixels import to_float
from aepipe.images.resample import resize_bicubic

BAND_ROWS = 256


def reconstruction_error(before: np.ndarray, after: np.ndarray) -> tuple[float, float]:
    """(MSE, PSNR dB) of ``after`` against ``before`` (both H x W x C, native dtype)."""
    if after.shape[:2] != before.shape[:2]:
        after = resize_bicubic(after, (before.shape[0], before.shape[1]))
    if after.shape != before.shape:
        raise ValueError(f"cannot compare shapes {before.shape} and {after.shape}")
    total = 0.0
    for top in range(0, before.shape[0], BAND_ROWS):
        band = slice(top, top + BAND_ROWS)
        diff = to_float(before[band]).astype(np.float64) - to_float(after[band])
        total += float(np.sum(diff * diff))
    mse = total / max(1, before.size)
    return mse, psnr_from_mse(mse)


def psnr_from_mse(mse: float) -> float:
    return math.inf if mse == 0 else 10.0 * math.log10(1.0 / mse)
