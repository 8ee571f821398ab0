"""``<stem>.anomaly.png``: the smoothed distance map in colour over a dimmed gray input.

The colour scale is anchored at the model's threshold, so the same colour means the same
thing in every heatmap of a run: dark below half the threshold, orange at the threshold,
pale yellow at twice the threshold and above.
"""

from __future__ import annotations

from functools import cache

import numpy as np

from aepipe.images import from_float, to_float

COLORMAP = "inferno"
#: Share of the colour layer in the blend; the rest is the gray input (so the defect's place
#: in the picture stays recognisable).
OVERLAY = 0.6


@cache
def _lookup_table() -> np.ndarray:
    from matplotlib import colormaps  # ~0.2 s, once per process

    return (colormaps[COLORMAP](np.linspace(0.0, 1.0, 256))[:, :3] * 255).astype(np.float32)


def heatmap(pixels: np.ndarray, distance: np.ndarray, threshold: float) -> np.ndarray:
    """H x W x 3 uint8: ``distance`` (H x W) coloured over the gray of ``pixels`` (native)."""
    scale = 2.0 * threshold if np.isfinite(threshold) and threshold > 0 else float(distance.max())
    level = np.clip(distance / max(scale, 1e-12), 0.0, 1.0)
    colour = _lookup_table()[np.rint(level * 255).astype(np.int32)]
    gray = to_float(pixels).mean(axis=2, keepdims=True) * 255.0
    blended = (1 - OVERLAY) * gray + OVERLAY * colour
    return from_float(blended / 255.0, "uint8")
