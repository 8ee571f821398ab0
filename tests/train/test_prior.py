"""The VQ-VAE's code prior: causal, learns a sequence, and joins its model's zoo entry so that
``aepipe generate`` samples through it."""

import json

import numpy as np
import torch

from aepipe.runtime.generation.samplers import CodeSampler, generators, load_sampler
from aepipe.runtime.model.card import ModelCard
from aepipe.training.export import export_parts, update_manifest
from aepipe.training.networks.prior import CodePrior
from aepipe.training.networks.vqvae import VQVAE
from aepipe.training.prior import export_prior, frequencies


def test_a_position_sees_only_the_codes_before_it() -> None:
    torch.manual_seed(0)
    prior = CodePrior(num_codes=8, length=10, width=16, depth=2, heads=2).eval()
    codes = torch.randint(8, (1, 10))
    changed = codes.clone()
    changed[0, 6:] = (changed[0, 6:] + 1) % 8
    with torch.no_grad():
        before, after = prior(prior.tokens(codes)), prior(prior.tokens(changed))
    assert torch.allclose(before[0, :7], after[0, :7], atol=1e-6)  # position 6 sees codes < 6
    assert not torch.allclose(before[0, 7:], after[0, 7:])


def test_it_learns_which_code_follows_which() -> None:
    torch.manual_seed(0)
    prior = CodePrior(num_codes=6, length=12, width=32, depth=1, heads=2)
    offsets = torch.randint(6, (64, 1))
    codes = (offsets + torch.arange(12)) % 6  # each map counts up from a random code
    optimizer = torch.optim.AdamW(prior.parameters(), lr=3e-3)
    for _ in range(150):
        loss = prior.loss(codes)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    # only the first code is uncertain (log 6 nats, once in 12 positions)
    assert prior.loss(codes).item() < 1.2 * np.log(6) / 12


def test_the_exported_prior_drives_the_runtime_sampler(tmp_path) -> None:
    torch.manual_seed(0)
    vqvae = VQVAE(widths=(8,), num_codes=16, code_dim=4).eval()
    card = ModelCard(name="tiny-vq", task="generate", architecture="ae-vqvae", thumbnail=8,
                     pad_multiple=2, code_shape=(4, 4))  # fmt: skip
    update_manifest(tmp_path, card, export_parts(vqvae, card, tmp_path), default=False)
    prior = CodePrior(num_codes=16, length=16, width=16, depth=1, heads=2)
    freq = frequencies(torch.randint(16, (50, 16)), 16)
    export_prior(prior, freq, "tiny-vq", tmp_path)
    entry = json.loads((tmp_path / "manifest.json").read_text())["models"][0]
    assert set(entry["parts"]) == {"encoder", "decoder", "prior"}
    sampler = load_sampler(str(tmp_path / "tiny-vq.decoder.onnx"))
    assert isinstance(sampler, CodeSampler)
    np.testing.assert_allclose(sampler.frequencies, freq.numpy(), rtol=1e-6)
    images = sampler.draw(generators(0, [0, 1]))
    assert images.shape == (2, 8, 8, 3) and images.dtype == np.uint8
