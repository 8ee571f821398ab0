"""Pure functions that pad, tile, batch and seamlessly blend images for an autoencoder.

Images of any size (1x1 up to huge scans) go through a model whose memory must stay bounded, so
the image is cut into tiles, the tiles are fed to the model in fixed-size batches, and the
outputs are stitched back with a feathered blend so that no seam is visible.

Memory is bounded by tile x batch, never by image size:

* float conversion happens tile by tile: a tile is sliced from the native-dtype image and only
  then converted to float32 in [0, 1];
* the float accumulator holds one band (one row of tiles) plus the rows it still shares with
  the next band; rows that no later tile touches are converted back to the native dtype and
  written into the preallocated output straight away.

Geometry, per axis (the same plan is used for rows and columns):

* the axis is split into ``ceil(length / tile)`` cores of nearly equal size (at most ``tile``);
* each core is fed to the model with up to ``overlap`` pixels of context on either side;
* every tile of an axis is fed with the same length, so batches are uniform (what ONNX sessions
  like): the window slides inwards at the image border to take real pixels instead of padding,
  and only when the image is shorter than that length is it padded (reflect, or edge where
  reflect is impossible), at the end, as :func:`compute_padding` says;
* neighbouring outputs are blended with a raised-cosine ramp over ``overlap`` pixels centred on
  the seam; the remaining ``overlap // 2`` (or more) pixels on each side are pure context that
  is cropped away.  A model whose receptive radius is at most ``overlap // 2`` therefore gives
  the same result tiled as untiled, away from the image border;
* sides that touch the image border are never tapered.

The blend is the normalised weighted average with complementary weights ``w`` and ``1 - w``,
written as ``previous + w * (current - previous)``: that needs no weight map and no division,
and identical tile outputs blend back to exactly themselves, so an identity model round-trips
every pixel exactly.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from aepipe.images.pixels import dtype_name, from_float, to_float

TileFn = Callable[[np.ndarray], np.ndarray]
"""NCHW float32 batch -> NCHW float32 batch of shape (N, C_out, h * scale, w * scale)."""


@dataclass(frozen=True)
class _AxisTile:
    """Where one tile sits along one axis, in input and output coordinates."""

    input_start: int  # first image pixel fed to the model
    input_valid: int  # image pixels fed from input_start; the rest of the patch is padding
    output_start: int  # first output pixel this tile contributes to
    output_end: int  # one past the last output pixel this tile contributes to
    blend: int  # output pixels at output_start shared with the previous tile (0 at the border)


@dataclass(frozen=True)
class _AxisPlan:
    """Tiling of one axis: the uniform patch length and every tile's placement."""

    patch: int  # input pixels fed to the model per tile along this axis (same for all tiles)
    tiles: tuple[_AxisTile, ...]
    ramp: np.ndarray  # float32 weight of the later tile across a shared zone, strictly in (0, 1)


def compute_padding(height: int, width: int, multiple: int) -> tuple[int, int]:
    """Return ``(pad_bottom, pad_right)`` that make both sides multiples of ``multiple``.

    U-Net style models halve the resolution several times and need sides divisible by
    ``2 ** levels``; padding only at the bottom and right keeps the top-left origin, so the
    output is cropped back with a plain slice.
    """
    if multiple < 1:
        raise ValueError(f"multiple must be >= 1, got {multiple}")
    if height < 0 or width < 0:
        raise ValueError(f"height and width must be >= 0, got {height}x{width}")
    return (-height) % multiple, (-width) % multiple


def tile_apply(
    image: np.ndarray,
    fn: TileFn,
    *,
    tile: int = 256,
    overlap: int = 16,
    scale: int = 1,
    multiple: int = 1,
    batch_size: int = 4,
    out_channels: int | None = None,
) -> np.ndarray:
    """Run ``fn`` over ``image`` tile by tile and return the seamlessly blended result.

    ``image`` is H x W x C in its native dtype (uint8, uint16 or float32); the result is
    (H * scale) x (W * scale) x ``out_channels`` (default C) in the same dtype.  ``tile`` is the
    core side in input pixels (0, or a value >= the side, processes that side as one tile);
    ``overlap`` is the number of input pixels neighbouring tiles blend over; ``multiple`` is the
    divisor the model needs for H and W; ``batch_size`` is the most tiles per ``fn`` call.
    """
    _validate(image, tile=tile, overlap=overlap, scale=scale, multiple=multiple)
    _validate_counts(batch_size=batch_size, out_channels=out_channels)
    height, width, channels = image.shape
    rows = _plan_axis(height, tile=tile, overlap=overlap, scale=scale, multiple=multiple)
    cols = _plan_axis(width, tile=tile, overlap=overlap, scale=scale, multiple=multiple)
    channels_out = channels if out_channels is None else out_channels
    expected = (channels_out, rows.patch * scale, cols.patch * scale)
    output = np.empty((height * scale, width * scale, channels_out), dtype=image.dtype)
    # Float rows of the previous band that the current band still blends into.
    carry = np.empty((0, width * scale, channels_out), dtype=np.float32)
    for index, row in enumerate(rows.tiles):
        band = np.empty(
            (row.output_end - row.output_start, width * scale, channels_out), dtype=np.float32
        )
        for batch in _chunks(cols.tiles, batch_size):
            patches = np.stack([_patch(image, row, col, rows.patch, cols.patch) for col in batch])
            outputs = _call(fn, patches, expected)
            for col, result in zip(batch, outputs, strict=True):
                _blend_columns(band, _crop(result, row, col, scale), col, cols.ramp)
        if row.blend:
            band[: row.blend] = _feather(carry, band[: row.blend], rows.ramp[:, None, None])
        finished = len(band) - _next_blend(rows.tiles, index)
        output[row.output_start : row.output_start + finished] = from_float(
            band[:finished], image.dtype
        )
        carry = band[finished:].copy()
    return output


