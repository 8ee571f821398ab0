"""The trust check: is an input like the photographs a restoration model was trained on?

A small autoencoder trained on those photos reconstructs two views of the input:

    whole   the image box-downscaled to ``view_side`` px on its shorter side (composition,
            colour, large structures)
    detail  its centre ``view_side`` x ``view_side`` crop at native resolution (grain, noise,
            sharpness)

Each view gives ten numbers: the mean, spread and 5/50/95 % quantiles of the log local energy
of the reconstruction error, and the same of the log local fine-detail energy of the input.
The ``domain_score`` is the Mahalanobis distance of these twenty numbers from the photos'
mean; ``out_of_domain`` is the score above the card's threshold. Text pages, screenshots, flat
graphics and line art are too easy to reconstruct in places and too hard at their edges;
noise is too hard everywhere; scans are too smooth and too grainy at once. Both views are
small, so the check costs milliseconds whatever the image size.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from PIL import Image

from aepipe.images import as_dtype, as_rgb, to_float
from aepipe.images.filters import gaussian_blur
from aepipe.runtime.anomaly.scoring import DETAIL_SIGMA, ENERGY_FLOOR, ENERGY_SIGMA
from aepipe.runtime.model.session import OnnxModel

#: The zoo task of trust-check models (not a ``--task``: they run beside another task).
DOMAIN_CHECK_TASK = "domain-check"
VIEW_SIDE = 128
QUANTILES = (0.05, 0.5, 0.95)


@dataclass(frozen=True)
class DomainScoring:
    """The statistics and threshold in a trust-check model's card (``card.anomaly``)."""

    mean: tuple[float, ...]
    inverse_covariance: tuple[tuple[float, ...], ...]
    threshold: float
    threshold_rule: str = ""
    view_side: int = VIEW_SIDE
    normal_scores: Mapping[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "level": "image",
            "mean": list(self.mean),
            "inverse_covariance": [list(row) for row in self.inverse_covariance],
            "threshold": self.threshold,
            "threshold_rule": self.threshold_rule,
            "view_side": self.view_side,
            "normal_scores": dict(self.normal_scores),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DomainScoring:
        return cls(
            mean=tuple(float(v) for v in data["mean"]),
            inverse_covariance=tuple(
                tuple(float(v) for v in r) for r in data["inverse_covariance"]
            ),
            threshold=float(data["threshold"]),
            threshold_rule=str(data.get("threshold_rule", "")),
            view_side=int(data.get("view_side", VIEW_SIDE)),
            normal_scores={k: float(v) for k, v in data.get("normal_scores", {}).items()},
        )

    def score(self, features: np.ndarray) -> float:
        centred = features - np.asarray(self.mean)
        return float(math.sqrt(max(0.0, centred @ np.asarray(self.inverse_covariance) @ centred)))


def image_views(pixels: np.ndarray, side: int, multiple: int) -> list[np.ndarray]:
    """The whole (downscaled) and detail (centre crop) views as float32 RGB, sides a
    multiple of ``multiple``."""
    rgb = as_rgb(as_dtype(pixels, "uint8"))
    height, width = rgb.shape[:2]
    scale = side / min(height, width)
    size = (_fit(width * scale, multiple), _fit(height * scale, multiple))
    whole = np.asarray(Image.fromarray(rgb).resize(size, Image.Resampling.BOX))
    top, left = max(0, (height - side) // 2), max(0, (width - side) // 2)
    detail = rgb[top : top + side, left : left + side]
    detail = detail[: _fit(detail.shape[0], multiple), : _fit(detail.shape[1], multiple)]
    return [to_float(view) for view in (whole, detail)]


def _fit(length: float, multiple: int) -> int:
    return max(multiple, int(length) // multiple * multiple)


def view_statistics(view: np.ndarray, reconstruction: np.ndarray) -> np.ndarray:
    """The ten numbers of one view (see the module docstring)."""
    residual = view - reconstruction
    error = np.log(gaussian_blur((residual * residual).mean(axis=2), ENERGY_SIGMA) + ENERGY_FLOOR)
    gray = view.mean(axis=2)
    detail = gray - gaussian_blur(gray, DETAIL_SIGMA)
    texture = np.log(gaussian_blur(detail * detail, ENERGY_SIGMA) + ENERGY_FLOOR)
    return np.array([_summary(m) for m in (error, texture)]).ravel()


def _summary(values: np.ndarray) -> list[float]:
    return [float(values.mean()), float(values.std()), *np.quantile(values, QUANTILES).tolist()]


@dataclass
class DomainCheck:
    """A trust-check model and its calibration; ``fields`` is what a row gets."""

    model: OnnxModel
    sha256: str
    scoring: DomainScoring | None = None  # None while calibrating

    def features(self, pixels: np.ndarray) -> np.ndarray:
        views = image_views(pixels, self._side, self.model.card.pad_multiple)
        return np.concatenate([view_statistics(v, self._reconstruct(v)) for v in views])

    def score(self, pixels: np.ndarray) -> float:
        if self.scoring is None:
            raise ValueError(f"trust check {self.model.card.name} is not calibrated")
        return self.scoring.score(self.features(pixels))

    def fields(self, pixels: np.ndarray) -> dict[str, object]:
        score = self.score(pixels)
        assert self.scoring is not None  # score() refused an uncalibrated check
        return {"domain_score": round(score, 4), "out_of_domain": score > self.scoring.threshold}

    @property
    def _side(self) -> int:
        return self.scoring.view_side if self.scoring else VIEW_SIDE

    def _reconstruct(self, view: np.ndarray) -> np.ndarray:
        batch = np.ascontiguousarray(view.transpose(2, 0, 1)[None], dtype=np.float32)
        return self.model.run(batch)[0].transpose(1, 2, 0)


def fit_domain(
    check: DomainCheck,
    fit: Sequence[np.ndarray],
    held_out: Sequence[np.ndarray],
    quantile: float = 1.0,
    shrinkage: float = 0.2,
) -> DomainScoring:
    """Statistics of ``fit`` photos' features; threshold at ``quantile`` of ``held_out`` photos'
    scores (photos the statistics have not seen).

    The covariance is shrunk strongly towards its mean variance (``shrinkage`` x trace / d on
    the diagonal), so that directions in which the fit photos barely vary do not flag photos
    from another camera; the threshold is the highest held-out score (docs/quality.md).
    """
    rows = np.array([check.features(image) for image in fit], dtype=np.float64)
    covariance = np.cov(rows, rowvar=False)
    covariance += shrinkage * np.trace(covariance) / len(covariance) * np.eye(len(covariance))
    provisional = DomainScoring(
        mean=tuple(rows.mean(axis=0).tolist()),
        inverse_covariance=tuple(tuple(r) for r in np.linalg.inv(covariance).tolist()),
        threshold=math.inf,
    )
    scores = [provisional.score(check.features(image)) for image in held_out]
    threshold = float(np.quantile(scores, quantile))
    return DomainScoring(
        mean=provisional.mean,
        inverse_covariance=provisional.inverse_covariance,
        threshold=threshold,
        threshold_rule=(
            f"{quantile:.1%} quantile of {len(scores)} held-out photos' scores; statistics "
            f"from {len(fit)} other photos, covariance shrunk by {shrinkage:g}"
        ),
        normal_scores={
            "n": float(len(scores)),
            "mean": float(np.mean(scores)),
            "max": float(np.max(scores)),
        },
    )
