"""Histograms of a run's measures for ``report.html``, drawn with matplotlib (Agg, no pyplot).

A measure is a numeric row field a task names as worth watching (PSNR, bpp, anomaly_score,
domain_score); where the task has a decision threshold for it, the line is drawn and the
count on each side is in the title.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence


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

    figure = Figure(figsize=(5, 3), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots()
    axes.hist(values, bins=min(40, max(5, len(values) // 3)), color="#4a7bb7")
    title = f"{label}: {len(values)} images"
    if threshold is not None:
        above = sum(v > threshold for v in values)
        axes.axvline(threshold, color="#c0392b", linestyle="--", label=f"threshold {threshold:.3g}")
        axes.legend(loc="upper right")
        title += f", {above} above the threshold"
    axes.set(title=title, xlabel=label, ylabel="images")
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=90)
    return buffer.getvalue()
