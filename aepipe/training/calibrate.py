"""Calibrate an exported anomaly model on normal images, through the runtime path itself.

The statistics and threshold in the card must describe the scores ``aepipe run --task
anomaly`` will compute, so calibration loads the exported ONNX file (not the torch network),
reconstructs each image with the runtime's tiling and scores it with the runtime's
:class:`~aepipe.runtime.anomaly.scoring.AnomalyScoring`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from aepipe.images import to_float
from aepipe.runtime.anomaly.domain import DomainCheck, DomainScoring, fit_domain
from aepipe.runtime.anomaly.scoring import AnomalyScoring, fit_scoring
from aepipe.runtime.model.card import ModelCard
from aepipe.runtime.model.session import OnnxModel
from aepipe.runtime.options import TaskOptions
from aepipe.runtime.tasks.anomaly import reconstruct
from aepipe.runtime.tasks.names import TaskName


def reconstruction_pairs(
    model: OnnxModel, images: Sequence[np.ndarray]
) -> list[tuple[np.ndarray, np.ndarray]]:
    """(image, reconstruction) as float [0, 1] for H x W x 3 uint8 images, tiled as at run time."""
    options = TaskOptions(task=TaskName.ANOMALY)
    return [(to_float(image), to_float(reconstruct(model, image, options))) for image in images]


def calibrate_domain(
    path: Path, card: ModelCard, fit: Sequence[np.ndarray], held_out: Sequence[np.ndarray]
) -> DomainScoring:
    """The trust check at ``path``: statistics of ``fit`` photos, threshold from ``held_out``."""
    check = DomainCheck(OnnxModel(path, card=card), sha256="")
    return fit_domain(check, fit, held_out)


def calibrate_anomaly(
    path: Path,
    card: ModelCard,
    images: Sequence[np.ndarray],
    template: AnomalyScoring | None = None,
) -> AnomalyScoring:
    """The scoring of the model at ``path``, fitted on normal ``images`` (H x W x 3 uint8)."""
    model = OnnxModel(path, card=card)
    return fit_scoring(reconstruction_pairs(model, images), template or AnomalyScoring())
