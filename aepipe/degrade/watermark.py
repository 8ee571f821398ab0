"""Synthetic visible watermarks: the degradation the ``unwatermark`` models learn to undo.

A mark is text (words, © notices, URLs, handles, dates, made-up names) and/or a logo shape,
drawn in one colour with an optional contrasting outline, rotated, placed once or tiled over
the image, and alpha-blended at a random opacity. Training and evaluation use disjoint fonts
and logo shapes (``TRAIN_STYLE`` / ``HELDOUT_STYLE``), so evaluation measures removal of marks
the network never saw rather than memorised glyphs.

Numpy and Pillow only (evaluation runs it without torch). Every random choice is drawn from
the caller's ``numpy.random.Generator``: the same generator state gives the same mark.
"""

from __future__ import annotations

import importlib.util
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TypedDict, TypeVar

import numpy as np
from PIL import Image, ImageDraw, ImageFont

T = TypeVar("T")


def _matplotlib_font_dir() -> Path:
    """matplotlib's TrueType folder (DejaVu, STIX, Computer Modern), found without importing it."""
    spec = importlib.util.find_spec("matplotlib")
    if spec is None or spec.origin is None:
        raise ModuleNotFoundError("matplotlib (an aepipe dependency) ships the watermark fonts")
    return Path(spec.origin).parent / "mpl-data" / "fonts" / "ttf"


def _fonts(*names: str) -> tuple[str, ...]:
    folder = _matplotlib_font_dir()
    return tuple(str(folder / f"{name}.ttf") for name in names)


TRAIN_FONTS = _fonts(
    "DejaVuSans",
    "DejaVuSans-Bold",
    "DejaVuSans-Oblique",
    "DejaVuSans-BoldOblique",
    "DejaVuSerif",
    "DejaVuSerif-Bold",
    "DejaVuSerif-Italic",
    "DejaVuSerif-BoldItalic",
    "cmr10",
    "cmss10",
)
# Monospaced and Times-like faces: shapes the training fonts do not cover.
HELDOUT_FONTS = _fonts(
    "DejaVuSansMono",
    "DejaVuSansMono-Bold",
    "DejaVuSansMono-Oblique",
    "DejaVuSansMono-BoldOblique",
    "STIXGeneral",
    "STIXGeneralBol",
    "STIXGeneralItalic",
    "STIXGeneralBolIta",
    "cmtt10",
)

# --- logos: each draws white (255) on an "L" layer, centred at (cx, cy), radius r. -------------

LogoDrawer = Callable[[ImageDraw.ImageDraw, float, float, float, int], None]


class _Paint(TypedDict):
    fill: int | None
    outline: int | None
    width: int


def _paint(line: int) -> _Paint:
    """Filled when ``line`` is 0, else an outline ``line`` pixels wide."""
    if line:
        return {"fill": None, "outline": 255, "width": line}
    return {"fill": 255, "outline": None, "width": 1}


def _box(cx: float, cy: float, rx: float, ry: float) -> tuple[float, float, float, float]:
    return (cx - rx, cy - ry, cx + rx, cy + ry)


def _circle(draw: ImageDraw.ImageDraw, cx: float, cy: float, r: float, line: int) -> None:
    draw.ellipse(_box(cx, cy, r, r), **_paint(line))


def _ring(draw: ImageDraw.ImageDraw, cx: float, cy: float, r: float, line: int) -> None:
    """Two concentric outlines, like a seal (never filled)."""
    width = max(line, round(r / 6), 1)
    for radius in (r, 0.62 * r):
        draw.ellipse(_box(cx, cy, radius, radius), outline=255, width=width)


def _rounded_rect(draw: ImageDraw.ImageDraw, cx: float, cy: float, r: float, line: int) -> None:
    draw.rounded_rectangle(_box(cx, cy, r, 0.7 * r), radius=r / 3, **_paint(line))


def _triangle(draw: ImageDraw.ImageDraw, cx: float, cy: float, r: float, line: int) -> None:
    draw.regular_polygon((cx, cy, r), 3, **_paint(line))


def _hexagon(draw: ImageDraw.ImageDraw, cx: float, cy: float, r: float, line: int) -> None:
    draw.regular_polygon((cx, cy, r), 6, **_paint(line))


