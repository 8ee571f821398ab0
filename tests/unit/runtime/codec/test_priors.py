"""Segments of differently-tabled symbols, and the block-adaptive entropy model built on them.

The model's tables are made here as an export would make them (Laplacians on a scale grid,
class tables per rate, group and previous class), so the runtime is tested without torch.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from aepipe.errors import BitstreamError, ModelError
from aepipe.runtime.codec.entropy import (
    EntropyTables,
    Segment,
    SegmentDecoder,
    encode_segments,
    encode_symbols,
)
from aepipe.runtime.codec.priors import (
    ENTROPY_METADATA_KEY,
    BlockAdaptivePrior,
    FactorizedPrior,
    checkerboard,
    neighbour_class,
    read_entropy_model,
)

CLASSES = 16
GROUP_STARTS = (0, 2, 6, 14)
CHANNELS = 24


def laplacian_tables(scales: np.ndarray) -> EntropyTables:
    """One rounded zero-mean Laplacian per scale, over ±(12 · scale) (escapes beyond)."""
    pmfs, offsets = [], []
    for scale in scales:
        radius = max(1, int(np.ceil(12 * scale)))
        edges = np.arange(-radius, radius + 2) - 0.5
        cdf = np.where(edges < 0, 0.5 * np.exp(edges / scale), 1 - 0.5 * np.exp(-edges / scale))
        pmfs.append(np.diff(cdf))
        offsets.append(-radius)
    return EntropyTables.from_pmfs(pmfs, offsets, np.zeros(len(scales)))


GRID = np.geomspace(0.05, 40, 24)


def block_adaptive_document(rates: int = 2) -> dict:
    """Metadata like an export writes: scales follow the class (RMS), classes follow the last."""
    class_rms = 2.0 ** ((np.arange(CLASSES) - 6) / 2)
    per_class = np.abs(np.log(class_rms / 2**0.5)[:, None] - np.log(GRID)).argmin(axis=1)
    scale_index = np.broadcast_to(per_class, (rates, CHANNELS, CLASSES)).copy()
    static_index = np.full((rates, CHANNELS), len(GRID) - 4)
    previous = np.arange(CLASSES)[:, None]
    near = np.exp(-0.5 * (np.arange(CLASSES)[None, :] - previous) ** 2)  # like the last class
    pmfs = np.tile(near / near.sum(axis=1, keepdims=True), (rates * len(GROUP_STARTS), 1))
    class_tables = EntropyTables.from_pmfs(
        list(pmfs), np.zeros(len(pmfs), int), np.zeros(len(pmfs))
    )
    gains = {"gain": [1.0] * CHANNELS, "inverse_gain": [1.0] * CHANNELS}
    return {
        "version": 2,
        "kind": "block-adaptive",
        "rates": [{"lambda": 0.01 * (r + 1), **gains} for r in range(rates)],
        "group_starts": list(GROUP_STARTS),
        "class_offset": 6,
        "classes": CLASSES,
        "class_tables": json.loads(class_tables.to_json()),
        "scale_tables": json.loads(laplacian_tables(GRID).to_json()),
        "scale_index": scale_index.tolist(),
        "static_index": static_index.tolist(),
    }


def near(centre: np.ndarray) -> np.ndarray:
    """One pmf over the classes per entry of ``centre``, peaked there."""
    weights = np.exp(-0.5 * (np.arange(CLASSES)[None, :] - centre[:, None]) ** 2)
    return weights / weights.sum(axis=1, keepdims=True)


def checkerboard_document(rates: int = 2) -> dict:
    """Format 3: the first pass's tables as format 2's, then per (previous, neighbours) a
    table peaked at the neighbours' class (what photos' smooth class maps make an export
    count)."""
    document = block_adaptive_document(rates)
    first = near(np.tile(np.arange(CLASSES), rates * len(GROUP_STARTS)))
    neighbours = np.tile(np.arange(CLASSES), rates * len(GROUP_STARTS) * CLASSES)
    pmfs = np.concatenate([first, near(neighbours)])
    tables = EntropyTables.from_pmfs(list(pmfs), np.zeros(len(pmfs), int), np.zeros(len(pmfs)))
    return {
        **document,
        "version": 3,
        "class_context": "checkerboard",
        "class_tables": json.loads(tables.to_json()),
    }


def prior(document: dict | None = None) -> BlockAdaptivePrior:
    metadata = {ENTROPY_METADATA_KEY: json.dumps(document or block_adaptive_document())}
    model = read_entropy_model(metadata, "test")[1]
    assert isinstance(model, BlockAdaptivePrior)
    return model


def busy_and_flat_latents(seed: int = 0, shape: tuple[int, int] = (6, 9)) -> np.ndarray:
    """Latents in quantiser steps whose energy changes from block to block, as a photo's do:
    flat sky next to texture. High channels are weaker than low ones (PCA order)."""
    rng = np.random.default_rng(seed)
    energy = np.exp(rng.normal(0, 1.5, shape)) * (rng.random(shape) < 0.6)
    falloff = 8.0 / (1 + np.arange(CHANNELS))[:, None, None]
    return (rng.laplace(0, 1, (CHANNELS, *shape)) * energy * falloff).astype(np.float32)


def test_segments_round_trip_with_tables_and_escapes_mixed() -> None:
    tables = laplacian_tables(np.array([0.3, 2.0, 9.0]))
    rng = np.random.default_rng(1)
    first_ids = rng.integers(0, 3, 500)
    first = np.rint(rng.laplace(0, 30, 500)).astype(np.int32)  # wide: many escapes
    second_ids = rng.integers(0, 3, 40)
    second = np.rint(rng.laplace(0, 1, 40)).astype(np.int32)
    main, escapes = encode_segments(
        [Segment(first, first_ids, tables), Segment(second, second_ids, tables)]
    )
    assert escapes
    decoder = SegmentDecoder(main, escapes)
    np.testing.assert_array_equal(decoder.decode(first_ids, tables), first)
    np.testing.assert_array_equal(decoder.decode(second_ids, tables), second)
    decoder.finish()


def test_one_table_per_channel_is_the_factorized_stream() -> None:
    """encode_symbols is the one-segment case: a channel's symbols coded with its own row."""
    tables = laplacian_tables(np.array([0.5, 3.0]))
    symbols = np.rint(np.random.default_rng(2).laplace(0, 2, (2, 5, 7))).astype(np.int32)
    ids = np.repeat([0, 1], 35)
    assert encode_symbols(symbols, tables) == encode_segments(
        [Segment(symbols.reshape(-1), ids, tables)]
    )


