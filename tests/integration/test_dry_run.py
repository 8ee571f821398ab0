"""``--dry-run`` plans without writing and says what the run would cost on this worker."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from imagefactory import save
from modelfactory import photo_like

from aepipe.cli import main
from aepipe.runtime.flow import process_images
from aepipe.runtime.pipeline.estimate import SAMPLE_IMAGES

pytestmark = pytest.mark.integration


def test_dry_run_estimates_work_left_and_time(prefect_harness, tmp_path: Path, capsys) -> None:
    source, dest = tmp_path / "in", tmp_path / "out"
    source.mkdir()
    rng = np.random.default_rng(0)
    count = SAMPLE_IMAGES + 4  # more than the sample: megapixels extrapolated by bytes
    for i in range(count):
        (source / f"{i:02d}.png").write_bytes(save(photo_like(rng, 96, 128)))
    sizes = sum(p.stat().st_size for p in source.iterdir())
    process_images(str(source), str(dest), task="denoise", noise_level=10.0, limit=3)

    plan = process_images(str(source), str(dest), task="denoise", noise_level=10.0, dry_run=True)
    estimate = plan["estimate"]
    assert plan["counts"]["planned"] == count - 3 and plan["counts"]["skipped"] == 3
    assert estimate["keys_to_do"] == count - 3 and estimate["keys_done"] == 3
    done_sizes = sum((source / f"{i:02d}.png").stat().st_size for i in range(3))
    assert estimate["bytes_to_do"] == sizes - done_sizes
    assert estimate["megapixels_sampled"] == SAMPLE_IMAGES
    assert estimate["megapixels_to_do"] == pytest.approx((count - 3) * 96 * 128 / 1e6, rel=0.05)
    assert estimate["seconds_per_megapixel"] > 0
    assert estimate["estimated_seconds"] == pytest.approx(
        estimate["megapixels_to_do"] * estimate["seconds_per_megapixel"], abs=0.1
    )
    assert sorted(p.name for p in dest.glob("*.png")) == ["00.png", "01.png", "02.png"]

    assert main(["run", str(source), str(dest), "--task", "identity", "--dry-run"]) == 0
    assert '"estimate": {"keys_to_do": 12' in capsys.readouterr().out
