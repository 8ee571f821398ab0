"""Bicubic resizing of native-dtype planes, for what never goes through a model.

Alpha channels follow a super-resolved image, and metrics compare an upscaled output at
the input's size. Pillow resizes float planes ("F" mode) of any bit depth, so each plane
goes through float and back to its own dtype.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from aepipe.images.pixels import as_dtype, as_rgb, from_float, to_float


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


def square_thumbnail(pixels: np.ndarray, side: int) -> np.ndarray:
    """The whole image as ``side`` x ``side`` x 3 float32 in [0, 1]: 8-bit RGB resized by
    Pillow (bicubic, antialiased), aspect not kept, so nothing of the scene is cropped away.
    What an embedding model sees of an image, at run time and in evaluation alike."""
    rgb = as_rgb(as_dtype(pixels, "uint8"))
    resized = Image.fromarray(rgb).resize((side, side), Image.Resampling.BICUBIC)
    return np.asarray(resized, dtype=np.float32) / 255.0
