"""The .aec container must round-trip, and refuse any damaged or foreign file (BitstreamError)."""

from __future__ import annotations

import struct
import zlib
from typing import Any

import numpy as np
import pytest

from aepipe.errors import BitstreamError
from aepipe.runtime.codec.container import FORMAT_VERSION, MAGIC, AecHeader, pack, unpack

SHA = "0123456789abcdef"


def _header(**overrides: Any) -> AecHeader:
    fields: dict[str, Any] = {
        "model_name": "aec-factorized-s",
        "model_sha256": SHA,
        "rate": 2,
        "width": 61,
        "height": 45,
        "mode": "RGB",
        "bit_depth": 8,
        "has_alpha": False,
        "pad": (3, 3),
        "latent_shape": (96, 3, 4),
    }
    return AecHeader(**{**fields, **overrides})


def _with_crc(body: bytes) -> bytes:
    return body + struct.pack("<I", zlib.crc32(body))


def _raw(
    *,
    version: int = FORMAT_VERSION,
    name: bytes = b"aec-factorized-s",
    rate: int = 2,
    size: tuple[int, int] = (61, 45),
    mode: bytes = b"RGB",
    depth: int = 8,
    flags: int = 0,
    latent: tuple[int, int, int] = (96, 3, 4),
    lengths: tuple[int, ...] = (3, 0),
    payload: bytes = b"abc",
    extra: bytes = b"",
) -> bytes:
    """An .aec file built field by field, as the module docstring lays it out, with a valid CRC."""
    body = b"".join(
        (
            MAGIC,
            bytes([version, len(name)]),
            name,
            bytes.fromhex(SHA),
            struct.pack("<BIIB", rate, *size, len(mode)),
            mode,
            struct.pack("<BBHHHHHB", depth, flags, 3, 3, *latent, len(lengths)),
            struct.pack(f"<{len(lengths)}I", *lengths),
            payload,
            extra,
        )
    )
    return _with_crc(body)


def test_pack_writes_the_documented_layout() -> None:
    assert pack(_header(), [b"abc", b""]) == _raw()


@pytest.mark.parametrize(
    "header, streams",
    [
        (_header(), [b"main", b"", b"alpha"]),
        (_header(), []),
        (_header(mode="RGBA", has_alpha=True, bit_depth=16), [bytes(range(256)) * 10]),
        (_header(mode="I;16", bit_depth=16, width=1, height=1, pad=(0, 0)), [b"x"]),
        (_header(model_name="modèle-ü" * 25, rate=255, latent_shape=(65535, 1, 1)), [b""] * 255),
        (_header(width=2**20, height=2**11, pad=(65535, 0)), [b"y"]),
    ],
)
def test_round_trip(header: AecHeader, streams: list[bytes]) -> None:
    assert unpack(pack(header, streams)) == (header, streams)


@pytest.mark.parametrize(
    "overrides",
    [
        {"model_name": ""},
        {"model_name": "x" * 256},
        {"model_sha256": SHA[:15]},
        {"model_sha256": SHA.upper()},
        {"model_sha256": "g" * 16},
        {"rate": 256},
        {"rate": -1},
        {"width": 0},
        {"height": 2**20 + 1},
        {"width": 2**20, "height": 2**12},
        {"width": 61.0},
        {"mode": ""},
        {"mode": "RGBé"},
        {"mode": "R\nB"},
        {"bit_depth": 12},
        {"bit_depth": 8.0},
        {"has_alpha": 1},
        {"pad": (0, -1)},
        {"pad": (65536, 0)},
        {"pad": [0, 0]},
        {"latent_shape": (96, 0, 4)},
        {"latent_shape": (96, 3)},
    ],
)
def test_header_refuses_fields_the_format_cannot_hold(overrides: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        _header(**overrides)


def test_pack_refuses_too_many_streams() -> None:
    with pytest.raises(ValueError):
        pack(_header(), [b""] * 256)


@pytest.mark.parametrize(
    "data, message",
    [
        (b"", "truncated"),
        (MAGIC[:3], "truncated"),
        (MAGIC, "truncated"),
        (b"\x89PNG\r\n\x1a\n" + bytes(64), "bad magic"),
        (_raw()[:41], "truncated"),
        (_raw(version=2), "version 2; this aepipe reads version 1"),
        (_raw()[:-1] + bytes([_raw()[-1] ^ 1]), "CRC32 mismatch"),
        (_raw()[:30] + _raw()[31:], "CRC32 mismatch"),
        (_with_crc(MAGIC + bytes([1, 200]) + b"x" * 40), "truncated: header field at byte 6"),
        (_raw(lengths=(3, 1)), "truncated: streams need 4 bytes, 3 remain"),
        (_raw(extra=b"z"), "1 trailing bytes"),
        (_raw(name=b"\xff\xfe"), "model name is not valid utf-8"),
        (_raw(mode=b"RG\xc2"), "mode is not valid ascii"),
        (_raw(name=b""), "invalid header: model_name"),
        (_raw(size=(0, 45)), "invalid header: width"),
        (_raw(size=(2**20 + 1, 1)), "invalid header: width"),
        (_raw(size=(2**20, 2**12)), "invalid header"),
        (_raw(depth=12), "invalid header: bit_depth"),
        (_raw(flags=0x02), "unknown flags 0x02"),
        (_raw(latent=(96, 0, 4)), "invalid header: latent_shape"),
    ],
)
def test_unpack_refuses_with_a_clear_message(data: bytes, message: str) -> None:
    with pytest.raises(BitstreamError, match=message):
        unpack(data)


def _real_file() -> bytes:
    rng = np.random.default_rng(0)
    streams = [rng.bytes(120), rng.bytes(9), b""]
    return pack(_header(mode="RGBA", has_alpha=True), streams)


def test_every_single_bit_flip_is_refused() -> None:
    data = _real_file()
    rng = np.random.default_rng(1)
    for bit in rng.choice(8 * len(data), size=300, replace=False):
        damaged = bytearray(data)
        damaged[bit // 8] ^= 1 << (bit % 8)
        with pytest.raises(BitstreamError):
            unpack(bytes(damaged))


def test_every_truncation_is_refused() -> None:
    data = _real_file()
    for length in range(len(data)):
        with pytest.raises(BitstreamError):
            unpack(data[:length])


def test_unpack_accepts_any_bytes_like_object() -> None:
    data = _real_file()
    assert unpack(memoryview(data)) == unpack(data)
