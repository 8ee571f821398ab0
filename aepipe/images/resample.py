"""Bicubic resizing of native-dtype planes, for what never goes through a model.

Alpha channels follow a super-resolved image, and metrics compare an upscaled output at
the input's size. Pillow resizes float planes ("F" mode) of any bit depth, so each plane
goes through float and back to its own dtype.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from aepipe.images.pixels import from_float, to_float


def resize_bicubic(array: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``array`` (H x W or H x W x C, native dtype) resized to ``size`` = (height, width)."""
    if array.ndim == 2:
        return _resize_plane(array, size)
    planes = [_resize_plane(array[..., c], size) for c in range(array.shape[2])]
    return np.stack(planes, axis=2)


def _resize_plane(plane: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    image = Image.fromarray(np.ascontiguousarray(to_float(plane)))
    resized = image.resize((size[1], size[0]), Image.Resampling.BICUBIC)
    return from_float(np.asarray(resized), plane.dtype)
