"""The anomaly task end to end on a fixed-weight ONNX model: calibration, scores, heatmaps."""

from dataclasses import replace

import numpy as np
import pytest
from imagefactory import save
from modelfactory import blur_autoencoder, photo_like
from PIL import Image

from aepipe.degrade.defects import add_defect
from aepipe.images import decode, to_float
from aepipe.images.filters import gaussian_blur
from aepipe.runtime.anomaly import scoring as scoring_module
from aepipe.runtime.anomaly.scoring import DEFAULT_FEATURES, AnomalyScoring, fit_scoring
from aepipe.runtime.model.card import ModelCard
from aepipe.runtime.options import ChunkOptions, TaskOptions
from aepipe.runtime.pipeline import process_chunk
from aepipe.runtime.reports import RowStatus
from aepipe.runtime.tasks.build import build_task
from aepipe.storage import open_storage
from aepipe.training.calibrate import calibrate_anomaly


def normals(count: int, seed: int = 0, size: int = 64) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [photo_like(rng, size, size) for _ in range(count)]


def with_defect(image: np.ndarray, kind: str, seed: int = 0) -> np.ndarray:
    defect = add_defect(to_float(image), np.random.default_rng(seed), kind, min_area=0.01)
    return np.rint(defect.image * 255).astype(np.uint8)


@pytest.fixture(scope="module")
def anomaly_model(tmp_path_factory) -> str:
    folder = tmp_path_factory.mktemp("model")
    card = ModelCard(name="blur-anomaly", task="anomaly", tile=64, tile_overlap=8)
    path = blur_autoencoder(folder / "blur.onnx", card)
    scoring = calibrate_anomaly(path, card, normals(4, seed=1))
    return str(blur_autoencoder(path, replace(card, anomaly=scoring.to_dict())))


def test_calibration_records_the_score_definition_and_a_threshold_from_left_out_images(
    anomaly_model,
):
    task = build_task(TaskOptions(task="anomaly", model=anomaly_model))
    scoring = task.scoring
    assert scoring.features == DEFAULT_FEATURES and scoring.calibrated
    assert scoring.detail_level[1] > 0  # missing_detail is measured against normal detail
    assert "leave one out" in scoring.threshold_rule and scoring.normal_scores["n"] == 4
    assert scoring.normal_scores["min"] <= scoring.threshold <= scoring.normal_scores["max"]
    assert AnomalyScoring.from_dict(scoring.to_dict()) == scoring


def test_defects_score_above_normal_images(anomaly_model):
    task = build_task(TaskOptions(task="anomaly", model=anomaly_model))
    scores = {}
    for name, pixels in [
        ("normal", normals(1, seed=9)[0]),
        ("blob", with_defect(normals(1, seed=9)[0], "blob")),
    ]:
        scores[name] = task.apply(decode(save(pixels), f"{name}.png")).fields["anomaly_score"]
    assert scores["blob"] > 2 * scores["normal"]


def test_band_by_band_maps_equal_the_whole_image_map(monkeypatch):
    images = normals(3, seed=4, size=80)
    pairs = [(to_float(x), to_float(x) * 0.98) for x in images]
    fitted = fit_scoring(pairs, AnomalyScoring())
    whole = fitted.distance_map(*pairs[0])
    monkeypatch.setattr(scoring_module, "BAND_ROWS", 7)
    np.testing.assert_allclose(fitted.distance_map(*pairs[0]), whole, rtol=1e-5, atol=1e-5)


def textured(seed: int, size: int = 64) -> np.ndarray:
    """A grainy float image of one stone-like colour: fine detail everywhere."""
    rng = np.random.default_rng(seed)
    grain = rng.normal(0, 0.06, (size, size, 1)) + gaussian_blur(
        rng.normal(0, 0.2, (size, size, 1)), 2
    )
    stone = np.array([0.6, 0.55, 0.5], np.float32) + grain
    return np.clip(stone, 0, 1).astype(np.float32)


def fitted_on_textures(features: tuple[str, ...]) -> AnomalyScoring:
    """Scoring fitted with a perfect reconstruction: only input-side features can see a defect."""
    return fit_scoring([(x, x) for x in map(textured, range(4))], AnomalyScoring(features))


