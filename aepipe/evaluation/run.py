"""``aepipe eval``: a model against the best classical baseline, same images, same run.

For each clean image in a folder (sorted by name; image ``i`` always uses seed ``seed + i``,
whatever ``--limit`` is) the task's degradation is applied, every method restores the same
degraded uint8 input, and each output is scored against the clean image:

    denoise      clean + N(0, σ/255), rounded and clipped to uint8   model(σ), [model blind],
                                                                     CBM3D(true σ), noisy input
    superres     HR = modcrop(clean, s); LR = uint8(imresize(HR, 1/s))  model, bicubic
                 (PSNR/SSIM on Y, BT.601, ``s`` border pixels cropped)
    unwatermark  uint8(add_watermark(clean, HELDOUT_STYLE))           model, OpenCV inpainting
                                                                     (true mask), marked input

The model runs through the production path (``build_task(...).apply`` on an image decoded from
PNG bytes); every output is in uint8 before scoring, as it would be written. Time is measured
around the method call only and reported as seconds per output megapixel.
"""

from __future__ import annotations

import dataclasses
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from aepipe.degrade.noise import add_gaussian_noise
from aepipe.degrade.resize import imresize, modcrop
from aepipe.degrade.watermark import HELDOUT_STYLE, add_watermark
from aepipe.errors import AepipeError
from aepipe.evaluation import baselines
from aepipe.evaluation.metrics import score
from aepipe.images import DecodedImage, decode, encode, from_float, to_float
from aepipe.tasks import Task, TilingParams, build_task
from aepipe.tasks.restore import RestoreTask

#: What each task's numbers mean; a restoration task without an entry cannot be evaluated.
PROTOCOLS = {
    "denoise": "clean uint8 + N(0, σ/255) (seed + index), rounded and clipped to uint8; "
    "PSNR/SSIM on RGB",
    "superres": "HR = modcrop(clean, s); LR = uint8(MATLAB bicubic(HR, 1/s)); "
    "PSNR/SSIM on Y (BT.601) with s border pixels cropped",
    "unwatermark": "add_watermark(clean, HELDOUT_STYLE) (seed + index), uint8; inpainting "
    "(radius 3) gets the true mask; PSNR/SSIM on RGB",
}
EVAL_TASKS = tuple(PROTOCOLS)
IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp"})
MODEL, BASELINE = "model", "baseline"
MISSING = "-"
MIN_RATIO_SECONDS = 0.05


class EvalError(AepipeError):
    """The evaluation cannot run as asked (no images, unsupported image type, bad option)."""


@dataclass(frozen=True)
class EvalConfig:
    data_dir: Path
    task: str
    model: str | None = None  # registry name, .onnx path or URI; None: the task's default
    noise_level: float = 25.0  # denoise: σ on the 0–255 scale
    scale: int = 2  # superres factor
    seed: int = 0
    limit: int | None = None
    baseline: bool = True
    blind: bool = False  # denoise: also run the model without σ (it estimates it)
    tile: int | None = None  # None: the model card's recommendation
    self_ensemble: bool = False  # the model averaged over 8 flips/rotations (8x its time)

    def __post_init__(self) -> None:
        if self.task not in EVAL_TASKS:
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


@dataclass(frozen=True)
class Method:
    label: str
    kind: str  # MODEL or BASELINE
    restore: Callable[[Case], np.ndarray]  # -> uint8 pixels the size of case.reference


# --- Degradations: the protocol, one pure function per task --------------------------------


def noisy_image(clean: np.ndarray, sigma: float, seed: int) -> np.ndarray:
    """Clean uint8 + N(0, σ/255) with ``seed``, rounded and clipped to uint8 like a real file."""
    noisy = add_gaussian_noise(to_float(clean), sigma, np.random.default_rng(seed))
    return from_float(noisy, clean.dtype)


def low_res_pair(clean: np.ndarray, scale: int) -> tuple[np.ndarray, np.ndarray]:
    """(HR, LR): HR cropped to a multiple of ``scale``, LR its MATLAB bicubic downscale in uint8."""
    high = modcrop(clean, scale)
    return high, from_float(imresize(to_float(high), 1 / scale), clean.dtype)


