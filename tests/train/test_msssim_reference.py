"""aepipe's numpy MS-SSIM against pytorch-msssim, the implementation codec papers quote (via
CompressAI): five scales, odd sides padded as torch pads them, on natural-looking images.

pytorch-msssim builds its Gaussian window in float32 whatever the input's dtype, which moves
the sixth decimal; given the same window in float64 the two agree to 1e-7, tight enough that
a wrong term at any scale or another padding of odd sides fails (they move the third).
"""

from __future__ import annotations

import importlib

import numpy as np
import pytest
import torch
from modelfactory import photo_like

from aepipe.metrics import ms_ssim
from aepipe.metrics.msssim import WINDOW_SIGMA, WINDOW_SIZE, _gaussian_window

reference_module = importlib.import_module("pytorch_msssim.ssim")


def float64_window(size: int, sigma: float) -> torch.Tensor:
    assert (size, sigma) == (WINDOW_SIZE, WINDOW_SIGMA)
    return torch.from_numpy(_gaussian_window())[None, None]


def reference(a: np.ndarray, b: np.ndarray) -> float:
    planes = [torch.from_numpy(x.astype(np.float64) / 255).permute(2, 0, 1)[None] for x in (a, b)]
    return float(reference_module.ms_ssim(*planes, data_range=1.0, size_average=True))


@pytest.mark.parametrize(("height", "width"), [(161, 161), (173, 245), (256, 384), (333, 201)])
@pytest.mark.parametrize("sigma", [5.0, 25.0])
def test_ms_ssim_equals_pytorch_msssim(
    height: int, width: int, sigma: float, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = np.random.default_rng(height * width)
    clean = photo_like(rng, height, width)
    noisy = np.clip(clean + rng.normal(0, sigma, clean.shape), 0, 255).astype(np.uint8)
    ours = ms_ssim(clean, noisy)
    assert ours == pytest.approx(reference(clean, noisy), abs=2e-5)  # stock float32 window
    monkeypatch.setattr(reference_module, "_fspecial_gauss_1d", float64_window)
    assert ours == pytest.approx(reference(clean, noisy), abs=1e-7)
