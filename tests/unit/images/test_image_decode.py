"""decode policy: sniffing, corruption, size guard, orientation, modes, depth, frames.

Every image is generated here with Pillow/numpy; there are no binary fixtures.
"""

from __future__ import annotations

import struct
import zlib

import imagefactory
import numpy as np
import pytest
from imagefactory import save
from PIL import Image, ImageFile

from aepipe.errors import CorruptImageError, ImageTooLargeError, UnsupportedImageError
from aepipe.images import READABLE_FORMATS, decode, sniff_format

RNG = np.random.default_rng(1234)


def rgb_image(width: int = 40, height: int = 30) -> Image.Image:
    return imagefactory.rgb_image(RNG, width, height)


def png_chunk(kind: bytes, payload: bytes) -> bytes:
    return (
        struct.pack(">I", len(payload))
        + kind
        + payload
        + struct.pack(">I", zlib.crc32(kind + payload))
    )


def raw_png(width: int, height: int, depth: int, colour_type: int, idat: bytes = b"") -> bytes:
    """A PNG written by hand, for headers Pillow will not write (huge, 48-bit)."""
    ihdr = struct.pack(">IIBBBBB", width, height, depth, colour_type, 0, 0, 0)
    chunks = png_chunk(b"IHDR", ihdr) + (png_chunk(b"IDAT", idat) if idat else b"")
    return b"\x89PNG\r\n\x1a\n" + chunks + png_chunk(b"IEND", b"")


# 1. content sniffing


@pytest.mark.parametrize(
    "data", [b"hello", b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj", b"", b"BM is not a bitmap header"]
)
def test_non_images_are_unsupported_and_name_the_key(data: bytes) -> None:
    with pytest.raises(UnsupportedImageError, match=r"^bucket/photo\.png: "):
        decode(data, "bucket/photo.png")


def test_extension_is_ignored() -> None:
    decoded = decode(save(rgb_image(), "PNG"), "misnamed.jpg")
    assert decoded.info.format == "PNG"


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "TIFF", "WEBP", "GIF", "BMP"])
def test_every_readable_format_is_sniffed(fmt: str) -> None:
    assert fmt in READABLE_FORMATS
    assert sniff_format(save(rgb_image(), fmt)) == fmt


