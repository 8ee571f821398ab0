"""A local folder as a storage root, with the same guarantees as S3: atomic writes, metadata.

Metadata lives in sidecar JSON files under ``<root>/.aepipe-meta/<key>.json``. It is removed
before the data is replaced and written after it, so a crash in between leaves data without
provenance (treated as "not done" by resume logic), never data with stale provenance.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import stat
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import BinaryIO

from aepipe.errors import ObjectNotFoundError, StorageError
from aepipe.storage.base import (
    META_DIR,
    TMP_PREFIX,
    ObjectInfo,
    Precondition,
    check_precondition,
    glob_literal_dir,
    glob_regex,
    is_folder_marker,
    validate_key,
    validate_metadata,
)

_UMASK = os.umask(0o022)  # read the process umask (the only portable way) and put it back
os.umask(_UMASK)
#: Lock files for conditional writes (see LocalStorage._locked).
LOCK_STRIPES = 64
#: Piece size of a streamed copy into storage.
COPY_BYTES = 1 << 20


class LocalStorage:
    """Objects are files under ``root``; the root is created on the first write."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self.uri = str(self.root)

    def list(self, glob: str | None = None) -> Iterator[str]:
        """Walk the tree lazily, one sorted directory at a time, in S3's key order."""
        start = glob_literal_dir(glob)
        pattern = glob_regex(glob) if glob else None
        for key in self._walk(self.root / start, start):
            if not is_folder_marker(key) and (pattern is None or pattern.match(key)):
                yield key

    def _walk(self, folder: Path, key_prefix: str) -> Iterator[str]:
        try:
            with os.scandir(folder) as it:
                entries = [(entry.name, _kind(entry)) for entry in it]
        except (FileNotFoundError, NotADirectoryError):
            return
        except OSError as exc:
            raise StorageError(f"cannot list {folder}: {exc}") from exc
        # Sorting a folder as "name/" makes the depth-first walk yield keys in plain
        # lexicographic order ("a-b" before "a/c"), the order S3 lists in.
        entries.sort(key=lambda entry: entry[0] + "/" if entry[1] == "dir" else entry[0])
        for name, kind in entries:
            if kind == "dir" and not (key_prefix == "" and name == META_DIR):
                yield from self._walk(folder / name, f"{key_prefix}{name}/")
            elif kind == "file" and not name.startswith(TMP_PREFIX):
                yield key_prefix + name

    def read(self, key: str) -> bytes:
        """Read the whole file; a missing file (or a folder) is ObjectNotFoundError."""
        path = self._path(key)
        try:
            return path.read_bytes()
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError) as exc:
            raise ObjectNotFoundError(f"no such object: {path}") from exc
        except OSError as exc:
            raise StorageError(f"cannot read {path}: {exc}") from exc

    def write(
        self,
        key: str,
        data: bytes,
        metadata: Mapping[str, str] | None = None,
        precondition: Precondition | None = None,
    ) -> None:
        """Replace the file atomically, then its metadata sidecar (see module docstring).

        With a precondition the check and the write hold an exclusive lock on the key's lock
        stripe, so two processes writing the same key cannot both pass the check.
        """
        path, meta = self._path(key), validate_metadata(metadata)
        meta_path = self._meta_path(key)
        try:
            with self._locked(key) if precondition else nullcontext():
                if precondition:
                    check_precondition(self, key, precondition)
                meta_path.unlink(missing_ok=True)
                atomic_write(path, data)
                if meta:
                    atomic_write(meta_path, json.dumps(meta, sort_keys=True).encode())
        except OSError as exc:
            raise StorageError(f"cannot write {path}: {exc}") from exc

    def upload(self, key: str, path: Path) -> None:
        """Copy ``path`` in through a temp file and a rename, in 1 MiB pieces."""
        target = self._path(key)
        try:
            self._meta_path(key).unlink(missing_ok=True)
            with path.open("rb") as source:
                atomic_write(target, source)
        except OSError as exc:
            raise StorageError(f"cannot write {target}: {exc}") from exc

    @contextmanager
    def _locked(self, key: str) -> Iterator[None]:
        """One of LOCK_STRIPES lock files, picked by the key's hash: a fixed set of files that
        can stay (deleting a lock file races with its next user), and writes of different
        keys rarely wait on each other."""
        digest = hashlib.sha256(validate_key(key).encode()).digest()
        lock_path = self.root / META_DIR / "locks" / f"{digest[0] % LOCK_STRIPES:02d}.lock"
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        with lock_path.open("a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def head(self, key: str) -> ObjectInfo | None:
        """Size from ``stat``, metadata from the sidecar (empty if there is none)."""
        path = self._path(key)
        try:
            st = path.stat()
        except (FileNotFoundError, NotADirectoryError):
            return None
        except OSError as exc:
            raise StorageError(f"cannot stat {path}: {exc}") from exc
        if not stat.S_ISREG(st.st_mode):
            return None
        etag = f"{st.st_mtime_ns:x}-{st.st_size:x}"
        return ObjectInfo(key=key, size=st.st_size, metadata=self._read_meta(key), etag=etag)

    def describe(self, key: str) -> str:
        """The absolute path of the key."""
        return str(self._path(key))

    def probe(self) -> None:
        """A root that is missing is fine (created on the first write); one that is a file
        or sits under a file is not."""
        for folder in (self.root, *self.root.parents):
            if folder.exists():
                if not folder.is_dir():
                    raise StorageError(f"{self.root}: {folder} is not a folder")
                return

    def _path(self, key: str) -> Path:
        return self.root / validate_key(key)

    def _meta_path(self, key: str) -> Path:
        return self.root / META_DIR / f"{validate_key(key)}.json"

    def _read_meta(self, key: str) -> dict[str, str]:
        meta_path = self._meta_path(key)
        try:
            return dict(json.loads(meta_path.read_bytes()))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            raise StorageError(f"cannot read metadata {meta_path}: {exc}") from exc


def _kind(entry: os.DirEntry[str]) -> str:
    """'dir' for real folders (symlinked ones are not walked: no loops, no escaping the root),
    'file' for regular files and links to them, '' for anything else."""
    if entry.is_dir(follow_symlinks=False):
        return "dir"
    return "file" if entry.is_file() else ""


def atomic_write(path: Path, data: bytes | BinaryIO) -> None:
    """Write ``data`` (bytes, or a binary file read to its end) to a hidden temp file in the
    same folder, fsync, then rename over ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=TMP_PREFIX)
    try:
        with os.fdopen(fd, "wb") as tmp:
            os.chmod(fd, 0o666 & ~_UMASK)  # mkstemp makes 0600; outputs get the usual mode
            if isinstance(data, bytes):
                tmp.write(data)
            else:
                shutil.copyfileobj(data, tmp, COPY_BYTES)
            tmp.flush()
            os.fsync(fd)
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def _fsync_dir(folder: Path) -> None:
    """Make the rename durable: POSIX only persists it once the folder itself is synced."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
