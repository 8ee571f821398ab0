"""Tiling must be invisible: the tiled result equals the untiled one, at bounded memory."""

from __future__ import annotations

import math
import tracemalloc
from collections.abc import Callable

import numpy as np
import pytest

from aepipe.runtime.tiling import compute_padding, tile_apply

DTYPES = (np.uint8, np.uint16, np.float32)


def _image(shape: tuple[int, ...], dtype: type, seed: int = 0) -> np.ndarray:
    """Random pixels over the full range of ``dtype`` (float32 in [0, 1))."""
    rng = np.random.default_rng(seed)
    if dtype is np.float32:
        return rng.random(shape, dtype=np.float32)
    return rng.integers(0, np.iinfo(dtype).max, size=shape, dtype=dtype, endpoint=True)


def _identity(batch: np.ndarray) -> np.ndarray:
    assert batch.dtype == np.float32 and batch.ndim == 4
    return batch


class _Recorder:
    """A tile function that remembers the shape of every batch it was given."""

    def __init__(self, fn: Callable[[np.ndarray], np.ndarray] = _identity) -> None:
        self.fn = fn
        self.shapes: list[tuple[int, ...]] = []

    def __call__(self, batch: np.ndarray) -> np.ndarray:
        self.shapes.append(batch.shape)
        return self.fn(batch)


def _conv(batch: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """'Same' convolution with zero padding: NCHW x (out, in, k, k) -> NCHW."""
    radius = kernel.shape[-1] // 2
    height, width = batch.shape[2:]
    padded = np.pad(batch, ((0, 0), (0, 0), (radius, radius), (radius, radius)))
    out = np.zeros((batch.shape[0], kernel.shape[0], height, width), dtype=np.float32)
    for dy in range(kernel.shape[2]):
        for dx in range(kernel.shape[3]):
            window = padded[:, :, dy : dy + height, dx : dx + width]
            out += np.einsum("nchw,oc->nohw", window, kernel[:, :, dy, dx])
    return out


def _conv_model(seed: int = 1) -> tuple[Callable[[np.ndarray], np.ndarray], int]:
    """Two 3x3 conv layers with tanh in between: receptive radius 2, multi-channel."""
    rng = np.random.default_rng(seed)
    first = rng.normal(0, 0.3, (8, 3, 3, 3)).astype(np.float32)
    second = rng.normal(0, 0.3, (3, 8, 3, 3)).astype(np.float32)

    def model(batch: np.ndarray) -> np.ndarray:
        return np.tanh(_conv(np.tanh(_conv(batch, first)), second))

    return model, 2


# --- compute_padding ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("height", "width", "multiple", "expected"),
    [(37, 53, 8, (3, 3)), (16, 16, 8, (0, 0)), (1, 1, 8, (7, 7)), (5, 9, 1, (0, 0))],
)
def test_compute_padding(height: int, width: int, multiple: int, expected: tuple[int, int]) -> None:
    assert compute_padding(height, width, multiple) == expected


def test_compute_padding_rejects_bad_multiple() -> None:
    with pytest.raises(ValueError, match="multiple"):
        compute_padding(4, 4, 0)


# --- identity round-trips exactly ------------------------------------------------------------

SIZES = [(37, 53), (1, 1), (10000, 16), (16, 10000), (100, 90), (256, 256), (130, 129)]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("overlap", [0, 8, 16])
def test_identity_is_exact(dtype: type, size: tuple[int, int], overlap: int) -> None:
    image = _image((*size, 3), dtype)
    out = tile_apply(image, _identity, tile=64, overlap=overlap, multiple=8)
    assert out.dtype == image.dtype
    assert np.array_equal(out, image)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    ("tile", "overlap", "multiple", "channels"),
    [(0, 0, 1, 3), (0, 16, 8, 1), (256, 16, 1, 3), (3, 1, 1, 1), (5, 2, 4, 4), (64, 31, 16, 3)],
)
def test_identity_is_exact_for_other_settings(
    dtype: type, tile: int, overlap: int, multiple: int, channels: int
) -> None:
    image = _image((37, 53, channels), dtype)
    out = tile_apply(image, _identity, tile=tile, overlap=overlap, multiple=multiple)
    assert np.array_equal(out, image)


def test_float32_values_outside_unit_range_pass_through() -> None:
    image = _image((40, 50, 3), np.float32) * 4 - 2
    assert np.array_equal(tile_apply(image, _identity, tile=16, overlap=4), image)


# --- a real (convolutional) model: tiled equals untiled --------------------------------------


