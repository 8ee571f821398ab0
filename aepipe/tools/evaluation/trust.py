"""``aepipe eval --task trust``: does the trust check pass photos and flag what is not a photo?

    photos      every image of the folder (Kodak24, CBSD68, ...): the share flagged
    far inputs  ``per_kind`` synthetic images of each kind in :mod:`.offdomain` (text pages,
                screenshots, line art, pure noise, flat graphics, gray scans): the share flagged
    cost        seconds per image of the check against the restoration model it guards, on the
                same photos in the same run (the check's budget is 10 % of the model's time)

The check is the one ``aepipe run`` would attach: ``--domain-check`` if given, else the zoo
companion of ``--model`` (default: the shipped denoiser).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from aepipe.images import decode
from aepipe.runtime.anomaly.domain import DomainCheck
from aepipe.runtime.options import TaskOptions
from aepipe.runtime.tasks.build import build_task, load_domain_check
from aepipe.runtime.tasks.names import TaskName
from aepipe.tools.evaluation.dataset import list_images
from aepipe.tools.evaluation.offdomain import KINDS, offdomain_image
from aepipe.tools.evaluation.protocol import EvalError
from aepipe.tools.tables import markdown_table

GUARDED_SIGMA = 25.0  # the denoiser is timed with a given σ (no blind estimate in the way)


@dataclass(frozen=True)
class TrustEvalConfig:
    data_dir: Path  # photos
    model: str | None = None  # the denoiser whose companion check is evaluated
    domain_check: str | None = None
    per_kind: int = 40
    seed: int = 0
    limit: int | None = None


@dataclass
class TrustEvalReport:
    config: TrustEvalConfig
    check: dict[str, Any]
    flagged: dict[str, tuple[int, int]] = field(default_factory=dict)  # set -> (flagged, total)
    scores: dict[str, list[float]] = field(default_factory=dict)
    timing: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "task": "trust",
            "config": {
                k: str(v) if isinstance(v, Path) else v for k, v in vars(self.config).items()
            },
            "check": self.check,
            "flagged": {k: {"flagged": f, "images": n} for k, (f, n) in self.flagged.items()},
            "scores": self.scores,
            "timing": self.timing,
        }

    def markdown(self) -> str:
        rows = [
            [name, str(total), str(count), f"{count / total:.1%}"]
            for name, (count, total) in self.flagged.items()
        ]
        t = self.timing
        return "\n\n".join(
            [
                f"**aepipe eval** `trust` with {self.check['name']} (threshold "
                f"{self.check['threshold']:.3g}) on `{self.config.data_dir}` and "
                f"{self.config.per_kind} synthetic images per far kind",
                markdown_table(["set", "images", "flagged", "share flagged"], rows),
                f"Cost on these photos: the check {t['check_seconds_per_image']:.4f} s/image, "
                f"the denoiser {t['model_seconds_per_image']:.3f} s/image (σ={GUARDED_SIGMA:g}): "
                f"{t['check_share']:.2%} of the denoiser's time",
            ]
        )


def run_trust_eval(
    config: TrustEvalConfig, log: Callable[[str], None] = lambda m: print(m, file=sys.stderr)
) -> TrustEvalReport:
    options = TaskOptions(
        task=TaskName.DENOISE,
        model=config.model,
        noise_level=GUARDED_SIGMA,
        domain_check=config.domain_check,
    )
    check = load_domain_check(options, TaskName.DENOISE)
    if check is None or check.scoring is None:
        raise EvalError("no trust check: name one with --domain-check")
    denoiser = build_task(replace(options, domain_check="none"))  # timed apart from the check
    report = TrustEvalReport(
        config,
        {
            "name": check.model.card.name,
            "sha256": check.sha256,
            "threshold": check.scoring.threshold,
        },
    )
    photos = [decode(p.read_bytes(), p.name) for p in list_images(config.data_dir, config.limit)]
    check_seconds, model_seconds = 0.0, 0.0
    photo_scores = []
    for image in photos:
        started = time.perf_counter()
        photo_scores.append(check.score(image.pixels))
        check_seconds += time.perf_counter() - started
        started = time.perf_counter()
        denoiser.apply(image)
        model_seconds += time.perf_counter() - started
    _record(report, config.data_dir.name, photo_scores, check)
    report.timing = {
        "check_seconds_per_image": check_seconds / len(photos),
        "model_seconds_per_image": model_seconds / len(photos),
        "check_share": check_seconds / model_seconds,
    }
    log(f"{config.data_dir.name}: {report.flagged[config.data_dir.name]}; timing {report.timing}")
    rng = np.random.default_rng(config.seed)
    for kind in KINDS:
        scores = [check.score(offdomain_image(kind, rng)) for _ in range(config.per_kind)]
        _record(report, kind, scores, check)
        log(f"{kind}: {report.flagged[kind]}")
    return report


def _record(report: TrustEvalReport, name: str, scores: list[float], check: DomainCheck) -> None:
    assert check.scoring is not None
    report.scores[name] = [round(s, 4) for s in scores]
    report.flagged[name] = (sum(s > check.scoring.threshold for s in scores), len(scores))
