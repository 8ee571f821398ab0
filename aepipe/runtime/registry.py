"""The model registry: shipped models by name, or a user's own ONNX file (path or URI).

Shipped models live in ``aepipe/zoo/`` with one ``manifest.json``. Whatever the source, the
file's sha256 is known before a session is created, so a report row and an output's
provenance always name the exact weights that produced them.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from aepipe.errors import ModelError
from aepipe.runtime.card import ModelCard
from aepipe.runtime.session import OnnxModel

ZOO_DIR = Path(__file__).resolve().parent.parent / "zoo"
MANIFEST = ZOO_DIR / "manifest.json"
MODEL_CACHE = Path(tempfile.gettempdir()) / "aepipe-models"


@dataclass(frozen=True)
class ZooEntry:
    card: ModelCard
    file: str  # relative to the zoo folder
    sha256: str
    default: bool  # the model ``--task`` uses when no ``--model`` is given

    @property
    def path(self) -> Path:
        return ZOO_DIR / self.file


def load_manifest(manifest: Path = MANIFEST) -> list[ZooEntry]:
    data = json.loads(manifest.read_text()) if manifest.exists() else {"models": []}
    return [
        ZooEntry(ModelCard.from_dict(m["card"]), m["file"], m["sha256"], m.get("default", False))
        for m in data["models"]
    ]


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass(frozen=True)
class ModelSource:
    """Where a model's bytes are, and the sha256 they must have (None: not pinned)."""

    path: Path
    expected_sha256: str | None
    label: str  # what the user asked for, for messages


def find_model(spec: str | None, task: str, scale: int | None = None) -> ModelSource:
    """Resolve ``--model`` (registry name, local path or object URI) for ``task``."""
    entries = load_manifest()
    if spec is None:
        defaults = [
            e
            for e in entries
            if e.card.task == task and e.default and scale in (None, e.card.scale)
        ]
        if not defaults:
            wanted = f"task {task!r}" + (f" at scale {scale}" if scale else "")
            raise ModelError(f"no shipped model for {wanted} yet; pass --model PATH")
        return ModelSource(defaults[0].path, defaults[0].sha256, defaults[0].card.name)
    named = {e.card.name: e for e in entries}
    # A codec's encoder and decoder share a name: the entry for this task wins.
    named.update({e.card.name: e for e in entries if e.card.task == task})
    if spec in named:
        return ModelSource(named[spec].path, named[spec].sha256, spec)
    if "://" in spec and not spec.startswith("file://"):
        return ModelSource(_fetch_remote(spec), None, spec)
    path = Path(spec.removeprefix("file://")).expanduser()
    if not path.is_file():
        raise ModelError(f"--model {spec!r}: not a registered name ({', '.join(named)}) nor a file")
    return ModelSource(path, None, spec)


def _fetch_remote(uri: str) -> Path:
    """Copy a model from object storage into a local cache keyed by its URI."""
    from aepipe.storage import open_storage

    parent, _, key = uri.rstrip("/").rpartition("/")
    target = MODEL_CACHE / hashlib.sha256(uri.encode()).hexdigest()[:16] / key
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(open_storage(parent).read(key))
    return target


def load_model(
    spec: str | None,
    task: str,
    *,
    scale: int | None = None,
    providers: Sequence[str] | None = None,
    threads: int = 0,
) -> tuple[OnnxModel, str]:
    """The verified session for ``--model``/``--task`` and its sha256."""
    source = find_model(spec, task, scale)
    sha256 = file_sha256(source.path)
    if source.expected_sha256 and sha256 != source.expected_sha256:
        raise ModelError(
            f"model {source.label}: sha256 {sha256[:12]}… does not match the manifest's "
            f"{source.expected_sha256[:12]}…; the file is damaged or was replaced"
        )
    model = OnnxModel(source.path, providers=providers, threads=threads)
    if model.card.task != task:
        raise ModelError(f"model {source.label} is a {model.card.task!r} model, not {task!r}")
    if scale is not None and model.card.scale != scale:
        raise ModelError(f"model {source.label} upscales x{model.card.scale}, not x{scale}")
    return model, sha256
