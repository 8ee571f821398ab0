"""Image-to-image restoration through a tiled ONNX model: denoise, unwatermark, superres.

The same code serves every restoration model; the model card says how (scale, padding,
noise-level input, channels). ``identity`` runs the same tiling path with no model, which
makes it the pipeline's test double that is not a mock.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from aepipe.images import DecodedImage
from aepipe.images.resample import resize_bicubic
from aepipe.runtime.anomaly.domain import DomainCheck
from aepipe.runtime.ensemble import self_ensemble
from aepipe.runtime.model.card import ModelCard
from aepipe.runtime.model.session import OnnxModel
from aepipe.runtime.options import TaskOptions
from aepipe.runtime.tasks.base import ImageIO, TaskOutput, TaskRuntime, provenance_of
from aepipe.runtime.tasks.names import TaskName
from aepipe.runtime.tasks.noise_level import estimate_noise_sigma
from aepipe.runtime.tiling import TileFn, tile_apply

#: Tiling of the identity task, which has no card to recommend one.
IDENTITY_TILE, IDENTITY_OVERLAP = 256, 16


def resolved_tiling(options: TaskOptions, card: ModelCard | None) -> tuple[int, int]:
    """(tile, overlap): what the user asked for, else what the model card recommends."""
    tile = options.tile if options.tile is not None else (card.tile if card else IDENTITY_TILE)
    overlap = options.overlap
    if overlap is None:
        overlap = card.tile_overlap if card else IDENTITY_OVERLAP
    return tile, overlap


@dataclass
class RestoreTask(ImageIO):
    """Runs ``model`` (or the identity when None) over each image, tile by tile."""

    name: TaskName
    model: OnnxModel | None
    model_sha256: str
    options: TaskOptions  # tiling, batch size, self-ensemble and the noise level (σ, 0–255)
    domain: DomainCheck | None = None  # trust check: rows get domain_score, out_of_domain

    @property
    def provenance(self) -> Mapping[str, str]:
        noise_level = self.options.noise_level
        params = {"task": str(self.name), "noise_level": noise_level, "scale": self.scale}
        if self.options.self_ensemble:  # only when on: runs without it keep their digests
            params["self_ensemble"] = True
        return provenance_of(self.model_sha256, params)

    @property
    def runtime(self) -> TaskRuntime:
        if self.model is None:
            return TaskRuntime(None, [])
        return TaskRuntime(
            self.model.card.name, self.model.providers, domain_thresholds(self.domain)
        )

    @property
    def scale(self) -> int:
        return self.model.card.scale if self.model else 1

    def apply(self, image: DecodedImage) -> TaskOutput:
        fields: dict[str, object] = self.domain.fields(image.pixels) if self.domain else {}
        sigma = self._noise_level(image, fields)
        pixels = run_tiled(self.model, image.pixels, self.options, sigma)
        return TaskOutput(pixels, _resize_alpha(image.alpha, pixels.shape[:2]), fields)

    def _noise_level(self, image: DecodedImage, fields: dict[str, object]) -> float | None:
        if self.model is None or not self.model.card.noise_level_input:
            return None
        sigma = self.options.noise_level
        if sigma is None:
            sigma = estimate_noise_sigma(image.pixels)
            fields["noise_level_estimated"] = True
        fields["noise_level"] = round(sigma, 3)
        return sigma


def domain_thresholds(domain: DomainCheck | None) -> dict[str, float]:
    """The trust check's threshold on ``domain_score``, for the report's plots."""
    if domain is None or domain.scoring is None:
        return {}
    return {"domain_score": domain.scoring.threshold}


def run_tiled(
    model: OnnxModel | None, pixels: np.ndarray, options: TaskOptions, sigma: float | None = None
) -> np.ndarray:
    """``model`` over ``pixels`` (native dtype) tile by tile, as the options and card say;
    the identity when ``model`` is None. Returns the native dtype at the model's scale."""
    fn: TileFn = lambda batch: batch  # noqa: E731
    card = model.card if model else None
    if model is not None:
        fn = _model_fn(model, pixels.shape[2], sigma)
        if options.self_ensemble:
            fn = self_ensemble(fn)
    tile, overlap = resolved_tiling(options, card)
    return tile_apply(
        pixels,
        fn,
        tile=tile,
        overlap=overlap,
        scale=card.scale if card else 1,
        multiple=card.pad_multiple if card else 1,
        batch_size=options.batch_size,
    )


def _model_fn(model: OnnxModel, channels: int, sigma: float | None) -> TileFn:
    """Adapt channels (gray in, RGB model) and feed the noise level per tile batch."""
    expand = channels == 1 and model.card.in_channels == 3

    def run(batch: np.ndarray) -> np.ndarray:
        x = np.repeat(batch, 3, axis=1) if expand else batch
        level = None
        if sigma is not None:
            level = np.full((x.shape[0], 1, 1, 1), sigma / 255.0, dtype=np.float32)
        y = model.run(x, noise_level=level)
        return y.mean(axis=1, keepdims=True) if expand else y

    return run


def _resize_alpha(alpha: np.ndarray | None, size: tuple[int, ...]) -> np.ndarray | None:
    """Alpha is never fed to the model; only resized (bicubic) when the task scales."""
    if alpha is None or alpha.shape[:2] == size:
        return alpha
    return resize_bicubic(alpha, (size[0], size[1]))
