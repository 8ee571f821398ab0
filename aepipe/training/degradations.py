"""Degradations as composable functions: clean batch in, (model inputs, target) out.

Each degradation returns the keyword inputs the network takes, so one training loop serves
every task; the target is always the clean batch.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

ModelInputs = dict[str, torch.Tensor]
Degradation = Callable[[torch.Tensor, torch.Generator], ModelInputs]


@dataclass(frozen=True)
class GaussianNoise:
    """Additive white Gaussian noise, σ drawn per image from ``[low, high]`` (0–255 scale).

    A fraction of the batch is made grayscale with the same noise in every channel, so the
    network also learns what a gray image (replicated to RGB at run time) looks like.
    """

    low: float = 0.0
    high: float = 50.0
    gray_fraction: float = 0.1

    def __call__(self, clean: torch.Tensor, generator: torch.Generator) -> ModelInputs:
        n = clean.shape[0]
        sigma = self.low + (self.high - self.low) * torch.rand(n, 1, 1, 1, generator=generator)
        sigma = sigma / 255.0
        gray = torch.rand(n, generator=generator) < self.gray_fraction
        clean[gray] = clean[gray].mean(dim=1, keepdim=True).expand(-1, 3, -1, -1)
        noise = torch.randn(clean.shape, generator=generator)
        noise[gray] = noise[gray][:, :1].expand(-1, 3, -1, -1)
        return {"x": clean + sigma * noise, "noise_level": sigma}


def fixed_noise(clean: torch.Tensor, sigma: float, seed: int = 0) -> ModelInputs:
    """Deterministic σ noise for validation (σ on the 0–255 scale)."""
    generator = torch.Generator().manual_seed(seed)
    noise = torch.randn(clean.shape, generator=generator)
    level = torch.full((clean.shape[0], 1, 1, 1), sigma / 255.0)
    return {"x": clean + level * noise, "noise_level": level}