@pytest.mark.parametrize(
    ("tile", "overlap", "multiple"), [(32, 4, 1), (48, 8, 8), (64, 16, 1), (40, 5, 4)]
)
def test_conv_model_tiled_matches_untiled(tile: int, overlap: int, multiple: int) -> None:
    model, radius = _conv_model()
    image = _image((150, 203, 3), np.float32)
    whole = tile_apply(image, model, tile=0, multiple=multiple)
    tiled = tile_apply(image, model, tile=tile, overlap=overlap, multiple=multiple, batch_size=3)
    inner = (slice(radius, -radius), slice(radius, -radius))
    assert np.abs(tiled[inner] - whole[inner]).max() < 1e-3


def test_conv_model_without_overlap_shows_seams() -> None:
    """Guards the test above: without context the tile borders really do differ."""
    model, radius = _conv_model()
    image = _image((150, 203, 3), np.float32)
    whole = tile_apply(image, model, tile=0)
    tiled = tile_apply(image, model, tile=32, overlap=0)
    inner = (slice(radius, -radius), slice(radius, -radius))
    assert np.abs(tiled[inner] - whole[inner]).max() > 1e-2


def test_blend_is_feathered_without_seams_or_dark_borders() -> None:
    """Tiles that disagree by a constant meet through a smooth ramp, never a hard step."""
    rng = np.random.default_rng(3)

    def offset_per_tile(batch: np.ndarray) -> np.ndarray:
        offsets = rng.random(len(batch), dtype=np.float32)[:, None, None, None]
        return np.zeros_like(batch) + offsets

    out = tile_apply(_image((100, 120, 1), np.float32), offset_per_tile, tile=40, overlap=16)
    steps = max(np.abs(np.diff(out, axis=0)).max(), np.abs(np.diff(out, axis=1)).max())
    assert steps < 0.1  # a raised cosine over 16 pixels moves at most ~pi/34 per pixel
    assert out.min() >= 0 and out.max() <= 1
    assert np.all(out[[0, -1]] > 0) and np.all(out[:, [0, -1]] > 0)


# --- super-resolution and channel changes ----------------------------------------------------


def _nearest(scale: int) -> Callable[[np.ndarray], np.ndarray]:
    def upsample(batch: np.ndarray) -> np.ndarray:
        return np.repeat(np.repeat(batch, scale, axis=2), scale, axis=3)

    return upsample


@pytest.mark.parametrize("scale", [2, 4])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("size", [(37, 53), (1, 1), (70, 20)])
def test_scale_matches_nearest_neighbour(scale: int, dtype: type, size: tuple[int, int]) -> None:
    image = _image((*size, 3), dtype)
    out = tile_apply(image, _nearest(scale), tile=16, overlap=4, scale=scale, multiple=4)
    expected = np.repeat(np.repeat(image, scale, axis=0), scale, axis=1)
    assert out.dtype == image.dtype
    assert np.array_equal(out, expected)


def test_out_channels_can_differ_from_input() -> None:
    image = _image((45, 70, 3), np.float32)
    gray = tile_apply(
        image, lambda batch: batch.mean(axis=1, keepdims=True), tile=16, overlap=4, out_channels=1
    )
    assert gray.shape == (45, 70, 1)
    np.testing.assert_allclose(gray[..., 0], image.mean(axis=2), atol=1e-6)


def test_out_channels_uint8_is_rounded() -> None:
    image = _image((20, 30, 3), np.uint8)
    gray = tile_apply(
        image, lambda batch: batch.mean(axis=1, keepdims=True), tile=8, overlap=2, out_channels=1
    )
    expected = np.rint(image.astype(np.float64).mean(axis=2, keepdims=True))
    assert gray.dtype == np.uint8
    assert np.abs(gray.astype(np.int64) - expected).max() <= 1


# --- batching --------------------------------------------------------------------------------


@pytest.mark.parametrize("batch_size", [1, 3, 4, 7])
def test_batches_are_bounded_and_uniform(batch_size: int) -> None:
    recorder = _Recorder()
    image = _image((100, 150, 3), np.uint8)
    tile_apply(image, recorder, tile=32, overlap=8, multiple=8, batch_size=batch_size)
    rows, cols = math.ceil(100 / 32), math.ceil(150 / 32)
    assert all(shape[0] <= batch_size for shape in recorder.shapes)
    assert sum(shape[0] for shape in recorder.shapes) == rows * cols
    assert len(recorder.shapes) == rows * math.ceil(cols / batch_size)
    # core + 2 * overlap + (multiple - 1) alignment slack, rounded up to the multiple
    assert {shape[1:] for shape in recorder.shapes} == {(3, 48, 56)}


