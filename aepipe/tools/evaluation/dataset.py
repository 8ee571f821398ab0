"""The clean test images of an evaluation: a folder's image files, decoded as 8-bit."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from aepipe.images import IMAGE_SUFFIXES, DecodedImage, decode
from aepipe.tools.evaluation.protocol import EvalError


def list_images(data_dir: Path, limit: int | None = None) -> list[Path]:
    """Image files directly in ``data_dir``, sorted by name; the first ``limit`` of them."""
    if not data_dir.is_dir():
        raise EvalError(f"{data_dir}: not a folder")
    paths = sorted(p for p in data_dir.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not paths:
        raise EvalError(f"{data_dir}: no images ({', '.join(sorted(IMAGE_SUFFIXES))})")
    return paths[:limit]


def load_clean(path: Path) -> DecodedImage:
    """A clean test image; 8-bit only, as every protocol here is defined on 8-bit images."""
    image = decode(path.read_bytes(), path.name)
    if image.pixels.dtype != np.uint8:
        raise EvalError(f"{path.name}: {image.pixels.dtype} samples; eval needs 8-bit images")
    return image
