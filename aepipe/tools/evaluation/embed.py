"""``aepipe eval --task embed``: does an autoencoder beat PCA with the same code size?

The classic claim is that an autoencoder is a non-linear PCA, so at the same code size it
should keep more of an image. Two measures, on held-out images the models never saw:

- **reconstruction**: PSNR of each model's decoder output against its input thumbnail, and
  of PCA keeping as many components as the model has code values (PCA fitted on thumbnails
  of ``--fit``, cut as training cut them: whole scenes down to 1/8 crops);
- **retrieval**: each held-out image is copied with a crop, a colour change, noise and JPEG
  (:func:`augmented_copy`); its vector must find the original's among the originals and
  ``views`` crops of every held-out image (distractors). Recall@1 by Euclidean distance,
  for the model's vectors, PCA's codes of the same size and the raw thumbnail pixels.

Thumbnails are what ``--task embed`` computes (:func:`square_thumbnail`), through the same
:class:`EmbedTask`. Numpy and ONNX Runtime only.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from aepipe.images import as_rgb
from aepipe.images.resample import square_thumbnail
from aepipe.metrics import psnr_from_mse
from aepipe.runtime.options import TaskOptions
from aepipe.runtime.tasks.build import build_task
from aepipe.runtime.tasks.embed import EmbedTask
from aepipe.runtime.tasks.names import TaskName
from aepipe.tools.evaluation.dataset import list_images, load_clean
from aepipe.tools.evaluation.protocol import EvalError

#: Largest share of a side the crops of :func:`views` take, and the smallest (1/8: the
#: zoom range embedding models train on).
CROP_SHARE = (0.125, 1.0)
#: Thumbnails PCA is fitted on (views of the ``--fit`` images).
FIT_THUMBNAILS = 12_000


@dataclass(frozen=True)
class EmbedEvalConfig:
    data_dir: Path  # held-out images
    models: Sequence[str | None]  # zoo names or .encoder.onnx paths; None: the shipped one
    fit: Path  # images PCA is fitted on: the models' training images
    seed: int = 0
    limit: int | None = None
    views: int = 8  # crops per held-out image: reconstruction cases and retrieval distractors


@dataclass(frozen=True)
class EmbedRow:
    model: str
    family: str  # the network it was built from (card.architecture)
    code_size: int
    model_psnr: float | None  # mean over the held-out thumbnails; None without a decoder
    pca_psnr: float
    model_recall: float  # recall@1 of the augmented copies
    pca_recall: float


@dataclass(frozen=True)
class EmbedReport:
    rows: list[EmbedRow]
    pixel_recall: float  # the raw thumbnail pixels as vectors
    images: int
    thumbnails: int  # reconstruction cases: every image whole plus its views
    side: int
    config: dict[str, Any]

    def markdown(self) -> str:
        lines = [
            f"{self.images} held-out images, {self.thumbnails} thumbnails of {self.side}², "
            f"recall@1 of {self.images} augmented copies among {self.thumbnails} thumbnails; "
            f"raw pixels ({3 * self.side**2} values): recall@1 {self.pixel_recall:.3f}",
            "",
            "| model | family | code size | AE PSNR | PCA PSNR | AE − PCA | AE recall@1 "
            "| PCA recall@1 |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for r in self.rows:
            gap = "-" if r.model_psnr is None else f"{r.model_psnr - r.pca_psnr:+.2f}"
            model_psnr = "-" if r.model_psnr is None else f"{r.model_psnr:.2f}"
            lines.append(
                f"| {r.model} | {r.family} | {r.code_size} | {model_psnr} | {r.pca_psnr:.2f} "
                f"| {gap} | {r.model_recall:.3f} | {r.pca_recall:.3f} |"
            )
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "rows": [asdict(r) for r in self.rows]}


def run_embed_eval(config: EmbedEvalConfig) -> EmbedReport:
    tasks = [embedder(spec) for spec in config.models]
    side = tasks[0].side
    if any(task.side != side for task in tasks):
        raise EvalError("the models compared must take thumbnails of one size")
    rng = np.random.default_rng(config.seed)
    held_out = rgb_images(config.data_dir, config.limit)
    originals = np.stack([square_thumbnail(image, side) for image in held_out])
    crops = [view for image in held_out for view in views(image, side, config.views, rng)]
    database = np.concatenate([originals, np.stack(crops)]) if crops else originals
    queries = np.stack([square_thumbnail(augmented_copy(image, rng), side) for image in held_out])
    pca = fit_pca(config.fit, side, max(_code_size(task, side) for task in tasks), rng)
    rows = [_measure(task, database, queries, pca) for task in tasks]
    pixels = _recall(_flat(database), _flat(queries))
    settings = {**asdict(config), "data_dir": str(config.data_dir), "fit": str(config.fit)}
    return EmbedReport(rows, pixels, len(held_out), len(database), side, settings)


def views(
    image: np.ndarray, side: int, count: int, rng: np.random.Generator, whole: bool = False
) -> list[np.ndarray]:
    """``count`` square crops of ``image``, their side a log-uniform share (``CROP_SHARE``)
    of its shorter side, as ``side`` x ``side`` thumbnails; with ``whole``, the whole image's
    thumbnail first."""
    shorter = min(image.shape[:2])
    crops = [square_thumbnail(image, side)] if whole else []
    for _ in range(count):
        share = math.exp(rng.uniform(*np.log(CROP_SHARE)))
        crop_side = max(side, round(shorter * share)) if shorter >= side else shorter
        top = int(rng.integers(image.shape[0] - crop_side + 1))
        left = int(rng.integers(image.shape[1] - crop_side + 1))
        crops.append(square_thumbnail(image[top : top + crop_side, left : left + crop_side], side))
    return crops


def augmented_copy(image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """What a near-duplicate looks like: 75–95 % of each side kept, contrast and brightness
    changed, mild noise, then saved as JPEG quality 40 (H x W x 3 uint8)."""
    height, width = image.shape[:2]
    keep_h, keep_w = (round(n * rng.uniform(0.75, 0.95)) for n in (height, width))
    top, left = int(rng.integers(height - keep_h + 1)), int(rng.integers(width - keep_w + 1))
    crop = image[top : top + keep_h, left : left + keep_w, :3].astype(np.float32) / 255
    changed = (crop - 0.5) * rng.uniform(0.85, 1.15) + 0.5 + rng.uniform(-0.06, 0.06)
    changed += rng.normal(0, 4 / 255, changed.shape)
    pixels = np.clip(np.rint(changed * 255), 0, 255).astype(np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG", quality=40)
    return np.asarray(Image.open(buffer).convert("RGB"))


@dataclass(frozen=True)
class ThumbnailPCA:
    mean: np.ndarray  # (3 side²,)
    basis: np.ndarray  # (k, 3 side²), rows by decreasing variance

    def codes(self, flat: np.ndarray, size: int) -> np.ndarray:
        return (flat - self.mean) @ self.basis[:size].T

    def reconstruct(self, flat: np.ndarray, size: int) -> np.ndarray:
        return np.clip(self.codes(flat, size) @ self.basis[:size] + self.mean, 0, 1)


def fit_pca(folder: Path, side: int, components: int, rng: np.random.Generator) -> ThumbnailPCA:
    """PCA of ``FIT_THUMBNAILS`` thumbnails of ``folder``'s images: each whole, the rest
    crops as :func:`views` cuts them (by the covariance's eigenvectors: 3 side² is small)."""
    images = rgb_images(folder)
    per_image = max(0, math.ceil(FIT_THUMBNAILS / len(images)) - 1)
    thumbnails = [view for image in images for view in views(image, side, per_image, rng, True)]
    flat = _flat(np.stack(thumbnails)).astype(np.float64)
    if components > flat.shape[1]:
        raise EvalError(f"a code of {components} values is larger than the thumbnail")
    mean = flat.mean(axis=0)
    centred = flat - mean
    _, vectors = np.linalg.eigh(centred.T @ centred)
    basis = vectors[:, ::-1][:, :components].T
    return ThumbnailPCA(mean.astype(np.float32), basis.astype(np.float32))


def rgb_images(folder: Path, limit: int | None = None) -> list[np.ndarray]:
    """The folder's images (the first ``limit``, by name) as H x W x 3 uint8."""
    return [as_rgb(load_clean(path).pixels) for path in list_images(folder, limit)]


def embedder(spec: str | None) -> EmbedTask:
    """The embed task of ``spec`` (zoo name, ``.encoder.onnx`` path, None: the shipped one)."""
    task = build_task(TaskOptions(task=TaskName.EMBED, model=spec))
    assert isinstance(task, EmbedTask)
    return task


def _code_size(task: EmbedTask, side: int) -> int:
    return int(task.embed(np.zeros((side, side, 3), np.float32))[0].size)


def _measure(
    task: EmbedTask, database: np.ndarray, queries: np.ndarray, pca: ThumbnailPCA
) -> EmbedRow:
    embedded = [task.embed(t) for t in database]
    vectors = np.stack([v for v, _ in embedded])
    size = vectors.shape[1]
    flat = _flat(database)
    model_psnr = None
    if all(rebuilt is not None for _, rebuilt in embedded):
        rebuilt = np.stack([r for _, r in embedded if r is not None])
        model_psnr = _mean_psnr(database, rebuilt)
    pca_psnr = _mean_psnr(flat, pca.reconstruct(flat, size))
    query_vectors = np.stack([task.embed(q)[0] for q in queries])
    card = task.encoder.card
    return EmbedRow(
        card.name,
        card.architecture,
        size,
        model_psnr,
        pca_psnr,
        _recall(vectors, query_vectors),
        _recall(pca.codes(flat, size), pca.codes(_flat(queries), size)),
    )


def _flat(thumbnails: np.ndarray) -> np.ndarray:
    return thumbnails.reshape(len(thumbnails), -1).astype(np.float32)


def _mean_psnr(reference: np.ndarray, estimate: np.ndarray) -> float:
    """Mean over thumbnails of each one's PSNR (dB, peak 1)."""
    errors = ((reference - estimate) ** 2).reshape(len(reference), -1).mean(axis=1)
    return float(np.mean([psnr_from_mse(float(e)) for e in errors]))


def _recall(database: np.ndarray, queries: np.ndarray) -> float:
    """Share of queries whose nearest database vector (Euclidean) is their original: query i
    belongs to database row i."""
    distances = (
        (queries**2).sum(axis=1)[:, None]
        - 2 * queries @ database.T
        + (database**2).sum(axis=1)[None, :]
    )
    return float(np.mean(distances.argmin(axis=1) == np.arange(len(queries))))
