"""Entropy coding of quantised latents with integer CDF tables (rANS, via ``constriction``).

Encoder and decoder must build bit-identical models on every machine, or the decoder silently
decodes garbage (CompressAI issue #279: CDFs derived from floats computed at run time differ
across CPUs and libraries). So coding probabilities come only from integer CDFs, fixed once at
export time by :meth:`EntropyTables.from_pmfs` and shipped as JSON. At run time each CDF
becomes ``diff(cdf) / 2**precision`` in float64: exact dyadic numbers, the same everywhere.

Each channel ``c`` codes ``symbol - offsets[c]`` over ``L_c + 1`` symbols: the ``L_c``
in-range values, then one ESCAPE symbol for anything outside them. An escaped value's true
int32 goes, in order, into a separate little-endian escape stream (rare, so kept simple).
All channels share one ANS stack, encoded in reverse so that decoding runs channel 0 first.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import constriction
import numpy as np

from aepipe.errors import BitstreamError

#: Decoding more symbols than this is refused: a corrupt shape must not allocate gigabytes.
MAX_SYMBOLS = 2**28
#: constriction's categorical models are 24-bit; a finer table would not be honoured exactly.
MAX_PRECISION = 24

_FIELD_DTYPES = {
    "offsets": np.int32,
    "cdfs": np.uint32,
    "lengths": np.int32,
    "medians": np.float32,
}
_INT32_MAX = 2**31 - 1


@dataclass(frozen=True, eq=False)
class EntropyTables:
    """Integer CDFs of a factorized prior, one per latent channel.

    Row ``c`` of ``cdfs`` holds ``lengths[c] + 2`` entries (0, strictly increasing, ending
    at ``2**precision``), then padding that repeats ``2**precision`` up to the widest row.
    The arrays are read-only copies; equality and hashing go by :meth:`fingerprint`.
    """

    precision: int
    offsets: np.ndarray
    cdfs: np.ndarray
    lengths: np.ndarray
    medians: np.ndarray
    _fingerprint: str = field(init=False, repr=False)

    def __post_init__(self) -> None:
        for name in _FIELD_DTYPES:
            array = np.array(getattr(self, name))
            array.flags.writeable = False
            object.__setattr__(self, name, array)
        self.validate()
        digest = hashlib.sha256(self.to_json().encode()).hexdigest()
        object.__setattr__(self, "_fingerprint", digest)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, EntropyTables):
            return NotImplemented
        return self._fingerprint == other._fingerprint

    def __hash__(self) -> int:
        return hash(self._fingerprint)

    @property
    def num_channels(self) -> int:
        """Number of latent channels C."""
        return int(self.offsets.shape[0])

    def validate(self) -> None:
        """Raise ValueError unless every invariant the coder relies on holds."""
        _check_precision(self.precision)
        for name, dtype in _FIELD_DTYPES.items():
            array = getattr(self, name)
            if array.dtype != dtype:
                raise ValueError(f"{name} must be {np.dtype(dtype)}, got {array.dtype}")
        self._validate_shapes()
        if not np.all(np.isfinite(self.medians)):
            raise ValueError("medians must be finite")
        if np.any(self.lengths < 1):
            raise ValueError("every channel needs at least one in-range value")
        last = self.offsets.astype(np.int64) + self.lengths - 1
        if np.any(last > _INT32_MAX):
            raise ValueError("offsets + lengths overflow int32")
        for channel in range(self.num_channels):
            self._validate_row(channel)

    def _validate_shapes(self) -> None:
        channels = self.offsets.shape
        if self.offsets.ndim != 1 or channels[0] < 1:
            raise ValueError(f"offsets must be 1-D with at least one channel: {channels}")
        if self.lengths.shape != channels or self.medians.shape != channels:
            raise ValueError("offsets, lengths and medians must have the same shape (C,)")
        width = int(self.lengths.max()) + 2
        if self.cdfs.shape != (channels[0], width):
            raise ValueError(f"cdfs must have shape (C, max(lengths) + 2) = {(channels[0], width)}")

    def _validate_row(self, channel: int) -> None:
        row = self.cdfs[channel].astype(np.int64)
        end = int(self.lengths[channel]) + 2
        total = 1 << self.precision
        if row[0] != 0 or row[end - 1] != total:
            raise ValueError(f"channel {channel}: CDF must start at 0 and end at {total}")
        if np.any(np.diff(row[:end]) < 1):
            raise ValueError(f"channel {channel}: CDF must be strictly increasing")
        if np.any(row[end:] != total):
            raise ValueError(f"channel {channel}: padding after the CDF must repeat {total}")

    def to_json(self) -> str:
        """Compact canonical JSON; medians are written as exact float32 values."""
        rows = [row[: n + 2].tolist() for row, n in zip(self.cdfs, self.lengths, strict=True)]
        document = {
            "precision": self.precision,
            "offsets": self.offsets.tolist(),
            "lengths": self.lengths.tolist(),
            "medians": self.medians.tolist(),
            "cdfs": rows,
        }
        return json.dumps(document, sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> EntropyTables:
        """Inverse of :meth:`to_json`; ValueError for anything malformed."""
        document = json.loads(text)
        expected = {"precision", "offsets", "lengths", "medians", "cdfs"}
        if not isinstance(document, dict) or set(document) != expected:
            raise ValueError(f"entropy tables JSON must be an object with keys {sorted(expected)}")
        lengths = _int_array(document["lengths"], np.int32, "lengths")
        rows = document["cdfs"]
        if not isinstance(rows, list) or len(rows) != len(lengths):
            raise ValueError("cdfs must be a list with one row per channel")
        precision = _check_precision(document["precision"])
        return cls(
            precision=precision,
            offsets=_int_array(document["offsets"], np.int32, "offsets"),
            cdfs=_padded_cdfs([_int_array(r, np.uint32, "cdfs") for r in rows], precision),
            lengths=lengths,
            medians=np.array(document["medians"], dtype=np.float64).astype(np.float32),
        )

    def fingerprint(self) -> str:
        """sha256 hex digest of :meth:`to_json`: names the tables a stream was coded with."""
        return self._fingerprint

    @classmethod
    def from_pmfs(
        cls,
        pmfs: Sequence[np.ndarray],
        offsets: Sequence[int] | np.ndarray,
        medians: Sequence[float] | np.ndarray,
        precision: int = 16,
    ) -> EntropyTables:
        """Quantise float pmfs (one per channel, over its L_c values) to integer CDFs.

        Run once at export time. Mass a pmf leaves below 1 becomes the ESCAPE symbol's
        (a pmf summing above 1 is normalised). Every symbol gets at least one count, so any
        value stays codable however small its probability was.
        """
        _check_precision(precision)
        rows = [_quantised_cdf(np.asarray(pmf, dtype=np.float64), precision) for pmf in pmfs]
        return cls(
            precision=precision,
            offsets=_int_array(np.asarray(offsets).tolist(), np.int32, "offsets"),
            cdfs=_padded_cdfs(rows, precision),
            lengths=np.array([row.size - 2 for row in rows], dtype=np.int32),
            medians=np.asarray(medians, dtype=np.float32),
        )


def _check_precision(precision: Any) -> int:
    """The precision itself, or ValueError if it is not an int in 1..MAX_PRECISION."""
    if type(precision) is not int or not 1 <= precision <= MAX_PRECISION:
        raise ValueError(f"precision must be an int in 1..{MAX_PRECISION}: {precision!r}")
    return precision


def _int_array(values: Any, dtype: type, name: str) -> np.ndarray:
    """A 1-D list of ints as ``dtype``, refusing floats, bools and values that would wrap."""
    if not isinstance(values, list) or any(type(v) is not int for v in values):
        raise ValueError(f"{name} must be a list of integers")
    info = np.iinfo(dtype)
    if any(not info.min <= v <= info.max for v in values):
        raise ValueError(f"{name} has values outside {np.dtype(dtype)}")
    return np.array(values, dtype=dtype)


def _padded_cdfs(rows: list[np.ndarray], precision: int) -> np.ndarray:
    """Stack CDF rows of different lengths, padding each with 2**precision."""
    width = max((row.size for row in rows), default=0)
    table = np.full((len(rows), width), 1 << precision, dtype=np.uint32)
    for index, row in enumerate(rows):
        table[index, : row.size] = row
    return table


def _quantised_cdf(pmf: np.ndarray, precision: int) -> np.ndarray:
    """pmf over L values -> CDF (uint32, L + 2 entries) over the values and ESCAPE.

    One count per symbol is reserved first; the rest is split by rounding the cumulative
    mass, which keeps each symbol within one count of its share. ``math.fsum`` and a
    sequential ``cumsum`` make the result the same on every machine.
    """
    if pmf.ndim != 1 or pmf.size == 0 or not np.all(np.isfinite(pmf)) or np.any(pmf < 0):
        raise ValueError("each pmf must be a non-empty 1-D array of finite values >= 0")
    masses = np.append(pmf, max(0.0, 1.0 - math.fsum(pmf.tolist())))
    spare = (1 << precision) - masses.size
    if spare < 0:
        raise ValueError(f"{masses.size} symbols do not fit a {precision}-bit table")
    cumulative = np.rint(np.cumsum(masses) / math.fsum(masses.tolist()) * spare)
    cumulative[-1] = spare
    counts = np.diff(np.minimum(cumulative, spare), prepend=0.0)
    return np.concatenate(([0], np.cumsum(counts.astype(np.int64) + 1))).astype(np.uint32)


@functools.lru_cache(maxsize=8)
def _coding_models(tables: EntropyTables) -> tuple[Any, ...]:
    """One constriction Categorical per channel, built from exact dyadic probabilities."""
    scale = float(1 << tables.precision)
    models = []
    for row, length in zip(tables.cdfs, tables.lengths, strict=True):
        probabilities = np.diff(row[: length + 2].astype(np.float64)) / scale
        models.append(constriction.stream.model.Categorical(probabilities, perfect=False))
    return tuple(models)


def quantize(latents: np.ndarray, tables: EntropyTables) -> np.ndarray:
    """Latents (C, H, W) float32 -> int32 symbols ``rint(latents - medians)``."""
    _check_latent_array(latents, tables, np.float32)
    centred = latents - tables.medians[:, None, None]
    if not np.all(np.abs(centred) < 2.0**31):
        raise ValueError("latents must be finite and within int32 range of the medians")
    return np.rint(centred).astype(np.int32)


def dequantize(symbols: np.ndarray, tables: EntropyTables) -> np.ndarray:
    """int32 symbols (C, H, W) -> float32 latents ``symbols + medians``."""
    _check_latent_array(symbols, tables, np.int32)
    return symbols.astype(np.float32) + tables.medians[:, None, None]


def _check_latent_array(array: np.ndarray, tables: EntropyTables, dtype: type) -> None:
    """ValueError unless ``array`` is a non-empty (C, H, W) array of ``dtype`` for ``tables``."""
    if array.dtype != dtype or array.ndim != 3 or array.size == 0:
        raise ValueError(f"expected a non-empty (C, H, W) {np.dtype(dtype)} array")
    if array.shape[0] != tables.num_channels:
        raise ValueError(f"{array.shape[0]} channels, tables have {tables.num_channels}")


@dataclass(frozen=True)
class Segment:
    """Symbols coded together, each with the row of ``tables`` that codes it.

    The symbols of a row are coded in their order within the segment, the rows in ascending
    order; a decoder that knows the table ids (from what it decoded before) reads them back.
    """

    symbols: np.ndarray  # int32 (n,)
    table_ids: np.ndarray  # integer (n,), each in 0..tables.num_channels - 1
    tables: EntropyTables


def _coding_order(table_ids: np.ndarray) -> np.ndarray:
    """Positions in the order both coders walk them: by table id, then by position."""
    return np.argsort(table_ids, kind="stable")


def encode_segments(segments: Sequence[Segment]) -> tuple[bytes, bytes]:
    """Segments -> (main ANS stream, escape stream); :class:`SegmentDecoder` reads them in order.

    One ANS stack holds every segment, written in reverse so that decoding runs first segment,
    first row first. Escaped values go to the escape stream in decoding order.
    """
    coder = constriction.stream.stack.AnsCoder()
    escapes = []
    for segment in reversed(segments):
        order = _coding_order(segment.table_ids)
        symbols = segment.symbols[order]
        ids = np.asarray(segment.table_ids)[order]
        tables = segment.tables
        low, lengths = tables.offsets[ids], tables.lengths[ids]
        escaped = (symbols < low) | (symbols > low + (lengths - 1))  # no int32 overflow
        indices = symbols - low  # escaped slots may wrap: replaced next
        np.copyto(indices, lengths, where=escaped)
        models = _coding_models(tables)
        # only the rows used (of thousands); an empty segment has none
        rows, starts, counts = np.unique(ids, return_index=True, return_counts=True)
        for row, start, count in reversed(list(zip(rows, starts, counts, strict=True))):
            coder.encode_reverse(indices[start : start + count], models[row])
        escapes.append(symbols[escaped].astype("<i4").tobytes())
    main = coder.get_compressed().astype("<u4").tobytes()
    return main, b"".join(reversed(escapes))


class SegmentDecoder:
    """Reads back, segment by segment, what :func:`encode_segments` wrote.

    Every problem a stream can have (truncation, garbage, a forged escape) is a
    BitstreamError; :meth:`finish` checks that nothing is left over.
    """

    def __init__(self, main: bytes, escapes: bytes) -> None:
        if len(main) % 4:
            raise BitstreamError(f"main stream is {len(main)} bytes, not a whole number of words")
        if len(escapes) % 4:
            raise BitstreamError(f"escape stream is {len(escapes)} bytes, not whole int32s")
        try:
            words = np.frombuffer(main, dtype="<u4").astype(np.uint32)
            self._coder = constriction.stream.stack.AnsCoder(words)
        except Exception as error:  # constriction documents no error types
            raise BitstreamError(f"main stream cannot be decoded: {error}") from error
        self._escapes = np.frombuffer(escapes, dtype="<i4").astype(np.int32)
        self._escapes_read = 0

    def decode(self, table_ids: np.ndarray, tables: EntropyTables) -> np.ndarray:
        """The int32 symbols of the next segment, whose table ids the caller knows."""
        ids = np.asarray(table_ids)
        order = _coding_order(ids)
        sorted_ids = ids[order]
        rows, counts = np.unique(sorted_ids, return_counts=True)  # only the rows used
        models = _coding_models(tables)
        indices = np.empty(ids.size, dtype=np.int32)
        start = 0
        try:
            for row, count in zip(rows, counts, strict=True):
                indices[start : start + count] = self._coder.decode(models[row], count)
                start += count
        except Exception as error:  # constriction documents no error types; any is a bad stream
            raise BitstreamError(f"main stream cannot be decoded: {error}") from error
        escaped = indices == tables.lengths[sorted_ids]
        symbols = indices + tables.offsets[sorted_ids]  # escaped slots may wrap: overwritten next
        symbols[escaped] = self._escape_values(sorted_ids[escaped], tables)
        result = np.empty_like(symbols)
        result[order] = symbols
        return result

    def _escape_values(self, ids: np.ndarray, tables: EntropyTables) -> np.ndarray:
        """The next escaped values, checked to lie outside their rows' ranges."""
        end = self._escapes_read + ids.size
        if end > self._escapes.size:
            raise BitstreamError(
                f"escape stream holds {self._escapes.size} values, at least {end} needed"
            )
        values = self._escapes[self._escapes_read : end]
        self._escapes_read = end
        relative = values.astype(np.int64) - tables.offsets[ids]
        if np.any((relative >= 0) & (relative < tables.lengths[ids])):
            raise BitstreamError("escape stream holds a value the table codes directly")
        return values

    def finish(self) -> None:
        """BitstreamError unless both streams were read exactly to their ends."""
        if not self._coder.is_empty():
            raise BitstreamError("main stream has data left after the last symbol")
        if self._escapes_read != self._escapes.size:
            raise BitstreamError(
                f"escape stream holds {self._escapes.size} values, {self._escapes_read} used"
            )


