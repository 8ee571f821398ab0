"""Could a rule on the detected components keep unmarked photos untouched (issue 17)?

For every image of each DATA folder, the shipped mark segmenter's probability map on the clean
photo and on the same photo marked as `aepipe eval --task unwatermark --marks unseen` marks it
(seed = index). Then, for rules "keep a connected component of probability > 0.5 when it has at
least A pixels and a mean probability of at least M" (and, at the shipped A and M, "when its
bounding box is at least W pixels across both ways"): how many clean photos would still be
touched, and what share of the true-mark components' pixels would be kept (what the remover
could still reach). Only rules on the detector's own output; the fill is not run.

    python scripts/segmenter_gate_sweep.py ../shared/data/Kodak24 ../shared/data/CBSD68 \
        [--model SEGMENTER.onnx]     # default: the shipped segmenter
"""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

import numpy as np

from aepipe.images import as_rgb, decode
from aepipe.runtime.options import TaskOptions
from aepipe.runtime.tasks.build import load_detector
from aepipe.runtime.tasks.names import TaskName
from aepipe.runtime.tasks.segment import Regions, regions_over
from aepipe.tools.evaluation.protocol import watermarked

AREAS = (64, 200, 400, 800)
MEAN_PROBABILITIES = (0.5, 0.85, 0.9, 0.93)
ACROSS = (1, 4, 6, 8)


def share_in_mark(regions: Regions, truth: np.ndarray) -> np.ndarray:
    """Per label: the share of its region's pixels inside the true mark (0 for the background)."""
    inside = np.bincount(regions.labels.ravel(), truth.ravel(), len(regions.area))
    share = inside / np.maximum(regions.area, 1)
    share[0] = 0.0
    return share


def sweep(folder: Path, model: str) -> None:
    detector = load_detector(TaskOptions(task=TaskName.SEGMENT, model=model or None))
    assert detector is not None  # segment always has a model
    threshold = detector.rule.threshold
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in (".png", ".jpg", ".bmp"))
    clean_regions: list[Regions] = []
    marked: list[tuple[Regions, np.ndarray]] = []  # each with its regions' true-mark masks
    for i, path in enumerate(files):
        clean = as_rgb(decode(path.read_bytes(), path.name).pixels)
        marked_pixels, truth = watermarked(clean, i, "unseen")
        clean_regions.append(regions_over(detector.probability(clean), threshold))
        regions = regions_over(detector.probability(marked_pixels), threshold)
        marked.append((regions, share_in_mark(regions, truth) > 0.5))
    mark_pixels = sum(regions.area[is_mark].sum() for regions, is_mark in marked)
    print(f"{folder.name}: {len(files)} images; rule -> clean photos touched, mark pixels kept")
    rules = [
        dataclasses.replace(detector.rule, min_pixels=area, min_confidence=mean, min_across=1)
        for area in AREAS
        for mean in MEAN_PROBABILITIES
    ]
    rules += [dataclasses.replace(detector.rule, min_across=across) for across in ACROSS[1:]]
    for rule in rules:
        touched = sum(bool(rule.keeps(regions).any()) for regions in clean_regions)
        kept = sum(regions.area[rule.keeps(regions) & is_mark].sum() for regions, is_mark in marked)
        share = kept / max(mark_pixels, 1)
        name = f"area >= {rule.min_pixels:4d}, mean p >= {rule.min_confidence:.2f}"
        print(f"  {name}, across >= {rule.min_across}: {touched:3d} of {len(files)}, {share:.1%}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data", nargs="+", type=Path, help="folders of unmarked photos")
    parser.add_argument("--model", default="", help="a segmenter .onnx (default: the shipped one)")
    arguments = parser.parse_args()
    for folder in arguments.data:
        sweep(folder, arguments.model)
