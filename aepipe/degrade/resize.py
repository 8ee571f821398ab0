"""MATLAB-compatible bicubic resizing: the degradation super-resolution papers define.

SR benchmarks (Set5, Set14, BSD100, Urban100) make low-resolution inputs with MATLAB's
``imresize(hr, 1/s, 'bicubic')``. PIL and OpenCV differ at the borders and (OpenCV) in the
antialiasing, which shifts PSNR by tenths of a dB, so training and evaluation use this port.

Each axis is resized by one dense ``out x in`` weight matrix (rows sum to 1) applied with a
BLAS product; the matrix folds in MATLAB's symmetric border padding.
"""

from __future__ import annotations

import math

import numpy as np

KERNEL_WIDTH = 4.0  # support of the cubic kernel, in input pixels, at scale >= 1


def cubic(x: np.ndarray) -> np.ndarray:
    """Keys' cubic convolution kernel with a = -0.5 (MATLAB's and PIL's)."""
    ax = np.abs(x)
    ax2, ax3 = ax**2, ax**3
    inner = 1.5 * ax3 - 2.5 * ax2 + 1
    outer = -0.5 * ax3 + 2.5 * ax2 - 4 * ax + 2
    return np.where(ax <= 1, inner, np.where(ax <= 2, outer, 0.0))


def symmetric_index(index: np.ndarray, length: int) -> np.ndarray:
    """Map any integer index into ``[0, length)`` by mirroring with the edge repeated.

    ``..., 1, 0 | 0, 1, ..., n-1 | n-1, n-2, ...``: MATLAB's ``'symmetric'`` padding.
    """
    period = np.mod(index, 2 * length)
    return np.where(period < length, period, 2 * length - 1 - period)


def resize_weights(in_length: int, out_length: int, scale: float) -> np.ndarray:
    """The ``out_length x in_length`` float64 matrix that resizes one axis (MATLAB contributions).

    When downscaling, the kernel is stretched by ``1/scale`` (and its height scaled to keep unit
    area): that is the antialiasing low-pass filter.
    """
    stretch = 1 / scale if scale < 1 else 1.0
    width = KERNEL_WIDTH * stretch
    # Output pixel i (0-based) samples input position `centre` in 0-based pixel coordinates.
    centre = (np.arange(out_length) + 0.5) / scale - 0.5
    taps = math.ceil(width) + 2
    first = np.floor(centre - width / 2).astype(np.int64)
    index = first[:, None] + np.arange(taps)[None, :]
    weights = cubic((centre[:, None] - index) / stretch) / stretch
    weights /= weights.sum(axis=1, keepdims=True)
    matrix = np.zeros((out_length, in_length))
    rows = np.broadcast_to(np.arange(out_length)[:, None], index.shape)
    np.add.at(matrix, (rows, symmetric_index(index, in_length)), weights)
    return matrix


def output_length(in_length: int, scale: float) -> int:
    """MATLAB's output size for a scale factor: ``ceil(in_length * scale)``."""
    return math.ceil(in_length * scale)


def imresize(image: np.ndarray, scale: float) -> np.ndarray:
    """MATLAB ``imresize(image, scale, 'bicubic')`` (antialiased) of an H x W x C array.

    Any value range; computed in float64, returned as float32 without clipping or rounding
    (round and clip yourself to mimic a uint8 MATLAB call). Rows are resized before columns,
    as MATLAB does for equal scale factors.
    """
    if scale <= 0:
        raise ValueError(f"scale must be positive, got {scale}")
    out = np.asarray(image, dtype=np.float64)
    for axis in (0, 1):
        length = out.shape[axis]
        matrix = resize_weights(length, output_length(length, scale), scale)
        out = np.moveaxis(np.tensordot(matrix, out, axes=(1, axis)), 0, axis)
    return out.astype(np.float32)


def modcrop(image: np.ndarray, scale: int) -> np.ndarray:
    """Crop height and width down to multiples of ``scale`` (bottom/right), as SR benchmarks do."""
    height, width = image.shape[0], image.shape[1]
    return image[: height - height % scale, : width - width % scale]
