"""A watermark remover told where the mark is: the matte U-Net with the detector's mask in.

The remover alone must both find a mark and undo it; inside the segmenter's mask most of its
error was the fill, not the search (docs/quality.md: 68 % of what was left). Given the mask as
a fourth channel it only has to estimate the matte there, and it learns that a masked pixel may
still be clean (the mask is grown, and detectors err)::

    (y, m) ─► WatermarkMatteUNet on 4 channels ─► unblend(y) ─┐
      │                                                       ▼
      └──────────────────────────────────────► y · (1 − m) + x̂ · m ─► output

Pixels outside the mask come back exactly, in the network itself, so an exported model is safe
to paste back whole. Trained on ``task_batches.guided_marks``: the wide marks with masks made
like the detector's (grown, with misses and false alarms).
"""

from __future__ import annotations

import torch

from aepipe.training.networks.losses import LossTerms, masked_psnr
from aepipe.training.networks.registry import register_model
from aepipe.training.networks.unet import WatermarkMatteUNet


class GuidedMatteUNet(WatermarkMatteUNet):
    in_channels = 4  # the marked image, and the detector's mask (1 = may be marked)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        image, mask = x[:, :3], x[:, 3:]
        return image * (1 - mask) + self.unblend(image, *self.matte(x)) * mask

    def training_loss(
        self, inputs: dict[str, torch.Tensor], target: torch.Tensor
    ) -> tuple[torch.Tensor, LossTerms]:
        """L1 of the image and cross-entropy of the alpha, both over the masked pixels only:
        nothing outside the mask reaches the output."""
        x, true_alpha = inputs["x"], inputs["target_alpha"]
        image, mask = x[:, :3], x[:, 3:]
        alpha_logit, colour, residual = self.matte(x)
        restored = self.unblend(image, alpha_logit, colour, residual)
        area = mask.sum().clamp(min=1)
        image_error = ((restored - target).abs() * mask).sum() / (3 * area)
        alpha_error = (self.alpha_cross_entropy(alpha_logit, true_alpha) * mask).sum() / area
        terms = {"mask_l1": image_error.item(), "alpha_bce": alpha_error.item()}
        return image_error + alpha_error, terms

    @torch.no_grad()
    def validation_metrics(
        self, inputs: dict[str, torch.Tensor], clean: torch.Tensor
    ) -> dict[str, float]:
        """PSNR inside the masks: of the output, and of the marked input (what it gains)."""
        x = inputs["x"]
        mask = x[:, 3:] > 0.5
        return {
            "val_mask_psnr": masked_psnr(self(x), clean, mask),
            "val_mask_psnr_in": masked_psnr(x[:, :3], clean, mask),
        }


@register_model("unwatermark-guided-unet-s")
def unwatermark_guided_unet_s(**kwargs: object) -> GuidedMatteUNet:
    """``unwatermark-unet-s`` with the mask as a fourth input channel; ~1M parameters."""
    return GuidedMatteUNet(widths=(32, 64, 128), blocks=2, **kwargs)  # type: ignore[arg-type]
