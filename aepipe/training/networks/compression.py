"""Compressive autoencoder: Ballé et al. 2017/2018 factorized prior, one model for several rates.

Ballé, Laparra & Simoncelli 2017, "End-to-end optimized image compression"; the factorized
density of Ballé et al. 2018 (appendix 6.1); per-rate gain vectors from Cui et al. 2021
("Asymmetric gained deep image compression") so one network serves every rate point::

    x ──┤g_a├── y ──× gain[q] ──► round ──► symbols ──► entropy coder (integer CDF tables)
                                                              │
    x_hat ◄──┤g_s├── × inverse_gain[q] ◄── symbols ◄──────────┘

    loss = bits / pixels  +  λ[q] · D(x_hat, x),   q drawn per step

with D = 255² · MSE, or 1 − MS-SSIM for a codec trained for MS-SSIM (``distortion``).

In training, rounding is replaced by additive uniform noise for the rate term (so it has a
gradient) and by straight-through rounding for the decoder's input (Minnen & Singh 2020),
which trains the decoder on the integers it will see. The density is learned once for ``y``;
rate ``q`` codes ``y · gain[q]`` whose bin probabilities are the density's CDF at the scaled
bin edges, so every rate gets exact tables from one learned prior. ``g_a`` and ``g_s`` are
exported as ONNX; gains and tables live in numpy at run time (``aepipe.runtime.codec``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Literal

import torch
from torch import nn
from torch.nn import functional as F

from aepipe.metrics import psnr_from_mse
from aepipe.training.networks.losses import LossTerms
from aepipe.training.networks.msssim import ms_ssim
from aepipe.training.networks.registry import register_model

#: λ per rate point, CompressAI's factorized-prior ladder (qualities 2..6): ~0.2 to ~1 bpp.
DEFAULT_LAMBDAS = (0.0035, 0.0067, 0.013, 0.025, 0.0483)
#: What λ trades bits against: 255² · MSE, or 1 − MS-SSIM.
Distortion = Literal["mse", "ms-ssim"]
LIKELIHOOD_BOUND = 1e-9
GDN_PEDESTAL = 2.0**-36


class GDN(nn.Module):
    """Generalised divisive normalisation: x_i / sqrt(β_i + Σ_j γ_ij x_j²) (inverse: times).

    β and γ are kept non-negative by squaring their parameters; γ is a 1x1 convolution, so
    the layer costs C² multiply-adds per pixel, small next to the 5x5 convolutions around it.
    """

    def __init__(self, channels: int, inverse: bool = False) -> None:
        super().__init__()
        self.inverse = inverse
        self.beta_root = nn.Parameter(torch.ones(channels))
        # Off-diagonal roots start just above 0, not at it: the gradient of root² vanishes
        # at 0, so zeros would switch the cross-channel terms off for good (CompressAI's
        # pedestal plays the same part).
        self.gamma_root = nn.Parameter(torch.sqrt(0.1 * torch.eye(channels) + GDN_PEDESTAL))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        channels = x.shape[1]
        beta = self.beta_root.pow(2) + 1e-6
        gamma = self.gamma_root.pow(2).view(channels, channels, 1, 1)
        norm = torch.sqrt(F.conv2d(x * x, gamma, beta))
        return x * norm if self.inverse else x / norm


def _down(cin: int, cout: int) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 5, stride=2, padding=2)


def _up(cin: int, cout: int) -> nn.ConvTranspose2d:
    return nn.ConvTranspose2d(cin, cout, 5, stride=2, padding=2, output_padding=1)


def analysis(channels: int, latent: int) -> nn.Sequential:
    """g_a: four stride-2 5x5 convolutions with GDN, x (N,3,H,W) -> y (N,latent,H/16,W/16)."""
    return nn.Sequential(
        _down(3, channels),
        GDN(channels),
        _down(channels, channels),
        GDN(channels),
        _down(channels, channels),
        GDN(channels),
        _down(channels, latent),
    )


def synthesis(channels: int, latent: int) -> nn.Sequential:
    """g_s: the mirror of :func:`analysis` with inverse GDN."""
    return nn.Sequential(
        _up(latent, channels),
        GDN(channels, inverse=True),
        _up(channels, channels),
        GDN(channels, inverse=True),
        _up(channels, channels),
        GDN(channels, inverse=True),
        _up(channels, 3),
    )


class FactorizedDensity(nn.Module):
    """A learned univariate CDF per channel (Ballé et al. 2018, appendix 6.1).

    ``cdf_logits(v)`` maps values (C, K) to the logits of their CDF through a small monotone
    network per channel: softplus'd matrices keep it increasing, tanh gates add flexibility.
    """

    def __init__(self, channels: int, filters: tuple[int, ...] = (3, 3, 3), init_scale: float = 10):
        super().__init__()
        dims = (1, *filters, 1)
        scale = init_scale ** (1 / (len(filters) + 1))
        self.matrices = nn.ParameterList()
        self.biases = nn.ParameterList()
        self.factors = nn.ParameterList()
        for i in range(len(dims) - 1):
            init = math.log(math.expm1(1 / scale / dims[i + 1]))
            self.matrices.append(nn.Parameter(torch.full((channels, dims[i + 1], dims[i]), init)))
            self.biases.append(nn.Parameter(torch.rand(channels, dims[i + 1], 1) - 0.5))
            if i < len(dims) - 2:
                self.factors.append(nn.Parameter(torch.zeros(channels, dims[i + 1], 1)))

    def cdf_logits(self, values: torch.Tensor) -> torch.Tensor:
        """values (C, K) -> logits (C, K) of P(y_c <= value)."""
        h = values.unsqueeze(1)
        for i, (matrix, bias) in enumerate(zip(self.matrices, self.biases, strict=True)):
            h = torch.matmul(F.softplus(matrix), h) + bias
            if i < len(self.factors):
                h = h + torch.tanh(self.factors[i]) * torch.tanh(h)
        return h.squeeze(1)

    def bin_probability(self, lower: torch.Tensor, upper: torch.Tensor) -> torch.Tensor:
        """P(lower < y_c <= upper) for (C, K) bounds, computed on the side where it is precise."""
        low, up = self.cdf_logits(lower), self.cdf_logits(upper)
        sign = -torch.sign(low + up).detach()
        return torch.abs(torch.sigmoid(sign * up) - torch.sigmoid(sign * low))


class VariableRateCodec(nn.Module):
    """What the compressive autoencoders share: ``g_a``/``g_s``, one gain vector per rate
    point, and the R + λ·D objective; a subclass says how many bits its latents cost."""

    lambdas: tuple[float, ...]
    distortion: Distortion = "mse"
    pad_multiple: int  # the transforms' stride: inputs are padded to a multiple of it
    log_gain: nn.Parameter  # (rates, C)
    log_inverse_gain: nn.Parameter  # (rates, C)
    g_a: Callable[[torch.Tensor], torch.Tensor]
    g_s: Callable[[torch.Tensor], torch.Tensor]

    def gains(self, rate: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(gain, inverse gain) of rate point ``rate``, shaped (1, C, 1, 1)."""
        view = (1, -1, 1, 1)
        return self.log_gain[rate].exp().view(view), self.log_inverse_gain[rate].exp().view(view)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Rounded round trip at the highest rate: what validation and ONNX parity check."""
        gain, inverse = self.gains(len(self.lambdas) - 1)
        return self.g_s(torch.round(self.g_a(x) * gain) * inverse)

    def bits(self, scaled: torch.Tensor, values: torch.Tensor, rate: int) -> torch.Tensor:
        """Total bits of ``values`` (noisy or rounded ``scaled`` latents) at rate ``rate``."""
        raise NotImplementedError

    def training_loss(
        self, inputs: dict[str, torch.Tensor], target: torch.Tensor
    ) -> tuple[torch.Tensor, LossTerms]:
        """R + λ·D at a rate point drawn for this step."""
        rate = int(torch.randint(len(self.lambdas), ()).item())
        gain, inverse = self.gains(rate)
        scaled = self.g_a(inputs["x"]) * gain
        noisy = scaled + torch.empty_like(scaled).uniform_(-0.5, 0.5)
        rounded = scaled + (torch.round(scaled) - scaled).detach()
        x_hat = self.g_s(rounded * inverse)
        pixels = target.shape[0] * target.shape[2] * target.shape[3]
        bpp = self.bits(scaled, noisy, rate) / pixels
        mse = F.mse_loss(x_hat, target)
        terms = {"bpp": bpp.item(), "psnr": psnr_from_mse(mse.item())}
        if self.distortion == "ms-ssim":
            similarity = ms_ssim(x_hat, target)
            terms["ms_ssim"] = similarity.item()
            distortion = 1 - similarity
        else:
            distortion = 255**2 * mse
        return bpp + self.lambdas[rate] * distortion, terms


class FactorizedCompressor(VariableRateCodec):
    """g_a, g_s, the latent density and per-rate gains; ``forward`` runs the best rate."""

    g_a: nn.Sequential
    g_s: nn.Sequential

    def __init__(
        self,
        channels: int = 64,
        latent: int = 96,
        lambdas: tuple[float, ...] = DEFAULT_LAMBDAS,
    ) -> None:
        super().__init__()
        self.in_channels = 3
        self.pad_multiple = 16
        self.lambdas = lambdas
        self.g_a = analysis(channels, latent)
        self.g_s = synthesis(channels, latent)
        self.density = FactorizedDensity(latent)
        # log gains; rates start spread around 1 so the first steps already differ in rate.
        spread = torch.linspace(-1.0, 1.0, len(lambdas)).unsqueeze(1)
        self.log_gain = nn.Parameter(spread.repeat(1, latent))
        self.log_inverse_gain = nn.Parameter(-spread.repeat(1, latent))

    def likelihoods(self, scaled: torch.Tensor, gain: torch.Tensor) -> torch.Tensor:
        """P of each noisy value of ``y · gain`` under the density of y, per bin of width 1."""
        n, c, h, w = scaled.shape
        flat = scaled.permute(1, 0, 2, 3).reshape(c, -1)
        g = gain.view(c, 1)
        p = self.density.bin_probability((flat - 0.5) / g, (flat + 0.5) / g)
        return p.clamp_min(LIKELIHOOD_BOUND).reshape(c, n, h, w).permute(1, 0, 2, 3)

    def bits(self, scaled: torch.Tensor, values: torch.Tensor, rate: int) -> torch.Tensor:
        return -torch.log2(self.likelihoods(values, self.gains(rate)[0])).sum()

    def export_parts(self) -> tuple[nn.Module, nn.Module]:
        """(x -> y, scaled symbols -> x_hat): the encoder and decoder ONNX graphs."""
        return self.g_a, self.g_s


@register_model("aec-factorized-s")
def aec_factorized_s(**kwargs: object) -> FactorizedCompressor:
    """64 channels, a 96-channel latent at 1/16 resolution, five rates (~0.2–1 bpp)."""
    return FactorizedCompressor(**kwargs)  # type: ignore[arg-type]


@register_model("aec-factorized-m")
def aec_factorized_m(**kwargs: object) -> FactorizedCompressor:
    """CompressAI's size for its low and middle rates: 128 channels, a 192-channel latent."""
    return FactorizedCompressor(channels=128, latent=192, **kwargs)  # type: ignore[arg-type]
