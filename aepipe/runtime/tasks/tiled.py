"""A model over an image tile by tile, as its card and the run's options say.

Every task with an image-shaped model output (restoration, anomaly reconstruction, mark
segmentation) runs it through :func:`run_tiled`; ``identity`` runs the same path with no model.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from aepipe.images import as_gray, as_rgb, max_value
from aepipe.runtime.ensemble import DIHEDRAL, View, averaged_over
from aepipe.runtime.model.card import ModelCard
from aepipe.runtime.model.session import OnnxModel
from aepipe.runtime.options import TaskOptions
from aepipe.runtime.tiling import TileFn, tile_apply

#: Tiling of the identity task, which has no card to recommend one.
IDENTITY_TILE, IDENTITY_OVERLAP = 256, 16
#: Largest image run whole, in units of the card's tile² x the run's batch.
WHOLE_IMAGE_FACTOR = 2


def resolved_tiling(options: TaskOptions, card: ModelCard | None) -> tuple[int, int]:
    """(tile, overlap): what the user asked for, else what the model card recommends."""
    tile = options.tile if options.tile is not None else (card.tile if card else IDENTITY_TILE)
    overlap = options.overlap
    if overlap is None:
        overlap = card.tile_overlap if card else IDENTITY_OVERLAP
    return tile, overlap


def call_plan(
    options: TaskOptions, card: ModelCard | None, height: int, width: int
) -> tuple[int, int]:
    """(tile, overlap) for one ``height`` x ``width`` image; tile 0 runs it whole.

    An explicit ``--tile`` is used as given. Otherwise an image within twice the card's
    tile² x the batch runs whole, in one call; a larger one in the card's tiles, ``--batch-size``
    a call. Measured on the shipped denoiser (docs/benchmarks.md): a whole 0.15-0.4 MP photo
    runs 1.26-1.28x faster than 256-pixel tiles four a call (no overlap fed twice), while
    larger tiles for larger images were no faster on CPU and cost memory (ONNX Runtime grows
    by ~650 bytes a pixel of a call).
    """
    tile, overlap = resolved_tiling(options, card)
    whole_image_budget = WHOLE_IMAGE_FACTOR * tile * tile * options.batch_size
    if options.tile is None and tile and height * width <= whole_image_budget:
        return 0, overlap
    return tile, overlap


def run_tiled(
    model: OnnxModel | None,
    pixels: np.ndarray,
    options: TaskOptions,
    sigma: float | None = None,
    *,
    out_channels: int | None = None,
    views: Sequence[View] | None = None,
) -> np.ndarray:
    """``model`` over ``pixels`` (native dtype) tile by tile, as the options and card say;
    the identity when ``model`` is None. Returns the native dtype at the model's scale, with
    the input's channels unless the model gives ``out_channels`` (a mask model: 1). Each
    tile batch is averaged over ``views`` (default: the self-ensemble's 8 when the options
    ask for it, else the batch as is)."""
    fn: TileFn = lambda batch: batch  # noqa: E731
    card = model.card if model else None
    if views is None and options.self_ensemble:
        views = DIHEDRAL
    if model is not None:
        fn = _model_fn(model, pixels.shape[2], sigma)
        if views:
            fn = averaged_over(fn, views)
    tile, overlap = call_plan(options, card, *pixels.shape[:2])
    if model is None and tile == 0:  # the identity on a whole image: its float round trip is
        return pixels  # exact (images.to_float / from_float), so the pixels are the output
    return tile_apply(
        pixels,
        fn,
        tile=tile,
        overlap=overlap,
        scale=card.scale if card else 1,
        multiple=card.pad_multiple if card else 1,
        batch_size=options.batch_size,
        out_channels=out_channels,
    )


def run_with_mask(
    model: OnnxModel, pixels: np.ndarray, mask: np.ndarray, options: TaskOptions, *, blank: bool
) -> np.ndarray:
    """A model that takes RGB and a mask (``card.takes_mask``: the inpainting filler, the
    guided remover) over ``pixels`` (native dtype) and H x W bool ``mask``, the masked pixels
    blanked first when ``blank``. Returns the input's channels (gray: the mean of RGB out)."""
    rgb = as_rgb(pixels)
    if blank:
        rgb = np.where(mask[..., None], 0, rgb).astype(rgb.dtype)
    x = np.dstack([rgb, (mask * max_value(rgb.dtype)).astype(rgb.dtype)])
    out = run_tiled(model, x, options, out_channels=3)
    if pixels.shape[2] == 1:
        out = as_gray(out)
    return out


def _model_fn(model: OnnxModel, channels: int, sigma: float | None) -> TileFn:
    """Adapt channels (gray in, RGB model) and feed the noise level per tile batch."""
    expand = channels == 1 and model.card.in_channels == 3

    def run(batch: np.ndarray) -> np.ndarray:
        x = np.repeat(batch, 3, axis=1) if expand else batch
        level = None
        if sigma is not None:
            level = np.full((x.shape[0], 1, 1, 1), sigma / 255.0, dtype=np.float32)
        y = model.run(x, noise_level=level)
        return y.mean(axis=1, keepdims=True) if expand else y

    return run
