"""SSIM as restoration papers report it: 11x11 Gaussian window (σ = 1.5), data range 1.

scikit-image computes it (``use_sample_covariance=False`` as in Wang et al.); it is imported on
first use, so the runtime, which never scores SSIM, does not need it.
"""

from __future__ import annotations

import numpy as np

from aepipe.images.filters import gaussian_blur
from aepipe.images.pixels import to_float


def ssim(reference: np.ndarray, estimate: np.ndarray) -> float:
    """Mean SSIM of H x W x C arrays (native dtype or float32 [0, 1]), channels averaged."""
    from skimage.metrics import structural_similarity  # ~0.8 s to import: only when scoring

    if reference.shape != estimate.shape:
        raise ValueError(f"cannot compare shapes {reference.shape} and {estimate.shape}")
    return float(
        structural_similarity(
            to_float(reference),
            to_float(estimate),
            data_range=1.0,
            channel_axis=2,
            gaussian_weights=True,
            sigma=1.5,
            use_sample_covariance=False,
        )
    )


def ssim_map(reference: np.ndarray, estimate: np.ndarray, sigma: float = 1.5) -> np.ndarray:
    """Per-pixel SSIM (H x W, channels averaged) with a Gaussian window of ``sigma`` px and
    mirrored borders, for error maps: ``1 - ssim_map`` is the SSIM-style anomaly map."""
    x, y = to_float(reference).astype(np.float32), to_float(estimate).astype(np.float32)
    mu_x, mu_y = gaussian_blur(x, sigma), gaussian_blur(y, sigma)
    var_x = gaussian_blur(x * x, sigma) - mu_x * mu_x
    var_y = gaussian_blur(y * y, sigma) - mu_y * mu_y
    covariance = gaussian_blur(x * y, sigma) - mu_x * mu_y
    c1, c2 = 0.01**2, 0.03**2
    numerator = (2 * mu_x * mu_y + c1) * (2 * covariance + c2)
    denominator = (mu_x * mu_x + mu_y * mu_y + c1) * (var_x + var_y + c2)
    return (numerator / denominator).mean(axis=2)
