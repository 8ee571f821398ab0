"""Histograms of a run's measures for ``report.html``, drawn with matplotlib (Agg, no pyplot).

A measure is a numeric row field a task names as worth watching (PSNR, bpp, anomaly_score,
domain_score); where the task has a decision threshold for it, the line is drawn and the
count on each side is in the title.
"""

from __future__ import annotations

import io
from array import array
from collections.abc import Mapping, Sequence

import numpy as np


def histograms(
    values: Mapping[str, Sequence[float]], measures: Mapping[str, float | None]
) -> dict[str, bytes]:
    """One PNG per measure that has values; ``measures`` maps a field to its threshold."""
    return {
        name: histogram_png(values[name], name, threshold)
        for name, threshold in measures.items()
        if len(values.get(name, ())) > 0
    }


def histogram_png(values: Sequence[float], label: str, threshold: float | None) -> bytes:
    from matplotlib.backends.backend_agg import FigureCanvasAgg  # ~0.3 s: only when plotting
    from matplotlib.figure import Figure

    # Binned by numpy, drawn as stairs: matplotlib's own ``hist`` keeps several float copies
    # of the values (~250 MB for a run of a million images).
    data = np.frombuffer(values, dtype=np.float64) if isinstance(values, array) else values
    counts, edges = np.histogram(np.asarray(data, dtype=np.float64), bins=_bins(len(values)))
    figure = Figure(figsize=(5, 3), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots()
    axes.stairs(counts, edges, fill=True, color="#4a7bb7")
    title = f"{label}: {len(values)} images"
    if threshold is not None:
        above = int(np.count_nonzero(np.asarray(data) > threshold))
        axes.axvline(threshold, color="#c0392b", linestyle="--", label=f"threshold {threshold:.3g}")
        axes.legend(loc="upper right")
        title += f", {above} above the threshold"
    axes.set(title=title, xlabel=label, ylabel="images")
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=90)
    return buffer.getvalue()


def _bins(count: int) -> int:
    return min(40, max(5, count // 3))
