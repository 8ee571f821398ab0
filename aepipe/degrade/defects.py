"""Synthetic surface defects with their true masks: what an anomaly detector must find.

Seven kinds, each a local change a person would call a defect on an otherwise normal image:

    scratch   a thin dark or light stroke (a polyline, 1–3 px)
    blob      an opaque irregular spot (dirt, a hole in paint)
    stain     a translucent irregular tint with soft edges (liquid, rust)
    colour    a patch whose colours are rotated (discolouration)
    missing   a region of flat grey/black/white (a missing piece, a dead sensor area)
    blur      a locally blurred region (a smudge, a focus fault)
    texture   a patch of another texture pasted in (foreign material)

Sizes are drawn so a defect covers between ``min_area`` and ``max_area`` of the image (the
mask's area, measured, not its bounding box). Numpy and Pillow only, every random choice from
the caller's generator, so evaluation and tests can reproduce a defect from its seed.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from aepipe.images.filters import gaussian_blur

DEFECT_KINDS = ("scratch", "blob", "stain", "colour", "missing", "blur", "texture")
#: Mean per-pixel change (0–1 scale) under which a placement counts as invisible: a person
#: inspecting the image at 100 % would not see it, so it is not a defect to find.
VISIBLE_CHANGE = 0.08
PLACEMENTS = 8


@dataclass(frozen=True)
class Defect:
    image: np.ndarray  # H x W x C float32 in [0, 1], the defect applied
    mask: np.ndarray  # H x W bool: the pixels the defect changed
    kind: str


def add_defect(
    image: np.ndarray,
    rng: np.random.Generator,
    kind: str | None = None,
    *,
    min_area: float = 0.005,
    max_area: float = 0.02,
) -> Defect:
    """``image`` (H x W x C float in [0, 1]) with one defect of ``kind`` (random if None)."""
    if image.ndim != 3 or min(image.shape[:2]) < 16:
        raise ValueError(f"need an H x W x C image of at least 16 px a side, got {image.shape}")
    if not 0 < min_area <= max_area < 1:
        raise ValueError(f"need 0 < min_area <= max_area < 1, got {min_area}, {max_area}")
    kind = kind or str(rng.choice(DEFECT_KINDS))
    if kind not in _APPLY:
        raise ValueError(f"unknown defect {kind!r}; choose from {', '.join(DEFECT_KINDS)}")
    height, width = image.shape[:2]
    source = np.asarray(image, dtype=np.float32)
    best: tuple[float, np.ndarray, np.ndarray] | None = None
    for _ in range(PLACEMENTS):  # a blur on a flat area changes nothing: place it elsewhere
        target = rng.uniform(min_area, max_area) * height * width
        shape = _scratch_mask if kind == "scratch" else _blob_mask
        region = _capped(shape(height, width, target, rng), max_area * height * width)
        if not region.any():  # a degenerate draw: fall back to a small disc at the centre
            region = _disc(height, width, max(2.0, math.sqrt(target / math.pi)))
        changed = np.clip(_APPLY[kind](source, region, rng), 0, 1)
        visible = np.abs(changed - source).max(axis=2)
        change = float(visible[region].mean())
        if best is None or change > best[0]:
            best = (change, changed, visible)
        if change >= VISIBLE_CHANGE:
            break
    assert best is not None  # PLACEMENTS >= 1
    _, changed, visible = best  # no placement visible enough: the most visible one
    mask = visible > 1 / 255  # what really changed
    return Defect(changed.astype(np.float32), mask, kind)


def _blob_mask(height: int, width: int, area: float, rng: np.random.Generator) -> np.ndarray:
    """An irregular closed shape of about ``area`` pixels: a wobbly polygon around a centre."""
    radius = math.sqrt(area / math.pi)
    points = 12
    angles = np.sort(rng.uniform(0, 2 * math.pi, points))
    wobble = rng.uniform(0.6, 1.4, points)
    stretch = rng.uniform(0.5, 2.0)
    cx = rng.uniform(radius, width - radius) if width > 2 * radius else width / 2
    cy = rng.uniform(radius, height - radius) if height > 2 * radius else height / 2
    polygon = [
        (
            cx + radius * w * math.sqrt(stretch) * math.cos(a),
            cy + radius * w / math.sqrt(stretch) * math.sin(a),
        )
        for a, w in zip(angles, wobble, strict=True)
    ]
    layer = Image.new("L", (width, height), 0)
    ImageDraw.Draw(layer).polygon(polygon, fill=255)
    mask = np.asarray(layer) > 0
    return _scaled_to_area(mask, area)


def _scratch_mask(height: int, width: int, area: float, rng: np.random.Generator) -> np.ndarray:
    """A thin polyline whose length makes up ``area`` at its width."""
    line_width = int(rng.integers(1, 4))
    length = area / line_width
    x, y = rng.uniform(0.2, 0.8) * width, rng.uniform(0.2, 0.8) * height
    heading = rng.uniform(0, 2 * math.pi)
    points = [(x, y)]
    for _ in range(6):
        heading += rng.normal(0, 0.35)
        step = length / 6
        x = float(np.clip(x + step * math.cos(heading), 0, width - 1))
        y = float(np.clip(y + step * math.sin(heading), 0, height - 1))
        points.append((x, y))
    layer = Image.new("L", (width, height), 0)
    ImageDraw.Draw(layer).line(points, fill=255, width=line_width, joint="curve")
    return np.asarray(layer) > 0


def _scaled_to_area(mask: np.ndarray, area: float) -> np.ndarray:
    """Shrink an over-large shape (clipped polygons can only shrink) towards ``area`` pixels."""
    found = int(mask.sum())
    if found <= area * 1.25:
        return mask
    erode = Image.fromarray(mask.astype(np.uint8) * 255)
    while int((np.asarray(erode) > 0).sum()) > area * 1.25:
        erode = erode.filter(ImageFilter.MinFilter(3))
    shrunk = np.asarray(erode) > 0
    return shrunk if shrunk.any() else mask


def _capped(mask: np.ndarray, most: float) -> np.ndarray:
    """Erode ``mask`` until it covers at most ``most`` pixels: ``max_area`` is a promise."""
    while mask.sum() > most:
        layer = Image.fromarray(mask.astype(np.uint8) * 255).filter(ImageFilter.MinFilter(3))
        shrunk = np.asarray(layer) > 0
        if not shrunk.any():
            flat = np.flatnonzero(mask)[: int(most)]
            shrunk = np.zeros(mask.shape, bool)
            shrunk.flat[flat] = True
        mask = shrunk
    return mask


def _disc(height: int, width: int, radius: float) -> np.ndarray:
    yy, xx = np.mgrid[0:height, 0:width]
    return np.hypot(yy - height / 2, xx - width / 2) <= radius


def _soft(region: np.ndarray, radius: float) -> np.ndarray:
    """``region`` as a float alpha with blurred edges (H x W x 1)."""
    layer = Image.fromarray(region.astype(np.uint8) * 255).filter(ImageFilter.GaussianBlur(radius))
    return (np.asarray(layer, dtype=np.float32) / 255.0)[..., None]


def _random_colour(rng: np.random.Generator, channels: int) -> np.ndarray:
    return rng.uniform(0, 1, channels).astype(np.float32)


def _darker_or_lighter(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A colour that contrasts with the image's mean: dark on light images, light on dark."""
    level = 0.05 if image.mean() > 0.5 else 0.95
    return np.full(image.shape[2], level + rng.uniform(-0.05, 0.05), dtype=np.float32)


