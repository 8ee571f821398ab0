"""Sample-type helpers shared by the codec and the runtime.

Models work on float32 in [0, 1]; images live in their native dtype so that encode can
restore the input's bit depth. The runtime converts tile by tile, so every function here
works on any array or view (tiles, strided slices) and never assumes contiguity.
"""

from __future__ import annotations

from typing import TypeAlias

import numpy as np
import numpy.typing as npt

DTypeLike: TypeAlias = npt.DTypeLike

#: Native sample types an image may have; the codec never produces any other.
SUPPORTED_DTYPES = ("uint8", "uint16", "float32")

_INT_MAX = {"uint8": 255, "uint16": 65535}
#: Rows converted at a time by :func:`as_dtype`.
BAND_ROWS = 256


def dtype_name(dtype: DTypeLike) -> str:
    """Canonical name of a supported dtype; ValueError for anything else."""
    name = np.dtype(dtype).name
    if name not in SUPPORTED_DTYPES:
        raise ValueError(f"unsupported sample dtype {name!r}; expected one of {SUPPORTED_DTYPES}")
    return name


def max_value(dtype: DTypeLike) -> float:
    """Sample value that means full intensity: 255, 65535, or 1.0 for float32."""
    return float(_INT_MAX.get(dtype_name(dtype), 1.0))


def quantum(dtype: DTypeLike) -> float:
    """The step between neighbouring sample values, in ``to_float`` units: 1/255, 1/65535,
    or 0 for float32 (stored as computed, never rounded)."""
    name = dtype_name(dtype)
    return 1.0 / _INT_MAX[name] if name in _INT_MAX else 0.0


def as_rgb(pixels: np.ndarray) -> np.ndarray:
    """H x W x 3 in the native dtype: gray replicated, colour as is (alpha is never in
    ``pixels``: decoding keeps it apart)."""
    return np.repeat(pixels, 3, axis=2) if pixels.shape[2] == 1 else pixels


def as_gray(pixels: np.ndarray) -> np.ndarray:
    """H x W x 1 in the native dtype: the channels' mean, rounded (a model's RGB out for a
    gray input; a colour photo as a gray file of it would be)."""
    return pixels.mean(axis=2, keepdims=True).round().astype(pixels.dtype)


def to_float(arr: np.ndarray) -> np.ndarray:
    """Native samples -> float32 where 1.0 is full intensity.

    uint8/uint16 are divided by their maximum in float32, which ``from_float`` inverts
    exactly. float32 input is returned as is (no copy, no clipping): float TIFFs may hold
    values outside [0, 1] on purpose, and the model decides what to do with them.
    """
    name = dtype_name(arr.dtype)
    if name == "float32":
        return arr
    return np.divide(arr, np.float32(_INT_MAX[name]), dtype=np.float32)


def from_float(x: np.ndarray, dtype: DTypeLike) -> np.ndarray:
    """float samples (1.0 = full intensity) -> ``dtype``, rounding to nearest and clipping.

    NaN becomes 0 for integer targets (a cast of NaN is undefined). For float32 the values
    are kept as they are, out-of-range ones included, matching ``to_float``.
    """
    name = dtype_name(dtype)
    if name == "float32":
        return x.astype(np.float32, copy=False)
    top = _INT_MAX[name]
    scaled = np.multiply(x, np.float32(top), dtype=np.float32)
    np.rint(scaled, out=scaled)
    np.fmax(scaled, 0, out=scaled)  # fmax/fmin return the number where one side is NaN:
    np.fmin(scaled, top, out=scaled)  # NaN -> 0 in the same pass as the clip
    return scaled.astype(name)


def as_dtype(pixels: np.ndarray, dtype: DTypeLike) -> np.ndarray:
    """``pixels`` in another native ``dtype`` (as ``from_float(to_float(...))`` would give),
    converted band by band: a 64-megapixel image never has a whole float32 copy (768 MB) and
    its temporaries. The array itself when it already has that dtype."""
    name = dtype_name(dtype)
    if pixels.dtype == np.dtype(name):
        return pixels
    out = np.empty(pixels.shape, dtype=name)
    for top in range(0, pixels.shape[0], BAND_ROWS):
        band = slice(top, top + BAND_ROWS)
        out[band] = from_float(to_float(pixels[band]), name)
    return out
