"""Mark segmentation: a U-Net that says which pixels a visible watermark covers.

The first stage of "touch only what you detect" (issue 17): the remover may change a pixel
only where this network finds a mark, so its false alarms on unmarked photos are what the
user pays for. It trains on the wide watermark synthesis (many font families, logos,
opacities, outlines; half the patches unmarked) and on users' own masks, and outputs a
per-pixel probability (N x 1 x H x W, sigmoid applied inside the exported graph).
"""

from __future__ import annotations

import torch
from torch import nn

from aepipe.training.networks.losses import LossTerms
from aepipe.training.networks.registry import register_model
from aepipe.training.networks.unet import UNet

#: A pixel belongs to the mark when the mark's alpha there is above this: weaker edges move a
#: pixel by under 1 % of the colour difference, which no fill needs to touch.
MASK_ALPHA = 0.01


def target_mask(inputs: dict[str, torch.Tensor]) -> torch.Tensor:
    """N x 1 x H x W float mask: a given ``target_mask``, else the mark's alpha thresholded."""
    if "target_mask" in inputs:
        return (inputs["target_mask"] > 0.5).float()
    return (inputs["target_alpha"] > MASK_ALPHA).float()


class SegmentUNet(UNet):
    """The U-Net trunk with one output channel: the probability that a pixel is marked."""

    def __init__(self, widths: tuple[int, ...] = (32, 64, 128), blocks: int = 2) -> None:
        super().__init__(3, 1, widths, blocks)
        nn.init.zeros_(self.tail.weight)  # start at "nothing marked" (p ~ 0.05), as most pixels
        self.tail.bias = nn.Parameter(torch.tensor([-3.0]))

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]  # 1 channel
        return torch.sigmoid(self.logits(x))

    def training_loss(
        self, inputs: dict[str, torch.Tensor], target: torch.Tensor
    ) -> tuple[torch.Tensor, LossTerms]:
        """Binary cross-entropy plus a soft Dice over the batch.

        Cross-entropy alone lets the thin strokes of a small mark (under 1 % of the pixels)
        drown in the unmarked majority; Dice counts the mark as a whole, whatever its size.
        """
        mask = target_mask(inputs)
        logits = self.logits(inputs["x"])
        cross_entropy = nn.functional.binary_cross_entropy_with_logits(logits, mask)
        probability = torch.sigmoid(logits)
        overlap = (probability * mask).sum()
        dice = 1 - (2 * overlap + 1) / (probability.sum() + mask.sum() + 1)
        terms = {"bce": cross_entropy.item(), "dice": dice.item()}
        return cross_entropy + dice, terms

    @torch.no_grad()
    def validation_metrics(
        self, inputs: dict[str, torch.Tensor], clean: torch.Tensor
    ) -> dict[str, float]:
        """IoU of the 0.5-thresholded mask, and the share of unmarked pixels flagged."""
        mask = target_mask(inputs) > 0.5
        found = self(inputs["x"]) > 0.5
        union = (mask | found).sum().item()
        unmarked = (~mask).sum().item()
        return {
            "val_iou": (mask & found).sum().item() / union if union else 1.0,
            "val_false_alarm": (found & ~mask).sum().item() / unmarked if unmarked else 0.0,
        }


@register_model("mark-segment-unet-s")
def mark_segment_unet_s(**kwargs: object) -> SegmentUNet:
    """The trunk of ``unwatermark-unet-s`` (32/64/128, ~1M parameters), so it can start from
    the remover's own mark finder (``scripts/init_from_matte.py segmenter``): trained from scratch
    for 500 CPU steps it still predicted no mark at all."""
    return SegmentUNet(**kwargs)  # type: ignore[arg-type]
