"""``aepipe eval --task anomaly``: how well a model separates normal images from defective ones.

    cases     the folder's normal images, and defective ones: each normal image with every
              synthetic defect kind (``aepipe.degrade.defects``, ``per_kind`` seeds each), or
              the images of ``--defects DIR`` (with ``<stem>.mask.png`` masks where given)
    methods   the autoencoder and PCA with the same code size (block x block patches, the
              AE's code channels per block), both reconstructing the same images
    maps      the model's own score definition ("features"), plain squared error ("l2") and
              1 - SSIM ("ssim"); feature statistics of both methods are fitted the same way,
              on the same ``--fit`` normal images (default: the model's training data)
    figures   image AUROC (max of the smoothed map), pixel AUROC where masks are known,
              AUROC per defect kind; for the model as exported (its card's statistics and
              threshold) also the share of normal and defective images flagged

Numpy only (no torch): the autoencoder runs through the runtime's anomaly task.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from aepipe.degrade.defects import DEFECT_KINDS, add_defect
from aepipe.images import as_rgb, decode, from_float, to_float
from aepipe.images.filters import gaussian_blur
from aepipe.metrics import ssim_map
from aepipe.runtime.anomaly.scoring import AnomalyScoring, fit_scoring
from aepipe.runtime.options import TaskOptions
from aepipe.runtime.tasks.anomaly import AnomalyTask, reconstruct
from aepipe.runtime.tasks.build import build_task
from aepipe.runtime.tasks.names import TaskName
from aepipe.tools.evaluation.dataset import list_images
from aepipe.tools.evaluation.pca import fit_block_pca
from aepipe.tools.evaluation.protocol import EvalError
from aepipe.tools.tables import markdown_table

MAPS = ("features", "l2", "ssim")
SYNTHETIC = "synthetic"
#: Pixels per image kept for pixel AUROC (a random subset): bounded memory for big images.
PIXELS_PER_IMAGE = 20_000


@dataclass(frozen=True)
class AnomalyEvalConfig:
    data_dir: Path  # normal test images
    model: str | None
    defects: str = SYNTHETIC  # or a folder of defective images
    fit: Path | None = None  # normal images PCA and the statistics are fitted on
    per_kind: int = 2  # synthetic defects of each kind per normal image
    seed: int = 0
    limit: int | None = None


@dataclass(frozen=True)
class Case:
    name: str
    image: np.ndarray  # H x W x 3 float32 in [0, 1]
    mask: np.ndarray | None  # H x W bool where known; all False for normal images
    kind: str  # "normal" or the defect kind ("unknown" for a folder without masks)

    @property
    def defective(self) -> bool:
        return self.kind != "normal"


@dataclass
class AnomalyEvalReport:
    config: AnomalyEvalConfig
    model: dict[str, Any]
    results: dict[str, dict[str, Any]] = field(default_factory=dict)  # "method map" -> figures
    deployed: dict[str, Any] = field(default_factory=dict)  # the card's own calibration
    counts: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "task": "anomaly",
            "config": {
                k: str(v) if isinstance(v, Path) else v for k, v in vars(self.config).items()
            },
            "model": self.model,
            "counts": self.counts,
            "results": self.results,
            "deployed": self.deployed,
        }

    def markdown(self) -> str:
        kinds = sorted({k for r in self.results.values() for k in r["kinds"]})
        headers = ["method", "map", "image AUROC", "pixel AUROC", *kinds]
        rows = [
            [
                label.split()[0],
                label.split()[1],
                f"{r['image_auroc']:.3f}",
                "-" if r["pixel_auroc"] is None else f"{r['pixel_auroc']:.3f}",
                *(f"{r['kinds'].get(k, float('nan')):.3f}" for k in kinds),
            ]
            for label, r in self.results.items()
        ]
        d = self.deployed
        deployed = (
            f"As exported (card statistics, threshold {d['threshold']:.4g}): image AUROC "
            f"{d['image_auroc']:.3f}; flagged {d['normal_flagged']} of {d['normals']} normal and "
            f"{d['defective_flagged']} of {d['defective']} defective images"
        )
        return "\n\n".join(
            [
                f"**aepipe eval** `anomaly` with {self.model['name']} on `{self.config.data_dir}` "
                f"({self.counts['normal']} normal, {self.counts['defective']} defective images; "
                f"defects: {self.config.defects}); PCA keeps {self.model['code_channels']} "
                f"components per {self.model['code_block']}x{self.model['code_block']} patch",
                markdown_table(headers, rows),
                deployed,
            ]
        )


def auroc(
    negatives: Sequence[float] | np.ndarray, positives: Sequence[float] | np.ndarray
) -> float:
    """Area under the ROC curve: P(a positive scores above a negative), ties counted half
    (the Mann-Whitney U statistic from average ranks)."""
    neg, pos = np.asarray(negatives, np.float64), np.asarray(positives, np.float64)
    if not len(neg) or not len(pos):
        raise EvalError("AUROC needs both normal and defective cases")
    _, inverse, counts = np.unique(
        np.concatenate([neg, pos]), return_inverse=True, return_counts=True
    )
    average_rank = np.cumsum(counts) - (counts - 1) / 2
    rank_sum = average_rank[inverse[len(neg) :]].sum()
    return float((rank_sum - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg)))


def load_float(path: Path) -> np.ndarray:
    image = decode(path.read_bytes(), path.name)
    return to_float(as_rgb(image.pixels)).astype(np.float32)


def build_cases(config: AnomalyEvalConfig) -> list[Case]:
    normals = [_normal(path) for path in list_images(config.data_dir, config.limit)]
    if config.defects != SYNTHETIC:
        return normals + _folder_defects(Path(config.defects))
    rng = np.random.default_rng(config.seed)
    defective = []
    for case in normals:
        for kind in DEFECT_KINDS:
            for index in range(config.per_kind):
                defect = add_defect(case.image, rng, kind)
                defective.append(
                    Case(f"{case.name}:{kind}{index}", defect.image, defect.mask, kind)
                )
    return normals + defective


def _normal(path: Path) -> Case:
    image = load_float(path)
    return Case(path.name, image, np.zeros(image.shape[:2], bool), "normal")


def _folder_defects(folder: Path) -> list[Case]:
    cases = []
    for path in list_images(folder):
        if path.name.endswith(".mask.png"):
            continue
        mask_path = path.with_name(path.stem + ".mask.png")
        mask = (
            to_float(decode(mask_path.read_bytes(), mask_path.name).pixels)[..., 0] > 0.5
            if mask_path.exists()
            else None
        )
        cases.append(Case(path.name, load_float(path), mask, "defect"))
    return cases


Reconstructor = Callable[[np.ndarray], np.ndarray]


def run_anomaly_eval(
    config: AnomalyEvalConfig, log: Callable[[str], None] = lambda m: print(m, file=sys.stderr)
) -> AnomalyEvalReport:
    task = build_task(TaskOptions(task=TaskName.ANOMALY, model=config.model))
    if not isinstance(task, AnomalyTask):
        raise EvalError("the anomaly task did not load an anomaly model")
    card = task.model.card.anomaly
    fit_dir = config.fit or Path(str(task.model.card.training_data))
    if not fit_dir.is_dir():
        raise EvalError(f"--fit {fit_dir}: not a folder of normal images (PCA is fitted on them)")
    fit_images = [load_float(p) for p in list_images(fit_dir)]
    block, channels = int(card["code_block"]), int(card["code_channels"])
    pca = fit_block_pca(fit_images, block, channels, config.seed)

    def autoencoder(image: np.ndarray) -> np.ndarray:
        native = from_float(image, "uint8")
        return to_float(reconstruct(task.model, native, task.options)).astype(np.float32)

    methods: dict[str, Reconstructor] = {"AE": autoencoder, "PCA": pca.reconstruct}
    cases = build_cases(config)
    log(f"{len(cases)} cases; fitting statistics on {len(fit_images)} images of {fit_dir}")
    report = AnomalyEvalReport(
        config,
        {
            "spec": config.model,
            "name": task.model.card.name,
            "sha256": task.model_sha256,
            "code_block": block,
            "code_channels": channels,
            "pca_fit": str(fit_dir),
        },
        counts={
            "normal": sum(not c.defective for c in cases),
            "defective": sum(c.defective for c in cases),
        },
    )
    template = task.scoring
    for method, rebuild in methods.items():
        fit_pairs = [(image, rebuild(image)) for image in fit_images]
        pairs = [(case.image, rebuild(case.image)) for case in cases]
        log(f"{method}: reconstructed {len(pairs)} cases")
        for map_name in MAPS:
            maps = _maps(map_name, template, fit_pairs, pairs)
            figures = _figures(cases, maps, config.seed)
            report.results[f"{method} {map_name}"] = figures
            log(f"{method} {map_name}: image AUROC {figures['image_auroc']:.3f}")
        if method == "AE":
            report.deployed = _deployed(cases, pairs, template)
    return report


def _maps(
    name: str,
    template: AnomalyScoring,
    fit_pairs: Sequence[tuple[np.ndarray, np.ndarray]],
    pairs: Sequence[tuple[np.ndarray, np.ndarray]],
) -> list[np.ndarray]:
    if name == "ssim":
        return [gaussian_blur(1 - ssim_map(x, r), template.map_sigma) for x, r in pairs]
    features = template.features if name == "features" else ("l2",)
    fitted = fit_scoring(fit_pairs, replace(template, features=features))
    return [fitted.distance_map(x, r) for x, r in pairs]


def _figures(cases: Sequence[Case], maps: Sequence[np.ndarray], seed: int) -> dict[str, Any]:
    scores = [float(m.max()) for m in maps]
    normal = [s for s, c in zip(scores, cases, strict=True) if not c.defective]
    kinds = sorted({c.kind for c in cases if c.defective})
    per_kind = {
        kind: auroc(normal, [s for s, c in zip(scores, cases, strict=True) if c.kind == kind])
        for kind in kinds
    }
    defective = [s for s, c in zip(scores, cases, strict=True) if c.defective]
    return {
        "image_auroc": auroc(normal, defective),
        "pixel_auroc": _pixel_auroc(cases, maps, seed),
        "kinds": per_kind,
    }


def _pixel_auroc(cases: Sequence[Case], maps: Sequence[np.ndarray], seed: int) -> float | None:
    rng = np.random.default_rng(seed)
    inside, outside = [], []
    for case, values in zip(cases, maps, strict=True):
        if case.mask is None:
            continue
        flat, mask = values.ravel(), case.mask.ravel()
        keep = rng.permutation(len(flat))[:PIXELS_PER_IMAGE]
        inside.append(flat[keep][mask[keep]])
        outside.append(flat[keep][~mask[keep]])
    positives = np.concatenate(inside) if inside else np.array([])
    if not len(positives):
        return None
    return auroc(np.concatenate(outside), positives)


def _deployed(
    cases: Sequence[Case], pairs: Sequence[tuple[np.ndarray, np.ndarray]], scoring: AnomalyScoring
) -> dict[str, Any]:
    scores = [scoring.score(scoring.distance_map(x, r)) for x, r in pairs]
    normal = [s for s, c in zip(scores, cases, strict=True) if not c.defective]
    defective = [s for s, c in zip(scores, cases, strict=True) if c.defective]
    return {
        "threshold": scoring.threshold,
        "threshold_rule": scoring.threshold_rule,
        "image_auroc": auroc(normal, defective),
        "normals": len(normal),
        "normal_flagged": sum(s > scoring.threshold for s in normal),
        "defective": len(defective),
        "defective_flagged": sum(s > scoring.threshold for s in defective),
    }
