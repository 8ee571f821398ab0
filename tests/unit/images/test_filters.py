"""Gaussian blur of float maps: separable, mirrored borders, a constant stays constant."""

import numpy as np
import pytest

from aepipe.images.filters import gaussian_blur, gaussian_kernel


def reference_blur(plane: np.ndarray, sigma: float) -> np.ndarray:
    """The same blur written out: symmetric padding and a full 2-D correlation."""
    kernel = gaussian_kernel(sigma).astype(np.float64)
    radius = len(kernel) // 2
    padded = np.pad(plane.astype(np.float64), radius, mode="symmetric")
    full = np.outer(kernel, kernel)
    out = np.zeros(plane.shape)
    for y in range(plane.shape[0]):
        for x in range(plane.shape[1]):
            out[y, x] = (padded[y : y + 2 * radius + 1, x : x + 2 * radius + 1] * full).sum()
    return out


@pytest.mark.parametrize("sigma", [0.7, 1.5, 3.0])
def test_matches_the_written_out_correlation(sigma):
    plane = np.random.default_rng(0).random((23, 31)).astype(np.float32)
    np.testing.assert_allclose(gaussian_blur(plane, sigma), reference_blur(plane, sigma), atol=1e-5)


def test_a_constant_map_stays_constant_even_smaller_than_the_kernel():
    assert np.allclose(gaussian_blur(np.full((3, 5, 2), 0.25, np.float32), 4.0), 0.25)


def test_channels_are_blurred_independently_and_sigma_zero_is_the_identity():
    image = np.random.default_rng(1).random((16, 16, 3)).astype(np.float32)
    blurred = gaussian_blur(image, 1.0)
    np.testing.assert_allclose(blurred[..., 1], gaussian_blur(image[..., 1], 1.0), atol=1e-6)
    assert np.array_equal(gaussian_blur(image, 0), image)
    assert blurred.std() < image.std()
