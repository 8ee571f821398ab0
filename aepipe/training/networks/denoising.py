"""Denoising autoencoder: reconstruct the clean image from a corrupted copy of it.

Vincent, Larochelle, Bengio & Manzagol 2008, "Extracting and Composing Robust Features with
Denoising Autoencoders". Same network as ``ae-undercomplete``; only training differs::

    training:  x ─► corrupt ─► x̃ ──►──┤g_a├──►── y ──►──┤g_s├──►── x_hat    loss = |x_hat − x|₁
    inference: x ──►──┤g_a├──►── y ──►──┤g_s├──►── x_hat

The corruption lives in ``training_loss``, so the plain patch loader (``--task reconstruct``)
is enough and the exported graph is the deterministic ``forward``. Corruptions:

- ``mask`` (the paper's masking noise): each input value is zeroed with probability ``level``.
- ``gaussian``: additive N(0, ``level``²) noise on the [0, 1] scale.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

import torch

from aepipe.training.networks.losses import LossTerms
from aepipe.training.networks.registry import register_model
from aepipe.training.networks.undercomplete import ConvAutoencoder

Corruption = Literal["mask", "gaussian"]


def masking_noise(x: torch.Tensor, level: float) -> torch.Tensor:
    return x * (torch.rand_like(x) >= level)


def gaussian_noise(x: torch.Tensor, level: float) -> torch.Tensor:
    return x + level * torch.randn_like(x)


CORRUPTIONS: dict[str, Callable[[torch.Tensor, float], torch.Tensor]] = {
    "mask": masking_noise,
    "gaussian": gaussian_noise,
}


class DenoisingAutoencoder(ConvAutoencoder):
    """A :class:`ConvAutoencoder` trained to undo ``corruption`` at strength ``level``."""

    def __init__(self, corruption: Corruption = "mask", level: float = 0.25, **kwargs: Any) -> None:
        if corruption not in CORRUPTIONS:
            raise ValueError(f"corruption must be one of {sorted(CORRUPTIONS)}, not {corruption!r}")
        super().__init__(**kwargs)
        self.corruption = corruption
        self.level = level

    def corrupt(self, x: torch.Tensor) -> torch.Tensor:
        """A freshly corrupted copy of ``x`` (``x`` itself is left untouched)."""
        return CORRUPTIONS[self.corruption](x, self.level)

    def training_loss(
        self, inputs: dict[str, torch.Tensor], target: torch.Tensor
    ) -> tuple[torch.Tensor, LossTerms]:
        return super().training_loss({**inputs, "x": self.corrupt(inputs["x"])}, target)


@register_model("ae-denoising")
def ae_denoising(**kwargs: object) -> DenoisingAutoencoder:
    """``ae-undercomplete``'s network trained with masking noise (25% of values zeroed)."""
    return DenoisingAutoencoder(**kwargs)  # type: ignore[arg-type]
