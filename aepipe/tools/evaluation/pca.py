"""PCA as the autoencoder's classical opponent: a linear autoencoder with the same code size.

A conv autoencoder that codes each ``block`` x ``block`` patch (its downsampling) into
``channels`` values has the same code size as PCA keeping ``channels`` components of every
``block`` x ``block`` x C patch. The patch reconstructions of all ``block²`` grid offsets are
averaged, so PCA, like the convolutional network, has no preferred grid. Numpy only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

#: Patches PCA is fitted on at most (a random subset beyond), to bound the SVD's memory.
MAX_FIT_PATCHES = 200_000


@dataclass(frozen=True)
class BlockPCA:
    block: int
    mean: np.ndarray  # (block * block * C,)
    components: np.ndarray  # (k, block * block * C), orthonormal rows

    @property
    def code_size(self) -> int:
        return int(self.components.shape[0])

    def reconstruct(self, image: np.ndarray) -> np.ndarray:
        """H x W x C float image -> its projection on the components, offsets averaged."""
        b = self.block
        height, width, channels = image.shape
        patches = _patches(image, b)  # (H-b+1, W-b+1, b*b*C)
        codes = (patches - self.mean) @ self.components.T
        rebuilt = (codes @ self.components + self.mean).reshape(
            height - b + 1, width - b + 1, b, b, channels
        )
        total = np.zeros((height, width, channels), dtype=np.float64)
        count = np.zeros((height, width, 1), dtype=np.float64)
        for dy in range(b):
            for dx in range(b):
                total[dy : dy + height - b + 1, dx : dx + width - b + 1] += rebuilt[:, :, dy, dx]
                count[dy : dy + height - b + 1, dx : dx + width - b + 1] += 1
        return (total / count).astype(np.float32)


def fit_block_pca(
    images: Sequence[np.ndarray], block: int, components: int, seed: int = 0
) -> BlockPCA:
    """PCA of every ``block`` x ``block`` patch of ``images`` (H x W x C float in [0, 1])."""
    rows = np.concatenate(
        [_patches(image, block).reshape(-1, block * block * image.shape[2]) for image in images]
    )
    if len(rows) > MAX_FIT_PATCHES:
        rows = rows[np.random.default_rng(seed).choice(len(rows), MAX_FIT_PATCHES, replace=False)]
    if components > rows.shape[1]:
        raise ValueError(f"{components} components of {rows.shape[1]}-value patches")
    mean = rows.mean(axis=0)
    _, _, basis = np.linalg.svd(rows - mean, full_matrices=False)
    return BlockPCA(block, mean.astype(np.float32), basis[:components].astype(np.float32))


def _patches(image: np.ndarray, block: int) -> np.ndarray:
    """(H-b+1, W-b+1, b*b*C) float32 view-copy of every b x b patch, in (row, col, c) order."""
    windows = sliding_window_view(image.astype(np.float32), (block, block), axis=(0, 1))
    # windows: (H-b+1, W-b+1, C, b, b) -> (H-b+1, W-b+1, b, b, C)
    return np.ascontiguousarray(windows.transpose(0, 1, 3, 4, 2)).reshape(
        windows.shape[0], windows.shape[1], -1
    )
