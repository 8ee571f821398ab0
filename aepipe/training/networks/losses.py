"""The training-loss contract: a model may define its own objective, else L1 reconstruction.

Autoencoder families need more than ``loss(model(x), target)`` (corrupted inputs, code
penalties, KL terms, codebook updates), so each defines ``training_loss``; the trainer calls it
through :func:`training_loss` and stays family-agnostic.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol, runtime_checkable

import numpy as np
import torch
from torch import nn

LossTerms = dict[str, float]
Reconstruction = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
#: Degradations may return extra training targets (the true watermark alpha) beside the
#: model's inputs, under keys with this prefix; only a model's own objective reads them.
TARGET_PREFIX = "target_"


def model_inputs(inputs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The keyword inputs of ``model(...)``: a degradation's output without its extra targets."""
    return {k: v for k, v in inputs.items() if not k.startswith(TARGET_PREFIX)}


def charbonnier(output: torch.Tensor, target: torch.Tensor, eps: float = 1e-3) -> torch.Tensor:
    """Smooth L1 (Lai et al. 2017): L1's robustness without its kink at zero."""
    return torch.sqrt((output - target) ** 2 + eps * eps).mean()


def emphasised_mean(errors: torch.Tensor, emphasis: torch.Tensor, weight: float) -> torch.Tensor:
    """Mean of N x C x H x W ``errors`` where pixels in ``emphasis`` (N x 1 x H x W, bool)
    weigh ``1 + weight`` and the others 1."""
    weights = 1 + weight * emphasis.to(errors.dtype)
    return (weights * errors).sum() / (weights.sum() * errors.shape[1])


def emphasised_l1(
    output: torch.Tensor, target: torch.Tensor, emphasis: torch.Tensor, weight: float = 10.0
) -> torch.Tensor:
    """L1 where pixels in ``emphasis`` (N x 1 x H x W, bool) count ``1 + weight`` times."""
    return emphasised_mean((output - target).abs(), emphasis, weight)


def masked_psnr(estimate: torch.Tensor, clean: torch.Tensor, mask: torch.Tensor) -> float:
    """PSNR (peak 1) over the pixels in ``mask`` (N x 1 x H x W, bool) only."""
    squared = ((estimate - clean) ** 2 * mask).sum() / (mask.sum() * clean.shape[1]).clamp(min=1)
    return float(-10 * torch.log10(squared.clamp(min=1e-10)))


def changed_weighted_l1(
    output: torch.Tensor, target: torch.Tensor, degraded: torch.Tensor, weight: float = 10.0
) -> torch.Tensor:
    """L1 where pixels the degradation changed count ``weight`` times more.

    For sparse degradations (a watermark covers ~10–40 % of a patch) plain L1 is dominated by
    untouched pixels and the identity is a deep early minimum; weighting the changed pixels
    makes finding them what pays. ``degraded`` must have the target's size.
    """
    changed = (degraded - target).abs().amax(dim=1, keepdim=True) > 0.5 / 255
    return emphasised_l1(output, target, changed, weight)


#: ``--loss`` choices for models without their own objective.
RECONSTRUCTION_LOSSES: dict[str, Reconstruction] = {
    "l1": nn.functional.l1_loss,
    "l2": nn.functional.mse_loss,
    "charbonnier": charbonnier,
}
#: ``--loss`` choices that also look at the degraded input.
INPUT_AWARE_LOSSES = {"l1-changed": changed_weighted_l1}


@runtime_checkable
class HasTrainingLoss(Protocol):
    def training_loss(
        self, inputs: dict[str, torch.Tensor], target: torch.Tensor
    ) -> tuple[torch.Tensor, LossTerms]:
        """Total loss to backpropagate, plus named terms (floats) to log."""
        ...


@runtime_checkable
class HasValidationMetrics(Protocol):
    """A network whose output is not an image (a mask): it says what validation measures."""

    def validation_metrics(
        self, inputs: dict[str, torch.Tensor], clean: torch.Tensor
    ) -> dict[str, float]: ...


@runtime_checkable
class InitialisedFromData(Protocol):
    """A network whose good starting point is computed from the data (a PCA), not drawn."""

    def initialise_from(self, images: Sequence[np.ndarray]) -> None: ...


def training_loss(
    model: nn.Module,
    inputs: dict[str, torch.Tensor],
    target: torch.Tensor,
    reconstruction: str = "l1",
) -> tuple[torch.Tensor, LossTerms]:
    """The model's own objective if it has one, else ``reconstruction`` of output vs target."""
    if isinstance(model, HasTrainingLoss):
        return model.training_loss(inputs, target)
    output = model(**model_inputs(inputs))
    if reconstruction in INPUT_AWARE_LOSSES:
        return INPUT_AWARE_LOSSES[reconstruction](output, target, inputs["x"]), {}
    return RECONSTRUCTION_LOSSES[reconstruction](output, target), {}
