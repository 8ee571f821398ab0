"""The differentiable MS-SSIM codecs train on is the MS-SSIM evaluation reports."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from imagefactory import rgb_image

from aepipe.metrics import ms_ssim as reported_ms_ssim
from aepipe.training.networks.msssim import ms_ssim

pytestmark = pytest.mark.train


def _batch(image: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(image.transpose(2, 0, 1)[None].astype(np.float64) / 255)


@pytest.mark.parametrize("size", [(193, 250), (128, 128), (40, 71)])
def test_it_equals_the_reported_metric_at_every_number_of_scales(size) -> None:
    """Five scales (odd sides padded as pytorch-msssim pads them), four, and two."""
    rng = np.random.default_rng(0)
    clean = np.asarray(rgb_image(rng, size[1], size[0]))
    noisy = np.clip(clean + rng.normal(0, 15, clean.shape), 0, 255).astype(np.uint8)
    value = ms_ssim(_batch(noisy), _batch(clean)).item()
    assert value == pytest.approx(reported_ms_ssim(clean, noisy), abs=1e-7)
    assert 0.3 < value < 0.999


def test_its_gradient_is_finite_where_a_term_reaches_zero() -> None:
    """An output unrelated to the target drives contrast-structure terms to 0 or below: the
    floor keeps the gradient finite where a relu'd fractional power would give NaN."""
    torch.manual_seed(0)
    target = torch.rand(2, 3, 64, 64)
    estimate = (1 - target).requires_grad_()
    ms_ssim(estimate, target).backward()
    assert estimate.grad is not None and torch.isfinite(estimate.grad).all()
