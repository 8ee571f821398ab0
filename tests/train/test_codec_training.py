"""The compressive autoencoder: it trains, its integer tables agree with its learned density,
and the shipped ONNX codec decodes what torch decodes."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from imagefactory import save
from test_families import assert_learns, smooth_images, train

from aepipe.images import decode
from aepipe.runtime.codec.entropy import encode_symbols
from aepipe.runtime.codec.learned import load_codec
from aepipe.training.export import load_checkpoint
from aepipe.training.export_codec import rate_tables
from aepipe.training.networks import create_model

pytestmark = pytest.mark.train

CHECKPOINT = Path(__file__).resolve().parents[2] / "checkpoints" / "aec-factorized-s.pt"
SAMPLE = Path(__file__).resolve().parents[2] / "aepipe" / "samples" / "kodim23.png"


@pytest.fixture(scope="module")
def shipped():
    model, _ = load_checkpoint(CHECKPOINT)
    return model.eval()


@pytest.fixture(scope="module")
def photo() -> torch.Tensor:
    pixels = decode(SAMPLE.read_bytes(), SAMPLE.name).pixels[:128, :192]
    return torch.from_numpy(pixels.astype(np.float32) / 255).permute(2, 0, 1)[None]


def test_a_few_steps_lower_the_rate_distortion_loss() -> None:
    torch.manual_seed(0)
    model = create_model("aec-factorized-s", channels=16, latent=16)
    assert_learns(train(model, smooth_images(4, 64, 64), steps=20))


def test_integer_tables_code_at_the_rate_the_density_predicts(shipped, photo) -> None:
    """Coded bits vs -Σ log2 P(symbol) of the learned density: the tables lose under 2%."""
    with torch.no_grad():
        y = shipped.g_a(photo)
        for rate in (0, len(shipped.lambdas) - 1):
            gain, _ = shipped.gains(rate)
            symbols = torch.round(y * gain)
            predicted = -torch.log2(shipped.likelihoods(symbols, gain)).sum().item()
            tables = rate_tables(shipped, rate)
            main, escapes = encode_symbols(symbols[0].numpy().astype(np.int32), tables)
            coded = 8 * (len(main) + len(escapes))
            assert coded <= predicted * 1.02 + 64, (rate, coded, predicted)


def test_onnx_codec_decodes_what_torch_decodes(shipped, photo) -> None:
    """Same symbols from ONNX and torch (ties at .5 aside), same pixels within 1 LSB."""
    codec = load_codec("aec-factorized-s")
    rate = len(codec.rates) - 1
    pixels = (photo[0].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    image = decode(save(pixels), "photo.png")
    decoded = codec.decompress(codec.compress(image, rate)).pixels.astype(np.float64)
    with torch.no_grad():
        gain, inverse = shipped.gains(rate)
        x = torch.from_numpy(image.pixels.astype(np.float32) / 255).permute(2, 0, 1)[None]
        x_hat = shipped.g_s(torch.round(shipped.g_a(x) * gain) * inverse)
    expected = (x_hat[0].permute(1, 2, 0).clamp(0, 1).numpy() * 255).round()
    mismatch = np.abs(decoded - expected)
    assert np.mean(mismatch > 1) < 1e-3, float(mismatch.max())
    psnr = 10 * math.log10(255**2 / np.mean((decoded - image.pixels) ** 2))
    assert psnr > 20