def _star(draw: ImageDraw.ImageDraw, cx: float, cy: float, r: float, line: int) -> None:
    """Five points: vertices alternate between radius r and 0.42 r."""
    radii = [r if k % 2 == 0 else 0.42 * r for k in range(10)]
    points = [
        (cx + rad * math.sin(k * math.pi / 5), cy - rad * math.cos(k * math.pi / 5))
        for k, rad in enumerate(radii)
    ]
    draw.polygon(points, **_paint(line))


def _cross(draw: ImageDraw.ImageDraw, cx: float, cy: float, r: float, line: int) -> None:
    """A plus sign with arms r/3 wide on either side of the centre line."""
    a = r / 3
    corners = [(-a, -r), (a, -r), (a, -a), (r, -a), (r, a), (a, a)]
    corners += [(-x, -y) for x, y in corners]
    draw.polygon([(cx + x, cy + y) for x, y in corners], **_paint(line))


LOGOS: dict[str, LogoDrawer] = {
    "circle": _circle,
    "ring": _ring,
    "rounded_rect": _rounded_rect,
    "triangle": _triangle,
    "star": _star,
    "cross": _cross,
    "hexagon": _hexagon,
}
TRAIN_LOGOS = ("circle", "ring", "rounded_rect", "triangle")
HELDOUT_LOGOS = ("star", "cross", "hexagon")
COLOURS = ("white", "black", "grey", "colour")


@dataclass(frozen=True)
class WatermarkStyle:
    """The distribution marks are drawn from; each range is sampled uniformly per image."""

    fonts: tuple[str, ...]  # TrueType files; one is picked per mark
    logos: tuple[str, ...] = TRAIN_LOGOS  # shapes (keys of LOGOS); one is picked per logo
    opacity: tuple[float, float] = (0.3, 0.8)  # alpha of fully covered pixels (edges: less)
    logo_probability: float = 0.3  # the mark has a logo (left of its text)
    logo_alone_probability: float = 0.3  # given a logo, the mark has no text (a bigger logo)
    tiled_probability: float = 0.3  # repeated on a staggered grid over the image, not once
    text_height: tuple[float, float] = (0.04, 0.12)  # font size / the image's shorter side
    rotate_probability: float = 0.5  # the mark is rotated (else horizontal)
    max_rotation: float = 45.0  # degrees; a rotated mark's angle is uniform in ±max_rotation
    outline_probability: float = 0.2  # text gets a contrasting outline drawn under it
    colours: tuple[str, ...] = COLOURS  # white, black, grey (random level), colour (random RGB)

    def __post_init__(self) -> None:
        unknown = (set(self.logos) - set(LOGOS)) | (set(self.colours) - set(COLOURS))
        if unknown or not self.fonts:
            raise ValueError(f"bad watermark style: unknown {sorted(unknown)} or no fonts")


TRAIN_STYLE = WatermarkStyle(fonts=TRAIN_FONTS, logos=TRAIN_LOGOS)
HELDOUT_STYLE = WatermarkStyle(fonts=HELDOUT_FONTS, logos=HELDOUT_LOGOS)

#: Debian's fonts-urw-base35 and fonts-liberation (scripts/install-test-system-deps.sh installs
#: them): families neither style above draws from, geometric, slab, old-style, script, narrow.
DEBIAN_FONT_DIRS = (
    Path("/usr/share/fonts/opentype/urw-base35"),
    Path("/usr/share/fonts/truetype/liberation"),
)
UNSEEN_FAMILIES = (
    "URWGothic", "URWBookman", "C059", "P052", "Z003", "LiberationSans-", "LiberationSansNarrow",
)  # fmt: skip


@cache
def unseen_style() -> WatermarkStyle:
    """Marks unlike anything training or HELDOUT_STYLE draws: other font families, opacity
    0.2-0.7, outlines on half of them. Issue 17's acceptance is measured on this style."""
    fonts = tuple(
        str(path)
        for folder in DEBIAN_FONT_DIRS
        if folder.is_dir()
        for path in sorted(folder.iterdir())
        if path.name.startswith(UNSEEN_FAMILIES)
    )
    if not fonts:
        raise FileNotFoundError(
            "the unseen watermark style needs Debian's fonts-urw-base35 and fonts-liberation "
            "(scripts/install-test-system-deps.sh installs them)"
        )
    return WatermarkStyle(
        fonts=fonts, logos=HELDOUT_LOGOS, opacity=(0.2, 0.7), outline_probability=0.5
    )


