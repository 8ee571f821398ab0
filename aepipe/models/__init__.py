"""Trainable networks (torch). Importing this package registers every family."""

from aepipe.models import unet  # noqa: F401  (registers the U-Net families)
from aepipe.models.registry import MODELS, create_model, register_model

__all__ = ["MODELS", "create_model", "register_model"]
