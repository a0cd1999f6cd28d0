"""The model contract as executable checks, run on every registered model.

Each check builds the model from its default config on small synthetic data, exercises one
promise of :class:`GenerativeModel`, and raises :class:`ContractViolation` with a message that
says what to fix. The test suite parametrizes over ``(model, check)``; plugin authors can run
the same checks on their own models.
"""

from __future__ import annotations

import itertools
import math
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch

from .checkpoints import load_checkpoint, save_checkpoint
from .config import build_config
from .errors import GenzooError
from .model import DataInfo, GenerativeModel
from .spec import ModelSpec

IMAGE_INFO = DataInfo(kind="image", shape=(1, 5, 5), levels=4)
TINY_IMAGE_INFO = DataInfo(kind="image", shape=(1, 2, 2), levels=2)
SERIES_INFO = DataInfo(kind="series", shape=(1,), levels=None)


class ContractViolation(AssertionError):
    """A model broke a promise of the contract; the message says which and how to fix it."""


def synthetic_data(info: DataInfo, n: int = 32, seed: int = 0) -> torch.Tensor:
    """Training data for a check: random images on the levels, or a simulated AR(2) series."""
    g = torch.Generator().manual_seed(seed)
    if info.kind == "image":
        return torch.randint(info.levels, (n, *info.shape), generator=g)
    x = torch.zeros(120, dtype=torch.float64)
    noise = torch.randn(120, generator=g, dtype=torch.float64)
    for t in range(2, 120):
        x[t] = 1.0 + 0.5 * x[t - 1] - 0.2 * x[t - 2] + noise[t]
    return x


def make_model(spec: ModelSpec, info: DataInfo | None = None, seed: int = 0):
    """The model with its default config, fitted (or set up) on synthetic data; and that data."""
    info = info or (IMAGE_INFO if spec.data == "image" else SERIES_INFO)
    torch.manual_seed(seed)
    model = spec.model_class(build_config(spec.config_class), info)
    train = synthetic_data(info)
    model.fit(train)
    return model.eval(), train


def a_batch(model: GenerativeModel, train: torch.Tensor, n: int = 8) -> torch.Tensor:
    """``n`` training items: images, or series windows long enough for the model's order."""
    if model.data.kind == "image":
        return train[:n]
    width = int(getattr(model, "order", 1)) + 6
    return torch.stack([train[i:i + width] for i in range(n)])


def _expect(condition: bool, message: str) -> None:
    if not condition:
        raise ContractViolation(message)


def check_loss(spec: ModelSpec) -> None:
    """``loss(batch)`` returns a dict with a finite scalar ``"loss"`` that has a gradient."""
    model, train = make_model(spec)
    model.train()
    parts = model.loss(a_batch(model, train))
    _expect(isinstance(parts, dict), f"loss() must return a dict, got {type(parts).__name__}")
    _expect("loss" in parts, f"loss() must return a 'loss' key; got keys {sorted(parts)}")
    loss = parts["loss"]
    _expect(torch.is_tensor(loss) and loss.dim() == 0,
            f"loss()['loss'] must be a scalar tensor, got shape {getattr(loss, 'shape', None)}")
    value = float(loss.detach())
    _expect(math.isfinite(value), f"loss()['loss'] is not finite: {value}")
    if any(p.requires_grad for p in model.parameters()):
        _expect(loss.requires_grad, "loss()['loss'] carries no gradient to the parameters")


def check_sample(spec: ModelSpec) -> None:
    """``sample(n)`` returns ``n`` items of the data's shape and dtype, inside its levels."""
    model, _ = make_model(spec)
    n = 3
    x = model.sample(n, generator=torch.Generator().manual_seed(0))
    _expect(torch.is_tensor(x), f"sample() must return a tensor, got {type(x).__name__}")
    _expect(x.shape[0] == n, f"sample({n}) returned {x.shape[0]} items")
    if spec.data == "image":
        _expect(tuple(x.shape[1:]) == IMAGE_INFO.shape,
                f"sample() items have shape {tuple(x.shape[1:])}, the data's is {IMAGE_INFO.shape}")
        _expect(x.dtype == torch.int64, f"image samples must be int64 levels, got {x.dtype}")
        _expect(int(x.min()) >= 0 and int(x.max()) < IMAGE_INFO.levels,
                f"image samples must lie in [0, {IMAGE_INFO.levels}), got "
                f"[{int(x.min())}, {int(x.max())}]")
    else:
        _expect(x.dim() == 2, f"series samples must be (n, horizon), got shape {tuple(x.shape)}")
        _expect(x.is_floating_point() and bool(torch.isfinite(x).all()),
                "series samples must be finite floats")


def check_sample_deterministic(spec: ModelSpec) -> None:
    """The same generator seed gives the same samples; another seed gives others."""
    model, _ = make_model(spec)
    first = model.sample(4, generator=torch.Generator().manual_seed(123))
    again = model.sample(4, generator=torch.Generator().manual_seed(123))
    _expect(torch.equal(first, again), "sample() differs for the same generator seed: draw all "
                                       "randomness from the `generator` argument")
    other = model.sample(4, generator=torch.Generator().manual_seed(124))
    _expect(not torch.equal(first, other), "sample() ignores the generator: two seeds gave "
                                           "identical samples")


