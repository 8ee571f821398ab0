"""Every shipped learned codec end to end: image -> .aec -> image, without torch.

Round trips for every image kind the pipeline reads, determinism (same bytes, same pixels),
the header's model checks, and a fuzz pass over real ``.aec`` files.
"""

from __future__ import annotations

import numpy as np
import pytest
from imagefactory import save

from aepipe.errors import BitstreamError
from aepipe.images import decode
from aepipe.metrics.error import reconstruction_error
from aepipe.runtime.codec.container import AecHeader, pack, unpack
from aepipe.runtime.codec.learned import load_codec

#: Every codec in the zoo: files written by an older default must stay decodable.
SHIPPED_codecS = ("aec-lapped-s", "aec-lapped-msssim-s", "aec-factorized-s")


@pytest.fixture(scope="module", params=SHIPPED_codecS)
def codec(request):
    return load_codec(request.param)


def test_the_default_codec_is_the_lapped_one():
    assert load_codec(None).name == "aec-lapped-s"


def smooth_photo(height: int, width: int, seed: int = 0) -> np.ndarray:
    """Gradients plus mild texture: content a codec should reproduce well."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width] / max(height, width)
    base = np.stack([np.sin(6 * x + 1), np.cos(5 * y), np.sin(4 * (x + y))], axis=2)
    pixels = 128 + 90 * base + rng.normal(0, 4, base.shape)
    return np.clip(pixels, 0, 255).astype(np.uint8)


def beats_flat_colour(image, out, margin_db: float = 5.0) -> bool:
    """The decoded image is far closer than the image's mean colour: content was coded."""
    flat = np.broadcast_to(image.pixels.mean(axis=(0, 1)), image.pixels.shape)
    flat_psnr = reconstruction_error(image.pixels, flat.round().astype(image.pixels.dtype))[1]
    return reconstruction_error(image.pixels, out.pixels)[1] > flat_psnr + margin_db


def round_trip(codec, pixels: np.ndarray, rate: int | None = None):
    image = decode(save(pixels), "in.png")
    data = codec.compress(image, len(codec.rates) - 1 if rate is None else rate)
    return image, data, codec.decompress(data, "in.aec")


def test_rgb_round_trip_keeps_size_and_quality(codec):
    image, data, out = round_trip(codec, smooth_photo(70, 90))
    assert out.pixels.shape == (70, 90, 3) and out.pixels.dtype == np.uint8
    assert beats_flat_colour(image, out)
    assert 8 * len(data) / (70 * 90) < 8  # smaller than raw pixels


def test_bytes_grow_and_error_falls_with_rate(codec):
    pixels = smooth_photo(64, 96, seed=1)
    sizes, errors = [], []
    for rate in range(len(codec.rates)):
        image, data, out = round_trip(codec, pixels, rate)
        sizes.append(len(data))
        errors.append(reconstruction_error(image.pixels, out.pixels)[0])
    assert sizes == sorted(sizes)
    assert errors[-1] < errors[0]


def test_encoding_and_decoding_are_deterministic(codec):
    image, data, out = round_trip(codec, smooth_photo(48, 48, seed=2))
    again = codec.compress(image, len(codec.rates) - 1)
    assert again == data
    assert np.array_equal(codec.decompress(again).pixels, out.pixels)


@pytest.mark.parametrize("shape", [(1, 1), (17, 33), (33, 1)])
def test_odd_and_tiny_sizes_round_trip(codec, shape):
    _, _, out = round_trip(codec, smooth_photo(*shape))
    assert out.pixels.shape == (*shape, 3)


def test_gray_stays_gray(codec):
    _, _, out = round_trip(codec, smooth_photo(40, 40)[..., 0])
    assert out.pixels.shape == (40, 40, 1) and out.info.mode == "L"


def test_sixteen_bit_gray_comes_back_sixteen_bit(codec):
    deep = smooth_photo(32, 32)[..., 0].astype(np.uint16) * 257
    image, _, out = round_trip(codec, deep)
    assert out.pixels.dtype == np.uint16
    assert beats_flat_colour(image, out)


def test_alpha_is_stored_losslessly(codec):
    rng = np.random.default_rng(3)
    rgba = np.dstack([smooth_photo(30, 40), rng.integers(0, 256, (30, 40), dtype=np.uint8)])
    image, _, out = round_trip(codec, rgba)
    assert image.alpha is not None and out.alpha is not None
    assert np.array_equal(out.alpha, image.alpha)
    assert out.info.mode == "RGBA"


def _with_header(data: bytes, **changes: object) -> bytes:
    header, streams = unpack(data)
    fields = {**vars(header), **changes}
    return pack(AecHeader(**fields), streams)  # a valid CRC: only the model check can refuse


def test_stream_from_another_model_is_refused_by_name(codec):
    _, data, _ = round_trip(codec, smooth_photo(32, 32))
    forged = _with_header(data, model_name="someone-elses-codec")
    with pytest.raises(BitstreamError, match="someone-elses-codec"):
        codec.decompress(forged, "forged.aec")


def test_stream_from_other_weights_is_refused_by_sha256(codec):
    _, data, _ = round_trip(codec, smooth_photo(32, 32))
    with pytest.raises(BitstreamError, match="0123456789abcdef"):
        codec.decompress(_with_header(data, model_sha256="0123456789abcdef"))


def test_forged_latent_shape_is_refused_before_decoding(codec):
    _, data, _ = round_trip(codec, smooth_photo(32, 32))
    header, _ = unpack(data)
    c, h, w = header.latent_shape
    with pytest.raises(BitstreamError, match="latent shape"):
        codec.decompress(_with_header(data, latent_shape=(c, h + 50, w)))


def test_unknown_rate_is_refused(codec):
    _, data, _ = round_trip(codec, smooth_photo(32, 32))
    with pytest.raises(BitstreamError, match="rate"):
        codec.decompress(_with_header(data, rate=len(codec.rates)))


def test_fuzzed_real_streams_always_fail_cleanly(codec):
    """Bit flips and truncations of real files: a BitstreamError every time, never garbage."""
    rng = np.random.default_rng(4)
    rgba = np.dstack([smooth_photo(40, 56), np.full((40, 56), 200, np.uint8)])
    _, data, _ = round_trip(codec, rgba)
    damaged = []
    for bit in rng.choice(len(data) * 8, size=200, replace=False):
        flipped = bytearray(data)
        flipped[bit // 8] ^= 1 << (bit % 8)
        damaged.append(bytes(flipped))
    damaged += [data[:cut] for cut in rng.choice(len(data), size=100, replace=False)]
    damaged += [data + b"\x00", b"", b"\x89AEC"]
    for sample in damaged:
        with pytest.raises(BitstreamError):
            codec.decompress(sample, "fuzz.aec")


def test_decompress_task_names_a_codec_that_is_not_installed(codec):
    from aepipe.errors import ModelError
    from aepipe.runtime.options import TaskOptions
    from aepipe.runtime.tasks.build import build_task

    _, data, _ = round_trip(codec, smooth_photo(32, 32))
    forged = _with_header(data, model_name="codec-from-elsewhere")
    with pytest.raises(ModelError, match="codec-from-elsewhere"):
        build_task(TaskOptions(task="decompress")).read(forged, "x.aec", 10**8)


def test_decompress_task_uses_the_codec_the_header_names(codec):
    from aepipe.runtime.options import TaskOptions
    from aepipe.runtime.tasks.build import build_task

    _, data, out = round_trip(codec, smooth_photo(32, 48))
    restored = build_task(TaskOptions(task="decompress")).read(data, "x.aec", 10**8)
    assert np.array_equal(restored.pixels, out.pixels)