def _validate(image: np.ndarray, *, tile: int, overlap: int, scale: int, multiple: int) -> None:
    """Reject arguments that would make the tiling ill-defined, naming the offending value."""
    if not isinstance(image, np.ndarray) or image.ndim != 3:
        shape = getattr(image, "shape", None)
        raise ValueError(f"image must be a 3-D H x W x C array, got shape {shape}")
    dtype_name(image.dtype)  # ValueError for anything but uint8, uint16 and float32
    if 0 in image.shape:
        raise ValueError(f"image has no pixels: shape {image.shape}")
    if tile < 0:
        raise ValueError(f"tile must be >= 0 (0 means one tile), got {tile}")
    if overlap < 0:
        raise ValueError(f"overlap must be >= 0, got {overlap}")
    if tile > 0 and overlap * 2 >= tile:
        raise ValueError(f"overlap must be less than half the tile, got {overlap=} for {tile=}")
    if scale < 1:
        raise ValueError(f"scale must be >= 1, got {scale}")
    if multiple < 1:
        raise ValueError(f"multiple must be >= 1, got {multiple}")


def _validate_counts(*, batch_size: int, out_channels: int | None) -> None:
    """Reject batch and channel counts that cannot describe a model call."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if out_channels is not None and out_channels < 1:
        raise ValueError(f"out_channels must be >= 1, got {out_channels}")


def _plan_axis(length: int, *, tile: int, overlap: int, scale: int, multiple: int) -> _AxisPlan:
    """Split one axis into cores, context windows and blend zones (see the module docstring).

    Cores are balanced (sizes differ by at most one) rather than ``tile, tile, ..., remainder``:
    no sliver tile, and every core is at least ``overlap`` long, so a pixel is shared by at most
    two tiles per axis and blend zones never meet.
    """
    count = 1 if tile == 0 or tile >= length else math.ceil(length / tile)
    bounds = [index * length // count for index in range(count + 1)]
    context = overlap if count > 1 else 0
    longest = max(end - start for start, end in itertools.pairwise(bounds))
    # With several tiles, ``multiple - 1`` pixels of slack let every patch start on a multiple
    # of ``multiple`` (see _aligned_start).
    slack = multiple - 1 if count > 1 else 0
    patch = _round_up(min(longest + 2 * context + slack, length), multiple)
    lead = context // 2  # zone pixels before the seam; context - lead after it
    tiles = tuple(
        _axis_tile(bounds[index], bounds[index + 1], length, patch, context, lead, scale, multiple)
        for index in range(count)
    )
    return _AxisPlan(patch=patch, tiles=tiles, ramp=_ramp(context * scale))


def _axis_tile(
    core_start: int,
    core_end: int,
    length: int,
    patch: int,
    context: int,
    lead: int,
    scale: int,
    multiple: int,
) -> _AxisTile:
    """Place one tile: centre its patch on the context window, slid inside the image."""
    window_start = max(core_start - context, 0)
    window_end = min(core_end + context, length)
    input_start = _aligned_start(window_start, window_end, length, patch, multiple)
    at_start, at_end = core_start == 0, core_end == length
    output_start = 0 if at_start else core_start - lead
    output_end = length if at_end else core_end - lead + context
    return _AxisTile(
        input_start=input_start,
        input_valid=min(patch, length - input_start),
        output_start=output_start * scale,
        output_end=output_end * scale,
        blend=0 if at_start else context * scale,
    )


def _aligned_start(
    window_start: int, window_end: int, length: int, patch: int, multiple: int
) -> int:
    """First input pixel of a patch covering the window, on a multiple of ``multiple``.

    Models that downsample (stride-2 convs, pooling) are only shift-equivariant by multiples
    of their total stride: a patch starting elsewhere sees the image at another sampling phase
    and its output differs from the untiled run's, which shows as seams. Among the aligned
    starts that cover the window, take the one closest to centring it, preferring real pixels
    over padding at the image's end.
    """
    lowest = max(window_end - patch, 0)  # any earlier start would miss the window's end
    centred = window_start - (patch - (window_end - window_start)) // 2
    preferred = min(max(min(centred, length - patch), lowest), window_start)
    start = preferred - preferred % multiple
    return start if start >= lowest else start + multiple


def _ramp(size: int) -> np.ndarray:
    """Raised-cosine weights of the incoming tile across a zone of ``size`` output pixels.

    Samples exclude both end points, so every weight is strictly inside (0, 1) and the
    outgoing tile's weight ``1 - w`` is strictly positive too; the ramp is symmetric:
    ``w[i] + w[size - 1 - i]`` is 1 up to rounding.
    """
    steps = np.arange(1, size + 1, dtype=np.float64) / (size + 1)
    return (0.5 - 0.5 * np.cos(np.pi * steps)).astype(np.float32)


def _round_up(value: int, multiple: int) -> int:
    """Smallest multiple of ``multiple`` that is >= ``value``."""
    return -(-value // multiple) * multiple


def _chunks(items: Sequence[_AxisTile], size: int) -> Iterator[Sequence[_AxisTile]]:
    """Consecutive slices of at most ``size`` items; the last one may be shorter."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _patch(
    image: np.ndarray, row: _AxisTile, col: _AxisTile, patch_height: int, patch_width: int
) -> np.ndarray:
    """Slice one tile from the native image, pad it to the patch size, return it as float CHW."""
    native = image[
        row.input_start : row.input_start + row.input_valid,
        col.input_start : col.input_start + col.input_valid,
    ]
    native = _pad_end(native, axis=0, amount=patch_height - row.input_valid)
    native = _pad_end(native, axis=1, amount=patch_width - col.input_valid)
    return to_float(native).transpose(2, 0, 1)


