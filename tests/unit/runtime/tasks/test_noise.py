"""Blind noise estimation, which feeds the denoiser when no --noise-level is given."""

import numpy as np
import pytest

from aepipe.runtime.tasks.noise_level import estimate_noise_sigma


def smooth_photo(height: int = 256, width: int = 256) -> np.ndarray:
    y, x = np.mgrid[0:height, 0:width] / max(height, width)
    image = np.stack([x, y, 0.5 + 0.4 * np.sin(6 * x) * np.cos(4 * y)], axis=2)
    image[height // 3 : height // 2, width // 4 : width // 2] = 0.9  # a hard edge
    return image * 200 + 20


@pytest.mark.parametrize("sigma", [5, 15, 25, 50])
def test_estimate_is_close_to_the_true_sigma(sigma):
    rng = np.random.default_rng(sigma)
    noisy = np.clip(smooth_photo() + rng.normal(0, sigma, (256, 256, 3)), 0, 255)
    estimate = estimate_noise_sigma(np.round(noisy).astype(np.uint8))
    assert estimate == pytest.approx(sigma, rel=0.2)


def test_clean_image_estimates_near_zero_and_tiny_images_are_fine():
    assert estimate_noise_sigma(np.round(smooth_photo()).astype(np.uint8)) < 2.0
    assert estimate_noise_sigma(np.zeros((1, 1, 3), np.uint8)) == 0.0


def test_sixteen_bit_images_use_the_same_scale():
    rng = np.random.default_rng(0)
    noisy = np.clip(smooth_photo() + rng.normal(0, 20, (256, 256, 3)), 0, 255) * 257
    assert estimate_noise_sigma(noisy.astype(np.uint16)) == pytest.approx(20, rel=0.2)
