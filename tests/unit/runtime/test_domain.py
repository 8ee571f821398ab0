"""The trust check on a fixed-weight ONNX model: features, calibration, row fields, wiring."""

import tracemalloc
from dataclasses import replace

import numpy as np
import pytest
from imagefactory import save
from modelfactory import blur_autoencoder, photo_like

from aepipe.images import decode
from aepipe.runtime.anomaly.domain import DOMAIN_CHECK_TASK, DomainCheck, DomainScoring, image_views
from aepipe.runtime.model.card import ModelCard
from aepipe.runtime.model.zoo import load_model
from aepipe.runtime.options import TaskOptions
from aepipe.runtime.tasks.build import build_task
from aepipe.tools.evaluation.offdomain import offdomain_image
from aepipe.training.calibrate import calibrate_domain


def photos(count: int, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [
        photo_like(rng, int(rng.integers(96, 200)), int(rng.integers(96, 200)))
        for _ in range(count)
    ]


@pytest.fixture(scope="module")
def trust_model(tmp_path_factory) -> str:
    folder = tmp_path_factory.mktemp("trust")
    card = ModelCard(name="blur-trust", task=DOMAIN_CHECK_TASK, pad_multiple=4)
    path = blur_autoencoder(folder / "trust.onnx", card)
    scoring = calibrate_domain(path, card, photos(40, seed=0), photos(12, seed=1))
    return str(blur_autoencoder(path, replace(card, anomaly=scoring.to_dict())))


def test_views_are_small_whatever_the_image_size():
    big = np.zeros((1200, 900, 1), np.uint16)
    whole, detail = image_views(big, 128, 4)
    assert whole.shape == (168, 128, 3) and detail.shape == (128, 128, 3)
    assert whole.dtype == detail.dtype == np.float32


@pytest.mark.parametrize("dtype", ["uint8", "uint16"])
def test_views_of_a_big_image_never_copy_it_whole_in_float(dtype):
    """Peak memory of a run must not grow by a float copy of the image (4 bytes a sample):
    a 64-megapixel photo would add 768 MB and as much again in temporaries."""
    big = np.zeros((3000, 2000, 3), dtype)
    tracemalloc.start()
    image_views(big, 128, 4)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < big.size * 2.5  # an 8-bit copy (uint16 in) and bands: a float copy is 4x


def test_calibration_round_trips_and_photos_pass_while_far_inputs_are_flagged(trust_model):
    onnx_model, sha = load_model(trust_model, DOMAIN_CHECK_TASK)
    scoring = DomainScoring.from_dict(onnx_model.card.anomaly)
    assert DomainScoring.from_dict(scoring.to_dict()) == scoring
    trust = DomainCheck(onnx_model, sha, scoring)
    passed = [trust.fields(p)["out_of_domain"] for p in photos(10, seed=2)]
    assert sum(passed) <= 2
    rng = np.random.default_rng(0)
    far = [
        trust.fields(offdomain_image(k, rng, (160, 200)))["out_of_domain"]
        for k in ("text", "noise", "flat")
    ]
    assert all(far)


def test_denoise_rows_carry_the_check_named_by_the_option(trust_model):
    task = build_task(TaskOptions(task="denoise", noise_level=10.0, domain_check=trust_model))
    fields = task.apply(decode(save(photos(1, seed=3)[0]), "p.png")).fields
    assert set(fields) >= {"domain_score", "out_of_domain"}
    assert task.runtime.thresholds["domain_score"] > 0
    plain = build_task(TaskOptions(task="denoise", noise_level=10.0, domain_check="none"))
    assert "domain_score" not in plain.apply(decode(save(photos(1, seed=3)[0]), "p.png")).fields
