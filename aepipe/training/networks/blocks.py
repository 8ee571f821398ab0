"""Conv encoder/decoder pieces shared by the autoencoder families.

Data flow (default ``widths=(16, 32)``: two stride-2 convs, so H and W must be multiples of 4)::

    g_a:  x ─► conv4x4/2 ─► conv4x4/2 ─► conv3x3 ─► code_act ─► y      (N x code x H/4 x W/4)
    g_s:  y ─► conv3x3 ─► up2+conv3x3 ─► up2+conv3x3 ─► conv3x3 ─► x_hat   (N x C x H x W)

Nearest upsampling + conv rather than transposed convs: no checkerboard artefacts (Odena et al.
2016, "Deconvolution and Checkerboard Artifacts"). SiLU rather than ReLU: a smooth encoder gives
the contractive penalty (which differentiates the encoder's Jacobian) a useful gradient.
"""

from __future__ import annotations

import itertools

import torch
from torch import nn


def downsampling_factor(widths: tuple[int, ...]) -> int:
    """What H and W must be multiples of: one stride-2 conv per width."""
    return 2 ** len(widths)


def latent_size(height: int, width: int, factor: int) -> tuple[int, int]:
    """Code-map size of an image; refuses sizes the decoder could not produce exactly."""
    if height % factor or width % factor:
        raise ValueError(f"image size {height}x{width} is not a multiple of {factor}")
    return height // factor, width // factor


class ConvEncoder(nn.Module):
    """``g_a``: image -> code map at 1/``2**len(widths)`` resolution."""

    def __init__(
        self,
        in_channels: int,
        widths: tuple[int, ...],
        code_channels: int,
        code_activation: nn.Module | None = None,
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for w_in, w_out in itertools.pairwise((in_channels, *widths)):
            layers += [nn.Conv2d(w_in, w_out, 4, stride=2, padding=1), nn.SiLU()]
        layers += [nn.Conv2d(widths[-1], code_channels, 3, padding=1)]
        layers += [code_activation or nn.Identity()]
        self.layers = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


class ConvDecoder(nn.Module):
    """``g_s``: code map -> image, mirroring :class:`ConvEncoder`; output is not clipped."""

    def __init__(self, code_channels: int, widths: tuple[int, ...], out_channels: int) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(code_channels, widths[-1], 3, padding=1), nn.SiLU()]
        for w_in, w_out in itertools.pairwise((*reversed(widths), widths[0])):
            layers += [
                nn.Upsample(scale_factor=2, mode="nearest"),
                nn.Conv2d(w_in, w_out, 3, padding=1),
                nn.SiLU(),
            ]
        layers += [nn.Conv2d(widths[0], out_channels, 3, padding=1)]
        self.layers = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.layers(z)
