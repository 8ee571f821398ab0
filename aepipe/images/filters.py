"""Gaussian blur of float arrays in numpy, for maps Pillow cannot filter (it blurs 8-bit only).

Separable, with mirrored borders (``numpy.pad`` mode ``symmetric``), so a constant map stays
constant and nothing darkens at the edges. Memory: two float32 copies of the input.
"""

from __future__ import annotations

import math

import numpy as np


def gaussian_kernel(sigma: float) -> np.ndarray:
    """Normalised 1-D Gaussian taps out to 3σ (odd length)."""
    radius = max(1, math.ceil(3 * sigma))
    offsets = np.arange(-radius, radius + 1, dtype=np.float64)
    taps = np.exp(-(offsets**2) / (2 * sigma * sigma))
    return (taps / taps.sum()).astype(np.float32)


def gaussian_blur(array: np.ndarray, sigma: float) -> np.ndarray:
    """``array`` (H x W or H x W x C) blurred over H and W with a Gaussian of ``sigma`` px."""
    if sigma <= 0:
        return np.asarray(array, dtype=np.float32)
    out = np.asarray(array, dtype=np.float32)
    kernel = gaussian_kernel(sigma)
    for axis in (0, 1):
        out = _correlate(out, kernel, axis)
    return out


def unsharp_mask(image: np.ndarray, sigma: float, amount: float) -> np.ndarray:
    """Float ``image`` in [0, 1] sharpened as cameras and editors do: plus ``amount`` times
    its detail above a Gaussian of ``sigma`` px, clipped back to [0, 1]."""
    detail = image - gaussian_blur(image, sigma)
    return np.clip(image + amount * detail, 0, 1)


def _correlate(array: np.ndarray, kernel: np.ndarray, axis: int) -> np.ndarray:
    """Same-size correlation along ``axis``; symmetric taps are added before one multiply."""
    radius = len(kernel) // 2
    moved = np.moveaxis(array, axis, 0)
    length = moved.shape[0]
    if length == 1:
        return array
    pad = [(radius, radius)] + [(0, 0)] * (moved.ndim - 1)
    padded = np.pad(moved, pad, mode="symmetric") if radius < length else _tiled(moved, radius)
    out = kernel[radius] * padded[radius : radius + length]
    pair = np.empty_like(out)
    for tap in range(radius):
        np.add(
            padded[tap : tap + length],
            padded[2 * radius - tap : 2 * radius - tap + length],
            out=pair,
        )
        pair *= kernel[tap]
        out += pair
    return np.moveaxis(out, 0, axis)


def _tiled(moved: np.ndarray, radius: int) -> np.ndarray:
    """Symmetric padding wider than the array itself: mirror repeatedly."""
    padded = moved
    while padded.shape[0] < moved.shape[0] + 2 * radius:
        extra = min(padded.shape[0], radius)
        pad = [(extra, extra)] + [(0, 0)] * (moved.ndim - 1)
        padded = np.pad(padded, pad, mode="symmetric")
    start = (padded.shape[0] - moved.shape[0]) // 2 - radius
    return padded[start : start + moved.shape[0] + 2 * radius]