def test_missing_detail_sees_a_smudge_that_a_perfect_reconstruction_hides():
    image = textured(11)
    smudged = image.copy()
    smudged[20:30, 20:30] = gaussian_blur(image, 4.0)[20:30, 20:30]
    sharper = np.clip(image + (image - gaussian_blur(image, 0.7)), 0, 1)  # more detail, not less
    without = fitted_on_textures(("residual_low", "residual_high"))
    scoring = fitted_on_textures(("residual_low", "residual_high", "missing_detail"))
    normal = scoring.score(scoring.distance_map(image, image))
    assert scoring.score(scoring.distance_map(smudged, smudged)) > 2 * normal
    blind = [without.score(without.distance_map(x, x)) for x in (image, smudged)]
    assert blind[1] <= blind[0] + 1e-6  # the residual alone cannot see it
    missing = [scoring_module.pixel_features(x, x, scoring)[..., -1] for x in (image, sharper)]
    assert missing[1].min() == 0.0 and missing[1].mean() < 0.5 * missing[0].mean()  # one-sided
    assert scoring.score(scoring.distance_map(sharper, sharper)) < 2 * normal


def test_colour_sees_a_tint_that_the_decoder_reproduces():
    image = textured(12)
    tinted = image.copy()
    tinted[20:30, 20:30] = image[20:30, 20:30] * np.array([1.0, 0.55, 0.3], np.float32)
    scoring = fitted_on_textures(("residual_low", "residual_high", "colour"))
    normal = scoring.score(scoring.distance_map(image, image))
    assert scoring.score(scoring.distance_map(tinted, tinted)) > 2 * normal


def test_cards_written_before_the_detail_level_existed_still_load():
    data = AnomalyScoring(("residual_low", "residual_high"), mean=(0.0,) * 4).to_dict()
    del data["detail_level"]
    assert AnomalyScoring.from_dict(data).detail_level == (0.0, 1.0)


def test_run_writes_heatmaps_and_rows_for_every_kind_of_input(tmp_path, anomaly_model):
    src, dst = tmp_path / "in", tmp_path / "out"
    src.mkdir()
    normal = normals(1, seed=7)[0]
    files = {
        "normal.png": save(normal),
        "defect.png": save(with_defect(normal, "missing")),
        "gray.png": save(normal[..., 0]),
        "deep.png": save(Image.fromarray(normal[..., 1].astype(np.uint16) * 257).convert("I;16")),
        "rgba.png": save(np.dstack([normal, np.full(normal.shape[:2], 200, np.uint8)])),
        "big.png": save(np.tile(normal, (3, 2, 1))),
        "broken.png": b"not an image",
    }
    for name, data in files.items():
        (src / name).write_bytes(data)
    task = build_task(TaskOptions(task="anomaly", model=anomaly_model))
    rows = process_chunk(
        sorted(files), open_storage(str(src)), open_storage(str(dst)), task, ChunkOptions()
    )
    by_key = {r.key: r for r in rows}
    assert by_key["broken.png"].status is RowStatus.ERROR
    for key in set(files) - {"broken.png"}:
        row = by_key[key]
        assert row.status is RowStatus.OK, row.error
        assert row.extra["anomaly_map_key"] == row.output_key == key[:-4] + ".anomaly.png"
        heat = decode((dst / row.output_key).read_bytes(), row.output_key)
        assert heat.pixels.shape == (row.height, row.width, 3) and heat.pixels.dtype == np.uint8
        assert isinstance(row.extra["anomalous"], bool) and row.psnr is not None
    assert by_key["defect.png"].extra["anomaly_score"] > by_key["normal.png"].extra["anomaly_score"]
    assert by_key["defect.png"].extra["anomalous"] and not by_key["normal.png"].extra["anomalous"]


def test_a_model_without_calibration_is_refused(tmp_path):
    from aepipe.errors import ModelError

    path = blur_autoencoder(tmp_path / "raw.onnx", ModelCard(name="raw", task="anomaly"))
    with pytest.raises(ModelError, match="no anomaly calibration"):
        build_task(TaskOptions(task="anomaly", model=str(path)))
