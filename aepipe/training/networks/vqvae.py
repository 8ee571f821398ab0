"""VQ-VAE: a discrete code, one codebook index per position of a 1/4-resolution map.

van den Oord, Vinyals & Kavukcuoglu 2017, "Neural Discrete Representation Learning"::

    x ──►──┤g_a├──► z_e ──► argmin_k ‖z_e − e_k‖ ──► indices ──► e[indices] = z_q ──┤g_s├──► x_hat
                     │                                                     │
                     └──── commitment β‖z_e − sg(z_q)‖² ◄──────────────────┘
    loss = mean (x_hat − x)² + β · mean (z_e − sg(z_q))²
    straight-through: the decoder's gradient at z_q is passed to z_e unchanged

The codebook follows exponential moving averages of the encoder outputs assigned to each code
(the paper's appendix A.1) instead of a gradient-trained codebook loss, because:

- the trainer drives every parameter with one AdamW (weight decay, cosine schedule); that decay
  would shrink a learned codebook and the schedule would freeze it late in training, while EMA
  buffers sit outside the optimiser and move at the rate ``decay`` alone;
- it converges faster and more stably (also the choice of VQ-VAE-2);
- the update runs only in ``training_loss`` of a model in train mode, under ``no_grad``:
  ``forward`` and the exported graphs stay pure, and the EMA buffers are in the state dict, so
  checkpoints resume exactly.

Exported separately (:func:`aepipe.training.export_parts.export_parts`): the encoder maps
x -> (indices, z_e) (discrete code and continuous embedding), the decoder indices -> x_hat
with the codebook lookup inside. ``training_loss`` logs the batch's code perplexity and the fraction
of codes used (:func:`code_usage`).
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


def code_usage(indices: torch.Tensor, num_codes: int) -> LossTerms:
    """Perplexity exp(H(p)) of the code histogram (1 to ``num_codes``) and the fraction used."""
    counts = torch.bincount(indices.flatten(), minlength=num_codes).float()
    p = counts / counts.sum()
    entropy = -torch.special.xlogy(p, p).sum()
    return {"perplexity": entropy.exp().item(), "codes_used": (counts > 0).float().mean().item()}


class EMAQuantizer(nn.Module):
    """Nearest-code lookup with a codebook kept as EMAs of assigned encoder outputs."""

    codebook: torch.Tensor  # K x D, what forward uses
    cluster_size: torch.Tensor  # K, EMA of how many encoder outputs each code was assigned
    code_sum: torch.Tensor  # K x D, EMA of the sum of those outputs

    def __init__(
        self, num_codes: int, code_dim: int, decay: float = 0.99, epsilon: float = 1e-5
    ) -> None:
        super().__init__()
        self.num_codes = num_codes
        self.decay = decay
        self.epsilon = epsilon
        # Used only until the first update, which restarts every code from encoder outputs.
        self.register_buffer("codebook", 0.1 * torch.randn(num_codes, code_dim))
        self.register_buffer("cluster_size", torch.zeros(num_codes))
        self.register_buffer("code_sum", torch.zeros(num_codes, code_dim))

    def nearest(self, z: torch.Tensor) -> torch.Tensor:
        """N x D x h x w -> N x h x w int64; ‖z‖² − 2 z·e + ‖e‖² as a 1x1 conv (exports to ONNX)."""
        distances = (
            z.pow(2).sum(dim=1, keepdim=True)
            - 2 * nn.functional.conv2d(z, self.codebook[:, :, None, None])
            + self.codebook.pow(2).sum(dim=1)[None, :, None, None]
        )
        return distances.argmin(dim=1)

    def lookup(self, indices: torch.Tensor) -> torch.Tensor:
        """N x h x w indices -> N x D x h x w code vectors."""
        return nn.functional.embedding(indices, self.codebook).permute(0, 3, 1, 2)

    @torch.no_grad()
    def update(self, z: torch.Tensor, indices: torch.Tensor) -> None:
        """EMA step of counts and sums, dead-code restart, codebook = sums / smoothed counts."""
        flat = z.permute(0, 2, 3, 1).reshape(-1, z.shape[1])
        onehot = nn.functional.one_hot(indices.flatten(), self.num_codes).type_as(flat)
        self.cluster_size.lerp_(onehot.sum(dim=0), 1 - self.decay)
        self.code_sum.lerp_(onehot.T @ flat, 1 - self.decay)
        self._restart_dead_codes(flat)
        total = self.cluster_size.sum()
        smoothed = (self.cluster_size + self.epsilon) / (total + self.num_codes * self.epsilon)
        self.codebook.copy_(self.code_sum / (smoothed * total)[:, None])

    def _restart_dead_codes(self, flat: torch.Tensor) -> None:
        """Codes chosen less than once per step (EMA) move to random encoder outputs.

        As in Dhariwal et al. 2020 (Jukebox): without it most codes are never chosen and the
        perplexity collapses; counts start at 0, so the first update also initialises the
        codebook from data, whatever the encoder's output scale.
        """
        dead = self.cluster_size < 1.0
        picks = torch.randint(flat.shape[0], (int(dead.sum()),), device=flat.device)
        self.cluster_size[dead] = 1.0
        self.code_sum[dead] = flat[picks]


class IndexEncoder(nn.Module):
    """Exported encoder: x -> (indices, z_e)."""

    def __init__(self, g_a: nn.Module, quantizer: EMAQuantizer) -> None:
        super().__init__()
        self.g_a = g_a
        self.quantizer = quantizer

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        z = self.g_a(x)
        return self.quantizer.nearest(z), z


class IndexDecoder(nn.Module):
    """Exported decoder: indices -> x_hat (codebook lookup inside)."""

    def __init__(self, quantizer: EMAQuantizer, g_s: nn.Module) -> None:
        super().__init__()
        self.quantizer = quantizer
        self.g_s = g_s

    def forward(self, indices: torch.Tensor) -> torch.Tensor:
        return self.g_s(self.quantizer.lookup(indices))


class VQVAE(nn.Module):
    """``forward(x) -> x_hat`` through the nearest codes; H, W multiples of ``pad_multiple``."""

    def __init__(
        self,
        in_channels: int = 3,
        widths: tuple[int, ...] = (16, 32),
        num_codes: int = 256,
        code_dim: int = 16,
        commitment: float = 0.25,
        decay: float = 0.99,
    ) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.pad_multiple = downsampling_factor(widths)
        self.commitment = commitment
        self.g_a = ConvEncoder(in_channels, widths, code_dim)
        self.quantizer = EMAQuantizer(num_codes, code_dim, decay)
        self.g_s = ConvDecoder(code_dim, widths, in_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.g_s(self.quantizer.lookup(self.quantizer.nearest(self.g_a(x))))

    def training_loss(
        self, inputs: dict[str, torch.Tensor], target: torch.Tensor
    ) -> tuple[torch.Tensor, LossTerms]:
        """Reconstruction + commitment; updates the codebook EMAs when in train mode."""
        z = self.g_a(inputs["x"])
        indices = self.quantizer.nearest(z)
        z_q = self.quantizer.lookup(indices)
        if self.training:
            self.quantizer.update(z.detach(), indices)
        reconstruction = nn.functional.mse_loss(self.g_s(z + (z_q - z).detach()), target)
        commitment = nn.functional.mse_loss(z, z_q.detach())
        terms = {
            "reconstruction_mse": reconstruction.item(),
            "commitment": commitment.item(),
            **code_usage(indices, self.quantizer.num_codes),
        }
        return reconstruction + self.commitment * commitment, terms

    def latent_inputs(
        self, n: int, height: int, width: int, generator: torch.Generator | None = None
    ) -> dict[str, torch.Tensor]:
        """Decoder inputs for ``n`` images of ``height`` x ``width``: uniform random indices."""
        h, w = latent_size(height, width, self.pad_multiple)
        num_codes = self.quantizer.num_codes
        return {"indices": torch.randint(num_codes, (n, h, w), generator=generator)}

    def export_parts(self) -> tuple[nn.Module, nn.Module]:
        """(x -> (indices, z_e), indices -> x_hat), sharing this model's weights."""
        return IndexEncoder(self.g_a, self.quantizer), IndexDecoder(self.quantizer, self.g_s)


@register_model("ae-vqvae")
def ae_vqvae(**kwargs: object) -> VQVAE:
    """16/32 channels, 256 codes of 16 dims, one per 4 x 4 patch; EMA decay 0.99, β = 0.25."""
    return VQVAE(**kwargs)  # type: ignore[arg-type]
