"""PSNR, SSIM, BT.601 luma and border cropping against hand-computed values."""

import math

import numpy as np
import pytest

from aepipe.metrics import luma, psnr, rgb_to_y, ssim
from aepipe.tools.evaluation.scoring import crop_border, score


def test_psnr_of_a_known_mse():
    reference = np.zeros((8, 8, 3), np.float32)
    assert psnr(reference, reference + np.float32(0.1)) == pytest.approx(20.0, abs=1e-5)
    assert psnr(reference, reference) == math.inf


def test_psnr_on_uint8_uses_the_0_1_scale():
    reference = np.full((4, 4, 1), 100, np.uint8)
    estimate = reference + np.uint8(5)  # MSE = (5/255)²
    assert psnr(reference, estimate) == pytest.approx(20 * math.log10(255 / 5), abs=1e-4)


def test_shape_mismatch_is_an_error_not_a_resample():
    with pytest.raises(ValueError, match="shapes"):
        psnr(np.zeros((8, 8, 3), np.uint8), np.zeros((16, 16, 3), np.uint8))


@pytest.mark.parametrize(
    ("rgb", "expected"),
    [
        ((0, 0, 0), 16.0),
        ((1, 1, 1), 16 + 65.481 + 128.553 + 24.966),  # 235
        ((1, 0, 0), 16 + 65.481),
        ((0, 1, 0), 16 + 128.553),
        ((0, 0, 1), 16 + 24.966),
    ],
)
def test_y_of_pure_colours_follows_matlab_rgb2ycbcr(rgb, expected):
    image = np.broadcast_to(np.array(rgb, np.float32), (2, 3, 3))
    y = rgb_to_y(image)
    assert y.shape == (2, 3, 1) and y.dtype == np.float32
    assert np.allclose(y * 255, expected, atol=1e-4)


def test_luma_of_gray_is_the_plane_itself():
    gray = np.arange(12, dtype=np.uint8).reshape(3, 4, 1)
    assert np.array_equal(luma(gray), gray.astype(np.float32) / 255)


def test_crop_border():
    image = np.arange(10 * 12).reshape(10, 12, 1)
    assert crop_border(image, 0) is image
    cropped = crop_border(image, 2)
    assert cropped.shape == (6, 8, 1) and cropped[0, 0, 0] == image[2, 2, 0]


def test_ssim_is_one_for_identical_images_and_drops_with_noise():
    rng = np.random.default_rng(0)
    clean = rng.random((32, 32, 3)).astype(np.float32)
    noisy = np.clip(clean + rng.normal(0, 0.1, clean.shape), 0, 1).astype(np.float32)
    assert ssim(clean, clean) == pytest.approx(1.0)
    assert ssim(clean, noisy) < 0.95


def test_score_on_y_ignores_the_cropped_border():
    rng = np.random.default_rng(1)
    clean = rng.integers(0, 256, (24, 24, 3), dtype=np.uint8)
    damaged = clean.copy()
    damaged[:2] = 0  # only the border the SR protocol crops at scale 2
    assert score(clean, damaged, y_channel=True, border=2).psnr == math.inf
    assert score(clean, damaged).psnr < 20


def test_psnr_and_ssim_agree_with_scikit_image_on_uint8():
    from skimage.metrics import peak_signal_noise_ratio, structural_similarity

    rng = np.random.default_rng(2)
    clean = rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)
    noisy = np.clip(clean + rng.normal(0, 20, clean.shape), 0, 255).astype(np.uint8)
    assert psnr(clean, noisy) == pytest.approx(peak_signal_noise_ratio(clean, noisy), abs=1e-4)
    expected = structural_similarity(
        clean,
        noisy,
        data_range=255,
        channel_axis=2,
        gaussian_weights=True,
        sigma=1.5,
        use_sample_covariance=False,
    )
    assert ssim(clean, noisy) == pytest.approx(expected, abs=1e-5)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_reconstruction_error_of_integer_samples_is_exact_and_matches_the_float_path(dtype):
    from aepipe.images import to_float
    from aepipe.metrics import reconstruction_error

    top = np.iinfo(dtype).max
    rng = np.random.default_rng(3)
    before = rng.integers(0, top + 1, (300, 70, 3)).astype(dtype)  # two bands of rows
    after = np.clip(before.astype(np.int64) + rng.integers(-9, 10, before.shape), 0, top)
    after = after.astype(dtype)
    exact = float(np.sum((before.astype(np.int64) - after) ** 2)) / top**2 / before.size
    mse, db = reconstruction_error(before, after)
    assert mse == pytest.approx(exact, rel=1e-12)
    as_float = np.mean((to_float(before).astype(np.float64) - to_float(after)) ** 2)
    assert mse == pytest.approx(as_float, rel=1e-6) and db == pytest.approx(-10 * math.log10(mse))
    assert reconstruction_error(before, before) == (0.0, math.inf)
    assert reconstruction_error(before, before.copy()) == (0.0, math.inf)
