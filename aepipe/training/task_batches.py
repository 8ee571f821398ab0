"""Degradations as composable functions: clean batch in, (model inputs, target) out.

Each degradation returns the keyword inputs the network takes, so one training loop serves
every task; the target is always the clean batch.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from aepipe.degrade import (
    TRAIN_STYLE,
    WatermarkStyle,
    add_gaussian_noise,
    add_watermark,
    as_8bit,
    imresize,
    wide_train_style,
)
from aepipe.degrade.holes import free_form_hole
from aepipe.images.fill import grow
from aepipe.images.filters import gaussian_blur, unsharp_mask

ModelInputs = dict[str, torch.Tensor]
Degradation = Callable[[torch.Tensor, torch.Generator], ModelInputs]


@dataclass(frozen=True)
class GaussianNoise:
    """Additive white Gaussian noise, σ drawn per image from ``[low, high]`` (0–255 scale).

    A fraction of the batch is made grayscale with the same noise in every channel, so the
    network also learns what a gray image (replicated to RGB at run time) looks like. The noisy
    image is clipped and rounded as an 8-bit file holds it (``file_like``): that is what the
    pipeline reads, and near black and white clipped noise is no longer zero-mean, a bias a
    network trained on float noise leaves in (0.32 dB on the first 8 Kodak24 crops at σ=25).
    """

    low: float = 0.0
    high: float = 50.0
    gray_fraction: float = 0.1
    file_like: bool = True

    def __call__(self, clean: torch.Tensor, generator: torch.Generator) -> ModelInputs:
        rng = numpy_rng(generator)
        n = clean.shape[0]
        sigma = rng.uniform(self.low, self.high, (n, 1, 1, 1))
        gray = rng.random(n) < self.gray_fraction
        images = clean.numpy()  # shares memory: a gray patch's target becomes gray too
        images[gray] = images[gray].mean(axis=1, keepdims=True)
        noisy = add_gaussian_noise(images, sigma, rng)
        if gray.any():  # a gray image's noise is the same in every channel
            plane = images[gray][:, :1]
            noisy[gray] = add_gaussian_noise(plane, sigma[gray], rng).repeat(3, axis=1)
        return noise_inputs(noisy if not self.file_like else as_8bit(noisy), sigma)


def fixed_noise(clean: torch.Tensor, sigma: float, seed: int = 0) -> ModelInputs:
    """Deterministic σ noise for validation (σ on the 0–255 scale), clipped and rounded as
    ``aepipe eval`` and real files give it."""
    rng = np.random.default_rng(seed)
    noisy = add_gaussian_noise(clean.numpy(), sigma, rng)
    return noise_inputs(as_8bit(noisy), np.full((clean.shape[0], 1, 1, 1), sigma))


def noise_inputs(noisy: np.ndarray, sigma: np.ndarray) -> ModelInputs:
    """The denoiser's inputs: the noisy batch and σ/255 per image, as float32 tensors."""
    level = torch.from_numpy((sigma / 255.0).astype(np.float32))
    return {
        "x": torch.from_numpy(np.ascontiguousarray(noisy, dtype=np.float32)),
        "noise_level": level,
    }


def numpy_rng(generator: torch.Generator) -> np.random.Generator:
    """A numpy generator seeded from ``generator``: numpy degradations follow the torch state."""
    return np.random.default_rng(int(torch.randint(0, 2**62, (1,), generator=generator)))


