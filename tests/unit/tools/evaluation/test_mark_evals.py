"""``aepipe eval --task segment`` and ``--task inpaint``: their figures, run through the CLI."""

import json
from pathlib import Path

import numpy as np
import pytest
from modelfactory import white_mark_segmenter
from test_eval_run import smooth_rgb, write_png

from aepipe.cli import main
from aepipe.runtime.model.card import ModelCard
from aepipe.tools.evaluation.segment import mask_agreement


def test_mask_agreement_counts_overlap_misses_and_false_alarms():
    truth = np.zeros((10, 10), bool)
    truth[:, :4] = True  # 40 marked pixels
    found = np.zeros((10, 10), bool)
    found[:, 2:6] = True  # 20 of them found, 20 false alarms
    figures = mask_agreement(found, truth)
    assert figures["iou"] == pytest.approx(20 / 60)
    assert figures["dice"] == pytest.approx(40 / 80)
    assert figures["recall"] == pytest.approx(0.5) and figures["precision"] == pytest.approx(0.5)
    empty = np.zeros((10, 10), bool)
    assert mask_agreement(empty, empty)["iou"] == 1.0
    assert mask_agreement(found, empty)["precision"] == 0.0
    assert mask_agreement(empty, truth) | {"detected": False} == mask_agreement(empty, truth)


def test_eval_segment_runs_from_the_cli(tmp_path: Path):
    folder = tmp_path / "clean"
    folder.mkdir()
    for index in range(2):
        write_png(folder / f"img{index}.png", (smooth_rgb(64, 64, index) * 0.7).astype(np.uint8))
    model = white_mark_segmenter(tmp_path / "white.onnx", ModelCard(name="white", task="segment"))
    out = tmp_path / "seg.json"
    for marks in ("heldout", "none"):
        code = main(
            ["eval", str(folder), "--task", "segment", "--model", str(model), "--marks", marks,
             "--json", str(out)]
        )  # fmt: skip
        assert code == 0
        report = json.loads(out.read_text())
        assert report["task"] == "segment" and len(report["images"]) == 2
    assert not any(row["detected"] for row in report["images"])  # unmarked, dim: nothing found


def test_eval_inpaint_compares_the_fills_inside_the_holes(tmp_path: Path):
    folder = tmp_path / "clean"
    folder.mkdir()
    for index in range(2):
        write_png(folder / f"img{index}.png", smooth_rgb(64, 80, index))
    out = tmp_path / "inpaint.json"
    assert main(["eval", str(folder), "--task", "inpaint", "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["fills"] == ["ns", "telea"]  # no inpainting network shipped, none given
    assert [(r["name"], r["hole"]) for r in report["images"]] == [
        ("img0.png", "free-form"), ("img0.png", "marks"),
        ("img1.png", "free-form"), ("img1.png", "marks"),
    ]  # fmt: skip
    assert all(r["ns"]["psnr"] > 15 and 0 < r["area"] < 0.5 for r in report["images"])
