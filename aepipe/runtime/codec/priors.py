"""The two entropy models a codec part can carry, read from its ``aepipe.entropy`` metadata.

- ``factorized`` (format 1): one integer CDF per latent channel and rate point.
- ``block-adaptive`` (format 2): per 16x16 block and channel group a *class* (the group's RMS
  in quantiser steps on a half-octave scale), coded with a table chosen by the previous
  group's class; each symbol then coded by the Laplacian table its (rate, channel, class)
  maps to. Classes are sent, not predicted, so the decoder chooses every table from integers.
  Format 3 (``class_context: checkerboard``) codes each group's classes in two passes: the
  blocks of one checkerboard colour as before, then the others with a table chosen by the
  previous group's class *and* the rounded mean class of their four neighbours, all of
  which the first pass has decoded (about 9 % fewer class bits on Kodak24).

Both turn scaled latents (y · gain, C x h x w float32) into two streams and back into the
rounded values; everything here is numpy, and every probability an integer table.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from aepipe.errors import BitstreamError, ModelError
from aepipe.runtime.codec.entropy import (
    EntropyTables,
    Segment,
    SegmentDecoder,
    check_latent_shape,
    decode_symbols,
    dequantize,
    encode_segments,
    encode_symbols,
    quantize,
)

ENTROPY_METADATA_KEY = "aepipe.entropy"


class EntropyModel(Protocol):
    """Scaled latents of one rate point <-> (main stream, escape stream)."""

    def encode(self, scaled: np.ndarray, rate: int) -> tuple[bytes, bytes]: ...

    def decode(
        self, main: bytes, escapes: bytes, shape: tuple[int, int, int], rate: int
    ) -> np.ndarray:
        """The rounded scaled latents (C, h, w) float32."""
        ...


@dataclass(frozen=True)
class FactorizedPrior:
    """One integer CDF table per channel, per rate point (Ballé et al. 2018's factorized)."""

    tables: tuple[EntropyTables, ...]  # per rate

    def encode(self, scaled: np.ndarray, rate: int) -> tuple[bytes, bytes]:
        return encode_symbols(quantize(scaled, self.tables[rate]), self.tables[rate])

    def decode(
        self, main: bytes, escapes: bytes, shape: tuple[int, int, int], rate: int
    ) -> np.ndarray:
        tables = self.tables[rate]
        return dequantize(decode_symbols(main, escapes, shape, tables), tables)


def block_classes(
    scaled: np.ndarray, group_starts: Sequence[int], class_offset: int, classes: int
) -> np.ndarray:
    """(..., G, h, w) int32 classes of (..., C, h, w) latents in quantiser steps.

    A group's class is round(2 · log2 of its RMS) + ``class_offset``, clipped to
    0..``classes`` - 1; group 0 (the block means) is always 0. The one definition: the encoder
    sends these, and training counts their bits with the same function.
    """
    ends = [*group_starts[1:], scaled.shape[-3]]
    shape = (*scaled.shape[:-3], len(group_starts), *scaled.shape[-2:])
    result = np.zeros(shape, dtype=np.int32)
    for group in range(1, len(group_starts)):
        part = scaled[..., group_starts[group] : ends[group], :, :]
        level = np.rint(2 * np.log2(np.sqrt(np.mean(part**2, axis=-3)) + 1e-6)) + class_offset
        result[..., group, :, :] = np.clip(level, 0, classes - 1)
    return result


#: How a group's block classes are coded: given the previous group's class only, or in two
#: checkerboard passes, the second also given its decoded neighbours (format 3).
CLASS_CONTEXTS = ("previous", "checkerboard")


def checkerboard(shape: tuple[int, int]) -> np.ndarray:
    """H x W bool: the blocks coded in the first pass ((row + column) even)."""
    return (np.add.outer(np.arange(shape[0]), np.arange(shape[1])) % 2) == 0


def neighbour_class(classes: np.ndarray) -> np.ndarray:
    """H x W int: the rounded mean class of each block's in-image 4-neighbours, in integers
    (round half up), so every machine picks the same table. Only read at second-pass blocks,
    whose neighbours are all first-pass ones."""
    padded = np.pad(classes.astype(np.int64), 1)
    inside = np.pad(np.ones(classes.shape, dtype=np.int64), 1)
    total = padded[:-2, 1:-1] + padded[2:, 1:-1] + padded[1:-1, :-2] + padded[1:-1, 2:]
    count = inside[:-2, 1:-1] + inside[2:, 1:-1] + inside[1:-1, :-2] + inside[1:-1, 2:]
    return (2 * total + np.maximum(count, 1)) // (2 * np.maximum(count, 1))


@dataclass(frozen=True)
class BlockAdaptivePrior:
    """Classes per block and channel group, then Laplacian tables chosen by them."""

    group_starts: tuple[int, ...]  # first channel of each group; group 0 has no class
    class_offset: int
    classes: int
    # rows (rate · G + group) · classes + previous class; with the checkerboard context then
    # rates · G · classes + ((rate · G + group) · classes + previous) · classes + neighbours
    class_tables: EntropyTables
    scale_tables: EntropyTables  # one Laplacian per row
    scale_index: np.ndarray  # (rates, C, classes): row of scale_tables
    static_index: np.ndarray  # (rates, C): row of scale_tables for group 0's channels
    class_context: str = "previous"  # one of CLASS_CONTEXTS

    def group_of_channels(self, channels: int) -> np.ndarray:
        """Group index of each latent channel."""
        return np.searchsorted(np.array(self.group_starts), np.arange(channels), side="right") - 1

    def block_classes(self, scaled: np.ndarray) -> np.ndarray:
        """(G, h, w) classes of (C, h, w) latents in quantiser steps (:func:`block_classes`)."""
        return block_classes(scaled, self.group_starts, self.class_offset, self.classes)

    def _class_rows(self, rate: int, group: int, previous: np.ndarray) -> np.ndarray:
        return (rate * len(self.group_starts) + group) * self.classes + previous.reshape(-1)

    @property
    def class_table_rows(self) -> int:
        """Rows the class tables need: one per (rate, group, previous class) for the first
        pass, and ``classes`` times as many more for the checkerboard's second."""
        first_pass = self.scale_index.shape[0] * len(self.group_starts) * self.classes
        return first_pass * (1 if self.class_context == "previous" else 1 + self.classes)

    def _context_rows(
        self, rate: int, group: int, previous: np.ndarray, neighbours: np.ndarray
    ) -> np.ndarray:
        """Rows of the checkerboard's second pass, after the first pass's rows."""
        first_pass_rows = self.class_table_rows // (1 + self.classes)
        return first_pass_rows + self._class_rows(rate, group, previous) * self.classes + neighbours

    def class_segments(self, classes: np.ndarray, rate: int) -> list[tuple[np.ndarray, np.ndarray]]:
        """(symbols, table rows) of each class segment of (G, h, w) ``classes``, in coding
        order. The encoder codes these; export counts them to fit the tables."""
        segments = []
        for group in range(1, len(classes)):
            current, previous = classes[group], classes[group - 1]
            if self.class_context == "previous":
                segments.append((current.reshape(-1), self._class_rows(rate, group, previous)))
                continue
            first = checkerboard(current.shape)
            neighbours = neighbour_class(current)[~first]
            segments.append((current[first], self._class_rows(rate, group, previous[first])))
            second_rows = self._context_rows(rate, group, previous[~first], neighbours)
            segments.append((current[~first], second_rows))
        return segments

    def _decode_classes(
        self, decoder: SegmentDecoder, shape: tuple[int, int], rate: int
    ) -> np.ndarray:
        """Inverse of :meth:`class_segments`: (G, h, w) classes."""
        classes = np.zeros((len(self.group_starts), *shape), dtype=np.int32)
        first = checkerboard(shape)
        for group in range(1, len(self.group_starts)):
            previous, current = classes[group - 1], classes[group]
            if self.class_context == "previous":
                rows = self._class_rows(rate, group, previous)
                current[...] = self._checked(decoder.decode(rows, self.class_tables)).reshape(shape)
                continue
            rows = self._class_rows(rate, group, previous[first])
            current[first] = self._checked(decoder.decode(rows, self.class_tables))
            neighbours = neighbour_class(current)[~first]
            rows = self._context_rows(rate, group, previous[~first], neighbours)
            current[~first] = self._checked(decoder.decode(rows, self.class_tables))
        return classes

    def _checked(self, decoded: np.ndarray) -> np.ndarray:
        if np.any((decoded < 0) | (decoded >= self.classes)):
            raise BitstreamError("a block class outside the model's classes")
        return decoded

    def _symbol_rows(self, rate: int, classes: np.ndarray, channels: int) -> np.ndarray:
        """(C · h · w,) row of scale_tables for every symbol, in channel-major order."""
        groups = self.group_of_channels(channels)
        block_class = classes[groups]  # (C, h, w): each channel's group's class
        rows = self.scale_index[rate][np.arange(channels)[:, None, None], block_class]
        static = groups == 0
        rows[static] = self.static_index[rate][static][:, None, None]
        return rows.reshape(-1)

    def encode(self, scaled: np.ndarray, rate: int) -> tuple[bytes, bytes]:
        classes = self.block_classes(scaled)
        segments = [
            Segment(symbols, rows, self.class_tables)
            for symbols, rows in self.class_segments(classes, rate)
        ]
        symbols = np.rint(scaled).astype(np.int32).reshape(-1)
        symbol_rows = self._symbol_rows(rate, classes, scaled.shape[0])
        segments.append(Segment(symbols, symbol_rows, self.scale_tables))
        return encode_segments(segments)

    def decode(
        self, main: bytes, escapes: bytes, shape: tuple[int, int, int], rate: int
    ) -> np.ndarray:
        check_latent_shape(shape, self.scale_index.shape[1])
        decoder = SegmentDecoder(main, escapes)
        classes = self._decode_classes(decoder, (shape[1], shape[2]), rate)
        symbols = decoder.decode(self._symbol_rows(rate, classes, shape[0]), self.scale_tables)
        decoder.finish()
        return symbols.reshape(shape).astype(np.float32)


@dataclass(frozen=True)
class RatePoint:
    """One operating point of a variable-rate model: the λ it was trained for, and gains."""

    lam: float
    gain: np.ndarray  # float32 (C,): y is multiplied by it before rounding
    inverse_gain: np.ndarray  # float32 (C,): symbols are multiplied by it before g_s


def read_entropy_model(
    metadata: Mapping[str, str], label: str
) -> tuple[list[RatePoint], EntropyModel]:
    """Rate points and entropy model from a codec part's ``aepipe.entropy`` metadata."""
    raw = metadata.get(ENTROPY_METADATA_KEY)
    if raw is None:
        raise ModelError(f"model {label}: not a codec (no {ENTROPY_METADATA_KEY} metadata)")
    try:
        document = json.loads(raw)
        rates = [
            RatePoint(
                lam=float(r["lambda"]),
                gain=np.asarray(r["gain"], dtype=np.float32),
                inverse_gain=np.asarray(r["inverse_gain"], dtype=np.float32),
            )
            for r in document["rates"]
        ]
        kind = document.get("kind", "factorized")
        if kind == "factorized":
            tables = tuple(_tables(r["tables"]) for r in document["rates"])
            return rates, FactorizedPrior(tables)
        if kind == "block-adaptive":
            return rates, _block_adaptive(document, len(rates), rates[0].gain.size)
    except (KeyError, TypeError, ValueError) as error:
        raise ModelError(f"model {label}: malformed {ENTROPY_METADATA_KEY}: {error}") from None
    raise ModelError(f"model {label}: unknown entropy model kind {kind!r}")


def _tables(document: Any) -> EntropyTables:
    return EntropyTables.from_json(json.dumps(document))


def _block_adaptive(document: dict[str, Any], rates: int, channels: int) -> BlockAdaptivePrior:
    """The block-adaptive model, its index arrays checked against its tables."""
    prior = BlockAdaptivePrior(
        group_starts=tuple(int(v) for v in document["group_starts"]),
        class_offset=int(document["class_offset"]),
        classes=int(document["classes"]),
        class_tables=_tables(document["class_tables"]),
        scale_tables=_tables(document["scale_tables"]),
        scale_index=np.asarray(document["scale_index"], dtype=np.int64),
        static_index=np.asarray(document["static_index"], dtype=np.int64),
        class_context=str(document.get("class_context", "previous")),
    )
    if prior.group_starts[0] != 0 or list(prior.group_starts) != sorted(set(prior.group_starts)):
        raise ValueError("group_starts must rise from 0")
    if prior.scale_index.shape != (rates, channels, prior.classes):
        raise ValueError(f"scale_index shape {prior.scale_index.shape}")
    if prior.static_index.shape != (rates, channels):
        raise ValueError(f"static_index shape {prior.static_index.shape}")
    rows = prior.scale_tables.num_channels
    for index in (prior.scale_index, prior.static_index):
        if index.min() < 0 or index.max() >= rows:
            raise ValueError("a scale index outside the scale tables")
    if prior.class_context not in CLASS_CONTEXTS:
        raise ValueError(f"unknown class_context {prior.class_context!r}")
    passes = 1 if prior.class_context == "previous" else 1 + prior.classes
    if prior.class_tables.num_channels != prior.class_table_rows:
        raise ValueError(f"class_tables needs {passes} row(s) per (rate, group, previous class)")
    return prior
