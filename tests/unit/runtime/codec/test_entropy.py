"""Entropy coding must round-trip exactly, be deterministic, near-optimal and refuse bad streams."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from aepipe.errors import BitstreamError
from aepipe.runtime.codec.entropy import (
    MAX_SYMBOLS,
    EntropyTables,
    decode_symbols,
    dequantize,
    encode_symbols,
    quantize,
    throughput,
)


def _laplace_pmf(scale: float, radius: int) -> np.ndarray:
    """Probabilities of rint(Laplace(0, scale)) over -radius..radius (the tails are missing)."""
    edges = np.arange(-radius, radius + 2) - 0.5
    cdf = np.where(edges < 0, 0.5 * np.exp(edges / scale), 1 - 0.5 * np.exp(-edges / scale))
    return np.diff(cdf)


def _tables(radii: tuple[int, ...] = (3, 8, 1, 20), precision: int = 16) -> EntropyTables:
    """Channels with different table lengths, scales and medians."""
    pmfs = [_laplace_pmf(0.5 + i, r) for i, r in enumerate(radii)]
    medians = np.linspace(-0.3, 0.4, len(radii))
    return EntropyTables.from_pmfs(pmfs, [-r for r in radii], medians, precision)


def _round_trip(symbols: np.ndarray, tables: EntropyTables) -> tuple[bytes, bytes]:
    main, escapes = encode_symbols(symbols, tables)
    decoded = decode_symbols(main, escapes, symbols.shape, tables)
    assert decoded.dtype == np.int32
    np.testing.assert_array_equal(decoded, symbols)
    return main, escapes


def test_laplacian_symbols_with_escapes_round_trip() -> None:
    tables = _tables()
    rng = np.random.default_rng(1)
    symbols = np.rint(rng.laplace(0, 4.0, size=(4, 37, 29))).astype(np.int32)
    _, escapes = _round_trip(symbols, tables)
    assert len(escapes) > 0 and len(escapes) % 4 == 0


@pytest.mark.parametrize(
    "shape, fill",
    [
        ((4, 16, 16), 0),  # all zero
        ((4, 1, 1), 0),  # 1x1 latents
        ((4, 1, 1), 2**31 - 1),  # nothing but escapes, at the int32 extremes
        ((4, 3, 5), -(2**31)),
    ],
)
def test_constant_latents_round_trip(shape: tuple[int, int, int], fill: int) -> None:
    _round_trip(np.full(shape, fill, dtype=np.int32), _tables())


def test_single_channel_single_symbol_round_trips() -> None:
    tables = EntropyTables.from_pmfs([np.array([1.0])], [5], [0.0])
    for value in (5, 4, 6):
        _round_trip(np.full((1, 1, 1), value, dtype=np.int32), tables)


def test_channels_are_coded_with_their_own_offset_and_length() -> None:
    tables = _tables()
    values = np.array([[-3, 3], [-8, 8], [-1, 1], [-20, 20]], dtype=np.int32)  # table edges
    _, escapes = _round_trip(values.reshape(4, 1, 2), tables)
    assert escapes == b""
    _, escapes = _round_trip((values + np.sign(values)).reshape(4, 1, 2), tables)
    assert len(escapes) == 4 * 8


def test_encoding_is_deterministic_across_calls_and_json() -> None:
    tables = _tables()
    symbols = np.rint(np.random.default_rng(2).laplace(0, 3.0, (4, 20, 20))).astype(np.int32)
    first = encode_symbols(symbols, tables)
    assert encode_symbols(symbols, tables) == first
    assert encode_symbols(symbols, EntropyTables.from_json(tables.to_json())) == first


def test_compressed_size_is_close_to_the_information_content() -> None:
    tables = _tables()
    rng = np.random.default_rng(3)
    rows = zip(tables.cdfs, tables.lengths, strict=True)
    probabilities = [np.diff(row[: n + 2]) / 2**16 for row, n in rows]
    indices = [rng.choice(p.size - 1, size=50_000, p=p[:-1] / p[:-1].sum()) for p in probabilities]
    ideal = -sum(np.log2(p[i]).sum() for p, i in zip(probabilities, indices, strict=True))
    symbols = (np.stack(indices) + tables.offsets[:, None]).astype(np.int32).reshape(4, 1, -1)
    main, escapes = _round_trip(symbols, tables)
    assert escapes == b""
    assert ideal * 0.99 <= 8 * len(main) <= ideal * 1.03 + 64


@pytest.mark.parametrize(
    "pmf",
    [
        np.zeros(5),
        np.array([1.0, 0.0, 0.0, 1e-30, 0.0]),
        np.array([1e-12] * 300),
        np.array([0.5, 0.0, 0.5]),  # sums to 1: the escape gets only the minimum
        np.array([0.2, 0.3]),  # sums to 0.5: the escape gets the rest
        np.array([3.0, 5.0, 2.0]),  # unnormalised counts
        _laplace_pmf(0.1, 40),
    ],
)
@pytest.mark.parametrize("precision", [10, 16, 24])
def test_from_pmfs_gives_strictly_increasing_cdfs(pmf: np.ndarray, precision: int) -> None:
    tables = EntropyTables.from_pmfs([pmf], [0], [0.0], precision)
    row = tables.cdfs[0].astype(np.int64)
    assert tables.lengths[0] == pmf.size and row.size == pmf.size + 2
    assert row[0] == 0 and row[-1] == 2**precision
    assert np.all(np.diff(row) >= 1)
    masses = np.append(pmf, max(0.0, 1 - pmf.sum())) / max(1.0, pmf.sum())
    tolerance = (pmf.size + 2) / 2**precision
    np.testing.assert_allclose(np.diff(row) / 2**precision, masses, atol=tolerance)


@pytest.mark.parametrize(
    "pmf, precision",
    [
        (np.array([0.5, -0.1]), 16),
        (np.array([0.5, np.nan]), 16),
        (np.array([]), 16),
        (np.ones((2, 2)), 16),
        (np.ones(8), 3),  # 9 symbols do not fit 8 counts
        (np.ones(2), 25),
        (np.ones(2), 0),
    ],
)
def test_from_pmfs_refuses_what_cannot_be_tabled(pmf: np.ndarray, precision: int) -> None:
    with pytest.raises(ValueError):
        EntropyTables.from_pmfs([pmf], [0], [0.0], precision)


def test_json_round_trip_is_bit_exact() -> None:
    awkward = np.array([0.1, -0.0, 1e-45, 3.4e38], dtype=np.float32)
    tables = dataclasses.replace(_tables(), medians=awkward)
    text = tables.to_json()
    again = EntropyTables.from_json(text)
    assert again.to_json() == text and again.fingerprint() == tables.fingerprint()
    assert again == tables and hash(again) == hash(tables)
    for name in ("offsets", "cdfs", "lengths", "medians"):
        ours, theirs = getattr(tables, name), getattr(again, name)
        assert theirs.dtype == ours.dtype and theirs.tobytes() == ours.tobytes()
    assert len(tables.fingerprint()) == 64


def test_tables_are_read_only_copies() -> None:
    tables = _tables()
    with pytest.raises(ValueError):
        tables.cdfs[0, 1] = 7
    assert tables.num_channels == 4


def _broken(tables: EntropyTables, name: str) -> dict[str, object]:
    """Field overrides that each break one invariant."""
    cdfs = tables.cdfs.copy()
    if name == "not increasing":
        cdfs[0, 2] = cdfs[0, 1]
        return {"cdfs": cdfs}
    if name == "wrong end":
        cdfs[0, tables.lengths[0] + 1 :] -= 1
        return {"cdfs": cdfs}
    if name == "bad padding":
        cdfs[0, -1] = 0
        return {"cdfs": cdfs}
    simple: dict[str, dict[str, object]] = {
        "wrong dtype": {"offsets": tables.offsets.astype(np.int64)},
        "short medians": {"medians": tables.medians[:2]},
        "nan median": {"medians": np.full(4, np.nan, dtype=np.float32)},
        "extra column": {"cdfs": np.pad(cdfs, ((0, 0), (0, 1)), constant_values=2**16)},
        "zero length": {"lengths": np.array([0, 8, 1, 20], dtype=np.int32)},
        "int32 overflow": {"offsets": np.full(4, 2**31 - 5, dtype=np.int32)},
        "precision": {"precision": 25},
    }
    return simple[name]


@pytest.mark.parametrize(
    "name",
    [
        "not increasing",
        "wrong end",
        "bad padding",
        "wrong dtype",
        "short medians",
        "nan median",
        "extra column",
        "zero length",
        "int32 overflow",
        "precision",
    ],
)
def test_validate_refuses_broken_tables(name: str) -> None:
    tables = _tables()
    with pytest.raises(ValueError):
        dataclasses.replace(tables, **_broken(tables, name))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "text",
    [
        "[]",
        '{"precision": 16}',
        _tables().to_json().replace('"precision":16', '"precision":16.0'),
        _tables().to_json().replace('"offsets":[-3', '"offsets":[-3.5'),
        _tables().to_json().replace('"offsets":[-3', '"offsets":[-3000000000'),
        _tables().to_json().replace(",65536]", ",65535]", 1),
        _tables().to_json().replace("[[", "[[0,", 1),
    ],
)
def test_from_json_refuses_malformed_tables(text: str) -> None:
    with pytest.raises(ValueError):
        EntropyTables.from_json(text)


def test_quantize_subtracts_medians_and_dequantize_adds_them_back() -> None:
    tables = _tables()
    latents = np.random.default_rng(4).normal(0, 5, (4, 6, 7)).astype(np.float32)
    symbols = quantize(latents, tables)
    assert symbols.dtype == np.int32
    np.testing.assert_array_equal(symbols, np.rint(latents - tables.medians[:, None, None]))
    restored = dequantize(symbols, tables)
    assert restored.dtype == np.float32
    assert np.abs(restored - latents).max() <= 0.5 + 1e-5


@pytest.mark.parametrize("bad", [np.nan, np.inf, 3e9])
def test_quantize_refuses_latents_outside_int32(bad: float) -> None:
    latents = np.zeros((4, 2, 2), dtype=np.float32)
    latents[1, 1, 0] = bad
    with pytest.raises(ValueError):
        quantize(latents, _tables())


@pytest.mark.parametrize(
    "array",
    [
        np.zeros((4, 2, 2), dtype=np.int64),
        np.zeros((3, 2, 2), dtype=np.int32),
        np.zeros((4, 0, 2), dtype=np.int32),
        np.zeros((4, 4), dtype=np.int32),
    ],
)
def test_encode_refuses_arrays_that_do_not_fit_the_tables(array: np.ndarray) -> None:
    with pytest.raises(ValueError):
        encode_symbols(array, _tables())


def _bad_streams(main: bytes, escapes: bytes) -> dict[str, tuple[bytes, bytes, tuple[int, ...]]]:
    shape = (4, 9, 11)
    return {
        "main not whole words": (main[:-1], escapes, shape),
        "main ends in a zero word": (main + bytes(4), escapes, shape),
        "main has data left over": (main, escapes, (4, 9, 10)),
        "fewer channels": (main, escapes, (3, 9, 11)),
        "empty side": (main, escapes, (4, 0, 11)),
        "implausibly large": (main, escapes, (4, 1, MAX_SYMBOLS // 4 + 1)),
        "escapes missing": (main, escapes[:-4], shape),
        "escapes extra": (main, escapes + bytes(4), shape),
        "escape in range": (main, escapes[:-4] + np.int32(0).tobytes(), shape),
        "garbage": (np.arange(1, 20, dtype=np.uint32).tobytes(), b"", shape),
    }


@pytest.mark.parametrize("case", list(_bad_streams(b"x" * 8, b"y" * 8)))
def test_decode_refuses_bad_streams_with_bitstream_error(case: str) -> None:
    tables = _tables()
    symbols = np.rint(np.random.default_rng(5).laplace(0, 6.0, (4, 9, 11))).astype(np.int32)
    main, escapes = encode_symbols(symbols, tables)
    assert escapes
    main, escapes, shape = _bad_streams(main, escapes)[case]
    with pytest.raises(BitstreamError):
        decode_symbols(main, escapes, shape, tables)  # type: ignore[arg-type]


def test_throughput_reports_positive_rates() -> None:
    figures = throughput(symbol_count=20_000, channels=16)
    assert figures["symbols"] == 20_000
    for key in ("encode_msym_s", "decode_msym_s", "encode_mb_s", "decode_mb_s"):
        assert figures[key] > 0
    assert figures["encode_mb_s"] == pytest.approx(4 * figures["encode_msym_s"])
    assert 0 < figures["bits_per_symbol"] < 8
