"""The shipped super-resolution and watermark-removal models do their job on real photos, and
the int8 denoiser stays close to its float model.

Parity tests prove the ONNX files equal their checkpoints; these prove the checkpoints are
worth shipping: on two unresampled Kodak crops (tests/data/SOURCES.md) super-resolution beats
bicubic, and watermark removal improves images marked in the held-out style (fonts and logos
training never saw). Margins sit well under the measured gains (in the comments) so that a
broken model fails, not a retrained one.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from aepipe.degrade import imresize, noisy_file
from aepipe.degrade.watermark import HELDOUT_STYLE, add_watermark
from aepipe.demo import SAMPLES
from aepipe.images import DecodedImage, decode, encode
from aepipe.metrics.error import reconstruction_error
from aepipe.runtime.options import TaskOptions
from aepipe.runtime.tasks.build import build_task

CROPS = sorted((Path(__file__).parents[3] / "data").glob("*-crop256.png"))


def load(path: Path) -> DecodedImage:
    return decode(path.read_bytes(), path.name)


def as_image(pixels: np.ndarray, like: DecodedImage) -> DecodedImage:
    return decode(encode(pixels, like.info), "degraded.png")


def psnr(reference: np.ndarray, estimate: np.ndarray) -> float:
    return reconstruction_error(reference, estimate)[1]


def to_uint8(image: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(image), 0, 255).astype(np.uint8)


def test_the_crops_are_there() -> None:
    assert [p.name for p in CROPS] == ["kodim04-crop256.png", "kodim23-crop256.png"]


@pytest.mark.parametrize("path", CROPS, ids=lambda p: p.stem)
def test_the_int8_denoiser_stays_within_a_fraction_of_a_db_of_its_float_model(path: Path) -> None:
    """Measured on CBSD68: 0.06 dB (σ 25) to 0.11 dB (σ 15) behind the float model."""
    clean = load(path)
    noisy = as_image(noisy_file(clean.pixels, 25, np.random.default_rng(0)), clean)
    psnrs = [
        psnr(
            clean.pixels,
            build_task(TaskOptions(task="denoise", model=name, noise_level=25)).apply(noisy).pixels,
        )
        for name in ("denoise-unet-s", "denoise-unet-s-int8")
    ]
    assert psnrs[1] > psnrs[0] - 0.25, psnrs


@pytest.mark.parametrize("int8", [False, True], ids=["float", "int8"])
@pytest.mark.parametrize("scale", [2, 4])
@pytest.mark.parametrize("path", CROPS, ids=lambda p: p.stem)
def test_superres_beats_bicubic(path: Path, scale: int, int8: bool) -> None:
    """Measured gains over bicubic: 2.1-3.0 dB at x2, 1.4-1.8 dB at x4 (the int8 copies are
    0.02-0.03 dB behind on Set5 and Set14)."""
    clean = load(path)
    low = to_uint8(imresize(clean.pixels.astype(np.float64), 1 / scale))
    bicubic = to_uint8(imresize(low.astype(np.float64), scale))
    model = f"sr-x{scale}-srnet-int8" if int8 else None
    task = build_task(TaskOptions(task="superres", scale=scale, model=model))
    restored = task.apply(as_image(low, clean)).pixels
    assert psnr(clean.pixels, restored) > psnr(clean.pixels, bicubic) + 1.0


@pytest.mark.parametrize("path", CROPS, ids=lambda p: p.stem)
def test_unwatermark_improves_images_marked_in_an_unseen_style(path: Path) -> None:
    """Three held-out marks per crop; measured mean gain +15.7 dB (kodim04) and +12.1 dB
    (kodim23) with the guided remover's pixels refit as a flat overlay, guided by the
    denoiser (+14.6 and +11.6 without it; +4.0 and +4.6 dB as the network gives them), 6 of
    6 marks improved."""
    clean = load(path)
    task = build_task(TaskOptions(task="unwatermark"))
    gains = []
    for seed in range(3):
        marked, _ = add_watermark(clean.pixels / 255.0, np.random.default_rng(seed), HELDOUT_STYLE)
        marked_pixels = to_uint8(marked * 255)
        restored = task.apply(as_image(marked_pixels, clean)).pixels
        gains.append(psnr(clean.pixels, restored) - psnr(clean.pixels, marked_pixels))
    assert np.mean(gains) > 6.0 and min(gains) > 0, gains


def test_the_shipped_remover_refits_with_its_companion_denoiser() -> None:
    """The zoo pairs the remover with the shipped denoiser, which guides the refit on rims;
    it counts in the outputs' provenance, and without the refit it is not loaded."""
    from aepipe.runtime.model.zoo import find_model

    refit = build_task(TaskOptions(task="unwatermark"))
    assert refit.refit_denoiser is not None
    assert refit.refit_denoiser.sha256 == find_model("denoise-unet-s", "denoise").expected_sha256
    unguided = replace(refit, refit_denoiser=None)
    assert refit.provenance["aepipe-params"] != unguided.provenance["aepipe-params"]
    assert build_task(TaskOptions(task="unwatermark", overlay_refit=False)).refit_denoiser is None


STILL_TOUCHED = pytest.mark.xfail(
    strict=True,
    reason="a false alarm left after issue 17: the detector keeps two regions (283 and 92 px, "
    "mean probability 0.89 and 0.93 over its four views) on this Lanczos-downscaled sample; "
    "the remover repaints them (37.8 dB against the input)",
)


@pytest.mark.parametrize(
    "name",
    ["kodim03.png", "kodim04.png", "kodim15.png", pytest.param("kodim23.png", marks=STILL_TOUCHED)],
)
def test_unwatermark_leaves_an_unmarked_photo_alone(name: str) -> None:
    """The demo's samples carry no mark and are Lanczos-downscaled, a rendition that made
    the detector fire (it masked 5-12 % of kodim03 and kodim23 with one view). Averaged over
    its four views it leaves three of the four bit for bit; kodim23 is the defect pinned,
    strict, so a fix shows up here."""
    clean = load(SAMPLES / name)
    output = build_task(TaskOptions(task="unwatermark")).apply(clean)
    assert np.array_equal(output.pixels, clean.pixels)
    assert output.fields["mark_detected"] is False