def _pad_end(native: np.ndarray, *, axis: int, amount: int) -> np.ndarray:
    """Pad the end of one axis: reflect where the tile is long enough, else replicate the edge.

    Reflect needs ``amount < length`` (a 1-pixel image has nothing to reflect), so tiny
    images fall back to edge padding instead of failing.
    """
    if amount == 0:
        return native
    widths = [(0, 0)] * native.ndim
    widths[axis] = (0, amount)
    mode: Literal["reflect", "edge"] = "reflect" if amount < native.shape[axis] else "edge"
    return np.pad(native, widths, mode=mode)


def _call(fn: TileFn, patches: np.ndarray, expected: tuple[int, int, int]) -> np.ndarray:
    """Run the model on one batch and check it returned one output tile per input tile."""
    result = np.asarray(fn(patches), dtype=np.float32)
    want = (len(patches), *expected)
    if result.shape != want:
        raise ValueError(f"tile function returned shape {result.shape}, expected {want}")
    return result


def _crop(result: np.ndarray, row: _AxisTile, col: _AxisTile, scale: int) -> np.ndarray:
    """Cut the contributing region out of one CHW model output, as HWC."""
    top = row.output_start - row.input_start * scale
    left = col.output_start - col.input_start * scale
    height = row.output_end - row.output_start
    width = col.output_end - col.output_start
    return result[:, top : top + height, left : left + width].transpose(1, 2, 0)


def _blend_columns(band: np.ndarray, values: np.ndarray, col: _AxisTile, ramp: np.ndarray) -> None:
    """Write one tile's output into the band, feathering it into its left neighbour's output."""
    shared = col.output_start + col.blend
    if col.blend:
        band[:, col.output_start : shared] = _feather(
            band[:, col.output_start : shared], values[:, : col.blend], ramp[None, :, None]
        )
    band[:, shared : col.output_end] = values[:, col.blend :]


def _feather(earlier: np.ndarray, later: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """Blend two tiles' outputs across their shared zone: ``earlier + weight * (later - earlier)``.

    This is ``(1 - w) * earlier + w * later``, the normalised two-tile weighted average, in a
    form that returns ``earlier`` exactly when both tiles agree (exact identity round-trips).
    """
    return earlier + weight * (later - earlier)


def _next_blend(tiles: Sequence[_AxisTile], index: int) -> int:
    """Output rows at the end of tile ``index`` that the next tile still blends into."""
    return tiles[index + 1].blend if index + 1 < len(tiles) else 0
