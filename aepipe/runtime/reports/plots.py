"""The report's plots: histograms of a run's measures as SVG written here, and the embedding
map drawn with matplotlib (Agg, no pyplot).

A measure is a numeric row field a task names as worth watching (PSNR, bpp, anomaly_score,
domain_score); where the task has a decision threshold for it, the line is drawn and the
count on each side is in the title. The histograms are a few rectangles and ticks: drawn with
matplotlib, importing it and rendering two PNGs took 0.90 s and 72 MB peak in a fresh process,
these SVGs 0.16 s and 38 MB (docs/benchmarks.md).
"""

from __future__ import annotations

import io
import math
from array import array
from collections.abc import Mapping, Sequence
from xml.sax.saxutils import escape

import numpy as np

WIDTH, HEIGHT = 450, 270
LEFT, RIGHT, TOP, BOTTOM = 52, 14, 30, 42  # margins around the plotting area
BAR, THRESHOLD = "#4a7bb7", "#c0392b"


def histograms(
    values: Mapping[str, Sequence[float]], measures: Mapping[str, float | None]
) -> dict[str, bytes]:
    """One SVG per measure that has values; ``measures`` maps a field to its threshold."""
    return {
        name: histogram_svg(values[name], name, threshold)
        for name, threshold in measures.items()
        if len(values.get(name, ())) > 0
    }


def histogram_svg(values: Sequence[float], label: str, threshold: float | None) -> bytes:
    """A histogram of ``values`` as an SVG document, the threshold as a dashed line."""
    # ``values`` may be an array of a million doubles: binned in place, never copied to a list.
    data = np.frombuffer(values, dtype=np.float64) if isinstance(values, array) else values
    data = np.asarray(data, dtype=np.float64)
    counts, edges = np.histogram(data, bins=_bins(len(data)))
    low, high = float(edges[0]), float(edges[-1])
    title = f"{label}: {len(data)} images"
    if threshold is not None:
        title += f", {int(np.count_nonzero(data > threshold))} above the threshold"
        low, high = min(low, threshold), max(high, threshold)
    pad = (high - low) * 0.03
    axis = _Axis(low - pad, high + pad, float(counts.max()) * 1.05)
    parts = [
        f'<text x="{WIDTH / 2}" y="18" text-anchor="middle" font-size="13">{escape(title)}</text>'
    ]
    for count, left, right in zip(counts, edges[:-1], edges[1:], strict=True):
        if count:
            x, top = axis.x(left), axis.y(count)
            parts.append(
                f'<rect x="{x:.1f}" y="{top:.1f}" width="{axis.x(right) - x:.1f}" '
                f'height="{axis.y(0) - top:.1f}" fill="{BAR}"/>'
            )
    parts += axis.frame(label)
    if threshold is not None:
        x = axis.x(threshold)
        parts.append(
            f'<line x1="{x:.1f}" y1="{TOP}" x2="{x:.1f}" y2="{HEIGHT - BOTTOM}" '
            f'stroke="{THRESHOLD}" stroke-width="1.5" stroke-dasharray="5,3"/>'
            f'<text x="{WIDTH - RIGHT - 4}" y="{TOP + 14}" text-anchor="end" font-size="11" '
            f'fill="{THRESHOLD}">threshold {threshold:.3g}</text>'
        )
    body = "".join(parts)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif">'
        f'<rect width="100%" height="100%" fill="white"/>{body}</svg>'
    ).encode()


class _Axis:
    """Data to pixel coordinates of the plotting area, and its frame with ticks."""

    def __init__(self, low: float, high: float, top: float) -> None:
        self.low, self.high = low, high if high > low else low + 1.0
        self.top = max(top, 1.0)

    def x(self, value: float) -> float:
        share = (value - self.low) / (self.high - self.low)
        return LEFT + share * (WIDTH - LEFT - RIGHT)

    def y(self, count: float) -> float:
        return HEIGHT - BOTTOM - count / self.top * (HEIGHT - TOP - BOTTOM)

    def frame(self, label: str) -> list[str]:
        bottom = HEIGHT - BOTTOM
        parts = [f'<path d="M{LEFT},{TOP} V{bottom} H{WIDTH - RIGHT}" fill="none" stroke="#333"/>']
        for tick in nice_ticks(self.low, self.high):
            x = self.x(tick)
            parts.append(
                f'<line x1="{x:.1f}" y1="{bottom}" x2="{x:.1f}" y2="{bottom + 4}" stroke="#333"/>'
                f'<text x="{x:.1f}" y="{bottom + 16}" text-anchor="middle" '
                f'font-size="10">{tick:g}</text>'
            )
        for tick in nice_ticks(0.0, self.top, integers=True):
            y = self.y(tick)
            parts.append(
                f'<line x1="{LEFT - 4}" y1="{y:.1f}" x2="{LEFT}" y2="{y:.1f}" stroke="#333"/>'
                f'<text x="{LEFT - 7}" y="{y + 3:.1f}" text-anchor="end" '
                f'font-size="10">{tick:g}</text>'
            )
        parts.append(
            f'<text x="{(LEFT + WIDTH - RIGHT) / 2}" y="{HEIGHT - 8}" text-anchor="middle" '
            f'font-size="11">{escape(label)}</text>'
            f'<text x="14" y="{(TOP + bottom) / 2}" text-anchor="middle" font-size="11" '
            f'transform="rotate(-90 14 {(TOP + bottom) / 2})">images</text>'
        )
        return parts


def nice_ticks(low: float, high: float, count: int = 5, integers: bool = False) -> list[float]:
    """About ``count`` round values (1, 2 or 5 times a power of ten apart) within [low, high]."""
    raw = (high - low) / count
    if raw <= 0:
        return [low]
    power = 10 ** math.floor(math.log10(raw))
    step = next(f * power for f in (1, 2, 5, 10) if f * power >= raw)
    if integers:
        step = max(1.0, round(step))
    first = math.ceil(low / step) * step
    return [round(first + i * step, 12) for i in range(int((high - first) / step + 1e-9) + 1)]


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
