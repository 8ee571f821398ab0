"""A user's remote model (``--model s3://…``), downloaded once into the user's cache folder.

Files are stored by content, ``<cache>/models/sha256/<hex>.onnx``, next to a small record per
URI (size and ETag of the object when it was fetched, and the sha256 of what was fetched). A
later run heads the object: when size and ETag are unchanged and the cached file still hashes
to the recorded sha256 it is used as is, otherwise the object is downloaded again. The cache
folder is ``$AEPIPE_CACHE_DIR``, else ``$XDG_CACHE_HOME/aepipe``, else ``~/.cache/aepipe``.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from aepipe.errors import ModelError
from aepipe.storage import open_storage
from aepipe.storage.local import atomic_write


def cache_dir() -> Path:
    """The user's aepipe cache folder (XDG base directory rules)."""
    explicit = os.environ.get("AEPIPE_CACHE_DIR")
    if explicit:
        return Path(explicit)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "aepipe"


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def fetch_remote(uri: str) -> Path:
    """A local copy of the object at ``uri``, downloaded only when the cache cannot serve it."""
    parent, _, key = uri.rstrip("/").rpartition("/")
    storage = open_storage(parent)
    info = storage.head(key)
    if info is None:
        raise ModelError(f"--model {uri}: no such object")
    models = cache_dir() / "models"
    record_path = models / "by-uri" / (hashlib.sha256(uri.encode()).hexdigest()[:32] + ".json")
    seen = {"uri": uri, "size": info.size, "etag": info.etag}
    cached = _cached(models, record_path, seen)
    if cached is not None:
        return cached
    data = storage.read(key)
    sha256 = hashlib.sha256(data).hexdigest()
    blob = models / "sha256" / f"{sha256}.onnx"
    atomic_write(blob, data)
    atomic_write(record_path, json.dumps({**seen, "sha256": sha256}).encode())
    return blob


def _cached(models: Path, record_path: Path, seen: dict[str, object]) -> Path | None:
    """The cached file when the object is unchanged and the file is intact, else None."""
    try:
        record = json.loads(record_path.read_text())
    except (OSError, ValueError):
        return None
    if not seen["etag"] or any(record.get(k) != v for k, v in seen.items()):
        return None
    blob = models / "sha256" / f"{record.get('sha256')}.onnx"
    if not blob.is_file() or file_sha256(blob) != record["sha256"]:
        return None
    return blob
