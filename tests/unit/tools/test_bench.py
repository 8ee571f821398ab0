"""The benchmark's pure pieces, and one tiny real run. Nothing here asserts a speed."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from aepipe.cli import main
from aepipe.images import decode
from aepipe.runtime.model.card import ModelCard
from aepipe.runtime.model.zoo import find_model
from aepipe.runtime.reports import ReportRow
from aepipe.tools.bench import image_memory
from aepipe.tools.bench.compress import bench_codec
from aepipe.tools.bench.models import TORCH_LABEL, model_inputs, torch_runner
from aepipe.tools.bench.options import BenchOptions
from aepipe.tools.bench.pipeline import (
    environ,
    median_stages,
    stage_seconds,
    synthetic_image,
    synthetic_pngs,
    weed_release,
)
from aepipe.tools.bench.report import BenchReport, speedups
from aepipe.tools.bench.suite import _attempt, _tiling
from aepipe.tools.bench.timing import (
    MAX_CALLS_PER_SAMPLE,
    BenchError,
    Sample,
    Timing,
    calls_per_sample,
    interleaved,
    megapixels,
    megapixels_per_second,
)
from aepipe.tools.machine import parse_cpu_model
from aepipe.tools.tables import markdown_table


def test_synthetic_image_is_deterministic_and_photo_like() -> None:
    image = synthetic_image(96, seed=3)
    assert image.shape == (96, 96, 3) and image.dtype == np.uint8
    assert np.array_equal(image, synthetic_image(96, seed=3))
    assert not np.array_equal(image, synthetic_image(96, seed=4))
    assert 10 < image.std() < 120  # neither flat nor saturated noise


def test_synthetic_pngs_decode_to_the_generated_pixels() -> None:
    pngs = synthetic_pngs(2, 32)
    assert list(pngs) == ["img-000.png", "img-001.png"]
    assert pngs == synthetic_pngs(2, 32)
    assert np.array_equal(decode(pngs["img-001.png"], "k").pixels, synthetic_image(32, seed=1))


def test_megapixel_arithmetic() -> None:
    assert megapixels(512, 512, 24) == pytest.approx(6.291456)
    assert megapixels_per_second(6.0, 2.0) == 3.0
    assert megapixels_per_second(6.0, None) is None
    assert megapixels_per_second(6.0, 0.0) is None


def test_timing_reports_medians_and_rates() -> None:
    samples = [Sample(wall=w, cpu=2 * w) for w in (4.0, 1.0, 2.0)]
    timing = Timing("local e2e", "d", megapixels=6.0, images=12, samples=samples)
    assert timing.seconds == 2.0
    assert timing.mp_per_s == 3.0
    assert timing.images_per_s == 6.0
    assert timing.cpu_per_wall == 2.0
    assert json.loads(json.dumps(timing.to_dict()))["megapixels_per_second"] == 3.0


def test_unmeasured_timing_has_no_numbers() -> None:
    timing = Timing(TORCH_LABEL, "1x3x256x256", 0.065536, note="torch is not installed")
    assert (timing.seconds, timing.mp_per_s, timing.images_per_s, timing.cpu_per_wall) == (
        None,
        None,
        None,
        None,
    )


def test_calls_per_sample_is_bounded() -> None:
    assert calls_per_sample(1.0, target=0.25) == 1
    assert calls_per_sample(0.01, target=0.25) == 25
    assert calls_per_sample(0.0) == MAX_CALLS_PER_SAMPLE


def test_interleaved_alternates_and_excludes_warmup() -> None:
    order: list[str] = []
    fns = {name: (lambda name=name: order.append(name)) for name in ("a", "b")}
    samples = interleaved(fns, repeats=3, warmup=2, min_sample_s=0.0)
    assert [len(s) for s in samples.values()] == [3, 3]
    assert order == ["a", "a", "b", "b"] + ["a", "b"] * 3


def test_stage_seconds_sum_rows_and_median_over_passes() -> None:
    rows = [ReportRow("a", seconds_fetch=1.0, seconds_infer=2.0), ReportRow("b", seconds_infer=3.0)]
    stages = stage_seconds(rows)
    assert stages == {"fetch": 1.0, "decode": 0.0, "infer": 5.0, "encode": 0.0, "upload": 0.0}
    passes = [stages, {**stages, "infer": 1.0}, {**stages, "infer": 9.0}]
    assert median_stages(passes)["infer"] == 5.0


def test_markdown_table_pads_columns() -> None:
    table = markdown_table(["mode", "MP/s"], [["local e2e", "1.50"], ["S3", "-"]])
    assert table.splitlines() == [
        "| mode      | MP/s |",
        "|-----------|------|",
        "| local e2e | 1.50 |",
        "| S3        | -    |",
    ]
    escaped = markdown_table(["note"], [["a|b"]]).splitlines()[-1]
    assert escaped == "| a\\|b |"


def test_speedups_pair_rows_of_the_same_shape() -> None:
    def timing(label: str, detail: str, wall: float | None) -> Timing:
        samples = [Sample(wall, wall)] if wall else []
        return Timing(label, detail, 1.0, samples=samples)

    rows = [
        timing("ort", "1x3", 0.5),
        timing("torch", "1x3", 1.0),
        timing("ort", "4x3", 0.5),
        timing("torch", "4x3", None),
    ]
    assert speedups(rows, "ort", "torch") == {"1x3": 2.0}


def _report(codec: list[Timing], codec_info: dict[str, Any]) -> BenchReport:
    machine = {
        "cpu": "cpu",
        "usable_cpus": 2,
        "logical_cpus": 2,
        "platform": "p",
        "python": "3",
        "numpy": "2",
        "onnxruntime": "1",
        "torch": None,
    }
    info = {
        "model": "m",
        "model_sha256": "0" * 64,
        "model_providers": [],
        "pipeline_providers": [],
        "torch_weights": "-",
        "tile": 64,
        "overlap": 16,
    }
    options = {"repeats": 1, "images": 1, "size": 64, "batch_size": 1}
    return BenchReport("d", options, 1, machine, [], [], info, [], [], codec, codec_info)


def test_codec_section_reports_entropy_speed_and_share() -> None:
    rows = [Timing(label, "d", 0.004, 1, [Sample(0.5, 0.5)]) for label in ("compress", "x")]
    info = {
        "codec": "aec",
        "codec_fingerprint": "0" * 16,
        "codec_providers": ["CPUExecutionProvider"],
        "rate": 2,
        "rates": 5,
        "lambda": 0.013,
        "bits_per_pixel": 1.0,
        "latent_symbols": 1536,
        "entropy_target_mb_s": 50.0,
        "entropy_encode_mb_s": 61.25,
        "entropy_decode_mb_s": 40.0,
        "entropy_share_of_compress": 0.125,
        "entropy_share_of_decompress": None,
        "synthetic_throughput": {"symbols": 2e6, "encode_mb_s": 250.0, "decode_mb_s": 100.0},
    }
    report = _report(rows, info)
    text = report.markdown()
    assert "### Learned codec (1 synthetic 64x64 PNGs" in text
    assert (
        "entropy coding: 61.2 MB/s encode, 40.0 MB/s decode of int32 symbols "
        "(target >= 50 MB/s); 12% of compress time, - of decompress time"
    ) in text
    assert report.to_dict()["codec_info"]["rate"] == 2
    assert [t["label"] for t in report.to_dict()["codec"]] == ["compress", "x"]
    assert report.failures == []


def test_a_failed_or_skipped_codec_measurement() -> None:
    failed = _report([Timing("codec", "", 0.0, error="ModelError: no codec")], {})
    assert failed.failures == ["codec"]
    assert "FAILED: ModelError: no codec" in failed.markdown()
    assert "Learned codec" not in _report([], {}).markdown()


@pytest.mark.slow
def test_bench_codec_times_the_real_latents() -> None:
    timings, info = bench_codec(synthetic_pngs(1, 64), repeats=1, threads=1)
    labels = ["compress", "decompress", "entropy encode", "entropy decode"]
    assert [t.label for t in timings] == labels
    assert all(len(t.samples) == 1 and (t.mp_per_s or 0) > 0 for t in timings)
    assert info["latent_symbols"] > 0 and info["rate"] == info["rates"] // 2
    for direction in ("encode", "decode"):
        msym, mb = info[f"entropy_{direction}_msym_s"], info[f"entropy_{direction}_mb_s"]
        assert mb == pytest.approx(4 * msym) and mb > 0
    assert info["entropy_share_of_compress"] > 0 and info["entropy_share_of_decompress"] > 0
    assert "MB/s of int32 symbols" in timings[2].note


def test_weed_release_reads_the_version_line() -> None:
    assert weed_release("version 8000GB 4.48 pypi linux amd64\n") == "4.48"
    assert weed_release("weed dev build\nmore") == "weed dev build"
    assert weed_release("") == "(unknown version)"


def test_parse_cpu_model() -> None:
    text = "processor\t: 0\nvendor_id\t: GenuineIntel\nmodel name\t: Intel(R) Xeon(R) X\n"
    assert parse_cpu_model(text) == "Intel(R) Xeon(R) X"
    assert parse_cpu_model("processor\t: 0\nHardware\t: BCM2835\n") is None


@pytest.mark.parametrize(
    "options",
    [
        {"repeats": 0},
        {"images": 0},
        {"threads": -1},
        {"tile": 0},
        {"batch_size": 0},
        {"image_mp": -1},
    ],
)
def test_bench_options_refuse_nonsense(options: dict[str, Any]) -> None:
    with pytest.raises(BenchError):
        BenchOptions(**options)


def test_tiling_defaults_to_the_card_and_refuses_tiles_the_overlap_fills() -> None:
    card = ModelCard(name="m", task="denoise", tile=128, tile_overlap=16)
    assert _tiling(BenchOptions(), card) == (128, 16)
    assert _tiling(BenchOptions(tile=64), card) == (64, 16)
    with pytest.raises(BenchError, match="overlap"):
        _tiling(BenchOptions(tile=32), card)


def test_a_failed_measurement_becomes_a_row_not_a_lost_report() -> None:
    def broken() -> Timing:
        raise AttributeError("'RestoreTask' object has no attribute 'x'\nmore detail")

    logged: list[str] = []
    timing = _attempt("flow e2e", broken, logged.append)
    assert timing.error == "AttributeError: 'RestoreTask' object has no attribute 'x'"
    assert timing.seconds is None
    assert logged[-1].startswith("flow e2e failed: AttributeError")


def test_environ_restores_every_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AEPIPE_BENCH_KEEP", "old")
    monkeypatch.setenv("AEPIPE_BENCH_GONE", "x")
    monkeypatch.delenv("AEPIPE_BENCH_NEW", raising=False)
    with environ(
        {"AEPIPE_BENCH_KEEP": "new", "AEPIPE_BENCH_NEW": "1"}, unset=["AEPIPE_BENCH_GONE"]
    ):
        assert os.environ["AEPIPE_BENCH_KEEP"] == "new"
        assert "AEPIPE_BENCH_GONE" not in os.environ
    assert os.environ["AEPIPE_BENCH_KEEP"] == "old"
    assert os.environ["AEPIPE_BENCH_GONE"] == "x"
    assert "AEPIPE_BENCH_NEW" not in os.environ


def test_model_inputs_follow_the_card() -> None:
    card = ModelCard(name="m", task="denoise", noise_level_input=True)
    feeds = model_inputs(card, batch=2, side=8)
    assert feeds["x"].shape == (2, 3, 8, 8) and feeds["x"].dtype == np.float32
    assert feeds["noise_level"].shape == (2, 1, 1, 1)
    assert "noise_level" not in model_inputs(ModelCard(name="m", task="denoise"), 1, 8)


def test_torch_measurement_is_skipped_without_torch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "torch", None)  # makes `import torch` fail
    path = find_model(None, "denoise").path
    run, note = torch_runner(path, ModelCard(name="m", task="denoise"), threads=1)
    assert run is None
    assert note == "torch eager skipped: torch is not installed"


def test_bench_imports_without_torch() -> None:
    code = "import sys; sys.modules['torch'] = None; import aepipe.tools.bench.suite, aepipe.cli"
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


@pytest.mark.train
def test_torch_measurement_is_skipped_for_an_unknown_architecture() -> None:
    path = find_model(None, "denoise").path
    card = ModelCard(name="m", task="denoise", architecture="no-such-net")
    run, note = torch_runner(path, card, threads=1)
    assert run is None
    assert "unknown model 'no-such-net'" in note


@pytest.mark.slow
def test_tiny_bench_runs_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "bench.json"
    argv = ["bench", "--skip-s3", "--images", "2", "--size", "40", "--tile", "40"]
    argv += ["--batch-size", "2", "--repeats", "1", "--threads", "1", "--json", str(out)]
    assert main(argv) == 0
    report = json.loads(out.read_text())
    rows = [(t["label"], t["detail"]) for t in report["model_inference"]]
    labels = ["onnxruntime CPU", "onnxruntime CPU, int8 copy", "torch eager"]  # side by side
    assert rows == [(label, shape) for shape in ("1x3x40x40", "2x3x40x40") for label in labels]
    assert [t["label"] for t in report["pipeline"]] == [
        "inference only",
        "decode + infer + encode",
        "local e2e",
        "PNG codec alone",
        "identity local e2e",
    ]
    assert all(t["images"] == 2 and len(t["samples"]) == 1 for t in report["pipeline"])
    assert report["pipeline"][2]["stages_seconds"].keys() == {
        "fetch",
        "decode",
        "infer",
        "encode",
        "upload",
    }
    assert [t["label"] for t in report["codec"]] == [
        "compress",
        "decompress",
        "entropy encode",
        "entropy decode",
    ]
    assert all(t["megapixels_per_second"] > 0 for t in report["codec"])
    assert report["codec_info"]["entropy_encode_mb_s"] > 0
    out = capsys.readouterr().out
    assert "| local e2e" in out
    assert re.search(r"identity local e2e at [\d.]+x the PNG codec alone figure", out)
    assert "### Learned codec" in out and "entropy coding: " in out


def test_large_image_memory_runs_each_task_in_a_fresh_process() -> None:
    figures = image_memory.measure(0.05, threads=1)  # a 224 x 224 "large" image
    assert [f["task"] for f in figures] == ["identity", "denoise"]
    for f in figures:
        assert f["side"] == 224 and f["image_mb"] == pytest.approx(0.1, abs=0.05)
        assert 0 < f["loaded_mb"] <= f["peak_mb"] and f["seconds"] > 0
    report = dataclasses.replace(_report([], {}), image_memory=figures)
    text = report.markdown()
    assert "### One large image: peak RSS (224x224 RGB, 0 MB decoded)" in text
    assert re.search(r"\| denoise +\| \d+ +\| \d+ +\| [\d.]+ +\| [\d.]+ +\|", text)
    assert report.to_dict()["image_memory"] == figures


@pytest.mark.integration
@pytest.mark.slow
@pytest.mark.timeout(300)
def test_startup_times_each_way_of_reaching_an_api(tmp_path) -> None:
    from aepipe.tools.bench.startup import startup

    rows = startup(tmp_path, repeats=1)
    assert [r.label for r in rows] == [
        "temporary API",
        "empty flow, temporary",
        "background server",
        "PREFECT_API_URL",
        "empty flow",
    ]
    assert all(r.seconds and r.seconds > 0 for r in rows)
    assert all(r.note.startswith("overhead ") for r in rows if "flow" not in r.label)
    assert not (tmp_path / "prefect-home" / "server.pid").exists()  # the server was stopped


@pytest.mark.integration
@pytest.mark.slow
@pytest.mark.timeout(600)
def test_peers_run_the_same_job_three_ways(tmp_path) -> None:
    from aepipe.tools.bench.models import default_model
    from aepipe.tools.bench.peers import WAYS, peers
    from aepipe.tools.bench.pipeline import synthetic_pngs

    _, _, model = default_model(1)
    rows = peers(synthetic_pngs(2, 64), model, 1, tmp_path)  # each way checks its 2 outputs
    assert [r.label for r in rows] == list(WAYS)
    assert all(not r.error and r.images == 2 and r.seconds for r in rows), rows
    assert all(r.note.startswith("peak RSS ") for r in rows)


def test_the_report_puts_aepipe_beside_its_peers_only_when_they_ran() -> None:
    report = _report([], {})
    assert "over its peers" not in report.markdown()
    seconds = {"aepipe run": 20.0, "Ray Data": 30.0, "naive loop": 10.0}
    report.pipeline = [Timing(way, "d", 1.0, 24, [Sample(s, s)]) for way, s in seconds.items()]
    assert "aepipe run over its peers (images/s, same job): 1.50x Ray Data, 0.50x naive loop" in (
        report.markdown()
    )
