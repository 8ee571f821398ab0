"""BT.601 luma as MATLAB's ``rgb2ycbcr`` computes it: super-resolution papers score on it."""

from __future__ import annotations

import numpy as np

from aepipe.images.pixels import to_float

#: MATLAB ``rgb2ycbcr`` luma row for RGB in [0, 1]; the result is on the 0–255 scale.
Y_OFFSET = 16.0
Y_WEIGHTS = np.array([65.481, 128.553, 24.966])


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
