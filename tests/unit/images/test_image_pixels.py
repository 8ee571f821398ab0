"""pixels.py: exact float round trips, rounding/clipping, and tiles (views) of any layout."""

from __future__ import annotations

import numpy as np
import pytest

from aepipe.images.pixels import (
    BAND_ROWS,
    as_dtype,
    dtype_name,
    from_float,
    max_value,
    quantum,
    to_float,
)


@pytest.mark.parametrize(
    ("dtype", "expected"), [("uint8", 255.0), ("uint16", 65535.0), ("float32", 1.0)]
)
def test_max_value(dtype: str, expected: float) -> None:
    assert max_value(dtype) == expected
    assert max_value(np.dtype(dtype)) == expected


@pytest.mark.parametrize("dtype", ["uint8", "uint16", "float32"])
def test_quantum_is_the_step_between_stored_values(dtype: str) -> None:
    """Neighbouring integer samples lie one quantum apart in float units; float32 is
    stored as computed, so nothing was rounded."""
    if dtype == "float32":
        assert quantum(dtype) == 0.0
        return
    neighbours = to_float(np.array([7, 8], dtype=dtype)).astype(np.float64)
    assert neighbours[1] - neighbours[0] == pytest.approx(quantum(dtype))


@pytest.mark.parametrize("dtype", ["uint8", "uint16"])
def test_integer_round_trip_is_exact_for_every_value(dtype: str) -> None:
    every = np.arange(np.iinfo(dtype).max + 1, dtype=dtype)
    x = to_float(every)
    assert x.dtype == np.float32
    assert x.min() == 0.0 and x.max() == 1.0
    np.testing.assert_array_equal(from_float(x, dtype), every)


def test_float32_passes_through_unchanged() -> None:
    arr = np.array([[-0.5, 0.25, 3.0]], dtype=np.float32)
    assert to_float(arr) is arr
    np.testing.assert_array_equal(from_float(arr, "float32"), arr)


def test_from_float_rounds_to_nearest_and_clips() -> None:
    x = np.array([-0.2, 0.0, 0.4 / 255, 0.6 / 255, 1.0, 1.7], dtype=np.float32)
    np.testing.assert_array_equal(from_float(x, "uint8"), [0, 0, 0, 1, 255, 255])
    assert from_float(x, np.uint16).dtype == np.uint16


def test_from_float_maps_nan_to_zero_and_accepts_float64() -> None:
    x = np.array([np.nan, 0.5, np.inf, -np.inf], dtype=np.float64)
    np.testing.assert_array_equal(from_float(x, "uint8"), [0, 128, 255, 0])


def test_works_on_strided_tiles() -> None:
    image = np.random.default_rng(0).integers(0, 65536, (64, 48, 3), dtype=np.uint16)
    tile = image[3:40:2, ::-3, 1:]
    assert not tile.flags.c_contiguous
    np.testing.assert_array_equal(from_float(to_float(tile), "uint16"), tile)
    assert to_float(tile).shape == tile.shape


@pytest.mark.parametrize("dtype", ["int32", "float64", "bool"])
def test_unsupported_dtypes_are_refused(dtype: str) -> None:
    with pytest.raises(ValueError, match="unsupported sample dtype"):
        to_float(np.zeros(3, dtype=dtype))
    with pytest.raises(ValueError, match="unsupported sample dtype"):
        dtype_name(dtype)


@pytest.mark.parametrize("target", ["uint8", "uint16", "float32"])
@pytest.mark.parametrize("source", ["uint8", "uint16", "float32"])
def test_as_dtype_is_the_float_round_trip_band_by_band(source, target):
    rng = np.random.default_rng(0)
    pixels = from_float(
        rng.uniform(-0.1, 1.1, (BAND_ROWS * 2 + 7, 5, 3)).astype(np.float32), source
    )
    converted = as_dtype(pixels, target)
    assert converted.dtype == np.dtype(target)
    np.testing.assert_array_equal(converted, from_float(to_float(pixels), target))
    if source == target:
        assert converted is pixels  # no copy of a huge image that needs no conversion
