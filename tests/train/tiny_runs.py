"""A two-step training run on three random images, exported: what the train-export-run tests
of each task start from."""

from pathlib import Path

import numpy as np
from imagefactory import save

from aepipe.cli import main


def train_and_export(tmp_path: Path, task: str, export_task: str, *, patch: int) -> Path:
    """Train ``task`` for two steps on 48 x 48 random images and export it as ``export_task``
    to a self-contained ONNX file; returns its path."""
    images = random_images(tmp_path / "images", 48, 48)
    run = tmp_path / "run"
    args = ["train", "--task", task, "--data", str(images), "--out", str(run), "--batch", "2"]
    args += ["--patch", str(patch), "--holdout", "1", "--threads", "1", "--steps", "2"]
    assert main([*args, "--val-every", "2"]) == 0
    model = tmp_path / f"{task}.onnx"
    export = ["export", str(run / "last.pt"), "--name", task, "--task", export_task]
    assert main([*export, "--out", str(model)]) == 0
    return model


def random_images(folder: Path, height: int, width: int, seed: int = 0, count: int = 3) -> Path:
    """``count`` PNGs of uniform noise in ``folder`` (made here): data for a run of two steps."""
    folder.mkdir()
    rng = np.random.default_rng(seed)
    for i in range(count):
        pixels = rng.integers(0, 256, (height, width, 3), np.uint8)
        (folder / f"p{i}.png").write_bytes(save(pixels))
    return folder
