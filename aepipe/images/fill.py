"""Filling a hole from its surroundings (classical inpainting), and growing a mask.

OpenCV's two methods: ``ns`` (Navier-Stokes, Bertalmio et al. 2001) and ``telea`` (fast
marching, Telea 2004). Both look ``INPAINT_RADIUS`` pixels around each hole pixel; neither
invents texture, so they suit thin holes (strokes of a mark), not large ones. OpenCV is
imported where it is used: a run that never fills or masks does not carry it (15 MB).
"""

from __future__ import annotations

import numpy as np

from aepipe.images.pixels import max_value

INPAINT_RADIUS = 3
FILL_METHODS = ("ns", "telea")
FILL_MODEL = "model"  # ``--fill model``: an inpainting network instead (runtime/tasks/inpaint)


def inpaint_classical(pixels: np.ndarray, hole: np.ndarray, method: str = "ns") -> np.ndarray:
    """``pixels`` (H x W x C, uint8 or uint16) with the ``hole`` (H x W bool) filled; the other
    pixels come back unchanged. 8-bit colour goes to OpenCV whole, anything else per channel
    as float32 (OpenCV fills 16-bit and float images one channel at a time)."""
    import cv2

    if method not in FILL_METHODS:
        raise ValueError(f"unknown fill {method!r}; choose from {', '.join(FILL_METHODS)}")
    flag = cv2.INPAINT_NS if method == "ns" else cv2.INPAINT_TELEA
    mask = hole.astype(np.uint8) * 255
    if pixels.dtype == np.uint8 and pixels.shape[2] in (1, 3):
        out = cv2.inpaint(np.ascontiguousarray(pixels), mask, INPAINT_RADIUS, flag)
        return out.reshape(pixels.shape)
    planes = [
        cv2.inpaint(np.ascontiguousarray(pixels[..., c], np.float32), mask, INPAINT_RADIUS, flag)
        for c in range(pixels.shape[2])
    ]
    filled = np.stack(planes, axis=2)
    if pixels.dtype.kind in "ui":
        filled = np.clip(np.rint(filled), 0, max_value(pixels.dtype))
    return filled.astype(pixels.dtype)


def grow(mask: np.ndarray, pixels: int) -> np.ndarray:
    """``mask`` (H x W bool) grown by ``pixels`` in every direction (3 x 3 square steps)."""
    import cv2

    if pixels <= 0:
        return mask
    kernel = np.ones((3, 3), np.uint8)
    return cv2.dilate(mask.astype(np.uint8), kernel, iterations=pixels).astype(bool)
