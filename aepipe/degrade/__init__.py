"""Degradations in numpy (no torch): shared by training (via torch wrappers) and evaluation.

Evaluation must degrade test images exactly as the benchmarks do, and training must see the
same degradation, so both import these functions rather than keeping two copies.
"""

from aepipe.degrade.noise import add_gaussian_noise, as_8bit, noisy_file
from aepipe.degrade.resize import imresize, modcrop
from aepipe.degrade.watermark import (
    HELDOUT_FONTS,
    HELDOUT_STYLE,
    TRAIN_FONTS,
    TRAIN_STYLE,
    WatermarkStyle,
    add_watermark,
    unseen_style,
    wide_train_style,
)

__all__ = [
    "HELDOUT_FONTS",
    "HELDOUT_STYLE",
    "TRAIN_FONTS",
    "TRAIN_STYLE",
    "WatermarkStyle",
    "add_gaussian_noise",
    "add_watermark",
    "as_8bit",
    "imresize",
    "modcrop",
    "noisy_file",
    "unseen_style",
    "wide_train_style",
]
