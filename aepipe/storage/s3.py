"""An S3 bucket/prefix as a storage root (AWS, SeaweedFS, MinIO...), via boto3.

Retries are botocore's own (adaptive mode). The endpoint comes from ``endpoint_url`` if given,
else from boto3's standard chain, which already honours ``AWS_ENDPOINT_URL``. Custom endpoints
are addressed path-style by botocore, which is what SeaweedFS and MinIO need.
"""

from __future__ import annotations

import io
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

import boto3
from boto3.exceptions import Boto3Error
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from aepipe.errors import ObjectNotFoundError, StorageError
from aepipe.storage.base import (
    ObjectInfo,
    glob_literal_dir,
    glob_regex,
    is_valid_key,
    validate_key,
    validate_metadata,
)

_CLIENT_CONFIG = Config(retries={"max_attempts": 10, "mode": "adaptive"}, max_pool_connections=32)
# From 8 MiB, s3transfer moves objects as parallel 8 MiB parts (multipart up, ranged GETs
# down). Below it, plain PUT/GET calls: s3transfer's per-call thread pool (and the HEAD
# before each download) made small-object reads 2-3x slower against SeaweedFS.
_MULTIPART_BYTES = 8 * 1024 * 1024
_TRANSFER_CONFIG = TransferConfig(
    multipart_threshold=_MULTIPART_BYTES, multipart_chunksize=_MULTIPART_BYTES
)
_NOT_FOUND = {"404", "NoSuchKey", "NotFound"}


class S3Storage:
    """Objects are ``<prefix>/<key>`` in ``bucket``. One client per instance, thread-safe."""

    def __init__(self, bucket: str, prefix: str = "", *, endpoint_url: str | None = None) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.uri = f"s3://{bucket}/{self.prefix}" if self.prefix else f"s3://{bucket}"
        self._client = boto3.session.Session().client(
            "s3", endpoint_url=endpoint_url, config=_CLIENT_CONFIG
        )

    def list(self, glob: str | None = None) -> Iterator[str]:
        """Page through ListObjectsV2 lazily; a glob's literal folder narrows the S3 prefix."""
        root = f"{self.prefix}/" if self.prefix else ""
        pattern = glob_regex(glob) if glob else None
        paginator = self._client.get_paginator("list_objects_v2")
        pages = paginator.paginate(Bucket=self.bucket, Prefix=root + glob_literal_dir(glob))
        with _errors(self.uri):
            for page in pages:
                for obj in page.get("Contents", ()):
                    key = obj["Key"][len(root) :]
                    if is_valid_key(key) and (pattern is None or pattern.match(key)):
                        yield key

    def read(self, key: str) -> bytes:
        """One GET for small objects; big ones are re-fetched as parallel ranged GETs."""
        s3_key = self._s3_key(key)
        with _errors(self.describe(key)):
            response = self._client.get_object(Bucket=self.bucket, Key=s3_key)
            if response["ContentLength"] < _MULTIPART_BYTES:
                return bytes(response["Body"].read())
            response["Body"].close()
            buffer = io.BytesIO()
            self._client.download_fileobj(self.bucket, s3_key, buffer, Config=_TRANSFER_CONFIG)
            return buffer.getvalue()

    def write(self, key: str, data: bytes, metadata: Mapping[str, str] | None = None) -> None:
        """One PUT, or a multipart upload from 8 MiB; either way S3 publishes it atomically."""
        s3_key, meta = self._s3_key(key), validate_metadata(metadata)
        with _errors(self.describe(key)):
            if len(data) < _MULTIPART_BYTES:
                self._client.put_object(Bucket=self.bucket, Key=s3_key, Body=data, Metadata=meta)
            else:
                self._client.upload_fileobj(
                    io.BytesIO(data),
                    self.bucket,
                    s3_key,
                    ExtraArgs={"Metadata": meta},
                    Config=_TRANSFER_CONFIG,
                )

    def head(self, key: str) -> ObjectInfo | None:
        """HeadObject; None if missing."""
        try:
            with _errors(self.describe(key)):
                response = self._client.head_object(Bucket=self.bucket, Key=self._s3_key(key))
        except ObjectNotFoundError:
            return None
        return ObjectInfo(
            key=key,
            size=response["ContentLength"],
            metadata=response.get("Metadata", {}),
            etag=response.get("ETag", ""),
        )

    def describe(self, key: str) -> str:
        """``s3://bucket/prefix/key``."""
        return f"s3://{self.bucket}/{self._s3_key(key)}"

    def _s3_key(self, key: str) -> str:
        validate_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key


@contextmanager
def _errors(uri: str) -> Iterator[None]:
    """Turn boto errors into ObjectNotFoundError / StorageError naming ``uri``."""
    try:
        yield
    except ClientError as exc:
        error = exc.response.get("Error", {})
        code = str(error.get("Code", ""))
        if code in _NOT_FOUND:
            raise ObjectNotFoundError(f"no such object: {uri}") from exc
        raise StorageError(f"{uri}: {code} {error.get('Message', '')}".rstrip()) from exc
    except (BotoCoreError, Boto3Error) as exc:
        raise StorageError(f"{uri}: {exc}") from exc
