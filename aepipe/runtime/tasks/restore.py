"""Image-to-image restoration through a tiled ONNX model: denoise, unwatermark, superres.

The same code serves every restoration model; the model card says how (scale, padding,
noise-level input, channels). ``identity`` with ``--tile`` runs the same tiling path with no
model, which makes it the pipeline's test double that is not a mock; without it, an image
passes through untouched (re-encoded: a format conversion).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from aepipe.images import DecodedImage
from aepipe.images.overlay import refit_flat_overlay
from aepipe.images.resample import resize_bicubic
from aepipe.runtime.anomaly.domain import DomainCheck
from aepipe.runtime.model.session import OnnxModel
from aepipe.runtime.options import TaskOptions
from aepipe.runtime.tasks.base import ImageIO, TaskOutput, TaskRuntime, provenance_of
from aepipe.runtime.tasks.names import TaskName
from aepipe.runtime.tasks.noise_level import estimate_noise_sigma
from aepipe.runtime.tasks.segment import MarkDetector
from aepipe.runtime.tasks.tiled import run_tiled, run_with_mask


@dataclass(frozen=True)
class RefitDenoiser:
    """A denoiser as the overlay refit calls it (``overlay.Denoiser``): plain, whatever the
    options say of the self-ensemble, which averages the remover."""

    model: OnnxModel
    sha256: str
    options: TaskOptions

    def __call__(self, pixels: np.ndarray, sigma: float) -> np.ndarray:
        return run_tiled(self.model, pixels, self.options, sigma, views=())


@dataclass
class RestoreTask(ImageIO):
    """Runs ``model`` (or the identity when None) over each image, tile by tile."""

    name: TaskName
    model: OnnxModel | None
    model_sha256: str
    options: TaskOptions  # tiling, batch size, self-ensemble and the noise level (σ, 0–255)
    domain: DomainCheck | None = None  # trust check: rows get domain_score, out_of_domain
    # unwatermark: only the pixels it masks may change (a guided remover is shown its mask)
    detector: MarkDetector | None = None
    refit_denoiser: RefitDenoiser | None = None  # unwatermark: guides the refit on rims

    @property
    def provenance(self) -> Mapping[str, str]:
        noise_level = self.options.noise_level
        params: dict[str, object] = {
            "task": str(self.name),
            "noise_level": noise_level,
            "scale": self.scale,
        }
        if self.options.self_ensemble:  # only when on: runs without it keep their digests
            params["self_ensemble"] = True
        if self.detector is not None:  # a gated remover writes other pixels than a plain one
            params.update(self.detector.provenance_params)
            params["overlay_refit"] = self.options.overlay_refit
            if self.refit_denoiser is not None:
                params["refit_denoiser"] = self.refit_denoiser.sha256
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
        if self.detector is not None:
            return self._touch_only_detected(image, fields)
        sigma = self._noise_level(image, fields)
        pixels = run_tiled(self.model, image.pixels, self.options, sigma)
        return TaskOutput(pixels, _resize_alpha(image.alpha, pixels.shape[:2]), fields)

    def _touch_only_detected(self, image: DecodedImage, fields: dict[str, object]) -> TaskOutput:
        """The model's output where the detector masks a mark (and, refit, in the doubtful
        regions the mark's states prove themselves in: ``doubtful_area`` in the row), the input
        bit for bit elsewhere; with nothing detected, the model does not run at all."""
        assert self.detector is not None
        detection = self.detector.detect(image.pixels)
        fields.update(detection.fields())
        pixels = image.pixels.copy()
        if detection.detected:
            restored = self._remove(image.pixels, detection.mask)
            if self.options.overlay_refit:
                pixels = refit_flat_overlay(
                    image.pixels,
                    restored,
                    detection.mask,
                    detection.doubts,
                    self.refit_denoiser,
                    self.detector.probability,
                )
                taken = ~detection.mask & (pixels != image.pixels).any(axis=2)
                fields["doubtful_area"] = round(float(taken.mean()), 6)
            else:
                pixels[detection.mask] = restored[detection.mask]
        return TaskOutput(pixels, image.alpha, fields)

    def _remove(self, pixels: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """The remover's output; a guided remover (``card.takes_mask``) is shown the mask."""
        assert self.model is not None
        if self.model.card.takes_mask:
            return run_with_mask(self.model, pixels, mask, self.options, blank=False)
        return run_tiled(self.model, pixels, self.options)

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


def _resize_alpha(alpha: np.ndarray | None, size: tuple[int, ...]) -> np.ndarray | None:
    """Alpha is never fed to the model; only resized (bicubic) when the task scales."""
    if alpha is None or alpha.shape[:2] == size:
        return alpha
    return resize_bicubic(alpha, (size[0], size[1]))
