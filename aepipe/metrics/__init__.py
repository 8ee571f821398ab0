"""Image quality metrics, defined once for every wing: MSE/PSNR, SSIM, MS-SSIM, BT.601 luma.

Numpy only, except SSIM, which imports scikit-image when first called.
"""

from aepipe.metrics.error import psnr, psnr_from_mse, reconstruction_error
from aepipe.metrics.luma import luma, rgb_to_y
from aepipe.metrics.msssim import ms_ssim
from aepipe.metrics.ssim import ssim, ssim_map

__all__ = [
    "luma",
    "ms_ssim",
    "psnr",
    "psnr_from_mse",
    "reconstruction_error",
    "rgb_to_y",
    "ssim",
    "ssim_map",
]
