"""Rate–distortion analysis: Bjøntegaard deltas, mean curves over a set, and RD plots.

BD-rate and BD-PSNR follow VCEG-M33 (Bjøntegaard 2001), the form codec papers quote: each
curve is fitted with a cubic polynomial (log rate as a function of PSNR, or the reverse), the
fits are integrated over the interval both curves cover, and the mean gap is reported. Curves
are sequences of (rate, quality) pairs: (bpp, PSNR dB) here. Numpy and matplotlib only.
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from statistics import fmean

import numpy as np

from aepipe.runtime.codec.anchors import RdPoint
from aepipe.storage.local import atomic_write

#: A cubic fit needs four points; with fewer the "fit" would interpolate noise.
MIN_POINTS = 4


def bd_rate(anchor: Sequence[tuple[float, float]], test: Sequence[tuple[float, float]]) -> float:
    """Mean rate difference of ``test`` against ``anchor`` at equal PSNR, in percent.

    Negative means the test codec needs fewer bits for the same quality.
    """
    log_rate_a, psnr_a = _curve(anchor)
    log_rate_t, psnr_t = _curve(test)
    return (math.exp(_mean_gap(psnr_a, log_rate_a, psnr_t, log_rate_t)) - 1) * 100


def bd_psnr(anchor: Sequence[tuple[float, float]], test: Sequence[tuple[float, float]]) -> float:
    """Mean PSNR difference of ``test`` against ``anchor`` at equal rate, in dB."""
    log_rate_a, psnr_a = _curve(anchor)
    log_rate_t, psnr_t = _curve(test)
    return _mean_gap(log_rate_a, psnr_a, log_rate_t, psnr_t)


def _curve(points: Sequence[tuple[float, float]]) -> tuple[np.ndarray, np.ndarray]:
    """(log rate, quality) of a curve, refusing what a cubic fit cannot use."""
    array = np.asarray(points, dtype=np.float64)
    if array.ndim != 2 or array.shape[1] != 2 or len(array) < MIN_POINTS:
        raise ValueError(f"a BD curve needs >= {MIN_POINTS} (rate, quality) pairs, got {points}")
    if not np.all(np.isfinite(array)) or np.any(array[:, 0] <= 0):
        raise ValueError(f"BD curves need finite values and positive rates, got {points}")
    return np.log(array[:, 0]), array[:, 1]


def _mean_gap(x_a: np.ndarray, y_a: np.ndarray, x_t: np.ndarray, y_t: np.ndarray) -> float:
    """Mean of cubic fit y_t(x) minus cubic fit y_a(x) over the x interval both curves span."""
    low, high = max(x_a.min(), x_t.min()), min(x_a.max(), x_t.max())
    if not low < high:
        raise ValueError("the two curves' ranges do not overlap: no Bjøntegaard delta exists")
    area_a = _integral(np.polyfit(x_a, y_a, 3), low, high)
    area_t = _integral(np.polyfit(x_t, y_t, 3), low, high)
    return float((area_t - area_a) / (high - low))


def _integral(coefficients: np.ndarray, low: float, high: float) -> float:
    antiderivative = np.polyint(coefficients)
    return float(np.polyval(antiderivative, high) - np.polyval(antiderivative, low))


def mean_curve(per_image: Sequence[Sequence[RdPoint]]) -> list[RdPoint]:
    """Point-by-point mean of per-image curves taken at the same settings.

    This is how Kodak curves are reported: mean bpp, mean PSNR (dB, not the PSNR of the mean
    MSE) and mean MS-SSIM. A quality survives only where all images share it.
    """
    lengths = {len(curve) for curve in per_image}
    if len(lengths) != 1:
        raise ValueError(f"need >= 1 curve, all of one length; got lengths {sorted(lengths)}")
    return [_mean_point(points) for points in zip(*per_image, strict=True)]


def _mean_point(points: Sequence[RdPoint]) -> RdPoint:
    codecs = {point.codec for point in points}
    if len(codecs) != 1:
        raise ValueError(f"cannot average points of different codecs {sorted(codecs)}")
    qualities = {point.quality for point in points}
    scores = [point.ms_ssim for point in points]
    return RdPoint(
        codec=codecs.pop(),
        quality=qualities.pop() if len(qualities) == 1 else None,
        bpp=fmean(point.bpp for point in points),
        psnr=fmean(point.psnr for point in points),
        ms_ssim=None if None in scores else fmean(s for s in scores if s is not None),
    )


def ms_ssim_db(value: float) -> float:
    """MS-SSIM as -10·log10(1 - MS-SSIM), the scale that spreads out the high end."""
    return math.inf if value >= 1 else -10 * math.log10(1 - value)


def plot_rd(curves: Mapping[str, Sequence[RdPoint]], path: Path | str, title: str) -> None:
    """PNG with bpp vs PSNR and bpp vs MS-SSIM (dB), one line per curve, written atomically.

    Uses its own Agg canvas, so matplotlib's global backend and pyplot state stay untouched.
    Points without MS-SSIM are left out of the second panel; MS-SSIM = 1 (lossless) is
    infinite in dB, which matplotlib leaves out too.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg  # ~0.3 s: only when plotting
    from matplotlib.figure import Figure

    figure = Figure(figsize=(11, 4.5), layout="constrained")
    FigureCanvasAgg(figure)
    psnr_axes, ssim_axes = figure.subplots(1, 2)
    for index, (name, points) in enumerate(curves.items()):
        style = {"color": f"C{index}", "marker": "o", "label": name}  # same colour in both
        psnr_axes.plot([p.bpp for p in points], [p.psnr for p in points], **style)
        scored = [(p.bpp, ms_ssim_db(p.ms_ssim)) for p in points if p.ms_ssim is not None]
        if scored:
            ssim_axes.plot(*zip(*scored, strict=True), **style)
    for axes, label in ((psnr_axes, "PSNR (dB)"), (ssim_axes, "MS-SSIM (dB)")):
        axes.set(xlabel="bits per pixel", ylabel=label)
        axes.grid(True, alpha=0.3)
    psnr_axes.legend()  # colours are shared, so one legend serves both panels
    figure.suptitle(title)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=120)
    atomic_write(Path(path), buffer.getvalue())