def test_segment_decoder_refuses_leftovers_and_missing_escapes() -> None:
    tables = laplacian_tables(np.array([0.5]))
    symbols = np.array([0, 1, 40, -2], dtype=np.int32)
    ids = np.zeros(4, dtype=int)
    main, escapes = encode_segments([Segment(symbols, ids, tables)])
    decoder = SegmentDecoder(main, escapes + np.int32(50).tobytes())
    decoder.decode(ids, tables)
    with pytest.raises(BitstreamError, match="escape stream"):
        decoder.finish()
    with pytest.raises(BitstreamError, match="escape stream"):
        SegmentDecoder(main, b"").decode(ids, tables)
    decoder = SegmentDecoder(main, escapes)
    decoder.decode(ids[:2], tables)
    with pytest.raises(BitstreamError):
        decoder.finish()


def test_block_adaptive_round_trip_gives_the_rounded_latents() -> None:
    model = prior()
    scaled = busy_and_flat_latents()
    for rate in (0, 1):
        main, escapes = model.encode(scaled, rate)
        decoded = model.decode(main, escapes, scaled.shape, rate)
        assert decoded.dtype == np.float32
        np.testing.assert_array_equal(decoded, np.rint(scaled))


def test_checkerboard_context_round_trips_and_spends_fewer_class_bits_on_smooth_maps() -> None:
    """Class maps of photos are smooth (sky beside sky): the second pass, told its decoded
    neighbours, codes them in fewer bits than the previous group's class alone."""
    rng = np.random.default_rng(5)
    smooth = np.kron(np.exp(rng.normal(0, 1.5, (4, 5))), np.ones((4, 4)))  # 16 x 20 blocks
    scaled = (rng.laplace(0, 1, (CHANNELS, 16, 20)) * smooth).astype(np.float32)
    scaled *= rng.uniform(0.3, 3, (CHANNELS, 1, 1)).astype(np.float32)  # groups differ
    context, plain = prior(checkerboard_document()), prior()
    assert context.class_context == "checkerboard" and plain.class_context == "previous"
    for rate in (0, 1):
        main, escapes = context.encode(scaled, rate)
        np.testing.assert_array_equal(
            context.decode(main, escapes, scaled.shape, rate), np.rint(scaled)
        )
    classes = plain.block_classes(scaled)
    with_context = sum(map(len, encode_segments(segments(context, classes))))
    without = sum(map(len, encode_segments(segments(plain, classes))))
    assert with_context < 0.9 * without, (with_context, without)


