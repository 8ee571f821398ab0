"""New images from a generative autoencoder's decoder: a VAE's Gaussian latents, or a
VQ-VAE's code maps drawn by its autoregressive prior (or by code frequencies alone).

Each image i of a run draws everything from its own generator, seeded by ``(seed, i)``, so
an image does not depend on which chunk or batch it was made in, and a rerun makes the same
image again (which is what lets a stopped run skip the images it already wrote).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from aepipe.errors import ModelError
from aepipe.images import from_float
from aepipe.runtime.model.session import OnnxModel
from aepipe.runtime.model.zoo import find_model, load_model, part_spec

GENERATE_TASK = "generate"
#: The prior part's metadata: the training code maps' code frequencies (a JSON list).
FREQUENCIES_METADATA_KEY = "aepipe.code_frequencies"


class Sampler(Protocol):
    decoder: OnnxModel

    @property
    def sha256(self) -> str:
        """Of every file that shapes the images (decoder, and prior when there is one)."""
        ...

    def draw(self, generators: Sequence[np.random.Generator]) -> np.ndarray:
        """One image per generator: N x side x side x 3 uint8."""
        ...


def generators(seed: int, indexes: Sequence[int]) -> list[np.random.Generator]:
    """Image i's own random stream, from the seed pair ``(seed, i)``."""
    return [np.random.default_rng([seed, index]) for index in indexes]


def latent_shape(decoder: OnnxModel) -> tuple[int, ...]:
    """The decoder's input per image, from the card: (channels, h, w) of a latent map, or
    (h, w) of codebook indices."""
    card = decoder.card
    if not card.code_shape:
        raise ModelError(f"model {card.name} has no code shape in its card")
    return card.code_shape


def to_images(decoded: np.ndarray) -> np.ndarray:
    """N x 3 x H x W floats -> N x H x W x 3 uint8 (clipped, rounded)."""
    return from_float(np.clip(decoded, 0, 1).transpose(0, 2, 3, 1), "uint8")


@dataclass
class GaussianSampler:
    """A VAE: z ~ N(0, I), the prior it was trained towards, through the decoder."""

    decoder: OnnxModel
    sha256: str

    def draw(self, generators: Sequence[np.random.Generator]) -> np.ndarray:
        shape = latent_shape(self.decoder)
        z = np.stack([g.standard_normal(shape, dtype=np.float32) for g in generators])
        return to_images(self.decoder.run_all(**{self.decoder.input_names[0]: z})[0])


@dataclass
class CodeSampler:
    """A VQ-VAE: code maps drawn position by position (raster order) from the prior's
    p(i_t | i_<t), or, with ``use_prior`` False, every code from its training frequency."""

    decoder: OnnxModel
    prior: OnnxModel
    sha256: str
    use_prior: bool = True

    def __post_init__(self) -> None:
        raw = self.prior.metadata.get(FREQUENCIES_METADATA_KEY)
        if raw is None:
            raise ModelError(f"prior of {self.prior.card.name} carries no code frequencies")
        self.frequencies = np.asarray(json.loads(raw), dtype=np.float64)
        self.frequencies /= self.frequencies.sum()

    def draw(self, generators: Sequence[np.random.Generator]) -> np.ndarray:
        shape = latent_shape(self.decoder)
        length = int(np.prod(shape))
        if self.use_prior:
            codes = self._autoregressive(generators, length)
        else:
            codes = np.stack(
                [g.choice(len(self.frequencies), length, p=self.frequencies) for g in generators]
            )
        indices = codes.reshape(len(generators), *shape).astype(np.int64)
        return to_images(self.decoder.run_all(**{self.decoder.input_names[0]: indices})[0])

    def _autoregressive(self, generators: Sequence[np.random.Generator], length: int) -> np.ndarray:
        start = len(self.frequencies)  # the prior's START token follows the codes
        tokens = np.full((len(generators), 1), start, dtype=np.int64)
        for _ in range(length):
            logits = self.prior.run_all(tokens=tokens)[0][:, -1].astype(np.float64)
            p = np.exp(logits - logits.max(axis=1, keepdims=True))
            p /= p.sum(axis=1, keepdims=True)
            drawn = [_categorical(g, row) for g, row in zip(generators, p, strict=True)]
            tokens = np.concatenate([tokens, np.array(drawn, np.int64)[:, None]], axis=1)
        return tokens[:, 1:]


def _categorical(generator: np.random.Generator, p: np.ndarray) -> int:
    """One draw from ``p`` by its inverse CDF: one uniform number per draw, whatever ``p``."""
    return int(min(np.searchsorted(np.cumsum(p), generator.random() * p.sum()), len(p) - 1))


def load_sampler(spec: str | None, prior: str = "model", threads: int = 0) -> Sampler:
    """The sampler of the generative model ``spec`` (zoo name or ``.decoder.onnx`` path;
    None: the shipped default): Gaussian for a latent-map decoder, by codes for an index one."""
    decoder, sha256 = load_model(
        part_spec(spec, "decoder"), GENERATE_TASK, part="decoder", threads=threads
    )
    if decoder.session.get_inputs()[0].type != "tensor(int64)":
        return GaussianSampler(decoder, sha256)
    prior_spec = part_spec(spec, "prior")
    try:
        find_model(prior_spec, GENERATE_TASK, part="prior")
    except ModelError as error:
        raise ModelError(f"model {decoder.card.name} codes images but has no prior part") from error
    prior_model, prior_sha256 = load_model(prior_spec, GENERATE_TASK, part="prior", threads=threads)
    return CodeSampler(decoder, prior_model, f"{sha256}+{prior_sha256}", prior == "model")
