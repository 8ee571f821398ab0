"""MS-SSIM: its SSIM building block against scikit-image, its scales, and its basic laws."""

import numpy as np
import pytest
from imagefactory import rgb_image
from skimage.metrics import structural_similarity

from aepipe.metrics.msssim import SCALE_WEIGHTS, _ssim_and_cs, ms_ssim, scale_weights


def _noisy(rng: np.random.Generator, clean: np.ndarray, sigma: float) -> np.ndarray:
    return np.clip(clean + rng.normal(0, sigma, clean.shape), 0, 255).astype(np.uint8)


def _pair(seed: int, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """A uint8 image and a noisy copy of it."""
    rng = np.random.default_rng(seed)
    clean = np.asarray(rgb_image(rng, width, height))
    return clean, _noisy(rng, clean, 20)


def _skimage_ssim(a: np.ndarray, b: np.ndarray) -> float:
    """Wang et al.'s SSIM as scikit-image computes it (Gaussian window, population stats)."""
    return structural_similarity(
        a.astype(np.float64) / 255,
        b.astype(np.float64) / 255,
        channel_axis=2,
        gaussian_weights=True,
        sigma=1.5,
        use_sample_covariance=False,
        data_range=1,
    )


@pytest.mark.parametrize("shape", [(11, 11), (40, 64), (97, 53)])
def test_ssim_building_block_agrees_with_scikit_image(shape):
    clean, noisy = _pair(0, *shape)
    ssim_per_channel, _ = _ssim_and_cs(clean / 255, noisy / 255)
    assert ssim_per_channel.mean() == pytest.approx(_skimage_ssim(clean, noisy), abs=1e-9)


@pytest.mark.parametrize("shape", [(11, 30), (20, 24)])
def test_images_with_room_for_one_scale_get_plain_ssim(shape):
    clean, noisy = _pair(1, *shape)
    assert ms_ssim(clean, noisy) == pytest.approx(_skimage_ssim(clean, noisy), abs=1e-6)


@pytest.mark.parametrize(("side", "scales"), [(11, 1), (21, 2), (80, 3), (160, 4)])
def test_small_images_use_the_scales_that_hold_an_11_px_window_renormalised(side, scales):
    weights = scale_weights(side, side + 7)
    assert len(weights) == scales
    assert weights.sum() == pytest.approx(1.0, abs=1e-12)
    assert weights.tolist() == pytest.approx(
        [w / sum(SCALE_WEIGHTS[:scales]) for w in SCALE_WEIGHTS[:scales]]
    )


def test_images_over_160_px_use_the_published_weights_like_pytorch_msssim():
    assert scale_weights(2000, 161).tolist() == list(SCALE_WEIGHTS)  # they sum to 1.0001


def test_identical_images_score_exactly_one():
    clean, _ = _pair(2, 170, 181)
    assert ms_ssim(clean, clean.copy()) == 1.0
    assert ms_ssim(clean[:30, :30], clean[:30, :30].copy()) == 1.0


def test_more_noise_scores_lower():
    rng = np.random.default_rng(3)
    clean = np.asarray(rgb_image(rng, 176, 168))
    scores = [ms_ssim(clean, _noisy(rng, clean, sigma)) for sigma in (2, 8, 32, 128)]
    assert scores == sorted(scores, reverse=True) and len(set(scores)) == len(scores)


def test_symmetric_and_within_zero_to_one():
    clean, noisy = _pair(4, 64, 80)
    inverted = 255 - clean  # anticorrelated: negative terms are clamped at zero
    assert ms_ssim(clean, noisy) == pytest.approx(ms_ssim(noisy, clean), abs=1e-12)
    for other in (noisy, inverted):
        assert 0.0 <= ms_ssim(clean, other) <= 1.0


def test_native_dtypes_and_float_give_the_same_score():
    clean, noisy = _pair(5, 48, 48)
    expected = ms_ssim(clean, noisy)
    as_float = ms_ssim(clean.astype(np.float32) / 255, noisy.astype(np.float32) / 255)
    as_uint16 = ms_ssim(clean.astype(np.uint16) * 257, noisy.astype(np.uint16) * 257)
    assert as_float == pytest.approx(expected, abs=1e-6)
    assert as_uint16 == pytest.approx(expected, abs=1e-6)


@pytest.mark.parametrize(
    ("shape_a", "shape_b"), [((32, 32, 3), (32, 33, 3)), ((32, 32), (32, 32)), ((10, 40, 3),) * 2]
)
def test_mismatched_missing_channel_axis_or_too_small_is_a_value_error(shape_a, shape_b):
    with pytest.raises(ValueError):
        ms_ssim(np.zeros(shape_a, np.uint8), np.zeros(shape_b, np.uint8))
