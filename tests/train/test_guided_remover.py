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
