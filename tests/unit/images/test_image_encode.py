"""encode policy: output format, depth, alpha, ICC/EXIF carried, and exact lossless round trips."""

from __future__ import annotations

import io
from typing import Any

import imagefactory
import numpy as np
import pytest
from imagefactory import save
from PIL import Image, ImageCms

from aepipe.images import (
    DecodedImage,
    EncodeWarning,
    decode,
    encode,
    extension_for,
    output_format,
)

RNG = np.random.default_rng(99)


def rgb_image(width: int = 40, height: int = 30) -> Image.Image:
    return imagefactory.rgb_image(RNG, width, height)


def reencode(decoded: DecodedImage, **options: Any) -> bytes:
    return encode(decoded.pixels, decoded.info, alpha=decoded.alpha, **options)


def opened(data: bytes) -> Image.Image:
    return Image.open(io.BytesIO(data))


# 5. alpha passed back untouched


@pytest.mark.parametrize("planes", [2, 4])
def test_alpha_round_trips_bit_exact_through_png(planes: int) -> None:
    arr = RNG.integers(0, 256, (30, 40, planes), dtype=np.uint8)
    arr[..., -1][:5] = 0  # fully transparent rows keep their colour too
    decoded = decode(save(Image.fromarray(arr), "PNG"), "alpha")
    again = decode(reencode(decoded), "alpha")
    assert again.alpha is not None
    np.testing.assert_array_equal(again.alpha, arr[..., -1])
    np.testing.assert_array_equal(again.pixels, arr[..., :-1])


def test_palette_transparency_is_written_as_rgba() -> None:
    im = rgb_image().quantize(8)
    decoded = decode(save(im, "GIF", transparency=0), "anim.gif")
    out = reencode(decoded)
    assert opened(out).format == "PNG" and opened(out).mode == "RGBA"


def test_cmyk_output_is_rgb() -> None:
    decoded = decode(save(Image.new("CMYK", (20, 10), (0, 255, 255, 0)), "JPEG"), "cmyk")
    out = opened(reencode(decoded))
    assert (out.format, out.mode) == ("JPEG", "RGB")


# 6. 16-bit


@pytest.mark.parametrize("fmt", ["PNG", "TIFF"])
def test_16_bit_gray_is_written_as_16_bit(fmt: str) -> None:
    arr = RNG.integers(0, 65536, (30, 40), dtype=np.uint16)
    out = reencode(decode(save(Image.fromarray(arr), fmt), "deep"))
    assert opened(out).format == fmt
    assert opened(out).mode.startswith("I;16")
    np.testing.assert_array_equal(np.asarray(opened(out)).astype(np.uint16), arr)


def test_16_bit_to_jpeg_is_downconverted_with_a_warning() -> None:
    arr = np.full((30, 40), 65535 // 3, dtype=np.uint16)
    decoded = decode(save(Image.fromarray(arr), "PNG"), "deep")
    with pytest.warns(EncodeWarning, match="uint16 samples: written as uint8"):
        out = reencode(decoded, format="JPEG")
    assert opened(out).mode == "L"
    assert abs(int(np.asarray(opened(out)).mean()) - 85) <= 1


# 7. float TIFF


def test_float_tiff_is_written_as_float_tiff() -> None:
    arr = (RNG.standard_normal((30, 40)) * 3).astype(np.float32)
    out = reencode(decode(save(Image.fromarray(arr), "TIFF"), "float"))
    assert (opened(out).format, opened(out).mode) == ("TIFF", "F")
    np.testing.assert_array_equal(np.asarray(opened(out)), arr)


def test_float_to_png_becomes_clipped_16_bit_with_a_warning() -> None:
    arr = np.array([[-1.0, 0.0, 0.5, 1.0, 7.0]], dtype=np.float32)
    decoded = decode(save(Image.fromarray(arr), "TIFF"), "float")
    with pytest.warns(EncodeWarning, match="written as uint16"):
        out = reencode(decoded, format="PNG")
    np.testing.assert_array_equal(np.asarray(opened(out)), [[0, 0, 32768, 65535, 65535]])


# 8. ICC profile


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "TIFF", "WEBP"])
def test_icc_profile_is_carried(fmt: str) -> None:
    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    decoded = decode(save(rgb_image(), fmt, icc_profile=icc), "icc")
    assert decoded.info.icc_profile == icc
    assert opened(reencode(decoded)).info.get("icc_profile") == icc


# 4. EXIF carried with orientation 1


def test_encoded_output_is_upright_with_orientation_1() -> None:
    exif = Image.Exif()
    exif[0x0112] = 6
    decoded = decode(save(rgb_image(40, 20), "JPEG", exif=exif.tobytes()), "rotated")
    out = opened(reencode(decoded))
    assert out.size == (20, 40)
    assert out.getexif().get(0x0112, 1) == 1