def _pool_upsample(batch: np.ndarray) -> np.ndarray:
    """2x2 average pooling then nearest upsampling: its output depends on the sampling phase."""
    n, c, h, w = batch.shape
    pooled = batch.reshape(n, c, h // 2, 2, w // 2, 2).mean(axis=(3, 5))
    return pooled.repeat(2, axis=2).repeat(2, axis=3)


@pytest.mark.parametrize("shape", [(64, 90, 3), (101, 77, 1), (33, 200, 3)])
def test_patches_keep_the_downsampling_phase_of_the_untiled_run(shape) -> None:
    image = _image(shape, np.float32)
    whole = tile_apply(image, _pool_upsample, tile=0, multiple=2)
    tiled = tile_apply(image, _pool_upsample, tile=24, overlap=6, multiple=2, batch_size=3)
    # Odd sizes pad the last row/column differently in the two runs; everything else matches.
    even_h, even_w = shape[0] // 2 * 2, shape[1] // 2 * 2
    assert np.array_equal(tiled[:even_h, :even_w], whole[:even_h, :even_w])


def test_small_image_is_one_padded_tile_with_edge_padding() -> None:
    recorder = _Recorder()
    image = np.full((1, 1, 3), 200, dtype=np.uint8)
    out = tile_apply(image, recorder, tile=256, multiple=8)
    assert recorder.shapes == [(1, 3, 8, 8)]
    assert np.array_equal(out, image)


def test_border_padding_reflects_where_possible() -> None:
    seen: list[np.ndarray] = []

    def remember(batch: np.ndarray) -> np.ndarray:
        seen.append(batch.copy())
        return batch

    image = np.arange(5, dtype=np.float32).reshape(5, 1, 1) * np.ones((1, 2, 1), np.float32)
    tile_apply(image, remember, tile=0, multiple=8)
    assert np.array_equal(seen[0][0, 0, :, 0], [0, 1, 2, 3, 4, 3, 2, 1])
    assert np.array_equal(seen[0][0, 0, 0, :], [0] * 8)  # width 2 < pad 6: edge-replicated


# --- memory ----------------------------------------------------------------------------------


def test_large_image_memory_is_bounded_by_tiles() -> None:
    height, width, channels = 3000, 4000, 3
    image = _image((height, width, channels), np.uint8)
    recorder = _Recorder()
    tracemalloc.start()
    try:
        out = tile_apply(image, recorder, tile=128, overlap=16, batch_size=4)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert np.array_equal(out, image)
    assert max(shape[0] for shape in recorder.shapes) <= 4
    full_float_accumulators = height * width * channels * 4 * 2
    # The peak includes the uint8 output itself (1/8 of that figure) plus one float band.
    assert peak < 0.5 * full_float_accumulators


# --- argument validation ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"tile": -1}, "tile"),
        ({"overlap": -1}, "overlap"),
        ({"tile": 32, "overlap": 16}, "overlap"),
        ({"scale": 0}, "scale"),
        ({"multiple": 0}, "multiple"),
        ({"batch_size": 0}, "batch_size"),
        ({"out_channels": 0}, "out_channels"),
    ],
)
def test_rejects_bad_arguments(kwargs: dict[str, int], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        tile_apply(_image((8, 8, 3), np.uint8), _identity, **kwargs)


@pytest.mark.parametrize(
    ("image", "message"),
    [
        (np.zeros((8, 8), np.uint8), "3-D"),
        (np.zeros((8, 8, 3), np.float64), "dtype"),
        (np.zeros((0, 8, 3), np.uint8), "no pixels"),
    ],
)
def test_rejects_bad_images(image: np.ndarray, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        tile_apply(image, _identity)


def test_rejects_wrong_output_shape_naming_both_shapes() -> None:
    image = _image((20, 20, 3), np.uint8)
    with pytest.raises(ValueError, match=r"returned shape \(1, 3, 20, 20\), expected \(1, 1, 20"):
        tile_apply(image, _identity, out_channels=1)
    with pytest.raises(ValueError, match=r"expected \(1, 3, 40, 40\)"):
        tile_apply(image, _identity, scale=2)


def test_the_identity_passes_a_whole_image_through_and_tiles_only_when_asked() -> None:
    from aepipe.runtime.options import TaskOptions
    from aepipe.runtime.tasks.tiled import run_tiled

    image = np.random.default_rng(5).integers(0, 256, (50, 70, 3), dtype=np.uint8)
    assert run_tiled(None, image, TaskOptions(task="identity")) is image
    tiled = run_tiled(None, image, TaskOptions(task="identity", tile=32, overlap=8))
    assert tiled is not image and np.array_equal(tiled, image)
