"""``--task inpaint``: holes from the image's alpha or the segmenter, filled from around them,
every other pixel unchanged."""

import numpy as np
import pytest
from imagefactory import save
from modelfactory import grey_filler, photo_like, white_mark_segmenter

from aepipe.images import decode
from aepipe.images.fill import inpaint_classical
from aepipe.runtime.model.card import ModelCard
from aepipe.runtime.options import TaskOptions
from aepipe.runtime.tasks.build import build_task


@pytest.fixture(scope="module")
def segmenter(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("inpaint") / "white.onnx"
    return str(white_mark_segmenter(path, ModelCard(name="white", task="segment", tile=64)))


def photo() -> np.ndarray:
    return (photo_like(np.random.default_rng(0), 80, 120) * 0.8).astype(np.uint8)


@pytest.mark.parametrize("fill", ["ns", "telea"])
def test_transparent_pixels_are_filled_and_the_output_is_opaque(fill):
    pixels = photo()
    alpha = np.full(pixels.shape[:2], 255, np.uint8)
    alpha[30:36, 10:90] = 0
    hole = alpha == 0
    marked = pixels.copy()
    marked[hole] = 255  # whatever hides under the hole
    task = build_task(TaskOptions(task="inpaint", fill=fill, detector="none"))
    output = task.apply(decode(save(np.dstack([marked, alpha])), "a.png"))
    assert output.alpha is None
    assert np.array_equal(output.pixels[~hole], pixels[~hole])
    error = np.abs(output.pixels[hole].astype(int) - pixels[hole]).mean()
    assert error < 8, error  # smooth surroundings: the fill is close to what was there
    assert output.fields == {"mask_source": "alpha", "mask_area": pytest.approx(hole.mean()),
                             "filled": True}  # fmt: skip


def test_without_alpha_the_segmenter_says_where_the_holes_are(segmenter):
    pixels = photo()
    marked = pixels.copy()
    marked[40:46, 20:100] = 255
    task = build_task(TaskOptions(task="inpaint", detector=segmenter))
    output = task.apply(decode(save(marked), "m.png"))
    assert output.fields["mask_source"] == "detector" and output.fields["filled"] is True
    assert np.abs(output.pixels[40:46, 20:100].astype(int) - pixels[40:46, 20:100]).mean() < 8
    assert np.array_equal(output.pixels[:30], marked[:30])


def test_an_image_without_holes_comes_back_unchanged(segmenter):
    pixels = photo()
    for detector in (segmenter, "none"):
        output = build_task(TaskOptions(task="inpaint", detector=detector)).apply(
            decode(save(pixels), "p.png")
        )
        assert np.array_equal(output.pixels, pixels) and output.fields["filled"] is False


def test_sixteen_bit_images_are_filled_per_channel():
    pixels = photo().astype(np.uint16) * 257
    hole = np.zeros(pixels.shape[:2], bool)
    hole[20:24, 30:60] = True
    marked = pixels.copy()
    marked[hole] = 65535
    filled = inpaint_classical(marked, hole, "ns")
    assert filled.dtype == np.uint16 and np.array_equal(filled[~hole], pixels[~hole])
    assert np.abs(filled[hole].astype(int) - pixels[hole]).mean() < 8 * 257


def test_an_inpainting_network_fills_the_hole_and_nothing_else(tmp_path):
    card = ModelCard(name="grey", task="inpaint", in_channels=4, tile=48, tile_overlap=8)
    model = str(grey_filler(tmp_path / "grey.onnx", card))
    pixels = photo()
    alpha = np.full(pixels.shape[:2], 255, np.uint8)
    alpha[10:50, 30:33] = 0
    hole = alpha == 0
    task = build_task(TaskOptions(task="inpaint", fill="model", model=model, detector="none"))
    output = task.apply(decode(save(np.dstack([pixels, alpha])), "a.png"))
    assert np.array_equal(output.pixels[~hole], pixels[~hole])
    assert np.all(np.abs(output.pixels[hole].astype(int) - 128) <= 1)
    classical = build_task(TaskOptions(task="inpaint", detector="none"))
    assert task.provenance != classical.provenance
    gray = decode(save(np.dstack([pixels[..., 0], alpha])), "g.png")  # LA: gray with alpha
    assert task.apply(gray).pixels.shape == (*pixels.shape[:2], 1)
