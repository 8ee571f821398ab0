"""LocalStorage: round trips, metadata sidecars, S3-ordered lazy listing, atomic writes."""

from __future__ import annotations

import os
import stat
import types
from pathlib import Path

import pytest
from storagecontract import check_conditional_writes, check_upload

from aepipe.errors import ObjectNotFoundError, StorageError, UnsafeKeyError
from aepipe.storage import ObjectInfo, open_storage
from aepipe.storage.local import LocalStorage


class SimulatedCrash(Exception):
    """Stands in for the process dying at a given point of a write."""


@pytest.fixture
def store(tmp_path: Path) -> LocalStorage:
    return LocalStorage(tmp_path / "root")  # does not exist yet, like a fresh destination


def test_open_storage_gives_local_storage(tmp_path: Path) -> None:
    storage = open_storage(f"file://{tmp_path}/out/", endpoint_url="http://ignored")
    assert isinstance(storage, LocalStorage)
    assert storage.uri == str(tmp_path / "out")


def test_round_trip_creates_root_and_folders(store: LocalStorage) -> None:
    store.write("a/b/c.bin", b"\x00payload")
    assert store.read("a/b/c.bin") == b"\x00payload"
    assert store.head("a/b/c.bin") is not None
    assert store.describe("a/b/c.bin") == str(store.root / "a" / "b" / "c.bin")
    store.write("a/b/c.bin", b"new")
    assert store.read("a/b/c.bin") == b"new"
    store.write("empty", b"")
    assert store.read("empty") == b""


def test_written_files_get_the_usual_mode_not_0600(store: LocalStorage) -> None:
    store.write("x", b"1")
    umask = os.umask(0o022)
    os.umask(umask)
    assert stat.S_IMODE((store.root / "x").stat().st_mode) == 0o666 & ~umask


def test_metadata_round_trip_and_replacement(store: LocalStorage) -> None:
    store.write("img.png", b"12345", {"model": "unet-s", "sha256": "ab" * 32})
    assert store.head("img.png") == ObjectInfo(
        key="img.png", size=5, metadata={"model": "unet-s", "sha256": "ab" * 32}
    )
    store.write("img.png", b"12")
    assert store.head("img.png") == ObjectInfo(key="img.png", size=2, metadata={})


@pytest.mark.parametrize("metadata", [{"Model": "x"}, {"a b": "x"}, {"k": "é"}, {"k": "a\nb"}])
def test_metadata_s3_would_mangle_is_refused(store: LocalStorage, metadata: dict[str, str]) -> None:
    with pytest.raises(ValueError, match="metadata"):
        store.write("k", b"", metadata)
    assert store.head("k") is None


def test_missing_objects(store: LocalStorage) -> None:
    assert store.head("nope") is None
    assert store.head("nope") is None
    with pytest.raises(ObjectNotFoundError, match=str(store.root / "nope")):
        store.read("nope")


def test_folders_and_paths_under_files_are_not_objects(store: LocalStorage) -> None:
    store.write("dir/file", b"x")
    assert store.head("dir") is None
    assert store.head("dir/file/below") is None
    with pytest.raises(ObjectNotFoundError):
        store.read("dir")
    with pytest.raises(ObjectNotFoundError):
        store.read("dir/file/below")


def test_read_errors_name_the_path(store: LocalStorage, monkeypatch: pytest.MonkeyPatch) -> None:
    store.write("x", b"1")

    def denied(self: Path) -> bytes:
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "read_bytes", denied)
    with pytest.raises(StorageError, match=str(store.root / "x")) as info:
        store.read("x")
    assert not isinstance(info.value, ObjectNotFoundError)


@pytest.mark.parametrize("key", ["../x", "a/../../b", "/etc/passwd", "a\\b", "C:/x"])
def test_every_operation_refuses_unsafe_keys(store: LocalStorage, key: str) -> None:
    for call in (
        lambda: store.read(key),
        lambda: store.write(key, b"x"),
        lambda: store.head(key),
        lambda: store.describe(key),
    ):
        with pytest.raises(UnsafeKeyError, match="unsafe storage key"):
            call()
    assert not store.root.exists()


KEYS = ["a-b", "a/c", "a0", "b.png", "B.png", "x/y/z.png", "x/y.png", "x/y.jpg", "x/ya.png"]


def test_listing_is_lazy_and_in_s3_key_order(store: LocalStorage) -> None:
    for key in reversed(KEYS):
        store.write(key, b"")
    listing = store.list()
    assert isinstance(listing, types.GeneratorType)
    assert list(listing) == sorted(KEYS)  # code-point order, as S3 lists: "a-b" < "a/c" < "a0"