def watermarked(clean: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(marked uint8, true mask) with the held-out style the model never saw in training."""
    marked, alpha = add_watermark(to_float(clean), np.random.default_rng(seed), HELDOUT_STYLE)
    return from_float(marked, clean.dtype), alpha > 0


def _as_decoded(pixels: np.ndarray, template: DecodedImage, name: str) -> DecodedImage:
    """``pixels`` as the pipeline would see them: PNG bytes through the production decoder."""
    mode = "RGB" if pixels.shape[2] == 3 else "L"
    info = dataclasses.replace(template.info, channels=pixels.shape[2], mode=mode)
    return decode(encode(pixels, info, format="PNG"), name)


def make_case(config: EvalConfig, name: str, clean: DecodedImage, seed: int) -> Case:
    """Apply ``config.task``'s degradation to one clean image."""
    reference, mask = clean.pixels, None
    if config.task == "denoise":
        degraded = noisy_image(reference, config.noise_level, seed)
    elif config.task == "superres":
        reference, degraded = low_res_pair(reference, config.scale)
    else:
        if reference.shape[2] == 1:  # watermarks are coloured: score gray images as RGB
            reference = np.repeat(reference, 3, axis=2)
        degraded, mask = watermarked(reference, seed)
    return Case(name, seed, reference, _as_decoded(degraded, clean, name), mask)


# --- Methods --------------------------------------------------------------------------------


def model_methods(config: EvalConfig) -> tuple[list[Method], dict[str, Any]]:
    """The model's rows (σ given, and blind on request) and what identifies its weights.

    Loading comes first in a run, so a missing model fails before any slow baseline.
    """
    tiling = TilingParams(tile=config.tile, self_ensemble=config.self_ensemble)
    options: dict[str, Any] = {"scale": config.scale} if config.task == "superres" else {}
    variants: list[tuple[str, dict[str, Any]]] = [("", options)]
    if config.task == "denoise":
        variants = [(f" (σ={config.noise_level:g})", {"noise_level": config.noise_level})]
        if config.blind:
            variants.append((" (blind)", {"noise_level": None}))
    methods, identity = [], {}
    for suffix, kwargs in variants:
        task = build_task(config.task, config.model, tiling=tiling, **kwargs)
        assert isinstance(task, RestoreTask) and task.model and task.model.card
        name = task.model.card.name
        identity = {"spec": config.model, "name": name, "sha256": task.model_sha256}
        label = f"{name}{' x8' if config.self_ensemble else ''}{suffix}"
        methods.append(Method(label, MODEL, _applier(task)))
    return methods, identity


def _applier(task: Task) -> Callable[[Case], np.ndarray]:
    """The production call: the task on the decoded image, native-dtype pixels out."""

    def restore(case: Case) -> np.ndarray:
        return task.apply(case.degraded).pixels

    return restore


def baseline_methods(config: EvalConfig) -> list[Method]:
    """The classical opponents of ``config.task``, each given the protocol's true parameters."""
    sigma, scale = config.noise_level, config.scale
    if config.task == "denoise":
        return [
            Method(
                f"CBM3D (σ={sigma:g})",
                BASELINE,
                lambda c: baselines.cbm3d(c.degraded.pixels, sigma),
            ),
            Method("noisy input", BASELINE, lambda c: baselines.untouched(c.degraded.pixels)),
        ]
    if config.task == "superres":
        return [
            Method(
                f"bicubic x{scale}", BASELINE, lambda c: baselines.bicubic(c.degraded.pixels, scale)
            )
        ]
    return [
        Method(f"inpaint {m.upper()} (true mask)", BASELINE, _inpainter(m)) for m in ("telea", "ns")
    ] + [Method("watermarked input", BASELINE, lambda c: baselines.untouched(c.degraded.pixels))]


def _inpainter(method: str) -> Callable[[Case], np.ndarray]:
    def restore(case: Case) -> np.ndarray:
        assert case.mask is not None, "unwatermark cases carry their mask"
        return baselines.inpaint(case.degraded.pixels, case.mask, method)

    return restore


# --- The loop ---------------------------------------------------------------------------------


def list_images(data_dir: Path, limit: int | None = None) -> list[Path]:
    """Image files directly in ``data_dir``, sorted by name; the first ``limit`` of them."""
    if not data_dir.is_dir():
        raise EvalError(f"{data_dir}: not a folder")
    paths = sorted(p for p in data_dir.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not paths:
        raise EvalError(f"{data_dir}: no images ({', '.join(sorted(IMAGE_SUFFIXES))})")
    return paths[:limit]


def load_clean(path: Path) -> DecodedImage:
    """A clean test image; 8-bit only, as every protocol here is defined on 8-bit images."""
    image = decode(path.read_bytes(), path.name)
    if image.pixels.dtype != np.uint8:
        raise EvalError(f"{path.name}: {image.pixels.dtype} samples; eval needs 8-bit images")
    return image


def timed(method: Method, case: Case) -> tuple[np.ndarray, float, float]:
    """(pixels, wall seconds, process CPU seconds): CPU/wall shows the cores a method really got."""
    start, cpu = time.perf_counter(), time.process_time()
    pixels = method.restore(case)
    return pixels, time.perf_counter() - start, time.process_time() - cpu


def evaluate_case(config: EvalConfig, case: Case, methods: Sequence[Method]) -> dict[str, Any]:
    """Every method on one case: PSNR, SSIM, seconds and seconds per output megapixel."""
    height, width = case.reference.shape[:2]
    y_channel = config.task == "superres"
    results = {}
    for method in methods:
        pixels, seconds, cpu_seconds = timed(method, case)
        if pixels.shape != case.reference.shape:
            raise EvalError(
                f"{case.name}: {method.label} returned {pixels.shape}, "
                f"expected {case.reference.shape}"
            )
        scores = score(case.reference, pixels, y_channel=y_channel, border=_border(config))
        results[method.label] = {
            "psnr": scores.psnr,
            "ssim": scores.ssim,
            "seconds": seconds,
            "seconds_per_mp": seconds / (height * width / 1e6),
            "cpu_seconds": cpu_seconds,
            "cpu_per_wall": cpu_per_wall(cpu_seconds, seconds),
        }
    return {
        "name": case.name,
        "seed": case.seed,
        "width": width,
        "height": height,
        "results": results,
    }


def cpu_per_wall(cpu_seconds: float, seconds: float) -> float | None:
    """Cores busy on average (near the thread count: nothing else took the CPU).

    None under ``MIN_RATIO_SECONDS``: the ratio of two tiny intervals is noise.
    """
    return cpu_seconds / seconds if seconds >= MIN_RATIO_SECONDS else None


def _border(config: EvalConfig) -> int:
    return config.scale if config.task == "superres" else 0


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def run_eval(
    config: EvalConfig,
    methods: Sequence[Method] | None = None,
    log: Callable[[str], None] = _stderr,
) -> EvalReport:
    """Evaluate ``methods`` (default: the model, plus baselines unless disabled) on the folder."""
    from aepipe.reports.machine import load_average

    model: dict[str, Any] = {}
    if methods is None:
        found, model = model_methods(config)
        methods = found + (baseline_methods(config) if config.baseline else [])
    paths = list_images(config.data_dir, config.limit)
    report = EvalReport(config, model, [(m.label, m.kind) for m in methods])
    report.machine["load_average_before"] = load_average()
    for index, path in enumerate(paths):
        case = make_case(config, path.name, load_clean(path), config.seed + index)
        if index == 0:
            _warm_up(methods, case)
        row = evaluate_case(config, case, methods)
        report.images.append(row)
        log(_progress(index, len(paths), row))
    report.machine["load_average_after"] = load_average()
    report.finished = _now()
    return report


def _warm_up(methods: Sequence[Method], case: Case) -> None:
    """One untimed model call: ONNX Runtime allocates its arenas on the first run."""
    for method in methods:
        if method.kind == MODEL:
            method.restore(case)


def _progress(index: int, total: int, row: dict[str, Any]) -> str:
    parts = [
        f"{label} {r['psnr']:.2f} dB {r['seconds']:.1f} s" for label, r in row["results"].items()
    ]
    return f"[{index + 1}/{total}] {row['name']}: " + "; ".join(parts)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


# --- The report -------------------------------------------------------------------------------


def _machine() -> dict[str, Any]:
    """bench's machine facts plus the versions the baselines' numbers depend on."""
    from aepipe.reports.machine import machine_info

    info = machine_info()
    for package in ("bm3d", "opencv-python-headless", "scikit-image"):
        try:
            info[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            info[package] = None
    return info


@dataclass
class EvalReport:
    config: EvalConfig
    model: dict[str, Any]  # spec, name, sha256 (empty when methods were passed in)
    methods: list[tuple[str, str]]  # (label, kind) in table order
    images: list[dict[str, Any]] = field(default_factory=list)
    machine: dict[str, Any] = field(default_factory=_machine)
    started: str = field(default_factory=_now)
    finished: str | None = None

    def means(self) -> dict[str, dict[str, float | None]]:
        """Per method: mean PSNR, SSIM, s/MP (each image weighs the same) and overall CPU/wall."""
        return {label: self._mean(label) for label, _ in self.methods}

    def _mean(self, label: str) -> dict[str, float | None]:
        results = [row["results"][label] for row in self.images]
        mean: dict[str, float | None] = {
            key: statistics.fmean(r[key] for r in results)
            for key in ("psnr", "ssim", "seconds_per_mp")
        }
        total = [sum(r[key] for r in results) for key in ("cpu_seconds", "seconds")]
        mean["cpu_per_wall"] = cpu_per_wall(*total)
        return mean

    def to_dict(self) -> dict[str, Any]:
        config = {k: str(v) if isinstance(v, Path) else v for k, v in vars(self.config).items()}
        means = self.means() if self.images else {}
        return {
            "task": self.config.task,
            "protocol": PROTOCOLS[self.config.task],
            "config": config,
            "model": self.model,
            "methods": [
                {"label": label, "kind": kind, "mean": means.get(label)}
                for label, kind in self.methods
            ],
            "images": self.images,
            "machine": self.machine,
            "started": self.started,
            "finished": self.finished,
        }

    def markdown(self, per_image: bool = False) -> str:
        """The mean table (and with ``per_image`` every image's rows above it)."""
        from aepipe.reports.tables import markdown_table

        rows = [*(self._image_rows() if per_image else []), *self._mean_rows()]
        headers = ["image", "method", "kind", "PSNR (dB)", "SSIM", "s/MP", "CPU/wall"]
        return "\n\n".join([self._title(), markdown_table(headers, rows), self._context()])

    def _image_rows(self) -> list[list[str]]:
        return [
            [row["name"], label, kind, *_cells(row["results"][label])]
            for row in self.images
            for label, kind in self.methods
        ]

    def _mean_rows(self) -> list[list[str]]:
        means = self.means() if self.images else {}
        mean = f"mean of {len(self.images)}"
        return [[mean, label, kind, *_cells(means.get(label))] for label, kind in self.methods]

    def _title(self) -> str:
        c = self.config
        detail = {"denoise": f"σ={c.noise_level:g}", "superres": f"x{c.scale}"}.get(c.task, "")
        return (
            f"**aepipe eval** `{c.task}` {detail} on `{c.data_dir}`, seed {c.seed}: "
            + (PROTOCOLS[c.task])
        )

    def _context(self) -> str:
        m = self.machine
        model = (
            f"model {self.model['name']} sha256 {self.model['sha256'][:12]}…; "
            if self.model
            else ""
        )
        load = f"load average {m.get('load_average_before')} -> {m.get('load_average_after')}"
        return f"{model}{m['cpu']}, {m['usable_cpus']} usable CPUs; {load}"


def _cells(values: dict[str, Any] | None) -> list[str]:
    if not values:
        return [MISSING] * 4
    cpu = values["cpu_per_wall"]
    return [
        f"{values['psnr']:.2f}",
        f"{values['ssim']:.4f}",
        f"{values['seconds_per_mp']:.3g}",
        MISSING if cpu is None else f"{cpu:.2f}",
    ]
