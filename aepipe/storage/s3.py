"""An S3 bucket/prefix as a storage root (AWS, SeaweedFS, MinIO...), via boto3.

Retries are botocore's own (adaptive mode). The endpoint comes from ``endpoint_url`` if given,
else from boto3's standard chain, which already honours ``AWS_ENDPOINT_URL``. Custom endpoints
are addressed path-style by botocore, which is what SeaweedFS and MinIO need.
"""

from __future__ import annotations

import io
import os
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

import boto3
import botocore.session
from boto3.exceptions import Boto3Error
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    IncompleteReadError,
    ResponseStreamingError,
)
from botocore.loaders import Loader

from aepipe.errors import ObjectNotFoundError, PreconditionFailedError, StorageError
from aepipe.storage.base import (
    ObjectInfo,
    Precondition,
    S3Credentials,
    check_precondition,
    glob_literal_dir,
    glob_regex,
    is_folder_marker,
    validate_key,
    validate_metadata,
)

#: botocore's attempts per request (its adaptive mode backs off between them); the standard
#: AWS_MAX_ATTEMPTS setting overrides it.
MAX_ATTEMPTS = 10


_shared_loader: Loader | None = None


def boto3_session(**credentials: str | None) -> boto3.session.Session:
    """A fresh session (credentials resolved as boto3 always does) that shares one data
    loader with the others: each session parsing the S3 service model anew cost 15 MB and
    0.14 s a client; a run opens one storage per side in the flow, the report and every
    chunk (docs/benchmarks.md)."""
    global _shared_loader
    core = botocore.session.Session()
    if _shared_loader is None:
        _shared_loader = core.get_component("data_loader")
    else:
        core.register_component("data_loader", _shared_loader)
    return boto3.session.Session(botocore_session=core, **credentials)


def client_config() -> Config:
    return Config(
        retries={
            "max_attempts": int(os.environ.get("AWS_MAX_ATTEMPTS", MAX_ATTEMPTS)),
            "mode": "adaptive",
        },
        max_pool_connections=32,
        # A CRC32 on every PUT, checked by the store; responses that carry one are checked here.
        request_checksum_calculation="when_supported",
        response_checksum_validation="when_supported",
    )


