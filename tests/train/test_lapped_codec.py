"""The lapped codec: it starts as block PCA, trains, and its ONNX halves with integer tables
decode what torch decodes, at the rate its likelihoods predict."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from imagefactory import save
from test_families import assert_learns, smooth_images, train

from aepipe.images import decode
from aepipe.runtime.codec.learned import load_codec
from aepipe.training.data import load_rgb_images, split_holdout
from aepipe.training.export import save_weights
from aepipe.training.export_codec import main as export_codec_main
from aepipe.training.networks import create_model
from aepipe.training.networks.lapped_codec import LAMBDAS, LappedCompressor
from aepipe.training.train import TrainConfig, Trainer

pytestmark = pytest.mark.train

SAMPLES = Path(__file__).resolve().parents[2] / "aepipe" / "samples"


#: What training writes beside the weights, for the export commands.
CHECKPOINT_CONFIG = {
    "model": "aec-lapped-s",
    "model_args": '{"latent": 48, "filter_channels": 8}',
    "task": "reconstruct",
    "data": "samples",
    "steps": 0,
    "step": 0,
    "batch": 1,
    "patch": 64,
    "lr": 0,
    "seed": 0,
}


@pytest.fixture(scope="module")
def photos() -> list[np.ndarray]:
    return [decode(p.read_bytes(), p.name).pixels for p in sorted(SAMPLES.glob("*.png"))]


@pytest.fixture(scope="module")
def initialised(photos) -> LappedCompressor:
    torch.manual_seed(0)
    model = create_model("aec-lapped-s", latent=48, filter_channels=8)
    assert isinstance(model, LappedCompressor)
    model.initialise_from(photos[:3])
    return model.eval()


def as_tensor(pixels: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(pixels.astype(np.float32) / 255).permute(2, 0, 1)[None]


def test_at_step_zero_the_codec_is_block_pca(initialised, photos) -> None:
    """Unrounded round trip = projection of each 16x16 block on the leading components: a
    held-out photo comes back as well as 48 of 768 components allow, and the filter is off."""
    x = as_tensor(photos[3][:128, :192])
    with torch.no_grad():
        y = initialised.g_a(x)
        linear = initialised.g_s_linear(y)
        assert torch.equal(initialised.g_s(y), linear)
        psnr = -10 * math.log10(torch.mean((linear.clamp(0, 1) - x) ** 2).item())
        assert psnr > 24
        again = initialised.g_a(linear)  # a projection: applying it twice changes nothing
    assert torch.allclose(again, y, atol=1e-3)


def test_the_entropy_model_starts_fitted_to_the_pca_latents(initialised, photos) -> None:
    """Validation bits at step 0 are close to what the integer tables spend: the learned scales
    and class tables start where counting them on the training blocks puts them."""
    x = as_tensor(photos[3][:128, :192])
    metrics = initialised.validation_metrics({"x": x}, x)
    bpps = [metrics[f"val_bpp_{rate}"] for rate in range(5)]
    assert bpps == sorted(bpps) and 0.05 < bpps[0] < bpps[-1] < 4


def test_a_few_steps_lower_the_rate_distortion_loss(photos) -> None:
    torch.manual_seed(0)
    model = create_model("aec-lapped-s", latent=24, filter_channels=8)
    model.initialise_from(photos[:2])
    assert_learns(train(model, smooth_images(4, 64, 64), steps=20))


def test_exported_codec_codes_at_the_predicted_rate_and_decodes_what_torch_decodes(
    initialised, photos, tmp_path: Path
) -> None:
    """Through ``aepipe export-codec``, from a weights-only checkpoint as training leaves one."""
    save_weights(initialised, CHECKPOINT_CONFIG, tmp_path / "init.pt")
    zoo = str(tmp_path)
    export_codec_main(
        [str(tmp_path / "init.pt"), "--name", "aec-lapped-test", "--zoo", zoo, "--weights", zoo]
    )
    codec = load_codec(str(tmp_path / "aec-lapped-test.encoder.onnx"))
    image = decode(save(photos[3][:96, :160]), "photo.png")
    x = as_tensor(image.pixels)
    for rate in (0, 4):
        data = codec.compress(image, rate)
        decoded = codec.decompress(data).pixels.astype(np.float64)
        with torch.no_grad():
            gain, inverse = initialised.gains(rate)
            scaled = initialised.g_a(x) * gain
            rounded = torch.round(scaled)
            predicted = initialised.bits(scaled, rounded, rate).item()
            x_hat = initialised.g_s(rounded * inverse)[0].permute(1, 2, 0).clamp(0, 1)
        expected = (x_hat.numpy() * 255).round()
        assert np.mean(np.abs(decoded - expected) > 1) < 1e-3
        coded_bits = 8 * len(data)
        assert coded_bits < predicted * 1.05 + 8 * 120, (rate, coded_bits, predicted)  # + header


def test_exported_with_a_class_context_it_decodes_the_same_pixels(
    initialised, photos, tmp_path: Path
) -> None:
    """``--class-context-data``: checkerboard class tables counted on the images given (format
    3); the latents, and so the decoded pixels, are the format-2 export's. (Whether it saves
    bits depends on fitting them on many images: docs/quality.md measures it on Kodak24.)"""
    save_weights(initialised, CHECKPOINT_CONFIG, tmp_path / "w.pt")
    fit = tmp_path / "fit"
    fit.mkdir()
    for i, pixels in enumerate(photos[:3]):
        (fit / f"{i}.png").write_bytes(save(pixels))
    zoo, common = str(tmp_path), ["--zoo", str(tmp_path), "--weights", str(tmp_path)]
    export_codec_main([str(tmp_path / "w.pt"), "--name", "plain", *common])
    export_codec_main(
        [str(tmp_path / "w.pt"), "--name", "ctx", "--class-context-data", str(fit), *common]
    )
    plain, context = (load_codec(f"{zoo}/{name}.encoder.onnx") for name in ("plain", "ctx"))
    assert context.entropy.class_context == "checkerboard"  # type: ignore[attr-defined]
    image = decode(save(photos[3]), "photo.png")
    for rate in (0, 4):
        with_context, without = context.compress(image, rate), plain.compress(image, rate)
        np.testing.assert_array_equal(
            context.decompress(with_context).pixels, plain.decompress(without).pixels
        )
        assert with_context != without


def test_the_trainer_starts_a_new_run_from_the_training_images(tmp_path: Path) -> None:
    """A fresh run of a network that has ``initialise_from`` begins at what it computes from
    the run's own training images (not the held-out ones); a resumed run keeps its weights."""
    config = TrainConfig(
        model="aec-lapped-s",
        model_args='{"latent": 24, "filter_channels": 8}',
        task="reconstruct",
        data=str(SAMPLES),
        out=str(tmp_path / "run"),
        steps=1,
        batch=2,
        patch=32,
        holdout=1,
        val_every=1,
    )
    trainer = Trainer(config)
    expected = create_model("aec-lapped-s", latent=24, filter_channels=8)
    expected.initialise_from(split_holdout(load_rgb_images(str(SAMPLES)), 1)[0])
    assert torch.allclose(trainer.model.g_a.weight, expected.g_a.weight)
    trainer.run()
    trained = trainer.model.g_a.weight.detach().clone()
    assert not torch.allclose(trained, expected.g_a.weight)
    assert torch.equal(Trainer(config).model.g_a.weight, trained)  # resumed, not re-fitted


def test_trained_for_ms_ssim_its_loss_is_rate_plus_lambda_times_one_minus_ms_ssim(photos) -> None:
    """The MS-SSIM codec draws λ from its own ladder, starts its quantiser steps where the
    MSE codec's same rate points are, and learns."""
    torch.manual_seed(0)
    mse = create_model("aec-lapped-s", latent=24, filter_channels=8)
    model = create_model("aec-lapped-s", latent=24, filter_channels=8, distortion="ms-ssim")
    assert isinstance(model, LappedCompressor)
    assert model.lambdas == LAMBDAS["ms-ssim"] != mse.lambdas
    assert torch.allclose(model.log_gain, mse.log_gain, atol=0.05)
    model.initialise_from(photos[:2])
    history = train(model, smooth_images(4, 64, 64), steps=20)
    assert_learns(history)
    assert all(0 < row["ms_ssim"] <= 1 for row in history)
    x = as_tensor(photos[3][:64, :64])
    assert "val_ms_ssim_4" in model.validation_metrics({"x": x}, x)
