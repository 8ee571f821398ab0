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
from pathlib import Path

import numpy as np
from scipy import ndimage

from aepipe.images import as_rgb, decode
from aepipe.runtime.options import TaskOptions
from aepipe.runtime.tasks.build import load_detector
from aepipe.runtime.tasks.names import TaskName
from aepipe.runtime.tasks.segment import MaskRule
from aepipe.tools.evaluation.protocol import watermarked

AREAS = (64, 200, 400, 800)
MEAN_PROBABILITIES = (0.5, 0.85, 0.9, 0.93)
ACROSS = (1, 4, 6, 8)


def components(probability: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """(n, 4): area, mean probability, share inside the true mark and pixels across (the
    bounding box's shorter side) of each component."""
    core = probability > 0.5
    labels, count = ndimage.label(core, np.ones((3, 3)))
    if count == 0:
        return np.zeros((0, 4))
    index = np.arange(1, count + 1)
    boxes = ndimage.find_objects(labels)
    across = [min(rows.stop - rows.start, cols.stop - cols.start) for rows, cols in boxes]
    return np.stack(
        [
            ndimage.sum(core, labels, index),
            ndimage.mean(probability, labels, index),
            ndimage.mean(truth, labels, index),
            across,
        ],
        axis=1,
    )


def sweep(folder: Path, model: str) -> None:
    detector = load_detector(TaskOptions(task=TaskName.SEGMENT, model=model or None))
    assert detector is not None  # segment always has a model
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in (".png", ".jpg", ".bmp"))
    clean_parts, marked_parts = [], []
    for i, path in enumerate(files):
        clean = as_rgb(decode(path.read_bytes(), path.name).pixels)
        marked, truth = watermarked(clean, i, "unseen")
        clean_parts.append(components(detector.probability(clean), np.zeros(truth.shape)))
        marked_parts.append(components(detector.probability(marked), truth))
    marks = np.concatenate(marked_parts)
    true_marks = marks[marks[:, 2] > 0.5]
    print(f"{folder.name}: {len(files)} images; rule -> clean photos touched, mark pixels kept")
    shipped = MaskRule()
    rules = [(area, mean, 1) for area in AREAS for mean in MEAN_PROBABILITIES]
    rules += [(shipped.min_pixels, shipped.min_confidence, across) for across in ACROSS[1:]]
    for area, mean, across in rules:
        touched = sum(bool(passes(c, area, mean, across).any()) for c in clean_parts)
        kept = true_marks[passes(true_marks, area, mean, across), 0].sum()
        share = kept / max(true_marks[:, 0].sum(), 1)
        rule = f"area >= {area:4d}, mean p >= {mean:.2f}, across >= {across}"
        print(f"  {rule}: {touched:3d} of {len(files)}, {share:.1%}")


def passes(parts: np.ndarray, area: int, mean: float, across: int) -> np.ndarray:
    """Which of the ``components`` rows a rule keeps."""
    return (parts[:, 0] >= area) & (parts[:, 1] >= mean) & (parts[:, 3] >= across)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data", nargs="+", type=Path, help="folders of unmarked photos")
    parser.add_argument("--model", default="", help="a segmenter .onnx (default: the shipped one)")
    arguments = parser.parse_args()
    for folder in arguments.data:
        sweep(folder, arguments.model)
