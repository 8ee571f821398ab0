"""``anomaly``: score every image against a model of normal images, and map where it differs.

The autoencoder reconstructs the image tile by tile like a restoration model; the model card's
:class:`~aepipe.runtime.anomaly.scoring.AnomalyScoring` turns image and reconstruction into a
smoothed distance map and a score. A row gets ``anomaly_score`` (higher = more anomalous,
comparable across the run), ``anomalous`` (the card's threshold applied) and
``anomaly_map_key``, the key of ``<stem>.anomaly.png`` written under DEST; its MSE/PSNR are
the reconstruction's against the input.

Gray images are scored as RGB (replicated), RGBA without their alpha, 16-bit on the 0–1 scale,
so every image is compared with the same normal statistics.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from aepipe.images import DecodedImage, as_rgb, to_float
from aepipe.runtime.anomaly.heatmap import heatmap
from aepipe.runtime.anomaly.scoring import AnomalyScoring
from aepipe.runtime.model.session import OnnxModel
from aepipe.runtime.options import TaskOptions
from aepipe.runtime.tasks.base import MapIO, TaskOutput, TaskRuntime, provenance_of
from aepipe.runtime.tasks.names import TaskName
from aepipe.runtime.tasks.tiled import run_tiled

HEATMAP_EXTENSION = ".anomaly.png"
#: Mirrored pixels added around an image before it is reconstructed: a network's zero
#: padding makes its first pixels wrong, and a border that is wrong in every image would
#: outscore the defects.
MIRROR = 8


@dataclass
class AnomalyTask(MapIO):
    model: OnnxModel
    model_sha256: str
    scoring: AnomalyScoring
    options: TaskOptions
    name: TaskName = TaskName.ANOMALY
    output_key_field: ClassVar[str | None] = "anomaly_map_key"
    map_extension: ClassVar[str] = HEATMAP_EXTENSION

    @property
    def provenance(self) -> Mapping[str, str]:
        return provenance_of(self.model_sha256, {"task": str(self.name)})

    @property
    def runtime(self) -> TaskRuntime:
        thresholds = {"anomaly_score": self.scoring.threshold}
        return TaskRuntime(self.model.card.name, self.model.providers, thresholds)

    def apply(self, image: DecodedImage) -> TaskOutput:
        rgb = as_rgb(image.pixels)
        reconstruction = reconstruct(self.model, rgb, self.options)
        distance = self.scoring.distance_map(to_float(rgb), to_float(reconstruction))
        score = self.scoring.score(distance)
        fields: dict[str, object] = {
            "anomaly_score": round(score, 5),
            "anomalous": self.scoring.is_anomalous(score),
        }
        compared = reconstruction
        if image.pixels.shape[2] == 1:  # the row's PSNR compares like with like
            compared = reconstruction.mean(axis=2, keepdims=True).astype(reconstruction.dtype)
        return TaskOutput(
            heatmap(rgb, distance, self.scoring.threshold), None, fields, reconstruction=compared
        )


def reconstruct(model: OnnxModel, rgb: np.ndarray, options: TaskOptions) -> np.ndarray:
    """The model's reconstruction of ``rgb`` (native dtype), from a mirror-padded copy."""
    margin = min(MIRROR, rgb.shape[0] - 1, rgb.shape[1] - 1)
    padded = np.pad(rgb, ((margin, margin), (margin, margin), (0, 0)), mode="reflect")
    out = run_tiled(model, padded, options)
    return out[margin : margin + rgb.shape[0], margin : margin + rgb.shape[1]]
