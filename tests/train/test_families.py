"""Every registered autoencoder family trains, exports to ONNX with dynamic shapes, and matches.

The exports (~5-10 s each with dynamo on 2 cores) are marked ``slow`` but run by default.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from PIL import Image
from torch import nn

from aepipe.runtime.model.card import PART_METADATA_KEY, ModelCard
from aepipe.training.export import (
    PARITY_TOLERANCE,
    export_onnx,
    export_parts,
    thumbnail_code_shape,
)
from aepipe.training.networks import MODELS, create_model
from aepipe.training.networks.contractive import jacobian_frobenius_estimate
from aepipe.training.networks.losses import training_loss
from aepipe.training.networks.vqvae import code_usage
from aepipe.training.train import TrainConfig, Trainer, cosine_lr

pytestmark = pytest.mark.train

AUTOENCODERS = sorted(name for name in MODELS if name.startswith("ae-"))
TWO_PART = ["ae-undercomplete", "ae-vae", "ae-vqvae"]


def smooth_images(n: int, height: int, width: int, seed: int = 0) -> torch.Tensor:
    """N x 3 x H x W in [0, 1]: sums of random low-frequency waves, learnable in a few steps."""
    generator = torch.Generator().manual_seed(seed)
    yy, xx = torch.meshgrid(
        torch.linspace(0, 1, height), torch.linspace(0, 1, width), indexing="ij"
    )
    freq = 4 * math.pi * torch.rand(3, n, 3, 2, 1, 1, generator=generator)
    phase = 2 * math.pi * torch.rand(3, n, 3, 1, 1, generator=generator)
    waves = torch.sin(freq[..., 0, :, :] * yy + freq[..., 1, :, :] * xx + phase)
    return (0.5 + waves.sum(dim=0) / 6).clamp(0, 1)


@pytest.fixture(scope="module")
def batch() -> torch.Tensor:
    return smooth_images(4, 32, 32)


def card(name: str, model: nn.Module) -> ModelCard:
    return ModelCard(
        name=name,
        task="reconstruct",
        architecture=name,
        pad_multiple=model.pad_multiple,
        in_channels=model.in_channels,
    )


def train(model: nn.Module, batch: torch.Tensor, steps: int = 15) -> list[dict[str, float]]:
    """Adam steps on one fixed batch; each row is the loss and the model's logged terms."""
    torch.manual_seed(0)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    model.train()
    history = []
    for _ in range(steps):
        loss, terms = training_loss(model, {"x": batch}, batch)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        history.append({"loss": loss.item(), **terms})
    return history


def assert_learns(history: list[dict[str, float]]) -> None:
    losses = [row["loss"] for row in history]
    assert all(math.isfinite(loss) for loss in losses)
    assert np.mean(losses[-3:]) < np.mean(losses[:3]), losses


def test_every_family_is_registered() -> None:
    expected = {"contractive", "denoising", "sparse", "undercomplete", "vae", "vqvae"}
    assert set(AUTOENCODERS) == {f"ae-{family}" for family in expected}


@pytest.mark.parametrize("name", AUTOENCODERS)
def test_a_few_steps_lower_the_loss(name: str, batch: torch.Tensor) -> None:
    before = batch.clone()
    torch.manual_seed(0)
    assert_learns(train(create_model(name), batch))
    assert torch.equal(batch, before), "training_loss must not modify its input"


def test_models_without_their_own_loss_keep_l1_reconstruction() -> None:
    torch.manual_seed(0)
    unet = create_model("denoise-unet-s")
    inputs = {"x": smooth_images(1, 16, 16), "noise_level": torch.full((1, 1, 1, 1), 0.1)}
    target = smooth_images(1, 16, 16, seed=1)
    loss, terms = training_loss(unet, inputs, target)
    assert terms == {}
    assert torch.equal(loss, nn.functional.l1_loss(unet(**inputs), target))


@pytest.mark.parametrize(
    ("name", "options"),
    [("ae-denoising", {"corruption": "gaussian", "level": 0.1}), ("ae-sparse", {"penalty": "l1"})],
)
def test_non_default_objectives_learn(name: str, options: dict, batch: torch.Tensor) -> None:
    torch.manual_seed(0)
    assert_learns(train(create_model(name, **options), batch))


