"""Declared config ranges (issue 18, part 4): a width of 100000, a batch of 10^6 or a budget of
days is refused before anything is built or queued, with one line that names the field and its
range; every built-in model declares the ranges of what sizes it, and its defaults lie inside."""

from __future__ import annotations

import dataclasses
import json
import typing

import pytest

from genzoo.plugins.gan import GANConfig
from genzoo.plugins.pixelcnn import PixelCNNConfig
from genzoo.plugins.vae import VAEConfig
from genzoo.plugins.vqvae import VQVAEConfig
from genzoo.registry.config import (
    MAX_QUEUED_SECONDS,
    MAX_QUEUED_STEPS,
    bounded,
    build_config,
    check_budget_range,
    field_choices,
    field_ranges,
)
from genzoo.registry.errors import BadConfig
from genzoo.registry.model import ModelConfig
from genzoo.registry.plugins import get_registry
from genzoo.registry.requests import _bounded

from cli_helpers import run

BUILTINS = get_registry(environ={"GENZOO_PLUGINS": ""})
MODELS = sorted(BUILTINS.models)
INHERITED = ModelConfig.__dataclass_fields__  # batch_size and lr, with conventional ranges


def numeric(hint) -> bool:
    """An int or float field (an optional one too), not a bool."""
    return bool({int, float} & {hint, *typing.get_args(hint)})


@dataclasses.dataclass
class Toy(ModelConfig):
    width: int = bounded(64, 1, 1024)
    floor: float = bounded(1.0, 0.0, None)  # no upper end
    ceiling: int = bounded(5, None, 10)  # no lower end
    level: int = bounded(2, 1, 4, metadata={"choices": (1, 2, 4)})  # both kept


# -- build_config --------------------------------------------------------------------------------


@pytest.mark.parametrize("config_class, key, value, message", [
    (PixelCNNConfig, "hidden", "100000",
     "--set hidden=100000: must be between 1 and 1024 (hidden of PixelCNNConfig)"),
    (PixelCNNConfig, "layers", "100000", "layers=100000: must be between 1 and 64"),
    (VAEConfig, "batch_size", "1000000", "batch_size=1000000: must be between 1 and 8192"),
    (VAEConfig, "lr", "5", "lr=5.0: must be between 1e-06 and 1.0 (lr of VAEConfig)"),
    (VAEConfig, "elbo_samples", "100000", "elbo_samples=100000: must be between 1 and 4096"),
    (VQVAEConfig, "codebook_size", "1000000", "codebook_size=1000000: must be between 2 and"),
    (GANConfig, "lr", "5", "lr=5.0: must be between 1e-06 and 1.0 (lr of GANConfig)"),
])
def test_a_value_outside_its_range_is_refused_naming_field_and_range(config_class, key, value,
                                                                    message):
    with pytest.raises(BadConfig) as caught:
        build_config(config_class, {key: value})
    assert message in str(caught.value) and "\n" not in str(caught.value)


def test_both_ends_are_inclusive_and_an_open_end_is_unbounded():
    assert build_config(PixelCNNConfig, {"hidden": "1024", "layers": "1"}).hidden == 1024
    assert build_config(Toy, {"floor": "1e300", "ceiling": "-100000"}).floor == 1e300
    with pytest.raises(BadConfig, match=r"floor=-0.5: must be between 0.0 and inf \(floor of Toy"):
        build_config(Toy, {"floor": "-0.5"})
    with pytest.raises(BadConfig, match=r"ceiling=11: must be between -inf and 10 \(ceiling"):
        build_config(Toy, {"ceiling": "11"})


def test_values_already_typed_are_checked_too_but_a_stored_config_still_loads():
    with pytest.raises(BadConfig, match="width=100000: must be between 1 and 1024"):
        build_config(Toy, {"width": 100000})  # from JSON, a request's config: not a string
    # a run trained before the range was declared is rebuilt as it was stored
    assert build_config(Toy, {"width": 100000}, stored=True).width == 100000


def test_the_models_own_check_speaks_first():
    with pytest.raises(BadConfig, match="hidden must be at least 1, got 0"):
        build_config(PixelCNNConfig, {"hidden": "0"})
    with pytest.raises(BadConfig, match="dropout must be in \\[0, 1\\), got 1.0"):
        build_config(PixelCNNConfig, {"dropout": "1.0"})  # inside [0, 1], not inside [0, 1)


