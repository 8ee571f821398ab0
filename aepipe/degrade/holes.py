"""Free-form holes for inpainting: what a fill must learn to cover, with the true mask.

Brush strokes in the manner of DeepFill v2's free-form masks (Yu et al. 2019): a few
polylines of random vertices and widths with round joints, drawn until the hole covers
``min_area``-``max_area`` of the image. Numpy and Pillow only; every choice from the
caller's generator.
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image, ImageDraw


def free_form_hole(
    rng: np.random.Generator,
    height: int,
    width: int,
    *,
    min_area: float = 0.02,
    max_area: float = 0.25,
    widths: tuple[int, int] = (2, 16),
) -> np.ndarray:
    """H x W bool: strokes added until their area reaches a target drawn from [min_area,
    max_area) (the last stroke may overshoot it; at most 32 strokes)."""
    if not 0 <= min_area < max_area <= 1:
        raise ValueError(f"need 0 <= min_area < max_area <= 1, got {min_area}, {max_area}")
    layer = Image.new("L", (width, height), 0)
    draw = ImageDraw.Draw(layer)
    target = rng.uniform(min_area, max_area)
    side = min(height, width)
    hole = np.zeros((height, width), bool)
    for _ in range(32):
        stroke = int(rng.integers(widths[0], widths[1] + 1))
        points = [(float(rng.uniform(0, width)), float(rng.uniform(0, height)))]
        for _ in range(int(rng.integers(2, 7))):
            angle = rng.uniform(0, 2 * math.pi)
            length = rng.uniform(0.05, 0.35) * side
            x, y = points[-1]
            points.append((x + length * math.cos(angle), y + length * math.sin(angle)))
        draw.line(points, fill=255, width=stroke, joint="curve")
        for x, y in points:  # round caps
            draw.ellipse((x - stroke / 2, y - stroke / 2, x + stroke / 2, y + stroke / 2), 255)
        hole = np.asarray(layer) > 0
        if hole.mean() >= target:
            break
    return hole
