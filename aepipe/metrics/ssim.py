"""SSIM as restoration papers report it: 11x11 Gaussian window (σ = 1.5), data range 1.

scikit-image computes it (``use_sample_covariance=False`` as in Wang et al.); it is imported on
first use, so the runtime, which never scores SSIM, does not need it.
"""

from __future__ import annotations

import numpy as np

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
