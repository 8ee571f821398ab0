"""Trainable networks (torch). Importing this package registers every family."""

from aepipe.training.networks import (  # noqa: F401  (importing a family registers it)
    compression,
    contractive,
    denoising,
    guided_matte,
    inpaint,
    lapped_codec,
    segment,
    sparse,
    srnet,
    undercomplete,
    unet,
    vae,
    vqvae,
)
from aepipe.training.networks.registry import MODELS, create_model, model_kwargs, register_model

__all__ = ["MODELS", "create_model", "model_kwargs", "register_model"]
