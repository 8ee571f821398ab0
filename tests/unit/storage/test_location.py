"""URI parsing, key validation and the source/destination overlap check."""

from __future__ import annotations

from pathlib import Path

import pytest

from aepipe.errors import OverlappingLocationsError, StorageError, UnsafeKeyError
from aepipe.storage import check_no_overlap, parse_location
from aepipe.storage.base import is_valid_key, validate_key
from aepipe.storage.location import Location


def test_plain_relative_path_is_resolved_against_cwd(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    loc = parse_location("images/in/")
    assert loc == Location(scheme="file", bucket=None, prefix=str(tmp_path / "images" / "in"))
    assert loc.uri == str(tmp_path / "images" / "in")


def test_plain_absolute_path_and_dot_segments(tmp_path: Path) -> None:
    loc = parse_location(f"{tmp_path}/a/../b/")
    assert loc.prefix == str(tmp_path / "b")


def test_file_url(tmp_path: Path) -> None:
    assert parse_location(f"file://{tmp_path}/x%20y/").prefix == str(tmp_path / "x y")
    assert parse_location(f"file://localhost{tmp_path}").prefix == str(tmp_path)


def test_file_url_with_remote_host_is_refused() -> None:
    with pytest.raises(StorageError, match="remote host"):
        parse_location("file://server/share/x")


@pytest.mark.parametrize(
    ("uri", "bucket", "prefix", "canonical"),
    [
        ("s3://bkt", "bkt", "", "s3://bkt"),
        ("s3://bkt/", "bkt", "", "s3://bkt"),
        ("s3://bkt/data", "bkt", "data", "s3://bkt/data"),
        ("s3://bkt/data/in//", "bkt", "data/in", "s3://bkt/data/in"),
    ],
)
def test_s3_uri(uri: str, bucket: str, prefix: str, canonical: str) -> None:
    loc = parse_location(uri)
    assert (loc.scheme, loc.bucket, loc.prefix, loc.uri) == ("s3", bucket, prefix, canonical)


@pytest.mark.parametrize("uri", ["s3://", "s3:///x", "gs://bkt/x", "", "http://host/x"])
def test_bad_uris_are_refused(uri: str) -> None:
    with pytest.raises(StorageError):
        parse_location(uri)


@pytest.mark.parametrize("uri", ["s3://bkt/../x", "s3://bkt/a/../../b", "s3://bkt/a//b"])
def test_s3_prefix_must_be_a_safe_key(uri: str) -> None:
    with pytest.raises(UnsafeKeyError):
        parse_location(uri)


UNSAFE_KEYS = [
    "",
    "../x",
    "a/../../b",
    "a/..",
    "./a",
    "a/./b",
    "/etc/passwd",
    "a\\b",
    "..\\x",
    "C:/x",
    "c:x",
    "a\0b",
    "a//b",
    "dir/",
    ".aepipe-meta/x.json",
    "a/.tmp-123",
]


@pytest.mark.parametrize("key", UNSAFE_KEYS)
def test_unsafe_keys_are_refused_and_named(key: str) -> None:
    with pytest.raises(UnsafeKeyError) as info:
        validate_key(key)
    assert repr(key) in str(info.value)
    assert isinstance(info.value, ValueError)
    assert not is_valid_key(key)


@pytest.mark.parametrize("key", ["a.png", "a/b/c.png", "..a", "a..b/c", "x/.hidden", "é/ü.png"])
def test_safe_keys_pass(key: str) -> None:
    assert validate_key(key) == key


@pytest.mark.parametrize(
    ("source", "dest"),
    [
        ("s3://b/data", "s3://b/data"),
        ("s3://b/data", "s3://b/data/"),
        ("s3://b/data", "s3://b/data/out"),
        ("s3://b/data/out", "s3://b/data"),
        ("s3://b", "s3://b/out"),
    ],
)
def test_overlapping_s3_locations_are_refused(source: str, dest: str) -> None:
    with pytest.raises(OverlappingLocationsError, match="overlap"):
        check_no_overlap(source, dest)


def test_overlapping_local_locations_are_refused(tmp_path: Path) -> None:
    for source, dest in [
        (tmp_path, tmp_path),
        (tmp_path, tmp_path / "out"),
        (tmp_path / "in" / "deep", tmp_path / "in"),
    ]:
        with pytest.raises(OverlappingLocationsError):
            check_no_overlap(str(source), str(dest))
    with pytest.raises(OverlappingLocationsError):
        check_no_overlap(f"file://{tmp_path}", f"{tmp_path}/x/..")


@pytest.mark.parametrize(
    ("source", "dest"),
    [
        ("s3://b/data", "s3://b/data2"),
        ("s3://b/data2", "s3://b/data"),
        ("s3://b/data/in", "s3://b/data/out"),
        ("s3://b/data", "s3://b2/data"),
        ("s3://bucket", "s3://bucket2"),
    ],
)
def test_sibling_s3_locations_do_not_overlap(source: str, dest: str) -> None:
    check_no_overlap(source, dest)


def test_sibling_local_locations_do_not_overlap(tmp_path: Path) -> None:
    check_no_overlap(str(tmp_path / "data"), str(tmp_path / "data2"))
    check_no_overlap(str(tmp_path / "data2"), str(tmp_path / "data"))


def test_file_and_s3_never_overlap(tmp_path: Path) -> None:
    check_no_overlap(str(tmp_path), "s3://b")
    check_no_overlap("s3://tmp", "/tmp")
