"""The model zoo: shipped models by name, or a user's own ONNX file (path or URI).

One name per model, everywhere: the zoo entry, ``--model``, ``aepipe models``, the card inside
each ONNX file and the report. A model made of several files (a codec's encoder and decoder)
is one entry with named parts; a single-file model has the one part ``model``.

Shipped models live in ``aepipe/zoo/`` with one ``manifest.json``. Whatever the source, a
file's sha256 is known before a session is created, so a report row and an output's
provenance always name the exact weights that produced them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from aepipe.errors import ModelError
from aepipe.runtime.model.cache import fetch_remote, file_sha256
from aepipe.runtime.model.card import PART_METADATA_KEY, WHOLE_MODEL, ModelCard
from aepipe.runtime.model.session import OnnxModel

ZOO_DIR = Path(__file__).resolve().parents[2] / "zoo"
MANIFEST = ZOO_DIR / "manifest.json"

__all__ = [
    "ModelSource",
    "ZooEntry",
    "companion",
    "file_sha256",
    "find_model",
    "load_manifest",
    "load_model",
    "part_spec",
]


@dataclass(frozen=True)
class ZooPart:
    file: str  # relative to the zoo folder
    sha256: str
    parity_max_abs_diff: float | None = None  # torch vs ONNX Runtime (int8: vs its float model)

    @property
    def path(self) -> Path:
        return ZOO_DIR / self.file


@dataclass(frozen=True)
class ZooEntry:
    card: ModelCard
    parts: Mapping[str, ZooPart]  # "model", or e.g. "encoder" and "decoder"
    default: bool  # the model ``--task`` uses when no ``--model`` is given
    domain_check: str | None = None  # zoo name of the trust check its rows get
    detector: str | None = None  # zoo name of the mark segmenter that gates its output
    denoiser: str | None = None  # zoo name of the denoiser that guides its overlay refit

    def part(self, name: str) -> ZooPart:
        if name not in self.parts:
            raise ModelError(
                f"model {self.card.name} has no {name!r} part ({', '.join(self.parts)})"
            )
        return self.parts[name]


def load_manifest(manifest: Path | None = None) -> list[ZooEntry]:
    path = manifest or MANIFEST
    data = json.loads(path.read_text()) if path.exists() else {"models": []}
    return [
        ZooEntry(
            ModelCard.from_dict(m["card"]),
            {name: ZooPart(**part) for name, part in m["parts"].items()},
            m.get("default", False),
            m.get("domain_check"),
            m.get("detector"),
            m.get("denoiser"),
        )
        for m in data["models"]
    ]


@dataclass(frozen=True)
class ModelSource:
    """Where a model file is, and the sha256 it must have (None: not pinned)."""

    path: Path
    expected_sha256: str | None
    label: str  # what the user asked for, for messages


def shipped_default(task: str, scale: int | None = None) -> ZooEntry | None:
    """The zoo's default model for ``task`` (and ``scale``), or None when none is shipped."""
    defaults = [
        e
        for e in load_manifest()
        if e.card.task == task and e.default and scale in (None, e.card.scale)
    ]
    return defaults[0] if defaults else None


def find_model(
    spec: str | None, task: str, scale: int | None = None, *, part: str = WHOLE_MODEL
) -> ModelSource:
    """Resolve ``--model`` (zoo name, local path or object URI) for ``task`` to one file."""
    entries = load_manifest()
    if spec is None:
        default = shipped_default(task, scale)
        if default is None:
            wanted = f"task '{task}'" + (f" at scale {scale}" if scale else "")
            raise ModelError(f"no shipped model for {wanted} yet; pass --model PATH")
        return _zoo_source(default, task, part)
    named = {e.card.name: e for e in entries}
    if spec in named:
        return _zoo_source(named[spec], task, part)
    if "://" in spec and not spec.startswith("file://"):
        return ModelSource(fetch_remote(spec), None, spec)
    path = Path(spec.removeprefix("file://")).expanduser()
    if not path.is_file():
        raise ModelError(f"--model {spec!r}: not a registered name ({', '.join(named)}) nor a file")
    return ModelSource(path, None, spec)


#: The parts a model of several files has (a codec, an embedding or generative autoencoder,
#: a VQ-VAE's prior), each a file ``<stem>.<part>.onnx``.
MODEL_PARTS = ("encoder", "decoder", "prior")


def part_spec(spec: str | None, part: str) -> str | None:
    """``--model`` for one part of a model of several files: a zoo name (or None: the
    default) names every part; the path of one part's file names its sibling
    ``<stem>.<part>.onnx``."""
    for named in MODEL_PARTS:
        suffix = f".{named}.onnx"
        if spec and spec.endswith(suffix):
            return f"{spec.removesuffix(suffix)}.{part}.onnx"
    return spec


def companion(
    spec: str | None,
    task: str,
    role: Literal["domain_check", "detector", "denoiser"],
    scale: int | None = None,
) -> str | None:
    """The zoo model paired in ``role`` with the model ``--model``/``--task`` resolve to; None
    for a model outside the zoo or one without such a companion."""
    if spec is None:
        entry = shipped_default(task, scale)
    else:
        entry = next((e for e in load_manifest() if e.card.name == spec), None)
    return getattr(entry, role) if entry else None


def _zoo_source(entry: ZooEntry, task: str, part: str) -> ModelSource:
    if entry.card.task != task:
        raise ModelError(f"model {entry.card.name} is a '{entry.card.task}' model, not '{task}'")
    found = entry.part(part)
    label = entry.card.name if part == WHOLE_MODEL else f"{entry.card.name} ({part})"
    return ModelSource(found.path, found.sha256, label)


def load_model(
    spec: str | None,
    task: str,
    *,
    scale: int | None = None,
    part: str = WHOLE_MODEL,
    providers: Sequence[str] | None = None,
    threads: int = 0,
) -> tuple[OnnxModel, str]:
    """The verified session for ``--model``/``--task`` (one of its parts) and its sha256."""
    source = find_model(spec, task, scale, part=part)
    sha256 = file_sha256(source.path)
    if source.expected_sha256 and sha256 != source.expected_sha256:
        raise ModelError(
            f"model {source.label}: sha256 {sha256[:12]}… does not match the manifest's "
            f"{source.expected_sha256[:12]}…; the file is damaged or was replaced"
        )
    model = OnnxModel(source.path, providers=providers, threads=threads)
    found_part = model.metadata.get(PART_METADATA_KEY, WHOLE_MODEL)
    if found_part != part:
        raise ModelError(f"model {source.label} is the {found_part!r} part, not {part!r}")
    if part == WHOLE_MODEL and model.card.task != task:
        raise ModelError(f"model {source.label} is a '{model.card.task}' model, not '{task}'")
    if scale is not None and model.card.scale != scale:
        raise ModelError(f"model {source.label} upscales x{model.card.scale}, not x{scale}")
    return model, sha256
