"""Promises every Storage backend keeps, checked the same way on each (local, S3)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from aepipe.errors import PreconditionFailedError
from aepipe.storage import Precondition, Storage

RACERS = 8


def check_conditional_writes(store: Storage) -> None:
    """``absent`` creates once; ``etag`` replaces only the version that was read; of racers
    creating one key, exactly one wins and the object is that winner's bytes."""
    store.write("c.png", b"first", precondition=Precondition(absent=True))
    with pytest.raises(PreconditionFailedError, match=r"c\.png"):
        store.write("c.png", b"second", precondition=Precondition(absent=True))
    seen = store.head("c.png")
    assert seen is not None and seen.etag
    store.write("c.png", b"third", precondition=Precondition(etag=seen.etag))
    with pytest.raises(PreconditionFailedError, match=r"c\.png"):
        store.write("c.png", b"stale", precondition=Precondition(etag=seen.etag))
    assert store.read("c.png") == b"third"

    def create(racer: int) -> bool:
        try:
            store.write("race.png", b"racer %d" % racer, precondition=Precondition(absent=True))
            return True
        except PreconditionFailedError:
            return False

    with ThreadPoolExecutor(RACERS) as pool:
        won = list(pool.map(create, range(RACERS)))
    assert won.count(True) == 1, won
    assert store.read("race.png") == b"racer %d" % won.index(True)


def check_upload(store: Storage, tmp_path: Path) -> None:
    """``upload`` stores a file's bytes, small (one PUT) or from 8 MiB (multipart), replacing
    what was there."""
    small, big = tmp_path / "small.bin", tmp_path / "big.bin"
    small.write_bytes(b"report\n" * 10)
    big.write_bytes(bytes(range(256)) * (9 * 4096 + 7))  # 9 MiB + 1792 bytes
    store.write("up/file.jsonl", b"old")
    store.upload("up/file.jsonl", small)
    assert store.read("up/file.jsonl") == small.read_bytes()
    store.upload("up/big.bin", big)
    assert store.read("up/big.bin") == big.read_bytes()
    assert [k for k in store.list() if k.startswith("up/")] == ["up/big.bin", "up/file.jsonl"]
