"""Conv encoder/decoder pieces shared by the autoencoder families.

Data flow (default ``widths=(16, 32)``: two stride-2 convs, so H and W must be multiples of 4)::

    g_a:  x ─► conv4x4/2 ─► conv4x4/2 ─► conv3x3 ─► code_act ─► y      (N x code x H/4 x W/4)
    g_s:  y ─► conv3x3 ─► up2+conv3x3 ─► up2+conv3x3 ─► conv3x3 ─► x_hat   (N x C x H x W)

Nearest upsampling + conv rather than transposed convs: no checkerboard artefacts (Odena et al.
2016, "Deconvolution and Checkerboard Artifacts"). SiLU rather than ReLU: a smooth encoder gives
the contractive penalty (which differentiates the encoder's Jacobian) a useful gradient.

``window`` > 1 codes ``window`` x ``window`` cells of the last map together: the code layer is
a valid ``window``² conv and the decoder starts with the matching transposed conv. At the size
where the last map is ``window`` cells a side (an embedding's thumbnail) the code is one global
vector, like PCA's, instead of a map of local codes; the graph stays fully convolutional.
"""

from __future__ import annotations

import itertools

import torch
from torch import nn


def downsampling_factor(widths: tuple[int, ...]) -> int:
    """What H and W must be multiples of: one stride-2 conv per width."""
    return 2 ** len(widths)


def latent_size(height: int, width: int, factor: int, window: int = 1) -> tuple[int, int]:
    """Code-map size of an image; refuses sizes the decoder could not produce exactly."""
    if height % factor or width % factor or min(height, width) < factor * window:
        raise ValueError(
            f"image size {height}x{width} is not a multiple of {factor} of at least {window}"
        )
    return height // factor - window + 1, width // factor - window + 1


class ConvEncoder(nn.Module):
    """``g_a``: image -> code map at 1/``2**len(widths)`` resolution."""

    def __init__(
        self,
        in_channels: int,
        widths: tuple[int, ...],
        code_channels: int,
        code_activation: nn.Module | None = None,
        window: int = 1,
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for w_in, w_out in itertools.pairwise((in_channels, *widths)):
            layers += [nn.Conv2d(w_in, w_out, 4, stride=2, padding=1), nn.SiLU()]
        if window > 1:
            layers += [nn.Conv2d(widths[-1], code_channels, window)]
        else:
            layers += [nn.Conv2d(widths[-1], code_channels, 3, padding=1)]
        layers += [code_activation or nn.Identity()]
        self.layers = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


class ConvDecoder(nn.Module):
    """``g_s``: code map -> image, mirroring :class:`ConvEncoder`; output is not clipped."""

    def __init__(
        self, code_channels: int, widths: tuple[int, ...], out_channels: int, window: int = 1
    ) -> None:
        super().__init__()
        first = (
            nn.ConvTranspose2d(code_channels, widths[-1], window)
            if window > 1
            else nn.Conv2d(code_channels, widths[-1], 3, padding=1)
        )
        layers: list[nn.Module] = [first, nn.SiLU()]
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
