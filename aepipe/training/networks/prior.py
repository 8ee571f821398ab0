"""An autoregressive prior over a VQ-VAE's code map: what makes its samples images.

A VQ-VAE decoder turns a map of codebook indices into an image, but indices drawn
independently (uniformly, or by their frequencies) decode to texture soup: the structure is in
which codes follow which. As in van den Oord et al. 2017 (there a PixelCNN), a second model
learns p(i_t | i_<t) over the map in raster order; here a small causal transformer (GPT-style,
as nanoGPT writes one)::

    tokens  = [START, i_0, i_1, ..., i_{L-2}]          N x L int64
    logits  = head(blocks(embed(tokens) + position))   N x L x K: position t predicts i_t

Sampling feeds its own draws back, one position per call (L = 64 calls for an 8 x 8 map).
The attention mask is an explicit upper-triangular fill, so the graph exports to plain ONNX.
"""

from __future__ import annotations

import math

import torch
from torch import nn


class CausalSelfAttention(nn.Module):
    def __init__(self, width: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(width, 3 * width)
        self.out = nn.Linear(width, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, length, width = x.shape
        q, k, v = self.qkv(x).split(width, dim=2)
        q, k, v = (t.view(n, length, self.heads, -1).transpose(1, 2) for t in (q, k, v))
        scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
        future = torch.ones(length, length, dtype=torch.bool, device=x.device).triu(1)
        weights = scores.masked_fill(future, float("-inf")).softmax(dim=-1)
        return self.out((weights @ v).transpose(1, 2).reshape(n, length, width))


class Block(nn.Module):
    """Pre-norm transformer block: attention then a 4x MLP, each residual."""

    def __init__(self, width: int, heads: int) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(width)
        self.attention = CausalSelfAttention(width, heads)
        self.norm2 = nn.LayerNorm(width)
        self.mlp = nn.Sequential(
            nn.Linear(width, 4 * width), nn.GELU(), nn.Linear(4 * width, width)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attention(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class CodePrior(nn.Module):
    """``forward(tokens) -> logits``: tokens[:, 0] is ``START`` (= ``num_codes``), tokens[:, t]
    the code at position t - 1; logits[:, t] predict the code at position t."""

    def __init__(
        self,
        num_codes: int = 256,
        length: int = 64,
        width: int = 128,
        depth: int = 3,
        heads: int = 4,
    ) -> None:
        super().__init__()
        self.num_codes = num_codes
        self.length = length
        self.embed = nn.Embedding(num_codes + 1, width)  # + START
        self.position = nn.Parameter(0.02 * torch.randn(length, width))
        self.blocks = nn.Sequential(*(Block(width, heads) for _ in range(depth)))
        self.norm = nn.LayerNorm(width)
        self.head = nn.Linear(width, num_codes)

    @property
    def start(self) -> int:
        return self.num_codes

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        x = self.embed(tokens) + self.position[: tokens.shape[1]]
        return self.head(self.norm(self.blocks(x)))

    def tokens(self, codes: torch.Tensor) -> torch.Tensor:
        """N x L codes (raster order) -> the N x L input that predicts them (shifted right)."""
        start = torch.full_like(codes[:, :1], self.start)
        return torch.cat([start, codes[:, :-1]], dim=1)

    def loss(self, codes: torch.Tensor) -> torch.Tensor:
        """Mean negative log-likelihood per code, in nats."""
        logits = self(self.tokens(codes))
        return nn.functional.cross_entropy(logits.reshape(-1, self.num_codes), codes.reshape(-1))
