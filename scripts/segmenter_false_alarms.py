"""Where does a mark segmenter fire on photos with no mark: as they are, gray, reduced (issue 17)?

For each DATA folder and one segmenter under the shipped rule (`MaskRule`): how many unmarked
photos it would touch as they are, made gray (channels averaged, as a gray file reaches it) and
reduced 0.6x (bicubic); and on the same photos with unseen marks (the unwatermark eval's seeds):
the images with a detection, the share of the marks' pixels (alpha > 0) inside the ungrown mask,
and the IoU of that mask with them. Only the detector; the fill is not run.

    python scripts/segmenter_false_alarms.py SEGMENTER.onnx ../shared/data/Kodak24 ...
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

import numpy as np

from aepipe.images import as_gray, as_rgb, decode
from aepipe.images.resample import resize_bicubic
from aepipe.runtime.options import TaskOptions
from aepipe.runtime.tasks.build import load_detector
from aepipe.runtime.tasks.names import TaskName
from aepipe.runtime.tasks.segment import MarkDetector, confident_regions
from aepipe.tools.evaluation.protocol import watermarked


def reduced(image: np.ndarray) -> np.ndarray:
    return resize_bicubic(image, (round(image.shape[0] * 0.6), round(image.shape[1] * 0.6)))


RENDITIONS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "as is": lambda image: image,
    "gray": lambda image: as_rgb(as_gray(image)),
    "0.6x": reduced,
}


def report(folder: Path, detector: MarkDetector) -> str:
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in (".png", ".jpg", ".bmp"))
    touched = dict.fromkeys(RENDITIONS, 0)
    detected = inside = marked = union = 0
    for seed, path in enumerate(files):
        clean = as_rgb(decode(path.read_bytes(), path.name).pixels)
        for name, render in RENDITIONS.items():
            touched[name] += bool(
                confident_regions(detector.probability(render(clean)), detector.rule).any()
            )
        pixels, truth = watermarked(clean, seed, "unseen")
        mask = confident_regions(detector.probability(pixels), detector.rule)
        detected += bool(mask.any())
        inside += int((mask & truth).sum())
        marked += int(truth.sum())
        union += int((mask | truth).sum())
    counts = ", ".join(f"{name} {count}" for name, count in touched.items())
    return (
        f"{folder.name} ({len(files)}): unmarked touched: {counts} | unseen marks: detected"
        f" {detected}, mark pixels inside {inside / marked:.1%}, IoU {inside / union:.3f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", help="a segmenter .onnx or zoo name")
    parser.add_argument("data", nargs="+", type=Path, help="folders of unmarked photos")
    arguments = parser.parse_args()
    detector = load_detector(TaskOptions(task=TaskName.SEGMENT, model=arguments.model))
    assert detector is not None  # segment always has a model
    for folder in arguments.data:
        print(report(folder, detector), flush=True)


if __name__ == "__main__":
    main()
