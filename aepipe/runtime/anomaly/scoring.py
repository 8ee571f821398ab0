"""How an anomaly model turns an image and its reconstruction into a map and a score.

The autoencoder, trained on normal images only, reconstructs what it has learned; the
residual ``r = x - x_hat`` is where the image departs from it. Plain squared error drowns small
defects in the texture's own reconstruction error, so each pixel gets a small feature vector
instead, and the score is how unusual that vector is for normal images:

    residual_low    r blurred (σ = ``residual_sigma``) per channel: the texture's zero-mean
                    error averages out, a coherent change (stain, colour, missing piece) does not
    residual_high   log of the local energy of what the blur left (scratches, foreign texture)
    colour          the input's local colour (σ = ``ENERGY_SIGMA``): the residual is measured
                    *given* the colour, and a tint normal images never show stands out even
                    where the decoder reproduces it
    missing_detail  how far the input's fine-detail energy falls *below* normal, in normal
                    standard deviations, zero above (one-sided): a blurred or smudged region
                    is easier to reconstruct than the real texture, so no residual sees it
    l2              mean squared residual over channels (the classic score, for comparison)

    distance(p) = sqrt((f(p) - μ)ᵀ Σ⁻¹ (f(p) - μ)), smoothed with σ = ``map_sigma``
    score       = max over the image of the smoothed distance

μ and Σ (and the mean and spread of the log detail energy that ``missing_detail`` is measured
against) are fitted on normal calibration images (:func:`fit_scoring`); the threshold on the
score comes from normal images' scores as well. Everything here is numpy on float32 and runs
band by band, so memory grows with the image's width, not its area.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np

from aepipe.images.filters import gaussian_blur

FEATURES = ("residual_low", "residual_high", "colour", "missing_detail", "l2")
#: Chosen by measurement on two domains (docs/quality.md, "Anomaly detection").
DEFAULT_FEATURES = ("residual_low", "residual_high", "colour", "missing_detail")
#: Energies are logged after adding this floor: a perfectly flat patch stays finite.
ENERGY_FLOOR = 1e-7
#: Fine-detail scale (σ of the blur subtracted from the input, px).
DETAIL_SIGMA = 0.7
ENERGY_SIGMA = 1.0
#: Window of the detail energy ``missing_detail`` reads: nearly one pixel, so that a smudge a
#: few pixels wide is not averaged with the sharp edge around it (measured: 0.35-0.5 px
#: separate blur best, 1 px loses most of it).
DETAIL_ENERGY_SIGMA = 0.35
BAND_ROWS = 256


@dataclass(frozen=True)
class AnomalyScoring:
    """The score definition and its calibration, as stored in an anomaly model's card."""

    features: tuple[str, ...] = DEFAULT_FEATURES
    residual_sigma: float = 0.7
    map_sigma: float = 0.5
    #: Mean and standard deviation of normal pixels' log detail energy (``missing_detail``).
    detail_level: tuple[float, float] = (0.0, 1.0)
    mean: tuple[float, ...] = ()
    inverse_covariance: tuple[tuple[float, ...], ...] = ()
    threshold: float = math.inf
    threshold_rule: str = ""
    normal_scores: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        unknown = set(self.features) - set(FEATURES)
        if unknown:
            raise ValueError(f"unknown anomaly features {sorted(unknown)}; known: {FEATURES}")

    @property
    def calibrated(self) -> bool:
        return bool(self.mean)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["normal_scores"] = dict(self.normal_scores)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AnomalyScoring:
        return cls(
            features=tuple(data["features"]),
            residual_sigma=float(data["residual_sigma"]),
            map_sigma=float(data["map_sigma"]),
            detail_level=_pair(data.get("detail_level", (0.0, 1.0))),
            mean=tuple(float(v) for v in data["mean"]),
            inverse_covariance=tuple(
                tuple(float(v) for v in row) for row in data["inverse_covariance"]
            ),
            threshold=float(data["threshold"]),
            threshold_rule=str(data.get("threshold_rule", "")),
            normal_scores={k: float(v) for k, v in data.get("normal_scores", {}).items()},
        )

    @property
    def margin(self) -> int:
        """Rows a band needs beyond its own for every blur to see its full window."""
        sigmas = (
            self.residual_sigma,
            ENERGY_SIGMA,
            DETAIL_SIGMA,
            DETAIL_ENERGY_SIGMA,
            self.map_sigma,
        )
        return int(sum(math.ceil(3 * s) for s in sigmas)) + 2

    def distance_map(self, image: np.ndarray, reconstruction: np.ndarray) -> np.ndarray:
        """H x W float32 smoothed distance of every pixel's features from normal."""
        if not self.calibrated:
            raise ValueError("this anomaly scoring has no calibration (mean, covariance)")
        mean = np.asarray(self.mean, dtype=np.float32)
        inverse = np.asarray(self.inverse_covariance, dtype=np.float32)
        out = np.empty(image.shape[:2], dtype=np.float32)
        for rows, inner, features in self._bands(image, reconstruction):
            centred = features - mean
            squared = np.einsum("hwc,cd,hwd->hw", centred, inverse, centred, optimize=True)
            distance = np.sqrt(np.maximum(squared, 0.0))
            out[rows] = gaussian_blur(distance, self.map_sigma)[inner]
        return out

    def score(self, distance: np.ndarray) -> float:
        return float(distance.max())

    def is_anomalous(self, score: float) -> bool:
        return score > self.threshold

    def feature_rows(self, image: np.ndarray, reconstruction: np.ndarray) -> np.ndarray:
        """Every pixel's feature vector (N x F), for fitting the normal statistics."""
        parts = [
            features[inner].reshape(-1, features.shape[2])
            for _, inner, features in self._bands(image, reconstruction)
        ]
        return np.concatenate(parts)

    def _bands(
        self, image: np.ndarray, reconstruction: np.ndarray
    ) -> Iterator[tuple[slice, slice, np.ndarray]]:
        """(output rows, the band's own rows within its window, the window's features)."""
        height, margin = image.shape[0], self.margin
        for top in range(0, height, BAND_ROWS):
            bottom = min(height, top + BAND_ROWS)
            start, stop = max(0, top - margin), min(height, bottom + margin)
            window = pixel_features(image[start:stop], reconstruction[start:stop], self)
            yield slice(top, bottom), slice(top - start, bottom - start), window


