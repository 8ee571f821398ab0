"""Synthetic defects: one per call, inside its mask, visible, at most max_area, reproducible."""

import numpy as np
import pytest
from modelfactory import photo_like

from aepipe.degrade.defects import DEFECT_KINDS, VISIBLE_CHANGE, add_defect


@pytest.fixture
def textured() -> np.ndarray:
    rng = np.random.default_rng(3)
    base = photo_like(rng, 96, 128).astype(np.float32) / 255
    return np.clip(base + rng.normal(0, 0.06, base.shape), 0, 1).astype(np.float32)


@pytest.mark.parametrize("kind", DEFECT_KINDS)
def test_each_kind_changes_only_its_mask_and_stays_under_max_area(kind, textured):
    defect = add_defect(textured, np.random.default_rng(0), kind, max_area=0.02)
    assert defect.kind == kind and defect.image.shape == textured.shape
    assert 0 < defect.mask.mean() <= 0.02
    outside = ~defect.mask
    assert np.abs(defect.image - textured)[outside].max() <= 1 / 255
    assert np.abs(defect.image - textured).max(axis=2)[defect.mask].mean() >= VISIBLE_CHANGE / 2


def test_same_seed_same_defect_and_random_kinds_cover_the_list(textured):
    first = add_defect(textured, np.random.default_rng(5))
    again = add_defect(textured, np.random.default_rng(5))
    assert first.kind == again.kind and np.array_equal(first.image, again.image)
    rng = np.random.default_rng(0)
    assert {add_defect(textured, rng).kind for _ in range(60)} == set(DEFECT_KINDS)


def test_bad_arguments_are_refused(textured):
    with pytest.raises(ValueError, match="unknown defect"):
        add_defect(textured, np.random.default_rng(0), "crack")
    with pytest.raises(ValueError, match="min_area"):
        add_defect(textured, np.random.default_rng(0), max_area=0.0)


def test_without_a_visible_enough_placement_the_most_visible_one_is_kept():
    """A faint texture on half of a flat image: no blur there is visible enough, so every
    placement fails the test; the defect must be the most visible of them, not the last."""
    image = np.full((64, 64, 3), 0.5, np.float32)
    image[:, :32] += np.random.default_rng(1).uniform(-0.05, 0.05, (64, 32, 3)).astype(np.float32)
    landed = [
        add_defect(image, np.random.default_rng(seed), "blur").mask.any() for seed in range(20)
    ]
    assert all(landed)
