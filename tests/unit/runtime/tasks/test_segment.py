"""Mark segmentation and the gated remover ("touch only what you detect") on fixed-weight ONNX
models: a segmenter that finds near-white pixels and a remover that blurs everything."""

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from imagefactory import save
from modelfactory import blur_autoencoder, grey_filler, photo_like, white_mark_segmenter

from aepipe.errors import ModelError
from aepipe.images import decode
from aepipe.images.overlay import refit_flat_overlay
from aepipe.runtime.ensemble import AS_IS, View
from aepipe.runtime.model.card import ModelCard
from aepipe.runtime.options import ChunkOptions, TaskOptions
from aepipe.runtime.tasks.base import PARAMS_METADATA
from aepipe.runtime.tasks.build import build_task
from aepipe.runtime.tasks.names import MASK_EXTENSION
from aepipe.runtime.tasks.segment import MaskRule, SegmentTask, confident_regions


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> tuple[str, str]:
    folder = tmp_path_factory.mktemp("segment")
    segmenter = white_mark_segmenter(
        folder / "white.onnx", ModelCard(name="white-marks", task="segment", tile=64)
    )
    remover = blur_autoencoder(
        folder / "blur.onnx", ModelCard(name="blur-remover", task="unwatermark", tile=64)
    )
    return str(segmenter), str(remover)


