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
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
from torch import nn

from aepipe.runtime.codec.entropy import EntropyTables
from aepipe.runtime.codec.learned import padded_rgb
from aepipe.runtime.codec.priors import (
    ENTROPY_METADATA_KEY,
    BlockAdaptivePrior,
    read_entropy_model,
)
from aepipe.runtime.model.card import CARD_METADATA_KEY, PART_METADATA_KEY, ModelCard
from aepipe.training.data import load_rgb_images
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
from aepipe.training.networks.compression import FactorizedCompressor, VariableRateCodec
from aepipe.training.networks.lapped_codec import (
    CLASS_OFFSET,
    CLASSES,
    LappedCompressor,
    laplace_bin_probability,
)

PART_TASKS = {"encoder": "compress", "decoder": "decompress"}
#: Symbol values searched for each channel's support, and the mass left to the escape symbol.
SEARCH_RADIUS = 2048
TAIL_MASS = 1e-7
#: Laplacian scales (in quantiser steps) of the block-adaptive model's shared tables.
SCALE_RANGE = (0.04, 128.0)
SCALE_GRID = 64
#: Counts every checkerboard class-context cell starts with (a context no image shows keeps a
#: flat table; the ones that matter see thousands of blocks).
CONTEXT_PRIOR_COUNT = 0.1


class _Encoder(nn.Module):
    def __init__(self, model: VariableRateCodec) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model.g_a(x)


class _Decoder(nn.Module):
    def __init__(self, model: VariableRateCodec) -> None:
        super().__init__()
        self.model = model

    def forward(self, latents: torch.Tensor) -> torch.Tensor:
        return self.model.g_s(latents)


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


def rate_gains(model: VariableRateCodec, rate: int) -> dict[str, object]:
    """λ, gain and inverse gain of one rate point, as the metadata lists them."""
    gain, inverse = (t.detach().view(-1).numpy() for t in model.gains(rate))
    return {
        "lambda": model.lambdas[rate],
        "gain": gain.astype(np.float32).tolist(),
        "inverse_gain": inverse.astype(np.float32).tolist(),
    }


def entropy_metadata(model: VariableRateCodec, context_images: Sequence[np.ndarray] = ()) -> str:
    """Gains and tables of every rate point, as the runtime's ``aepipe.entropy`` JSON; with
    ``context_images`` (block-adaptive only), class tables for the checkerboard context
    counted on them (format 3)."""
    if isinstance(model, LappedCompressor):
        document = block_adaptive_document(model)
        if context_images:
            document = with_checkerboard_context(model, document, context_images)
    else:
        if context_images:
            raise ValueError("a class context needs a block-adaptive codec (aec-lapped-*)")
        assert isinstance(model, FactorizedCompressor)  # the two kinds there are
        rates = [
            {**rate_gains(model, rate), "tables": json.loads(rate_tables(model, rate).to_json())}
            for rate in range(len(model.lambdas))
        ]
        document = {"version": 1, "rates": rates}
    return json.dumps(document, separators=(",", ":"))


def laplacian_pmf(scale: float) -> tuple[np.ndarray, int]:
    """(pmf over -R..R, offset -R) of a zero-mean Laplacian of ``scale`` rounded to integers;
    R covers all but TAIL_MASS (at most SEARCH_RADIUS: escapes code the rest)."""
    radius = int(min(SEARCH_RADIUS, max(1, np.ceil(scale * np.log(1 / TAIL_MASS)))))
    values = torch.arange(-radius, radius + 1, dtype=torch.float64)
    pmf = laplace_bin_probability(values, torch.tensor(scale, dtype=torch.float64))
    return pmf.numpy(), -radius


@torch.no_grad()
def block_adaptive_document(model: LappedCompressor) -> dict[str, object]:
    """The block-adaptive entropy model as integer tables (see runtime/codec/priors.py).

    Learned Laplacian scales are snapped to a log-spaced grid of SCALE_GRID tables (about a
    fifth of an octave apart, costing well under 1 % of the rate); class probabilities
    become one integer table per (rate, group, previous class).
    """
    grid = np.geomspace(*SCALE_RANGE, SCALE_GRID)
    pmfs, offsets = zip(*(laplacian_pmf(float(scale)) for scale in grid), strict=True)
    scale_tables = EntropyTables.from_pmfs(pmfs, offsets, np.zeros(len(grid)))

    def nearest(log_scales: torch.Tensor) -> np.ndarray:
        distance = np.abs(log_scales.numpy()[..., None] - np.log(grid))
        return distance.argmin(axis=-1)

    static_index = nearest(model.log_scale_static.double())
    scale_index = nearest(model.log_scale.double())
    first_classed = model.bounds[1][0]
    scale_index[:, :first_classed] = static_index[:, :first_classed, None]
    class_pmfs = torch.softmax(model.class_logits.double(), dim=-1).reshape(-1, CLASSES)
    classes = class_pmfs.shape[0]
    class_tables = EntropyTables.from_pmfs(
        list(class_pmfs.numpy()), np.zeros(classes, dtype=np.int32), np.zeros(classes)
    )
    return {
        "version": 2,
        "kind": "block-adaptive",
        "rates": [rate_gains(model, rate) for rate in range(len(model.lambdas))],
        "group_starts": [start for start, _ in model.bounds],
        "class_offset": CLASS_OFFSET,
        "classes": CLASSES,
        "class_tables": json.loads(class_tables.to_json()),
        "scale_tables": json.loads(scale_tables.to_json()),
        "scale_index": scale_index.tolist(),
        "static_index": static_index.tolist(),
    }