# 2. truncated / corrupt


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "GIF", "TIFF", "WEBP"])
def test_truncated_images_are_corrupt(fmt: str) -> None:
    data = save(rgb_image(64, 64), fmt)
    with pytest.raises(CorruptImageError, match=r"^cut: "):
        decode(data[: len(data) // 2], "cut")
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False


def test_flipped_bytes_inside_idat_are_corrupt() -> None:
    data = bytearray(save(rgb_image(64, 64), "PNG", compress_level=0))
    idat = data.index(b"IDAT")
    data[idat + 100 : idat + 110] = bytes(b ^ 0x5A for b in data[idat + 100 : idat + 110])
    with pytest.raises(CorruptImageError, match="IDAT"):
        decode(bytes(data), "flipped")


def test_png_corruption_is_caught_even_if_someone_enables_truncated_loading(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)
    data = bytearray(save(rgb_image(64, 64), "PNG", compress_level=0))
    data[data.index(b"IDAT") + 50] ^= 0xFF
    with pytest.raises(CorruptImageError):
        decode(bytes(data), "flipped")


def test_signature_with_garbage_after_it_is_corrupt() -> None:
    with pytest.raises(CorruptImageError, match="looks like PNG"):
        decode(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, "garbage")


# 3. decompression bombs


@pytest.mark.filterwarnings("error::PIL.Image.DecompressionBombWarning")
def test_huge_header_is_refused_before_allocation() -> None:
    max_before = Image.MAX_IMAGE_PIXELS
    with pytest.raises(ImageTooLargeError, match=r"^bomb: "):
        decode(raw_png(100_000, 100_000, 8, 2), "bomb")
    assert max_before == Image.MAX_IMAGE_PIXELS


@pytest.mark.filterwarnings("error::PIL.Image.DecompressionBombWarning")
def test_header_between_pillow_limits_uses_our_limit_without_pillow_warning() -> None:
    data = raw_png(12_000, 10_000, 8, 0)  # 120 MP: Pillow would only warn
    with pytest.raises(ImageTooLargeError, match="120000000 pixels exceeds the limit of 100000000"):
        decode(data, "big", max_pixels=100_000_000)


def test_max_pixels_is_per_call() -> None:
    data = save(rgb_image(100, 100), "PNG")
    with pytest.raises(ImageTooLargeError, match="10000 pixels"):
        decode(data, "small", max_pixels=9_999)
    assert decode(data, "small", max_pixels=10_000).info.width == 100


# 4. EXIF orientation


def two_halves(width: int, height: int) -> Image.Image:
    """Left half red, right half blue: shows where the left edge went."""
    arr = np.zeros((height, width, 3), dtype=np.uint8)
    arr[:, : width // 2, 0] = 255
    arr[:, width // 2 :, 2] = 255
    return Image.fromarray(arr)


def exif_bytes(orientation: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    exif[0x010F] = "aepipe-test"  # Make: must survive the orientation reset
    return exif.tobytes()


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
def test_orientation_6_is_applied_and_reset(fmt: str) -> None:
    data = save(two_halves(40, 20), fmt, exif=exif_bytes(6))
    decoded = decode(data, "rotated")
    info = decoded.info
    assert (info.width, info.height) == (20, 40)
    assert decoded.pixels.shape == (40, 20, 3)
    top, bottom = decoded.pixels[:15].mean(axis=(0, 1)), decoded.pixels[25:].mean(axis=(0, 1))
    assert top[0] > 200 and top[2] < 50, "orientation 6 puts the left edge at the top"
    assert bottom[2] > 200 and bottom[0] < 50
    assert info.exif is not None
    exif = Image.Exif()
    exif.load(info.exif)
    assert exif[0x0112] == 1
    assert exif[0x010F] == "aepipe-test"


def test_tiff_orientation_tag_is_applied_without_carrying_tiff_tags_as_exif() -> None:
    arr = RNG.integers(0, 65536, (20, 40), dtype=np.uint16)
    data = save(Image.fromarray(arr), "TIFF", tiffinfo={0x0112: 8})
    decoded = decode(data, "rotated.tif")
    np.testing.assert_array_equal(decoded.pixels[..., 0], np.rot90(arr))
    assert decoded.info.exif is None


def test_exif_without_orientation_is_passed_through_untouched() -> None:
    exif = Image.Exif()
    exif[0x010F] = "aepipe-test"
    raw = exif.tobytes()
    decoded = decode(save(rgb_image(), "JPEG", exif=raw), "plain")
    assert decoded.info.exif == raw
    assert decode(save(rgb_image(), "PNG"), "none").info.exif is None


def test_unreadable_exif_is_dropped_with_a_warning() -> None:
    data = save(rgb_image(), "JPEG", exif=b"Exif\x00\x00garbage-not-tiff")
    decoded = decode(data, "bad-exif")
    assert decoded.info.exif is None
    assert any(w.startswith("unreadable EXIF dropped") for w in decoded.info.warnings)


# 5. modes


def test_gray_is_one_channel() -> None:
    arr = RNG.integers(0, 256, (30, 40), dtype=np.uint8)
    decoded = decode(save(Image.fromarray(arr), "PNG"), "gray")
    assert decoded.pixels.shape == (30, 40, 1)
    assert decoded.pixels.flags.c_contiguous and decoded.pixels.flags.writeable
    assert (decoded.info.mode, decoded.info.channels, decoded.info.dtype) == ("L", 1, "uint8")
    np.testing.assert_array_equal(decoded.pixels[..., 0], arr)


def test_rgb_is_three_channels() -> None:
    im = rgb_image()
    decoded = decode(save(im, "PNG"), "rgb")
    assert (decoded.info.channels, decoded.info.has_alpha, decoded.alpha) == (3, False, None)
    np.testing.assert_array_equal(decoded.pixels, np.asarray(im))


@pytest.mark.parametrize(("mode", "channels"), [("RGBA", 3), ("LA", 1)])
def test_alpha_is_split_off(mode: str, channels: int) -> None:
    arr = RNG.integers(0, 256, (30, 40, channels + 1), dtype=np.uint8)
    decoded = decode(save(Image.fromarray(arr), "PNG"), "alpha")
    assert decoded.info.mode == mode
    assert decoded.info.has_alpha
    assert decoded.alpha is not None and decoded.alpha.dtype == np.uint8
    np.testing.assert_array_equal(decoded.pixels, arr[..., :channels])
    np.testing.assert_array_equal(decoded.alpha, arr[..., channels])


def palette_image() -> Image.Image:
    return rgb_image().quantize(16)


def test_palette_without_transparency_is_rgb() -> None:
    im = palette_image()
    decoded = decode(save(im, "PNG"), "palette")
    assert (decoded.info.mode, decoded.info.channels, decoded.alpha) == ("P", 3, None)
    np.testing.assert_array_equal(decoded.pixels, np.asarray(im.convert("RGB")))


@pytest.mark.parametrize("fmt", ["PNG", "GIF"])
def test_palette_with_transparency_gets_alpha(fmt: str) -> None:
    im = palette_image()
    index = np.asarray(im)[0, 0]
    decoded = decode(save(im, fmt, transparency=int(index)), "transparent")
    assert decoded.info.has_alpha and decoded.alpha is not None
    np.testing.assert_array_equal(decoded.alpha == 0, np.asarray(im) == index)


@pytest.mark.parametrize("fmt", ["JPEG", "TIFF"])
def test_cmyk_becomes_rgb_with_a_warning(fmt: str) -> None:
    im = Image.new("CMYK", (20, 10), (0, 255, 255, 0))  # red
    decoded = decode(save(im, fmt), "cmyk")
    assert (decoded.info.mode, decoded.info.channels) == ("CMYK", 3)
    assert "CMYK converted to RGB" in decoded.info.warnings
    red = decoded.pixels.mean(axis=(0, 1))
    assert red[0] > 240 and red[1] < 15 and red[2] < 15


def test_one_bit_becomes_gray() -> None:
    bits = RNG.integers(0, 2, (30, 40)).astype(bool)
    decoded = decode(save(Image.fromarray(bits), "PNG"), "bits")
    assert (decoded.info.mode, decoded.info.channels, decoded.info.dtype) == ("1", 1, "uint8")
    np.testing.assert_array_equal(decoded.pixels[..., 0], bits * 255)


# 6. 16-bit


@pytest.mark.parametrize("fmt", ["PNG", "TIFF"])
def test_16_bit_gray_is_uint16(fmt: str) -> None:
    arr = RNG.integers(0, 65536, (30, 40), dtype=np.uint16)
    decoded = decode(save(Image.fromarray(arr), fmt), "deep")
    assert (decoded.info.dtype, decoded.info.channels) == ("uint16", 1)
    assert decoded.pixels.dtype == np.uint16
    np.testing.assert_array_equal(decoded.pixels[..., 0], arr)


def test_big_endian_16_bit_tiff_is_native_uint16() -> None:
    arr = RNG.integers(0, 65536, (30, 40), dtype=np.uint16)
    big_endian = Image.frombytes("I;16B", (40, 30), arr.astype(">u2").tobytes())
    decoded = decode(save(big_endian, "TIFF"), "be")
    assert decoded.info.mode == "I;16B"
    assert decoded.pixels.dtype == np.dtype("=u2")
    np.testing.assert_array_equal(decoded.pixels[..., 0], arr)


def test_48_bit_png_keeps_its_16_bits() -> None:
    """Pillow has no 16-bit colour mode (it would keep the high byte); OpenCV decodes these."""
    arr = RNG.integers(0, 65536, (6, 5, 3), dtype=np.uint16)
    rows = b"".join(b"\x00" + row.astype(">u2").tobytes() for row in arr)
    decoded = decode(raw_png(5, 6, 16, 2, zlib.compress(rows)), "deep-rgb")
    assert (decoded.info.dtype, decoded.info.channels) == ("uint16", 3)
    assert not any("16-bit samples" in w for w in decoded.info.warnings)
    np.testing.assert_array_equal(decoded.pixels, arr)


# 7. float TIFF


def test_float_tiff_is_float32_as_stored() -> None:
    arr = (RNG.standard_normal((30, 40)) * 3).astype(np.float32)
    decoded = decode(save(Image.fromarray(arr), "TIFF"), "float")
    assert (decoded.info.mode, decoded.info.dtype, decoded.info.channels) == ("F", "float32", 1)
    np.testing.assert_array_equal(decoded.pixels[..., 0], arr)


# 9. animated / multi-frame


def frames(n: int) -> list[Image.Image]:
    return [Image.new("RGB", (20, 10), (40 * i, 255 - 40 * i, 0)) for i in range(n)]


@pytest.mark.parametrize("fmt", ["GIF", "PNG", "WEBP"])
def test_animation_uses_the_first_frame_with_a_warning(fmt: str) -> None:
    first, *rest = frames(4)
    data = save(first, fmt, save_all=True, append_images=rest, lossless=True)
    decoded = decode(data, "anim")
    assert f"animated {fmt}: used frame 1 of 4" in decoded.info.warnings
    np.testing.assert_allclose(decoded.pixels.mean(axis=(0, 1)), [0, 255, 0], atol=2)


def test_multi_page_tiff_uses_the_first_page() -> None:
    first, *rest = frames(3)
    decoded = decode(save(first, "TIFF", save_all=True, append_images=rest), "pages")
    assert "multi-page TIFF: used frame 1 of 3" in decoded.info.warnings
    assert decoded.pixels[0, 0].tolist() == [0, 255, 0]


def test_single_frame_has_no_warnings() -> None:
    assert decode(save(rgb_image(), "PNG"), "still").info.warnings == ()


def test_multi_picture_jpeg_is_a_jpeg() -> None:
    first, *rest = frames(2)
    decoded = decode(save(first, "MPO", save_all=True, append_images=rest), "phone.jpg")
    assert decoded.info.format == "JPEG"
    assert "multi-picture MPO: used frame 1 of 2" in decoded.info.warnings
