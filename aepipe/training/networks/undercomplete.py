"""Undercomplete convolutional autoencoder: the bottleneck alone forces a compact code.

Data flow (Hinton & Salakhutdinov 2006, "Reducing the Dimensionality of Data with Neural
Networks", with convolutions)::

    x ──►──┤g_a├──►── y ──►──┤g_s├──►── x_hat          loss = |x_hat − x|₁
           N x C x H x W      N x code x H/4 x W/4

With the defaults the code holds 8 values per 4 x 4 x 3 = 48 input values (6x fewer), so the
network cannot learn the identity and must keep what matters. :class:`ConvAutoencoder` is also
the base of the denoising, sparse and contractive families, which change only the training
objective (``encode_with_penalty`` or the input corruption), never the exported graph.
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


class ConvAutoencoder(nn.Module):
    """``forward(x) -> x_hat``; H and W must be multiples of ``pad_multiple``."""

    def __init__(
        self,
        in_channels: int = 3,
        widths: tuple[int, ...] = (16, 32),
        code_channels: int = 8,
        code_activation: nn.Module | None = None,
        window: int = 1,
    ) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.pad_multiple = downsampling_factor(widths)
        self.code_channels = code_channels
        self.window = window
        self.g_a = ConvEncoder(in_channels, widths, code_channels, code_activation, window)
        self.g_s = ConvDecoder(code_channels, widths, in_channels, window)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.g_s(self.g_a(x))

    def export_parts(self) -> tuple[nn.Module, nn.Module]:
        """(x -> code, code -> x_hat): the embed task's encoder and its reconstruction."""
        return self.g_a, self.g_s

    def latent_inputs(
        self, n: int, height: int, width: int, generator: torch.Generator | None = None
    ) -> dict[str, torch.Tensor]:
        """Decoder inputs for ``n`` images of ``height`` x ``width`` (export examples): codes
        of random images, so they lie where the decoder is used (a sigmoid code in [0, 1])."""
        latent_size(height, width, self.pad_multiple, self.window)  # refuses a bad size
        x = torch.rand(n, self.in_channels, height, width, generator=generator)
        with torch.no_grad():
            return {"z": self.g_a(x)}

    def encode_with_penalty(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, LossTerms]:
        """Code of ``x``, the regulariser on it and its logged terms (none here)."""
        return self.g_a(x), x.new_zeros(()), {}

    def training_loss(
        self, inputs: dict[str, torch.Tensor], target: torch.Tensor
    ) -> tuple[torch.Tensor, LossTerms]:
        """L1 reconstruction (as the restoration nets use) plus the family's code penalty."""
        y, penalty, terms = self.encode_with_penalty(inputs["x"])
        reconstruction = nn.functional.l1_loss(self.g_s(y), target)
        return reconstruction + penalty, {"reconstruction_l1": reconstruction.item(), **terms}


@register_model("ae-undercomplete")
def ae_undercomplete(**kwargs: object) -> ConvAutoencoder:
    """~21k parameters, 16/32 channels, an 8-channel code at 1/4 resolution."""
    return ConvAutoencoder(**kwargs)  # type: ignore[arg-type]


@register_model("anomaly-ae-m")
def anomaly_ae_m(**kwargs: object) -> ConvAutoencoder:
    """~0.3M parameters, 32/64/128 channels, a 16-channel code at 1/8 resolution (16 values per
    8 x 8 x 3 = 192 input values, 12x fewer): more context per code value than
    ``ae-undercomplete`` and a tighter bottleneck, for anomaly detection on textures."""
    return ConvAutoencoder(**{"widths": (32, 64, 128), "code_channels": 16, **kwargs})  # type: ignore[arg-type]
