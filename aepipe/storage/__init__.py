"""Object storage behind one small protocol: local folders and S3 (AWS, SeaweedFS, MinIO)."""

from __future__ import annotations

from pathlib import Path

from aepipe.storage.base import ObjectInfo, Precondition, S3Credentials, Storage, metadata_text
from aepipe.storage.local import LocalStorage
from aepipe.storage.location import check_no_overlap, parse_location

__all__ = [
    "ObjectInfo",
    "Precondition",
    "S3Credentials",
    "Storage",
    "check_no_overlap",
    "metadata_text",
    "open_storage",
    "parse_location",
]


def open_storage(
    uri: str, *, endpoint_url: str | None = None, credentials: S3Credentials | None = None
) -> Storage:
    """Open the storage root named by ``uri``; ``endpoint_url`` and ``credentials`` only
    apply to ``s3://``.

    The S3 backend is imported only when needed, so local-only runs never load boto3.
    """
    location = parse_location(uri)
    if location.scheme == "s3":
        from aepipe.storage.s3 import S3Storage

        return S3Storage(
            str(location.bucket),
            location.prefix,
            endpoint_url=endpoint_url,
            credentials=credentials,
        )
    return LocalStorage(Path(location.prefix))