def pixel_features(
    image: np.ndarray, reconstruction: np.ndarray, scoring: AnomalyScoring
) -> np.ndarray:
    """H x W x F features of float images (H x W x C in [0, 1]) and their reconstruction."""
    residual = image.astype(np.float32) - reconstruction.astype(np.float32)
    low = gaussian_blur(residual, scoring.residual_sigma)
    planes: list[np.ndarray] = []
    for name in scoring.features:
        if name == "residual_low":
            planes.extend(np.moveaxis(low, 2, 0))
        elif name == "residual_high":
            energy = gaussian_blur(((residual - low) ** 2).mean(axis=2), ENERGY_SIGMA)
            planes.append(np.log(energy + ENERGY_FLOOR))
        elif name == "colour":
            planes.extend(np.moveaxis(gaussian_blur(image, ENERGY_SIGMA), 2, 0))
        elif name == "missing_detail":
            mean, std = scoring.detail_level
            planes.append(np.maximum(0.0, (mean - log_detail_energy(image)) / std))
        else:  # l2
            planes.append((residual * residual).mean(axis=2))
    return np.stack(planes, axis=2).astype(np.float32)


def log_detail_energy(image: np.ndarray) -> np.ndarray:
    """H x W log of the local energy of the input's finest detail, summed over channels."""
    image = image.astype(np.float32)
    detail = image - gaussian_blur(image, DETAIL_SIGMA)
    energy = gaussian_blur((detail * detail).sum(axis=2), DETAIL_ENERGY_SIGMA)
    return np.log(energy + ENERGY_FLOOR)


def fit_scoring(
    pairs: Sequence[tuple[np.ndarray, np.ndarray]],
    template: AnomalyScoring,
    *,
    quantile: float = 0.99,
    shrinkage: float = 1e-3,
) -> AnomalyScoring:
    """Calibrate ``template`` on normal (image, reconstruction) pairs.

    The feature mean and covariance come from every pixel of every pair. The threshold is the
    ``quantile`` of the pairs' scores, each image scored with statistics fitted on the *other*
    images (leave one out), so it reflects images the statistics have not seen. With fewer than
    two images, the image's own statistics are used and the rule says so. The detail level
    ``missing_detail`` is measured against comes from all the images (a normalisation, fitted
    once, not per left-out image).
    """
    if not pairs:
        raise ValueError("calibration needs at least one normal image")
    if "missing_detail" in template.features:
        template = replace(template, detail_level=_detail_level(image for image, _ in pairs))
    features = [template.feature_rows(image, recon) for image, recon in pairs]
    fitted = _with_statistics(template, np.concatenate(features), shrinkage)
    scores = []
    for index, (image, recon) in enumerate(pairs):
        others = [f for i, f in enumerate(features) if i != index] or features
        held_out = _with_statistics(template, np.concatenate(others), shrinkage)
        scores.append(held_out.score(held_out.distance_map(image, recon)))
    threshold = float(np.quantile(scores, quantile))
    rule = (
        f"{quantile:.0%} quantile of {len(scores)} normal images' scores, each scored with "
        "statistics fitted on the others (leave one out)"
        if len(pairs) > 1
        else "the one calibration image's own score (no image was left out)"
    )
    summary = {
        "n": float(len(scores)),
        "mean": float(np.mean(scores)),
        "std": float(np.std(scores)),
        "min": float(np.min(scores)),
        "max": float(np.max(scores)),
    }
    return replace(fitted, threshold=threshold, threshold_rule=rule, normal_scores=summary)


def _detail_level(images: Iterable[np.ndarray]) -> tuple[float, float]:
    """Mean and standard deviation of the log detail energy over every pixel of ``images``."""
    levels = np.concatenate([log_detail_energy(image).ravel() for image in images])
    return float(levels.mean()), float(levels.std()) or 1.0


def _pair(values: Sequence[Any]) -> tuple[float, float]:
    first, second = values
    return float(first), float(second)


def _with_statistics(
    template: AnomalyScoring, rows: np.ndarray, shrinkage: float
) -> AnomalyScoring:
    """``template`` with the mean and (shrunk) inverse covariance of feature ``rows``."""
    mean = rows.mean(axis=0, dtype=np.float64)
    covariance = np.atleast_2d(np.cov(rows.astype(np.float64), rowvar=False))
    scale = float(np.trace(covariance)) / len(covariance) or 1.0
    covariance += shrinkage * scale * np.eye(len(covariance))
    inverse = np.linalg.inv(covariance)
    return replace(
        template,
        mean=tuple(float(v) for v in mean),
        inverse_covariance=tuple(tuple(float(v) for v in row) for row in inverse),
    )


def scores_of(
    scoring: AnomalyScoring, pairs: Iterable[tuple[np.ndarray, np.ndarray]]
) -> list[float]:
    return [scoring.score(scoring.distance_map(image, recon)) for image, recon in pairs]
