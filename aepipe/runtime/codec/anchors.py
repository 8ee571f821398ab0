"""Classical codecs (JPEG, WebP, AVIF through Pillow) as rate–distortion anchors.

A learned codec only means something next to the classical ones at the same rate, so this
module encodes an image at a given quality, scores the result (bits per pixel, PSNR, MS-SSIM)
and finds the PSNR a codec reaches at an exact bpp. Settings are each codec's usual "good"
ones: JPEG with optimised Huffman tables and 4:2:0 chroma, WebP with its slowest, best method,
AVIF at libavif's default speed. Pillow only: no torch, no external binaries.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image

from aepipe.metrics.error import reconstruction_error
from aepipe.metrics.msssim import ms_ssim

ANCHORS = ("jpeg", "webp", "avif")

#: Pillow format name and fixed save options per codec; only ``quality`` varies.
_SAVE: dict[str, tuple[str, dict[str, Any]]] = {
    "jpeg": ("JPEG", {"optimize": True, "subsampling": "4:2:0"}),
    "webp": ("WEBP", {"method": 6}),
    "avif": ("AVIF", {"speed": 6}),
}
#: Quality settings that mean something: libjpeg maps 0 to 1, the others use 0–100.
QUALITY_RANGE = {"jpeg": (1, 100), "webp": (0, 100), "avif": (0, 100)}


@dataclass(frozen=True)
class RdPoint:
    """One rate–distortion point; ``quality`` is None for curves averaged over settings."""

    codec: str
    quality: int | None
    bpp: float
    psnr: float  # dB, RGB, peak 255
    ms_ssim: float | None  # None where it was not computed


def encode_anchor(pixels: np.ndarray, codec: str, quality: int) -> bytes:
    """Encode an H x W x 3 uint8 image with ``codec`` at ``quality``."""
    _check_rgb8(pixels)
    low, high = quality_range(codec)
    if not low <= quality <= high:
        raise ValueError(f"{codec} quality must be in {low}..{high}, got {quality}")
    fmt, options = _SAVE[codec]
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, fmt, quality=quality, **options)
    return out.getvalue()


def decode_anchor(data: bytes) -> np.ndarray:
    """Decode anchor bytes (any of the three formats) to H x W x 3 uint8."""
    with Image.open(io.BytesIO(data)) as image:
        return np.array(image.convert("RGB"))  # owned and writable, unlike asarray


def anchor_point(
    pixels: np.ndarray, codec: str, quality: int, *, with_ms_ssim: bool = True
) -> RdPoint:
    """Encode, decode and score one setting (MS-SSIM is optional: it costs more than a JPEG)."""
    data = encode_anchor(pixels, codec, quality)
    decoded = decode_anchor(data)
    height, width = pixels.shape[:2]
    return RdPoint(
        codec=codec,
        quality=quality,
        bpp=8 * len(data) / (height * width),
        psnr=reconstruction_error(pixels, decoded)[1],
        ms_ssim=ms_ssim(pixels, decoded) if with_ms_ssim else None,
    )


def rd_curve(pixels: np.ndarray, codec: str, qualities: Sequence[int]) -> list[RdPoint]:
    """One point per quality setting, in the order given."""
    return [anchor_point(pixels, codec, quality) for quality in qualities]


def psnr_at_bpp(pixels: np.ndarray, codec: str, target_bpp: float) -> float | None:
    """PSNR ``codec`` reaches on this image at exactly ``target_bpp``, else None.

    Bisection over the integer quality keeps a bracket of adjacent settings with
    bpp(low) <= target < bpp(high), however bpp wiggles with quality; PSNR is then
    interpolated linearly in bpp between them. About seven encodes, plus one for an end of
    the quality range when the bracket reaches it. A target below the lowest quality's bpp
    or above the highest's gives None in both cases: nothing is extrapolated or capped.
    """
    points: dict[int, RdPoint] = {}  # this call's encodes, so no setting is encoded twice

    def at(quality: int) -> RdPoint:
        if quality not in points:
            points[quality] = anchor_point(pixels, codec, quality, with_ms_ssim=False)
        return points[quality]

    low, high = quality_range(codec)
    while high - low > 1:  # the ends are only encoded if the bracket ends up touching them
        middle = (low + high) // 2
        if at(middle).bpp <= target_bpp:
            low = middle
        else:
            high = middle
    below, above = at(low), at(high)
    if not below.bpp <= target_bpp <= above.bpp:
        return None
    return float(np.interp(target_bpp, [below.bpp, above.bpp], [below.psnr, above.psnr]))


def quality_range(codec: str) -> tuple[int, int]:
    """Lowest and highest quality setting of ``codec``; ValueError for an unknown codec."""
    if codec not in QUALITY_RANGE:
        raise ValueError(f"unknown anchor codec {codec!r}; expected one of {ANCHORS}")
    return QUALITY_RANGE[codec]


def _check_rgb8(pixels: np.ndarray) -> None:
    """The anchors compare 8-bit RGB, which is what every codec here takes natively."""
    if pixels.dtype != np.uint8 or pixels.ndim != 3 or pixels.shape[2] != 3:
        raise ValueError(f"anchors need H x W x 3 uint8 pixels, got {pixels.dtype} {pixels.shape}")
