"""``aepipe demo``, what ``make run`` runs: the bundled samples noised, denoised by the shipped
model through the real flow, and a printout that says where everything is."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from aepipe.cli import main

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_demo_denoises_the_samples_and_says_where_the_report_is(
    prefect_harness, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["demo", "--dest", str(tmp_path)]) == 0
    printed = capsys.readouterr().out
    assert "images: {'ok': 4, 'error': 0" in printed
    noisy, denoised = map(
        float, re.search(r"noisy ([\d.]+) dB -> denoised ([\d.]+) dB", printed).groups()
    )
    assert denoised > noisy + 8, printed  # σ=25 noise: about 20.5 dB -> 30 dB
    report = Path(re.search(r"report.html: (\S+)", printed).group(1))
    assert report.is_file() and report.is_relative_to(tmp_path)
    assert sorted(p.name for p in (tmp_path / "denoised").glob("*.png")) == [
        "kodim03.png",
        "kodim04.png",
        "kodim15.png",
        "kodim23.png",
    ]
