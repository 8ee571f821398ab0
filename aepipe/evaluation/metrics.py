"""Full-reference quality metrics as restoration papers compute them: PSNR, SSIM, Y channel.

Numbers are only comparable with published tables when computed the same way, so this follows
the usual conventions: values on the 0–1 scale (data range 1), SSIM with the 11x11 Gaussian
window (σ = 1.5) of Wang et al., and for super-resolution the BT.601 luma of MATLAB's
``rgb2ycbcr`` with ``scale`` pixels cropped from each border.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from aepipe.images.pixels import to_float
from aepipe.reports.metrics import reconstruction_error

#: MATLAB ``rgb2ycbcr`` luma row for RGB in [0, 1]; the result is on the 0–255 scale.
Y_OFFSET = 16.0
Y_WEIGHTS = np.array([65.481, 128.553, 24.966])


@dataclass(frozen=True)
class Scores:
    psnr: float  # dB
    ssim: float


def _check_same_shape(reference: np.ndarray, estimate: np.ndarray) -> None:
    """A size mismatch is a protocol bug; never resample silently to hide it."""
    if reference.shape != estimate.shape:
        raise ValueError(f"cannot compare shapes {reference.shape} and {estimate.shape}")


def psnr(reference: np.ndarray, estimate: np.ndarray) -> float:
    """PSNR in dB with peak 1.0; native-dtype or float32 [0, 1] arrays of the same shape."""
    _check_same_shape(reference, estimate)
    return reconstruction_error(reference, estimate)[1]


def ssim(reference: np.ndarray, estimate: np.ndarray) -> float:
    """Mean SSIM of H x W x C arrays (native dtype or float32 [0, 1]), channels averaged."""
    from skimage.metrics import structural_similarity  # ~0.8 s to import: only when scoring

    _check_same_shape(reference, estimate)
    return float(
        structural_similarity(
            to_float(reference),
            to_float(estimate),
            data_range=1.0,
            channel_axis=2,
            gaussian_weights=True,
            sigma=1.5,
            use_sample_covariance=False,
        )
    )


def rgb_to_y(image: np.ndarray) -> np.ndarray:
    """BT.601 luma of an H x W x 3 float RGB image in [0, 1] -> H x W x 1 float32 in [0, 1].

    Studio swing like MATLAB: black is 16/255 and white 235/255.
    """
    luma = (Y_OFFSET + np.asarray(image, dtype=np.float64) @ Y_WEIGHTS) / 255.0
    return luma[..., np.newaxis].astype(np.float32)


def luma(image: np.ndarray) -> np.ndarray:
    """Y of an RGB image, or the plane itself for a gray one, as float32 H x W x 1."""
    pixels = to_float(image)
    if pixels.shape[2] == 1:
        return pixels.astype(np.float32, copy=False)
    return rgb_to_y(pixels)


def crop_border(image: np.ndarray, border: int) -> np.ndarray:
    """Drop ``border`` pixels from every side (SR protocol: border = scale)."""
    if border <= 0:
        return image
    return image[border:-border, border:-border]


def score(
    reference: np.ndarray, estimate: np.ndarray, *, y_channel: bool = False, border: int = 0
) -> Scores:
    """PSNR and SSIM of ``estimate`` against ``reference``, on RGB or (SR) on cropped Y."""
    _check_same_shape(reference, estimate)
    if y_channel:
        reference, estimate = luma(reference), luma(estimate)
    reference, estimate = crop_border(reference, border), crop_border(estimate, border)
    return Scores(psnr(reference, estimate), ssim(reference, estimate))
