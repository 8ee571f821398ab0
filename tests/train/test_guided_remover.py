"""The guided remover (issue 17): told the detector's mask, it changes nothing outside it,
learns from masks with a detector's errors, exports with its mask channel and runs as
``--task unwatermark`` behind a detector."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from imagefactory import save
from modelfactory import photo_like, white_mark_segmenter
from PIL import Image
from tiny_runs import train_and_export

from aepipe.cli import main
from aepipe.runtime.model.card import ModelCard
from aepipe.training.networks import create_model
from aepipe.training.networks.guided_matte import projected
from aepipe.training.task_batches import detector_like_mask
from aepipe.training.train import DEGRADATIONS

pytestmark = pytest.mark.train


def test_guided_remover_returns_every_pixel_outside_its_mask_exactly() -> None:
    torch.manual_seed(0)
    clean = torch.rand(4, 3, 32, 32)
    model = create_model("unwatermark-guided-unet-s")
    torch.nn.init.normal_(model.tail.weight, std=0.1)  # a remover that changes pixels
    inputs = DEGRADATIONS["unwatermark-guided"](clean.clone(), torch.Generator().manual_seed(0))
    x = inputs["x"]
    outside = (x[:, 3:] == 0).expand_as(clean)
    with torch.no_grad():
        output = model(x)
    assert torch.equal(output[outside], x[:, :3][outside])
    assert (output != x[:, :3])[~outside].float().mean() > 0.5


def test_projected_rewards_a_guess_that_places_rims_right_not_one_pushed_onto_the_mark() -> None:
    """What the refit makes of a guess: the clean photo from the clean photo, a noisy guess
    made better (only its error along the mark's line counts), and no reward for a guess
    pushed far away from the mark's colour, which puts every rim pixel in the full state."""
    torch.manual_seed(0)
    clean = torch.rand(2, 3, 16, 16)
    alpha = torch.zeros(2, 1, 16, 16)
    alpha[:, :, 4:12, 4:12] = 0.6
    alpha[:, :, 4:12, 3] = alpha[:, :, 4:12, 12] = 0.3  # rims
    colour = torch.rand(2, 3, 1, 1)
    marked = (1 - alpha) * clean + alpha * colour
    on_mark = (alpha > 0).expand_as(clean)
    assert torch.allclose(projected(clean, marked, clean, alpha), clean, atol=1e-5)
    noisy = clean + 0.05 * torch.randn_like(clean)
    error = (projected(noisy, marked, clean, alpha) - clean).abs()[on_mark].mean()
    assert error < 0.7 * (noisy - clean).abs()[on_mark].mean()
    pushed = marked + 5 * (marked - colour)  # "fully covered", wherever the mark is
    rim = (alpha == 0.3).expand_as(clean)
    assert (projected(pushed, marked, clean, alpha) - clean).abs()[rim].mean() > 0.05


def test_projected_weight_adds_its_term_to_the_guided_remover_loss() -> None:
    torch.manual_seed(0)
    clean = torch.rand(4, 3, 32, 32)
    inputs = DEGRADATIONS["unwatermark-guided"](clean.clone(), torch.Generator().manual_seed(0))
    plain = create_model("unwatermark-guided-unet-s")
    trained = create_model("unwatermark-guided-unet-s", projected_weight=1.0)
    trained.load_state_dict(plain.state_dict())
    loss, terms = plain.training_loss(inputs, clean)
    loss_with, terms_with = trained.training_loss(inputs, clean)
    assert "projected_l1" not in terms and terms_with["projected_l1"] > 0
    assert loss_with.item() == pytest.approx(loss.item() + terms_with["projected_l1"], rel=1e-5)


def test_detector_like_masks_cover_the_mark_and_raise_false_alarms() -> None:
    """Marked: the mark's clear pixels masked (grown), bar a piece missed now and then;
    unmarked: strokes that are no mark, so the remover learns to return such pixels."""
    rng = np.random.default_rng(0)
    alpha = np.zeros((64, 64), np.float32)
    alpha[20:30, 10:50] = 0.5
    covered = [detector_like_mask(alpha, rng)[alpha > 0.1].mean() for _ in range(40)]
    assert np.median(covered) == 1 and min(covered) > 0.5
    unmarked = [detector_like_mask(np.zeros_like(alpha), rng).mean() for _ in range(20)]
    assert all(0 < area < 0.5 for area in unmarked)


@pytest.mark.slow
def test_train_export_and_remove_behind_a_detector(tmp_path: Path) -> None:
    model = train_and_export(tmp_path, "unwatermark-guided", "unwatermark", patch=32)
    rng = np.random.default_rng(0)
    detector = white_mark_segmenter(
        tmp_path / "white.onnx", ModelCard(name="white", task="segment", tile=64)
    )
    marked = tmp_path / "marked"
    marked.mkdir()
    pixels = (photo_like(rng, 64, 96) * 0.8).astype(np.uint8)
    pixels[20:30, 10:80] = 255
    (marked / "m.png").write_bytes(save(pixels))
    out = tmp_path / "out"
    argv = ["run", str(marked), str(out), "--task", "unwatermark", "--model", str(model)]
    assert main([*argv, "--detector", str(detector)]) == 0
    row = json.loads(next(out.glob("_reports/*/rows.jsonl")).read_text().splitlines()[0])
    assert row["mark_detected"] is True and row["status"] == "ok"
    written = np.asarray(Image.open(out / "m.png"))
    assert np.array_equal(written[:15], pixels[:15])  # far from the mark: bit for bit
