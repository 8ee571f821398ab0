"""Which keys a run reads, which outputs it writes, and how keys are grouped into chunks."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from itertools import islice
from posixpath import splitext

from aepipe.errors import AepipeError
from aepipe.runtime.options import RunOptions
from aepipe.runtime.reports.writer import REPORTS_PREFIX
from aepipe.runtime.tasks.names import SIBLING_SUFFIXES
from aepipe.storage import Storage


class NoInputError(AepipeError):
    """SOURCE lists no object (a mistyped folder, bucket or prefix, or a glob matching none)."""


def input_keys(source: Storage, options: RunOptions) -> Iterator[str]:
    """Keys to process, streamed: reports a previous run left in the source are not inputs.

    A source that lists nothing at all is an error (raised when the listing ends, so the
    stream stays lazy); a shard or a limit that selects nothing from a listing is not.
    """
    keys = _listed(source, options.glob)
    sibling = SIBLING_SUFFIXES.get(options.task)
    if sibling is not None:  # masks beside the images are not images to fill
        keys = (k for k in keys if not k.endswith(sibling))
    shard = options.shard_of()
    if shard is not None:
        keys = (k for k in keys if shard_index(k, shard[1]) == shard[0])
    return islice(keys, options.limit) if options.limit is not None else keys


def shard_index(key: str, count: int) -> int:
    """The shard of ``key`` among ``count``: a hash of its UTF-8 bytes, the same on every
    machine and Python process (``hash()`` is salted per process), so shards never overlap."""
    digest = hashlib.blake2b(key.encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % count


def _listed(source: Storage, glob: str | None) -> Iterator[str]:
    found = False
    for key in source.list(glob):
        if not is_report_key(key):
            found = True
            yield key
    if not found:
        matching = f" matching {glob!r}" if glob else ""
        raise NoInputError(
            f"SOURCE {source.uri}: no objects{matching} (a mistyped folder, bucket or prefix?)"
        )


def output_key(source_key: str, extension: str) -> str:
    """Same relative key and stem as the input, with the output format's extension."""
    return splitext(source_key)[0] + extension


def sibling_key(source_key: str, suffix: str) -> str:
    """The object beside ``source_key`` with its stem: ``a/b.jpg`` -> ``a/b.mask.png``."""
    return output_key(source_key, suffix)


def is_report_key(key: str) -> bool:
    return key == REPORTS_PREFIX or key.startswith(REPORTS_PREFIX + "/")


def chunked(keys: Iterable[str], size: int) -> Iterator[list[str]]:
    """Group a (possibly endless, streamed) iterable of keys into lists of ``size``."""
    if size < 1:
        raise ValueError(f"chunk size must be >= 1, got {size}")
    iterator = iter(keys)
    while chunk := list(islice(iterator, size)):
        yield chunk
