"""Self-ensemble: the 8 views are undone exactly, so only the model's own asymmetry averages."""

from __future__ import annotations

import numpy as np
import pytest

from aepipe.runtime.ensemble import VIEWS, _unview, _view, self_ensemble


def _batch(height: int = 5, width: int = 7) -> np.ndarray:
    return np.random.default_rng(0).random((2, 3, height, width), dtype=np.float32)


@pytest.mark.parametrize(("turns", "flip"), VIEWS)
def test_every_view_is_undone_exactly(turns, flip):
    batch = _batch()
    assert np.array_equal(_unview(_view(batch, turns, flip), turns, flip), batch)


def test_the_eight_views_are_distinct():
    batch = _batch(6, 6)
    views = {_view(batch, turns, flip).tobytes() for turns, flip in VIEWS}
    assert len(views) == 8


def test_an_equivariant_model_is_unchanged_by_the_ensemble():
    batch = _batch()
    averaged = self_ensemble(lambda x: 2 * x)(batch)
    assert averaged.dtype == np.float32
    np.testing.assert_allclose(averaged, 2 * batch, rtol=1e-6)


def test_an_asymmetric_model_is_averaged_over_the_views():
    """Adding a ramp across columns: the 8 views cancel its slope and keep its mean."""
    batch = _batch()

    def ramp(x: np.ndarray) -> np.ndarray:
        return x + np.arange(x.shape[3], dtype=np.float32)

    expected = np.mean(
        [_unview(ramp(_view(batch, turns, flip)), turns, flip) for turns, flip in VIEWS], axis=0
    )
    averaged = self_ensemble(ramp)(batch)
    np.testing.assert_allclose(averaged, expected, rtol=1e-6)
    # every view's ramp runs along one axis or the other, both ways: the average is flat
    added = averaged - batch
    np.testing.assert_allclose(added, np.full_like(added, (5 - 1 + 7 - 1) / 4), rtol=1e-5)


def test_an_upscaling_model_on_a_non_square_tile_keeps_its_output_shape():
    batch = _batch(4, 6)
    double = self_ensemble(lambda x: x.repeat(2, axis=2).repeat(2, axis=3))
    expected = batch.repeat(2, axis=2).repeat(2, axis=3)
    np.testing.assert_allclose(double(batch), expected, rtol=1e-6)
