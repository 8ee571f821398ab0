"""How each restoration protocol scores an output: PSNR and SSIM, on RGB or on cropped Y.

Numbers are only comparable with published tables when computed the same way: values on the
0–1 scale, and for super-resolution the BT.601 luma with ``scale`` pixels cropped from each
border (the metrics themselves live in :mod:`aepipe.metrics`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from aepipe.metrics import luma, psnr, ssim


@dataclass(frozen=True)
class Scores:
    psnr: float  # dB
    ssim: float


def crop_border(image: np.ndarray, border: int) -> np.ndarray:
    """Drop ``border`` pixels from every side (SR protocol: border = scale)."""
    if border <= 0:
        return image
    return image[border:-border, border:-border]


def score(
    reference: np.ndarray, estimate: np.ndarray, *, y_channel: bool = False, border: int = 0
) -> Scores:
    """PSNR and SSIM of ``estimate`` against ``reference``, on RGB or (SR) on cropped Y."""
    if reference.shape != estimate.shape:
        raise ValueError(f"cannot compare shapes {reference.shape} and {estimate.shape}")
    if y_channel:
        reference, estimate = luma(reference), luma(estimate)
    reference, estimate = crop_border(reference, border), crop_border(estimate, border)
    return Scores(psnr(reference, estimate), ssim(reference, estimate))
