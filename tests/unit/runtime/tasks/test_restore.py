"""Restoration tasks on plain arrays: tiling path, channels, alpha and the real denoiser."""

import numpy as np
import pytest
from imagefactory import save

from aepipe.images import decode
from aepipe.metrics.error import reconstruction_error
from aepipe.runtime.options import TaskOptions
from aepipe.runtime.tasks.build import build_task


def smooth_rgb(height: int, width: int) -> np.ndarray:
    y, x = np.mgrid[0:height, 0:width]
    planes = [128 + 90 * np.sin(x / 9.0), 128 + 90 * np.cos(y / 7.0), (x + y) % 200 + 20]
    return np.stack(planes, axis=2).astype(np.uint8)


def test_identity_task_returns_pixels_and_alpha_untouched():
    rgba = np.dstack([smooth_rgb(37, 53), np.arange(37 * 53).reshape(37, 53) % 256])
    image = decode(save(rgba.astype(np.uint8)), "a.png")
    result = build_task(TaskOptions(task="identity", tile=16, overlap=4)).apply(image)
    assert np.array_equal(result.pixels, image.pixels)
    assert np.array_equal(result.alpha, image.alpha)


def test_denoiser_removes_most_of_the_noise_blind_and_given():
    rng = np.random.default_rng(0)
    clean = smooth_rgb(96, 128)
    noisy = np.clip(clean + rng.normal(0, 25, clean.shape), 0, 255).astype(np.uint8)
    image = decode(save(noisy), "noisy.png")
    _, psnr_in = reconstruction_error(clean, noisy)
    for level in (None, 25.0):
        result = build_task(TaskOptions(task="denoise", noise_level=level)).apply(image)
        _, psnr_out = reconstruction_error(clean, result.pixels)
        assert psnr_out > psnr_in + 5, (level, psnr_in, psnr_out)
        assert result.fields["noise_level"] == pytest.approx(25, rel=0.25)
    assert (
        build_task(TaskOptions(task="denoise")).apply(image).fields["noise_level_estimated"] is True
    )


def test_gray_image_runs_through_the_rgb_denoiser_and_stays_gray():
    gray = smooth_rgb(40, 44)[..., 0]
    result = build_task(TaskOptions(task="denoise", noise_level=10.0)).apply(
        decode(save(gray), "g.png")
    )
    assert result.pixels.shape == (40, 44, 1) and result.pixels.dtype == np.uint8


def test_anomaly_without_a_model_says_to_pass_one():
    from aepipe.errors import ModelError

    with pytest.raises(ModelError, match="no shipped model for task 'anomaly' yet; pass --model"):
        build_task(TaskOptions(task="anomaly"))


@pytest.mark.parametrize("scale", [2, 4])
def test_superres_scales_pixels_and_alpha(scale):
    rgba = np.dstack([smooth_rgb(20, 28), np.full((20, 28), 200, np.uint8)])
    result = build_task(TaskOptions(task="superres", scale=scale)).apply(
        decode(save(rgba), "a.png")
    )
    assert result.pixels.shape == (20 * scale, 28 * scale, 3)
    assert result.alpha.shape == (20 * scale, 28 * scale)
    assert np.all(result.alpha == 200)  # a flat alpha stays flat through bicubic resizing


def test_self_ensemble_changes_the_output_and_the_provenance_but_not_the_shape():
    image = decode(save(smooth_rgb(40, 52)), "a.png")
    plain = build_task(TaskOptions(task="superres", scale=2))
    ensembled = build_task(TaskOptions(task="superres", scale=2, self_ensemble=True))
    plain_out, ensembled_out = plain.apply(image).pixels, ensembled.apply(image).pixels
    assert ensembled_out.shape == plain_out.shape == (80, 104, 3)
    assert not np.array_equal(ensembled_out, plain_out)
    _, psnr = reconstruction_error(plain_out, ensembled_out)
    assert psnr > 35  # the views agree closely: an average, not a different image
    assert ensembled.provenance["aepipe-params"] != plain.provenance["aepipe-params"]


def test_self_ensemble_of_a_codec_is_refused():
    from aepipe.errors import ModelError

    with pytest.raises(ModelError, match="self-ensemble"):
        build_task(TaskOptions(task="compress", self_ensemble=True))
