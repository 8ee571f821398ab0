"""``segment``: where a mask model finds a watermark; and the detector the remover obeys.

A :class:`MarkDetector` runs a segmentation model (one output channel, a probability per
pixel) tile by tile, averaged over four views of each tile (``ensemble.MARK_VIEWS``), and
turns it into a :class:`Detection`: the mask (probability over ``threshold`` in connected
regions large, confident and wide enough, grown by ``grow`` px to take in the mark's soft
edges), its area, the model's mean confidence inside it, and whether anything was found at
all. ``--task segment`` writes the mask as ``<stem>.mask.png`` (8-bit,
255 = marked), which ``--task inpaint``-style tools and the remover read; ``--task unwatermark``
changes only the pixels a detection masks and returns the others bit for bit.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import ClassVar

import numpy as np

from aepipe.images import DecodedImage, as_rgb, to_float
from aepipe.images.fill import grow
from aepipe.images.overlay import Doubts
from aepipe.runtime.ensemble import MARK_VIEWS, View
from aepipe.runtime.model.session import OnnxModel
from aepipe.runtime.options import TaskOptions
from aepipe.runtime.tasks.base import MapIO, TaskOutput, TaskRuntime, provenance_of
from aepipe.runtime.tasks.names import MASK_EXTENSION, TaskName
from aepipe.runtime.tasks.tiled import run_tiled


@dataclass(frozen=True)
class MaskRule:
    """How a probability map becomes a decision (docs/quality.md says how these were chosen)."""

    threshold: float = 0.5  # a pixel is marked above this probability
    grow: int = 2  # pixels the mask is dilated by: a mark's antialiased rim is fainter
    # A connected region of marked pixels (8-neighbours) counts when it has at least this many
    # pixels and this mean probability; none counts: nothing detected, nothing touched. The
    # confidence rule kept 99 % (Kodak24) and 97 % (CBSD68) of unseen marks' pixels while
    # clearing the last false alarms on unmarked CBSD68 photos (scripts/segmenter_gate_sweep.py).
    min_pixels: int = 64
    min_confidence: float = 0.85
    # ... and when its bounding box is at least this many pixels across both ways: thinner is
    # a line, not a mark (the dark last row of Kodak's film scans, a wire). Regions up to 3 px
    # across held none of the unseen marks' pixels on Kodak24 and CBSD68.
    min_across: int = 4
    # Outside the mask, pixels within ``grow`` of this probability are *doubtful*, as are the
    # regions over ``threshold`` the rule turned down: the flat-overlay refit takes those of
    # them where the mark's own states prove themselves.
    doubtful: float = 0.3

    def keeps(self, regions: Regions) -> np.ndarray:
        """Per label: whether its region counts as a mark (label 0, the background, never)."""
        kept = (
            (regions.area >= self.min_pixels)
            & (regions.mean >= self.min_confidence)
            & (regions.across >= self.min_across)
        )
        kept[0] = False
        return kept


@dataclass(frozen=True)
class Regions:
    """The connected regions of a probability map above a threshold, what a rule judges."""

    labels: np.ndarray  # H x W int32: 0 the background, 1..n the regions (8-neighbours)
    area: np.ndarray  # (n + 1,) pixels per label
    mean: np.ndarray  # (n + 1,) mean probability per label
    across: np.ndarray  # (n + 1,) the bounding box's shorter side, in pixels


def regions_over(probability: np.ndarray, threshold: float) -> Regions:
    """The connected regions of ``probability > threshold`` and their statistics."""
    import cv2  # here, as in images/fill: runs without a detector do not load OpenCV

    core = probability > threshold
    count, labels, stats, _ = cv2.connectedComponentsWithStats(core.view(np.uint8), connectivity=8)
    area = stats[:, cv2.CC_STAT_AREA]
    mean = np.bincount(labels.ravel(), probability.ravel(), count) / np.maximum(area, 1)
    across = np.minimum(stats[:, cv2.CC_STAT_WIDTH], stats[:, cv2.CC_STAT_HEIGHT])
    return Regions(labels, area, mean, across)


@dataclass(frozen=True)
class Detection:
    mask: np.ndarray  # H x W bool, grown
    confidence: float  # mean probability inside the ungrown mask (0 when empty)
    doubts: Doubts  # outside the mask: marked, maybe (none when no mask)

    @property
    def detected(self) -> bool:
        return bool(self.mask.any())

    def fields(self) -> dict[str, object]:
        """What a row says about the detection."""
        return {
            "mark_detected": self.detected,
            "mask_area": round(float(self.mask.mean()), 6),
            "mask_confidence": round(self.confidence, 4),
        }


@dataclass
class MarkDetector:
    model: OnnxModel
    model_sha256: str
    options: TaskOptions  # tiling and batch size of the segmentation model
    rule: MaskRule = MaskRule()
    views: Sequence[View] = MARK_VIEWS  # averaged: a mark convinces all, false alarms seldom

    @property
    def provenance_params(self) -> dict[str, object]:
        """What decides this detector's masks, for the provenance of every output it gates:
        other views or another rule mask other pixels with the same weights."""
        views = [view.name for view in self.views]
        return {"detector": self.model_sha256, "views": views, "rule": asdict(self.rule)}

    def probability(self, pixels: np.ndarray) -> np.ndarray:
        """H x W float32 probability that each pixel is marked (gray as RGB)."""
        rgb = as_rgb(pixels)
        out = run_tiled(self.model, rgb, self.options, out_channels=1, views=self.views)
        return to_float(out)[..., 0]

    def detect(self, pixels: np.ndarray) -> Detection:
        probability = self.probability(pixels)
        core = confident_regions(probability, self.rule)
        if not core.any():
            return Detection(core, 0.0, Doubts(core, core, self.rule.grow))
        mask = grow(core, self.rule.grow)
        doubts = Doubts(
            pixels=grow(probability > self.rule.doubtful, self.rule.grow) & ~mask,
            turned_down=(probability > self.rule.threshold) & ~mask,
            rim=self.rule.grow,
        )
        return Detection(mask, float(probability[core].mean()), doubts)


def confident_regions(probability: np.ndarray, rule: MaskRule) -> np.ndarray:
    """H x W bool: the pixels over ``rule.threshold`` in the connected regions the rule keeps."""
    regions = regions_over(probability, rule.threshold)
    return rule.keeps(regions)[regions.labels]


@dataclass
class SegmentTask(MapIO):
    """``--task segment``: one ``<stem>.mask.png`` per image, and the mask's area per row."""

    detector: MarkDetector
    name: TaskName = TaskName.SEGMENT
    output_key_field: ClassVar[str | None] = "mask_key"
    map_extension: ClassVar[str] = MASK_EXTENSION

    @property
    def provenance(self) -> Mapping[str, str]:
        params = {"task": str(self.name), **self.detector.provenance_params}
        return provenance_of(self.detector.model_sha256, params)

    @property
    def runtime(self) -> TaskRuntime:
        model = self.detector.model
        return TaskRuntime(model.card.name, model.providers)

    def apply(self, image: DecodedImage) -> TaskOutput:
        detection = self.detector.detect(image.pixels)
        mask = (detection.mask * 255).astype(np.uint8)[..., None]
        return TaskOutput(mask, None, detection.fields(), compare_to_input=False)