def test_bounded_is_a_field_with_a_range_and_keeps_other_metadata():
    (level,) = [f for f in dataclasses.fields(Toy) if f.name == "level"]
    assert level.default == 2 and level.metadata["choices"] == (1, 2, 4)
    ranges = field_ranges(Toy)
    assert ranges["width"] == (1, 1024) and ranges["floor"] == (0.0, None)
    assert ranges["ceiling"] == (None, 10) and ranges["level"] == (1, 4)
    assert ranges["batch_size"] == (1, 8192)  # not declared by Toy: the conventional range
    assert field_choices(Toy) == {"level": (1, 2, 4)} and Toy().width == 64
    with pytest.raises(BadConfig, match="level=3: must be one of 1, 2, 4"):
        build_config(Toy, {"level": "3"})


def test_field_ranges_is_pure():
    first = field_ranges(PixelCNNConfig)
    first["hidden"] = (0, 0)  # the caller's own copy
    assert field_ranges(PixelCNNConfig)["hidden"] == (1, 1024)
    assert field_ranges(PixelCNNConfig) == field_ranges(PixelCNNConfig)


# -- every registered model ----------------------------------------------------------------------


@pytest.mark.parametrize("model_name", MODELS)
def test_every_default_lies_inside_its_range(model_name):
    config_class = BUILTINS.model(model_name).config_class
    defaults = build_config(config_class)  # the defaults themselves, checked as overrides
    for name, (low, high) in field_ranges(config_class).items():
        value = getattr(defaults, name)
        if value is None:  # "choose for me" (the GAN's lr by architecture)
            continue
        assert (low is None or low <= value) and (high is None or value <= high), (
            f"{config_class.__name__}.{name} = {value!r} is outside its range [{low}, {high}]")
    build_config(config_class, dataclasses.asdict(defaults))  # passes every range check


@pytest.mark.parametrize("model_name", MODELS)
def test_every_number_that_sizes_a_builtin_model_declares_its_range(model_name):
    config_class = BUILTINS.model(model_name).config_class
    ranges, choices = field_ranges(config_class), field_choices(config_class)
    hints = typing.get_type_hints(config_class)
    for f in dataclasses.fields(config_class):
        if not numeric(hints[f.name]) or hints[f.name] is bool:
            continue
        assert f.name in ranges or f.name in choices, f"{config_class.__name__}.{f.name}"
        if f is not INHERITED.get(f.name):  # the model's own field: its own declared range
            assert "range" in f.metadata or "choices" in f.metadata, (
                f"{config_class.__name__}.{f.name}: declare it with bounded(default, low, high)")
    if "batch_size" in hints:
        low, high = ranges["batch_size"]
        assert low == 1 and high is not None and high < 10**6
    assert _bounded(config_class)  # so a queued request builds the model on meta first


# -- the command line ----------------------------------------------------------------------------


@pytest.mark.parametrize("model, dataset, setting, message", [
    ("pixelcnn", "digits", "hidden=100000",
     "must be between 1 and 1024 (hidden of PixelCNNConfig)"),
    ("vae", "digits", "batch_size=1000000", "must be between 1 and 8192 (batch_size of VAEConfig)"),
    ("neural-ar", "sunspots", "layers=100000",
     "must be between 1 and 64 (layers of NeuralARConfig)"),
])
def test_the_cli_refuses_an_out_of_range_value_in_one_line_and_stores_no_run(monkeypatch, model,
                                                                            dataset, setting,
                                                                            message):
    monkeypatch.setenv("GENZOO_PLUGINS", "")
    result = run("train", model, "--dataset", dataset, "--steps", 1, "--set", setting, ok=False)
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and f"--set {setting}: {message}" in lines[0]
    assert "Traceback" not in result.output
    assert json.loads(run("runs", "--json").stdout) == []


# -- queued budgets ------------------------------------------------------------------------------


def test_a_queued_budget_up_to_the_limits_passes():
    assert (MAX_QUEUED_STEPS, MAX_QUEUED_SECONDS) == (1_000_000, 6 * 3600)
    for steps, seconds in [(None, None), (MAX_QUEUED_STEPS, None), (None, MAX_QUEUED_SECONDS),
                           (0, None), (None, 0.5)]:
        check_budget_range(steps, seconds)


@pytest.mark.parametrize("steps, seconds, message", [
    (None, 86400.0, "--seconds 86400: a queued run may train at most 21600 s (6 h)"),
    (None, MAX_QUEUED_SECONDS + 0.5, "--seconds 21600.5: a queued run may train at most"),
    (MAX_QUEUED_STEPS + 1, None, "--steps 1000001: a queued run may train at most 1,000,000"),
    (10**12, None, "--steps 1000000000000: a queued run may train at most 1,000,000 steps"),
])
def test_a_queued_budget_past_the_limits_is_refused_naming_it(steps, seconds, message):
    with pytest.raises(BadConfig) as caught:
        check_budget_range(steps, seconds)
    assert message in str(caught.value) and "\n" not in str(caught.value)
