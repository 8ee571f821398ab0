"""Inpainting: a U-Net that fills a hole from the pixels around it.

Input: the image with its hole blanked and the hole's mask as a fourth channel (N x 4 x H x W,
1 = hole); output: the image with the hole filled and every other pixel exactly the input's,
so a caller may paste it back without a seam. The skips and residual blocks give it a
receptive field of about 90 px: enough for the strokes of a watermark, not for large holes.
"""

from __future__ import annotations

import torch

from aepipe.training.networks.losses import LossTerms, emphasised_l1, masked_psnr
from aepipe.training.networks.registry import register_model
from aepipe.training.networks.unet import UNet


class InpaintUNet(UNet):
    in_channels = 4  # RGB with the hole blanked, and the hole

    def __init__(self, widths: tuple[int, ...] = (32, 64, 128), blocks: int = 2) -> None:
        super().__init__(4, 3, widths, blocks)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]  # 4 -> 3
        image, hole = x[:, :3], x[:, 3:]
        return image * (1 - hole) + super().forward(x).clamp(0, 1) * hole

    def training_loss(
        self, inputs: dict[str, torch.Tensor], target: torch.Tensor
    ) -> tuple[torch.Tensor, LossTerms]:
        """L1 of the filled image; only hole pixels can be wrong, so only they are counted."""
        hole = inputs["x"][:, 3:] > 0.5
        filled = self(inputs["x"])
        error = (filled - target).abs().sum() / (hole.sum() * 3).clamp(min=1)
        return error, {"hole_l1": error.item(), "l1": emphasised_l1(filled, target, hole, 0).item()}

    @torch.no_grad()
    def validation_metrics(
        self, inputs: dict[str, torch.Tensor], clean: torch.Tensor
    ) -> dict[str, float]:
        """PSNR inside the holes: of the fill, and of the mean colour around each hole."""
        hole = inputs["x"][:, 3:] > 0.5
        filled = self(inputs["x"])
        known = 1 - hole.float()
        around = (clean * known).sum(dim=(2, 3), keepdim=True) / known.sum(dim=(2, 3), keepdim=True)
        return {
            "val_hole_psnr": masked_psnr(filled, clean, hole),
            "val_hole_psnr_mean_colour": masked_psnr(around.expand_as(clean), clean, hole),
        }


@register_model("inpaint-unet-s")
def inpaint_unet_s(**kwargs: object) -> InpaintUNet:
    """The denoise-unet-s trunk (32/64/128) with a mask channel in; ~1M parameters."""
    return InpaintUNet(**kwargs)  # type: ignore[arg-type]
