"""``aepipe eval --task generate``: Fréchet distance in an embedding's feature space and the
nearest training thumbnail, for each generative model and for the held-out photos."""

import numpy as np
import pytest
from imagefactory import save
from modelfactory import block_mean_embedder, counting_code_model, gaussian_decoder, photo_like

from aepipe.runtime.model.card import ModelCard
from aepipe.tools.evaluation import generate
from aepipe.tools.evaluation.generate import (
    GenerateEvalConfig,
    frechet_distance,
    nearest_rmse,
    run_generate_eval,
)


def test_frechet_distance_of_gaussians_is_their_closed_form():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(20_000, 3))
    assert frechet_distance(a, a) == pytest.approx(0, abs=1e-9)
    shifted = rng.normal(size=(20_000, 3)) * 2 + [1, 0, 0]
    # |μ|² + Σ (1 + 4 − 2·2) = 1 + 3
    assert frechet_distance(a, shifted) == pytest.approx(4.0, rel=0.03)


def test_the_nearest_training_thumbnail_finds_copies():
    rng = np.random.default_rng(1)
    training = rng.random((50, 4, 4, 3), dtype=np.float32)
    images = np.concatenate([training[[3, 7]], training[[0]] + 0.1])
    np.testing.assert_allclose(nearest_rmse(images, training), [0, 0, 0.1], atol=1e-3)


def test_every_model_and_sampling_gets_a_row_beside_the_photos(tmp_path, monkeypatch):
    monkeypatch.setattr(generate, "FIT_THUMBNAILS", 60)
    rng = np.random.default_rng(2)
    for folder in ("test", "fit"):
        (tmp_path / folder).mkdir()
        for i in range(5):
            (tmp_path / folder / f"{i}.png").write_bytes(save(photo_like(rng, 48, 64)))
    card = ModelCard(
        name="gen", task="generate", thumbnail=16, pad_multiple=4, code_shape=(4, 4, 4)
    )
    vae = gaussian_decoder(tmp_path / "vae.decoder.onnx", card)
    codes = ModelCard(name="vq", task="generate", thumbnail=16, pad_multiple=4, code_shape=(4, 4))
    vq = counting_code_model(tmp_path / "vq", codes)
    features = block_mean_embedder(
        tmp_path / "feat", ModelCard(name="feat", task="embed", thumbnail=16), block=4
    )
    config = GenerateEvalConfig(
        tmp_path / "test", [str(vae), str(vq)], tmp_path / "fit", str(features), count=30,
        views=2,
    )  # fmt: skip
    report = run_generate_eval(config)
    assert [(r.model, r.sampling) for r in report.rows] == [
        ("held-out photos", "reference"),
        ("gen", "gaussian"),
        ("vq", "prior"),
        ("vq", "frequencies"),
    ]
    assert report.references == 15 and report.training_thumbnails == 60
    photos, *models = report.rows
    assert photos.nearest_ratio == 1.0 and photos.near_copies <= 0.1
    # flat-grey and sigmoid-blob images are far from photos: both figures say so
    assert all(r.frechet_distance > photos.frechet_distance for r in models)
    assert all(0 <= r.near_copies <= 1 and r.median_nearest_rmse > 0 for r in models)
    assert "| vq | prior |" in report.markdown()
