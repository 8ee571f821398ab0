"""Typed errors. Every error names the input it is about, so a report row can say what failed."""

from __future__ import annotations


class AepipeError(Exception):
    """Base class for every error aepipe raises on purpose."""


class StorageError(AepipeError):
    """An object store could not be read or written."""


class ObjectNotFoundError(StorageError):
    """The key does not exist under the storage root."""


class PreconditionFailedError(StorageError):
    """A conditional write lost: the object appeared, or changed, since it was looked at."""


class UnsafeKeyError(StorageError, ValueError):
    """A key tries to escape its storage root (``..``, absolute paths, backslashes)."""


class OverlappingLocationsError(AepipeError, ValueError):
    """Source and destination are the same place, or one lies inside the other."""


class ImageError(AepipeError):
    """An image could not be decoded or encoded. ``key`` names the object."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"{key}: {message}")
        self.key = key


class UnsupportedImageError(ImageError):
    """The bytes are not an image format aepipe reads (content sniffed, not the extension)."""


class CorruptImageError(ImageError):
    """The image is truncated or corrupt."""


class ImageTooLargeError(ImageError):
    """The image has more pixels than the configured limit (decompression-bomb guard)."""


class ModelError(AepipeError):
    """A model could not be found, verified or run."""


class BitstreamError(AepipeError):
    """An .aec stream is not one this codec can decode (corrupt, truncated, another model)."""


class RunInterrupted(AepipeError):
    """A run stopped by a signal; its partial report is written. ``exit_status`` is 128 + the
    signal's number, as shells report it."""

    def __init__(self, message: str, exit_status: int) -> None:
        super().__init__(message)
        self.exit_status = exit_status
