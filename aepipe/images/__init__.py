"""Image I/O: bytes -> native-dtype arrays + ImageInfo, and back, for the restoration runtime."""

from aepipe.images.fileio import (
    DEFAULT_MAX_PIXELS,
    WRITABLE_FORMATS,
    DecodedImage,
    EncodeWarning,
    ImageInfo,
    decode,
    encode,
    extension_for,
    header_pixels,
    output_format,
    written_format,
)
from aepipe.images.pixels import (
    SUPPORTED_DTYPES,
    as_dtype,
    as_gray,
    as_rgb,
    from_float,
    max_value,
    to_float,
)
from aepipe.images.sniff import IMAGE_SUFFIXES, READABLE_FORMATS, sniff_format

__all__ = [
    "DEFAULT_MAX_PIXELS",
    "IMAGE_SUFFIXES",
    "READABLE_FORMATS",
    "SUPPORTED_DTYPES",
    "WRITABLE_FORMATS",
    "DecodedImage",
    "EncodeWarning",
    "ImageInfo",
    "as_dtype",
    "as_gray",
    "as_rgb",
    "decode",
    "encode",
    "extension_for",
    "from_float",
    "header_pixels",
    "max_value",
    "output_format",
    "sniff_format",
    "to_float",
    "written_format",
]
