"""``imresize`` reproduces MATLAB's bicubic ``imresize`` (antialiased, symmetric borders)."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest
from PIL import Image

from aepipe.degrade.resize import cubic, imresize, modcrop, resize_weights

SCALES = [0.25, 1 / 3, 0.5, 0.7, 1.5, 2.0, 4.0]


def matlab_resize_1d(signal: list[float], scale: float) -> list[float]:
    """MATLAB's ``contributions`` + ``resizeAlongDim``, transcribed loop by loop (1-based)."""
    n = len(signal)
    width = 4.0 / scale if scale < 1 else 4.0
    out = []
    for u in range(1, math.ceil(n * scale) + 1):
        x = u / scale + 0.5 * (1 - 1 / scale)
        left = math.floor(x - width / 2)
        taps = [left + k for k in range(math.ceil(width) + 2)]
        if scale < 1:
            weights = [scale * float(cubic(np.array(scale * (x - i)))) for i in taps]
        else:
            weights = [float(cubic(np.array(x - i))) for i in taps]
        mirror = list(range(1, n + 1)) + list(range(n, 0, -1))  # MATLAB's `aux`
        values = [signal[mirror[(i - 1) % (2 * n)] - 1] for i in taps]
        out.append(sum(w * v for w, v in zip(weights, values, strict=True)) / sum(weights))
    return out


@pytest.mark.parametrize("scale", SCALES)
@pytest.mark.parametrize("length", [1, 2, 7, 16])
def test_matches_matlab_transcription_1d(scale: float, length: int) -> None:
    signal = np.random.default_rng(length).random(length)
    expected = matlab_resize_1d(list(signal), scale)
    as_column = imresize(signal[:, None, None], scale)[:, 0, 0]
    as_row = imresize(signal[None, :, None], scale)[0, :, 0]
    np.testing.assert_allclose(as_column, expected, atol=1e-6)
    np.testing.assert_allclose(as_row, expected, atol=1e-6)


def test_2d_is_rows_then_columns() -> None:
    image = np.random.default_rng(0).random((9, 6, 2))
    expected = np.empty((3, 2, 2))
    for c in range(2):
        rows = np.array([matlab_resize_1d(list(col), 1 / 3) for col in image[:, :, c].T]).T
        expected[:, :, c] = [matlab_resize_1d(list(row), 1 / 3) for row in rows]
    np.testing.assert_allclose(imresize(image, 1 / 3), expected, atol=1e-6)


def test_halving_a_4x4_ramp_gives_matlab_values() -> None:
    """imresize(reshape(1:16, 4, 4)', 0.5): exact binary fractions derived by hand from
    MATLAB's kernel (weights ±0.4336, ±0.1133, ∓0.0352, ∓0.0117 about each output centre)."""
    ramp = np.arange(1, 17, dtype=np.float64).reshape(4, 4, 1)
    expected = [[3.3046875, 5.3828125], [11.6171875, 13.6953125]]
    np.testing.assert_allclose(imresize(ramp, 0.5)[:, :, 0], expected, atol=1e-6)


@pytest.mark.parametrize("scale", SCALES)
def test_constant_image_stays_constant(scale: float) -> None:
    image = np.full((13, 10, 3), 0.37, dtype=np.float32)
    np.testing.assert_allclose(imresize(image, scale), 0.37, atol=1e-6)


def test_scale_one_is_identity() -> None:
    image = np.random.default_rng(1).random((11, 8, 3)).astype(np.float32)
    np.testing.assert_array_equal(imresize(image, 1.0), image)


@pytest.mark.parametrize(("shape", "scale", "expected"), [
    ((7, 5, 3), 0.5, (4, 3, 3)),
    ((10, 11, 1), 1 / 3, (4, 4, 1)),
    ((5, 6, 3), 2.0, (10, 12, 3)),
    ((64, 64, 3), 0.25, (16, 16, 3)),
])  # fmt: skip
def test_output_size_is_ceil(shape: tuple, scale: float, expected: tuple) -> None:
    assert imresize(np.zeros(shape), scale).shape == expected


@pytest.mark.parametrize("scale", SCALES)
def test_weights_rows_sum_to_one(scale: float) -> None:
    for length in (1, 3, 17):
        weights = resize_weights(length, math.ceil(length * scale), scale)
        np.testing.assert_allclose(weights.sum(axis=1), 1.0, atol=1e-12)


def test_antialias_kernel_is_widened_by_inverse_scale() -> None:
    """x1/4 of a long signal: each output mixes 16 + 2 inputs with MATLAB's stretched cubic."""
    weights = resize_weights(64, 16, 0.25)[8]
    taps = np.nonzero(weights)[0]
    centre = (8 + 0.5) * 4 - 0.5
    assert len(taps) == 16
    np.testing.assert_allclose(weights[taps], cubic((centre - taps) / 4) / 4, atol=1e-12)


@pytest.mark.parametrize("scale", [0.25, 0.5, 2.0])
def test_borders_are_symmetric_padding(scale: float) -> None:
    """Resizing equals resizing the image explicitly padded with numpy's 'symmetric' mode."""
    image = np.random.default_rng(2).random((8, 12, 3))
    pad = 8  # pad * scale output pixels to crop: an integer for every scale here
    padded = np.pad(image, ((pad, pad), (pad, pad), (0, 0)), mode="symmetric")
    crop = int(pad * scale)
    inner = imresize(padded, scale)[crop:-crop, crop:-crop]
    np.testing.assert_allclose(imresize(image, scale), inner, atol=1e-6)


@pytest.mark.parametrize("scale", [0.25, 0.5, 2.0])
def test_agrees_with_pil_bicubic_away_from_borders(scale: float) -> None:
    """PIL uses the same kernel and antialiasing but renormalises at borders instead."""
    image = np.random.default_rng(3).random((64, 48, 3)).astype(np.float32)
    size = (int(48 * scale), int(64 * scale))
    planes = [Image.fromarray(image[:, :, c]) for c in range(3)]
    pil = np.stack([np.asarray(p.resize(size, Image.Resampling.BICUBIC)) for p in planes], axis=-1)
    ours = imresize(image, scale)
    inner = np.s_[8:-8, 8:-8]
    np.testing.assert_allclose(ours[inner], pil[inner], atol=1e-4)
    assert np.abs(ours - pil).max() < 0.25


def test_returns_float32_without_clipping() -> None:
    step = np.zeros((8, 8, 1))
    step[:, 4:] = 1.0
    up = imresize(step, 2.0)
    assert up.dtype == np.float32
    assert up.min() < 0 and up.max() > 1  # cubic overshoot at the edge is kept


def test_quarter_of_512_is_fast() -> None:
    image = np.random.default_rng(4).random((512, 512, 3)).astype(np.float32)
    started = time.perf_counter()
    imresize(image, 0.25)
    assert time.perf_counter() - started < 1.0


def test_modcrop() -> None:
    image = np.zeros((10, 7, 3))
    assert modcrop(image, 4).shape == (8, 4, 3)
    assert modcrop(image, 1).shape == image.shape
    assert modcrop(image[:, :, 0], 3).shape == (9, 6)
