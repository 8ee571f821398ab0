"""Identify an image format from its leading bytes, never from the object key.

Keys lie (``photo.png`` that is a JPEG, ``scan`` with no extension), and a format with a
known signature that Pillow then fails to parse is corrupt rather than unsupported, which
is a different row in the report. Only formats with a real signature are listed: Pillow's
signature-less plugins (TGA, ...) would "accept" random bytes.
"""

from __future__ import annotations

#: Formats decode reads, as Pillow names them. JPEG includes MPO (multi-picture JPEG).
READABLE_FORMATS = ("PNG", "JPEG", "TIFF", "WEBP", "GIF", "BMP")
#: File name suffixes of those formats, for folders listed by name (evaluation, training data).
IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".tif", ".tiff", ".webp", ".gif", ".bmp"})

_PREFIXES = (
    (b"\x89PNG\r\n\x1a\n", "PNG"),
    (b"\xff\xd8\xff", "JPEG"),
    (b"GIF87a", "GIF"),
    (b"GIF89a", "GIF"),
    (b"II*\x00", "TIFF"),
    (b"MM\x00*", "TIFF"),
    (b"II+\x00", "TIFF"),  # BigTIFF
    (b"MM\x00+", "TIFF"),
)

# "BM" alone is too weak (any text starting "BM..."); also require a known DIB header size.
_BMP_DIB_HEADER_SIZES = frozenset({12, 40, 52, 56, 64, 108, 124})


def sniff_format(data: bytes) -> str | None:
    """Pillow format name for ``data``, or None when no readable format matches."""
    for prefix, name in _PREFIXES:
        if data.startswith(prefix):
            return name
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WEBP"
    if data[:2] == b"BM" and int.from_bytes(data[14:18], "little") in _BMP_DIB_HEADER_SIZES:
        return "BMP"
    return None


def describe_prefix(data: bytes) -> str:
    """Short, log-safe description of what the bytes start with, for error messages."""
    if not data:
        return "empty object"
    return f"content starts with {data[:8]!r}"
