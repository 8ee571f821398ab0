"""MS-SSIM in torch, differentiable: the training objective of codecs tuned for MS-SSIM.

The same quantity as :func:`aepipe.metrics.ms_ssim`, which evaluation reports (pytorch-msssim's
definition: 11 px Gaussian window, 'valid' filtering, 2x2 average pooling with its zero padding
of odd sides, relu'd terms, the scales an image has room for), on N x C x H x W batches in
[0, 1]. One difference, for the gradient: the terms are floored at ``FLOOR`` instead of 0,
since a fractional power has no finite derivative at 0.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

from aepipe.metrics.msssim import K1, K2, WINDOW_SIGMA, WINDOW_SIZE, scale_weights

FLOOR = 1e-6


def _window(channels: int, like: torch.Tensor) -> torch.Tensor:
    offsets = torch.arange(WINDOW_SIZE, dtype=like.dtype, device=like.device) - WINDOW_SIZE // 2
    window = torch.exp(-(offsets**2) / (2 * WINDOW_SIGMA**2))
    return (window / window.sum()).view(1, 1, 1, -1).repeat(channels, 1, 1, 1)


def _blur(maps: torch.Tensor, window: torch.Tensor) -> torch.Tensor:
    """Gaussian local means, 'valid' part, each channel on its own (separable)."""
    channels = maps.shape[1]
    rows = F.conv2d(maps, window, groups=channels)
    return F.conv2d(rows, window.transpose(2, 3), groups=channels)


def _ssim_and_cs(
    x: torch.Tensor, y: torch.Tensor, window: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """(N, C) mean SSIM and mean contrast-structure term."""
    mu_x, mu_y = _blur(x, window), _blur(y, window)
    var_x = _blur(x * x, window) - mu_x**2
    var_y = _blur(y * y, window) - mu_y**2
    cov = _blur(x * y, window) - mu_x * mu_y
    cs_map = (2 * cov + K2**2) / (var_x + var_y + K2**2)
    ssim_map = (2 * mu_x * mu_y + K1**2) / (mu_x**2 + mu_y**2 + K1**2) * cs_map
    return ssim_map.mean(dim=(2, 3)), cs_map.mean(dim=(2, 3))


def ms_ssim(estimate: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
    """Mean MS-SSIM of two N x C x H x W batches in [0, 1] (a scalar with a gradient)."""
    weights = torch.as_tensor(
        scale_weights(*reference.shape[2:]), dtype=reference.dtype, device=reference.device
    )
    window = _window(reference.shape[1], reference)
    x, y = estimate, reference
    factors = []
    for _ in range(len(weights) - 1):
        factors.append(_ssim_and_cs(x, y, window)[1].clamp_min(FLOOR))
        padding = [side % 2 for side in x.shape[2:]]
        x = F.avg_pool2d(x, kernel_size=2, padding=padding)
        y = F.avg_pool2d(y, kernel_size=2, padding=padding)
    factors.append(_ssim_and_cs(x, y, window)[0].clamp_min(FLOOR))
    per_channel = torch.prod(torch.stack(factors) ** weights.view(-1, 1, 1), dim=0)
    return per_channel.mean()
