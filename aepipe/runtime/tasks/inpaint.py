"""``inpaint``: fill the holes of each image, and nothing else.

Where the hole comes from, first match wins:

    mask        a sibling ``<stem>.mask.png`` beside the image in SOURCE (white = hole; what
                ``--task segment`` writes), fetched with it; the image keeps its alpha
    alpha       the image's own transparency (alpha under half its range is a hole); the
                output is opaque, since the hole is filled
    detector    the mark segmenter (``--detector``, default the shipped one): what it masks
    none        neither: the image comes back unchanged and the row says so

The hole is filled from its surroundings with OpenCV (``--fill ns|telea``) or an inpainting
network (``--fill model``: the image with the hole blanked and the hole as a fourth channel
in, the filled image out, tiled like every model); every pixel outside it comes back bit for
bit. A row carries ``mask_source``, ``mask_area`` and ``filled``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from aepipe.errors import ImageError
from aepipe.images import DecodedImage, decode, max_value, to_float
from aepipe.images.fill import inpaint_classical
from aepipe.runtime.model.session import OnnxModel
from aepipe.runtime.options import TaskOptions
from aepipe.runtime.tasks.base import ImageIO, TaskOutput, TaskRuntime, provenance_of
from aepipe.runtime.tasks.names import MASK_EXTENSION, TaskName
from aepipe.runtime.tasks.segment import MarkDetector
from aepipe.runtime.tasks.tiled import run_with_mask


@dataclass(frozen=True)
class MaskedImage(DecodedImage):
    """An image whose hole came with it (its sibling mask)."""

    hole: np.ndarray  # H x W bool


@dataclass
class InpaintTask(ImageIO):
    options: TaskOptions  # the fill method
    detector: MarkDetector | None  # where holes come from when an image has no alpha
    model: OnnxModel | None = None  # --fill model: the inpainting network
    model_sha256: str = ""
    name: TaskName = TaskName.INPAINT

    @property
    def provenance(self) -> Mapping[str, str]:
        detector = self.detector.provenance_params if self.detector else {"detector": "none"}
        params = {"task": str(self.name), "fill": self.options.fill, **detector}
        return provenance_of(self.model_sha256 or "opencv", params)

    @property
    def runtime(self) -> TaskRuntime:
        models = [m for m in (self.model, self.detector and self.detector.model) if m]
        providers = sorted({p for m in models for p in m.providers})
        return TaskRuntime([m.card.name for m in models] or None, providers)

    def read(
        self, data: bytes, key: str, max_pixels: int, sibling: bytes | None = None
    ) -> DecodedImage:
        image = decode(data, key, max_pixels=max_pixels)
        if sibling is None:
            return image
        mask = decode(sibling, key + f" (its {MASK_EXTENSION})", max_pixels=max_pixels).pixels
        if mask.shape[:2] != image.pixels.shape[:2]:
            raise ImageError(
                key,
                f"its {MASK_EXTENSION} is {mask.shape[1]}x{mask.shape[0]}, the image "
                f"{image.info.width}x{image.info.height}",
            )
        hole = to_float(mask).max(axis=2) > 0.5
        return MaskedImage(image.pixels, image.alpha, image.info, hole)

    def apply(self, image: DecodedImage) -> TaskOutput:
        hole, source, alpha = self._hole(image)
        pixels = image.pixels
        if hole.any():
            pixels = self._fill(pixels, hole)
        fields = {
            "mask_source": source,
            "mask_area": round(float(hole.mean()), 6),
            "filled": bool(hole.any()),
        }
        return TaskOutput(pixels, alpha, fields)

    def _fill(self, pixels: np.ndarray, hole: np.ndarray) -> np.ndarray:
        if self.model is None:
            return inpaint_classical(pixels, hole, self.options.fill)
        filled = run_with_mask(self.model, pixels, hole, self.options, blank=True)
        out = pixels.copy()
        out[hole] = filled[hole]
        return out

    def _hole(self, image: DecodedImage) -> tuple[np.ndarray, str, np.ndarray | None]:
        """(hole mask, where it came from, the alpha the output keeps)."""
        if isinstance(image, MaskedImage):
            return image.hole, "mask", image.alpha
        if image.alpha is not None:
            transparent = image.alpha < max_value(image.alpha.dtype) / 2
            if transparent.any():
                return transparent, "alpha", None
        if self.detector is not None:
            detection = self.detector.detect(image.pixels)
            return detection.mask, "detector", image.alpha
        return np.zeros(image.pixels.shape[:2], bool), "none", image.alpha
