"""Test-time views: each is undone exactly, so only the model's own asymmetry averages."""

from __future__ import annotations

import numpy as np
import pytest

from aepipe.runtime.ensemble import DIHEDRAL, MARK_VIEWS, View, averaged_over


def _batch(height: int = 5, width: int = 7) -> np.ndarray:
    return np.random.default_rng(0).random((2, 3, height, width), dtype=np.float32)


@pytest.mark.parametrize("view", DIHEDRAL, ids=lambda view: view.name)
def test_every_turn_is_undone_exactly(view: View):
    batch = _batch()
    assert np.array_equal(view.back(view.show(batch)), batch)


@pytest.mark.parametrize("view", MARK_VIEWS, ids=lambda view: view.name)
def test_every_mark_view_brings_a_pixels_map_back_to_that_pixel(view: View):
    """A map that depends on each pixel alone, and not on the order of its colours."""
    batch = _batch()

    def brightness(x: np.ndarray) -> np.ndarray:
        return x.mean(axis=1, keepdims=True)

    np.testing.assert_allclose(
        view.back(brightness(view.show(batch))), brightness(batch), rtol=1e-6
    )


def test_the_eight_views_are_distinct():
    batch = _batch(6, 6)
    assert len({view.show(batch).tobytes() for view in DIHEDRAL}) == 8


def test_the_mark_views_mirror_turn_and_recolour():
    batch = _batch()
    as_is, mirrored, upside_down, recoloured = (view.show(batch) for view in MARK_VIEWS)
    assert np.array_equal(as_is, batch)
    assert np.array_equal(mirrored, batch[..., ::-1])
    assert np.array_equal(upside_down, batch[:, :, ::-1])
    assert np.array_equal(recoloured, batch[:, ::-1])


def test_an_equivariant_model_is_unchanged_by_the_ensemble():
    batch = _batch()
    averaged = averaged_over(lambda x: 2 * x, DIHEDRAL)(batch)
    assert averaged.dtype == np.float32
    np.testing.assert_allclose(averaged, 2 * batch, rtol=1e-6)


def test_an_asymmetric_model_is_averaged_over_the_views():
    """Adding a ramp across columns: the 8 views cancel its slope and keep its mean."""
    batch = _batch()

    def ramp(x: np.ndarray) -> np.ndarray:
        return x + np.arange(x.shape[3], dtype=np.float32)

    expected = np.mean([view.back(ramp(view.show(batch))) for view in DIHEDRAL], axis=0)
    averaged = averaged_over(ramp, DIHEDRAL)(batch)
    np.testing.assert_allclose(averaged, expected, rtol=1e-6)
    # every view's ramp runs along one axis or the other, both ways: the average is flat
    added = averaged - batch
    np.testing.assert_allclose(added, np.full_like(added, (5 - 1 + 7 - 1) / 4), rtol=1e-5)


def test_a_one_channel_map_of_a_recoloured_view_needs_no_undoing():
    """A mask model's output has one channel: reversing the input's colours moves no pixel."""
    batch = _batch()
    red = averaged_over(lambda x: x[:, :1], MARK_VIEWS)(batch)
    np.testing.assert_allclose(red, (3 * batch[:, :1] + batch[:, 2:]) / 4, rtol=1e-6)


def test_an_upscaling_model_on_a_non_square_tile_keeps_its_output_shape():
    batch = _batch(4, 6)
    double = averaged_over(lambda x: x.repeat(2, axis=2).repeat(2, axis=3), DIHEDRAL)
    expected = batch.repeat(2, axis=2).repeat(2, axis=3)
    np.testing.assert_allclose(double(batch), expected, rtol=1e-6)
