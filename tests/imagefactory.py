"""Images the tests make themselves: encoded bytes from Pillow images or numpy arrays."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
from PIL import Image


def save(image: Image.Image | np.ndarray, fmt: str = "PNG", **options: Any) -> bytes:
    """Encode a Pillow image (or an array, through ``Image.fromarray``) as ``fmt`` bytes."""
    if isinstance(image, np.ndarray):
        image = Image.fromarray(image)
    out = io.BytesIO()
    image.save(out, fmt, **options)
    return out.getvalue()


def rgb_image(rng: np.random.Generator, width: int = 40, height: int = 30) -> Image.Image:
    """Random RGB noise: incompressible, so every codec path does real work."""
    return Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8))
