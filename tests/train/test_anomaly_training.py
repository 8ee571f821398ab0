"""The anomaly contract end to end: train -> export with calibration -> run -> eval, by CLI."""

import json

import numpy as np
import onnx
import pytest
import torch
from imagefactory import save
from modelfactory import photo_like

from aepipe.cli import main
from aepipe.runtime.model.card import CARD_METADATA_KEY

pytestmark = [pytest.mark.train, pytest.mark.slow]


@pytest.fixture
def normal_folder(tmp_path):
    folder = tmp_path / "normal"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(10):
        (folder / f"{i:02d}.png").write_bytes(save(photo_like(rng, 48, 48)))
    return folder


def test_train_export_run_and_eval(tmp_path, normal_folder, capsys):
    run = tmp_path / "run"
    train = ["train", "--task", "anomaly", "--data", str(normal_folder), "--out", str(run)]
    assert main([*train, "--steps", "6", "--batch", "2", "--patch", "32", "--threads", "1"]) == 0
    config = json.loads(torch.load(run / "last.pt", weights_only=True)["config"])
    assert config["model"] == "anomaly-ae-m" and config["holdout"] == 2  # the task's defaults

    model = tmp_path / "mine.onnx"
    assert (
        main(
            [
                "export",
                str(run / "last.pt"),
                "--name",
                "mine",
                "--task",
                "anomaly",
                "--out",
                str(model),
            ]
        )
        == 0
    )
    assert "leave one out" in capsys.readouterr().out

    metadata = {p.key: p.value for p in onnx.load(str(model)).metadata_props}
    card = json.loads(metadata[CARD_METADATA_KEY])
    assert card["task"] == "anomaly" and card["anomaly"]["code_channels"] == 16
    assert card["anomaly"]["calibration_data"].startswith("the last 2 images")

    out = tmp_path / "out"
    argv = ["run", str(normal_folder), str(out), "--task", "anomaly", "--model", str(model)]
    assert main(argv) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["counts"]["ok"] == 10
    assert len(list(out.glob("*.anomaly.png"))) == 10

    argv = [
        "eval",
        str(normal_folder),
        "--task",
        "anomaly",
        "--model",
        str(model),
        "--fit",
        str(normal_folder),
    ]
    assert main([*argv, "--defects-per-kind", "1", "--json", str(tmp_path / "eval.json")]) == 0
    report = json.loads((tmp_path / "eval.json").read_text())
    assert set(report["results"]) == {
        f"{m} {k}" for m in ("AE", "PCA") for k in ("features", "l2", "ssim")
    }
    assert report["counts"] == {"normal": 10, "defective": 70}
