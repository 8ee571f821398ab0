"""Progress events from a running flow to whoever listens (the CLI's progress bar).

A module-level listener list, because flow parameters must stay JSON-serialisable for
deployments and so cannot carry a callback.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

Listener = Callable[[int], None]
_listeners: list[Listener] = []


@contextmanager
def listening(listener: Listener) -> Iterator[None]:
    _listeners.append(listener)
    try:
        yield
    finally:
        _listeners.remove(listener)


def images_done(count: int) -> None:
    for listener in list(_listeners):
        listener(count)
