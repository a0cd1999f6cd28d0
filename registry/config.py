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


def bounded(default, low, high, **kwargs):
    """A config field with a declared inclusive range: ``width: int = bounded(64, 1, 1024)``.

    Either end may be None (open). :func:`build_config` refuses a value outside it, naming the
    field and the range, and the dashboard's form uses it as the input's min and max. The same
    as ``field(default=default, metadata={"range": (low, high)})``; other ``field`` arguments
    (and metadata such as ``choices``) pass through.
    """
    metadata = {**kwargs.pop("metadata", {}), "range": (low, high)}
    return dataclasses.field(default=default, metadata=metadata, **kwargs)


# Ranges of the knobs most models share, for a field of that name that declares none itself:
# generous enough for a researcher on a GPU, but a width of 100000 or a batch of 10^6 is refused
# before a model is built (a shared dashboard bounds what a visitor may ask for).
CONVENTIONAL_RANGES = {
    "batch_size": (1, 8192), "lr": (1e-7, 10.0), "dropout": (0.0, 1.0),
    "hidden": (1, 2048), "channels": (1, 2048), "nr_filters": (1, 2048), "d_model": (1, 2048),
    "cft_hidden": (1, 2048), "layers": (1, 64), "nr_resnet": (1, 64), "heads": (1, 64),
    "latent_dim": (1, 1024), "code_dim": (1, 1024), "codebook_size": (1, 65536),
    "kernel": (1, 15), "first_kernel": (1, 15), "scales": (1, 8), "downsample": (1, 8),
    "nr_logistic_mix": (1, 100), "elbo_samples": (1, 10_000), "n_components": (1, 1000),
    "max_iter": (1, 100_000), "p": (1, 1000), "horizon": (1, 10_000), "d_steps": (1, 100),
    "kl_warmup_steps": (0, 10_000_000), "restart_after": (0, 1_000_000),
    "seed": (0, 2**32 - 1),
}


def field_ranges(config_class) -> dict[str, tuple]:
    """``{name: (low, high)}`` for every int and float field with a range: its own (see
    :func:`bounded`), or the conventional one of its name (:data:`CONVENTIONAL_RANGES`).

    Both ends are inclusive; either may be None (open). Forms use them as an input's min and max
    (the dashboard's Train page) and :func:`build_config` refuses a value outside them. Pure and
    cheap (a fraction of a millisecond; reads only the class), so a page may call it on every
    rerun.
    """
    hints = typing.get_type_hints(config_class)
    out = {}
    for f in dataclasses.fields(config_class):
        if "range" in f.metadata:
            out[f.name] = tuple(f.metadata["range"])
        elif f.name in CONVENTIONAL_RANGES and {int, float} & {hints[f.name],
                                                              *typing.get_args(hints[f.name])}:
            out[f.name] = CONVENTIONAL_RANGES[f.name]
    return out


# What a queued run may ask for on a shared (classroom) server: a budget of days is refused.
MAX_QUEUED_STEPS = 1_000_000
MAX_QUEUED_SECONDS = 6 * 3600


def check_budget_range(steps: int | None, seconds: float | None) -> None:
    """Refuse a queued run's budget past :data:`MAX_QUEUED_STEPS` or :data:`MAX_QUEUED_SECONDS`,
    naming the field and its range."""
    if steps is not None and steps > MAX_QUEUED_STEPS:
        raise BadConfig(f"--steps {steps}: a queued run may train at most "
                        f"{MAX_QUEUED_STEPS:,} steps")
    if seconds is not None and seconds > MAX_QUEUED_SECONDS:
        raise BadConfig(f"--seconds {seconds:g}: a queued run may train at most "
                        f"{MAX_QUEUED_SECONDS} s ({MAX_QUEUED_SECONDS // 3600} h)")


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


def build_config(config_class, overrides: dict[str, Any] | None = None, *,
                 stored: bool = False):
    """An instance of ``config_class`` with ``overrides`` applied (strings are parsed).

    Values that are already of the right type (from a stored JSON config) pass through.
    The config's own ``validate()`` runs, then the declared ranges (:func:`field_ranges`) — but
    not for a ``stored`` config (a run's own, rebuilt to load or resume it): a run trained
    before a range was declared still loads.
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
    if hasattr(config, "validate"):  # every ModelConfig has it; a plain dataclass may not
        config.validate()
    if not stored:  # after the model's own checks, whose words are its own
        _check_ranges(config_class, values)
    return config


def _check_ranges(config_class, values: dict) -> None:
    ranges = field_ranges(config_class)
    for key, value in values.items():
        if key in ranges and isinstance(value, (int, float)) and not isinstance(value, bool):
            low, high = ranges[key]
            if (low is not None and value < low) or (high is not None and value > high):
                raise BadConfig(f"--set {key}={value!r}: must be between "
                                f"{'-inf' if low is None else low} and "
                                f"{'inf' if high is None else high} ({key} of "
                                f"{config_class.__name__})")


def _check_positive(config) -> None:
    for name in ("batch_size", "lr"):
        value = getattr(config, name, None)
        if value is not None and value <= 0:
            raise BadConfig(f"--set {name}={value}: must be positive")


def config_to_json(config) -> dict:
    """A plain dict of the config's fields (JSON-serializable)."""
    return dataclasses.asdict(config)