def test_sparse_reports_mean_code_activation(batch: torch.Tensor) -> None:
    torch.manual_seed(0)
    history = train(create_model("ae-sparse"), batch, steps=3)
    assert all(0 < row["mean_activation"] < 1 for row in history)


def test_hutchinson_estimate_matches_the_exact_jacobian_norm() -> None:
    """Mean over probes of (J v)² per code value ≈ ‖J‖²_F / code size, on a tiny image."""
    torch.manual_seed(0)
    encoder = create_model("ae-contractive").g_a
    x = smooth_images(1, 8, 8)
    exact = torch.autograd.functional.jacobian(encoder, x).pow(2).sum() / encoder(x).numel()
    with torch.no_grad():  # 256 probes at once: the encoder treats each copy independently
        estimate = jacobian_frobenius_estimate(encoder, x.repeat(256, 1, 1, 1))[1]
    assert estimate.item() == pytest.approx(exact.item(), rel=0.1)


def test_vae_samples_images_from_the_prior() -> None:
    torch.manual_seed(0)
    model = create_model("ae-vae")
    images = model.sample(2, 16, 24, generator=torch.Generator().manual_seed(0))
    assert images.shape == (2, 3, 16, 24)
    assert images.min() >= 0 and images.max() <= 1
    with pytest.raises(ValueError, match="multiple of 4"):
        model.sample(1, 18, 24)


def test_vqvae_code_usage_stays_in_range_and_avoids_collapse(batch: torch.Tensor) -> None:
    torch.manual_seed(0)
    model = create_model("ae-vqvae")
    history = train(model, batch)
    num_codes = model.quantizer.num_codes
    for row in history:
        assert 0 < row["codes_used"] <= 1
        assert 1 <= row["perplexity"] <= row["codes_used"] * num_codes + 1e-3
    assert history[-1]["perplexity"] > 8, "dead-code restarts keep many codes in use"


def test_code_usage_extremes() -> None:
    one = code_usage(torch.zeros(10, dtype=torch.long), 8)
    assert one == pytest.approx({"perplexity": 1.0, "codes_used": 1 / 8})
    assert code_usage(torch.arange(8), 8) == pytest.approx({"perplexity": 8.0, "codes_used": 1.0})


def test_vqvae_codebook_moves_only_in_training(batch: torch.Tensor) -> None:
    torch.manual_seed(0)
    model = create_model("ae-vqvae").eval()
    before = {k: v.clone() for k, v in model.quantizer.state_dict().items()}
    model(batch)
    model.training_loss({"x": batch}, batch)
    assert all(torch.equal(v, before[k]) for k, v in model.quantizer.state_dict().items())
    model.train().training_loss({"x": batch}, batch)
    assert not torch.equal(model.quantizer.codebook, before["codebook"])


@pytest.mark.slow
@pytest.mark.parametrize("name", AUTOENCODERS)
def test_whole_model_exports_with_dynamic_shapes(name: str, tmp_path) -> None:
    """export_onnx traces at 2 x 32 x 32 and proves parity at 3 x 20 x 28."""
    torch.manual_seed(0)
    model = create_model(name)
    result = export_onnx(model, card(name, model), tmp_path / f"{name}.onnx")
    assert result.max_abs_diff < PARITY_TOLERANCE


@pytest.mark.slow
@pytest.mark.parametrize("name", TWO_PART)
def test_encoder_and_decoder_export_separately(name: str, batch: torch.Tensor, tmp_path) -> None:
    torch.manual_seed(0)
    model = create_model(name)
    train(model, batch, steps=5)
    model_card = card(name, model)
    results = export_parts(model, model_card, tmp_path)
    assert all(r.max_abs_diff < PARITY_TOLERANCE for r in results.values())

    for part, result in results.items():
        metadata = {p.key: p.value for p in onnx.load(result.path).metadata_props}
        assert metadata[PART_METADATA_KEY] == part
        assert ModelCard.from_metadata(metadata) == model_card

    x = smooth_images(3, 12, 20, seed=1)
    encoder, decoder = (ort.InferenceSession(results[p].path) for p in ("encoder", "decoder"))
    code = encoder.run(None, {"x": x.numpy()})[0]
    x_hat = decoder.run(None, {decoder.get_inputs()[0].name: code})[0]
    with torch.no_grad():
        expected = model.eval()(x).numpy()
    assert np.max(np.abs(x_hat - expected)) < PARITY_TOLERANCE


