"""Parameters declared once, as fields of a frozen dataclass, and rendered where they are needed.

A run option, an eval setting or a training knob is written down once: its name, type, default
and help text live on a dataclass field (:func:`option`). From that one declaration come

- the command line's flags (:func:`add_arguments`, :func:`from_namespace`),
- a function signature with per-parameter docs (:func:`signature_of`, :func:`args_docstring`),
  which is what Prefect reads to validate a flow's parameters and to draw a deployment's form.

So adding an option means adding a field; nothing else spells it out again.
"""

from __future__ import annotations

import argparse
import dataclasses
import inspect
import types
import typing
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")
_SCALARS = (str, int, float, Path)


def option(
    help: str,
    default: Any = dataclasses.MISSING,
    *,
    choices: Sequence[Any] | None = None,
    positional: bool = False,
    flag: str | None = None,
    metavar: str | None = None,
) -> Any:
    """A dataclass field that is also a command-line option and a documented parameter.

    ``positional`` makes it a positional argument on the command line; ``flag`` overrides the
    flag name (default: ``--field-name``). Booleans become ``--name`` switches, or
    ``--name/--no-name`` when they default to True.
    """
    metadata = {
        "help": help,
        "choices": tuple(choices) if choices is not None else None,
        "positional": positional,
        "flag": flag,
        "metavar": metavar,
    }
    return dataclasses.field(default=default, metadata=metadata)


def _fields(cls: type) -> list[tuple[dataclasses.Field[Any], Any]]:
    """(field, resolved type) of every declared option, in declaration order."""
    hints = typing.get_type_hints(cls)
    return [(f, hints[f.name]) for f in dataclasses.fields(cls) if "help" in f.metadata]


def _scalar(annotation: Any) -> type:
    """``int | None`` -> int; the one concrete type argparse converts strings to."""
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        concrete = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(concrete) == 1:
            return _scalar(concrete[0])
    if annotation in _SCALARS or annotation is bool:
        return typing.cast(type, annotation)
    if isinstance(annotation, type) and issubclass(annotation, str):  # str enums
        return str
    raise TypeError(f"no command-line form for a parameter of type {annotation!r}")


def flag_of(cls: type, name: str) -> str:
    """The command-line flag of option ``name`` of dataclass ``cls``, for messages."""
    return _flag({f.name: f for f in dataclasses.fields(cls)}[name])


def _flag(field: dataclasses.Field[Any]) -> str:
    return field.metadata["flag"] or "--" + field.name.replace("_", "-")


def add_arguments(
    parser: argparse.ArgumentParser, cls: type, *, only: Sequence[str] | None = None
) -> None:
    """Add one argument per option field of dataclass ``cls`` (or of those named in ``only``)."""
    for field, annotation in _fields(cls):
        if only is not None and field.name not in only:
            continue
        meta = field.metadata
        kind = _scalar(annotation)
        required = field.default is dataclasses.MISSING
        default = None if required else field.default
        choices = meta["choices"]
        kwargs: dict[str, Any] = {"help": meta["help"].replace("%", "%%")}  # argparse formats it
        if meta["metavar"]:
            kwargs["metavar"] = meta["metavar"]
        if meta["positional"]:
            parser.add_argument(field.name, type=kind, choices=choices, **kwargs)
            continue
        flag = _flag(field)
        if kind is bool:
            action = argparse.BooleanOptionalAction if default else "store_true"
            parser.add_argument(flag, dest=field.name, action=action, default=default, **kwargs)
            continue
        parser.add_argument(
            flag,
            dest=field.name,
            type=kind,
            choices=choices,
            default=default,
            required=required,
            **kwargs,
        )


def from_namespace(cls: type[T], args: argparse.Namespace, **given: Any) -> T:
    """Build ``cls`` from parsed arguments (the fields it declares), plus ``given`` values."""
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    return cls(**{k: v for k, v in vars(args).items() if k in names}, **given)


def signature_of(cls: type) -> inspect.Signature:
    """``cls``'s option fields as a function signature: positional, then required, then the rest.

    Every parameter can be given by keyword (positionally too, in this order), each annotated
    with its field's type, so a framework that reads signatures (Prefect) validates and
    documents them as if the function had been written out by hand.
    """
    fields = _fields(cls)

    def rank(field: dataclasses.Field[Any]) -> int:
        if field.metadata["positional"]:
            return 0
        return 1 if field.default is dataclasses.MISSING else 2

    ordered = sorted(fields, key=lambda pair: rank(pair[0]))  # stable: declaration order kept
    parameters = [
        inspect.Parameter(
            field.name,
            inspect.Parameter.POSITIONAL_OR_KEYWORD,
            default=inspect.Parameter.empty
            if field.default is dataclasses.MISSING
            else field.default,
            annotation=annotation,
        )
        for field, annotation in ordered
    ]
    return inspect.Signature(parameters)


def args_docstring(summary: str, cls: type) -> str:
    """A Google-style docstring whose ``Args:`` section is ``cls``'s help texts."""
    lines = [summary.strip(), "", "Args:"]
    lines += [f"    {field.name}: {field.metadata['help']}" for field, _ in _fields(cls)]
    return "\n".join(lines)