def encode_symbols(symbols: np.ndarray, tables: EntropyTables) -> tuple[bytes, bytes]:
    """int32 symbols (C, H, W) of a factorized prior -> (main ANS stream, escape stream)."""
    _check_latent_array(symbols, tables, np.int32)
    return encode_segments([Segment(symbols.reshape(-1), _channel_ids(symbols.shape), tables)])


def decode_symbols(
    main: bytes, escapes: bytes, shape: tuple[int, int, int], tables: EntropyTables
) -> np.ndarray:
    """Inverse of :func:`encode_symbols`; BitstreamError for any stream it cannot have made."""
    check_latent_shape(shape, tables.num_channels)
    decoder = SegmentDecoder(main, escapes)
    symbols = decoder.decode(_channel_ids(shape), tables)
    decoder.finish()
    return symbols.reshape(shape)


def _channel_ids(shape: tuple[int, ...]) -> np.ndarray:
    """Table id of each symbol of a (C, H, W) latent coded one table per channel."""
    return np.repeat(np.arange(shape[0], dtype=np.int32), int(np.prod(shape[1:])))


def check_latent_shape(shape: tuple[int, int, int], channels: int) -> None:
    """BitstreamError unless a stream header's latent shape is plausible for a model with
    ``channels`` latent channels: checked before anything of that size is allocated."""
    if len(shape) != 3 or any(int(side) < 1 for side in shape):
        raise BitstreamError(f"latent shape {shape} is not three positive sides")
    if int(shape[0]) != channels:
        raise BitstreamError(f"stream has {shape[0]} channels, the model's tables have {channels}")
    if int(shape[0]) * int(shape[1]) * int(shape[2]) > MAX_SYMBOLS:
        raise BitstreamError(f"latent shape {shape} is implausibly large")


