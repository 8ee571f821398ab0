"""``build_task``: the task a run's :class:`TaskOptions` describe, with its model loaded.

Tasks are cached per set of task options, so every chunk a worker process runs shares one
task object and one ONNX session (a model loads once per worker, not once per chunk). The flow
releases its task before writing the report, so the report's memory does not stack on the
models' arenas.
"""

from __future__ import annotations

from dataclasses import fields
from functools import cache

from aepipe.errors import ModelError
from aepipe.images.fill import FILL_MODEL
from aepipe.runtime.anomaly.domain import DOMAIN_CHECK_TASK, DomainCheck, DomainScoring
from aepipe.runtime.anomaly.scoring import AnomalyScoring
from aepipe.runtime.codec.learned import load_codec
from aepipe.runtime.model.zoo import (
    companion,
    find_model,
    load_model,
    part_spec,
    shipped_default,
)
from aepipe.runtime.options import TaskOptions
from aepipe.runtime.tasks.anomaly import AnomalyTask
from aepipe.runtime.tasks.base import Task
from aepipe.runtime.tasks.compress import CompressTask, DecompressTask
from aepipe.runtime.tasks.embed import EmbedTask
from aepipe.runtime.tasks.inpaint import InpaintTask
from aepipe.runtime.tasks.names import (
    CODEC_TASKS,
    RESTORATION_TASKS,
    TaskName,
)
from aepipe.runtime.tasks.restore import RefitDenoiser, RestoreTask
from aepipe.runtime.tasks.segment import MarkDetector, SegmentTask


def build_task(options: TaskOptions) -> Task:
    """The task ``options`` describe; of a :class:`RunOptions` only the task part counts."""
    own = {f.name: getattr(options, f.name) for f in fields(TaskOptions)}
    return _build(TaskOptions(**own))


def release_tasks() -> None:
    """Forget this process's cached tasks: their ONNX sessions (and arenas) are freed with the
    last reference to each; a later ``build_task`` loads its models again. Chunks still
    running keep the task they were given."""
    _build.cache_clear()


def load_domain_check(options: TaskOptions, task: TaskName) -> DomainCheck | None:
    """The trust check ``--domain-check`` names, else the model's companion in the zoo."""
    spec = options.domain_check
    if spec == "none":
        return None
    spec = spec or companion(options.model, task, "domain_check", options.scale)
    if spec is None:
        return None
    model, sha256 = load_model(spec, DOMAIN_CHECK_TASK, threads=options.threads)
    if not model.card.anomaly:
        raise ModelError(f"trust check {model.card.name} carries no calibration")
    return DomainCheck(model, sha256, DomainScoring.from_dict(model.card.anomaly))


def load_detector(options: TaskOptions) -> MarkDetector | None:
    """The mark segmenter a task uses: ``segment``'s own ``--model``, else the shipped one;
    ``inpaint``'s ``--detector``, else the shipped one if any; ``unwatermark``'s
    ``--detector``, else the remover's companion in the zoo. ``--detector none``: none."""
    if options.task is TaskName.SEGMENT:
        spec = options.model
    elif options.detector == "none":
        return None
    else:
        spec = options.detector or _default_detector(options)
        if spec is None:
            return None
    model, sha256 = load_model(spec, TaskName.SEGMENT, threads=options.threads)
    return MarkDetector(model, sha256, options)


def load_refit_denoiser(options: TaskOptions) -> RefitDenoiser | None:
    """The denoiser that guides an unwatermark task's overlay refit on the mark's rims: the
    remover's companion in the zoo; none for a remover outside it, or without the refit."""
    spec = companion(options.model, options.task, "denoiser") if options.overlay_refit else None
    if spec is None:
        return None
    model, sha256 = load_model(spec, TaskName.DENOISE, threads=options.threads)
    return RefitDenoiser(model, sha256, options)


def _default_detector(options: TaskOptions) -> str | None:
    if options.task is TaskName.INPAINT:
        shipped = shipped_default(TaskName.SEGMENT)
        return shipped.card.name if shipped else None
    return companion(options.model, options.task, "detector")


def load_embedder(options: TaskOptions) -> EmbedTask:
    """The encoder ``--model`` names (a zoo entry's ``encoder`` part, or an
    ``.encoder.onnx`` file) and its decoder when there is one (the entry's ``decoder`` part,
    or the ``.decoder.onnx`` file beside it): without it rows carry no reconstruction error."""
    spec, threads = options.model, options.threads
    encoder_spec, decoder_spec = part_spec(spec, "encoder"), part_spec(spec, "decoder")
    encoder, sha256 = load_model(encoder_spec, TaskName.EMBED, part="encoder", threads=threads)
    try:
        find_model(decoder_spec, TaskName.EMBED, part="decoder")
    except ModelError:  # no decoder beside it: vectors without reconstruction errors
        return EmbedTask(encoder, None, sha256)
    decoder, _ = load_model(decoder_spec, TaskName.EMBED, part="decoder", threads=threads)
    return EmbedTask(encoder, decoder, sha256)


def _restoration(options: TaskOptions) -> RestoreTask:
    name = options.task
    model, sha256 = load_model(options.model, name, scale=options.scale, threads=options.threads)
    domain = load_domain_check(options, name)
    detector = load_detector(options) if name is TaskName.UNWATERMARK else None
    if model.card.takes_mask and detector is None:
        raise ModelError(
            f"{model.card.name} removes marks where a detector masks them; "
            "give it one (--detector), not none"
        )
    denoiser = load_refit_denoiser(options) if detector is not None else None
    return RestoreTask(name, model, sha256, options, domain, detector, denoiser)


@cache
def _build(options: TaskOptions) -> Task:
    name = options.task
    if name is TaskName.IDENTITY:
        return RestoreTask(name, None, "identity", options)
    if name in RESTORATION_TASKS:
        return _restoration(options)
    if options.self_ensemble and name in CODEC_TASKS:
        raise ModelError(f"self-ensemble averages restoration models; '{name}' has none to average")
    if name is TaskName.COMPRESS:
        codec = load_codec(options.model, threads=options.threads)
        chosen = len(codec.rates) // 2 if options.rate is None else options.rate
        codec.rate_point(chosen)  # an unknown --rate fails the run before any work
        domain = load_domain_check(options, TaskName.COMPRESS)
        target = options.quality_target()
        return CompressTask(codec, chosen, options.anchors, domain=domain, target=target)
    if name is TaskName.DECOMPRESS:
        return DecompressTask(options.model, options.threads)
    if name is TaskName.ANOMALY:
        model, sha256 = load_model(options.model, name, threads=options.threads)
        if not model.card.anomaly:
            raise ModelError(
                f"model {model.card.name} carries no anomaly calibration; export it with "
                "`aepipe export RUN/last.pt --task anomaly`"
            )
        scoring = AnomalyScoring.from_dict(model.card.anomaly)
        return AnomalyTask(model, sha256, scoring, options)
    if name is TaskName.INPAINT:
        if options.fill != FILL_MODEL:
            return InpaintTask(options, load_detector(options))
        model, sha256 = load_model(options.model, name, threads=options.threads)
        return InpaintTask(options, load_detector(options), model, sha256)
    if name is TaskName.EMBED:
        return load_embedder(options)
    if name is TaskName.SEGMENT:
        detector = load_detector(options)
        assert detector is not None  # the segment task always has its model
        return SegmentTask(detector)
    raise ModelError(f"unknown task '{name}'")
