"""Reconstruction losses the trainer offers (``--loss``) and its refusal of unknown ones."""

import pytest
import torch

from aepipe.models.losses import RECONSTRUCTION_LOSSES, charbonnier
from aepipe.training.train import Trainer, parse_args

pytestmark = pytest.mark.train


def test_charbonnier_is_l1_away_from_zero_and_smooth_at_zero():
    a, b = torch.zeros(4), torch.full((4,), 0.5)
    assert charbonnier(a, b).item() == pytest.approx(0.5, abs=1e-5)
    assert charbonnier(a, a).item() == pytest.approx(1e-3)
    assert set(RECONSTRUCTION_LOSSES) == {"l1", "l2", "charbonnier"}


def test_unknown_loss_is_refused_before_any_work(tmp_path):
    config = parse_args(
        [
            "--model",
            "srnet-x2",
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
