"""The storage contract every backend implements, plus the key and glob rules they share.

Keys are relative, '/'-separated and validated in one place (:func:`validate_key`) so that no
backend can be talked into reading or writing outside its root, and so that a key valid on one
backend is valid on every other.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Protocol
from urllib.parse import quote

from aepipe.errors import PreconditionFailedError, UnsafeKeyError

META_DIR = ".aepipe-meta"  # local backend's sidecar folder at the root; reserved everywhere
TMP_PREFIX = ".tmp-"  # local backend's in-flight temp files; reserved everywhere

_DRIVE = re.compile(r"^[A-Za-z]:")
_META_KEY = re.compile(r"^[a-z0-9][a-z0-9._-]*$")
_GLOB_SPECIAL = re.compile(r"[*?\[]")


@dataclass(frozen=True)
class ObjectInfo:
    """What ``head`` knows about an object without reading it."""

    key: str  # relative to the storage root, '/'-separated
    size: int  # bytes
    metadata: Mapping[str, str]  # user metadata (provenance, resume); keys are lowercase ascii
    # Changes whenever the content may have (S3 ETag; local mtime and size). A version token,
    # not part of what the object is: equality ignores it.
    etag: str = field(default="", compare=False)


@dataclass(frozen=True)
class Precondition:
    """What an object must be for a write to go ahead (S3's conditional writes).

    ``absent``: the key must not exist (``If-None-Match: *``), so two runs racing to create an
    output cannot both write it. ``etag``: the object must still be the version ``head``
    returned (``If-Match``), so a replacement cannot clobber a concurrent one.
    """

    absent: bool = False
    etag: str | None = None


@dataclass(frozen=True)
class S3Credentials:
    """Explicit S3 keys (from a Prefect credentials block) instead of boto3's standard chain.

    The secret is left out of ``repr``, so it cannot reach a log line or an error message.
    """

    access_key_id: str
    secret_access_key: str = field(repr=False)
    session_token: str | None = field(default=None, repr=False)
    region: str | None = None
    endpoint_url: str | None = None


class Storage(Protocol):
    """A flat key space under one root (a local folder or an S3 bucket/prefix).

    ``list`` streams keys lazily in lexicographic order, unsafe ones included (reading them
    fails with UnsafeKeyError, so each becomes an error row rather than vanishing). ``write``
    is atomic: a reader sees the old object or the new one, never a partial one. Metadata keys
    must be lowercase ascii (S3 lowercases them anyway) and values printable ascii (they travel
    as HTTP headers; :func:`metadata_text` encodes any text so).
    """

    uri: str  # the root, e.g. "s3://bucket/prefix" or "/abs/path"

    def list(self, glob: str | None = None) -> Iterator[str]:
        """Yield keys relative to the root, sorted, optionally filtered by :func:`glob_regex`."""
        ...

    def read(self, key: str) -> bytes:
        """Return the object's bytes; ObjectNotFoundError if missing."""
        ...

    def write(
        self,
        key: str,
        data: bytes,
        metadata: Mapping[str, str] | None = None,
        precondition: Precondition | None = None,
    ) -> None:
        """Store ``data`` (and replace any metadata) atomically; PreconditionFailedError when
        ``precondition`` does not hold at the moment of writing."""
        ...

    def upload(self, key: str, path: Path) -> None:
        """Store the local file ``path`` at ``key`` atomically, streamed from disk: for files
        that need not fit in memory (the report of a run with millions of rows)."""
        ...

    def head(self, key: str) -> ObjectInfo | None:
        """Return size and metadata, or None if missing."""
        ...

    def describe(self, key: str) -> str:
        """Full URI of ``key``, for messages and report rows."""
        ...

    def probe(self) -> None:
        """StorageError unless the root answers with these credentials (a missing bucket, a
        refused key, a folder that is a file): checked before a run touches any image."""
        ...


def check_precondition(storage: Storage, key: str, precondition: Precondition) -> None:
    """Raise PreconditionFailedError unless the object is as ``precondition`` wants it now."""
    current = storage.head(key)
    if precondition.absent and current is not None:
        raise PreconditionFailedError(f"{storage.describe(key)}: exists already")
    if precondition.etag is not None and (current is None or current.etag != precondition.etag):
        raise PreconditionFailedError(f"{storage.describe(key)}: changed since it was read")


def validate_key(key: str) -> str:
    """Return ``key`` unchanged if it stays inside the root, else raise UnsafeKeyError.

    Empty components are refused too (``a//b``, ``dir/``): S3 keeps them, a filesystem folds
    them, so they would name different objects on different backends.
    """
    reason = _unsafe_reason(key)
    if reason:
        raise UnsafeKeyError(f"unsafe storage key {key!r}: {reason}")
    return key


def is_valid_key(key: str) -> bool:
    """Whether ``validate_key`` would accept ``key``."""
    return _unsafe_reason(key) is None


def is_folder_marker(key: str) -> bool:
    """``photos/2024/``: an empty object S3 consoles create to show a folder; not an input."""
    return key.endswith("/")


#: S3's own limit on a key: 1,024 bytes of UTF-8.
MAX_KEY_BYTES = 1024
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _unsafe_reason(key: str) -> str | None:
    if not key:
        return "empty"
    if "\0" in key:
        return "contains NUL"
    if _CONTROL.search(key):
        return "contains a control character"
    if "\\" in key:
        return "contains a backslash"
    if key.startswith("/"):
        return "absolute path"
    if _DRIVE.match(key):
        return "drive letter"
    try:
        size = len(key.encode("utf-8"))
    except UnicodeEncodeError:
        return "not valid UTF-8"
    if size > MAX_KEY_BYTES:
        return f"{size} bytes long, S3 allows {MAX_KEY_BYTES}"
    parts = key.split("/")
    if any(part in ("", ".", "..") for part in parts):
        return "empty, '.' or '..' path component"
    if parts[0] == META_DIR or parts[-1].startswith(TMP_PREFIX):
        return f"reserved name ({META_DIR}/ or {TMP_PREFIX}*)"
    return None


#: Printable ASCII except '%': what a metadata value keeps as is (S3 sends it as an HTTP header).
_METADATA_SAFE = "".join(chr(c) for c in range(0x20, 0x7F) if chr(c) != "%")


def metadata_text(text: str) -> str:
    """``text`` as a metadata value: UTF-8 percent-encoded where it is not printable ASCII
    (``été/plage.jpg`` -> ``%C3%A9t%C3%A9/plage.jpg``); ASCII text without '%' is unchanged."""
    return quote(text, safe=_METADATA_SAFE)


def validate_metadata(metadata: Mapping[str, str] | None) -> dict[str, str]:
    """Return metadata as a plain dict, refusing what S3 would mangle (case, non-ascii)."""
    if not metadata:
        return {}
    for name, value in metadata.items():
        if not _META_KEY.match(name):
            raise ValueError(f"metadata key {name!r} must be lowercase ascii [a-z0-9._-]")
        if not (isinstance(value, str) and value.isascii() and value.isprintable()):
            raise ValueError(f"metadata value for {name!r} must be printable ascii text")
    return dict(metadata)


@lru_cache(maxsize=64)
def glob_regex(glob: str) -> re.Pattern[str]:
    """Compile a key glob: ``*`` and ``?`` stay within one component, ``**`` crosses '/'.

    ``**/`` also matches zero folders, so ``**/*.png`` matches ``a.png`` and ``x/y/a.png``;
    ``*.png`` matches top-level keys only; ``**.png`` matches any key ending in ``.png``.
    ``[abc]`` and ``[!abc]`` are character classes that never match '/'.
    """
    out: list[str] = []
    i, n = 0, len(glob)
    while i < n:
        if glob.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif glob.startswith("**", i):
            out.append(".*")
            i += 2
        elif glob[i] == "*":
            out.append("[^/]*")
            i += 1
        elif glob[i] == "?":
            out.append("[^/]")
            i += 1
        elif glob[i] == "[":
            token, i = _char_class(glob, i)
            out.append(token)
        else:
            out.append(re.escape(glob[i]))
            i += 1
    return re.compile("".join(out) + r"\Z", re.DOTALL)


def _char_class(glob: str, start: int) -> tuple[str, int]:
    """Translate the ``[...]`` at ``start``; an unclosed '[' is a literal."""
    end = start + 1
    if end < len(glob) and glob[end] == "!":
        end += 1
    if end < len(glob) and glob[end] == "]":
        end += 1
    end = glob.find("]", end)
    if end < 0:
        return re.escape("["), start + 1
    body = glob[start + 1 : end].replace("\\", "\\\\")
    if body.startswith("!"):
        body = "^/" + body[1:]
    elif body.startswith("^"):
        body = "\\" + body
    return f"[{body}]", end + 1


def glob_literal_dir(glob: str | None) -> str:
    """The folder part of ``glob`` before any wildcard (``'raw/2024/'``), to narrow a listing.

    Returns '' when there is none or when it is not a safe key, so callers never walk or list
    outside the root because of a glob.
    """
    if not glob:
        return ""
    match = _GLOB_SPECIAL.search(glob)
    literal = glob if match is None else glob[: match.start()]
    folder = literal.rpartition("/")[0]
    return folder + "/" if folder and is_valid_key(folder) else ""
