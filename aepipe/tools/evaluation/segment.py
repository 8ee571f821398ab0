"""``aepipe eval --task segment``: does the mark segmenter find marks, and only marks?

Each image of the folder is marked exactly as the unwatermark protocol marks it (``--marks
heldout|unseen``, seed + index; :func:`~aepipe.tools.evaluation.protocol.make_case`), and
the segmenter's mask, as ``aepipe run --task segment`` computes it, is compared with the
mark's true extent (alpha > 0):

    IoU, Dice     of the mask and the true mark, per image, then averaged
    recall        the share of the mark's pixels inside the mask (what the remover can reach)
    precision     the share of masked pixels that are marked (what it would touch needlessly)
    detected      images where anything was masked (with ``--marks none``: false alarms)
"""

from __future__ import annotations

import dataclasses
import math
import sys
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from aepipe.runtime.options import TaskOptions
from aepipe.runtime.tasks.build import build_task
from aepipe.runtime.tasks.names import TaskName
from aepipe.runtime.tasks.segment import SegmentTask
from aepipe.tools.evaluation.dataset import list_images, load_clean
from aepipe.tools.evaluation.protocol import EvalConfig, EvalError, make_case
from aepipe.tools.tables import markdown_table

MEASURES = ("iou", "dice", "recall", "precision")


@dataclass
class SegmentEvalReport:
    config: EvalConfig
    model: dict[str, Any]
    images: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        config = {k: str(v) for k, v in dataclasses.asdict(self.config).items()}
        return {"task": "segment", "config": config, "model": self.model, "images": self.images}

    def summary(self) -> dict[str, float]:
        marked = [row for row in self.images if row["mark_pixels"]]
        means = {
            m: float(np.mean([row[m] for row in marked])) if marked else math.nan for m in MEASURES
        }
        return {
            **means,
            "detected": sum(row["detected"] for row in self.images),
            "mean_masked_area": float(np.mean([row["masked_area"] for row in self.images])),
        }

    def markdown(self) -> str:
        s = self.summary()
        row = [
            self.config.marks,
            str(len(self.images)),
            *("-" if math.isnan(s[m]) else f"{s[m]:.3f}" for m in MEASURES),
            f"{int(s['detected'])} of {len(self.images)}",
            f"{s['mean_masked_area']:.3%}",
        ]
        headers = ["marks", "images", "IoU", "Dice", "recall", "precision", "detected", "masked"]
        return "\n\n".join(
            [
                f"**aepipe eval** `segment` with {self.model['name']} on "
                f"`{self.config.data_dir}` (marks: {self.config.marks}, seed {self.config.seed})",
                markdown_table(headers, [row]),
            ]
        )


def run_segment_eval(config: EvalConfig) -> SegmentEvalReport:
    task = build_task(TaskOptions(task=TaskName.SEGMENT, model=config.model, tile=config.tile))
    if not isinstance(task, SegmentTask):
        raise EvalError("the segment task did not load a mask model")
    card = task.detector.model.card
    report = SegmentEvalReport(
        config, {"spec": config.model, "name": card.name, "sha256": task.detector.model_sha256}
    )
    marking = dataclasses.replace(config, task=TaskName.UNWATERMARK)
    paths = list_images(config.data_dir, config.limit)
    for index, path in enumerate(paths):
        case = make_case(marking, path.name, load_clean(path), config.seed + index)
        assert case.mask is not None  # the unwatermark protocol always knows its mark
        found = task.detector.detect(case.degraded.pixels).mask
        report.images.append({"name": path.name, **mask_agreement(found, case.mask)})
        print(f"[{index + 1}/{len(paths)}] {path.name}: {report.images[-1]}", file=sys.stderr)
    return report


def mask_agreement(found: np.ndarray, truth: np.ndarray) -> dict[str, Any]:
    """IoU, Dice, recall and precision of a found mask against the true one (both H x W bool);
    the ratios are 1 where both are empty and 0 where only one is. Means over a set skip its
    unmarked images (``--marks none``: only ``detected`` and ``masked`` mean anything)."""
    overlap, union = int((found & truth).sum()), int((found | truth).sum())
    found_pixels, mark_pixels = int(found.sum()), int(truth.sum())
    return {
        "mark_pixels": mark_pixels,
        "masked_area": found_pixels / found.size,
        "detected": bool(found_pixels),
        "iou": overlap / union if union else 1.0,
        "dice": 2 * overlap / (found_pixels + mark_pixels) if union else 1.0,
        "recall": overlap / mark_pixels if mark_pixels else float(not found_pixels),
        "precision": overlap / found_pixels if found_pixels else float(not mark_pixels),
    }
