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

from aepipe.images.overlay import mixture_metric
from aepipe.training.networks.losses import LossTerms, masked_psnr
from aepipe.training.networks.registry import register_model
from aepipe.training.networks.unet import WatermarkMatteUNet


class GuidedMatteUNet(WatermarkMatteUNet):
    in_channels = 4  # the marked image, and the detector's mask (1 = may be marked)

    def __init__(self, *args: object, projected_weight: float = 0.0, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        # The refit (images/overlay) keeps only how far the output puts each pixel along its
        # mark's line: > 0 also trains on that (:func:`projected`), weighed this much.
        self.projected_weight = projected_weight

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        image, mask = x[:, :3], x[:, 3:]
        return image * (1 - mask) + self.unblend(image, *self.matte(x)) * mask

    def training_loss(
        self, inputs: dict[str, torch.Tensor], target: torch.Tensor
    ) -> tuple[torch.Tensor, LossTerms]:
        """L1 of the image and cross-entropy of the alpha, both over the masked pixels only:
        nothing outside the mask reaches the output; with ``projected_weight``, also L1 of
        what the refit would recover from the image on the mark's pixels."""
        x, true_alpha = inputs["x"], inputs["target_alpha"]
        image, mask = x[:, :3], x[:, 3:]
        alpha_logit, colour, residual = self.matte(x)
        restored = self.unblend(image, alpha_logit, colour, residual)
        area = mask.sum().clamp(min=1)
        image_error = ((restored - target).abs() * mask).sum() / (3 * area)
        alpha_error = (self.alpha_cross_entropy(alpha_logit, true_alpha) * mask).sum() / area
        terms = {"mask_l1": image_error.item(), "alpha_bce": alpha_error.item()}
        loss = image_error + alpha_error
        if self.projected_weight > 0:
            on_mark = mask * (true_alpha > MIN_PROJECTED_ALPHA)
            estimate = projected(restored, image, target, true_alpha)
            error = ((estimate - target).abs() * on_mark).sum() / (3 * on_mark.sum().clamp(min=1))
            terms["projected_l1"] = error.item()
            loss = loss + self.projected_weight * error
        return loss, terms

    @torch.no_grad()
    def validation_metrics(
        self, inputs: dict[str, torch.Tensor], clean: torch.Tensor
    ) -> dict[str, float]:
        """PSNR inside the masks: of the output, and of the marked input (what it gains); on
        the mark's pixels, of the output and of what the refit would recover from it."""
        x, alpha = inputs["x"], inputs["target_alpha"]
        mask = x[:, 3:] > 0.5
        restored = self(x)
        on_mark = mask & (alpha > MIN_PROJECTED_ALPHA)
        return {
            "val_mask_psnr": masked_psnr(restored, clean, mask),
            "val_mask_psnr_in": masked_psnr(x[:, :3], clean, mask),
            "val_projected_psnr": masked_psnr(
                projected(restored, x[:, :3], clean, alpha), clean, on_mark
            ),
            "val_output_psnr_on_mark": masked_psnr(restored, clean, on_mark),
        }


MIN_PROJECTED_ALPHA = 0.02  # fainter, a mark's line is too short to place a pixel on


def projected(
    guess: torch.Tensor, marked: torch.Tensor, clean: torch.Tensor, alpha: torch.Tensor
) -> torch.Tensor:
    """The photo the refit recovers from ``guess`` where the true mark is known. The refit
    places each pixel between the identity and a state of the mark's full opacity; here that
    state is the patch's highest alpha ``A`` in the pixel's own colour (the offset
    ``marked - (1 - alpha)·clean`` over ``alpha``), so a rim pixel truly lies ``alpha / A``
    along. The pixel is placed by projecting ``guess`` as ``overlay.unblend`` does (in
    ``overlay.mixture_metric``), then inverted. A guess that pushed every pixel to the
    state would be wrong on rims, as it would be at run time."""
    full = alpha.amax(dim=(2, 3), keepdim=True).clamp(min=MIN_PROJECTED_ALPHA)
    colour = (marked - (1 - alpha) * clean) / alpha.clamp(min=MIN_PROJECTED_ALPHA)
    offset = full * colour  # the full state shows (1 - full)·photo + offset
    step = offset - full * guess  # the full state's pixel, less the identity's, given the guess

    metric = torch.as_tensor(mixture_metric(guess.shape[1]), dtype=guess.dtype, device=guess.device)

    def inner(u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        return torch.einsum("nchw,cd,ndhw->nhw", u, metric, v).unsqueeze(1)

    along = inner(marked - guess, step) / inner(step, step).clamp(min=1e-6)
    share = along.clamp(0, 1)
    return ((marked - share * offset) / (1 - share * full)).clamp(0, 1)


@register_model("unwatermark-guided-unet-s")
def unwatermark_guided_unet_s(**kwargs: object) -> GuidedMatteUNet:
    """``unwatermark-unet-s`` with the mask as a fourth input channel; ~1M parameters."""
    return GuidedMatteUNet(widths=(32, 64, 128), blocks=2, **kwargs)  # type: ignore[arg-type]