def throughput(
    symbol_count: int = 2_000_000, channels: int = 192, seed: int = 0
) -> dict[str, float]:
    """Encode and decode speed on Laplacian symbols, in M symbols/s and MB/s of int32."""
    rng = np.random.default_rng(seed)
    scales = rng.uniform(0.3, 4.0, size=channels)
    tables = _laplacian_tables(scales)
    shape = (channels, 1, max(1, symbol_count // channels))
    symbols = np.rint(rng.laplace(0.0, scales[:, None, None], size=shape)).astype(np.int32)
    encode_symbols(symbols[:, :, :1], tables)  # build the cached models outside the timing
    start = time.perf_counter()
    main, escapes = encode_symbols(symbols, tables)
    encode_s = time.perf_counter() - start
    start = time.perf_counter()
    decode_symbols(main, escapes, shape, tables)
    decode_s = time.perf_counter() - start
    n = symbols.size
    return {
        "symbols": float(n),
        "bits_per_symbol": 8 * (len(main) + len(escapes)) / n,
        "encode_msym_s": n / encode_s / 1e6,
        "decode_msym_s": n / decode_s / 1e6,
        "encode_mb_s": 4 * n / encode_s / 1e6,
        "decode_mb_s": 4 * n / decode_s / 1e6,
    }


def _laplacian_tables(scales: np.ndarray, radius: int = 24, precision: int = 16) -> EntropyTables:
    """A stand-in for a trained prior: rounded zero-median Laplacians over -radius..radius."""
    edges = np.arange(-radius, radius + 2) - 0.5
    cdf = 0.5 + 0.5 * np.sign(edges) * -np.expm1(-np.abs(edges) / scales[:, None])
    pmfs = list(np.diff(cdf, axis=1))
    return EntropyTables.from_pmfs(pmfs, [-radius] * len(pmfs), np.zeros(len(pmfs)), precision)
