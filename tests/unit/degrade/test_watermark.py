"""Synthetic watermarks: exact outside their mask, reproducible, and held-out for evaluation."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from aepipe.degrade.watermark import (
    HELDOUT_FONTS,
    HELDOUT_STYLE,
    LOGOS,
    TRAIN_FONTS,
    TRAIN_STYLE,
    WatermarkStyle,
    add_watermark,
)

STYLES = {"train": TRAIN_STYLE, "heldout": HELDOUT_STYLE}


def photo(height: int = 96, width: int = 128, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).random((height, width, 3)).astype(np.float32)


def test_font_sets_exist_and_are_disjoint() -> None:
    assert TRAIN_FONTS and HELDOUT_FONTS
    assert all(Path(font).is_file() for font in TRAIN_FONTS + HELDOUT_FONTS)
    assert not set(TRAIN_FONTS) & set(HELDOUT_FONTS)
    assert TRAIN_STYLE.fonts == TRAIN_FONTS
    assert HELDOUT_STYLE.fonts == HELDOUT_FONTS


def draw_logo(name: str) -> np.ndarray:
    layer = Image.new("L", (64, 64))
    LOGOS[name](ImageDraw.Draw(layer), 32, 32, 28, 0)
    return np.asarray(layer) > 127


def test_heldout_logos_differ_from_training_logos() -> None:
    assert TRAIN_STYLE.logos and HELDOUT_STYLE.logos
    assert not set(TRAIN_STYLE.logos) & set(HELDOUT_STYLE.logos)
    for held in HELDOUT_STYLE.logos:
        for seen in TRAIN_STYLE.logos:
            a, b = draw_logo(held), draw_logo(seen)
            assert (a & b).sum() / (a | b).sum() < 0.9, (held, seen)  # not the same shape


def test_opacity_ranges_match() -> None:
    assert TRAIN_STYLE.opacity == HELDOUT_STYLE.opacity


@pytest.mark.parametrize("style", STYLES.values(), ids=STYLES.keys())
@pytest.mark.parametrize("seed", range(12))
def test_only_masked_pixels_change(style: WatermarkStyle, seed: int) -> None:
    image = photo(seed=seed)
    out, alpha = add_watermark(image, np.random.default_rng(seed), style)
    assert out.dtype == np.float32 and out.shape == image.shape
    assert alpha.dtype == np.float32 and alpha.shape == image.shape[:2]
    mask = alpha > 0
    assert mask.any() and alpha.max() < 1
    np.testing.assert_array_equal(out[~mask], image[~mask])
    assert out.min() >= 0.0 and out.max() <= 1.0


def test_gray_images_get_gray_marks() -> None:
    gray = photo()[:, :, :1]
    out, alpha = add_watermark(gray, np.random.default_rng(0), TRAIN_STYLE)
    mask = alpha > 0
    assert out.shape == gray.shape and mask.any()
    np.testing.assert_array_equal(out[~mask], gray[~mask])


def test_deterministic_for_a_generator_state() -> None:
    image = photo()
    first = add_watermark(image, np.random.default_rng(7), TRAIN_STYLE)
    again = add_watermark(image, np.random.default_rng(7), TRAIN_STYLE)
    other = add_watermark(image, np.random.default_rng(8), TRAIN_STYLE)
    np.testing.assert_array_equal(first[0], again[0])
    np.testing.assert_array_equal(first[1], again[1])
    assert not np.array_equal(first[0], other[0])


def test_opacity_within_range_on_a_flat_image() -> None:
    """White marks on mid-grey: alpha = (out - 0.5) / 0.5; glyph interiors show the opacity."""
    style = dataclasses.replace(
        TRAIN_STYLE, colours=("white",), outline_probability=0.0, text_height=(0.15, 0.25)
    )
    low, high = style.opacity
    flat = np.full((128, 128, 3), 0.5, dtype=np.float32)
    peaks = []
    for seed in range(10):
        out, true_alpha = add_watermark(flat, np.random.default_rng(seed), style)
        alpha = (out[..., 0] - 0.5) / 0.5
        np.testing.assert_allclose(alpha, true_alpha, atol=1e-6)
        assert alpha[true_alpha > 0].min() > 0
        peaks.append(alpha.max())
    assert low - 0.01 <= min(peaks) and max(peaks) <= high + 1e-6
    assert max(peaks) - min(peaks) > 0.1  # drawn per image, not fixed


@pytest.mark.parametrize("seed", range(6))
def test_alpha_is_the_blend_of_all_layers(seed: int) -> None:
    """Outlined marks are two layers; one alpha and one colour per pixel still explain them.

    The colour a pixel was blended with, ``(marked - (1 - alpha) * image) / alpha``, belongs to
    the mark, so it is the same whatever image the mark lands on.
    """
    style = dataclasses.replace(TRAIN_STYLE, outline_probability=1.0, logo_probability=0.0)
    colours = []
    for image in (photo(seed=seed), 1 - photo(seed=seed + 1)):
        marked, alpha = add_watermark(image, np.random.default_rng(seed), style)
        a = alpha[..., None]
        colours.append(np.where(a > 0.05, (marked - (1 - a) * image) / np.maximum(a, 0.05), 0))
    np.testing.assert_allclose(colours[0], colours[1], atol=1e-4)
    assert alpha.max() > style.opacity[0]


def test_reference_side_sizes_marks_for_the_whole_image() -> None:
    """A crop watermarked as part of a 640-px image shows bigger marks than one on its own."""
    crop = photo(64, 64)
    own, whole = 0.0, 0.0
    for seed in range(10):
        _, own_alpha = add_watermark(crop, np.random.default_rng(seed), TRAIN_STYLE)
        _, whole_alpha = add_watermark(crop, np.random.default_rng(seed), TRAIN_STYLE, 640)
        own += (own_alpha > 0).mean()
        whole += (whole_alpha > 0).mean()
    assert whole > 2 * own


def test_tiled_marks_repeat() -> None:
    style = dataclasses.replace(TRAIN_STYLE, tiled_probability=1.0, text_height=(0.05, 0.06))
    _, tiled = add_watermark(photo(256, 256), np.random.default_rng(0), style)
    _, once = add_watermark(photo(256, 256), np.random.default_rng(0), TRAIN_STYLE)
    assert (tiled > 0).mean() > 3 * (once > 0).mean()


def test_unknown_style_names_are_rejected() -> None:
    with pytest.raises(ValueError, match="unknown"):
        WatermarkStyle(fonts=TRAIN_FONTS, logos=("spiral",))
    with pytest.raises(ValueError, match="unknown"):
        WatermarkStyle(fonts=TRAIN_FONTS, colours=("plaid",))
