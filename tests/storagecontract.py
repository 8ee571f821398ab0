"""Promises every Storage backend keeps, checked the same way on each (local, S3)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

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
