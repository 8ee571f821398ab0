"""An evaluation's report: per-image scores, means per method, machine and load, as markdown
for people and JSON for tools."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from aepipe.tools.evaluation.protocol import PROTOCOLS, EvalConfig
from aepipe.tools.machine import machine_info
from aepipe.tools.tables import MISSING, markdown_table

#: Under this many seconds the CPU/wall ratio of a sample is noise.
MIN_RATIO_SECONDS = 0.05
#: A method "harms" an image when its output scores this much below the untouched input.
HARM_DB = 0.1


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def cpu_per_wall(cpu_seconds: float, seconds: float) -> float | None:
    """Cores busy on average (near the thread count: nothing else took the CPU).

    None under ``MIN_RATIO_SECONDS``: the ratio of two tiny intervals is noise.
    """
    return cpu_seconds / seconds if seconds >= MIN_RATIO_SECONDS else None


def _machine() -> dict[str, Any]:
    """bench's machine facts plus the versions the baselines' numbers depend on."""
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
    started: str = field(default_factory=now)
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
            "harm": self.harm(),
            "machine": self.machine,
            "started": self.started,
            "finished": self.finished,
        }

    def harm(self) -> dict[str, dict[str, Any]]:
        """Per method: how many outputs equal their input bit for bit, how many score more
        than HARM_DB below it, and the worst; empty where doing nothing has no score (SR)."""
        scored = [row for row in self.images if "input_psnr" in row]
        if not scored:
            return {}
        found = {}
        for label, _ in self.methods:
            drops = [_drop(row, label) for row in scored]
            _, worst = max(
                zip(drops, scored, strict=True),
                key=lambda pair: (pair[0], -pair[1]["results"][label]["psnr"]),
            )
            found[label] = {
                "images": len(scored),
                "unchanged": sum(row["results"][label]["unchanged"] for row in scored),
                "worse_than_input": sum(drop > HARM_DB for drop in drops),
                "worst": {
                    "image": worst["name"],
                    "psnr": worst["results"][label]["psnr"],
                    "input_psnr": worst["input_psnr"],
                },
            }
        return found

    def markdown(self, per_image: bool = False) -> str:
        """The mean table (and with ``per_image`` every image's rows above it), then for each
        method how often it left the input as it was and how often it made it worse."""
        rows = [*(self._image_rows() if per_image else []), *self._mean_rows()]
        headers = ["image", "method", "kind", "PSNR (dB)", "SSIM", "s/MP", "CPU/wall"]
        parts = [self._title(), markdown_table(headers, rows)]
        harm = self.harm()
        if harm:
            parts.append(markdown_table(["method", *HARM_HEADERS], _harm_rows(harm)))
        return "\n\n".join([*parts, self._context()])

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


def _drop(row: dict[str, Any], label: str) -> float:
    """dB the method's output scores below the untouched input; an unmarked input scores
    infinity, so there any change is an infinite drop and none is zero."""
    before, after = row["input_psnr"], row["results"][label]["psnr"]
    return 0.0 if before == after else before - after


HARM_HEADERS = ["output = input", f"worse than input by > {HARM_DB} dB", "worst: PSNR (input)"]


def _harm_rows(harm: dict[str, dict[str, Any]]) -> list[list[str]]:
    rows = []
    for label, found in harm.items():
        worst, total = found["worst"], found["images"]
        rows.append(
            [
                label,
                f"{found['unchanged']} of {total}",
                f"{found['worse_than_input']} of {total}",
                f"{worst['image']}: {worst['psnr']:.2f} dB ({worst['input_psnr']:.2f} dB)",
            ]
        )
    return rows


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
