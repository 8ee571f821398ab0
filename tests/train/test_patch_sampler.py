"""Patch sampling and the segmenter's photo augmentations: scale, sharpness and gray."""

import numpy as np
import pytest
import torch

from aepipe.training.data import PatchSampler
from aepipe.training.task_batches import grayed, sharpened

pytestmark = pytest.mark.train


def stripes(period: int, side: int = 256) -> np.ndarray:
    """Vertical black-and-white stripes: the same in every crop, whatever the flip."""
    columns = (np.arange(side) // (period // 2)) % 2 * 255
    return np.repeat(np.broadcast_to(columns, (side, side))[..., None], 3, axis=2).astype(np.uint8)


def dominant_period(patch: np.ndarray) -> float:
    """Period in pixels of the strongest frequency along the patch's rows or columns."""
    gray = patch.mean(axis=0)
    profile = gray.mean(axis=0) if gray[:, 0].std() < gray[0].std() else gray.mean(axis=1)
    spectrum = np.abs(np.fft.rfft(profile - profile.mean()))
    return len(profile) / int(spectrum.argmax())


@pytest.mark.parametrize(("zoom", "period"), [(1.0, 16), (2.0, 32), (0.5, 8)])
def test_zoom_rescales_the_detail_a_patch_shows(zoom: float, period: float):
    sampler = PatchSampler([stripes(16)], 64, np.random.default_rng(0), zoom=(zoom, zoom))
    for patch in sampler.batch(4):
        assert patch.shape == (3, 64, 64)
        assert dominant_period(patch) == pytest.approx(period, rel=0.1)


def test_without_zoom_patches_are_exact_crops():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (40, 50, 3), dtype=np.uint8)
    patch = PatchSampler([image], 16, np.random.default_rng(1)).batch(1)[0]
    pixels = np.round(patch.transpose(1, 2, 0) * 255).astype(np.uint8)
    found = [
        (top, left, k, flip)
        for top in range(40 - 15)
        for left in range(50 - 15)
        for flip in (False, True)
        for k in range(4)
        if np.array_equal(
            np.rot90(image[top : top + 16, left : left + 16][:, :: -1 if flip else 1], k), pixels
        )
    ]
    assert found


def test_a_zoomed_region_never_leaves_a_small_image():
    image = np.full((20, 90, 3), 100, np.uint8)  # shorter than patch / zoom = 32
    batch = PatchSampler([image], 16, np.random.default_rng(0), zoom=(0.5, 0.5)).batch(3)
    assert batch.shape == (3, 3, 16, 16)
    np.testing.assert_allclose(batch, 100 / 255, atol=1e-3)


def test_sharpening_raises_detail_on_some_patches_and_keeps_the_range():
    rng = np.random.default_rng(0)
    batch = torch.from_numpy(rng.uniform(0.2, 0.8, (40, 3, 24, 24)).astype(np.float32))
    out = sharpened(batch, torch.Generator().manual_seed(0), fraction=0.5)
    changed = [not torch.equal(a, b) for a, b in zip(out, batch, strict=True)]
    assert 8 < sum(changed) < 32
    assert out.min() >= 0 and out.max() <= 1
    for before, after, was_changed in zip(batch, out, changed, strict=True):
        if was_changed:
            assert after.std() > before.std()


def test_graying_makes_some_patches_gray_and_leaves_the_others_as_they_were():
    rng = np.random.default_rng(0)
    batch = torch.from_numpy(rng.uniform(0, 1, (40, 3, 8, 8)).astype(np.float32))
    out = grayed(batch, torch.Generator().manual_seed(0), fraction=0.5)
    gray = [bool((patch == patch[0]).all()) for patch in out]
    assert 8 < sum(gray) < 32
    for before, after, is_gray in zip(batch, out, gray, strict=True):
        expected = before.mean(dim=0).expand(3, -1, -1) if is_gray else before
        torch.testing.assert_close(after, expected)
