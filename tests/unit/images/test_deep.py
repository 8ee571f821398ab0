"""16-bit colour PNG/TIFF keep their depth end to end (OpenCV codecs behind Pillow's header)."""

import io
from dataclasses import replace

import cv2
import numpy as np
import pytest
from imagefactory import save
from PIL import Image, ImageOps

from aepipe.images import decode, encode
from aepipe.images.deep import upright


def deep_rgb(height: int = 20, width: int = 30, alpha: bool = False) -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.integers(0, 65536, (height, width, 4 if alpha else 3), dtype=np.uint16)


def cv2_bytes(rgb: np.ndarray, extension: str) -> bytes:
    bgr = np.dstack([rgb[..., 2::-1], rgb[..., 3:]]) if rgb.shape[2] == 4 else rgb[..., ::-1]
    ok, data = cv2.imencode(extension, np.ascontiguousarray(bgr))
    assert ok
    return data.tobytes()


@pytest.mark.parametrize(("extension", "fmt"), [(".png", "PNG"), (".tif", "TIFF")])
@pytest.mark.parametrize("alpha", [False, True])
def test_sixteen_bit_colour_round_trips_exactly(extension, fmt, alpha):
    pixels = deep_rgb(alpha=alpha)
    image = decode(cv2_bytes(pixels, extension), f"deep{extension}")
    assert image.pixels.dtype == np.uint16 and image.info.format == fmt
    assert np.array_equal(image.pixels, pixels[..., :3])
    assert (image.alpha is not None) == alpha and not any("8-bit" in w for w in image.info.warnings)
    if alpha:
        assert np.array_equal(image.alpha, pixels[..., 3])
    again = decode(encode(image.pixels, image.info, alpha=image.alpha), f"again{extension}")
    assert np.array_equal(again.pixels, image.pixels) and again.pixels.dtype == np.uint16


def test_icc_profile_survives_a_sixteen_bit_png():
    from PIL import ImageCms

    profile = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    image = decode(cv2_bytes(deep_rgb(), ".png"), "deep.png")
    with_icc = encode(image.pixels, replace(image.info, icc_profile=profile), format="PNG")
    assert decode(with_icc, "icc.png").info.icc_profile == profile


@pytest.mark.parametrize("orientation", range(1, 9))
def test_upright_turns_like_pillow(orientation):
    """Against Pillow's own ImageOps.exif_transpose of a JPEG carrying the orientation tag."""
    pixels = np.random.default_rng(orientation).integers(0, 256, (5, 7, 3), dtype=np.uint8)
    exif = Image.Exif()
    exif[0x0112] = orientation
    tagged = Image.open(io.BytesIO(save(pixels, "PNG", exif=exif.tobytes())))
    expected = np.asarray(ImageOps.exif_transpose(tagged))
    assert np.array_equal(upright(pixels, orientation), expected)


def test_eight_bit_files_still_go_through_pillow():
    pixels = np.random.default_rng(1).integers(0, 256, (8, 9, 3), dtype=np.uint8)
    assert decode(save(pixels), "x.png").pixels.dtype == np.uint8
