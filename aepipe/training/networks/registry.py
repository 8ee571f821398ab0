"""Registry of trainable networks by name (training side: imports torch).

The same name keys the ONNX file in the zoo, the CLI choice and the report rows, so a shipped
model can always be traced back to the code that defined it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TypeVar

from torch import nn

ModelFactory = Callable[..., nn.Module]
F = TypeVar("F", bound=ModelFactory)

MODELS: dict[str, ModelFactory] = {}


def register_model(name: str) -> Callable[[F], F]:
    """Decorator: make ``factory`` available as ``create_model(name)``."""

    def decorator(factory: F) -> F:
        if name in MODELS:
            raise ValueError(f"model {name!r} is registered twice")
        MODELS[name] = factory
        return factory

    return decorator


def create_model(name: str, **kwargs: object) -> nn.Module:
    """Build a registered network; unknown names list what exists."""
    try:
        factory = MODELS[name]
    except KeyError:
        raise KeyError(f"unknown model {name!r}; registered: {', '.join(sorted(MODELS))}") from None
    return factory(**kwargs)


def model_kwargs(model_args: str) -> dict[str, object]:
    """``--model-args`` (a JSON object) as keyword arguments; empty: the registered defaults."""
    kwargs = json.loads(model_args or "{}")
    if not isinstance(kwargs, dict):
        raise ValueError(f"--model-args must be a JSON object, got {model_args!r}")
    return kwargs
