"""``inpaint``: fill the holes of each image, and nothing else.

Where the hole comes from, first match wins:

    alpha       the image's own transparency (alpha under half its range is a hole); the
                output is opaque, since the hole is filled
    detector    the mark segmenter (``--detector``, default the shipped one): what it masks
    none        neither: the image comes back unchanged and the row says so

The hole is filled from its surroundings with OpenCV (``--fill ns|telea``); every pixel
outside it comes back bit for bit. A row carries ``mask_source``, ``mask_area`` and
``filled``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from aepipe.images import DecodedImage
from aepipe.images.fill import inpaint_classical
from aepipe.runtime.options import TaskOptions
from aepipe.runtime.tasks.base import ImageIO, TaskOutput, TaskRuntime, provenance_of
from aepipe.runtime.tasks.names import TaskName
from aepipe.runtime.tasks.segment import MarkDetector


@dataclass
class InpaintTask(ImageIO):
    options: TaskOptions  # the fill method
    detector: MarkDetector | None  # where holes come from when an image has no alpha
    name: TaskName = TaskName.INPAINT

    @property
    def provenance(self) -> Mapping[str, str]:
        detector = self.detector.model_sha256 if self.detector else "none"
        return provenance_of(detector, {"task": str(self.name), "fill": self.options.fill})

    @property
    def runtime(self) -> TaskRuntime:
        if self.detector is None:
            return TaskRuntime(None, [])
        model = self.detector.model
        return TaskRuntime(model.card.name, model.providers)

    def apply(self, image: DecodedImage) -> TaskOutput:
        hole, source, alpha = self._hole(image)
        pixels = image.pixels
        if hole.any():
            pixels = inpaint_classical(pixels, hole, self.options.fill)
        fields = {
            "mask_source": source,
            "mask_area": round(float(hole.mean()), 6),
            "filled": bool(hole.any()),
        }
        return TaskOutput(pixels, alpha, fields)

    def _hole(self, image: DecodedImage) -> tuple[np.ndarray, str, np.ndarray | None]:
        """(hole mask, where it came from, the alpha the output keeps)."""
        if image.alpha is not None:
            transparent = image.alpha < (np.iinfo(image.alpha.dtype).max + 1) // 2
            if transparent.any():
                return transparent, "alpha", None
        if self.detector is not None:
            detection = self.detector.detect(image.pixels)
            return detection.mask, "detector", image.alpha
        return np.zeros(image.pixels.shape[:2], bool), "none", image.alpha