# 10. output format


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("PNG", "PNG"),
        ("JPEG", "JPEG"),
        ("TIFF", "TIFF"),
        ("WEBP", "WEBP"),
        ("GIF", "PNG"),
        ("BMP", "PNG"),
    ],
)
def test_output_format_follows_input(source: str, expected: str) -> None:
    decoded = decode(save(rgb_image(), source), "in")
    assert output_format(decoded.info) == expected
    assert opened(reencode(decoded)).format == expected


def test_requested_format_wins() -> None:
    decoded = decode(save(rgb_image(), "PNG"), "in")
    assert opened(reencode(decoded, format="jpg")).format == "JPEG"
    assert output_format(decoded.info, "tif") == "TIFF"
    with pytest.raises(ValueError, match="cannot write 'GIF'"):
        reencode(decoded, format="GIF")


def test_jpeg_quality_is_used() -> None:
    decoded = decode(save(rgb_image(96, 96), "JPEG", quality=95), "in")
    assert len(reencode(decoded, jpeg_quality=30)) < len(reencode(decoded, jpeg_quality=95))


def test_alpha_is_dropped_with_a_warning_for_jpeg() -> None:
    arr = RNG.integers(0, 256, (30, 40, 4), dtype=np.uint8)
    decoded = decode(save(Image.fromarray(arr), "PNG"), "alpha")
    with pytest.warns(EncodeWarning, match="alpha dropped"):
        out = reencode(decoded, format="JPEG")
    assert opened(out).mode == "RGB"


@pytest.mark.parametrize(
    ("fmt", "ext"),
    [("PNG", ".png"), ("JPEG", ".jpg"), ("TIFF", ".tif"), ("WEBP", ".webp"), ("jpg", ".jpg")],
)
def test_extension_for(fmt: str, ext: str) -> None:
    assert extension_for(fmt) == ext


def test_extension_for_unknown_format() -> None:
    with pytest.raises(ValueError, match="no extension"):
        extension_for("XCF")


# encode input checks and other sizes


def test_larger_output_than_input_is_fine() -> None:
    arr = RNG.integers(0, 256, (30, 40, 4), dtype=np.uint8)
    decoded = decode(save(Image.fromarray(arr), "PNG"), "sr")
    assert decoded.alpha is not None
    big = np.ascontiguousarray(decoded.pixels.repeat(2, axis=0).repeat(2, axis=1))
    big_alpha = decoded.alpha.repeat(2, axis=0).repeat(2, axis=1)
    again = decode(encode(big, decoded.info, alpha=big_alpha), "sr")
    assert (again.info.width, again.info.height) == (80, 60)
    np.testing.assert_array_equal(again.alpha, big_alpha)


def test_wrong_dtype_shape_or_alpha_is_refused() -> None:
    decoded = decode(save(rgb_image(), "PNG"), "in")
    with pytest.raises(ValueError, match=r"expected info\.dtype uint8"):
        encode(decoded.pixels.astype(np.float32), decoded.info)
    with pytest.raises(ValueError, match="not H x W x 3"):
        encode(decoded.pixels[..., :1], decoded.info)
    with pytest.raises(ValueError, match="alpha"):
        encode(decoded.pixels, decoded.info, alpha=np.zeros((3, 3), np.uint8))


# 11. lossless round trips across dtypes


def lossless_sources() -> list[tuple[str, Image.Image]]:
    u8 = RNG.integers(0, 256, (30, 40, 4), dtype=np.uint8)
    return [
        ("PNG", Image.fromarray(u8[..., 0])),
        ("PNG", Image.fromarray(u8[..., :3])),
        ("PNG", Image.fromarray(u8)),
        ("PNG", Image.fromarray(RNG.integers(0, 65536, (30, 40), dtype=np.uint16))),
        ("TIFF", Image.fromarray(u8[..., :3])),
        ("TIFF", Image.fromarray(u8)),
        ("TIFF", Image.fromarray(RNG.integers(0, 65536, (30, 40), dtype=np.uint16))),
        ("TIFF", Image.fromarray(RNG.standard_normal((30, 40)).astype(np.float32))),
        ("BMP", Image.fromarray(u8[..., :3])),
    ]


@pytest.mark.parametrize(("fmt", "im"), lossless_sources())
def test_lossless_round_trip_is_exact(fmt: str, im: Image.Image) -> None:
    first = decode(save(im, fmt), "x")
    second = decode(reencode(first), "x")
    np.testing.assert_array_equal(second.pixels, first.pixels)
    assert second.pixels.dtype == first.pixels.dtype
    if first.alpha is not None:
        np.testing.assert_array_equal(second.alpha, first.alpha)
    same = ("dtype", "channels", "has_alpha", "width", "height", "icc_profile", "exif")
    for field in same:
        assert getattr(second.info, field) == getattr(first.info, field), field
