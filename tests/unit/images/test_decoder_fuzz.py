"""The decoder against hostile bytes: random data and mutated PNG, JPEG, TIFF, WebP and GIF
(16-bit colour included, which takes the OpenCV path). Whatever comes in, ``decode`` returns
an image or raises a typed ImageError naming the key, within bounded time and memory; a
header that claims a huge canvas is refused before any pixel is decoded.
"""

from __future__ import annotations

import resource
import struct
import time
import zlib

import numpy as np
import pytest
from imagefactory import save
from PIL import Image

from aepipe.errors import ImageError, ImageTooLargeError
from aepipe.images import decode
from aepipe.images.deep import encode_deep

#: Pillow warns about the odd TIFF tags mutants carry; the test is about what it raises.
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning:PIL.*")
CASES_PER_SEED = 300
MAX_PIXELS = 4_000_000
#: Generous bounds, there to catch a hang or a runaway allocation, not to time the decoder.
MAX_SECONDS_PER_CASE = 5.0
MAX_RSS_GROWTH_MB = 600


def seeds() -> dict[str, bytes]:
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (48, 40, 3), dtype=np.uint8)
    deep = rng.integers(0, 65536, (24, 20, 3), dtype=np.uint16)
    return {
        "png": save(rgb, "PNG"),
        "png-palette": save(Image.fromarray(rgb).convert("P"), "PNG"),
        "png-48bit": encode_deep(deep, None, "PNG", None),
        "jpeg": save(rgb, "JPEG", quality=80),
        "jpeg-progressive": save(rgb, "JPEG", progressive=True),
        "tiff": save(rgb, "TIFF", compression="tiff_lzw"),
        "tiff-48bit": encode_deep(deep, None, "TIFF", None),
        "webp": save(rgb, "WEBP", quality=70),
        "gif": save(Image.fromarray(rgb).convert("P"), "GIF"),
    }


def mutate(data: bytes, rng: np.random.Generator) -> bytes:
    """One of the damages a file meets: flipped bytes, a cut, an insertion, a spliced block."""
    buf = bytearray(data)
    kind = rng.integers(4)
    if kind == 0:
        for at in rng.integers(0, len(buf), rng.integers(1, 12)):
            buf[at] = int(rng.integers(256))
    elif kind == 1:
        del buf[int(rng.integers(1, len(buf))) :]
    elif kind == 2:
        at = int(rng.integers(len(buf)))
        buf[at:at] = rng.integers(0, 256, int(rng.integers(1, 64)), dtype=np.uint8).tobytes()
    else:
        start, length = int(rng.integers(len(buf))), int(rng.integers(1, 256))
        buf[start : start + length] = buf[::-1][:length]
    return bytes(buf)


def decode_guarded(data: bytes, key: str) -> None:
    started = time.perf_counter()
    try:
        decoded = decode(data, key, max_pixels=MAX_PIXELS)
        assert decoded.pixels.size <= MAX_PIXELS * 4
    except ImageError as error:
        assert key in str(error)
    assert time.perf_counter() - started < MAX_SECONDS_PER_CASE, key


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@pytest.mark.parametrize("name", list(seeds()))
def test_mutated_files_decode_or_raise_typed_errors(name: str) -> None:
    seed, rng = seeds()[name], np.random.default_rng(sum(name.encode()))
    before = rss_mb()
    decode_guarded(seed, f"{name}/original")
    for case in range(CASES_PER_SEED):
        decode_guarded(mutate(seed, rng), f"{name}/mutant-{case}")
    assert rss_mb() - before < MAX_RSS_GROWTH_MB


def test_random_bytes_with_and_without_a_real_signature() -> None:
    rng = np.random.default_rng(1)
    signatures = [b"", b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"II*\x00", b"RIFF\0\0\0\0WEBP"]
    for case in range(300):
        body = rng.integers(0, 256, int(rng.integers(0, 4096)), dtype=np.uint8).tobytes()
        decode_guarded(signatures[case % len(signatures)] + body, f"random-{case}")


def with_png_size(png: bytes, width: int, height: int) -> bytes:
    """``png`` with its IHDR claiming another size (and a valid CRC): a decompression bomb's
    header, at no cost to build."""
    ihdr = bytearray(png[12:29])  # type + 13 bytes of data
    ihdr[4:12] = struct.pack(">II", width, height)
    crc = struct.pack(">I", zlib.crc32(bytes(ihdr)) & 0xFFFFFFFF)
    return png[:12] + bytes(ihdr) + crc + png[33:]


@pytest.mark.parametrize("name", ["png", "png-48bit"])
@pytest.mark.parametrize(
    ("side", "refusal"),
    [(10_000, "10000x10000 = 100000000 pixels exceeds the limit"), (50_000, "Pillow's")],
)
def test_a_huge_claimed_canvas_is_refused_before_decoding(
    name: str, side: int, refusal: str
) -> None:
    """Our --max-pixels limit, or past Pillow's hard limit (~179 MP) Pillow's own refusal."""
    bomb = with_png_size(seeds()[name], side, side)
    started = time.perf_counter()
    with pytest.raises(ImageTooLargeError, match=f"bomb.png: .*{refusal}"):
        decode(bomb, "bomb.png", max_pixels=MAX_PIXELS)
    assert time.perf_counter() - started < MAX_SECONDS_PER_CASE
