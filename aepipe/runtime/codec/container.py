"""The versioned ``.aec`` bitstream container: header, entropy-coded streams, CRC32.

The header says everything a decoder needs before touching the streams: which model (name and
sha256 prefix, so another model's tables are never used by mistake), the image geometry, the
padding the encoder added to reach the model's stride, and the latent shape. Little-endian:

======================  ====================  ==========================================
field                   encoding              meaning
======================  ====================  ==========================================
magic                   4 bytes               ``\\x89AEC``
format version          u8                    :data:`FORMAT_VERSION`
model name              u8 length + UTF-8     e.g. ``aec-factorized-s``
model sha256 prefix     8 bytes               first 16 hex digits of the model's sha256
rate                    u8                    rate point of a variable-rate model
width, height           u32, u32              image size in pixels
mode                    u8 length + ASCII     Pillow mode: ``RGB``, ``L``, ``I;16``, ...
bit depth               u8                    8 or 16
flags                   u8                    bit 0: has alpha; other bits must be 0
pad bottom, pad right   u16, u16              rows / columns added before encoding
latent shape            u16 x 3               C, H, W
stream count            u8                    N
stream lengths          u32 x N               bytes of each stream
streams                 concatenated          the payloads, in order
CRC32                   u32                   ``zlib.crc32`` of every byte before it
======================  ====================  ==========================================

:func:`unpack` checks the CRC right after magic and version, so any damage past them reads
as corruption rather than as a confusing field error.
"""

from __future__ import annotations

import re
import struct
import zlib
from collections.abc import Sequence
from dataclasses import dataclass

from aepipe.errors import BitstreamError

MAGIC = b"\x89AEC"
FORMAT_VERSION = 1
#: Largest image side and pixel count a header may claim (decompression-bomb guard).
MAX_SIDE = 2**20
MAX_PIXELS = 2**31

_PREAMBLE = len(MAGIC) + 1  # magic and version, read before the CRC is checked
_CRC = struct.Struct("<I")
_SHA_PREFIX = re.compile(r"[0-9a-f]{16}")
_FLAG_ALPHA = 0x01
# Magic, version, 1-byte name, sha, rate, size, 1-byte mode, depth..pads, latent, count, CRC.
_MIN_SIZE = _PREAMBLE + 2 + 8 + 1 + 8 + 2 + 6 + 6 + 1 + _CRC.size


@dataclass(frozen=True)
class AecHeader:
    """What a decoder must know before decoding the streams; validated on construction."""

    model_name: str
    model_sha256: str  # the first 16 hex digits (lower case) of the model file's sha256
    rate: int  # which rate point (gains and tables) of the model coded the latents
    width: int
    height: int
    mode: str
    bit_depth: int
    has_alpha: bool
    pad: tuple[int, int]  # (bottom, right)
    latent_shape: tuple[int, int, int]  # (C, H, W)

    def __post_init__(self) -> None:
        _check_text("model_name", self.model_name.encode("utf-8"))
        if not self.mode.isascii() or not self.mode.isprintable():
            raise ValueError(f"mode must be printable ASCII: {self.mode!r}")
        _check_text("mode", self.mode.encode("ascii"))
        if not _SHA_PREFIX.fullmatch(self.model_sha256):
            raise ValueError(
                f"model_sha256 must be 16 lower-case hex digits: {self.model_sha256!r}"
            )
        _check_int("rate", self.rate, 0, 255)
        _check_int("width", self.width, 1, MAX_SIDE)
        _check_int("height", self.height, 1, MAX_SIDE)
        if self.width * self.height > MAX_PIXELS:
            raise ValueError(f"{self.width}x{self.height} exceeds {MAX_PIXELS} pixels")
        if type(self.bit_depth) is not int or self.bit_depth not in (8, 16):
            raise ValueError(f"bit_depth must be 8 or 16: {self.bit_depth!r}")
        if not isinstance(self.has_alpha, bool):
            raise ValueError(f"has_alpha must be a bool: {self.has_alpha!r}")
        _check_sides("pad", self.pad, 2, 0)
        _check_sides("latent_shape", self.latent_shape, 3, 1)


def _check_int(name: str, value: object, low: int, high: int) -> None:
    if type(value) is not int or not low <= value <= high:
        raise ValueError(f"{name} must be an int in {low}..{high}: {value!r}")


def _check_text(name: str, encoded: bytes) -> None:
    if not 1 <= len(encoded) <= 255:
        raise ValueError(f"{name} must encode to 1..255 bytes, got {len(encoded)}")


def _check_sides(name: str, sides: tuple[int, ...], count: int, low: int) -> None:
    """A tuple of ``count`` ints that each fit a u16 and are at least ``low``."""
    if not isinstance(sides, tuple) or len(sides) != count:
        raise ValueError(f"{name} must be a tuple of {count} ints: {sides!r}")
    for side in sides:
        _check_int(name, side, low, 0xFFFF)


