"""Blind noise-level estimation, so the denoiser works when the user gives no σ.

Immerkær's Laplacian-difference mask cancels smooth image content; for white Gaussian noise
its response has standard deviation 6σ. The median absolute deviation of that response is
robust to the edges and texture that fool the plain (mean-based) estimator.
"""

from __future__ import annotations

import numpy as np

from aepipe.images.pixels import to_float

#: The estimate looks at most this many pixels per side (a centred crop): bounded memory.
ESTIMATE_WINDOW = 1024
MAD_TO_STD = 1.4826  # std = MAD x 1.4826 for a normal distribution


def estimate_noise_sigma(pixels: np.ndarray) -> float:
    """σ of additive white noise on the 0–255 scale, from an H x W x C native-dtype array."""
    height, width = pixels.shape[:2]
    if height < 3 or width < 3:
        return 0.0
    top = max(0, (height - ESTIMATE_WINDOW) // 2)
    left = max(0, (width - ESTIMATE_WINDOW) // 2)
    crop = to_float(pixels[top : top + ESTIMATE_WINDOW, left : left + ESTIMATE_WINDOW])
    sigmas = [_channel_sigma(crop[..., c]) for c in range(crop.shape[2])]
    return float(np.median(sigmas) * 255.0)


def _channel_sigma(channel: np.ndarray) -> float:
    c = channel.astype(np.float64)
    # [[1,-2,1],[-2,4,-2],[1,-2,1]] applied as separable [1,-2,1] x [1,-2,1].
    rows = c[:, :-2] - 2 * c[:, 1:-1] + c[:, 2:]
    response = rows[:-2] - 2 * rows[1:-1] + rows[2:]
    mad = np.median(np.abs(response - np.median(response)))
    return float(mad * MAD_TO_STD / 6.0)