def _scratch(image: np.ndarray, region: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    out = image.copy()
    out[region] = _darker_or_lighter(image, rng)
    return out


def _blob(image: np.ndarray, region: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    out = image.copy()
    out[region] = _random_colour(rng, image.shape[2])
    return out


#: Stain tints: rust, coffee, ink, oil, mould.
STAIN_TINTS = (
    (0.55, 0.27, 0.07),
    (0.36, 0.2, 0.09),
    (0.1, 0.15, 0.45),
    (0.08, 0.08, 0.06),
    (0.3, 0.4, 0.15),
)


def _stain(image: np.ndarray, region: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A translucent tint (0.5–0.8 opaque) with soft edges, kept inside the region."""
    alpha = _soft(region, 1.5) * region[..., None] * rng.uniform(0.5, 0.8)
    tint = np.array(STAIN_TINTS[int(rng.integers(len(STAIN_TINTS)))], dtype=np.float32)
    return image * (1 - alpha) + tint[: image.shape[2]] * alpha


def _colour(image: np.ndarray, region: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Discolouration: the region's shading kept, its colour replaced by another hue (for gray
    images, its levels inverted)."""
    out = image.copy()
    pixels = image[region]
    if image.shape[2] < 3:
        out[region] = 1 - pixels
        return out
    shading = pixels.mean(axis=1, keepdims=True)
    hue = _random_colour(rng, image.shape[2])
    hue = hue / max(float(hue.mean()), 1e-3)  # same mean level: a change of colour, not light
    out[region] = np.clip(shading * hue, 0, 1)
    return out


def _missing(image: np.ndarray, region: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    out = image.copy()
    out[region] = float(rng.choice([0.0, 0.5, 1.0]))
    return out


def _blur(image: np.ndarray, region: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The region replaced by a strongly blurred copy of itself (σ 3–6 px)."""
    blurred = gaussian_blur(image, rng.uniform(3, 6))
    out = image.copy()
    out[region] = blurred[region]
    return out


def _texture(image: np.ndarray, region: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Stripes or noise of random colours at a random scale: material the image never shows."""
    height, width, channels = image.shape
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    if rng.random() < 0.5:
        angle, period = rng.uniform(0, math.pi), rng.uniform(3, 10)
        wave = 0.5 + 0.5 * np.sin(
            2 * math.pi * (xx * math.cos(angle) + yy * math.sin(angle)) / period
        )
    else:
        wave = rng.uniform(0, 1, (height, width)).astype(np.float32)
    low, high = _random_colour(rng, channels), _random_colour(rng, channels)
    texture = low + (high - low) * wave[..., None]
    out = image.copy()
    out[region] = texture[region]
    return out


_APPLY: dict[str, Callable[[np.ndarray, np.ndarray, np.random.Generator], np.ndarray]] = {
    "scratch": _scratch,
    "blob": _blob,
    "stain": _stain,
    "colour": _colour,
    "missing": _missing,
    "blur": _blur,
    "texture": _texture,
}
