"""Per-image quality targets: the bisection picks the smallest file that meets a quality
target and the best file within a size budget, and says when no rate point can."""

from __future__ import annotations

import numpy as np
import pytest

from aepipe.images import DecodedImage
from aepipe.runtime.codec.targets import CodedFile, QualityTarget
from aepipe.runtime.options import OptionError, TaskOptions

#: An image's measures at five rate points, both rising with the rate.
PSNR = [27.0, 29.0, 31.0, 33.0, 35.0]
BPP = [0.2, 0.35, 0.55, 0.8, 1.1]


def coder(calls: list[int]):
    def code(rate: int) -> CodedFile:
        calls.append(rate)
        image = DecodedImage(np.zeros((1, 1, 3), np.uint8), None, None)  # type: ignore[arg-type]
        measures = {"psnr": PSNR[rate], "bpp": BPP[rate], "ms_ssim": 0.9 + rate / 100}
        return CodedFile(rate, b"x" * (rate + 1), image, measures)  # type: ignore[arg-type]

    return code


@pytest.mark.parametrize(
    ("measure", "value", "rate", "met"),
    [
        ("psnr", 30.0, 2, True),  # the lowest rate reaching 30 dB
        ("psnr", 29.0, 1, True),  # exactly reached counts
        ("psnr", 26.0, 0, True),
        ("psnr", 40.0, 4, False),  # unreachable: the best there is, marked missed
        ("bpp", 0.6, 2, True),  # the highest rate within 0.6 bpp
        ("bpp", 5.0, 4, True),
        ("bpp", 0.1, 0, False),  # no rate is small enough: the smallest, marked missed
        ("ms_ssim", 0.925, 3, True),
    ],
)
def test_search_picks_the_rate_the_target_asks_for(measure, value, rate, met) -> None:
    calls: list[int] = []
    chosen, achieved = QualityTarget(measure, value).search(len(PSNR), coder(calls))
    assert (chosen.rate, achieved) == (rate, met)
    assert len(set(calls)) <= 3  # bisection over 5 points, each point coded once


def test_targets_are_one_at_a_time_and_not_with_a_rate() -> None:
    assert TaskOptions(task="compress", target_psnr=32).quality_target() == QualityTarget(
        "psnr", 32
    )
    with pytest.raises(OptionError, match="one quality target"):
        TaskOptions(task="compress", target_psnr=32, target_bpp=0.5)
    with pytest.raises(OptionError, match="--rate"):
        TaskOptions(task="compress", target_ms_ssim=0.95, rate=1)
    with pytest.raises(OptionError, match="above 0"):
        TaskOptions(task="compress", target_bpp=0)
