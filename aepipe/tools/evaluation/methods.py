"""The methods an evaluation compares: the model through the production path, and the
classical baselines, each given what the protocol allows it (:mod:`.baselines`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from aepipe.runtime.options import TaskOptions
from aepipe.runtime.tasks.base import Task
from aepipe.runtime.tasks.build import build_task
from aepipe.runtime.tasks.names import TaskName
from aepipe.runtime.tasks.restore import RestoreTask
from aepipe.tools.evaluation import baselines
from aepipe.tools.evaluation.protocol import Case, EvalConfig

MODEL, BASELINE = "model", "baseline"


@dataclass(frozen=True)
class Method:
    label: str
    kind: str  # MODEL or BASELINE
    restore: Callable[[Case], np.ndarray]  # -> uint8 pixels the size of case.reference


def model_methods(config: EvalConfig) -> tuple[list[Method], dict[str, Any]]:
    """The model's rows (σ given, and blind on request) and what identifies its weights.

    Loading comes first in a run, so a missing model fails before any slow baseline.
    """
    common = TaskOptions(
        task=TaskName(config.task),
        model=config.model,
        tile=config.tile,
        self_ensemble=config.self_ensemble,
        scale=config.scale if config.task == TaskName.SUPERRES else None,
    )
    variants = [("", common)]
    if config.task == TaskName.UNWATERMARK:  # gated as `aepipe run` would; variants beside
        gated = replace(common, detector=config.detector)
        variants = [("", gated)]
        built = build_task(gated)
        assert isinstance(built, RestoreTask) and built.model is not None
        if built.detector is not None:  # its pixels as the network gives them, beside the refit
            variants.append((" (network's pixels)", replace(gated, overlay_refit=False)))
            # A guided remover (``takes_mask``) cannot run ungated: it needs the detector's mask.
            if not built.model.card.takes_mask:
                variants.append((" (ungated)", replace(common, detector="none")))
    if config.task == TaskName.DENOISE:
        given = replace(common, noise_level=config.noise_level)
        variants = [(f" (σ={config.noise_level:g})", given)]
        if config.blind:
            variants.append((" (blind)", common))
    methods: list[Method] = []
    identity: dict[str, Any] = {}
    for suffix, options in variants:
        task = build_task(options)
        assert isinstance(task, RestoreTask) and task.model and task.model.card
        name = task.model.card.name
        identity = identity or {"spec": config.model, "name": name, "sha256": task.model_sha256}
        if task.detector is not None:
            identity["detector"] = task.detector.model.card.name
        label = f"{name}{' x8' if config.self_ensemble else ''}{suffix}"
        methods.append(Method(label, MODEL, _applier(task)))
        if suffix == "" and task.detector is not None:  # detect, then fill classically
            name = task.detector.model.card.name
            methods.append(_detect_then_inpaint(config.detector or name, name))
    return methods, identity


def _detect_then_inpaint(detector: str, label: str) -> Method:
    """``aepipe run --task inpaint --fill ns --detector DETECTOR``: the remover's own mask
    filled by OpenCV, beside the remover in that mask and NS in the true mask."""
    options = TaskOptions(task=TaskName.INPAINT, fill="ns", detector=detector)
    return Method(f"{label} + inpaint NS", MODEL, _applier(build_task(options)))


def _applier(task: Task) -> Callable[[Case], np.ndarray]:
    """The production call: the task on the decoded image, native-dtype pixels out."""

    def restore(case: Case) -> np.ndarray:
        return task.apply(case.degraded).pixels

    return restore


def baseline_methods(config: EvalConfig) -> list[Method]:
    """The classical opponents of ``config.task``, each given the protocol's true parameters."""
    sigma, scale = config.noise_level, config.scale
    if config.task == TaskName.DENOISE:
        return [
            Method(
                f"CBM3D (σ={sigma:g})",
                BASELINE,
                lambda c: baselines.cbm3d(c.degraded.pixels, sigma),
            ),
            Method("noisy input", BASELINE, lambda c: baselines.untouched(c.degraded.pixels)),
        ]
    if config.task == TaskName.SUPERRES:
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
