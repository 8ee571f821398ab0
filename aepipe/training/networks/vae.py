"""Variational autoencoder with spatial latent maps.

Kingma & Welling 2014, "Auto-Encoding Variational Bayes"; β weighting from Higgins et al.
2017 (β-VAE)::

    training:  x ──►──┤g_a├──┬─► μ ───────┐
                             └─► log σ² ──┴─► z = μ + σ·ε ──►──┤g_s├──►── x_hat
                                  ε ~ N(0, I)
               loss = mean (x_hat − x)² + β · KL(N(μ, σ²) ‖ N(0, I)) / (values in x)
    forward:   x ──►──┤g_a├──► μ ──►──┤g_s├──►── x_hat   (deterministic: the posterior mean)
    sample:    z ~ N(0, I) ──►──┤g_s├──►── x            (N x latent x H/4 x W/4)

Both terms are per input value, so β does not depend on image size; β = 2s² makes the loss
the negative ELBO (up to scale and a constant) of a Gaussian decoder with standard deviation s:
the default 0.02 is s = 0.1 on the [0, 1] scale. Larger β: smoother samples, blurrier
reconstructions. ``g_a`` (x -> (μ, log σ²)) and ``g_s`` (z -> x_hat) are exported as two ONNX
files (:func:`aepipe.training.export_parts.export_parts`) so the runtime can embed and generate.
"""

from __future__ import annotations

import torch
from torch import nn

from aepipe.training.networks.blocks import (
    ConvDecoder,
    ConvEncoder,
    downsampling_factor,
    latent_size,
)
from aepipe.training.networks.losses import LossTerms
from aepipe.training.networks.registry import register_model


class GaussianEncoder(ConvEncoder):
    """q(z | x): image -> ``(mu, logvar)``, each N x latent x H/4 x W/4."""

    def __init__(
        self, in_channels: int, widths: tuple[int, ...], latent_channels: int, window: int = 1
    ) -> None:
        super().__init__(in_channels, widths, 2 * latent_channels, window=window)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:  # type: ignore[override]
        mu, logvar = super().forward(x).chunk(2, dim=1)
        return mu, logvar


def kl_to_standard_normal(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """Sum over all latent values of KL(N(mu, exp(logvar)) ‖ N(0, 1)), in nats."""
    return 0.5 * torch.sum(mu.pow(2) + logvar.exp() - 1 - logvar)


class VariationalAutoencoder(nn.Module):
    """``forward(x) -> x_hat`` from the posterior mean; ``sample`` draws from the prior."""

    def __init__(
        self,
        in_channels: int = 3,
        widths: tuple[int, ...] = (16, 32),
        latent_channels: int = 4,
        beta: float = 0.02,
        window: int = 1,
    ) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.pad_multiple = downsampling_factor(widths)
        self.latent_channels = latent_channels
        self.beta = beta
        self.window = window
        self.g_a = GaussianEncoder(in_channels, widths, latent_channels, window)
        self.g_s = ConvDecoder(latent_channels, widths, in_channels, window)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mu, _ = self.g_a(x)
        return self.g_s(mu)

    def training_loss(
        self, inputs: dict[str, torch.Tensor], target: torch.Tensor
    ) -> tuple[torch.Tensor, LossTerms]:
        """Negative ELBO per input value, with the reparameterisation trick."""
        mu, logvar = self.g_a(inputs["x"])
        z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
        reconstruction = nn.functional.mse_loss(self.g_s(z), target)
        kl = kl_to_standard_normal(mu, logvar) / target.numel()
        terms = {"reconstruction_mse": reconstruction.item(), "kl_per_value": kl.item()}
        return reconstruction + self.beta * kl, terms

    def latent_inputs(
        self, n: int, height: int, width: int, generator: torch.Generator | None = None
    ) -> dict[str, torch.Tensor]:
        """Decoder inputs for ``n`` images of ``height`` x ``width``: z ~ N(0, I)."""
        h, w = latent_size(height, width, self.pad_multiple, self.window)
        return {"z": torch.randn(n, self.latent_channels, h, w, generator=generator)}

    @torch.no_grad()
    def sample(
        self, n: int, height: int, width: int, generator: torch.Generator | None = None
    ) -> torch.Tensor:
        """``n`` new images in [0, 1] decoded from prior draws."""
        return self.g_s(**self.latent_inputs(n, height, width, generator)).clamp(0, 1)

    def export_parts(self) -> tuple[nn.Module, nn.Module]:
        """(x -> (mu, logvar), z -> x_hat)."""
        return self.g_a, self.g_s


@register_model("ae-vae")
def ae_vae(**kwargs: object) -> VariationalAutoencoder:
    """16/32 channels, a 4-channel latent at 1/4 resolution, β = 0.02 (decoder s = 0.1)."""
    return VariationalAutoencoder(**kwargs)  # type: ignore[arg-type]
