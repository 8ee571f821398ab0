"""Mean squared error and PSNR on the 0–1 scale, band by band: the one definition of both.

Values are on the 0–1 scale whatever the bit depth (peak 1.0), so figures compare across
uint8, uint16 and float images. Bands of rows keep the float working set small for huge images.
"""

from __future__ import annotations

import math

import numpy as np

from aepipe.images.pixels import to_float
from aepipe.images.resample import resize_bicubic

BAND_ROWS = 256
#: Integer sample types and their full intensity (1.0 on the 0–1 scale).
INTEGER_PEAKS = {np.dtype(np.uint8): 255, np.dtype(np.uint16): 65535}


def reconstruction_error(before: np.ndarray, after: np.ndarray) -> tuple[float, float]:
    """(MSE, PSNR dB) of ``after`` against ``before`` (both H x W x C, native dtype).

    Computed at ``before``'s resolution: a super-resolved output is downscaled first, which is
    how a run compares its output with its input.
    """
    if after is before:  # an output that is its input (identity): nothing to compute
        return 0.0, math.inf
    if after.shape[:2] != before.shape[:2]:
        after = resize_bicubic(after, (before.shape[0], before.shape[1]))
    if after.shape != before.shape:
        raise ValueError(f"cannot compare shapes {before.shape} and {after.shape}")
    total = 0.0
    same_integers = before.dtype == after.dtype and before.dtype in INTEGER_PEAKS
    for top in range(0, before.shape[0], BAND_ROWS):
        band = slice(top, top + BAND_ROWS)
        if same_integers:  # exact, and no float copies: the common case, uint8 in and out
            diff = before[band].astype(np.int64) - after[band]
            total += float(np.dot(diff.ravel(), diff.ravel()))
        else:
            wide = to_float(before[band]).astype(np.float64) - to_float(after[band])
            total += float(np.sum(wide * wide))
    if same_integers:
        total /= float(INTEGER_PEAKS[before.dtype]) ** 2
    mse = total / max(1, before.size)
    return mse, psnr_from_mse(mse)


def psnr_from_mse(mse: float) -> float:
    return math.inf if mse == 0 else 10.0 * math.log10(1.0 / mse)


def psnr(reference: np.ndarray, estimate: np.ndarray) -> float:
    """PSNR in dB with peak 1.0 of two arrays of one shape (native dtype or float32 [0, 1]).

    A size mismatch is an error here, never a resample: in a benchmark it is a protocol bug.
    """
    if reference.shape != estimate.shape:
        raise ValueError(f"cannot compare shapes {reference.shape} and {estimate.shape}")
    return reconstruction_error(reference, estimate)[1]
