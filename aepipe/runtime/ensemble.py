"""Test-time views: run a model on transformed copies of a batch, undo each, and average.

Two uses. The geometric **self-ensemble** (``--self-ensemble``, the "x8" of EDSR+ and the
SR/denoising papers): a restoration net is not exactly equivariant to flips and 90° turns, so
its errors differ between the 8 views of a tile and averaging them cancels part of them, for
8x the model time. The **mark detector's views** (as is, mirrored, upside down, colour
channels reversed): an overlay stays an overlay in each of them, while a photo's own
lettering and fine structures seldom convince all four, so the average is surer of marks
than of false alarms (docs/quality.md, "Four views").
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from aepipe.runtime.tiling import TileFn

Batch = np.ndarray  # N x C x H x W


@dataclass(frozen=True)
class View:
    """One way to show a model a batch, and how its output is brought back to the batch's."""

    name: str
    show: Callable[[Batch], Batch]
    back: Callable[[Batch], Batch]


def _turned(turns: int, flip: bool) -> View:
    """Turned ``turns`` x 90° in the image plane, then mirrored left-right; back in reverse."""

    def show(batch: Batch) -> Batch:
        turned = np.rot90(batch, turns, axes=(2, 3))
        return np.ascontiguousarray(turned[..., ::-1] if flip else turned)

    def back(batch: Batch) -> Batch:
        return np.rot90(batch[..., ::-1] if flip else batch, -turns, axes=(2, 3))

    return View(f"turned {90 * turns}°" + (", mirrored" if flip else ""), show, back)


def _channels_reversed(batch: Batch) -> Batch:
    return np.ascontiguousarray(batch[:, ::-1])


def _unchanged(batch: Batch) -> Batch:
    return batch


#: The 8 flips and turns of a square: the self-ensemble.
DIHEDRAL = tuple(_turned(turns, flip) for turns in range(4) for flip in (False, True))
AS_IS = DIHEDRAL[0]
MIRRORED = DIHEDRAL[1]
UPSIDE_DOWN = DIHEDRAL[5]  # turned 180°, then mirrored left-right
CHANNELS_REVERSED = View("channels reversed", _channels_reversed, _unchanged)
#: What the mark detector averages (the shape of an overlay is kept, its colour need not be).
MARK_VIEWS = (AS_IS, MIRRORED, UPSIDE_DOWN, CHANNELS_REVERSED)


def averaged_over(fn: TileFn, views: Sequence[View]) -> TileFn:
    """``fn`` averaged over ``views``; any scale, any (non-square) tile shape."""

    def averaged(batch: Batch) -> Batch:
        outputs = (view.back(fn(view.show(batch))) for view in views)
        return np.asarray(sum(outputs) / len(views), dtype=np.float32)

    return averaged
