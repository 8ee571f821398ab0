"""A codec that starts where linear coding ends: lapped transforms from block PCA, block-adaptive
Laplacian scales, and a learned deblocking filter. Trains on two CPU cores in hours.

The factorized-prior codec starts from noise and needs 10⁵–10⁶ GPU steps; on Kodak24 it stayed
behind JPEG. The best *linear* transform of 16 x 16 x 3 blocks (their PCA) with a uniform
quantiser and per-block scales already codes about as well as JPEG (``scripts/codec_design.py``
measured it), so this design starts there and lets training add what is non-linear::

    x ─► g_a: 32x32 conv, stride 16 (centre = PCA basis) ─► y ─► × gain[q] ─► round ─► ŷ
    ŷ ─► × inverse_gain[q] ─► g_s: 32x32 transposed conv (centre = PCA basisᵀ) ─► x_lin
    x_lin ─► + deblock(x_lin)  (a small residual CNN whose last layer starts at zero)  ─► x̂

The kernels are twice the block so training can grow overlapping (lapped) basis functions;
at step 0 the codec *is* block PCA. Entropy model, all in integers at run time: the latent's
channels (in PCA order) form :data:`GROUPS`; per block and group the encoder sends a *class*,
the group's RMS in quantiser steps on a half-octave scale, coded with a table chosen by the
class of the group before it (the bands' energies go together); each symbol is then coded as
a zero-mean Laplacian whose scale is learned per (rate, channel, class). Nothing the decoder
needs comes from a float computed at run time (CompressAI issue #279), so decode is
bit-exact on any machine and provider.

    loss = bits / pixels + λ[q] · D(x̂, x),   q drawn per step

where D is 255² · MSE, or 1 − MS-SSIM for the codec trained for MS-SSIM (``distortion``),
with additive uniform noise for the rate term and straight-through rounding for the decoder's
input, as in :mod:`aepipe.training.networks.compression`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from aepipe.metrics import psnr_from_mse
from aepipe.runtime.codec.priors import block_classes
from aepipe.training.networks.compression import Distortion, VariableRateCodec
from aepipe.training.networks.msssim import ms_ssim
from aepipe.training.networks.registry import register_model

BLOCK = 16
#: λ per rate point: CompressAI's ladders (qualities 1..5), ~0.25 to ~1 bpp here, for each
#: distortion the codec can be trained for.
LAMBDAS: dict[Distortion, tuple[float, ...]] = {
    "mse": (0.0018, 0.0035, 0.0067, 0.013, 0.025),
    "ms-ssim": (2.40, 4.58, 8.73, 16.64, 31.73),
}
#: 1 − MS-SSIM per unit of 255² · MSE of this codec's output on Kodak24 at its five rate points
#: (7.6e-4 to 8.1e-4, measured on the MSE-trained aec-lapped-s): converts an MS-SSIM λ to the
#: MSE λ that puts the first quantiser steps at the same rate. It is also why the two ladders
#: above give about the same bits.
MS_SSIM_PER_MSE = 7.8e-4
#: First channel of each group (PCA order); group 0 (the three block means) has no class.
GROUP_STARTS = (0, 3, 6, 12, 24, 48, 96, 160)
CLASSES = 16
#: A group's class is round(2 · log2(RMS in steps)) + CLASS_OFFSET, clipped to 0..CLASSES-1:
#: class 0 is an RMS below 2^-3 steps (all zeros, nearly free), class 15 above 2^4.5.
CLASS_OFFSET = 6
LIKELIHOOD_BOUND = 1e-9


def group_bounds(channels: int) -> list[tuple[int, int]]:
    """(start, end) channel ranges of the groups of a ``channels``-wide latent."""
    starts = [s for s in GROUP_STARTS if s < channels]
    return list(zip(starts, [*starts[1:], channels], strict=True))


def laplace_bin_probability(values: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """P(value - ½ < L <= value + ½) for a zero-mean Laplacian, from its tails (precise)."""
    magnitude = values.abs()
    near = 0.5 * torch.exp(-(magnitude - 0.5).abs() / scale)
    far = 0.5 * torch.exp(-(magnitude + 0.5) / scale)
    # A bin that holds 0 is 1 minus both tails; one that does not, the difference of one.
    return torch.where(magnitude < 0.5, 1 - near - far, near - far)


def image_blocks(images: Sequence[np.ndarray], limit: int = 200_000) -> np.ndarray:
    """The whole 16 x 16 blocks of uint8 RGB images as rows of 768 values in [0, 1], channel
    first (the layout of a conv kernel), at most ``limit`` of them (a fixed random subset)."""
    rows = []
    for image in images:
        x = image.astype(np.float64) / 255
        h, w = (x.shape[0] // BLOCK) * BLOCK, (x.shape[1] // BLOCK) * BLOCK
        tiles = x[:h, :w].reshape(h // BLOCK, BLOCK, w // BLOCK, BLOCK, 3)
        rows.append(tiles.transpose(0, 2, 4, 1, 3).reshape(-1, 3 * BLOCK * BLOCK))
    data = np.concatenate(rows)
    if len(data) > limit:
        data = data[np.random.default_rng(0).choice(len(data), limit, replace=False)]
    return data


def fit_block_pca(data: np.ndarray, channels: int) -> tuple[np.ndarray, np.ndarray]:
    """(basis C x 768, mean colour (3,)) of block rows from :func:`image_blocks`."""
    colour = data.reshape(len(data), 3, -1).mean(axis=(0, 2))
    centred = data - np.repeat(colour, BLOCK * BLOCK)
    _, vectors = np.linalg.eigh(centred.T @ centred / len(centred))
    basis = np.ascontiguousarray(vectors[:, ::-1][:, :channels].T)
    basis *= np.sign(basis.sum(axis=1, keepdims=True) + 1e-12)  # a stable sign per component
    return basis, colour


class LappedCompressor(VariableRateCodec):
    """PCA-initialised lapped transforms, a deblocking filter, block-adaptive Laplacian rates."""

    g_a: nn.Conv2d

    def __init__(
        self,
        latent: int = 192,
        filter_channels: int = 32,
        distortion: Distortion = "mse",
        lambdas: tuple[float, ...] | None = None,
    ) -> None:
        super().__init__()
        self.in_channels = 3
        self.pad_multiple = BLOCK
        self.distortion = distortion
        self.lambdas = lambdas or LAMBDAS[distortion]
        self.bounds = group_bounds(latent)
        kernel, pad = 2 * BLOCK, BLOCK // 2
        self.g_a = nn.Conv2d(3, latent, kernel, stride=BLOCK, padding=pad)
        self.g_s_linear = nn.ConvTranspose2d(latent, 3, kernel, stride=BLOCK, padding=pad)
        width = filter_channels
        last = nn.Conv2d(width, 3, 3, padding=1)
        for parameter in last.parameters():  # the filter starts as the identity: the codec as PCA
            nn.init.zeros_(parameter)
        self.deblock = nn.Sequential(
            nn.Conv2d(3, width, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(width, width, 3, padding=2, dilation=2),
            nn.ReLU(),
            nn.Conv2d(width, width, 3, padding=4, dilation=4),
            nn.ReLU(),
            nn.Conv2d(width, width, 3, padding=1),
            nn.ReLU(),
            last,
        )
        # Quantiser steps from the MSE λ (high-rate theory for an orthonormal transform):
        # Δ = sqrt(36 / (2 ln 2 · λ · 255²)); gain = 1 / Δ.
        per_mse = MS_SSIM_PER_MSE if distortion == "ms-ssim" else 1.0
        mse_lambdas = [lam * per_mse for lam in self.lambdas]
        steps = torch.tensor([(36 / (2 * np.log(2) * lam * 255**2)) ** 0.5 for lam in mse_lambdas])
        steps = steps.float()
        self.log_gain = nn.Parameter((-steps.log()).unsqueeze(1).repeat(1, latent))
        self.log_inverse_gain = nn.Parameter(steps.log().unsqueeze(1).repeat(1, latent))
        # Laplacian scale per (rate, channel, class): start at the class's RMS / √2.
        rms = 2.0 ** ((torch.arange(CLASSES) - CLASS_OFFSET) / 2)
        log_scale = (rms / 2**0.5).clamp_min(0.05).log()
        rates = len(self.lambdas)
        self.log_scale = nn.Parameter(log_scale.repeat(rates, latent, 1))
        self.log_scale_static = nn.Parameter(torch.full((rates, latent), 2.0))
        # Class logits per (rate, group, class of the group before).
        groups = len(self.bounds)
        self.class_logits = nn.Parameter(torch.zeros(rates, groups, CLASSES, CLASSES))

    @property
    def latent(self) -> int:
        return int(self.log_gain.shape[1])

    def initialise_from(self, images: Sequence[np.ndarray]) -> None:
        """Set both transforms to the block PCA of ``images``: the codec starts linear-optimal."""
        blocks = image_blocks(images)
        basis, colour = fit_block_pca(blocks, self.latent)
        kernel = torch.zeros_like(self.g_a.weight)  # (C, 3, 32, 32)
        centre = slice(BLOCK // 2, BLOCK // 2 + BLOCK)
        kernel[:, :, centre, centre] = torch.from_numpy(basis).float().view(-1, 3, BLOCK, BLOCK)
        colour_t = torch.from_numpy(colour).float()
        with torch.no_grad():
            self.g_a.weight.copy_(kernel)
            self.g_s_linear.weight.copy_(kernel)  # (C, 3, 32, 32) is also the transpose's shape
            for bias, value in (
                (self.g_a.bias, -(kernel.sum(dim=(2, 3)) * colour_t).sum(dim=1)),
                (self.g_s_linear.bias, colour_t),
            ):
                assert bias is not None  # both layers are built with a bias
                bias.copy_(value)
        centred = blocks - np.repeat(colour, BLOCK * BLOCK)
        self._initialise_entropy_model(torch.from_numpy(centred @ basis.T).float())

    @torch.no_grad()
    def _initialise_entropy_model(self, latents: torch.Tensor) -> None:
        """Scales and class tables fitted to the PCA latents (N, C) at every rate point: the
        entropy model starts where a counted linear codec is, not at uniform guesses."""
        for rate in range(len(self.lambdas)):
            gain, _ = self.gains(rate)
            scaled = latents * gain.view(1, -1)
            classes = self.block_classes(scaled[:, :, None, None])[:, :, 0, 0]
            magnitude = scaled.abs()
            self.log_scale_static[rate].copy_(magnitude.mean(0).clamp_min(0.05).log())
            for group, (start, end) in enumerate(self.bounds[1:], start=1):
                in_class = classes[:, group]
                counts = torch.bincount(in_class, minlength=CLASSES).float()
                for channel in range(start, end):
                    sums = torch.zeros(CLASSES).index_add_(0, in_class, magnitude[:, channel])
                    prior = magnitude[:, channel].mean()
                    shrunk = (sums + 5 * prior) / (counts + 5)  # few blocks: near the mean
                    self.log_scale[rate, channel].copy_(shrunk.clamp_min(0.05).log())
                pairs = classes[:, group - 1] * CLASSES + classes[:, group]
                joint = torch.bincount(pairs, minlength=CLASSES * CLASSES).float()
                self.class_logits[rate, group].copy_((joint.view(CLASSES, CLASSES) + 0.1).log())

    def g_s(self, latents: torch.Tensor) -> torch.Tensor:
        """Dequantised latents -> image: the linear synthesis, then the deblocking residual."""
        linear = self.g_s_linear(latents)
        return linear + self.deblock(linear)

    def block_classes(self, scaled: torch.Tensor) -> torch.Tensor:
        """(N, G, h, w) int64 classes of latents in steps, as the run-time encoder sends them."""
        starts = [start for start, _ in self.bounds]
        array = scaled.detach().cpu().numpy()
        classes = block_classes(array, starts, CLASS_OFFSET, CLASSES)
        return torch.from_numpy(classes).long().to(scaled.device)

    def scales(self, rate: int, classes: torch.Tensor) -> torch.Tensor:
        """(N, C, h, w) Laplacian scales for the symbols, from their blocks' classes."""
        parts = []
        for group, (start, end) in enumerate(self.bounds):
            if group == 0:
                scale = self.log_scale_static[rate, start:end].exp().view(1, -1, 1, 1)
                parts.append(scale.expand(classes.shape[0], -1, *classes.shape[2:]))
                continue
            table = self.log_scale[rate, start:end].exp()  # (channels, CLASSES)
            index = classes[:, group]  # (N, h, w)
            parts.append(table[:, index].permute(1, 0, 2, 3))
        return torch.cat(parts, dim=1)

    def class_bits(self, rate: int, classes: torch.Tensor) -> torch.Tensor:
        """Total bits of the classes, each group's table chosen by the previous group's class."""
        log_p = F.log_softmax(self.class_logits[rate], dim=-1)  # (G, prev, class)
        bits = classes.new_zeros((), dtype=torch.float32)
        for group in range(1, len(self.bounds)):
            previous = classes[:, group - 1]
            bits = bits - log_p[group, previous, classes[:, group]].sum() / np.log(2)
        return bits

    def bits(self, scaled: torch.Tensor, values: torch.Tensor, rate: int) -> torch.Tensor:
        """Bits of ``values`` (noisy or rounded latents in steps) plus their blocks' classes,
        the classes taken from the unrounded ``scaled`` as the encoder takes them."""
        classes = self.block_classes(scaled)
        p = laplace_bin_probability(values, self.scales(rate, classes))
        return -torch.log2(p.clamp_min(LIKELIHOOD_BOUND)).sum() + self.class_bits(rate, classes)

    @torch.no_grad()
    def validation_metrics(
        self, inputs: dict[str, torch.Tensor], clean: torch.Tensor
    ) -> dict[str, float]:
        """Per rate point: bits per pixel of the rounded latents (ideal code length), PSNR and
        MS-SSIM."""
        metrics: dict[str, float] = {}
        pixels = clean.shape[0] * clean.shape[2] * clean.shape[3]
        latents = self.g_a(inputs["x"])
        for rate in range(len(self.lambdas)):
            gain, inverse = self.gains(rate)
            scaled = latents * gain
            rounded = torch.round(scaled)
            x_hat = self.g_s(rounded * inverse).clamp(0, 1)
            metrics[f"val_bpp_{rate}"] = (self.bits(scaled, rounded, rate) / pixels).item()
            metrics[f"val_psnr_{rate}"] = psnr_from_mse(F.mse_loss(x_hat, clean).item())
            metrics[f"val_ms_ssim_{rate}"] = ms_ssim(x_hat, clean).item()
        metrics["val_psnr"] = metrics[f"val_psnr_{len(self.lambdas) - 1}"]
        return metrics


@register_model("aec-lapped-s")
def aec_lapped_s(**kwargs: object) -> LappedCompressor:
    """192-channel latent per 16x16 block, a 32-channel deblocking filter, five rates;
    ``--model-args '{"distortion": "ms-ssim"}'`` trains it for MS-SSIM."""
    return LappedCompressor(**kwargs)  # type: ignore[arg-type]