#: Debian font packages whose families only *training* draws from (issue 17's "wide"
#: synthesis); scripts/install-test-system-deps.sh installs them. Disjoint by family from
#: HELDOUT_FONTS and from the unseen style's URW and Liberation faces.
WIDE_FONT_DIRS = (
    Path("/usr/share/fonts/truetype/noto"),
    Path("/usr/share/fonts/truetype/lato"),
    Path("/usr/share/fonts/truetype/open-sans"),
    Path("/usr/share/fonts/truetype/freefont"),
    Path("/usr/share/fonts/truetype/crosextra"),
    Path("/usr/share/fonts/opentype/cantarell"),
    Path("/usr/share/fonts/opentype/comic-neue"),
    Path("/usr/share/fonts/opentype/linux-libertine"),
)
WIDE_FAMILIES = (
    "NotoSans-", "NotoSansDisplay-", "NotoSerif-", "NotoSerifDisplay-", "Lato-", "OpenSans-",
    "FreeSans", "FreeSerif", "FreeMono", "Carlito-", "Cantarell-", "ComicNeue-", "LinBiolinum",
    "LinLibertine",
)  # fmt: skip


@cache
def wide_train_style() -> WatermarkStyle:
    """What a mark segmenter trains on: TRAIN_FONTS plus 14 more families (sans, serif,
    display, mono, humanist, comic, hairline to black weights), opacities 0.15-0.8, outlines on
    a third of the marks, a logo alone on a fifth: with one in eleven the segmenter took dark
    filled shapes for shadows (docs/quality.md). Held-out fonts, logo shapes and the unseen
    style stay unseen."""
    fonts = TRAIN_FONTS + tuple(
        str(path)
        for folder in WIDE_FONT_DIRS
        if folder.is_dir()
        for path in sorted(folder.iterdir())
        if path.name.startswith(WIDE_FAMILIES)
    )
    if len(fonts) == len(TRAIN_FONTS):
        raise FileNotFoundError(
            "the wide watermark style needs Debian's font packages "
            "(scripts/install-test-system-deps.sh installs them)"
        )
    return WatermarkStyle(
        fonts=fonts,
        logos=TRAIN_LOGOS,
        opacity=(0.15, 0.8),
        outline_probability=0.35,
        logo_probability=0.45,
        logo_alone_probability=0.5,
    )


# --- text --------------------------------------------------------------------------------------

WORDS = (
    "photo", "studio", "sample", "preview", "proof", "draft", "copyright", "stock", "images",
    "design", "media", "pixel", "lens", "north", "light", "creative", "archive", "gallery",
    "visual", "press", "agency", "digital", "nature", "urban", "travel", "wild", "blue",
    "golden", "frame", "shot", "confidential", "licensed", "not for sale", "do not copy",
)  # fmt: skip
FIRST_NAMES = ("Anna", "Marco", "Lena", "Kofi", "Yuki", "Sofia", "Ravi", "Olga", "Diego", "Mei")
LAST_NAMES = ("Smith", "Rossi", "Novak", "Mensah", "Tanaka", "Garcia", "Patel", "Silva", "Chen")
DOMAINS = ("com", "net", "org", "io", "de", "co.uk", "photo", "studio")


def _pick(rng: np.random.Generator, options: Sequence[T]) -> T:
    return options[int(rng.integers(len(options)))]


def _words(rng: np.random.Generator) -> str:
    text = " ".join(_pick(rng, WORDS) for _ in range(int(rng.integers(1, 4))))
    return _pick(rng, (str.upper, str.title, str.lower))(text)


def _name(rng: np.random.Generator) -> str:
    return f"{_pick(rng, FIRST_NAMES)} {_pick(rng, LAST_NAMES)}"


def _copyright(rng: np.random.Generator) -> str:
    return f"© {rng.integers(1990, 2031)} {_name(rng)}"


def _url(rng: np.random.Generator) -> str:
    host = f"{_pick(rng, WORDS)}{_pick(rng, WORDS)}".replace(" ", "")
    return f"{_pick(rng, ('www.', 'https://', ''))}{host}.{_pick(rng, DOMAINS)}"


def _handle(rng: np.random.Generator) -> str:
    return f"@{_name(rng).lower().replace(' ', '.')}"


