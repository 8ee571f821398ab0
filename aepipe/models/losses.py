"""The training-loss contract: a model may define its own objective, else L1 reconstruction.

Autoencoder families need more than ``loss(model(x), target)`` (corrupted inputs, code
penalties, KL terms, codebook updates), so each defines ``training_loss``; the trainer calls it
through :func:`training_loss` and stays family-agnostic.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import torch
from torch import nn

LossTerms = dict[str, float]


@runtime_checkable
class HasTrainingLoss(Protocol):
    def training_loss(
        self, inputs: dict[str, torch.Tensor], target: torch.Tensor
    ) -> tuple[torch.Tensor, LossTerms]:
        """Total loss to backpropagate, plus named terms (floats) to log."""
        ...


def training_loss(
    model: nn.Module, inputs: dict[str, torch.Tensor], target: torch.Tensor
) -> tuple[torch.Tensor, LossTerms]:
    """The model's own objective if it has one, else L1 between its output and ``target``."""
    if isinstance(model, HasTrainingLoss):
        return model.training_loss(inputs, target)
    return nn.functional.l1_loss(model(**inputs), target), {}