@pytest.fixture
def image_folder(tmp_path) -> Path:
    data = tmp_path / "data"
    data.mkdir()
    for i, image in enumerate(smooth_images(10, 128, 128)):
        pixels = (image.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
        Image.fromarray(pixels).save(data / f"{i:02d}.png")
    return data


def small_run(data: Path, out: Path, **overrides: object) -> TrainConfig:
    settings: dict = {"steps": 4, "batch": 2, "patch": 32, "val_every": 2, **overrides}
    return TrainConfig(
        model="ae-denoising",
        task="reconstruct",
        data=str(data),
        out=str(out),
        threads=torch.get_num_threads(),
        **settings,
    )


def test_trainer_reconstruct_task_logs_terms_and_resumes_exactly(tmp_path, image_folder) -> None:
    """Loss terms reach the log; a stochastic loss resumes to the same weights as one run."""

    def config(out: str) -> TrainConfig:
        return small_run(image_folder, tmp_path / out)

    Trainer(config("straight")).run()
    interrupted = Trainer(config("resumed"))
    interrupted.train_step()
    interrupted.train_step()
    interrupted.save()
    resumed = Trainer(config("resumed"))
    resumed.run()

    straight = torch.load(tmp_path / "straight" / "last.pt", weights_only=True)["model"]
    assert all(torch.equal(straight[k], v) for k, v in resumed.model.state_dict().items())
    rows = [json.loads(line) for line in (tmp_path / "straight" / "log.jsonl").open()]
    assert [row["step"] for row in rows] == [2, 4]
    assert {"loss", "reconstruction_l1", "val_psnr"} <= set(rows[-1])


def test_a_time_budget_ends_the_run_and_its_schedule(tmp_path, image_folder) -> None:
    """``--minutes``: training stops when the budget is spent, well before the step cap."""
    trainer = Trainer(small_run(image_folder, tmp_path / "timed", steps=10**6, minutes=0.01))
    trainer.run()
    assert 0 < trainer.step < 10**6
    assert trainer.progress() >= 1
    assert cosine_lr(trainer.config, trainer.progress()) == pytest.approx(trainer.config.min_lr)
    saved = torch.load(trainer.checkpoint_path, weights_only=True)
    assert saved["step"] == trainer.step and saved["seconds"] >= 0.6


def test_cosine_schedule_warms_up_then_decays() -> None:
    config = TrainConfig(model="m", task="t", data="d", out="o", steps=1000, lr=1e-3)
    rates = [cosine_lr(config, p) for p in (0.0, 0.005, 0.01, 0.5, 1.0)]
    assert rates[0] < rates[1] < rates[2] == pytest.approx(1e-3)
    assert rates[3] == pytest.approx((1e-3 + config.min_lr) / 2, rel=0.02)
    assert rates[4] == pytest.approx(config.min_lr)


def test_a_run_of_under_a_hundred_steps_never_exceeds_the_peak_rate() -> None:
    """The warm-up's first step is 1/steps of the schedule; with 6 steps that is over its 1 %."""
    config = TrainConfig(model="m", task="t", data="d", out="o", steps=6, lr=1e-3)
    assert cosine_lr(config, 0.0) == pytest.approx(1e-3)


@pytest.mark.parametrize("name", ["ae-undercomplete", "ae-vae"])
def test_a_windowed_code_is_one_vector_at_the_thumbnail_size(name: str, tmp_path) -> None:
    """window 4 on a 4 x 4 last map: a 16 px thumbnail has one code vector, like PCA's, and
    the model stays fully convolutional (it exports with dynamic sizes)."""
    torch.manual_seed(0)
    size = {"code_channels": 6} if name == "ae-undercomplete" else {"latent_channels": 6}
    model = create_model(name, widths=[8, 16], window=4, **size).eval()
    assert thumbnail_code_shape(model, 16) == (6, 1, 1)
    with torch.no_grad():
        assert model(torch.rand(2, 3, 16, 16)).shape == (2, 3, 16, 16)
        assert model(torch.rand(1, 3, 24, 20)).shape == (1, 3, 24, 20)  # a 3 x 2 code map
    results = export_parts(model, card(name, model), tmp_path)
    assert all(r.max_abs_diff < PARITY_TOLERANCE for r in results.values())
