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

from aepipe.training.networks.losses import LossTerms, emphasised_l1, emphasised_mean
from aepipe.training.networks.registry import register_model


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


class UNet(nn.Module):
    """head, encoders, bottleneck, decoders with added skips, tail: the U-Net proper.

    Input height and width must be multiples of ``2 ** (len(widths) - 1)``
    (``pad_multiple``); the runtime pads to it.
    """

    def __init__(
        self, in_channels: int, out_channels: int, widths: tuple[int, ...], blocks: int
    ) -> None:
        super().__init__()
        self.pad_multiple = 2 ** (len(widths) - 1)
        self.head = nn.Conv2d(in_channels, widths[0], 3, padding=1)
        self.encoders = nn.ModuleList(_stage(w, blocks) for w in widths[:-1])
        self.downs = nn.ModuleList(
            nn.Conv2d(w, w_next, 2, stride=2) for w, w_next in itertools.pairwise(widths)
        )
        self.bottleneck = _stage(widths[-1], blocks)
        self.ups = nn.ModuleList(
            nn.ConvTranspose2d(w_next, w, 2, stride=2) for w, w_next in itertools.pairwise(widths)
        )
        self.decoders = nn.ModuleList(_stage(w, blocks) for w in widths[:-1])
        self.tail = nn.Conv2d(widths[0], out_channels, 3, padding=1)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
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
        return self.tail(h)


@register_model("denoise-unet-s")
def unet_denoise_s(**kwargs: object) -> NoiseLevelUNet:
    """~1M parameters, 3 levels (32/64/128): fast on CPU, noise-level aware."""
    return NoiseLevelUNet(widths=(32, 64, 128), blocks=2, **kwargs)  # type: ignore[arg-type]


class NoiseLevelUNet(UNet):
    """A residual U-Net taking ``(x, noise_level)``; returns the restored image."""

    def __init__(
        self,
        in_channels: int = 3,
        widths: tuple[int, ...] = (32, 64, 128),
        blocks: int = 2,
        noise_level_input: bool = True,
    ) -> None:
        super().__init__(in_channels + noise_level_input, in_channels, widths, blocks)
        self.noise_level_input = noise_level_input

    def forward(self, x: torch.Tensor, noise_level: torch.Tensor | None = None) -> torch.Tensor:
        features = x
        if self.noise_level_input:
            if noise_level is None:
                raise ValueError("this network needs a noise_level map (N x 1 x H x W)")
            features = torch.cat([x, noise_level.expand(-1, 1, x.shape[2], x.shape[3])], dim=1)
        return x - super().forward(features)


class WatermarkMatteUNet(UNet):
    """A watermark remover that estimates the mark's matte and inverts the blend.

    A visible mark is alpha-blended, ``y = (1 - a) * x + a * c``, so knowing the alpha ``a`` and
    colour ``c`` of each pixel gives the photo back exactly: ``x = (y - a * c) / (1 - a)``.
    The U-Net estimates them, plus a residual ``r`` for what inversion cannot recover (nearly
    opaque strokes, where 1 / (1 - a) amplifies every error)::

        y ─┬──────────────────────────────────► (y − a·c) / (1 − a) + a·r ─► x_hat
           └─ U-Net ─► tail ─┬─ a = a_max·sigmoid ──────▲─────────▲─────▲
                             ├─ c = sigmoid ────────────┘         │     │
                             └─ r ────────────────────────────────┴─────┘

    Where it sees no mark, ``a`` is ~0 and the pixel passes through unchanged: unmarked
    regions cannot be repainted, which a plain residual U-Net did. It trains on the true alpha
    as well as the clean image (``target_alpha`` from the ``Watermark`` degradation).
    """

    in_channels = 3  # the marked image

    def __init__(
        self,
        widths: tuple[int, ...] = (32, 64, 128),
        blocks: int = 2,
        max_alpha: float = 0.95,
        marked_weight: float = 1.0,
    ) -> None:
        super().__init__(self.in_channels, 7, widths, blocks)  # alpha logit, colour, residual
        self.max_alpha = max_alpha
        self.marked_weight = marked_weight  # marked pixels weigh 1 + this in the losses
        # Training starts at the identity, give or take 1/255: alpha ~0.006, colour 0.5, r = 0.
        nn.init.zeros_(self.tail.weight)
        self.tail.bias = nn.Parameter(torch.tensor([-5.0, 0, 0, 0, 0, 0, 0]))

    def matte(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Per-pixel alpha logit (N x 1 x H x W), colour and residual (N x 3 x H x W each)."""
        out = super().forward(x)
        return out[:, :1], torch.sigmoid(out[:, 1:4]), out[:, 4:]

    def unblend(
        self, x: torch.Tensor, logit: torch.Tensor, colour: torch.Tensor, residual: torch.Tensor
    ) -> torch.Tensor:
        """Invert the blend, then add the residual; the inversion is clamped to [0, 1], where
        photos live, so an alpha too high (1 / (1 - alpha) is up to 20) cannot blow up."""
        alpha = self.max_alpha * torch.sigmoid(logit)
        return ((x - alpha * colour) / (1 - alpha)).clamp(0, 1) + alpha * residual

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]  # same shape
        return self.unblend(x, *self.matte(x))

    def alpha_cross_entropy(self, logit: torch.Tensor, true_alpha: torch.Tensor) -> torch.Tensor:
        """Per-pixel cross-entropy of the alpha logit against the true alpha, as a share of
        ``max_alpha`` (the most the remover can say)."""
        target = (true_alpha / self.max_alpha).clamp(max=1)
        return nn.functional.binary_cross_entropy_with_logits(logit, target, reduction="none")

    def training_loss(
        self, inputs: dict[str, torch.Tensor], target: torch.Tensor
    ) -> tuple[torch.Tensor, LossTerms]:
        """L1 of the image plus cross-entropy of the alpha; marked pixels weigh more.

        Not much more: at 1 + 10, false alarms were cheap and the net learned to put an alpha
        of 0.1-0.25 on unmarked pixels, which repaints them.

        Cross-entropy on the logit, not L1 on the alpha: its gradient (alpha - target) does not
        vanish where the sigmoid saturates, as it does at the near-identity start.
        """
        x, true_alpha = inputs["x"], inputs["target_alpha"]
        alpha_logit, colour, residual = self.matte(x)
        marked = true_alpha > 0
        image_error = emphasised_l1(
            self.unblend(x, alpha_logit, colour, residual), target, marked, self.marked_weight
        )
        alpha_error = emphasised_mean(
            self.alpha_cross_entropy(alpha_logit, true_alpha), marked, self.marked_weight
        )
        terms = {"image_l1": image_error.item(), "alpha_bce": alpha_error.item()}
        return image_error + alpha_error, terms


@register_model("unwatermark-unet-s")
def unet_unwatermark_s(**kwargs: object) -> WatermarkMatteUNet:
    """The denoise-unet-s trunk (32/64/128) estimating a watermark's matte; ~1M parameters."""
    return WatermarkMatteUNet(widths=(32, 64, 128), blocks=2, **kwargs)  # type: ignore[arg-type]
