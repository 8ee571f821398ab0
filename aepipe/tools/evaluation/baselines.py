"""Classical baselines a learned model has to beat, each given what the protocol allows it.

CBM3D gets the true noise level, inpainting gets the true watermark mask: these are the
strongest fair classical opponents, so a model that wins against them wins for real. Every
baseline takes and returns native-dtype (uint8) H x W x C pixels, like the model path, so
all methods are scored on the same quantised outputs.
"""

from __future__ import annotations

import numpy as np

from aepipe.degrade.resize import imresize
from aepipe.images.fill import grow, inpaint_classical
from aepipe.images.pixels import from_float, to_float

#: Pixels to grow the true mask by before inpainting. 0: add_watermark's mask is every pixel
#: with alpha > 0 (anti-aliased edges included) and everything outside it is untouched, so
#: growing it only throws away clean pixels; measured on CBSD68, 1 px cost TELEA 1.5-5 dB.
MASK_DILATION = 0


def untouched(degraded: np.ndarray) -> np.ndarray:
    """The degraded input as is: the floor any restoration has to clear."""
    return degraded


def cbm3d(noisy: np.ndarray, sigma: float) -> np.ndarray:
    """CBM3D (bm3d.bm3d_rgb) with the true σ (0–255 scale); plain BM3D for gray images.

    The default profile: 'refilter' crashes in bm3d 4.0.3 with a scalar σ.
    """
    import bm3d

    pixels = to_float(noisy)
    if pixels.shape[2] == 3:
        out = bm3d.bm3d_rgb(pixels, sigma_psd=sigma / 255.0)
    else:
        out = bm3d.bm3d(pixels[..., 0], sigma_psd=sigma / 255.0)[..., np.newaxis]
    return from_float(np.asarray(out, dtype=np.float32), noisy.dtype)


def bicubic(low_res: np.ndarray, scale: int) -> np.ndarray:
    """MATLAB bicubic upscaling (the SR tables' 'Bicubic' row), rounded back to the dtype."""
    return from_float(imresize(to_float(low_res), scale), low_res.dtype)


def inpaint(marked: np.ndarray, mask: np.ndarray, method: str = "telea") -> np.ndarray:
    """OpenCV inpainting ('telea' or 'ns') of the true mask (grown by ``MASK_DILATION``)."""
    return inpaint_classical(marked, grow(mask, MASK_DILATION), method)