def test_a_one_block_image_has_an_empty_second_pass_and_round_trips() -> None:
    model = prior(checkerboard_document())
    scaled = busy_and_flat_latents(seed=6, shape=(1, 1))
    main, escapes = model.encode(scaled, 0)
    np.testing.assert_array_equal(model.decode(main, escapes, scaled.shape, 0), np.rint(scaled))


def segments(model: BlockAdaptivePrior, classes: np.ndarray) -> list[Segment]:
    return [Segment(s, rows, model.class_tables) for s, rows in model.class_segments(classes, 0)]


def test_a_blocks_neighbour_class_is_the_rounded_mean_of_those_inside_the_image() -> None:
    classes = np.array([[1, 2, 9], [4, 0, 6]])
    # (0, 1): 1, 9 and 0 -> 10/3 -> 3; (1, 0): 1 and 0 -> 0.5 rounds up to 1; (1, 2): 9, 0 -> 5
    assert neighbour_class(classes)[0, 1] == 3
    assert neighbour_class(classes)[1, 0] == 1
    assert neighbour_class(classes)[1, 2] == 5
    assert checkerboard((2, 3)).tolist() == [[True, False, True], [False, True, False]]


def test_classes_follow_each_groups_rms_on_a_half_octave_scale() -> None:
    model = prior()
    scaled = np.zeros((CHANNELS, 1, 3), dtype=np.float32)
    scaled[2:6, 0, 1] = 1.0  # group 1 at RMS 1 step: class 0 + 6
    scaled[2:6, 0, 2] = 4.0  # RMS 4 = 2^2: four half-octaves up
    classes = model.block_classes(scaled)
    assert classes[0].tolist() == [[0, 0, 0]]  # group 0 (block means) has no class
    assert classes[1].tolist() == [[0, 6, 10]]


def test_adapting_to_each_block_costs_fewer_bits_than_one_table_per_channel() -> None:
    """What the design is for: busy blocks next to flat ones. Per-channel Laplacians fitted
    to the same latents (the best a factorized prior can do) need more bits."""
    scaled = busy_and_flat_latents(seed=3, shape=(24, 24))
    adaptive = sum(map(len, prior().encode(scaled, 0)))
    symbols = np.rint(scaled).astype(np.int32)
    fitted = laplacian_tables(np.maximum(np.abs(symbols).mean(axis=(1, 2)), 0.05))
    factorized = sum(map(len, encode_symbols(symbols, fitted)))
    assert adaptive < 0.85 * factorized, (adaptive, factorized)


def test_damaged_block_adaptive_streams_fail_cleanly() -> None:
    model = prior()
    scaled = busy_and_flat_latents(seed=4)
    main, escapes = model.encode(scaled, 1)
    rng = np.random.default_rng(0)
    for cut in rng.choice(len(main) // 4, size=10, replace=False):
        with pytest.raises(BitstreamError):
            model.decode(main[: 4 * cut], escapes, scaled.shape, 1)
    with pytest.raises(BitstreamError):
        model.decode(main, escapes, (CHANNELS, 6, 8), 1)  # fewer symbols than coded
    with pytest.raises(BitstreamError, match="channels"):
        model.decode(main, escapes, (CHANNELS + 1, 6, 9), 1)
    with pytest.raises(BitstreamError, match="implausibly large"):  # refused before allocating
        model.decode(main, escapes, (CHANNELS, 2**16, 2**16), 1)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.update(kind="hyperprior"), "unknown entropy model kind"),
        (lambda d: d.update(scale_index=[[[0]]]), "scale_index shape"),
        (lambda d: d["static_index"][0].__setitem__(0, 99), "outside the scale tables"),
        (lambda d: d.update(group_starts=[1, 2]), "group_starts"),
        (lambda d: d.pop("class_tables"), "class_tables"),
        (lambda d: d.update(class_context="spiral"), "class_context"),
        (lambda d: d.update(class_context="checkerboard"), "17 row"),
    ],
)
def test_malformed_metadata_is_a_model_error_naming_the_model(change, message) -> None:
    document = block_adaptive_document()
    change(document)
    with pytest.raises(ModelError, match=message):
        read_entropy_model({ENTROPY_METADATA_KEY: json.dumps(document)}, "broken-codec")


def test_metadata_without_a_kind_is_the_factorized_prior() -> None:
    tables = json.loads(laplacian_tables(np.array([1.0, 2.0])).to_json())
    rate = {"lambda": 0.01, "gain": [1.0, 1.0], "inverse_gain": [1.0, 1.0], "tables": tables}
    metadata = {ENTROPY_METADATA_KEY: json.dumps({"version": 1, "rates": [rate]})}
    rates, model = read_entropy_model(metadata, "old-codec")
    assert isinstance(model, FactorizedPrior) and len(rates) == 1
