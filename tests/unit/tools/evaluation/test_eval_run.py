"""``aepipe eval``: the degradation protocols, the loop and its reports, and the CLI."""

import io
import json
import re
from pathlib import Path

import numpy as np
import pytest
from imagefactory import save
from modelfactory import white_mark_segmenter
from PIL import Image

from aepipe.cli import main
from aepipe.images import decode
from aepipe.runtime.model.card import ModelCard
from aepipe.tools.evaluation.baselines import bicubic, inpaint, untouched
from aepipe.tools.evaluation.dataset import list_images, load_clean
from aepipe.tools.evaluation.methods import BASELINE, MODEL, Method, model_methods
from aepipe.tools.evaluation.protocol import (
    Case,
    EvalConfig,
    EvalError,
    low_res_pair,
    make_case,
    noisy_image,
    watermarked,
)
from aepipe.tools.evaluation.restoration import run_eval


def smooth_rgb(height: int, width: int, phase: float = 0.0) -> np.ndarray:
    y, x = np.mgrid[0:height, 0:width]
    planes = [128 + 90 * np.sin(x / 5.0 + phase), 128 + 90 * np.cos(y / 4.0), (x + y) % 200 + 20]
    return np.stack(planes, axis=2).astype(np.uint8)


def write_png(path: Path, pixels: np.ndarray) -> Path:
    buffer = io.BytesIO()
    Image.fromarray(pixels.squeeze()).save(buffer, format="PNG")
    path.write_bytes(buffer.getvalue())
    return path


@pytest.fixture
def tiny_set(tmp_path: Path) -> Path:
    """Two 48x48 RGB images (tiny keeps CBM3D affordable) and a file that is not an image."""
    folder = tmp_path / "clean"
    folder.mkdir()
    for index in range(2):
        write_png(folder / f"img{index}.png", smooth_rgb(48, 48, phase=index))
    (folder / "notes.txt").write_text("not an image")
    return folder


def test_same_seed_same_noisy_input_and_it_is_uint8():
    clean = smooth_rgb(16, 16)
    first, again, other = (noisy_image(clean, 25, seed) for seed in (3, 3, 4))
    assert first.dtype == np.uint8 and first.shape == clean.shape
    assert np.array_equal(first, again) and not np.array_equal(first, other)
    assert np.std(first.astype(float) - clean) == pytest.approx(25, rel=0.15)


def test_same_seed_same_watermark_and_mask():
    clean = smooth_rgb(64, 96)
    (marked, mask), (again, mask_again) = watermarked(clean, 7), watermarked(clean, 7)
    assert marked.dtype == np.uint8 and mask.shape == (64, 96) and mask.dtype == bool
    assert np.array_equal(marked, again) and np.array_equal(mask, mask_again)
    assert np.array_equal(marked[~mask], clean[~mask])
    restored = inpaint(marked, mask)  # the true mask is exact: inpainting fills only inside it
    assert np.array_equal(restored[~mask], marked[~mask]) and restored.dtype == np.uint8


@pytest.mark.parametrize(("scale", "hr", "lr"), [(2, (50, 46), (25, 23)), (4, (48, 44), (12, 11))])
def test_superres_sizes_after_modcrop(scale, hr, lr):
    high, low = low_res_pair(smooth_rgb(50, 47), scale)
    assert high.shape[:2] == hr and low.shape[:2] == lr and low.dtype == np.uint8


def test_superres_case_of_a_gray_image_stays_gray(tmp_path):
    path = write_png(tmp_path / "bridge.png", smooth_rgb(30, 30)[..., :1])
    config = EvalConfig(tmp_path, "superres", scale=4)
    case = make_case(config, path.name, load_clean(path), seed=0)
    assert case.reference.shape == (28, 28, 1) and case.degraded.pixels.shape == (7, 7, 1)


def test_images_are_listed_sorted_and_limited(tiny_set):
    assert [p.name for p in list_images(tiny_set)] == ["img0.png", "img1.png"]
    assert [p.name for p in list_images(tiny_set, limit=1)] == ["img0.png"]
    with pytest.raises(EvalError, match="no images"):
        list_images(tiny_set.parent)


def test_loop_and_reports_with_stand_in_methods(tiny_set):
    """The superres and unwatermark paths run end to end with cheap stand-ins for the model."""
    sr = EvalConfig(tiny_set, "superres", scale=2)
    stand_in = Method("bicubic again", MODEL, lambda c: bicubic(c.degraded.pixels, 2))
    report = run_eval(sr, [stand_in], log=lambda _: None)
    assert [row["height"] for row in report.images] == [48, 48]
    assert 25 < report.means()["bicubic again"]["psnr"] < 60

    wm = EvalConfig(tiny_set, "unwatermark", seed=5)
    methods = [
        Method("telea", BASELINE, lambda c: inpaint(c.degraded.pixels, c.mask)),
        Method("input", BASELINE, lambda c: untouched(c.degraded.pixels)),
    ]
    report = run_eval(wm, methods, log=lambda _: None)
    means = report.means()
    assert means["telea"]["psnr"] > means["input"]["psnr"]
    data = json.loads(json.dumps(report.to_dict()))
    assert data["images"][1]["seed"] == 6 and data["config"]["data_dir"] == str(tiny_set)
    assert "| mean of 2 | telea" in report.markdown()


def test_cli_fails_clearly_when_the_model_does_not_exist(tiny_set, capsys):
    assert main(["eval", str(tiny_set), "--task", "unwatermark", "--model", "no-such-net"]) == 1
    assert "'no-such-net': not a registered name" in capsys.readouterr().err