def _date(rng: np.random.Generator) -> str:
    year, month, day = rng.integers(1990, 2031), rng.integers(1, 13), rng.integers(1, 29)
    return _pick(rng, (f"{year}-{month:02d}-{day:02d}", f"{day:02d}.{month:02d}.{year}"))


def _made_up(rng: np.random.Generator) -> str:
    """Random letters, so the network cannot lean on a fixed vocabulary."""
    letters = rng.choice(list("abcdefghijklmnopqrstuvwxyz"), size=int(rng.integers(3, 11)))
    return "".join(letters).capitalize()


TEXT_MAKERS = (_words, _copyright, _url, _handle, _date, _made_up, _name)


def _printable(text: str, font_path: str) -> str:
    """Computer Modern fonts use TeX's encoding: their © slot holds a Φ, so spell it out."""
    return text.replace("©", "(c)") if Path(font_path).name.startswith("cm") else text


# --- drawing and placing one mark ---------------------------------------------------------------


@dataclass(frozen=True)
class _Content:
    text: str  # "" for a logo alone
    font: ImageFont.FreeTypeFont
    logo: str | None
    logo_side: int  # 0 without a logo
    logo_line: int  # 0: filled
    stroke: int  # outline width around the text, 0 for none


def _content(rng: np.random.Generator, style: WatermarkStyle, size: int) -> _Content:
    """Decide what the mark shows; ``size`` is the font size in pixels."""
    logo = _pick(rng, style.logos) if rng.random() < style.logo_probability else None
    alone = logo is not None and rng.random() < style.logo_alone_probability
    font_path = _pick(rng, style.fonts)
    text = "" if alone else _printable(_pick(rng, TEXT_MAKERS)(rng), font_path)
    logo_side = 0
    if logo is not None:
        logo_side = round(size * (rng.uniform(1.5, 3.0) if alone else 1.2))
    logo_line = 0 if rng.random() < 0.5 else max(1, logo_side // 10)
    stroke = max(1, size // 12) if text and rng.random() < style.outline_probability else 0
    return _Content(text, ImageFont.truetype(font_path, size), logo, logo_side, logo_line, stroke)


def _render(content: _Content) -> tuple[Image.Image, Image.Image | None]:
    """The mark at 0°: body coverage and the text outline's coverage (None), on one canvas."""
    left, top, right, bottom = 0.0, 0.0, 0.0, 0.0
    if content.text:
        left, top, right, bottom = content.font.getbbox(content.text, stroke_width=content.stroke)
    gap = int(content.font.size) // 3 if content.text and content.logo_side else 0
    margin = content.stroke + 2
    width = 2 * margin + content.logo_side + gap + math.ceil(right - left)
    height = 2 * margin + max(content.logo_side, math.ceil(bottom - top))
    body = Image.new("L", (width, height))
    draw = ImageDraw.Draw(body)
    if content.logo is not None:
        radius = content.logo_side / 2
        LOGOS[content.logo](draw, margin + radius, height / 2, radius, content.logo_line)
    origin = (margin + content.logo_side + gap - left, (height - bottom - top) / 2)
    draw.text(origin, content.text, font=content.font, fill=255)
    if not content.stroke:
        return body, None
    outline = Image.new("L", body.size)
    ImageDraw.Draw(outline).text(
        origin, content.text, font=content.font, fill=255, stroke_width=content.stroke
    )
    return body, outline


def _grid(anchor: int, stamp: int, step: int, length: int) -> range:
    """Starts ``anchor + k * step`` of the stamps that overlap ``[0, length)``."""
    return range(anchor - (anchor + stamp - 1) // step * step, length, step)


def _starts(
    rng: np.random.Generator, shape: tuple[int, int], stamp: tuple[int, int], tiled: bool
) -> list[tuple[int, int]]:
    """Top-left corners of the copies of a ``stamp``-sized mark.

    One copy is always centred on a random pixel of the image, so part of the mark is visible;
    a tiled mark repeats from there on a grid whose odd rows are shifted by half a step.
    """
    top = int(rng.integers(shape[0])) - stamp[0] // 2
    left = int(rng.integers(shape[1])) - stamp[1] // 2
    if not tiled:
        return [(top, left)]
    step_y = max(1, round(stamp[0] * rng.uniform(1.2, 2.5)))
    step_x = max(1, round(stamp[1] * rng.uniform(1.1, 2.0)))
    starts = []
    for y in _grid(top, stamp[0], step_y, shape[0]):
        shift = step_x // 2 if (y - top) // step_y % 2 else 0
        starts += [(y, x) for x in _grid(left + shift, stamp[1], step_x, shape[1])]
    return starts


def _composite(
    stamp: np.ndarray, starts: list[tuple[int, int]], shape: tuple[int, int]
) -> np.ndarray:
    """An image-sized coverage map with ``stamp`` at each start (clipped at the borders)."""
    canvas = np.zeros(shape, dtype=np.float32)
    height, width = stamp.shape
    for top, left in starts:
        y0, x0 = max(top, 0), max(left, 0)
        y1, x1 = min(top + height, shape[0]), min(left + width, shape[1])
        if y0 < y1 and x0 < x1:
            region = canvas[y0:y1, x0:x1]
            np.maximum(region, stamp[y0 - top : y1 - top, x0 - left : x1 - left], out=region)
    return canvas


def _colour(rng: np.random.Generator, name: str) -> np.ndarray:
    if name == "colour":
        return rng.uniform(0.0, 1.0, 3).astype(np.float32)
    level = {"white": 1.0, "black": 0.0}.get(name)
    return np.full(3, rng.uniform(0.25, 0.75) if level is None else level, dtype=np.float32)


def _coverage(layer: Image.Image, angle: float) -> np.ndarray:
    """``layer`` rotated by ``angle`` degrees (canvas grown to fit), as floats in [0, 1]."""
    rotated = layer.rotate(angle, Image.Resampling.BICUBIC, expand=True)
    return np.asarray(rotated, dtype=np.float32) / 255


def _stamps(
    rng: np.random.Generator, style: WatermarkStyle, size: int
) -> list[tuple[np.ndarray, np.ndarray]]:
    """The mark's layers, bottom first, rotated: (coverage in [0, 1], RGB colour) each."""
    body, outline = _render(_content(rng, style, size))
    colour = _colour(rng, _pick(rng, style.colours))
    layers = [(body, colour)]
    if outline is not None:  # under the body, in black or white, whichever contrasts
        layers.insert(0, (outline, np.full(3, float(colour.mean() < 0.5), dtype=np.float32)))
    angle = 0.0
    if rng.random() < style.rotate_probability:
        angle = rng.uniform(-style.max_rotation, style.max_rotation)
    return [(_coverage(layer, angle), rgb) for layer, rgb in layers]


def add_watermark(
    image: np.ndarray,
    rng: np.random.Generator,
    style: WatermarkStyle,
    reference_side: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Blend a random visible watermark into an H x W x 3 float image in [0, 1].

    Returns the watermarked float32 image in [0, 1] and the mark's H x W float32 alpha: the
    opacity of all its layers together, ``1 - prod(1 - alpha_layer)``, so that each pixel is
    ``(1 - alpha) * image + alpha * colour`` for some colour. Every pixel where alpha is 0 is
    exactly the input's (``alpha > 0`` is the mask inpainting needs). An H x W x 1
    (gray) image gets the mark's gray level. ``reference_side`` is the shorter side marks are
    sized for (default: the image's own): training on crops passes the size of the images they
    come from, so a crop shows part of a full-size mark, as evaluation on whole images will.
    """
    shape = (image.shape[0], image.shape[1])
    size = max(8, round((reference_side or min(shape)) * rng.uniform(*style.text_height)))
    stamps = _stamps(rng, style, size)
    opacity = rng.uniform(*style.opacity)
    tiled = rng.random() < style.tiled_probability
    starts = _starts(rng, shape, stamps[0][0].shape, tiled)
    out = np.array(image, dtype=np.float32)
    untouched = np.ones(shape, dtype=np.float32)  # prod(1 - alpha_layer) so far
    for stamp, rgb in stamps:
        colour = rgb.mean(keepdims=True) if out.shape[2] == 1 else rgb
        alpha = _composite(stamp, starts, shape) * opacity
        covered = alpha > 0
        a = alpha[covered][:, None]
        out[covered] = np.clip(out[covered] * (1 - a) + colour * a, 0.0, 1.0)
        untouched *= 1 - alpha
    return out, 1 - untouched