def has_likelihood(model: GenerativeModel, spec: ModelSpec) -> bool:
    """Whether ``log_prob`` should give numbers: not for implicit models, nor for a model that
    declares ``bound_available = False`` (a VQ-VAE before its prior is trained)."""
    return spec.density != "implicit" and getattr(model, "bound_available", True)


def check_log_prob(spec: ModelSpec) -> None:
    """``log_prob(x)`` is finite, one value per example, and at most 0 for discrete images.

    A model that declares ``bound_available = False`` must instead refuse with a GenzooError
    that says why (never return a number it cannot stand behind).
    """
    model, train = make_model(spec)
    if spec.density == "implicit":
        return
    batch = a_batch(model, train)
    if not has_likelihood(model, spec):
        try:
            model.log_prob(batch)
        except GenzooError:
            return
        raise ContractViolation("the model declares bound_available = False, so log_prob() "
                                "must raise a GenzooError that says what is missing")
    with torch.no_grad():
        lp = model.log_prob(batch)
    _expect(tuple(lp.shape) == (len(batch),),
            f"log_prob() must return one value per example: shape ({len(batch)},), "
            f"got {tuple(lp.shape)}")
    _expect(bool(torch.isfinite(lp).all()), f"log_prob() is not finite: {lp.tolist()}")
    if spec.data == "image":
        _expect(bool((lp <= 1e-4).all()), "log_prob() of a discrete image must be <= 0 nats")


def check_normalized(spec: ModelSpec) -> None:
    """An exact density sums (images) or integrates (series) to 1.

    Images: every one of the 16 binary 2x2 images is scored and the probabilities summed.
    Series: the density of the last observation, given the ones before it, is integrated on
    a fine grid.
    """
    if spec.density != "exact":
        return
    if spec.data == "image":
        model, _ = make_model(spec, TINY_IMAGE_INFO)
        images = torch.tensor(list(itertools.product(range(2), repeat=4))).view(16, 1, 2, 2)
        with torch.no_grad():
            total = float(torch.logsumexp(model.log_prob(images).double(), 0).exp())
        _expect(abs(total - 1.0) < 1e-4,
                f"probabilities of all 16 binary 2x2 images sum to {total:.6f}, not 1: the "
                "model is not normalized (check the masking or the softmax axis)")
        return
    model, train = make_model(spec)
    window = a_batch(model, train, 1)[0]
    grid = torch.linspace(-30.0, 30.0, 6001, dtype=torch.float64)
    xs = window.repeat(len(grid), 1)
    xs[:, -1] = grid
    with torch.no_grad():
        density = (model.log_prob(xs) - model.log_prob(xs[:, :-1])).exp()
    total = float(torch.trapezoid(density, grid))
    _expect(abs(total - 1.0) < 1e-3,
            f"the density of the next observation integrates to {total:.6f}, not 1")


def check_state_round_trip(spec: ModelSpec) -> None:
    """Saving to a safetensors checkpoint and loading into a fresh model keeps ``log_prob``."""
    model, train = make_model(spec, seed=0)
    batch = a_batch(model, train)
    fresh, _ = make_model(spec, seed=1)
    with tempfile.TemporaryDirectory() as folder:
        path = save_checkpoint(Path(folder), 1, model)
        fresh.load_state_dict(load_checkpoint(path).model_state)
    fresh.eval()
    if not has_likelihood(model, spec):
        g1, g2 = torch.Generator().manual_seed(0), torch.Generator().manual_seed(0)
        _expect(torch.equal(model.sample(2, generator=g1), fresh.sample(2, generator=g2)),
                "samples differ after a state_dict round trip: register every tensor the model "
                "uses as a parameter or buffer")
        return
    with torch.no_grad():
        before, after = model.log_prob(batch), fresh.log_prob(batch)
    _expect(torch.equal(before, after),
            "log_prob differs after a state_dict round trip: register every tensor the model "
            "uses as a parameter or buffer (persistent)")


@dataclass(frozen=True)
class Check:
    """A named contract check."""

    name: str
    run: Callable[[ModelSpec], None]


CHECKS = tuple(Check(fn.__name__.removeprefix("check_"), fn) for fn in (
    check_loss, check_sample, check_sample_deterministic, check_log_prob, check_normalized,
    check_state_round_trip))


def run_checks(spec: ModelSpec) -> list[dict]:
    """Every check on one model: ``[{check, passed, message}]``."""
    results = []
    for check in CHECKS:
        try:
            check.run(spec)
            results.append({"check": check.name, "passed": True, "message": ""})
        except Exception as exc:  # report, don't stop: the next check may still pass
            results.append({"check": check.name, "passed": False,
                            "message": f"{type(exc).__name__}: {exc}"})
    return results
