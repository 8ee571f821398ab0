"""A run releases its task before it writes the report: the ONNX sessions and their arenas
go, so the report's memory takes the place of the models' instead of adding to it."""

from __future__ import annotations

import gc
import weakref
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from imagefactory import save
from modelfactory import photo_like

from aepipe.runtime import flow
from aepipe.runtime.options import TaskOptions
from aepipe.runtime.tasks.build import build_task
from aepipe.runtime.tasks.names import TaskName

pytestmark = pytest.mark.integration


def test_the_report_is_written_after_the_models_are_released(
    prefect_harness, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source, dest = tmp_path / "in", tmp_path / "out"
    source.mkdir()
    rng = np.random.default_rng(0)
    for i in range(2):
        (source / f"{i}.png").write_bytes(save(photo_like(rng, 64, 80)))
    task = build_task(TaskOptions(task=TaskName.DENOISE, noise_level=10.0))
    alive = weakref.ref(task)
    del task
    while_reporting: list[bool] = []
    write_report = flow.write_report

    def watched(*args: Any, **kwargs: Any) -> dict[str, str]:
        gc.collect()
        while_reporting.append(alive() is not None)
        return write_report(*args, **kwargs)

    monkeypatch.setattr(flow, "write_report", watched)
    summary = flow.process_images(str(source), str(dest), task="denoise", noise_level=10.0)

    assert summary["counts"]["ok"] == 2
    assert while_reporting == [False]
