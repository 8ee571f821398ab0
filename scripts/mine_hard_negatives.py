"""Hard negatives for the mark segmenter: crops of unmarked training photos where it fires.

Every training photo (the trainer's hold-out excluded) is shown to the shipped segmenter in three
renditions: as it is, enlarged 1.2-2x and reduced 0.5-0.8x; each made gray with probability 1/3
and sharpened with probability 0.5 (unsharp mask σ 0.7-1.5 px, amount 0.3-1.2, as
``sharpened`` does in training). Around each connected region
it marks (probability > 0.5, at least MIN_PIXELS), a CROP x CROP window of that rendition is
written to OUT as a PNG. `aepipe train --task segment --negatives OUT` then draws part of
every batch from them, unmarked.

Why (docs/quality.md, issue 17): the segmenter fires on 23 of 24 unmarked Kodak24 scans but
on 32 of 432 CBSD432 photos as they are; sharpened, 51 of the first 100 fire, so the photos it
trained on hold the failures once they look like crisper scans. Gray and reduced, CBSD68's
photos made it fire on 35 and 8 of 68 (none as they are). The test sets are not mined.

    python scripts/mine_hard_negatives.py ../shared/data/CBSD432 runs/hard-negatives
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image
from scipy import ndimage

from aepipe.images import as_gray, as_rgb, from_float, to_float
from aepipe.images.filters import unsharp_mask
from aepipe.images.resample import resize_bicubic
from aepipe.runtime.options import TaskOptions
from aepipe.runtime.tasks.build import load_detector
from aepipe.runtime.tasks.segment import MarkDetector
from aepipe.training.data import load_rgb_images, split_holdout

CROP = 160
MIN_PIXELS = 16
CROPS_PER_RENDITION = 4  # the largest regions first; enough to cover an image's failures
HOLDOUT = 8  # what `aepipe train` validates on by default: never mined


ZOOMS = ((1.0, 1.0), (1.2, 2.0), (0.5, 0.8))  # as it is, enlarged, reduced


def rendition(image: np.ndarray, rng: np.random.Generator, zoom: tuple[float, float]) -> np.ndarray:
    """The photo as the segmenter may meet it: rescaled by a factor drawn from ``zoom``, gray a
    third of the time, sharpened half of the time."""
    factor = rng.uniform(*zoom)
    if factor != 1.0:
        size = (round(image.shape[0] * factor), round(image.shape[1] * factor))
        image = resize_bicubic(image, size)
    if rng.random() < 1 / 3:
        image = as_rgb(as_gray(image))
    if rng.random() < 0.5:
        sharp = unsharp_mask(to_float(image), rng.uniform(0.7, 1.5), rng.uniform(0.3, 1.2))
        image = from_float(sharp, np.uint8)
    return image


def false_alarm_crops(image: np.ndarray, detector: MarkDetector) -> list[np.ndarray]:
    """CROP-pixel windows centred on the largest regions the segmenter marks in ``image``."""
    labels, count = ndimage.label(detector.probability(image) > 0.5, np.ones((3, 3)))
    if count == 0:
        return []
    areas = ndimage.sum(np.ones(labels.shape), labels, np.arange(1, count + 1))
    centres = ndimage.center_of_mass(labels > 0, labels, np.arange(1, count + 1))
    order = [i for i in np.argsort(areas)[::-1] if areas[i] >= MIN_PIXELS]
    crops = []
    for index in order[:CROPS_PER_RENDITION]:
        crops.append(window(image, centres[index]))
    return crops


def window(image: np.ndarray, centre: tuple[float, float]) -> np.ndarray:
    """The CROP x CROP window around ``centre``, moved inside the image (smaller if it is)."""
    corner = []
    for axis, middle in enumerate(centre):
        side = min(CROP, image.shape[axis])
        corner.append(int(np.clip(round(middle) - side // 2, 0, image.shape[axis] - side)))
    top, left = corner
    return image[top : top + CROP, left : left + CROP]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data", help="the segmenter's training photos (unmarked)")
    parser.add_argument("out", type=Path, help="folder for the crops")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    detector = load_detector(TaskOptions(task="segment"))
    assert detector is not None  # the zoo ships a segmenter
    rng = np.random.default_rng(args.seed)
    train, _ = split_holdout(load_rgb_images(args.data), HOLDOUT)
    args.out.mkdir(parents=True, exist_ok=True)
    written = touched = 0
    for index, photo in enumerate(train):
        crops = [
            crop
            for zoom in ZOOMS
            for crop in false_alarm_crops(rendition(photo, rng, zoom), detector)
        ]
        touched += bool(crops)
        for number, crop in enumerate(crops):
            Image.fromarray(crop).save(args.out / f"{index:04d}-{number}.png")
        written += len(crops)
        print(f"{index + 1}/{len(train)}: {len(crops)} crops", flush=True)
    print(f"{written} crops from {touched} of {len(train)} photos in {args.out}")


if __name__ == "__main__":
    main()
