"""The GPU check keeps working between the rare runs on a lent GPU: its dry run does every step
with the CPU provider standing in, and a silent CPU fallback is refused."""

from __future__ import annotations

import json
from pathlib import Path

import onnxruntime as ort
import pytest

from aepipe.runtime.model.providers import CPU, CUDA
from aepipe.runtime.model.zoo import find_model
from aepipe.runtime.tasks.names import TaskName
from aepipe.tools.bench.gpu import ProviderFallbackError, main, require_provider


def test_a_session_that_fell_back_to_the_cpu_is_refused() -> None:
    path = find_model(None, TaskName.DENOISE).path
    session = ort.InferenceSession(str(path), providers=[CPU])
    require_provider(session, CPU, "denoiser")
    with pytest.raises(ProviderFallbackError, match="CPUExecutionProvider"):
        require_provider(session, CUDA, "denoiser")


def test_the_dry_run_does_every_step_and_writes_its_report(tmp_path: Path) -> None:
    assert main([str(tmp_path), "--dry-run"]) == 0
    result = json.loads((tmp_path / "gpu-check.json").read_text())
    assert result["dry_run"] and result["environment"]["provider_under_test"] == CPU
    parity = {row["model"]: row for row in result["parity"]}
    assert "denoise-unet-s" in parity and "aec-lapped-s (decoder)" in parity
    assert not [row for row in parity.values() if "error" in row]
    for row in parity.values():
        if "skipped" in row:  # integer inputs only (a VQ-VAE's codes and prior)
            assert "int64" in row["skipped"]
            continue
        assert row["fp32_parity"] and row["fp32_max_abs_diff"] == 0.0  # the same provider
        assert row.get("fp16_vs_fp32_db", 99) > 40 or "fp16_same_outputs" in row
    assert abs(result["denoiser_fp16"]["delta_db"]) < 0.05
    engines = {(row["engine"], row["batch"]) for row in result["throughput"]}
    assert {("onnxruntime fp32", 2), ("onnxruntime fp16", 2), ("torch eager fp32", 2)} <= engines
    torch_rows = [row for row in result["throughput"] if row["engine"].startswith("torch")]
    assert all(row["max_abs_diff_vs_onnxruntime_fp32"] < 1e-3 for row in torch_rows)
    assert result["codec"]["identical_pixels"]
    calls = result["pipeline_calls"]
    assert sum(row["calls"] for row in calls["calls_by_shape"]) >= 1
    assert set(calls["commonest_shape_alone_ms"]) == {"numpy in and out", "IOBinding"}
    pipeline = result["pipeline"]
    assert pipeline["providers"][0] == CPU and pipeline["images"] == 2 and not pipeline["errors"]
    assert pipeline["stage_seconds"]["infer"] > 0
    assert (tmp_path / "gpu-check.md").read_text().startswith("# GPU check (dry run")
