"""Reconstruction losses the trainer offers (``--loss``) and its refusal of unknown ones."""

import pytest
import torch

from aepipe.training.networks.losses import RECONSTRUCTION_LOSSES, changed_weighted_l1, charbonnier
from aepipe.training.train import Trainer, parse_args

pytestmark = pytest.mark.train


def test_charbonnier_is_l1_away_from_zero_and_smooth_at_zero():
    a, b = torch.zeros(4), torch.full((4,), 0.5)
    assert charbonnier(a, b).item() == pytest.approx(0.5, abs=1e-5)
    assert charbonnier(a, a).item() == pytest.approx(1e-3)
    assert set(RECONSTRUCTION_LOSSES) == {"l1", "l2", "charbonnier"}


def test_changed_pixels_weigh_more_in_the_focused_l1():
    target = torch.zeros(1, 3, 4, 4)
    degraded = target.clone()
    degraded[..., 0, 0] = 1.0  # one changed pixel of sixteen
    miss_changed, miss_other = target.clone(), target.clone()
    miss_changed[..., 0, 0] = 0.5
    miss_other[..., 3, 3] = 0.5
    changed = changed_weighted_l1(miss_changed, target, degraded, weight=10.0)
    other = changed_weighted_l1(miss_other, target, degraded, weight=10.0)
    assert changed.item() == pytest.approx(11 * other.item())
    assert changed_weighted_l1(target, target, degraded).item() == 0


def test_unknown_loss_is_refused_before_any_work(tmp_path):
    config = parse_args(
        [
            "--model",
            "sr-x2-srnet",
            "--task",
            "superres-x2",
            "--data",
            str(tmp_path),
            "--out",
            str(tmp_path / "run"),
            "--loss",
            "ssim",
        ]
    )
    with pytest.raises(ValueError, match="--loss 'ssim'"):
        Trainer(config)