def pack(header: AecHeader, streams: Sequence[bytes]) -> bytes:
    """Serialise a header and its streams; ValueError if they do not fit the format."""
    if len(streams) > 255:
        raise ValueError(f"at most 255 streams, got {len(streams)}")
    lengths = [len(stream) for stream in streams]
    if any(length > 0xFFFFFFFF for length in lengths):
        raise ValueError("a stream longer than 4 GiB does not fit a u32 length")
    name = header.model_name.encode("utf-8")
    mode = header.mode.encode("ascii")
    body = b"".join(
        (
            MAGIC,
            struct.pack("<BB", FORMAT_VERSION, len(name)),
            name,
            bytes.fromhex(header.model_sha256),
            struct.pack("<BIIB", header.rate, header.width, header.height, len(mode)),
            mode,
            struct.pack("<BBHH", header.bit_depth, _FLAG_ALPHA * header.has_alpha, *header.pad),
            struct.pack("<HHHB", *header.latent_shape, len(streams)),
            struct.pack(f"<{len(lengths)}I", *lengths),
            *streams,
        )
    )
    return body + _CRC.pack(zlib.crc32(body))


def unpack(data: bytes | bytearray | memoryview) -> tuple[AecHeader, list[bytes]]:
    """Parse an ``.aec`` file; BitstreamError, saying what is wrong, for anything else."""
    data = bytes(data)
    _check_preamble(data)
    (stored,) = _CRC.unpack_from(data, len(data) - _CRC.size)
    if zlib.crc32(data[: -_CRC.size]) != stored:
        raise BitstreamError("corrupt: CRC32 mismatch")
    reader = _Reader(data, _PREAMBLE, len(data) - _CRC.size)
    header = _read_header(reader)
    return header, _read_streams(reader)


def _check_preamble(data: bytes) -> None:
    """Magic, format version and minimum size: what must hold before the CRC means anything."""
    if not data.startswith(MAGIC):
        if MAGIC.startswith(data):
            raise BitstreamError(f"truncated: {len(data)} bytes is too short for an .aec file")
        raise BitstreamError("not an .aec file: bad magic")
    if len(data) > len(MAGIC) and data[len(MAGIC)] != FORMAT_VERSION:
        raise BitstreamError(
            f"unsupported .aec format version {data[len(MAGIC)]}; "
            f"this aepipe reads version {FORMAT_VERSION}"
        )
    if len(data) < _MIN_SIZE:
        raise BitstreamError(f"truncated: {len(data)} bytes is too short for an .aec file")


class _Reader:
    """Reads fields in order from ``data[pos:end]``; running past ``end`` is truncation."""

    def __init__(self, data: bytes, pos: int, end: int) -> None:
        self.data, self.pos, self.end = data, pos, end

    def take(self, size: int) -> bytes:
        if self.pos + size > self.end:
            raise BitstreamError(f"truncated: header field at byte {self.pos} runs past the end")
        self.pos += size
        return self.data[self.pos - size : self.pos]

    def fields(self, layout: str) -> tuple[int, ...]:
        return struct.unpack(layout, self.take(struct.calcsize(layout)))

    def text(self, name: str, encoding: str) -> str:
        (size,) = self.fields("<B")
        try:
            return self.take(size).decode(encoding)
        except UnicodeDecodeError as error:
            raise BitstreamError(f"{name} is not valid {encoding}") from error


def _read_header(reader: _Reader) -> AecHeader:
    model_name = reader.text("model name", "utf-8")
    model_sha256 = reader.take(8).hex()
    rate, width, height = reader.fields("<BII")
    mode = reader.text("mode", "ascii")
    bit_depth, flags, pad_bottom, pad_right = reader.fields("<BBHH")
    if flags & ~_FLAG_ALPHA:
        raise BitstreamError(f"unknown flags 0x{flags:02x}")
    channels, latent_height, latent_width = reader.fields("<HHH")
    try:
        return AecHeader(
            model_name=model_name,
            model_sha256=model_sha256,
            rate=rate,
            width=width,
            height=height,
            mode=mode,
            bit_depth=bit_depth,
            has_alpha=bool(flags & _FLAG_ALPHA),
            pad=(pad_bottom, pad_right),
            latent_shape=(channels, latent_height, latent_width),
        )
    except ValueError as error:
        raise BitstreamError(f"invalid header: {error}") from error


def _read_streams(reader: _Reader) -> list[bytes]:
    (count,) = reader.fields("<B")
    lengths = reader.fields(f"<{count}I")
    available = reader.end - reader.pos
    if sum(lengths) > available:
        raise BitstreamError(f"truncated: streams need {sum(lengths)} bytes, {available} remain")
    if sum(lengths) < available:
        raise BitstreamError(f"{available - sum(lengths)} trailing bytes after the streams")
    return [reader.take(length) for length in lengths]
