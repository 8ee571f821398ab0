"""Geometric self-ensemble: run a model on the 8 flips/rotations of a batch and average.

A restoration net is not exactly equivariant to flips and 90° turns, so its errors differ
between the 8 views of a tile; averaging the views (undone) cancels part of them. It is the
"x8" of EDSR+ and the SR/denoising papers: no retraining, 8x the model time.
"""

from __future__ import annotations

import numpy as np

from aepipe.runtime.tiling import TileFn

VIEWS = tuple((turns, flip) for turns in range(4) for flip in (False, True))


def _view(batch: np.ndarray, turns: int, flip: bool) -> np.ndarray:
    """NCHW ``batch`` turned ``turns`` x 90° in the image plane, then mirrored left-right."""
    turned = np.rot90(batch, turns, axes=(2, 3))
    return np.ascontiguousarray(turned[..., ::-1] if flip else turned)


def _unview(batch: np.ndarray, turns: int, flip: bool) -> np.ndarray:
    """The inverse of :func:`_view`: mirror back first, then turn back."""
    return np.rot90(batch[..., ::-1] if flip else batch, -turns, axes=(2, 3))


def self_ensemble(fn: TileFn) -> TileFn:
    """``fn`` averaged over the 8 dihedral views; any scale, any (non-square) tile shape."""

    def averaged(batch: np.ndarray) -> np.ndarray:
        views = (_unview(fn(_view(batch, turns, flip)), turns, flip) for turns, flip in VIEWS)
        return np.asarray(sum(views) / len(VIEWS), dtype=np.float32)

    return averaged
