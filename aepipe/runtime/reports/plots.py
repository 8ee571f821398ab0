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


#: Thumbnails drawn on the projection plot, at points spread over it.
PROJECTION_PICTURES = 24


def projection_png(
    points: np.ndarray, total: int, pictures: Mapping[int, np.ndarray] | None = None
) -> bytes:
    """A scatter plot of ``points`` (N x 2, :func:`principal_plane` of a run's vectors, or a
    sample of ``total``) with ``pictures`` (index -> H x W x 3 uint8) drawn at their points."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.offsetbox import AnnotationBbox, OffsetImage

    figure = Figure(figsize=(8, 6), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots()
    axes.scatter(points[:, 0], points[:, 1], s=6, color="#4a7bb7", alpha=0.6)
    for index, picture in (pictures or {}).items():
        box = AnnotationBbox(OffsetImage(picture, zoom=0.6), tuple(points[index]), pad=0.1)
        axes.add_artist(box)
    shown = f"{len(points)} of {total}" if len(points) < total else f"{total}"
    axes.set(
        title=f"embeddings: first two principal components ({shown} images)",
        xlabel="PC 1",
        ylabel="PC 2",
    )
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=90)
    return buffer.getvalue()


def principal_plane(vectors: np.ndarray) -> np.ndarray:
    """N x 2: the vectors projected on their two directions of largest variance."""
    centred = vectors.astype(np.float64) - vectors.mean(axis=0)
    if len(centred) < 2:
        return np.zeros((len(centred), 2))
    _, _, directions = np.linalg.svd(centred, full_matrices=False)
    plane = centred @ directions[:2].T
    return np.pad(plane, ((0, 0), (0, 2 - plane.shape[1])))


def spread_points(points: np.ndarray, count: int = PROJECTION_PICTURES) -> list[int]:
    """Indexes of ``count`` points spread over the plot (farthest-point sampling, from the
    point nearest the centre), so the thumbnails show the whole map, not one cluster."""
    if len(points) == 0:
        return []
    first = int(np.argmin(np.linalg.norm(points - points.mean(axis=0), axis=1)))
    chosen = [first]
    distance = np.linalg.norm(points - points[first], axis=1)
    while len(chosen) < min(count, len(points)):
        nxt = int(np.argmax(distance))
        if distance[nxt] == 0:
            break
        chosen.append(nxt)
        distance = np.minimum(distance, np.linalg.norm(points - points[nxt], axis=1))
    return chosen
