"""The inpainting network, training side: it learns to fill, keeps the known pixels, exports
with its mask channel and runs as ``--task inpaint --fill model``."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from imagefactory import save
from test_task_nets import loss_curve
from tiny_runs import train_and_export

from aepipe.cli import main
from aepipe.degrade.holes import free_form_hole
from aepipe.training.networks import create_model
from aepipe.training.task_batches import with_hole
from aepipe.training.train import DEGRADATIONS

pytestmark = pytest.mark.train


def smooth(n: int = 4, side: int = 32) -> torch.Tensor:
    y, x = torch.meshgrid(torch.linspace(0, 1, side), torch.linspace(0, 1, side), indexing="ij")
    planes = [torch.stack([x * a, y * (1 - a), (x + y) / 2]) for a in torch.linspace(0.2, 1, n)]
    return torch.stack(planes)


def test_free_form_holes_reach_their_area_and_follow_the_generator():
    first = free_form_hole(np.random.default_rng(3), 96, 128, min_area=0.05, max_area=0.1)
    again = free_form_hole(np.random.default_rng(3), 96, 128, min_area=0.05, max_area=0.1)
    assert np.array_equal(first, again) and first.mean() >= 0.05
    with pytest.raises(ValueError, match="min_area"):
        free_form_hole(np.random.default_rng(0), 8, 8, min_area=0.5, max_area=0.2)


def test_known_pixels_pass_through_and_a_few_steps_lower_the_loss():
    torch.manual_seed(0)
    clean = smooth()
    inputs = DEGRADATIONS["inpaint"](clean, torch.Generator().manual_seed(0))
    hole = inputs["x"][:, 3:]
    assert inputs["x"].shape == (4, 4, 32, 32) and 0 < hole.mean() < 0.6
    model = create_model("inpaint-unet-s")
    with torch.no_grad():
        out = model(inputs["x"])
    assert torch.equal(out * (1 - hole), clean * (1 - hole))
    losses = loss_curve(model, inputs, clean)
    assert np.mean(losses[-3:]) < 0.9 * losses[0], losses
    metrics = model.validation_metrics(inputs, clean)
    assert set(metrics) == {"val_hole_psnr", "val_hole_psnr_mean_colour"}


def test_with_hole_blanks_the_hole_and_appends_it():
    image, hole = torch.rand(1, 3, 4, 4), torch.zeros(1, 1, 4, 4)
    hole[..., 1, 2] = 1
    x = with_hole(image, hole)
    assert x.shape == (1, 4, 4, 4) and x[0, :3, 1, 2].abs().sum() == 0 and x[0, 3, 1, 2] == 1


@pytest.mark.slow
def test_train_export_and_fill_with_the_network(tmp_path: Path):
    model = train_and_export(tmp_path, "inpaint", "inpaint", patch=16)
    rng = np.random.default_rng(0)
    holed = tmp_path / "holed"
    holed.mkdir()
    pixels = rng.integers(0, 256, (40, 48, 3), np.uint8)
    alpha = np.full((40, 48), 255, np.uint8)
    alpha[10:14, 5:40] = 0
    (holed / "h.png").write_bytes(save(np.dstack([pixels, alpha])))
    out = tmp_path / "out"
    argv = ["run", str(holed), str(out), "--task", "inpaint", "--fill", "model"]
    assert main([*argv, "--model", str(model), "--detector", "none"]) == 0
    row = json.loads(next(out.glob("_reports/*/rows.jsonl")).read_text().splitlines()[0])
    assert row["mask_source"] == "alpha" and row["filled"] is True
