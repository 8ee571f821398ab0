"""``aepipe eval --task generate``: how close a generative model's images come to real ones,
and whether they are copies.

Two figures for each model (a VQ-VAE twice: code maps from its prior and from code
frequencies alone), against held-out photos cut into thumbnails the way the models were
trained (each image whole, and ``views`` crops of it; :func:`.embed.views`):

- **Fréchet distance** (FID's formula) between Gaussians fitted to the feature vectors of the
  generated images and of the held-out thumbnails. The features are the shipped embedding
  model's vectors (``--features``), a network trained here, not Inception: the figures rank
  models against each other and against the floor (held-out vs training thumbnails), and do
  not compare with published FIDs.
- **Nearest training thumbnail**: each image's smallest pixel RMSE to the ``--fit``
  thumbnails. Generated images as close as held-out photos are (the median ratio near 1, not
  far below) are not copies; the share closer than the closest 1 % of held-out photos counts
  near-copies.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from aepipe.runtime.generation.samplers import CodeSampler, Sampler, generators, load_sampler
from aepipe.tools.evaluation.embed import embedder, rgb_images, views

#: Training thumbnails the generated images are compared with (nearest neighbour).
FIT_THUMBNAILS = 6_000


@dataclass(frozen=True)
class GenerateEvalConfig:
    data_dir: Path  # held-out photos
    models: Sequence[str | None]  # zoo names or .decoder.onnx paths; None: the shipped one
    fit: Path  # the models' training images
    features: str | None = None  # embedding model; None: the shipped one
    count: int = 1000  # images generated per model
    seed: int = 0
    views: int = 8


@dataclass(frozen=True)
class GenerateRow:
    model: str
    sampling: str  # "gaussian", "prior", "frequencies", or "held-out photos"
    frechet_distance: float
    median_nearest_rmse: float  # to the training thumbnails, pixel RMSE on the 0-1 scale
    nearest_ratio: float  # that median over the held-out photos' median
    near_copies: float  # share closer than the closest 1 % of held-out photos


@dataclass(frozen=True)
class GenerateReport:
    rows: list[GenerateRow]
    features: str
    references: int  # held-out thumbnails
    training_thumbnails: int
    config: dict[str, Any]

    def markdown(self) -> str:
        lines = [
            f"{self.references} held-out thumbnails, {self.training_thumbnails} training "
            f"thumbnails; features: {self.features}",
            "",
            "| model | sampling | Fréchet distance | median nearest-training RMSE | vs held-out "
            "| near-copies |",
            "|---|---|---|---|---|---|",
        ]
        for r in self.rows:
            lines.append(
                f"| {r.model} | {r.sampling} | {r.frechet_distance:.3f} "
                f"| {r.median_nearest_rmse:.4f} | {r.nearest_ratio:.2f} | {r.near_copies:.1%} |"
            )
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "rows": [asdict(r) for r in self.rows]}


def run_generate_eval(config: GenerateEvalConfig) -> GenerateReport:
    features = embedder(config.features)
    side = features.side
    rng = np.random.default_rng(config.seed)
    held_out = _thumbnails(rgb_images(config.data_dir), side, config.views, rng)
    training = _thumbnails(rgb_images(config.fit), side, 0, rng, total=FIT_THUMBNAILS)
    real_features = _features(features, held_out)
    real_nearest = nearest_rmse(held_out, training)
    copy_line = float(np.quantile(real_nearest, 0.01))
    floor = GenerateRow(
        "held-out photos",
        "reference",
        frechet_distance(real_features, _features(features, training)),
        float(np.median(real_nearest)),
        1.0,
        float(np.mean(real_nearest < copy_line)),
    )
    rows = [floor]
    for spec in config.models:
        for sampling, sampler in _samplings(spec):
            images = sampler.draw(generators(config.seed, range(config.count)))
            if images.shape[1] != side:
                raise ValueError(f"{spec} makes {images.shape[1]} px images; features take {side}")
            generated = images.astype(np.float32) / 255
            nearest = nearest_rmse(generated, training)
            rows.append(
                GenerateRow(
                    sampler.decoder.card.name,
                    sampling,
                    frechet_distance(_features(features, generated), real_features),
                    float(np.median(nearest)),
                    float(np.median(nearest) / np.median(real_nearest)),
                    float(np.mean(nearest < copy_line)),
                )
            )
    settings = {**asdict(config), "data_dir": str(config.data_dir), "fit": str(config.fit)}
    return GenerateReport(rows, features.encoder.card.name, len(held_out), len(training), settings)


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """‖μa − μb‖² + Tr(Σa + Σb − 2 (Σa Σb)^½) of Gaussians fitted to rows of ``a`` and ``b``;
    the trace of the root from the eigenvalues of Σa^½ Σb Σa^½ (symmetric: numpy only)."""
    mean_a, mean_b = a.mean(axis=0), b.mean(axis=0)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    root_a = _sqrt_psd(cov_a)
    cross = np.sqrt(np.clip(np.linalg.eigvalsh(root_a @ cov_b @ root_a), 0, None)).sum()
    return float(np.sum((mean_a - mean_b) ** 2) + np.trace(cov_a) + np.trace(cov_b) - 2 * cross)


def nearest_rmse(images: np.ndarray, training: np.ndarray) -> np.ndarray:
    """Each image's smallest pixel RMSE to the training thumbnails (both N x S x S x 3)."""
    flat_a = images.reshape(len(images), -1).astype(np.float64)
    flat_b = training.reshape(len(training), -1).astype(np.float64)
    squared = (flat_a**2).sum(1)[:, None] - 2 * flat_a @ flat_b.T + (flat_b**2).sum(1)[None, :]
    return np.sqrt(np.clip(squared.min(axis=1), 0, None) / flat_a.shape[1])


def _sqrt_psd(matrix: np.ndarray) -> np.ndarray:
    values, vectors = np.linalg.eigh(matrix)
    return (vectors * np.sqrt(np.clip(values, 0, None))) @ vectors.T


def _samplings(spec: str | None) -> list[tuple[str, Sampler]]:
    sampler = load_sampler(spec)
    if isinstance(sampler, CodeSampler):
        return [("prior", sampler), ("frequencies", load_sampler(spec, prior="frequencies"))]
    return [("gaussian", sampler)]


def _thumbnails(
    images: list[np.ndarray],
    side: int,
    per_image: int,
    rng: np.random.Generator,
    total: int | None = None,
) -> np.ndarray:
    """Each image whole plus ``per_image`` crops (or as many as make ``total`` in all)."""
    if total is not None:
        per_image = max(0, -(-total // len(images)) - 1)
    return np.stack(
        [thumb for image in images for thumb in views(image, side, per_image, rng, whole=True)]
    )


def _features(features: Any, thumbnails: np.ndarray) -> np.ndarray:
    return np.stack([features.embed(t)[0] for t in thumbnails]).astype(np.float64)
