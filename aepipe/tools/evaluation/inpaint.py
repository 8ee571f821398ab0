"""``aepipe eval --task inpaint``: how well each fill restores what a hole covered.

Each image of the folder gets two holes in turn, seeded per image (seed + index):

    free-form   brush strokes covering 2-25 % of the image (``aepipe.degrade.holes``)
    marks       the pixels of a watermark in the unseen style (alpha > 0): the holes the
                remover hands over when it fills instead of unblending

and every fill (OpenCV Navier-Stokes and Telea; the inpainting network with ``--model``, or
the shipped one) runs through the ``inpaint`` task on the image with the hole as its alpha.
Figures are measured inside the hole only (everything else is the input's by construction):
PSNR of the hole's pixels, and the mean of the SSIM map over them.
"""

from __future__ import annotations

import dataclasses
import sys
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from aepipe.degrade import add_watermark, unseen_style
from aepipe.degrade.holes import free_form_hole
from aepipe.images import DecodedImage, as_rgb, decode, encode, from_float, to_float
from aepipe.images.fill import FILL_METHODS, FILL_MODEL
from aepipe.metrics import psnr, ssim_map
from aepipe.runtime.model.zoo import shipped_default
from aepipe.runtime.options import TaskOptions
from aepipe.runtime.tasks.build import build_task
from aepipe.runtime.tasks.names import TaskName
from aepipe.tools.evaluation.dataset import list_images, load_clean
from aepipe.tools.evaluation.protocol import EvalConfig
from aepipe.tools.tables import markdown_table

HOLE_KINDS = ("free-form", "marks")


@dataclass
class InpaintEvalReport:
    config: EvalConfig
    fills: list[str]
    images: list[dict[str, Any]] = field(default_factory=list)  # name, hole, fill -> figures

    def to_dict(self) -> dict[str, Any]:
        config = {k: str(v) for k, v in dataclasses.asdict(self.config).items()}
        return {"task": "inpaint", "config": config, "fills": self.fills, "images": self.images}

    def markdown(self) -> str:
        rows = []
        for kind in HOLE_KINDS:
            cases = [row for row in self.images if row["hole"] == kind]
            for fill in self.fills:
                rows.append(
                    [
                        kind,
                        fill,
                        str(len(cases)),
                        f"{np.mean([c['area'] for c in cases]):.1%}",
                        f"{np.mean([c[fill]['psnr'] for c in cases]):.2f}",
                        f"{np.mean([c[fill]['ssim'] for c in cases]):.4f}",
                    ]
                )
        headers = ["hole", "fill", "images", "mean area", "PSNR in hole (dB)", "SSIM in hole"]
        return "\n\n".join(
            [
                f"**aepipe eval** `inpaint` on `{self.config.data_dir}` (seed {self.config.seed})",
                markdown_table(headers, rows),
            ]
        )


def run_inpaint_eval(config: EvalConfig) -> InpaintEvalReport:
    fills = list(FILL_METHODS)
    if config.model or shipped_default(TaskName.INPAINT):
        fills.append(FILL_MODEL)
    tasks = {
        fill: build_task(
            TaskOptions(
                task=TaskName.INPAINT,
                fill=fill,
                detector="none",
                tile=config.tile,
                model=config.model if fill == FILL_MODEL else None,
            )
        )
        for fill in fills
    }
    report = InpaintEvalReport(config, fills)
    paths = list_images(config.data_dir, config.limit)
    for index, path in enumerate(paths):
        clean = load_clean(path)
        rgb = as_rgb(clean.pixels)
        for kind in HOLE_KINDS:
            hole = _hole(kind, rgb, config.seed + index)
            row: dict[str, Any] = {"name": path.name, "hole": kind, "area": float(hole.mean())}
            holed = _with_hole_as_alpha(rgb, hole, clean)
            for fill, task in tasks.items():
                filled = task.apply(holed).pixels
                row[fill] = {
                    "psnr": psnr(rgb[hole], filled[hole]),
                    "ssim": float(ssim_map(rgb, filled)[hole].mean()),
                }
            report.images.append(row)
        print(f"[{index + 1}/{len(paths)}] {path.name}", file=sys.stderr, flush=True)
    return report


def _hole(kind: str, rgb: np.ndarray, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if kind == "free-form":
        return free_form_hole(rng, *rgb.shape[:2])
    _, alpha = add_watermark(to_float(rgb), rng, unseen_style())
    return alpha > 0


def _with_hole_as_alpha(rgb: np.ndarray, hole: np.ndarray, like: DecodedImage) -> DecodedImage:
    """The image as the pipeline would read it, its hole transparent (and blanked: no fill
    may peek at what the hole covered)."""
    blank = np.where(hole[..., None], 0, rgb).astype(rgb.dtype)
    alpha = from_float(np.where(hole, 0.0, 1.0)[..., None].astype(np.float32), rgb.dtype)
    info = dataclasses.replace(like.info, channels=3, mode="RGB", has_alpha=True)
    return decode(encode(blank, info, alpha=alpha[..., 0], format="PNG"), "holed.png")