@pytest.mark.parametrize(
    ("glob", "expected"),
    [
        ("*.png", ["B.png", "b.png"]),
        ("**/*.png", ["B.png", "b.png", "x/y.png", "x/y/z.png", "x/ya.png"]),
        ("**.png", ["B.png", "b.png", "x/y.png", "x/y/z.png", "x/ya.png"]),
        ("x/*.png", ["x/y.png", "x/ya.png"]),
        ("x/**", ["x/y.jpg", "x/y.png", "x/y/z.png", "x/ya.png"]),
        ("x/y.*", ["x/y.jpg", "x/y.png"]),
        ("x/?.png", ["x/y.png"]),
        ("[ab]*", ["a-b", "a0", "b.png"]),
        ("[!ab]*", ["B.png"]),
        ("a?c", []),  # '?' never matches '/'
        ("nothing/**", []),
    ],
)
def test_glob_semantics(store: LocalStorage, glob: str, expected: list[str]) -> None:
    for key in KEYS:
        store.write(key, b"")
    assert list(store.list(glob)) == expected


def test_listing_a_missing_root_is_empty(store: LocalStorage) -> None:
    assert list(store.list()) == []
    assert list(store.list("sub/*.png")) == []


def test_listing_hides_metadata_and_temp_files_and_shows_unsafe_names(
    store: LocalStorage,
) -> None:
    store.write("a.png", b"1", {"k": "v"})
    (store.root / ".tmp-crashed").write_bytes(b"partial")  # left by a killed writer
    (store.root / "back\\slash.png").write_bytes(b"")  # listed: reading it is refused
    (store.root / "sub" / ".aepipe-meta").mkdir(parents=True)  # only the root's is reserved
    (store.root / "sub" / ".aepipe-meta" / "x.png").write_bytes(b"")
    assert (store.root / ".aepipe-meta" / "a.png.json").is_file()
    listed = ["a.png", "back\\slash.png", "sub/.aepipe-meta/x.png"]
    assert list(store.list()) == listed and list(store.list("**")) == listed
    with pytest.raises(UnsafeKeyError, match="backslash"):
        store.read("back\\slash.png")


def test_symlinked_folders_are_not_walked(store: LocalStorage, tmp_path: Path) -> None:
    store.write("real/x", b"")
    (store.root / "loop").symlink_to(store.root)
    assert list(store.list()) == ["real/x"]


def _crash_on_replace(monkeypatch: pytest.MonkeyPatch, *, on_call: int = 1) -> list[bytes]:
    """Make the ``on_call``-th os.replace die, recording what the temp file held by then."""
    real_replace, seen = os.replace, []

    def replace(src: str, dst: str) -> None:
        seen.append(Path(src).read_bytes())
        if len(seen) == on_call:
            raise SimulatedCrash
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    return seen


def test_crash_mid_write_leaves_previous_content(
    store: LocalStorage, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.write("img.png", b"old", {"k": "old"})
    seen = _crash_on_replace(monkeypatch)
    with pytest.raises(SimulatedCrash):
        store.write("img.png", b"new content", {"k": "new"})
    assert seen == [b"new content"]  # the bytes had been written, just not published
    assert store.read("img.png") == b"old"
    assert list(store.list()) == ["img.png"]
    assert sorted(os.listdir(store.root)) == [".aepipe-meta", "img.png"]


def test_crash_on_first_write_leaves_no_file(
    store: LocalStorage, monkeypatch: pytest.MonkeyPatch
) -> None:
    _crash_on_replace(monkeypatch)
    with pytest.raises(SimulatedCrash):
        store.write("a/img.png", b"partial")
    assert store.head("a/img.png") is None
    assert list(store.list()) == []
    assert os.listdir(store.root / "a") == []


def test_crash_between_data_and_metadata_leaves_no_stale_provenance(
    store: LocalStorage, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.write("img.png", b"old", {"k": "old"})
    _crash_on_replace(monkeypatch, on_call=2)  # data goes through, its sidecar does not
    with pytest.raises(SimulatedCrash):
        store.write("img.png", b"new", {"k": "new"})
    assert store.head("img.png") == ObjectInfo(key="img.png", size=3, metadata={})


def test_conditional_writes(store: LocalStorage) -> None:
    check_conditional_writes(store)
    locks = list((store.root / ".aepipe-meta" / "locks").iterdir())
    assert 0 < len(locks) <= 2 and list(store.list()) == ["c.png", "race.png"]


def test_upload_streams_a_file_in(store: LocalStorage, tmp_path: Path) -> None:
    check_upload(store, tmp_path)
