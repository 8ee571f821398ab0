"""Sparse autoencoder: a wide code kept mostly inactive by a penalty, not by a bottleneck.

Ng 2011, "Sparse autoencoder" (CS294A lecture notes) for the KL form; the L1 form is the
activation penalty of Goodfellow, Bengio & Courville, "Deep Learning" §14.2.1::

    x ──►──┤g_a├──►── a ──►──┤g_s├──►── x_hat
                      │
                      └─► penalty(a)        loss = |x_hat − x|₁ + weight · penalty(a)

- ``kl``: sigmoid code a ∈ (0, 1); ρ̂_c = mean of channel c over batch and positions (a conv
  channel is one hidden unit applied everywhere); penalty = mean_c KL(ρ ‖ ρ̂_c), which pulls
  each unit's firing rate to the target ρ.
- ``l1``: ReLU code; penalty = mean |a|, which drives most activations to exactly zero.

The code has 64 channels at 1/4 resolution: 64 values per 48 input values (overcomplete), so
only the penalty stops the network from copying its input. ``mean_activation`` is logged.
"""

from __future__ import annotations

from typing import Any, Literal

import torch
from torch import nn

from aepipe.training.networks.losses import LossTerms
from aepipe.training.networks.registry import register_model
from aepipe.training.networks.undercomplete import ConvAutoencoder

Penalty = Literal["kl", "l1"]
CODE_ACTIVATIONS: dict[str, type[nn.Module]] = {"kl": nn.Sigmoid, "l1": nn.ReLU}


def kl_sparsity(code: torch.Tensor, rho: float) -> torch.Tensor:
    """mean over channels of KL(Bernoulli(ρ) ‖ Bernoulli(ρ̂_c)); ``code`` in (0, 1)."""
    rho_hat = code.mean(dim=(0, 2, 3)).clamp(1e-6, 1 - 1e-6)
    kl = rho * torch.log(rho / rho_hat) + (1 - rho) * torch.log((1 - rho) / (1 - rho_hat))
    return kl.mean()


class SparseAutoencoder(ConvAutoencoder):
    """A :class:`ConvAutoencoder` with an overcomplete code and a sparsity penalty."""

    def __init__(
        self,
        penalty: Penalty = "kl",
        sparsity_weight: float = 0.1,
        target_activation: float = 0.05,
        code_channels: int = 64,
        **kwargs: Any,
    ) -> None:
        if penalty not in CODE_ACTIVATIONS:
            raise ValueError(f"penalty must be one of {sorted(CODE_ACTIVATIONS)}, not {penalty!r}")
        activation = CODE_ACTIVATIONS[penalty]()
        super().__init__(code_channels=code_channels, code_activation=activation, **kwargs)
        self.penalty = penalty
        self.sparsity_weight = sparsity_weight
        self.target_activation = target_activation

    def sparsity(self, code: torch.Tensor) -> torch.Tensor:
        if self.penalty == "kl":
            return kl_sparsity(code, self.target_activation)
        return code.abs().mean()

    def encode_with_penalty(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, LossTerms]:
        code = self.g_a(x)
        sparsity = self.sparsity(code)
        terms = {"sparsity": sparsity.item(), "mean_activation": code.mean().item()}
        return code, self.sparsity_weight * sparsity, terms


@register_model("ae-sparse")
def ae_sparse(**kwargs: object) -> SparseAutoencoder:
    """64-channel sigmoid code at 1/4 resolution, KL sparsity to ρ = 0.05 (weight 0.1)."""
    return SparseAutoencoder(**kwargs)  # type: ignore[arg-type]
