"""The restoration protocols of ``aepipe eval``: each task's degradation, seeded per image.

For each clean image in a folder (sorted by name; image ``i`` always uses seed ``seed + i``,
whatever ``--limit`` is) the task's degradation is applied, every method restores the same
degraded uint8 input, and each output is scored against the clean image:

    denoise      clean + N(0, σ/255), rounded and clipped to uint8   model(σ), [model blind],
                                                                     CBM3D(true σ), noisy input
    superres     HR = modcrop(clean, s); LR = uint8(imresize(HR, 1/s))  model, bicubic
                 (PSNR/SSIM on Y, BT.601, ``s`` border pixels cropped)
    unwatermark  uint8(add_watermark(clean, --marks style))           model, OpenCV inpainting
                                                                     (true mask), marked input
                 --marks heldout (default): fonts and logos training never saw;
                 unseen: other font families (Debian's URW and Liberation fonts), opacity
                 0.2-0.7, outlines; none: no mark at all (does the remover leave photos alone?)
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from aepipe.degrade import (
    HELDOUT_STYLE,
    add_watermark,
    imresize,
    modcrop,
    noisy_file,
    unseen_style,
)
from aepipe.errors import AepipeError
from aepipe.images import DecodedImage, as_rgb, decode, encode, from_float, to_float
from aepipe.parameters import option
from aepipe.runtime.tasks.names import TaskName

#: What each task's numbers mean; a restoration task without an entry cannot be evaluated.
PROTOCOLS = {
    "denoise": "clean uint8 + N(0, σ/255) (seed + index), rounded and clipped to uint8; "
    "PSNR/SSIM on RGB",
    "superres": "HR = modcrop(clean, s); LR = uint8(MATLAB bicubic(HR, 1/s)); "
    "PSNR/SSIM on Y (BT.601) with s border pixels cropped",
    "unwatermark": "add_watermark(clean, --marks style) (seed + index), uint8; inpainting "
    "(radius 3) gets the true mask; PSNR/SSIM on RGB",
}
EVAL_TASKS = tuple(PROTOCOLS)
#: Evaluations with protocols of their own (their modules in tools/evaluation say how).
OTHER_EVALS = (
    TaskName.COMPRESS,
    TaskName.ANOMALY,
    TaskName.SEGMENT,
    TaskName.INPAINT,
    TaskName.EMBED,
    "generate",
)


class EvalError(AepipeError):
    """The evaluation cannot run as asked (no images, unsupported image type, bad option)."""


@dataclass(frozen=True)
class EvalConfig:
    data_dir: Path = option("folder of clean images (e.g. CBSD68)", positional=True)
    task: str = option(
        "what to evaluate (trust: the domain check beside --model)",
        choices=(*EVAL_TASKS, *OTHER_EVALS, "trust"),
    )
    model: str | None = option("registry name, .onnx path or s3:// URI", None)
    noise_level: float = option("denoise: σ on the 0–255 scale", 25.0)
    scale: int = option("superres factor", 2, choices=(2, 4))
    seed: int = option("image i is degraded with seed + i", 0)
    limit: int | None = option("the first N images (sorted by name)", None)
    baseline: bool = option("also run the classical baseline(s)", True)
    blind: bool = option("denoise: also run the model without σ (it estimates it)", False)
    marks: str = option(
        "unwatermark: heldout (fonts/logos training never saw), unseen (other font families, "
        "opacity 0.2-0.7), none (unmarked photos)",
        "heldout",
        choices=("heldout", "unseen", "none"),
    )
    detector: str | None = option(
        "unwatermark: the mark segmenter gating the remover (default: its zoo companion; the "
        "ungated remover is measured beside it); 'none': ungated only",
        None,
    )
    tile: int | None = option("tile side in pixels (0: whole image; default: the model's)", None)
    self_ensemble: bool = option(
        "average the model over 8 flips/rotations (better, 8x slower)", False
    )

    def __post_init__(self) -> None:
        if self.task not in (*EVAL_TASKS, TaskName.SEGMENT, TaskName.INPAINT):
            raise EvalError(f"eval supports {', '.join(EVAL_TASKS)}, not {self.task!r}")
        if self.limit is not None and self.limit < 1:
            raise EvalError("--limit must be at least 1")


@dataclass(frozen=True)
class Case:
    """One test image after the degradation: what every method gets, and the reference."""

    name: str
    seed: int
    reference: np.ndarray  # clean uint8 H x W x C (modcropped for superres)
    degraded: DecodedImage  # decoded from PNG bytes, as production would read it
    mask: np.ndarray | None = None  # unwatermark: the true watermark mask (H x W bool)


# --- Degradations: the protocol, one pure function per task --------------------------------


def noisy_image(clean: np.ndarray, sigma: float, seed: int) -> np.ndarray:
    """Clean uint8 + N(0, σ/255) with ``seed``, rounded and clipped to uint8 like a real file."""
    return noisy_file(clean, sigma, np.random.default_rng(seed))


def low_res_pair(clean: np.ndarray, scale: int) -> tuple[np.ndarray, np.ndarray]:
    """(HR, LR): HR cropped to a multiple of ``scale``, LR its MATLAB bicubic downscale in uint8."""
    high = modcrop(clean, scale)
    return high, from_float(imresize(to_float(high), 1 / scale), clean.dtype)


def watermarked(
    clean: np.ndarray, seed: int, marks: str = "heldout"
) -> tuple[np.ndarray, np.ndarray]:
    """(marked uint8, true mask) in a style the model never saw in training; ``none``: the
    photo as it is, with an empty mask."""
    if marks == "none":
        return clean, np.zeros(clean.shape[:2], dtype=bool)
    style = HELDOUT_STYLE if marks == "heldout" else unseen_style()
    marked, alpha = add_watermark(to_float(clean), np.random.default_rng(seed), style)
    return from_float(marked, clean.dtype), alpha > 0


def _as_decoded(pixels: np.ndarray, template: DecodedImage, name: str) -> DecodedImage:
    """``pixels`` as the pipeline would see them: PNG bytes through the production decoder."""
    mode = "RGB" if pixels.shape[2] == 3 else "L"
    info = dataclasses.replace(template.info, channels=pixels.shape[2], mode=mode)
    return decode(encode(pixels, info, format="PNG"), name)


def make_case(config: EvalConfig, name: str, clean: DecodedImage, seed: int) -> Case:
    """Apply ``config.task``'s degradation to one clean image."""
    reference, mask = clean.pixels, None
    if config.task == TaskName.DENOISE:
        degraded = noisy_image(reference, config.noise_level, seed)
    elif config.task == TaskName.SUPERRES:
        reference, degraded = low_res_pair(reference, config.scale)
    else:
        reference = as_rgb(reference)  # watermarks are coloured: score gray images as RGB
        degraded, mask = watermarked(reference, seed, config.marks)
    return Case(name, seed, reference, _as_decoded(degraded, clean, name), mask)
