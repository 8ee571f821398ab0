"""A small sub-pixel super-resolution network (EDSR-baseline body, ABPN-style anchor).

All convolutions run at low resolution; one PixelShuffle makes the output ``scale`` times
larger. The net learns only the residual over a nearest-neighbour upsampling of its input
(the "anchor"), so the convolutions only have to add the missing detail::

    x (LR) ──┬──────────────────────────────────────────── nearest ×s ──┐
             │                                                          ▼
             └─► head ─┬─► ResBlock × blocks ─► conv ─(+)─► conv ─► shuffle ×s ─(+)─► y (HR)
                       └──────────────────────────────────┘   (3·s² ch)

No normalisation and no attention: plain 3x3 convolutions, ReLU, PixelShuffle and a nearest
resize, which ONNX Runtime runs fast on CPU. The receptive radius is ``2 * blocks + 3`` LR
pixels (11 by default); with the runtime's 16-pixel tile overlap, tiled and whole-image outputs
differ by ~1e-6.
"""

from __future__ import annotations

import torch
from torch import nn

from aepipe.training.networks.registry import register_model
from aepipe.training.networks.unet import ResBlock


class SRNet(nn.Module):
    """``x`` (N x 3 x H x W) -> N x 3 x (scale·H) x (scale·W); any H, W."""

    in_channels = 3
    noise_level_input = False
    pad_multiple = 1

    def __init__(self, scale: int, channels: int = 48, blocks: int = 4) -> None:
        super().__init__()
        self.scale = scale
        self.head = nn.Conv2d(self.in_channels, channels, 3, padding=1)
        self.body = nn.Sequential(
            *(ResBlock(channels) for _ in range(blocks)),
            nn.Conv2d(channels, channels, 3, padding=1),
        )
        self.upsample = nn.Sequential(
            nn.Conv2d(channels, self.in_channels * scale**2, 3, padding=1),
            nn.PixelShuffle(scale),
        )
        self.anchor = nn.Upsample(scale_factor=scale, mode="nearest")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = self.head(x)
        return self.upsample(features + self.body(features)) + self.anchor(x)


@register_model("sr-x2-srnet")
def srnet_x2(**kwargs: object) -> SRNet:
    """~194K parameters; ~193K multiply-adds per LR pixel (~48K per output pixel)."""
    return SRNet(scale=2, **kwargs)  # type: ignore[arg-type]


@register_model("sr-x4-srnet")
def srnet_x4(**kwargs: object) -> SRNet:
    """~209K parameters; ~209K multiply-adds per LR pixel (~13K per output pixel)."""
    return SRNet(scale=4, **kwargs)  # type: ignore[arg-type]
