"""Shared fixtures. The S3 ones start a real SeaweedFS server, once, only for tests that ask."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from aepipe.tools.seaweedfs import SeaweedServer


@pytest.fixture(scope="session")
def s3_server() -> Iterator[SeaweedServer]:
    """A SeaweedFS S3 server for the whole session (~4 s to start, up to 30 s to stop)."""
    with SeaweedServer() as server:
        yield server


@pytest.fixture
def s3_bucket(s3_server: SeaweedServer) -> Iterator[str]:
    """A fresh empty bucket, emptied and deleted afterwards (each one holds 7 volumes)."""
    client = s3_server.client()
    name = f"test-{uuid.uuid4().hex[:16]}"
    client.create_bucket(Bucket=name)
    yield name
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=name):
        objects = [{"Key": obj["Key"]} for obj in page.get("Contents", ())]
        if objects:
            client.delete_objects(Bucket=name, Delete={"Objects": objects, "Quiet": True})
    client.delete_bucket(Bucket=name)


@pytest.fixture
def s3_env(s3_server: SeaweedServer, monkeypatch: pytest.MonkeyPatch) -> SeaweedServer:
    """Point boto3's default chain (env vars) at the server, as a deployment would."""
    # A developer's own settings that would override, disable or mix with the ones below.
    for name in (
        "AWS_ENDPOINT_URL_S3",
        "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS",
        "AWS_PROFILE",
        "AWS_SESSION_TOKEN",
    ):
        monkeypatch.delenv(name, raising=False)
    for name, value in s3_server.env().items():
        monkeypatch.setenv(name, value)
    return s3_server