def test_cli_denoise_model_only_writes_json_and_markdown(tiny_set, tmp_path, capsys):
    out_json, out_md = tmp_path / "eval.json", tmp_path / "eval.md"
    argv = ["eval", str(tiny_set), "--task", "denoise", "--no-baseline", "--blind"]
    assert main([*argv, "--per-image", "--json", str(out_json), "--markdown", str(out_md)]) == 0
    printed = capsys.readouterr().out
    assert printed.strip() == out_md.read_text().strip()
    assert "| img1.png" in printed and "(blind)" in printed
    data = json.loads(out_json.read_text())
    assert [m["kind"] for m in data["methods"]] == [MODEL, MODEL]
    assert len(data["model"]["sha256"]) == 64 and data["machine"]["bm3d"]


def test_cli_self_ensemble_labels_the_model_row_and_is_refused_for_the_codec(tiny_set, capsys):
    argv = ["eval", str(tiny_set), "--task", "unwatermark", "--no-baseline", "--self-ensemble"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "| mean of 2 | unwatermark-guided-unet-s x8 " in out
    assert "(ungated)" not in out  # the guided remover needs its detector's mask
    assert "| mean of 2 | unwatermark-guided-unet-s x8 (network's pixels) " in out  # no refit
    assert "| mean of 2 | mark-segment-unet-s + inpaint NS " in out  # detect, then fill
    assert main([*argv, "--model", "unwatermark-unet-s"]) == 0
    assert "| mean of 2 | unwatermark-unet-s x8 (ungated) " in capsys.readouterr().out
    assert main(["eval", str(tiny_set), "--task", "compress", "--self-ensemble"]) == 1
    assert "--self-ensemble is for restoration tasks" in capsys.readouterr().err


@pytest.mark.slow  # bm3d costs ~6-8 s per call even on 48x48 (a fixed cost) on 2 shared cores
def test_denoise_end_to_end_with_cbm3d(tiny_set, tmp_path):
    report = run_eval(EvalConfig(tiny_set, "denoise", noise_level=25), log=lambda _: None)
    data = report.to_dict()
    labels = [m["label"] for m in data["methods"]]
    assert labels == ["denoise-unet-s (σ=25)", "CBM3D (σ=25)", "noisy input"]
    means = report.means()
    assert means["CBM3D (σ=25)"]["psnr"] > means["noisy input"]["psnr"] + 5
    assert all(len(row["results"]) == 3 for row in data["images"])
    table = report.markdown()
    assert "CBM3D (σ=25)" in table and "denoise-unet-s (σ=25)" in table


def test_harm_counts_outputs_left_alone_and_outputs_made_worse(tiny_set):
    """Issue 17's measure: on unmarked photos (--marks none) a remover should return its input."""
    config = EvalConfig(tiny_set, "unwatermark", marks="none")
    methods = [
        Method("leaves it", MODEL, lambda c: untouched(c.degraded.pixels)),
        Method(
            "brightens",
            MODEL,
            lambda c: np.clip(c.degraded.pixels.astype(int) + 2, 0, 255).astype(np.uint8),
        ),
    ]
    report = run_eval(config, methods, log=lambda _: None)
    harm = report.harm()
    assert harm["leaves it"]["unchanged"] == 2 and harm["leaves it"]["worse_than_input"] == 0
    assert harm["brightens"]["unchanged"] == 0 and harm["brightens"]["worse_than_input"] == 2
    assert 40 < harm["brightens"]["worst"]["psnr"] < 45  # an offset of 2 levels: 42.1 dB
    row = r"\| brightens +\| 0 of 2 +\| 2 of 2 +\| img\d\.png: 42\.11 dB \(inf dB\)"
    assert re.search(row, report.markdown())


def test_unseen_marks_come_from_other_font_families(tiny_set):
    from aepipe.degrade import HELDOUT_FONTS, TRAIN_FONTS, unseen_style

    fonts = unseen_style().fonts
    assert fonts and not set(fonts) & set(TRAIN_FONTS + HELDOUT_FONTS)
    clean = smooth_rgb(96, 96)
    marked, mask = watermarked(clean, 3, "unseen")
    assert mask.any() and not np.array_equal(marked[mask], clean[mask])
    assert np.array_equal(marked[~mask], clean[~mask])


def test_detect_then_inpaint_uses_the_detector_the_eval_was_given(tmp_path: Path):
    """The NS row fills the mask of ``--detector``, not of the zoo's segmenter."""
    card = ModelCard(name="white-marks", task="segment", tile=64, tile_overlap=8)
    segmenter = str(white_mark_segmenter(tmp_path / "white.onnx", card))
    methods, _ = model_methods(EvalConfig(tmp_path, "unwatermark", detector=segmenter))
    (filled,) = [m for m in methods if m.label == "white-marks + inpaint NS"]
    pixels = (smooth_rgb(48, 64) * 0.6).astype(np.uint8)  # no near-white pixel: no mask
    case = Case("dark.png", 0, pixels, decode(save(pixels), "dark.png"))
    np.testing.assert_array_equal(filled.restore(case), pixels)
    pixels[10:20, 10:30] = 255  # a white block: masked (grown 2 px) and filled, nothing else
    out = filled.restore(Case("mark.png", 0, pixels, decode(save(pixels), "mark.png")))
    changed = np.argwhere((out != pixels).any(axis=2))
    assert len(changed) and changed.min(axis=0).tolist() >= [8, 8]
    assert changed.max(axis=0).tolist() <= [21, 31]
