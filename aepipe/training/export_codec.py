"""Export a compressive autoencoder as an encoder/decoder ONNX pair with integer CDF tables.

    aepipe export-codec runs/aec/last.pt --name aec-factorized-s --default

writes ``NAME.encoder.onnx`` (x -> y, task ``compress``) and ``NAME.decoder.onnx`` (scaled
latents -> x_hat, task ``decompress``), both proved like every export (checker + parity on
another size), both carrying the card and the entropy model: per rate point its gains and
integer CDF tables. Tables are computed here, once, from the learned density; the runtime
never derives coding probabilities from floats, so every machine codes identical symbols.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from torch import nn

from aepipe.runtime.codec.entropy import EntropyTables
from aepipe.runtime.codec.learned import ENTROPY_METADATA_KEY
from aepipe.runtime.model.card import CARD_METADATA_KEY, PART_METADATA_KEY, ModelCard
from aepipe.training.export import (
    ExportResult,
    Inputs,
    add_export_arguments,
    card_for,
    export_verified,
    load_checkpoint,
    save_weights,
    update_manifest,
)
from aepipe.training.networks.compression import FactorizedCompressor

PART_TASKS = {"encoder": "compress", "decoder": "decompress"}
#: Symbol values searched for each channel's support, and the mass left to the escape symbol.
SEARCH_RADIUS = 2048
TAIL_MASS = 1e-7


class _Encoder(nn.Module):
    def __init__(self, g_a: nn.Module) -> None:
        super().__init__()
        self.g_a = g_a

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.g_a(x)


class _Decoder(nn.Module):
    def __init__(self, g_s: nn.Module) -> None:
        super().__init__()
        self.g_s = g_s

    def forward(self, latents: torch.Tensor) -> torch.Tensor:
        return self.g_s(latents)


@torch.no_grad()
def rate_tables(model: FactorizedCompressor, rate: int) -> EntropyTables:
    """Integer CDFs of round(y · gain[rate]) per channel, from the learned density of y."""
    gain = model.log_gain[rate].exp().double()
    channels = gain.shape[0]
    values = torch.arange(-SEARCH_RADIUS, SEARCH_RADIUS + 1, dtype=torch.float64)
    edges = (values - 0.5).unsqueeze(0).repeat(channels, 1) / gain.unsqueeze(1)
    upper = torch.cat([edges[:, 1:], edges[:, -1:] + 1 / gain.unsqueeze(1)], dim=1)
    probs = copy.deepcopy(model.density).double().bin_probability(edges, upper).numpy()
    pmfs, offsets = [], []
    for c in range(channels):
        cumulative = np.cumsum(probs[c])
        first = int(np.searchsorted(cumulative, TAIL_MASS / 2))
        last = int(np.searchsorted(cumulative, cumulative[-1] - TAIL_MASS / 2))
        pmfs.append(probs[c, first : last + 1])
        offsets.append(first - SEARCH_RADIUS)
    return EntropyTables.from_pmfs(
        pmfs, np.array(offsets, dtype=np.int32), np.zeros(channels, dtype=np.float32)
    )


def entropy_metadata(model: FactorizedCompressor) -> str:
    """Gains and tables of every rate point, as the runtime's ``aepipe.entropy`` JSON."""
    rates = []
    for rate, lam in enumerate(model.lambdas):
        gain, inverse = (t.detach().view(-1).numpy() for t in model.gains(rate))
        rates.append(
            {
                "lambda": lam,
                "gain": gain.astype(np.float32).tolist(),
                "inverse_gain": inverse.astype(np.float32).tolist(),
                "tables": json.loads(rate_tables(model, rate).to_json()),
            }
        )
    return json.dumps({"version": 1, "rates": rates}, separators=(",", ":"))


def part_card_of(card: ModelCard, part: str) -> ModelCard:
    """The codec's card as one part states it: the encoder compresses, the decoder decodes."""
    return dataclasses.replace(card, task=PART_TASKS[part])


PartInputs = Callable[[int, int, int], Inputs]


def codec_parts(model: FactorizedCompressor) -> dict[str, tuple[nn.Module, PartInputs]]:
    """Per part: the module exported, and example inputs of n x (h, w) latent cells."""
    latent = model.log_gain.shape[1]
    m = model.pad_multiple
    generator = torch.Generator().manual_seed(0)

    def images(n: int, h: int, w: int) -> Inputs:
        return {"x": torch.rand(n, 3, h * m, w * m, generator=generator)}

    def latents(n: int, h: int, w: int) -> Inputs:
        return {"latents": torch.randn(n, latent, h, w, generator=generator) * 4}

    return {"encoder": (_Encoder(model.g_a), images), "decoder": (_Decoder(model.g_s), latents)}


def export_codec(
    model: FactorizedCompressor, card: ModelCard, folder: Path
) -> dict[str, ExportResult]:
    """Write and prove ``NAME.encoder.onnx`` and ``NAME.decoder.onnx``; results by part."""
    model.eval()
    entropy = entropy_metadata(model)
    results = {}
    for part, (module, inputs) in codec_parts(model).items():
        metadata = {
            CARD_METADATA_KEY: part_card_of(card, part).to_json(),
            PART_METADATA_KEY: part,
            ENTROPY_METADATA_KEY: entropy,
        }
        path = folder / f"{card.name}.{part}.onnx"
        results[part] = export_verified(module, inputs(2, 8, 8), inputs(3, 5, 7), metadata, path)
    return results


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="aepipe export-codec", description="Export a compressive autoencoder to the zoo."
    )
    add_export_arguments(parser)
    args = parser.parse_args(argv)
    args.task = "compress"
    model, config = load_checkpoint(args.checkpoint)
    if not isinstance(model, FactorizedCompressor):
        raise SystemExit(f"{args.checkpoint}: {config['model']} is not a compressive autoencoder")
    card = card_for(model, config, args)
    results = export_codec(model, card, args.zoo)
    update_manifest(args.zoo, card, results, args.default)
    for result in results.values():
        print(f"{result.path}  sha256 {result.sha256}  parity max|diff| {result.max_abs_diff:.2e}")
    save_weights(model, config, args.weights / f"{args.name}.pt")


if __name__ == "__main__":
    main()
