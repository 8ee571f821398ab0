"""Build the three anomaly-detection domains docs/quality.md measures, from ../shared/data.

    wall   64 x 64 crops of kodim01's stone wall: 12 from the band between the floors
           (training), the wall crops elsewhere (testing), shutters, windows and pavement left out
    river  64 x 64 crops of kodim13's rapids: two rows for training, a lower row for testing
    lake   64 x 64 crops of kodim16's rippled lake, two rows cut like a checkerboard: 12 for
           training, the 10 between them for testing (added after the score was chosen on the
           wall and river, to measure it once on a domain it was not tuned on)

    python scripts/anomaly_domains.py ../shared/data/Kodak24 runs/anomaly-domains

writes ``<out>/<domain>/{train,test}/NN.png``. The crops are fixed, so the figures reproduce.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image

SIDE = 64
#: Boxes (top, left) inside kodim01 that are wall only: found by eye, listed so that they stay.
WALL_TRAIN = [(158, x) for x in range(0, 768 - SIDE + 1, 64)]
WALL_TEST = [
    (32, 512), (224, 128), (224, 320), (288, 128), (288, 320),
    (352, 128), (352, 320), (384, 384), (384, 512), (384, 576),
]  # fmt: skip
RIVER_TRAIN = [(y, x) for y in (296, 360) for x in range(150, 600 - SIDE + 1, 64)]
RIVER_TEST = [(430, x) for x in range(80, 560 - SIDE + 1, 64)]
LAKE_TRAIN = [(320, 8 + 128 * j) for j in range(6)] + [(440, 72 + 128 * j) for j in range(6)]
LAKE_TEST = [(320, 72 + 128 * j) for j in range(5)] + [(440, 8 + 128 * j) for j in range(5)]


def crops(image: np.ndarray, boxes: list[tuple[int, int]]) -> list[np.ndarray]:
    return [image[top : top + SIDE, left : left + SIDE] for top, left in boxes]


def write(folder: Path, images: list[np.ndarray]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for index, image in enumerate(images):
        Image.fromarray(image).save(folder / f"{index:02d}.png")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("kodak", type=Path, help="the Kodak24 folder (768 x 512 PNGs)")
    parser.add_argument("out", type=Path)
    args = parser.parse_args()
    wall = np.asarray(Image.open(args.kodak / "kodim01.png").convert("RGB"))
    river = np.asarray(Image.open(args.kodak / "kodim13.png").convert("RGB"))
    lake = np.asarray(Image.open(args.kodak / "kodim16.png").convert("RGB"))
    for name, image, train, test in (
        ("wall", wall, WALL_TRAIN, WALL_TEST),
        ("river", river, RIVER_TRAIN, RIVER_TEST),
        ("lake", lake, LAKE_TRAIN, LAKE_TEST),
    ):
        write(args.out / name / "train", crops(image, train))
        write(args.out / name / "test", crops(image, test))
        print(f"{name}: {len(train)} training and {len(test)} test crops of {SIDE} px")


if __name__ == "__main__":
    main()
