"""S3Storage against a real SeaweedFS server (started once per session by ``s3_server``)."""

from __future__ import annotations

import os
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from storagecontract import check_conditional_writes, check_upload

from aepipe.errors import ObjectNotFoundError, StorageError, UnsafeKeyError
from aepipe.storage import ObjectInfo, open_storage
from aepipe.storage.s3 import S3Storage
from aepipe.tools.seaweedfs import SeaweedServer

pytestmark = pytest.mark.integration


@pytest.fixture
def store(s3_env: SeaweedServer, s3_bucket: str) -> S3Storage:
    """Credentials and endpoint from the environment, as in a deployment."""
    return S3Storage(s3_bucket, "root")


def test_the_server_really_is_seaweedfs(s3_server: SeaweedServer) -> None:
    assert re.match(r"version \S+ \d+\.\d+", s3_server.version), s3_server.version
    assert "SeaweedFS" in s3_server.server_header()


def test_round_trip_with_metadata(store: S3Storage, s3_bucket: str) -> None:
    store.write("a/img.png", b"\x89PNG...", {"model": "unet-s", "source-sha256": "ab" * 32})
    assert store.read("a/img.png") == b"\x89PNG..."
    assert store.head("a/img.png") is not None
    assert store.head("a/img.png") == ObjectInfo(
        key="a/img.png", size=7, metadata={"model": "unet-s", "source-sha256": "ab" * 32}
    )
    assert store.describe("a/img.png") == f"s3://{s3_bucket}/root/a/img.png"
    store.write("a/img.png", b"v2")
    assert store.head("a/img.png") == ObjectInfo(key="a/img.png", size=2, metadata={})
    store.write("empty", b"")
    assert store.read("empty") == b""


def test_missing_objects(store: S3Storage, s3_bucket: str) -> None:
    assert store.head("nope.png") is None
    assert store.head("nope.png") is None
    with pytest.raises(ObjectNotFoundError, match=f"s3://{s3_bucket}/root/nope.png"):
        store.read("nope.png")


@pytest.mark.parametrize("key", ["../x", "a/../../b", "/etc/passwd", "a\\b", "C:/x", ""])
def test_unsafe_keys_are_refused(store: S3Storage, key: str) -> None:
    for call in (
        lambda: store.read(key),
        lambda: store.write(key, b"x"),
        lambda: store.head(key),
    ):
        with pytest.raises(UnsafeKeyError):
            call()
    assert list(store.list()) == []


def test_listing_stays_under_the_root_and_skips_foreign_keys(
    store: S3Storage, s3_env: SeaweedServer, s3_bucket: str
) -> None:
    client = s3_env.client()
    for key in ("root/a.png", "root/sub/b.png", "root2/c.png", "rootless", "root/d/"):
        client.put_object(Bucket=s3_bucket, Key=key, Body=b"")
    assert list(store.list()) == ["a.png", "sub/b.png"]  # "root/d/" is a folder marker
    whole_bucket = S3Storage(s3_bucket)
    assert list(whole_bucket.list("root*/*.png")) == ["root/a.png", "root2/c.png"]


def test_errors_name_the_uri(s3_env: SeaweedServer) -> None:
    # Only listing: SeaweedFS creates a missing bucket on PutObject, where AWS refuses.
    store = S3Storage("no-such-bucket-here", "p")
    with pytest.raises(StorageError, match="s3://no-such-bucket-here/p: no such bucket"):
        list(store.list())
    with pytest.raises(StorageError, match="s3://no-such-bucket-here/p: no such bucket"):
        store.probe()


def test_auth_failures_are_storage_errors(
    store: S3Storage, monkeypatch: pytest.MonkeyPatch, s3_bucket: str
) -> None:
    store.write("k", b"1")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wrong")
    wrong = S3Storage(s3_bucket, "root")
    for call in (lambda: wrong.write("k", b"2"), lambda: wrong.read("k")):
        with pytest.raises(StorageError, match=f"s3://{s3_bucket}/root/k") as info:
            call()
        assert not isinstance(info.value, ObjectNotFoundError)
    assert store.read("k") == b"1"


def _count_list_calls(store: S3Storage) -> list[int]:
    """Record the number of keys in each ListObjectsV2 page the store fetches."""
    pages: list[int] = []

    def after_call(parsed: dict[str, Any], **_: Any) -> None:
        pages.append(len(parsed.get("Contents", ())))

    store._client.meta.events.register("after-call.s3.ListObjectsV2", after_call)
    return pages


@pytest.mark.slow
def test_listing_2500_keys_across_pages_with_globs(store: S3Storage) -> None:
    keys = [f"{i % 5}/{i:04d}.{'png' if i % 2 else 'jpg'}" for i in range(2500)]
    with ThreadPoolExecutor(max_workers=16) as pool:
        list(pool.map(lambda key: store.write(key, b"."), keys))
    pages = _count_list_calls(store)

    listing = store.list()
    first = next(listing)
    assert pages == [1000]  # pages are fetched as the caller goes, not all up front
    assert [first, *listing] == sorted(keys)
    assert pages == [1000, 1000, 500]  # S3 pages hold at most 1000 keys

    pngs = list(store.list("**/*.png"))
    assert len(pngs) == 1250 and all(key.endswith(".png") for key in pngs)
    assert list(store.list("*.png")) == []  # '*' does not cross '/'

    pages.clear()
    assert list(store.list("3/*.png")) == sorted(k for k in keys if re.match(r"3/.*png", k))
    assert pages == [500]  # the literal folder narrowed the S3 prefix to one page of 500


@pytest.mark.slow
def test_20mb_object_round_trips_through_multipart(
    store: S3Storage, s3_server: SeaweedServer, s3_bucket: str
) -> None:
    data = os.urandom(20 * 1024 * 1024)
    store.write("big.bin", data, {"kind": "big"})
    assert store.read("big.bin") == data
    etag = s3_server.client().head_object(Bucket=s3_bucket, Key="root/big.bin")["ETag"]
    assert etag.strip('"').endswith("-3")  # 8 MiB parts: 8 + 8 + 4
    assert store.head("big.bin") == ObjectInfo(
        key="big.bin", size=len(data), metadata={"kind": "big"}
    )


def test_open_storage_uses_the_default_chain(s3_env: SeaweedServer, s3_bucket: str) -> None:
    storage = open_storage(f"s3://{s3_bucket}/via-env/")
    assert isinstance(storage, S3Storage)
    assert storage.uri == f"s3://{s3_bucket}/via-env"
    storage.write("k.txt", b"hello")
    assert list(storage.list()) == ["k.txt"]
    assert storage.read("k.txt") == b"hello"


def test_open_storage_with_an_explicit_endpoint(
    s3_env: SeaweedServer, s3_bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AWS_ENDPOINT_URL")
    storage = open_storage(f"s3://{s3_bucket}", endpoint_url=s3_env.endpoint_url)
    storage.write("k.txt", b"hello")
    assert storage.read("k.txt") == b"hello"


def test_conditional_writes(store: S3Storage) -> None:
    """SeaweedFS honours If-None-Match and If-Match on PutObject, as AWS S3 does."""
    check_conditional_writes(store)


def test_upload_streams_a_file_in(store: S3Storage, tmp_path: Path) -> None:
    check_upload(store, tmp_path)
