"""Classical anchors: each codec round-trips, rate grows with quality, bpp matching brackets."""

from itertools import pairwise

import numpy as np
import pytest

from aepipe.runtime.codec import anchors
from aepipe.runtime.codec.anchors import (
    ANCHORS,
    RdPoint,
    anchor_point,
    decode_anchor,
    encode_anchor,
    psnr_at_bpp,
    rd_curve,
)

SIGNATURES = {"jpeg": (0, b"\xff\xd8\xff"), "webp": (8, b"WEBP"), "avif": (4, b"ftypavif")}


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    """128 x 128 smooth colour ramps with texture: compresses like a photo, unlike noise."""
    ramp = np.linspace(0.0, 1.0, 128)
    y, x = np.meshgrid(ramp, ramp, indexing="ij")
    base = 20 + 200 * np.stack((x, y, (x + y) / 2), axis=-1)
    texture = 15 * np.sin(40 * x) * np.cos(25 * y)
    grain = np.random.default_rng(0).normal(0, 5, base.shape)
    return np.clip(base + texture[..., None] + grain, 0, 255).astype(np.uint8)


@pytest.mark.parametrize("codec", ANCHORS)
def test_each_codec_writes_its_format_and_decodes_to_the_same_shape(photo, codec):
    data = encode_anchor(photo, codec, 50)
    offset, signature = SIGNATURES[codec]
    assert data[offset : offset + len(signature)] == signature
    decoded = decode_anchor(data)
    assert decoded.shape == photo.shape and decoded.dtype == np.uint8


@pytest.mark.parametrize("codec", ANCHORS)
def test_rate_and_quality_grow_with_the_quality_setting(photo, codec):
    curve = rd_curve(photo, codec, [10, 50, 90])
    assert [p.quality for p in curve] == [10, 50, 90] and {p.codec for p in curve} == {codec}
    for worse, better in pairwise(curve):
        assert worse.bpp < better.bpp
        assert worse.psnr < better.psnr
        assert worse.ms_ssim is not None and better.ms_ssim is not None
        assert 0 < worse.ms_ssim < better.ms_ssim <= 1


def test_bpp_counts_every_byte_of_the_file(photo):
    point = anchor_point(photo, "webp", 75, with_ms_ssim=False)
    assert point.bpp == 8 * len(encode_anchor(photo, "webp", 75)) / (128 * 128)
    assert point.ms_ssim is None and 20 < point.psnr < 60


@pytest.mark.parametrize("codec", ANCHORS)
def test_psnr_at_bpp_interpolates_inside_the_final_bracket(photo, codec, monkeypatch):
    tried: list[RdPoint] = []

    def recording(*args, **kwargs):
        tried.append(anchor_point(*args, **kwargs))
        return tried[-1]

    monkeypatch.setattr(anchors, "anchor_point", recording)
    target = 1.0
    psnr = psnr_at_bpp(photo, codec, target)
    assert psnr is not None and len(tried) <= 8
    by_quality = {point.quality: point for point in tried}
    brackets = [
        (by_quality[q], by_quality[q + 1])
        for q in by_quality
        if q + 1 in by_quality and by_quality[q].bpp <= target <= by_quality[q + 1].bpp
    ]
    assert len(brackets) == 1
    below, above = brackets[0]
    assert below.psnr <= psnr <= above.psnr or above.psnr <= psnr <= below.psnr


@pytest.mark.parametrize("codec", ANCHORS)
@pytest.mark.parametrize("target", [0.01, 30.0])
def test_psnr_at_bpp_outside_the_reachable_rates_is_none(photo, codec, target):
    assert psnr_at_bpp(photo, codec, target) is None


@pytest.mark.parametrize(
    ("pixels", "codec", "quality"),
    [
        (np.zeros((8, 8, 3), np.uint8), "png", 50),
        (np.zeros((8, 8, 3), np.uint8), "jpeg", 101),
        (np.zeros((8, 8, 3), np.uint8), "webp", -1),
        (np.zeros((8, 8, 3), np.uint16), "jpeg", 50),
        (np.zeros((8, 8, 4), np.uint8), "avif", 50),
    ],
)
def test_unknown_codec_bad_quality_or_non_rgb8_pixels_are_refused(pixels, codec, quality):
    with pytest.raises(ValueError):
        encode_anchor(pixels, codec, quality)
