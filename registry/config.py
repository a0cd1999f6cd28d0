"""Config dataclasses from ``--set key=value`` pairs, with errors that list the valid fields."""

from __future__ import annotations

import dataclasses
import typing
from typing import Any

from .errors import BadConfig

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def config_fields(config_class) -> dict[str, tuple[type, Any]]:
    """``{name: (type, default)}`` for every field of a config dataclass."""
    hints = typing.get_type_hints(config_class)
    return {f.name: (hints[f.name], f.default) for f in dataclasses.fields(config_class)}


def field_choices(config_class) -> dict[str, tuple]:
    """``{name: allowed values}`` for the fields that declare them.

    A field declares its choices with a ``Literal[...]`` type or with
    ``field(default=..., metadata={"choices": (...)})``; forms offer them as a list (the
    dashboard's Train page) and :func:`build_config` refuses any other value.
    """
    hints = typing.get_type_hints(config_class)
    out = {}
    for f in dataclasses.fields(config_class):
        if "choices" in f.metadata:
            out[f.name] = tuple(f.metadata["choices"])
        elif typing.get_origin(hints[f.name]) is typing.Literal:
            out[f.name] = typing.get_args(hints[f.name])
    return out


def describe_fields(config_class) -> str:
    """``name=default (type)`` for every field, for error messages and ``--help``."""
    return ", ".join(f"{name}={default!r} ({getattr(kind, '__name__', kind)})"
                     for name, (kind, default) in config_fields(config_class).items())


def parse_value(key: str, text: str, kind) -> Any:
    """Convert ``text`` to the field type ``kind`` (bool, int, float or str)."""
    origin = typing.get_origin(kind)
    if origin is typing.Union or origin is getattr(__import__("types"), "UnionType", None):
        options = [k for k in typing.get_args(kind) if k is not type(None)]
        if text.lower() in ("none", "null"):
            return None
        kind = options[0]
    if typing.get_origin(kind) is typing.Literal:  # parsed as the type of its values
        kind = type(typing.get_args(kind)[0])
    try:
        if kind is bool:
            if text.lower() in _TRUE:
                return True
            if text.lower() in _FALSE:
                return False
            raise ValueError
        if kind is int:
            return int(text)
        if kind is float:
            value = float(text)
            if value != value or value in (float("inf"), float("-inf")):
                raise ValueError
            return value
        if kind is str:
            return text
    except ValueError:
        raise BadConfig(f"--set {key}={text!r}: expected {kind.__name__}") from None
    raise BadConfig(f"--set {key}: fields of type {kind} cannot be set from the command line")


def parse_overrides(pairs) -> dict[str, str]:
    """``["a=1", "b=x"]`` -> ``{"a": "1", "b": "x"}``; a pair without ``=`` is an error."""
    out = {}
    for pair in pairs or ():
        key, sep, value = str(pair).partition("=")
        if not sep or not key.strip():
            raise BadConfig(f"--set expects key=value, got {pair!r}")
        out[key.strip()] = value.strip()
    return out


def build_config(config_class, overrides: dict[str, Any] | None = None):
    """An instance of ``config_class`` with ``overrides`` applied (strings are parsed).

    Values that are already of the right type (from a stored JSON config) pass through.
    The config's own ``validate()``, where it has one, runs last.
    """
    fields = config_fields(config_class)
    values = {}
    for key, value in (overrides or {}).items():
        if key not in fields:
            raise BadConfig(f"unknown config key {key!r} for {config_class.__name__}; "
                            f"fields: {describe_fields(config_class)}")
        values[key] = parse_value(key, value, fields[key][0]) if isinstance(value, str) else value
    choices = field_choices(config_class)
    for key, value in values.items():
        if key in choices and value not in choices[key]:
            raise BadConfig(f"--set {key}={value!r}: must be one of "
                            f"{', '.join(map(str, choices[key]))}")
    config = config_class(**values)
    _check_positive(config)
    if hasattr(config, "validate"):
        config.validate()
    return config


def _check_positive(config) -> None:
    for name in ("batch_size", "lr"):
        value = getattr(config, name, None)
        if value is not None and value <= 0:
            raise BadConfig(f"--set {name}={value}: must be positive")


def config_to_json(config) -> dict:
    """A plain dict of the config's fields (JSON-serializable)."""
    return dataclasses.asdict(config)
