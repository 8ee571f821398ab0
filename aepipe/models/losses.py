"""The training-loss contract: a model may define its own objective, else L1 reconstruction.

Autoencoder families need more than ``loss(model(x), target)`` (corrupted inputs, code
penalties, KL terms, codebook updates), so each defines ``training_loss``; the trainer calls it
through :func:`training_loss` and stays family-agnostic.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, runtime_checkable

import torch
from torch import nn

LossTerms = dict[str, float]
Reconstruction = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def charbonnier(output: torch.Tensor, target: torch.Tensor, eps: float = 1e-3) -> torch.Tensor:
    """Smooth L1 (Lai et al. 2017): L1's robustness without its kink at zero."""
    return torch.sqrt((output - target) ** 2 + eps * eps).mean()


#: ``--loss`` choices for models without their own objective.
RECONSTRUCTION_LOSSES: dict[str, Reconstruction] = {
    "l1": nn.functional.l1_loss,
    "l2": nn.functional.mse_loss,
    "charbonnier": charbonnier,
}


@runtime_checkable
class HasTrainingLoss(Protocol):
    def training_loss(
        self, inputs: dict[str, torch.Tensor], target: torch.Tensor
    ) -> tuple[torch.Tensor, LossTerms]:
        """Total loss to backpropagate, plus named terms (floats) to log."""
        ...


def training_loss(
    model: nn.Module,
    inputs: dict[str, torch.Tensor],
    target: torch.Tensor,
    reconstruction: str = "l1",
) -> tuple[torch.Tensor, LossTerms]:
    """The model's own objective if it has one, else ``reconstruction`` of output vs target."""
    if isinstance(model, HasTrainingLoss):
        return model.training_loss(inputs, target)
    return RECONSTRUCTION_LOSSES[reconstruction](model(**inputs), target), {}
