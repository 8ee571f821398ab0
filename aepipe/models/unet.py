"""U-Net restoration networks with a noise-level input.

Data flow (residual learning: the net predicts what to remove)::

    x ─┬─────────────────────────────────────────────────────────────(−)──► x_hat
       │                                                              ▲
       └─ cat(σ map) ─► head ─► E1 ──► down ─► E2 ──► down ─► B ─┐     │
                                │              │                 │     │
                                │              └──(+)◄─ up ◄─────┘     │
                                │                  D2                  │
                                └───────(+)◄─ up ◄─┘                   │
                                         D1 ─► tail ───────────────────┘

Skips are added, not concatenated (as in DRUNet): cheaper at the same width, which matters
when the model must run fast on CPU workers. The σ map (noise standard deviation / 255, one
value per pixel) lets one network serve every noise level; the runtime fills it from
``--noise-level`` or from a noise estimate when the user gives none (blind mode).
"""

from __future__ import annotations

import itertools

import torch
from torch import nn

from aepipe.models.registry import register_model


class ResBlock(nn.Module):
    """conv-ReLU-conv with an identity skip; no normalisation (it hurts restoration PSNR)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, channels, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(channels, channels, 3, padding=1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


def _stage(channels: int, blocks: int) -> nn.Sequential:
    return nn.Sequential(*(ResBlock(channels) for _ in range(blocks)))


class NoiseLevelUNet(nn.Module):
    """A residual U-Net taking ``(x, noise_level)``; returns the restored image.

    Input height and width must be multiples of ``2 ** (len(widths) - 1)``
    (``pad_multiple``); the runtime pads to it.
    """

    def __init__(
        self,
        in_channels: int = 3,
        widths: tuple[int, ...] = (32, 64, 128),
        blocks: int = 2,
        noise_level_input: bool = True,
    ) -> None:
        super().__init__()
        self.noise_level_input = noise_level_input
        self.pad_multiple = 2 ** (len(widths) - 1)
        head_in = in_channels + (1 if noise_level_input else 0)
        self.head = nn.Conv2d(head_in, widths[0], 3, padding=1)
        self.encoders = nn.ModuleList(_stage(w, blocks) for w in widths[:-1])
        self.downs = nn.ModuleList(
            nn.Conv2d(w, w_next, 2, stride=2) for w, w_next in itertools.pairwise(widths)
        )
        self.bottleneck = _stage(widths[-1], blocks)
        self.ups = nn.ModuleList(
            nn.ConvTranspose2d(w_next, w, 2, stride=2) for w, w_next in itertools.pairwise(widths)
        )
        self.decoders = nn.ModuleList(_stage(w, blocks) for w in widths[:-1])
        self.tail = nn.Conv2d(widths[0], in_channels, 3, padding=1)

    def forward(self, x: torch.Tensor, noise_level: torch.Tensor | None = None) -> torch.Tensor:
        features = x
        if self.noise_level_input:
            if noise_level is None:
                raise ValueError("this network needs a noise_level map (N x 1 x H x W)")
            features = torch.cat([x, noise_level.expand(-1, 1, x.shape[2], x.shape[3])], dim=1)
        h = self.head(features)
        skips = []
        for encoder, down in zip(self.encoders, self.downs, strict=True):
            h = encoder(h)
            skips.append(h)
            h = down(h)
        h = self.bottleneck(h)
        for decoder, up, skip in zip(
            reversed(self.decoders), reversed(self.ups), reversed(skips), strict=True
        ):
            h = decoder(up(h) + skip)
        return x - self.tail(h)


@register_model("unet-denoise-s")
def unet_denoise_s(**kwargs: object) -> NoiseLevelUNet:
    """~1M parameters, 3 levels (32/64/128): fast on CPU, noise-level aware."""
    return NoiseLevelUNet(widths=(32, 64, 128), blocks=2, **kwargs)  # type: ignore[arg-type]


@register_model("unet-unwatermark-s")
def unet_unwatermark_s(**kwargs: object) -> NoiseLevelUNet:
    """unet-denoise-s without the σ input: a blind residual U-Net that removes watermarks."""
    return unet_denoise_s(noise_level_input=False, **kwargs)
