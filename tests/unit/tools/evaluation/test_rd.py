"""Bjøntegaard deltas on curves with known answers, mean curves, and the RD plot file."""

import math
import subprocess
import sys

import matplotlib
import numpy as np
import pytest
from PIL import Image

from aepipe.runtime.codec.anchors import RdPoint
from aepipe.tools.evaluation.rd import bd_psnr, bd_rate, mean_curve, ms_ssim_db, plot_rd

#: A JPEG-like curve: (bpp, PSNR dB), concave as real codecs are.
ANCHOR = [(0.25, 27.1), (0.5, 30.2), (1.0, 33.6), (2.0, 37.4), (4.0, 41.0)]


def _scaled(curve, rate_factor=1.0, psnr_offset=0.0):
    return [(rate * rate_factor, psnr + psnr_offset) for rate, psnr in curve]


def test_same_quality_for_80_percent_of_the_bits_is_minus_20_percent():
    assert bd_rate(ANCHOR, _scaled(ANCHOR, 0.8)) == pytest.approx(-20.0, abs=0.1)


def test_identical_curves_have_no_delta():
    assert bd_rate(ANCHOR, ANCHOR) == pytest.approx(0.0, abs=1e-9)
    assert bd_psnr(ANCHOR, ANCHOR) == pytest.approx(0.0, abs=1e-9)


def test_swapping_the_curves_inverts_the_rate_ratio_and_negates_the_psnr_gap():
    test = [(0.2, 27.0), (0.45, 30.6), (0.9, 33.9), (1.9, 38.0), (3.5, 40.6)]
    forward, backward = bd_rate(ANCHOR, test) / 100, bd_rate(test, ANCHOR) / 100
    assert backward == pytest.approx(1 / (1 + forward) - 1, rel=1e-9)
    assert bd_psnr(test, ANCHOR) == pytest.approx(-bd_psnr(ANCHOR, test), rel=1e-9)


def test_a_curve_one_db_better_everywhere_has_the_analytic_deltas():
    """log(rate) = PSNR / 10: one dB more at equal rate is exp(-0.1) of the rate at equal PSNR."""
    psnrs = [28.0, 31.0, 34.0, 37.0, 40.0]
    anchor = [(math.exp(p / 10), p) for p in psnrs]
    test = [(math.exp((p - 1) / 10), p) for p in psnrs]
    assert bd_psnr(anchor, test) == pytest.approx(1.0, abs=1e-9)
    assert bd_rate(anchor, test) == pytest.approx((math.exp(-0.1) - 1) * 100, abs=1e-9)


@pytest.mark.parametrize(
    "test",
    [
        ANCHOR[:3],  # three points: no cubic fit
        _scaled(ANCHOR, psnr_offset=20),  # PSNR ranges disjoint
        [(0.0, 27.0), *ANCHOR[1:]],  # zero rate has no logarithm
        [(0.25, math.nan), *ANCHOR[1:]],
    ],
)
def test_curves_a_cubic_fit_cannot_compare_are_refused(test):
    with pytest.raises(ValueError):
        bd_rate(ANCHOR, test)


def _point(quality, bpp, psnr, ms_ssim=None, codec="webp"):
    return RdPoint(codec=codec, quality=quality, bpp=bpp, psnr=psnr, ms_ssim=ms_ssim)


def test_mean_curve_averages_point_by_point():
    first = [_point(50, 0.5, 30.0, 0.95), _point(80, 1.0, 34.0, 0.98)]
    second = [_point(50, 0.7, 32.0, 0.97), _point(80, 1.4, 36.0, None)]
    mean = mean_curve([first, second])
    assert mean[0] == _point(50, 0.6, 31.0, pytest.approx(0.96))
    assert mean[1] == _point(80, pytest.approx(1.2), 35.0, None)  # one image lacks MS-SSIM


def test_mean_curve_drops_a_quality_the_images_do_not_share():
    (point,) = mean_curve([[_point(50, 0.5, 30.0)], [_point(60, 0.5, 30.0)]])
    assert point.quality is None


@pytest.mark.parametrize(
    "curves",
    [
        [],
        [[_point(50, 0.5, 30.0)], []],
        [[_point(50, 0.5, 30.0)], [_point(50, 0.5, 30.0, codec="jpeg")]],
    ],
)
def test_mean_curve_refuses_missing_ragged_or_mixed_curves(curves):
    with pytest.raises(ValueError):
        mean_curve(curves)


def test_ms_ssim_in_decibels():
    assert ms_ssim_db(0.9) == pytest.approx(10.0)
    assert ms_ssim_db(1.0) == math.inf


def test_plot_rd_writes_a_png_and_leaves_matplotlib_alone(tmp_path):
    backend = matplotlib.get_backend()
    curves = {
        "jpeg": [_point(q, q / 50, 25 + q / 10, 0.9 + q / 1000, "jpeg") for q in (20, 50, 80)],
        "aec": [_point(None, b, p) for b, p in ((0.3, 29.0), (0.7, 33.0))],  # no MS-SSIM
    }
    target = tmp_path / "plots" / "rd.png"
    plot_rd(curves, str(target), "Kodak: mean of 24 images")
    with Image.open(target) as image:
        assert image.format == "PNG" and image.width > 500
    assert [p.name for p in target.parent.iterdir()] == ["rd.png"]  # no temp file left
    assert matplotlib.get_backend() == backend


def test_rd_tools_import_without_torch():
    script = (
        "import sys; sys.modules['torch'] = None\n"  # any 'import torch' now fails
        "import aepipe.tools.evaluation.rd, aepipe.runtime.codec.anchors, aepipe.metrics.msssim\n"
        "assert not any(m.startswith(('scipy', 'skimage')) for m in sys.modules), 'heavy'\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-2000:]


def test_bd_rate_takes_arrays_and_returns_a_plain_float():
    assert isinstance(bd_rate(np.array(ANCHOR), _scaled(ANCHOR, 0.5)), float)