@torch.no_grad()
def with_checkerboard_context(
    model: LappedCompressor, document: dict[str, object], images: Sequence[np.ndarray]
) -> dict[str, object]:
    """``document`` with class tables for the checkerboard context (format 3), fitted by
    counting the classes of ``images``' latents at every rate point in the very rows the
    run-time coder will use (``BlockAdaptivePrior.class_segments``): the classes get no
    gradient in training, so counting is their maximum-likelihood fit."""
    previous = read_entropy_model({ENTROPY_METADATA_KEY: json.dumps(document)}, "export")[1]
    assert isinstance(previous, BlockAdaptivePrior)  # a lapped codec's document is one
    prior = dataclasses.replace(previous, class_context="checkerboard")
    rows = prior.class_table_rows
    counts = np.full((rows, CLASSES), CONTEXT_PRIOR_COUNT)
    for pixels in images:
        latents = model.g_a(torch.from_numpy(padded_rgb(pixels, model.pad_multiple)[0]))
        for rate in range(len(model.lambdas)):
            scaled = (latents[0] * model.gains(rate)[0].view(-1, 1, 1)).numpy()
            for symbols, table_rows in prior.class_segments(prior.block_classes(scaled), rate):
                np.add.at(counts, (table_rows, symbols), 1)
    pmfs = counts / counts.sum(axis=1, keepdims=True)
    tables = EntropyTables.from_pmfs(list(pmfs), np.zeros(rows, np.int32), np.zeros(rows))
    return {
        **document,
        "version": 3,
        "class_context": "checkerboard",
        "class_tables": json.loads(tables.to_json()),
    }


def part_card_of(card: ModelCard, part: str) -> ModelCard:
    """The codec's card as one part states it: the encoder compresses, the decoder decodes."""
    return dataclasses.replace(card, task=PART_TASKS[part])


PartInputs = Callable[[int, int, int], Inputs]


def codec_parts(model: VariableRateCodec) -> dict[str, tuple[nn.Module, PartInputs]]:
    """Per part: the module exported, and example inputs of n x (h, w) latent cells."""
    latent = model.log_gain.shape[1]
    m = model.pad_multiple
    generator = torch.Generator().manual_seed(0)

    def images(n: int, h: int, w: int) -> Inputs:
        return {"x": torch.rand(n, 3, h * m, w * m, generator=generator)}

    def latents(n: int, h: int, w: int) -> Inputs:
        return {"latents": torch.randn(n, latent, h, w, generator=generator) * 4}

    return {"encoder": (_Encoder(model), images), "decoder": (_Decoder(model), latents)}


def export_codec(
    model: VariableRateCodec,
    card: ModelCard,
    folder: Path,
    context_images: Sequence[np.ndarray] = (),
) -> dict[str, ExportResult]:
    """Write and prove ``NAME.encoder.onnx`` and ``NAME.decoder.onnx``; results by part."""
    model.eval()
    entropy = entropy_metadata(model, context_images)
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
    parser.add_argument(
        "--class-context-data",
        help="a folder or s3:// prefix of images: fit checkerboard class-context tables on "
        "them (lapped codecs; format 3: about 9 %% fewer class bits)",
    )
    args = parser.parse_args(argv)
    args.task = "compress"
    model, config = load_checkpoint(args.checkpoint)
    if not isinstance(model, VariableRateCodec):
        raise SystemExit(f"{args.checkpoint}: {config['model']} is not a compressive autoencoder")
    card = card_for(model, config, args)
    context = args.class_context_data
    context_images = load_rgb_images(context) if context else []
    results = export_codec(model, card, args.zoo, context_images)
    update_manifest(args.zoo, card, results, args.default)
    for result in results.values():
        print(f"{result.path}  sha256 {result.sha256}  parity max|diff| {result.max_abs_diff:.2e}")
    save_weights(model, config, args.weights / f"{args.name}.pt")


if __name__ == "__main__":
    main()
