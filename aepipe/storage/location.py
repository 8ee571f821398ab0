"""Storage URIs, parsed in one place: plain paths, ``file://`` paths and ``s3://bucket/prefix``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import unquote, urlsplit

from aepipe.errors import OverlappingLocationsError, StorageError
from aepipe.storage.base import validate_key


@dataclass(frozen=True)
class Location:
    """Where a storage root lives. Built by :func:`parse_location`, never by hand."""

    scheme: Literal["file", "s3"]
    bucket: str | None  # s3 only
    prefix: str  # file: absolute resolved path; s3: key prefix without slashes at either end

    @property
    def uri(self) -> str:
        """The canonical URI (absolute path for files), as used in messages and reports."""
        if self.scheme == "file":
            return self.prefix
        return f"s3://{self.bucket}/{self.prefix}" if self.prefix else f"s3://{self.bucket}"

    def parts(self) -> tuple[str, ...]:
        """Path components from the top of the namespace, for containment checks."""
        if self.scheme == "file":
            return Path(self.prefix).parts
        return (str(self.bucket), *(self.prefix.split("/") if self.prefix else ()))


def parse_location(uri: str) -> Location:
    """Parse a storage URI; a string without a scheme is a local path (relative to the cwd)."""
    if uri.startswith("s3://"):
        return _parse_s3(uri)
    if uri.startswith("file:"):
        return _parse_file_url(uri)
    if "://" in uri:
        raise StorageError(f"unsupported storage URI {uri!r}: use a path, file:// or s3://")
    if not uri:
        raise StorageError("empty storage location")
    return _file_location(Path(uri).expanduser())


def _parse_s3(uri: str) -> Location:
    bucket, _, prefix = uri[len("s3://") :].partition("/")
    if not bucket:
        raise StorageError(f"storage URI {uri!r} names no bucket")
    prefix = prefix.strip("/")
    if prefix:
        validate_key(prefix)
    return Location(scheme="s3", bucket=bucket, prefix=prefix)


def _parse_file_url(uri: str) -> Location:
    parts = urlsplit(uri)
    if parts.netloc not in ("", "localhost"):
        raise StorageError(f"file URI {uri!r} names a remote host {parts.netloc!r}")
    path = unquote(parts.path)
    if not path:
        raise StorageError(f"file URI {uri!r} names no path")
    return _file_location(Path(path))


def _file_location(path: Path) -> Location:
    return Location(scheme="file", bucket=None, prefix=str(path.resolve()))


def check_no_overlap(source: str, dest: str) -> None:
    """Refuse a destination equal to, inside, or containing the source.

    Writing into the source would make the pipeline re-read its own outputs. Paths are
    compared component by component, so ``s3://b/data`` and ``s3://b/data2`` do not overlap.
    """
    src, dst = parse_location(source), parse_location(dest)
    if src.scheme != dst.scheme:
        return
    src_parts, dst_parts = src.parts(), dst.parts()
    shortest = min(len(src_parts), len(dst_parts))
    if src_parts[:shortest] == dst_parts[:shortest]:
        raise OverlappingLocationsError(
            f"source {src.uri} and destination {dst.uri} overlap: "
            "they must not be equal or inside one another"
        )
