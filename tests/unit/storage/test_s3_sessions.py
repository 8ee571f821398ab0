"""S3 storages share botocore's parsed service model, never their credentials."""

from __future__ import annotations

import pytest

from aepipe.storage.base import S3Credentials
from aepipe.storage.s3 import S3Storage

ENDPOINT = "http://127.0.0.1:9"  # never contacted: clients connect on their first request


def signing_key(storage: S3Storage) -> str:
    return storage._client._request_signer._credentials.access_key


def test_storages_share_the_loader_and_resolve_their_own_credentials(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "first")
    first = S3Storage("bucket", endpoint_url=ENDPOINT)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "second")
    second = S3Storage("bucket", endpoint_url=ENDPOINT)
    given = S3Storage(
        "bucket",
        credentials=S3Credentials("given", "secret", endpoint_url=ENDPOINT),
    )

    assert first._client._loader is second._client._loader is given._client._loader
    assert [signing_key(s) for s in (first, second, given)] == ["first", "second", "given"]