@dataclass(frozen=True)
class SuperResolution:
    """MATLAB bicubic downscaling by ``scale`` (``aepipe.degrade.imresize``); target: the HR batch.

    Deterministic: it draws nothing from the generator. Patch sides must divide by ``scale`` so
    that the network's output (LR size x ``scale``) has the clean batch's size.
    """

    scale: int

    def __call__(self, clean: torch.Tensor, generator: torch.Generator) -> ModelInputs:
        n, c, height, width = clean.shape
        if height % self.scale or width % self.scale:
            raise ValueError(f"patch {height}x{width} is not a multiple of scale {self.scale}")
        # One imresize call for the whole batch: images and channels stacked as channels.
        stacked = clean.permute(2, 3, 0, 1).reshape(height, width, n * c).numpy()
        low = torch.from_numpy(imresize(stacked, 1 / self.scale))
        low = low.reshape(height // self.scale, width // self.scale, n, c)
        return {"x": low.permute(2, 3, 0, 1).contiguous()}


@dataclass(frozen=True)
class Watermark:
    """A synthetic visible watermark (``aepipe.degrade.add_watermark``) on most patches.

    Besides the marked batch ``x`` it returns the mark's true alpha (N x 1 x H x W) as
    ``target_alpha``, which models that estimate the mark's matte learn from.

    ``unmarked_fraction`` of the patches stay clean (alpha 0). A whole photo is mostly unmarked;
    a net that only ever saw marked patches learned that texture means "mark" and repainted
    busy, unmarked regions of held-out images (Kodak crops: 42.3 -> 30.0 dB on kodim05).
    """

    style: WatermarkStyle = TRAIN_STYLE
    # Marks are sized for whole images of this shorter side (BSDS: 481 x 321), not for the
    # patch, so a patch shows a piece of a full-size mark, as evaluation will.
    reference_side: int = 321
    unmarked_fraction: float = 0.5

    def __call__(self, clean: torch.Tensor, generator: torch.Generator) -> ModelInputs:
        rng = numpy_rng(generator)
        marked, alpha = zip(
            *(self._mark(image, rng) for image in clean.permute(0, 2, 3, 1).numpy()), strict=True
        )
        return {
            "x": torch.from_numpy(np.stack(marked)).permute(0, 3, 1, 2).contiguous(),
            "target_alpha": torch.from_numpy(np.stack(alpha)).unsqueeze(1),
        }

    def _mark(self, image: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """One H x W x 3 patch, marked (or not, with ``unmarked_fraction``), and its alpha."""
        if rng.random() < self.unmarked_fraction:
            return image, np.zeros(image.shape[:2], dtype=np.float32)
        return add_watermark(image, rng, self.style, self.reference_side)


def wide_marks(clean: torch.Tensor, generator: torch.Generator) -> ModelInputs:
    """Marks from the wide synthesis (``wide_train_style``) on half the patches, for the
    remover: trained on TRAIN_FONTS alone it learnt those fonts' style, not "a semi-transparent
    overlay", and lost 3.1 dB on marks of unseen fonts (issue 17)."""
    return Watermark(style=wide_train_style())(clean, generator)


def guided_marks(clean: torch.Tensor, generator: torch.Generator) -> ModelInputs:
    """The wide marks on three patches in four, each patch with a mask made as the detector
    makes one (``networks/guided_matte``): the mark's pixels, grown 1-4 px, missing a piece of
    the mark now and then, and with false alarms (brush strokes) on unmarked patches and on
    some marked ones, where the remover must learn to return the input."""
    inputs = Watermark(style=wide_train_style(), unmarked_fraction=0.25)(clean, generator)
    rng = numpy_rng(generator)
    alpha = inputs["target_alpha"].numpy()[:, 0]
    masks = np.stack([detector_like_mask(a, rng) for a in alpha])
    return {**inputs, "x": torch.cat([inputs["x"], torch.from_numpy(masks)[:, None]], dim=1)}


def detector_like_mask(alpha: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """H x W float32 mask of a mark's ``alpha`` (all zeros: an unmarked patch) with the
    errors a segmenter makes: faint rims left out, a piece missed, strokes flagged that are
    no mark."""
    height, width = alpha.shape
    mask = alpha > rng.uniform(0.0, 0.1)
    if mask.any() and rng.random() < 0.3:  # a piece of the mark missed
        top, left = rng.integers(0, height // 2), rng.integers(0, width // 2)
        mask[top : top + height // 3, left : left + width // 3] = False
    if not mask.any() or rng.random() < 0.3:  # a false alarm
        mask |= free_form_hole(rng, height, width, min_area=0.005, max_area=0.1, widths=(2, 10))
    return grow(mask, int(rng.integers(1, 5))).astype(np.float32)


def mark_segmentation(clean: torch.Tensor, generator: torch.Generator) -> ModelInputs:
    """The wide marks (a segmenter must see many more styles than a remover, and as many
    unmarked photos as marked ones) on patches of which a quarter are sharpened first and a
    fifth made gray (a mark keeps its colour on a gray photo).

    Gray, because a segmenter that had only seen colour photos flagged 35 of CBSD68's 68 photos
    once they were gray, against none in colour (docs/quality.md).

    With that, the trainer rescales patches 0.5-2x (``PATCH_ZOOM``): trained on CBSD432's
    small, soft photos alone, the segmenter took the crisp fine detail of larger or downscaled
    scans (Kodak's window grids and spokes) for strokes of a mark. (Not for the remover: its
    target is the clean patch, which it would learn to blur back to.)"""
    return wide_marks(sharpened(grayed(clean, generator), generator), generator)


def with_negatives(inputs: ModelInputs, negatives: torch.Tensor) -> ModelInputs:
    """A segmentation batch with photos known to hold no mark appended: each its own image as
    ``x`` and zeros as every target (alpha or mask)."""
    return {
        name: torch.cat(
            [
                tensor,
                negatives if name == "x" else tensor.new_zeros(len(negatives), *tensor.shape[1:]),
            ]
        )
        for name, tensor in inputs.items()
    }


def with_hole(image: torch.Tensor, hole: torch.Tensor) -> torch.Tensor:
    """The inpainting network's input: N x 3 images blanked in N x 1 ``hole``, and the hole."""
    return torch.cat([image * (1 - hole), hole], dim=1)


def inpainting_holes(clean: torch.Tensor, generator: torch.Generator) -> ModelInputs:
    """A hole in every patch: free-form brush strokes (``aepipe.degrade.holes``) or, half of
    the time, the shape of a watermark from the wide synthesis (what the remover hands over)."""
    rng = numpy_rng(generator)
    n, _, height, width = clean.shape
    holes = np.empty((n, 1, height, width), np.float32)
    for index in range(n):
        if rng.random() < 0.5:
            holes[index, 0] = free_form_hole(rng, height, width)
        else:
            image = clean[index].permute(1, 2, 0).numpy()
            _, alpha = add_watermark(image, rng, wide_train_style(), reference_side=321)
            holes[index, 0] = alpha > 0
    return {"x": with_hole(clean, torch.from_numpy(holes))}


def sharpened(
    batch: torch.Tensor, generator: torch.Generator, fraction: float = 0.25
) -> torch.Tensor:
    """``fraction`` of the N x C x H x W patches through an unsharp mask (amount 0.3-1.2,
    σ 0.7-1.5 px), as cameras and editors sharpen photos."""
    rng = numpy_rng(generator)
    out = batch.numpy().copy()
    for index in range(len(out)):
        if rng.random() >= fraction:
            continue
        image = out[index].transpose(1, 2, 0)
        sharp = unsharp_mask(image, rng.uniform(0.7, 1.5), rng.uniform(0.3, 1.2))
        out[index] = sharp.transpose(2, 0, 1)
    return torch.from_numpy(out)


def grayed(batch: torch.Tensor, generator: torch.Generator, fraction: float = 0.2) -> torch.Tensor:
    """``fraction`` of the N x 3 x H x W patches made gray (their channels' mean in all three),
    as a gray photo reaches a model: replicated to RGB (``images.as_rgb``)."""
    rng = numpy_rng(generator)
    gray = torch.from_numpy(rng.random(len(batch)) < fraction)
    return torch.where(gray[:, None, None, None], batch.mean(dim=1, keepdim=True), batch)


def given_masks(batch: torch.Tensor, generator: torch.Generator) -> ModelInputs:
    """Patches of users' own segmentation data (``--masks``): the mask is the fourth channel
    the sampler cropped along with the image."""
    return {"x": batch[:, :3].contiguous(), "target_mask": batch[:, 3:].contiguous()}


@dataclass(frozen=True)
class ForeignPatches:
    """Paste foreign material into some patches; the target stays the clean patch.

    An autoencoder trained on normal images alone also learns to copy what it has never seen
    (a stain, a patch of another colour), which hides defects in its residual. Trained to
    *remove* random foreign material instead, it reconstructs the normal image under it, so
    the residual shows the defect (the reconstructive half of DRAEM, Zavrtanik et al. 2021).

    The material is deliberately unlike ``aepipe.degrade.defects``, which evaluation uses: an
    irregular region from thresholded smooth noise, filled with another patch of the batch
    (shifted, rotated, colour-shifted), uniform noise or one random colour, at 40–100 %
    opacity. ``fraction`` of the patches get one; the rest teach the identity on normal data.
    """

    fraction: float = 0.5
    coverage: tuple[float, float] = (0.02, 0.2)

    def __call__(self, clean: torch.Tensor, generator: torch.Generator) -> ModelInputs:
        rng = numpy_rng(generator)
        batch = clean.numpy()
        out = batch.copy()
        for index in range(len(batch)):
            if rng.random() >= self.fraction:
                continue
            mask = self._region(batch.shape[2], batch.shape[3], rng)
            fill = self._material(batch, index, rng)
            alpha = rng.uniform(0.4, 1.0) * mask
            out[index] = batch[index] * (1 - alpha) + fill * alpha
        return {"x": torch.from_numpy(np.clip(out, 0, 1).astype(np.float32))}

    def _region(self, height: int, width: int, rng: np.random.Generator) -> np.ndarray:
        smooth = gaussian_blur(
            rng.standard_normal((height, width)).astype(np.float32), rng.uniform(2, 6)
        )
        level = np.quantile(smooth, 1 - rng.uniform(*self.coverage))
        return (smooth > level).astype(np.float32)

    def _material(self, batch: np.ndarray, index: int, rng: np.random.Generator) -> np.ndarray:
        channels, height, width = batch.shape[1:]
        kind = rng.random()
        if kind < 0.5:  # another patch, turned and recoloured
            other = np.rot90(
                batch[int(rng.integers(len(batch)))], int(rng.integers(4)), axes=(1, 2)
            )
            shift = rng.uniform(-0.4, 0.4, (channels, 1, 1)).astype(np.float32)
            return np.ascontiguousarray(other[:, :height, :width]) + shift
        if kind < 0.75:
            return rng.uniform(0, 1, (channels, height, width)).astype(np.float32)
        return np.broadcast_to(rng.uniform(0, 1, (channels, 1, 1)), batch.shape[1:]).astype(
            np.float32
        )
