"""Images far from the photographs every shipped model was trained on, drawn from a seed.

The trust check (``domain_score``) must flag these while passing photos. Six kinds, each with
a spread of sizes, colours and layouts so that no single statistic gives them away:

    text        pages of text in several fonts, sizes and colours on white or tinted paper
    screenshot  windows with title bars, buttons, text fields, lists, icons and text
    line_art    strokes, curves and outlined shapes on a plain background
    noise       uniform, Gaussian, salt-and-pepper or coloured noise, at random scales
    flat        flat-colour shapes, gradients and bar charts
    scan        gray medical-like scans: a round field of view on black, smooth anatomy-like
                blobs, speckle noise

Pillow and numpy only; fonts come from matplotlib's bundled DejaVu and STIX families.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from aepipe.degrade.watermark import HELDOUT_FONTS, TRAIN_FONTS
from aepipe.images.filters import gaussian_blur

KINDS = ("text", "screenshot", "line_art", "noise", "flat", "scan")
FONTS = (*TRAIN_FONTS, *HELDOUT_FONTS)
WORDS = [
    "the",
    "quick",
    "brown",
    "fox",
    "jumps",
    "over",
    "a",
    "lazy",
    "dog",
    "while",
    "invoices",
    "report",
    "revenue",
    "totals",
    "for",
    "quarter",
    "four",
    "and",
    "the",
    "committee",
    "approved",
    "section",
    "twelve",
    "of",
    "the",
    "annual",
    "budget",
    "with",
    "notes",
]


Box = tuple[float, float, float, float]


def offdomain_image(
    kind: str, rng: np.random.Generator, size: tuple[int, int] | None = None
) -> np.ndarray:
    """H x W x 3 uint8 image of ``kind``; the size is drawn (256–768 px a side) unless given."""
    if kind not in _DRAW:
        raise ValueError(f"unknown kind {kind!r}; choose from {', '.join(KINDS)}")
    height, width = size or (int(rng.integers(256, 769)), int(rng.integers(256, 769)))
    return _DRAW[kind](height, width, rng)


def _colour(rng: np.random.Generator, low: int = 0, high: int = 256) -> tuple[int, int, int]:
    return tuple(int(v) for v in rng.integers(low, high, 3))  # type: ignore[return-value]


def _font(rng: np.random.Generator, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(FONTS[int(rng.integers(len(FONTS)))]), max(6, size))


def _sentence(rng: np.random.Generator, words: int) -> str:
    return " ".join(str(rng.choice(WORDS)) for _ in range(words))


def _text(height: int, width: int, rng: np.random.Generator) -> np.ndarray:
    paper = (255, 255, 255) if rng.random() < 0.6 else _colour(rng, 220, 256)
    page = Image.new("RGB", (width, height), paper)
    draw = ImageDraw.Draw(page)
    ink = (0, 0, 0) if rng.random() < 0.7 else _colour(rng, 0, 120)
    size = int(rng.integers(10, 28))
    font = _font(rng, size)
    y = int(rng.integers(4, 30))
    margin = int(rng.integers(4, 40))
    while y < height - size:
        if rng.random() < 0.1:
            draw.text((margin, y), _sentence(rng, 3).title(), fill=ink, font=_font(rng, size * 2))
            y += 2 * size + 6
        line = _sentence(rng, int(rng.integers(4, 14)))
        draw.text((margin, y), line, fill=ink, font=font)
        y += int(size * rng.uniform(1.2, 1.8))
    return np.asarray(page)


def _screenshot(height: int, width: int, rng: np.random.Generator) -> np.ndarray:
    desktop = Image.new("RGB", (width, height), _colour(rng, 180, 256))
    draw = ImageDraw.Draw(desktop)
    for _ in range(int(rng.integers(1, 4))):
        x0, y0 = int(rng.integers(0, width // 2)), int(rng.integers(0, height // 2))
        x1 = int(rng.integers(x0 + 120, width + 120))
        y1 = int(rng.integers(y0 + 100, height + 100))
        draw.rectangle((x0, y0, x1, y1), fill=_colour(rng, 225, 256), outline=(120, 120, 120))
        draw.rectangle((x0, y0, x1, y0 + 24), fill=_colour(rng, 40, 200))
        draw.text((x0 + 8, y0 + 5), _sentence(rng, 3), fill=(255, 255, 255), font=_font(rng, 13))
        for y in range(y0 + 36, y1 - 24, 30):
            _widget(draw, (x0 + 12, y, x1 - 12, y + 22), rng)
    return np.asarray(desktop)


def _widget(draw: ImageDraw.ImageDraw, box: Box, rng: np.random.Generator) -> None:
    """A button, a text field, an icon with a label, or a line of text, in ``box``."""
    left, top, _, bottom = box
    font, choice = _font(rng, 12), rng.random()
    if choice < 0.3:
        draw.rounded_rectangle((left, top, left + 100, bottom), 5, fill=_colour(rng, 60, 220))
        draw.text((left + 8, top + 4), _sentence(rng, 1), fill=(255, 255, 255), font=font)
    elif choice < 0.55:
        draw.rectangle(box, fill=(255, 255, 255), outline=(160, 160, 160))
        draw.text((left + 4, top + 4), _sentence(rng, 4), fill=(30, 30, 30), font=font)
    elif choice < 0.7:
        draw.ellipse((left, top, left + 22, bottom), fill=_colour(rng))
        draw.text((left + 30, top + 4), _sentence(rng, 5), fill=(20, 20, 20), font=font)
    else:
        draw.text((left, top + 4), _sentence(rng, 7), fill=(20, 20, 20), font=font)


def _line_art(height: int, width: int, rng: np.random.Generator) -> np.ndarray:
    background = (255, 255, 255) if rng.random() < 0.7 else _colour(rng, 200, 256)
    art = Image.new("RGB", (width, height), background)
    draw = ImageDraw.Draw(art)
    ink = (0, 0, 0) if rng.random() < 0.6 else _colour(rng, 0, 160)
    for _ in range(int(rng.integers(8, 40))):
        line = int(rng.integers(1, 5))
        shape = rng.random()
        points = [(float(rng.uniform(0, width)), float(rng.uniform(0, height))) for _ in range(4)]
        if shape < 0.4:
            draw.line(points, fill=ink, width=line, joint="curve")
        elif shape < 0.7:
            cx, cy, r = points[0][0], points[0][1], float(rng.uniform(10, min(width, height) / 3))
            draw.ellipse(
                (cx - r, cy - r, cx + r, cy + r * rng.uniform(0.5, 1.5)), outline=ink, width=line
            )
        else:
            draw.polygon(points, outline=ink, width=line)
    return np.asarray(art)


def _noise(height: int, width: int, rng: np.random.Generator) -> np.ndarray:
    kind = rng.random()
    shape = (height, width, 3) if rng.random() < 0.7 else (height, width, 1)
    if kind < 0.3:
        noise = rng.uniform(0, 1, shape)
    elif kind < 0.6:
        noise = np.clip(rng.normal(rng.uniform(0.3, 0.7), rng.uniform(0.1, 0.3), shape), 0, 1)
    elif kind < 0.8:
        noise = (rng.random(shape) < 0.5).astype(np.float64)
    else:  # blotchy coloured noise at a random scale
        noise = gaussian_blur(rng.uniform(0, 1, shape).astype(np.float32), rng.uniform(1, 4))
        noise = (noise - noise.min()) / max(float(np.ptp(noise)), 1e-6)
    return (np.broadcast_to(noise, (height, width, 3)) * 255).astype(np.uint8)


def _flat(height: int, width: int, rng: np.random.Generator) -> np.ndarray:
    canvas = Image.new("RGB", (width, height), _colour(rng))
    draw = ImageDraw.Draw(canvas)
    if rng.random() < 0.3:  # a bar chart
        bars = int(rng.integers(3, 12))
        step = width / (bars + 1)
        for i in range(bars):
            top = float(rng.uniform(0.1, 0.9) * height)
            draw.rectangle(
                (step * (i + 0.6), top, step * (i + 1.4), height - 10), fill=_colour(rng)
            )
        draw.line((10, height - 10, width - 10, height - 10), fill=(0, 0, 0), width=2)
    elif rng.random() < 0.5:  # a gradient with a few shapes on it
        yy, xx = np.mgrid[0:height, 0:width] / max(height, width)
        a, b = np.array(_colour(rng)), np.array(_colour(rng))
        t = xx * math.cos(rng.uniform(0, 6.3)) + yy * math.sin(rng.uniform(0, 6.3))
        t = (t - t.min()) / max(float(np.ptp(t)), 1e-6)
        canvas = Image.fromarray((a + (b - a) * t[..., None]).astype(np.uint8))
        draw = ImageDraw.Draw(canvas)
    for _ in range(int(rng.integers(2, 12))):
        x0, y0 = float(rng.uniform(0, width)), float(rng.uniform(0, height))
        x1, y1 = x0 + float(rng.uniform(20, width / 2)), y0 + float(rng.uniform(20, height / 2))
        if rng.random() < 0.5:
            draw.rectangle((x0, y0, x1, y1), fill=_colour(rng))
        else:
            draw.ellipse((x0, y0, x1, y1), fill=_colour(rng))
    return np.asarray(canvas)


def _scan(height: int, width: int, rng: np.random.Generator) -> np.ndarray:
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    cy, cx = height / 2, width / 2
    radius = min(height, width) * rng.uniform(0.38, 0.5)
    shapes = np.zeros((height, width), np.float32)
    for _ in range(int(rng.integers(4, 12))):  # overlapping soft ellipses: organs, bone, tissue
        oy, ox = rng.normal(cy, radius / 3), rng.normal(cx, radius / 3)
        ry, rx = rng.uniform(0.1, 0.5) * radius, rng.uniform(0.1, 0.5) * radius
        inside = ((yy - oy) / ry) ** 2 + ((xx - ox) / rx) ** 2 < 1
        shapes += inside * rng.uniform(0.15, 0.5)
    body = gaussian_blur(shapes, rng.uniform(2, 6)) + 0.15
    speckle = rng.gamma(rng.uniform(4, 20), 1.0, body.shape).astype(np.float32)
    speckle /= speckle.mean()
    scan = body * speckle * (np.hypot(yy - cy, xx - cx) < radius)
    gray = np.clip(scan / max(float(scan.max()), 1e-6) * rng.uniform(0.7, 1.0), 0, 1)
    return (np.repeat(gray[..., None], 3, axis=2) * 255).astype(np.uint8)


_DRAW: dict[str, Callable[[int, int, np.random.Generator], np.ndarray]] = {
    "text": _text,
    "screenshot": _screenshot,
    "line_art": _line_art,
    "noise": _noise,
    "flat": _flat,
    "scan": _scan,
}
