"""The model contract as executable checks, run on every registered model.

Each check builds the model from its default config on small synthetic data, exercises one
promise of :class:`GenerativeModel`, and raises :class:`ContractViolation` with a message that
says what to fix. The test suite parametrizes over ``(model, check)``; plugin authors can run
the same checks on their own models.
"""

from __future__ import annotations

import itertools
import json
import math
import tempfile
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Callable

import torch

from .checkpoints import atomic_write_bytes, load_checkpoint, save_checkpoint
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
    """Every check on one model: ``[{check, passed, message, seconds}]``."""
    results = []
    for check in CHECKS:
        started = time.perf_counter()
        try:
            check.run(spec)
            results.append({"check": check.name, "passed": True, "message": ""})
        except Exception as exc:  # report, don't stop: the next check may still pass
            results.append({"check": check.name, "passed": False,
                            "message": f"{type(exc).__name__}: {exc}"})
        results[-1]["seconds"] = round(time.perf_counter() - started, 4)
    return results


# -- cached results: run once, read by the dashboard's Plugins page ------------------------------

CONFORMANCE_FILE = "conformance.json"  # under the runs store's home


def genzoo_version() -> str | None:
    """The installed genzoo's version (None in a source tree that is not installed)."""
    try:
        return metadata.version("genzoo")
    except metadata.PackageNotFoundError:
        return None


def conformance_path(home: Path | str) -> Path:
    """Where the cached conformance results of a runs store live."""
    return Path(home) / CONFORMANCE_FILE


def load_conformance(home: Path | str) -> dict | None:
    """The cached conformance results (see :func:`run_conformance`), or None if there are none
    yet; a file that cannot be read is reported as ``{"error": ...}``, never raised."""
    path = conformance_path(home)
    if not path.is_file():
        return None
    try:
        document = json.loads(path.read_text())
        if not isinstance(document, dict) or not isinstance(document.get("models"), dict):
            raise ValueError("no 'models' table")
    except (OSError, ValueError) as exc:
        return {"error": f"{path.name} cannot be read ({type(exc).__name__}: {exc}); run the "
                         "checks again to replace it", "models": {}}
    return document


def run_conformance(registry, names=None, *, home: Path | str | None = None,
                    progress: Callable[[int, int, str], None] | None = None) -> dict:
    """Run every check on the named models (default: every registered model) and return the
    results as the cached document; with ``home``, save it there (``conformance.json``, written
    atomically) merged with the results of models not run this time.

    The document: ``{genzoo_version, time, plugins: {plugin: version}, models: {model:
    {plugin, plugin_version, genzoo_version, time, results: [{check, passed, message,
    seconds}]}}}``. Each model keeps the versions it was checked with, so a later upgrade
    marks exactly its results stale (:func:`stale_results`). ``progress(done, total, model)``
    is called before each model.
    """
    names = list(registry.models) if names is None else list(names)
    checked = {}
    for done, name in enumerate(names):
        if progress is not None:
            progress(done, len(names), name)
        spec = registry.model(name)
        plugin = registry.plugin_of("models", name)
        info = registry.plugins.get(plugin) if plugin else None
        checked[name] = {"plugin": plugin, "plugin_version": info.version if info else None,
                         "genzoo_version": genzoo_version(),
                         "time": time.strftime("%Y-%m-%d %H:%M:%S"),
                         "results": run_checks(spec)}
    if progress is not None:
        progress(len(names), len(names), "")
    earlier = (load_conformance(home) or {}) if home is not None else {}
    models = {name: entry for name, entry in earlier.get("models", {}).items()
              if name not in checked}
    models.update(checked)
    document = {"genzoo_version": genzoo_version(), "time": time.strftime("%Y-%m-%d %H:%M:%S"),
                "plugins": {name: info.version for name, info in registry.plugins.items()},
                "models": dict(sorted(models.items()))}
    if home is not None:
        Path(home).mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(conformance_path(home), json.dumps(document, indent=1).encode())
    return document


def stale_results(document: dict, registry) -> dict[str, str]:
    """``{model: why}`` for every cached result that no longer describes what is installed:
    genzoo or the model's plugin has another version now, another plugin registers the model,
    or no plugin registers it any more."""
    stale = {}
    now = genzoo_version()
    for name, entry in (document or {}).get("models", {}).items():
        if name not in registry.models:
            stale[name] = "no loaded plugin registers this model now"
            continue
        plugin = registry.plugin_of("models", name)
        info = registry.plugins.get(plugin)
        version = info.version if info else None
        if entry.get("plugin") != plugin:
            stale[name] = f"checked as part of plugin {entry.get('plugin')}, now {plugin}'s"
        elif entry.get("plugin_version") != version:
            stale[name] = (f"checked with {plugin} {entry.get('plugin_version')}, "
                           f"installed now: {version}")
        elif entry.get("genzoo_version") != now:
            stale[name] = f"checked with genzoo {entry.get('genzoo_version')}, now {now}"
    return stale


def unchecked_models(document: dict | None, registry) -> list[str]:
    """Registered models that have no cached conformance result, in registry order."""
    checked = (document or {}).get("models", {})
    return [name for name in registry.models if name not in checked]