def marked(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A dim photo-like image (nothing near white) with a white bar: pixels and the bar's mask."""
    pixels = (photo_like(np.random.default_rng(seed), 90, 130) * 0.8).astype(np.uint8)
    mask = np.zeros(pixels.shape[:2], bool)
    mask[30:42, 20:100] = True
    pixels[mask] = 255
    return pixels, mask


def test_segment_masks_the_mark_and_reports_its_area(models):
    segmenter, _ = models
    task = build_task(TaskOptions(task="segment", model=segmenter))
    assert isinstance(task, SegmentTask)
    pixels, truth = marked()
    output = task.apply(decode(save(pixels), "a.png"))
    found = output.pixels[..., 0] == 255
    assert found[truth].all()  # the whole mark ...
    assert not found[~_grown(truth, 3)].any()  # ... and nothing far from it
    assert output.fields["mark_detected"] is True
    assert output.fields["mask_area"] == pytest.approx(found.mean(), abs=1e-6)
    assert output.fields["mask_confidence"] > 0.9
    assert task.output_extension(decode(save(pixels), "a.png").info, ChunkOptions()) == (
        MASK_EXTENSION
    )


def test_an_unmarked_image_gets_an_empty_mask(models):
    segmenter, _ = models
    task = build_task(TaskOptions(task="segment", model=segmenter))
    clean = (photo_like(np.random.default_rng(1), 90, 130) * 0.8).astype(np.uint8)
    output = task.apply(decode(save(clean), "b.png"))
    assert not output.pixels.any() and output.fields["mark_detected"] is False


@pytest.mark.parametrize("refit", [False, True], ids=["network", "overlay refit"])
def test_the_gated_remover_changes_only_masked_pixels(models, refit: bool):
    segmenter, remover = models
    options = TaskOptions(task="unwatermark", model=remover, detector=segmenter)
    task = build_task(replace(options, overlay_refit=refit))
    pixels, truth = marked()
    output = task.apply(decode(save(pixels), "a.png"))
    ungated = build_task(TaskOptions(task="unwatermark", model=remover, detector="none"))
    removed = ungated.apply(decode(save(pixels), "a.png")).pixels
    detected = task.detector.detect(pixels).mask
    assert np.array_equal(
        output.pixels[truth],
        (refit_flat_overlay(pixels, removed, detected) if refit else removed)[truth],
    )  # the remover's pixels, or their refit, on the mark
    changed = (output.pixels != pixels).any(axis=2)
    assert changed.any() and not changed[~_grown(truth, 3)].any()  # the input's elsewhere
    assert output.fields["mark_detected"] is True
    if refit:  # what it changed outside the mask: the doubtful regions it took
        assert output.fields["doubtful_area"] == round(float((changed & ~detected).mean()), 6)


def test_a_guided_remover_is_shown_the_mask_and_refuses_to_run_without_one(models, tmp_path: Path):
    segmenter, _ = models
    card = ModelCard(name="grey-guided", task="unwatermark", in_channels=4, tile=48)
    guided = str(grey_filler(tmp_path / "guided.onnx", card))
    options = TaskOptions(task="unwatermark", model=guided, detector=segmenter)
    task = build_task(replace(options, overlay_refit=False))  # the network's pixels
    pixels, truth = marked()
    output = task.apply(decode(save(pixels), "a.png")).pixels
    masked = (output != pixels).any(axis=2)
    assert masked[truth].all() and not masked[~_grown(truth, 3)].any()
    assert np.all(np.abs(output[masked].astype(int) - 128) <= 1)  # its fill, where it was told
    gray = task.apply(decode(save(pixels[..., 0]), "g.png")).pixels
    assert gray.shape == (*pixels.shape[:2], 1) and np.array_equal(gray[..., 0], output[..., 0])
    with pytest.raises(ModelError, match="grey-guided removes marks where a detector"):
        build_task(TaskOptions(task="unwatermark", model=guided, detector="none"))


def test_with_nothing_detected_the_output_is_the_input_and_the_row_says_so(models):
    segmenter, remover = models
    gated = build_task(TaskOptions(task="unwatermark", model=remover, detector=segmenter))
    clean = (photo_like(np.random.default_rng(1), 90, 130) * 0.8).astype(np.uint8)
    output = gated.apply(decode(save(clean), "clean.png"))
    assert np.array_equal(output.pixels, clean)
    assert output.fields == {"mark_detected": False, "mask_area": 0.0, "mask_confidence": 0.0}
    ungated = build_task(TaskOptions(task="unwatermark", model=remover, detector="none"))
    assert not np.array_equal(ungated.apply(decode(save(clean), "clean.png")).pixels, clean)


def test_gray_and_rgba_inputs_are_segmented_as_rgb_and_keep_their_alpha(models, tmp_path: Path):
    segmenter, remover = models
    pixels, truth = marked()
    gray = pixels.mean(axis=2, keepdims=True).astype(np.uint8)
    gray[truth] = 255
    mask = build_task(TaskOptions(task="segment", model=segmenter)).apply(
        decode(save(gray[..., 0]), "g.png")
    )
    assert (mask.pixels[..., 0] == 255)[truth].all()
    alpha = np.full((*pixels.shape[:2], 1), 200, np.uint8)
    rgba = decode(save(np.concatenate([pixels, alpha], axis=2)), "a.png")
    gated = build_task(TaskOptions(task="unwatermark", model=remover, detector=segmenter))
    output = gated.apply(rgba)
    assert np.array_equal(output.alpha, rgba.alpha)
    assert not (output.pixels != pixels).any(axis=2)[~_grown(truth, 3)].any()


def test_the_views_are_averaged_each_brought_back_to_the_image(models):
    """The mark sits off-centre: a view whose map came back mirrored or upside down would
    move it, and the average would no longer equal the one-view map."""
    segmenter, _ = models
    detector = build_task(TaskOptions(task="segment", model=segmenter)).detector
    pixels, truth = marked()
    assert len(detector.views) == 4
    one_view = replace(detector, views=(AS_IS,)).probability(pixels)
    assert one_view[truth].min() > 0.9
    np.testing.assert_allclose(detector.probability(pixels), one_view, atol=1e-6)
    blind = View("blind", np.zeros_like, lambda probability: probability)
    halved = replace(detector, views=(AS_IS, blind))
    np.testing.assert_allclose(halved.probability(pixels), one_view / 2, atol=1e-6)
    assert not halved.detect(pixels).detected  # a mark only one view of two is sure of


@pytest.mark.parametrize("task", ["segment", "unwatermark", "inpaint"])
def test_other_views_or_another_rule_are_another_result_for_the_skip(models, task: str):
    """Outputs carry their provenance and a later run skips matching ones: the detector's
    views and rule decide its masks as much as its weights do."""
    segmenter, remover = models
    options = {
        "segment": TaskOptions(task="segment", model=segmenter),
        "unwatermark": TaskOptions(task="unwatermark", model=remover, detector=segmenter),
        "inpaint": TaskOptions(task="inpaint", detector=segmenter),
    }[task]
    built = build_task(options)
    digests = {built.provenance[PARAMS_METADATA]}
    built.detector.views = (AS_IS,)
    digests.add(built.provenance[PARAMS_METADATA])
    built.detector.rule = MaskRule(min_pixels=32)
    digests.add(built.provenance[PARAMS_METADATA])
    assert len(digests) == 3
    if task == "unwatermark":  # and whether the remover's pixels are refit as an overlay
        unrefit = build_task(replace(options, overlay_refit=False))
        assert (
            unrefit.provenance[PARAMS_METADATA] != build_task(options).provenance[PARAMS_METADATA]
        )


def _grown(mask: np.ndarray, pixels: int) -> np.ndarray:
    """``mask`` dilated by a (2 * pixels + 1)² square."""
    grown = mask.copy()
    for axis in (0, 1):
        layer = grown.copy()
        for shift in range(1, pixels + 1):
            grown |= np.roll(layer, shift, axis) | np.roll(layer, -shift, axis)
    return grown


def test_only_large_and_confident_regions_count_as_marks():
    probability = np.zeros((40, 60), np.float32)
    probability[2:12, 2:12] = 0.97  # 100 pixels, confident: a mark
    probability[20:30, 2:12] = 0.6  # as large, unsure: a photo's own detail
    probability[2:6, 30:34] = 0.99  # confident but 16 pixels
    probability[20:30, 30:40] = 0.9  # one region with an unsure rim still counts ...
    probability[20:30, 40:41] = 0.55  # ... on its mean (0.87)
    kept = confident_regions(probability, MaskRule())
    assert kept[2:12, 2:12].all() and kept[20:30, 30:41].all()
    assert kept.sum() == 100 + 110
    assert not confident_regions(probability, MaskRule(min_confidence=0.95))[20:30, 30:41].any()


def test_unsure_pixels_and_refused_regions_beside_a_detected_mark_are_doubtful(models, monkeypatch):
    segmenter, _ = models
    detector = build_task(TaskOptions(task="segment", model=segmenter)).detector
    probability = np.zeros((40, 60), np.float32)
    probability[2:12, 2:12] = 0.97  # a mark
    probability[20:30, 2:12] = 0.4  # maybe a fainter copy of it
    probability[20:30, 30:40] = 0.2  # too unsure
    probability[2:12, 40:50] = 0.6  # over the threshold, but the rule turns it down
    monkeypatch.setattr(detector, "probability", lambda pixels: probability)
    found = detector.detect(np.zeros((40, 60, 3), np.uint8))
    doubtful, turned_down = found.doubts.pixels, found.doubts.turned_down
    assert doubtful[20:30, 2:12].all() and not (doubtful & found.mask).any()
    assert not doubtful[20:30, 30:40].any()
    assert np.array_equal(turned_down, probability == 0.6)  # ungrown: judged on its own
    assert found.doubts.rim == detector.rule.grow
    monkeypatch.setattr(detector, "probability", lambda pixels: probability.clip(0, 0.4))
    nothing = detector.detect(np.zeros((40, 60, 3), np.uint8)).doubts  # no mark
    assert not nothing.pixels.any() and not nothing.turned_down.any()


def test_a_line_along_the_border_is_no_mark():
    """A film scan's dark last row looks like a stroke to the segmenter: 3 px across is a line."""
    probability = np.zeros((40, 200), np.float32)
    probability[37:40, :] = 0.97  # 600 confident pixels, 3 px tall
    probability[10:14, 20:60] = 0.97  # 4 px tall: thin, but a mark may be
    kept = confident_regions(probability, MaskRule())
    assert not kept[37:].any()
    assert kept[10:14, 20:60].all()
