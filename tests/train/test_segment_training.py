"""Mark segmentation, training side: the loss learns, users' own masks train it, and an export
runs as ``--task segment`` and pairs with a remover in the zoo."""

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from imagefactory import save
from test_task_nets import loss_curve

from aepipe.cli import main
from aepipe.training.data import PatchSampler, load_masked_images
from aepipe.training.export import update_manifest
from aepipe.training.networks import create_model
from aepipe.training.networks.losses import training_loss
from aepipe.training.task_batches import with_negatives
from aepipe.training.train import DEGRADATIONS, Trainer, parse_args

pytestmark = pytest.mark.train


def squares(folder: Path, count: int = 3) -> tuple[Path, Path]:
    """Noise images with a bright square each, and the squares' masks as <stem>.mask.png."""
    images, masks = folder / "images", folder / "masks"
    images.mkdir(parents=True)
    masks.mkdir()
    rng = np.random.default_rng(0)
    for i in range(count):
        image = rng.integers(0, 120, (48, 64, 3), dtype=np.uint8)
        mask = np.zeros((48, 64), np.uint8)
        mask[10:30, 20 + i : 40 + i] = 255
        image[mask > 0] = 250
        (images / f"p{i}.png").write_bytes(save(image))
        (masks / f"p{i}.mask.png").write_bytes(save(mask))
    return images, masks


def test_a_few_steps_on_synthetic_marks_lower_the_loss():
    torch.manual_seed(0)
    model = create_model("mark-segment-unet-s")
    clean = torch.rand(4, 3, 32, 32) * 0.5 + 0.25
    inputs = DEGRADATIONS["segment"](clean, torch.Generator().manual_seed(1))
    losses = loss_curve(model, inputs, clean, steps=15, lr=3e-4)
    _, terms = training_loss(model, inputs, clean)
    assert set(terms) == {"bce", "dice"}
    assert np.mean(losses[-3:]) < 0.9 * losses[0], losses
    metrics = model.validation_metrics(inputs, clean)
    assert 0 <= metrics["val_iou"] <= 1 and 0 <= metrics["val_false_alarm"] <= 1


def test_hard_negatives_join_a_batch_unmarked():
    clean = torch.rand(4, 3, 16, 16)
    inputs = DEGRADATIONS["segment"](clean, torch.Generator().manual_seed(1))
    negatives = torch.rand(2, 3, 16, 16)
    joined = with_negatives(inputs, negatives)
    assert joined.keys() == inputs.keys()
    assert torch.equal(joined["x"][4:], negatives) and torch.equal(joined["x"][:4], inputs["x"])
    assert not joined["target_alpha"][4:].any()
    assert torch.equal(joined["target_alpha"][:4], inputs["target_alpha"])


def test_the_trainer_draws_a_quarter_of_each_batch_from_the_negatives(tmp_path: Path):
    images, _ = squares(tmp_path)
    negatives = tmp_path / "negatives"
    negatives.mkdir()
    (negatives / "n.png").write_bytes(save(np.full((40, 40, 3), 7, np.uint8)))
    common = ["--task", "segment", "--data", str(images), "--out", str(tmp_path / "run")]
    config = parse_args([*common, "--negatives", str(negatives), "--batch", "8", "--patch", "16"])
    clean, inputs = Trainer(dataclasses.replace(config, holdout=1))._batch()
    assert clean.shape == (8, 3, 16, 16) and inputs["x"].shape == (8, 3, 16, 16)
    assert torch.allclose(inputs["x"][6:], torch.tensor(7 / 255))  # the last two: negatives
    assert not inputs["target_alpha"][6:].any()
    with pytest.raises(ValueError, match="--negatives is for --task segment"):
        Trainer(parse_args(["--task", "denoise", *common[2:], "--negatives", str(negatives)]))


def test_masks_travel_with_their_images_through_the_sampler(tmp_path: Path):
    images, masks = squares(tmp_path)
    pairs = load_masked_images(str(images), str(masks))
    assert [p.shape for p in pairs] == [(48, 64, 4)] * 3
    batch = PatchSampler(pairs, 16, np.random.default_rng(0)).batch(8)
    assert batch.shape == (8, 4, 16, 16)
    bright = batch[:, :3].min(axis=1) > 0.9  # the square's pixels ...
    assert np.array_equal(bright, batch[:, 3] > 0.5)  # ... are exactly the masked ones
    (masks / "p1.mask.png").unlink()
    with pytest.raises(ValueError, match=r"p1\.png: no mask"):
        load_masked_images(str(images), str(masks))


def test_train_on_own_masks_export_and_run_segment(tmp_path: Path, capsys):
    images, masks = squares(tmp_path)
    run = tmp_path / "run"
    common = ["train", "--task", "segment", "--data", str(images), "--masks", str(masks)]
    common += ["--out", str(run), "--batch", "2", "--patch", "16", "--holdout", "1"]
    assert main([*common, "--threads", "1", "--val-every", "2", "--steps", "2"]) == 0
    row = json.loads((run / "log.jsonl").read_text().splitlines()[-1])
    assert {"bce", "dice", "val_iou", "val_false_alarm"} <= set(row)
    model = tmp_path / "seg.onnx"
    export = ["export", str(run / "last.pt"), "--name", "squares", "--task", "segment"]
    assert main([*export, "--out", str(model)]) == 0
    out = tmp_path / "out"
    assert main(["run", str(images), str(out), "--task", "segment", "--model", str(model)]) == 0
    assert sorted(p.name for p in out.glob("*.mask.png")) == [f"p{i}.mask.png" for i in range(3)]
    rows = [json.loads(line) for line in next(out.glob("_reports/*/rows.jsonl")).open()]
    assert all("mask_area" in r and "mark_detected" in r for r in rows)


def test_a_segmenter_or_denoiser_export_becomes_a_companion_of_the_models_it_serves(tmp_path: Path):
    from aepipe.runtime.model.card import ModelCard
    from aepipe.training.export import ExportResult

    def add(name: str, task: str, companion_of: tuple[str, ...] = (), successor_of="") -> None:
        part = {"model": ExportResult(tmp_path / f"{name}.onnx", "0" * 64, 0.0)}
        card = ModelCard(name=name, task=task)
        update_manifest(tmp_path, card, part, True, companion_of, successor_of)

    add("remover", "unwatermark")
    add("finder", "segment", ("remover",))
    add("cleaner", "denoise", ("remover",))  # the denoiser its refit leans on
    entries = {
        m["card"]["name"]: m for m in json.loads((tmp_path / "manifest.json").read_text())["models"]
    }
    assert (entries["remover"]["detector"], entries["remover"]["denoiser"]) == ("finder", "cleaner")
    add("remover", "unwatermark")  # a re-export keeps its pairing
    entries = {
        m["card"]["name"]: m for m in json.loads((tmp_path / "manifest.json").read_text())["models"]
    }
    assert (entries["remover"]["detector"], entries["remover"]["denoiser"]) == ("finder", "cleaner")
    add("remover-v2", "unwatermark", successor_of="remover")  # a successor takes them over
    entries = {
        m["card"]["name"]: m for m in json.loads((tmp_path / "manifest.json").read_text())["models"]
    }
    assert entries["remover-v2"]["detector"] == "finder"
    assert entries["remover-v2"]["denoiser"] == "cleaner"
    with pytest.raises(ValueError, match="--companions-from nobody: no such model"):
        add("remover-v3", "unwatermark", successor_of="nobody")
    with pytest.raises(ValueError, match="no such model"):
        add("finder", "segment", ("nobody",))
    with pytest.raises(ValueError, match="serves no other"):
        add("other", "superres", ("remover",))
