"""Can the shipped watermark remover's own alpha decide where to touch a photo? (issue 17)

The matte U-Net estimates a per-pixel alpha; "touch only what you detect" could gate its
output on that alpha. This measures the alpha on unmarked photos and on the same photos with
one held-out-style mark, from the shipped checkpoint (needs torch):

    python scripts/matte_alpha_as_detector.py ../shared/data/Kodak24 ../shared/data/CBSD68

Per folder: the mean share of pixels with alpha > 0.1, and the mean of each image's largest
alpha, unmarked and marked, plus the share of true mark pixels the 0.1 threshold finds.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from aepipe.degrade.watermark import HELDOUT_STYLE, add_watermark
from aepipe.images import IMAGE_SUFFIXES, decode
from aepipe.training.export import load_checkpoint

CHECKPOINT = Path(__file__).resolve().parents[1] / "checkpoints" / "unwatermark-unet-s.pt"
THRESHOLD = 0.1


def estimated_alpha(model: torch.nn.Module, pixels: np.ndarray) -> np.ndarray:
    """H x W alpha of an H x W x 3 uint8 image, reflect-padded to the U-Net's multiple of 8."""
    x = torch.from_numpy(pixels.astype(np.float32) / 255).permute(2, 0, 1)[None]
    height, width = pixels.shape[:2]
    x = torch.nn.functional.pad(x, (0, -width % 8, 0, -height % 8), mode="reflect")
    with torch.no_grad():
        logit, _, _ = model.matte(x)  # type: ignore[operator]
    return (model.max_alpha * torch.sigmoid(logit))[0, 0, :height, :width].numpy()  # type: ignore[operator]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="+", type=Path)
    args = parser.parse_args()
    model, _ = load_checkpoint(CHECKPOINT)
    model.eval()
    print("| folder | images | alpha > 0.1, unmarked | max alpha, unmarked | alpha > 0.1, marked"
          " | max alpha, marked | true mark found |")  # fmt: skip
    print("|---|---|---|---|---|---|---|")
    for folder in args.folders:
        rows = []
        for index, path in enumerate(sorted(folder.iterdir())):
            if path.suffix.lower() not in IMAGE_SUFFIXES:
                continue
            clean = decode(path.read_bytes(), path.name).pixels[..., :3]
            rng = np.random.default_rng(index)
            marked, true_alpha = add_watermark(clean / 255.0, rng, HELDOUT_STYLE)
            marked_pixels = np.clip(np.rint(marked * 255), 0, 255).astype(np.uint8)
            unmarked_alpha = estimated_alpha(model, clean)
            marked_alpha = estimated_alpha(model, marked_pixels)
            mark = true_alpha > 0
            rows.append([
                (unmarked_alpha > THRESHOLD).mean(), unmarked_alpha.max(),
                (marked_alpha > THRESHOLD).mean(), marked_alpha.max(),
                (marked_alpha[mark] > THRESHOLD).mean(),
            ])  # fmt: skip
        means = np.mean(rows, axis=0)
        print(
            f"| {folder.name} | {len(rows)} | {means[0]:.2%} | {means[1]:.2f} | {means[2]:.2%} "
            f"| {means[3]:.2f} | {means[4]:.1%} |"
        )


if __name__ == "__main__":
    main()