# From 8 MiB, s3transfer moves objects as parallel 8 MiB parts (multipart up, ranged GETs
# down). Below it, plain PUT/GET calls: s3transfer's per-call thread pool (and the HEAD
# before each download) made small-object reads 2-3x slower against SeaweedFS.
_MULTIPART_BYTES = 8 * 1024 * 1024
_TRANSFER_CONFIG = TransferConfig(
    multipart_threshold=_MULTIPART_BYTES, multipart_chunksize=_MULTIPART_BYTES
)
_NOT_FOUND = {"404", "NoSuchKey", "NotFound"}
_NO_BUCKET = {"NoSuchBucket"}
_REFUSED = {"403", "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "Forbidden"}
_PRECONDITION_FAILED = {"412", "PreconditionFailed", "ConditionalRequestConflict"}
#: The store says the body it got does not match the checksum sent with it.
_DAMAGED_BODY = {"BadDigest", "InvalidDigest", "XAmzContentChecksumMismatch", "InvalidChecksum"}
#: Attempts at a body that broke off or arrived damaged, with _BODY_BACKOFF_S x 2^n between.
_BODY_ATTEMPTS = 5
_BODY_BACKOFF_S = 0.05
T = TypeVar("T")


class S3Storage:
    """Objects are ``<prefix>/<key>`` in ``bucket``. One client per instance, thread-safe."""

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        *,
        endpoint_url: str | None = None,
        credentials: S3Credentials | None = None,
    ) -> None:
        """``credentials``: explicit keys (and their endpoint, unless ``endpoint_url`` is
        given) instead of boto3's standard chain (environment, config files, instance roles)."""
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.uri = f"s3://{bucket}/{self.prefix}" if self.prefix else f"s3://{bucket}"
        if credentials is None:
            session = boto3_session()
        else:
            session = boto3_session(
                aws_access_key_id=credentials.access_key_id,
                aws_secret_access_key=credentials.secret_access_key,
                aws_session_token=credentials.session_token,
                region_name=credentials.region,
            )
            endpoint_url = endpoint_url or credentials.endpoint_url
        self._client = session.client("s3", endpoint_url=endpoint_url, config=client_config())

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
                    if not is_folder_marker(key) and (pattern is None or pattern.match(key)):
                        yield key

    def read(self, key: str) -> bytes:
        """One GET for small objects; big ones are re-fetched as parallel ranged GETs.

        botocore retries a request that fails, but not a body that breaks off while it is
        read (a reset, or fewer bytes than Content-Length, which botocore's read checks): that
        is retried here, so a short body is never returned.
        """
        s3_key = self._s3_key(key)
        with _errors(self.describe(key)):
            return _again_if_damaged(lambda: self._get(s3_key), _broken_body)

    def _get(self, s3_key: str) -> bytes:
        response = self._client.get_object(Bucket=self.bucket, Key=s3_key)
        if response["ContentLength"] < _MULTIPART_BYTES:
            return bytes(response["Body"].read())
        response["Body"].close()
        buffer = io.BytesIO()
        self._client.download_fileobj(self.bucket, s3_key, buffer, Config=_TRANSFER_CONFIG)
        return buffer.getvalue()

    def write(
        self,
        key: str,
        data: bytes,
        metadata: Mapping[str, str] | None = None,
        precondition: Precondition | None = None,
    ) -> None:
        """One PUT, or a multipart upload from 8 MiB; either way S3 publishes it atomically.

        Every PUT carries a CRC32 the store checks (botocore's flexible checksums). A
        precondition travels as ``If-None-Match``/``If-Match`` on the PUT; s3transfer's multipart
        uploads cannot carry one, so for objects of 8 MiB and more it is checked with a HEAD
        just before the upload (a narrower race, not none).
        """
        s3_key, meta = self._s3_key(key), validate_metadata(metadata)
        with _errors(self.describe(key)):
            if len(data) < _MULTIPART_BYTES:
                conditions = _conditions(precondition)
                _again_if_damaged(
                    lambda: self._client.put_object(
                        Bucket=self.bucket, Key=s3_key, Body=data, Metadata=meta, **conditions
                    ),
                    _refused_as_damaged,
                )
            else:
                if precondition:
                    check_precondition(self, key, precondition)
                self._client.upload_fileobj(
                    io.BytesIO(data),
                    self.bucket,
                    s3_key,
                    ExtraArgs={"Metadata": meta},
                    Config=_TRANSFER_CONFIG,
                )

    def upload(self, key: str, path: Path) -> None:
        """A small file is one checked PUT (:meth:`write`); from 8 MiB, s3transfer's multipart
        upload streams it from disk in 8 MiB parts, and S3 publishes it whole."""
        if path.stat().st_size < _MULTIPART_BYTES:
            self.write(key, path.read_bytes())
            return
        with _errors(self.describe(key)):
            self._client.upload_file(
                str(path), self.bucket, self._s3_key(key), Config=_TRANSFER_CONFIG
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

    def probe(self) -> None:
        """HeadBucket: the bucket exists and these credentials may use it."""
        try:
            with _errors(self.uri):
                self._client.head_bucket(Bucket=self.bucket)
        except ObjectNotFoundError:  # HEAD answers a bare 404
            raise StorageError(f"{self.uri}: no such bucket") from None

    def describe(self, key: str) -> str:
        """``s3://bucket/prefix/key``."""
        return f"s3://{self.bucket}/{self._s3_key(key)}"

    def _s3_key(self, key: str) -> str:
        validate_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key


def _again_if_damaged(call: Callable[[], T], damaged: Callable[[Exception], bool]) -> T:
    """``call()``, made again (``_BODY_ATTEMPTS`` in all, backing off) while it fails because a
    body was damaged on the way: botocore retries failed requests, not broken bodies."""
    for attempt in range(_BODY_ATTEMPTS - 1):
        try:
            return call()
        except Exception as exc:
            if not damaged(exc):
                raise
        time.sleep(_BODY_BACKOFF_S * 2**attempt)
    return call()


def _broken_body(exc: Exception) -> bool:
    """A GET's body broke off, or ended before its Content-Length."""
    return isinstance(exc, ResponseStreamingError | IncompleteReadError)


def _refused_as_damaged(exc: Exception) -> bool:
    """The store says the PUT body it got does not match the checksum sent with it."""
    return isinstance(exc, ClientError) and (
        str(exc.response.get("Error", {}).get("Code", "")) in _DAMAGED_BODY
    )


def _conditions(precondition: Precondition | None) -> dict[str, str]:
    if precondition is None:
        return {}
    if precondition.absent:
        return {"IfNoneMatch": "*"}
    return {"IfMatch": precondition.etag} if precondition.etag else {}


@contextmanager
def _errors(uri: str) -> Iterator[None]:
    """Turn boto errors into ObjectNotFoundError / StorageError naming ``uri``."""
    try:
        yield
    except ClientError as exc:
        error = exc.response.get("Error", {})
        code = str(error.get("Code", ""))
        if code in _NO_BUCKET:
            raise StorageError(f"{uri}: no such bucket") from exc
        if code in _NOT_FOUND:
            raise ObjectNotFoundError(f"no such object: {uri}") from exc
        if code in _REFUSED:
            raise StorageError(
                f"{uri}: {code}: access refused (credentials or permissions)"
            ) from exc
        if code in _PRECONDITION_FAILED:
            raise PreconditionFailedError(f"{uri}: changed by another writer ({code})") from exc
        raise StorageError(f"{uri}: {code} {error.get('Message', '')}".rstrip()) from exc
    except (BotoCoreError, Boto3Error) as exc:
        raise StorageError(f"{uri}: {exc}") from exc
