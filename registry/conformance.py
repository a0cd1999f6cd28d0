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
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import torch

from .checkpoints import atomic_write_bytes, load_checkpoint, save_checkpoint
from .config import build_config
from .errors import BadData, GenzooError
from .model import DataInfo, GenerativeModel
from .series import context_length
from .spec import ModelSpec

IMAGE_INFO = DataInfo(kind="image", shape=(1, 5, 5), levels=4)
# for a model of binary images only (an RBM), which refuses IMAGE_INFO with BadData
BINARY_IMAGE_INFO = DataInfo(kind="image", shape=(1, 5, 5), levels=2)
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
    """The model with its default config, fitted (or set up) on synthetic data; and that data.

    An image model that refuses the 4-level images with :class:`BadData` (one for binary
    images only) is checked on binary images of the same shape.
    """
    info = info or (IMAGE_INFO if spec.data == "image" else SERIES_INFO)
    torch.manual_seed(seed)
    try:
        model = spec.model_class(build_config(spec.config_class), info)
    except BadData:
        if info != IMAGE_INFO:
            raise
        info = BINARY_IMAGE_INFO
        torch.manual_seed(seed)
        model = spec.model_class(build_config(spec.config_class), info)
    train = synthetic_data(info)
    model.fit(train)
    return model.eval(), train


def a_batch(model: GenerativeModel, train: torch.Tensor, n: int = 8) -> torch.Tensor:
    """``n`` training items: images, or series windows long enough for the model's order."""
    if model.data.kind == "image":
        return train[:n]
    width = context_length(model) + 6
    return torch.stack([train[i:i + width] for i in range(n)])


def _expect(condition: bool, message: str) -> None:
    if not condition:
        raise ContractViolation(message)


def check_loss(spec: ModelSpec) -> None:
    """``loss(batch)`` returns a dict with a finite scalar ``"loss"`` that has a gradient."""
    model, train = make_model(spec)
    model.train()
    parts = model.loss(a_batch(model, train))
    _expect(isinstance(parts, dict), f"loss() must return a dict of named tensors, got "
                                     f"{type(parts).__name__}: return {{'loss': total, ...}}")
    _expect("loss" in parts, f"loss() must return a 'loss' key (the total the trainer "
                             f"minimizes); got keys {sorted(map(str, parts))}: return "
                             "{'loss': total, **named_parts}")
    loss = parts["loss"]
    _expect(torch.is_tensor(loss) and loss.dim() == 0,
            f"loss()['loss'] must be a scalar tensor (shape ()), got "
            f"{_shape_of(loss)}: reduce it over the batch with .mean()")
    value = float(loss.detach())
    _expect(math.isfinite(value), f"loss()['loss'] is not finite ({value}) on a batch of random "
                                  "data: compute it with log_softmax/logsumexp, not log(softmax)")
    if any(p.requires_grad for p in model.parameters()):
        _expect(loss.requires_grad, "loss()['loss'] carries no gradient to the parameters: do not "
                                    "compute it under torch.no_grad() or from .detach()ed values")


def check_sample(spec: ModelSpec) -> None:
    """``sample(n)`` returns ``n`` items of the data's shape and dtype, inside its levels."""
    model, _ = make_model(spec)
    n = 3
    x = model.sample(n, generator=torch.Generator().manual_seed(0))
    _expect(torch.is_tensor(x), f"sample() must return a tensor, got {type(x).__name__}")
    if spec.data == "image":
        expected = (n, *IMAGE_INFO.shape)
        _expect(tuple(x.shape) == expected,
                f"sample({n}) returned the wrong shape: expected {expected} (n, *data.shape), "
                f"got {tuple(x.shape)}: build samples from self.data.shape (C, H, W)")
        _expect(x.dtype == torch.int64, f"image samples must be int64 levels, got {x.dtype}: "
                                        "return .long() level indices, not floats")
        _expect(int(x.min()) >= 0 and int(x.max()) < model.data.levels,
                f"image samples must lie in [0, {model.data.levels}) (self.data.levels), got "
                f"values in [{int(x.min())}, {int(x.max())}]")
    else:
        _expect(x.dim() == 2 and x.shape[0] == n,
                f"sample({n}) of a series model must have shape ({n}, horizon), got "
                f"{tuple(x.shape)}")
        _expect(x.is_floating_point() and bool(torch.isfinite(x).all()),
                f"series samples must be finite floats, got dtype {x.dtype} with "
                f"{int((~torch.isfinite(x.double())).sum())} non-finite values")


def check_sample_deterministic(spec: ModelSpec) -> None:
    """The same generator seed gives the same samples; another seed gives others."""
    model, _ = make_model(spec)
    first = model.sample(4, generator=torch.Generator().manual_seed(123))
    again = model.sample(4, generator=torch.Generator().manual_seed(123))
    _expect(torch.equal(first, again), "sample() is not deterministic: two calls with the same "
                                       "generator seed (123) gave different samples; draw all "
                                       "randomness from the `generator` argument (torch.rand/"
                                       "randn/multinomial(..., generator=generator)), never "
                                       "from the global RNG")
    other = model.sample(4, generator=torch.Generator().manual_seed(124))
    _expect(not torch.equal(first, other), "sample() ignores the generator: seeds 123 and 124 "
                                           "gave identical samples; pass `generator` to every "
                                           "random draw")


def has_likelihood(model: GenerativeModel, spec: ModelSpec) -> bool:
    """Whether ``log_prob`` should give numbers: not for implicit models, nor for a model that
    declares ``bound_available = False`` (a VQ-VAE before its prior is trained)."""
    return spec.density != "implicit" and model.bound_available


def check_log_prob(spec: ModelSpec) -> None:
    """``log_prob(x)`` is finite, one value per example, and at most 0 for discrete images.

    A model that declares ``bound_available = False`` must instead refuse with a GenzooError
    that says why (never return a number it cannot stand behind).
    """
    model, train = make_model(spec)
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
    _expect(torch.is_tensor(lp) and tuple(lp.shape) == (len(batch),),
            f"log_prob() must return one value per example: expected shape ({len(batch)},) for "
            f"a batch of {len(batch)}, got {_shape_of(lp)}: sum the per-dimension terms over "
            "every axis but the first (e.g. .flatten(1).sum(1))")
    bad = ~torch.isfinite(lp)
    _expect(not bool(bad.any()),
            f"log_prob() is not finite for {int(bad.sum())} of {len(lp)} examples "
            f"({lp.tolist()}): compute it with log_softmax/logsumexp, not log(softmax) or "
            "log(0)")
    if spec.data == "image":
        _expect(bool((lp <= 1e-4).all()),
                f"log_prob() of a discrete image must be <= 0 nats (a probability is at most "
                f"1), got a maximum of {float(lp.max()):.4g}: normalize over the levels "
                "(log_softmax over the level axis)")


ESTIMATE_TOLERANCE_NATS = 0.1  # how far an estimated log Z may miss on 4 binary pixels


def check_normalized(spec: ModelSpec) -> None:
    """An exact density sums (images) or integrates (series) to 1; a bound sums to at most 1;
    an estimate (log Z estimated) sums to 1 within ``ESTIMATE_TOLERANCE_NATS`` in log space.

    Images: every one of the 16 binary 2x2 images is scored and the probabilities summed. A
    lower bound on log p(x) (an ELBO, a dequantization bound, a diffusion model's bound) gives
    probabilities below the true ones, so they sum to at most 1: more would mean the "bound"
    is above the likelihood somewhere. Series: the density of the last observation, given the
    ones before it, is integrated on a fine grid.
    """
    if spec.data == "image":
        model, _ = make_model(spec, TINY_IMAGE_INFO)
        # n/a was decided on the class's bound_available; an instance must agree with it
        _expect(has_likelihood(model, spec),
                "the model's class declares a bound (bound_available = True) but this instance "
                "has none: set bound_available on the class, so the checks know what applies")
        images = torch.tensor(list(itertools.product(range(2), repeat=4))).view(16, 1, 2, 2)
        with torch.no_grad():
            total = float(torch.logsumexp(model.log_prob(images).double(), 0).exp())
        if spec.density == "bound":
            _expect(total <= 1.0 + 1e-4,
                    f"the bound is above the likelihood: exp(log_prob) of all 16 binary 2x2 "
                    f"images sums to {total:.6f}, more than 1 (a lower bound on log p(x) must "
                    "give probabilities that sum to at most 1: check that the decoder is a "
                    "distribution over the levels and that every term of the bound is counted)")
            return
        if spec.density == "estimate":
            _expect(abs(math.log(total)) < ESTIMATE_TOLERANCE_NATS,
                    f"the estimated likelihood is far from normalized: the probabilities of all "
                    f"16 binary 2x2 images sum to {total:.6f}, more than "
                    f"{ESTIMATE_TOLERANCE_NATS} nats from 1 (an estimate of log Z on 4 pixels "
                    "should be that close: check the unnormalized log p*(x), that the estimator's"
                    " base model has the log Z it reports, and that log_prob subtracts log Z)")
            return
        _expect(abs(total - 1.0) < 1e-4,
                f"the likelihood does not normalize: the probabilities of all 16 binary 2x2 "
                f"images sum to {total:.6f}, not 1 (check the masking, that the softmax runs "
                "over the level axis, and that log_prob sums every pixel's term)")
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
            f"the likelihood does not normalize: the density of the next observation, given "
            f"the ones before it, integrates to {total:.6f}, not 1 (check the normalizing "
            "constant and that log_prob of a window sums every step's term)")


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
    _expect(torch.allclose(before, after, rtol=0, atol=0, equal_nan=True),
            "log_prob differs after a state_dict round trip (saved, loaded into a fresh model "
            f"built with another seed){_differing_tensors(model, fresh)}: register every tensor "
            "the model uses as an nn.Parameter or a persistent buffer (self.register_buffer)")


def _shape_of(value) -> str:
    """A value's shape for a message, or its type when it has none."""
    shape = getattr(value, "shape", None)
    return f"shape {tuple(shape)}" if shape is not None else f"a {type(value).__name__}"


def _differing_tensors(model: GenerativeModel, fresh: GenerativeModel) -> str:
    """``; differing tensors: ...`` naming the tensors a state_dict round trip did not carry: a
    state entry that differs, a non-persistent buffer, or a plain tensor attribute."""
    names = []
    saved, loaded = model.state_dict(), fresh.state_dict()
    names += [key for key in saved if key in loaded and not _same(saved[key], loaded[key])]
    persistent = set(saved)
    fresh_buffers = dict(fresh.named_buffers())
    names += [f"{key} (a non-persistent buffer)" for key, value in model.named_buffers()
              if key not in persistent and not _same(value, fresh_buffers.get(key))]
    fresh_modules = dict(fresh.named_modules())
    for prefix, module in model.named_modules():
        other = fresh_modules.get(prefix)
        for attr, value in vars(module).items():
            if torch.is_tensor(value) and not _same(value, getattr(other, attr, None)):
                names.append(f"{prefix + '.' if prefix else ''}{attr} (a plain tensor "
                             "attribute, not in the state_dict)")
    return f"; differing tensors: {', '.join(names)}" if names else ""


def _same(a, b) -> bool:
    return (torch.is_tensor(a) and torch.is_tensor(b) and a.shape == b.shape
            and torch.equal(a.detach().cpu(), b.detach().cpu()))


def check_claims(spec: ModelSpec) -> None:
    """Each pro and con that names a metric names one some plugin registers: a claim citing an
    unregistered key would show "not measured yet" for ever, however the model is run."""
    import os

    from .plugins import get_registry

    # every installed plugin, whatever GENZOO_PLUGINS selects: a claim may cite a metric that
    # the model's own plugin registers
    environ = {k: v for k, v in os.environ.items() if k != "GENZOO_PLUGINS"}
    registry = get_registry(environ=environ)
    for claim in (*spec.pros, *spec.cons):
        if claim.metric is not None and registry.metric(claim.metric) is None:
            known = ", ".join(sorted(registry.metrics))
            raise ContractViolation(
                f"the claim {claim.text!r} names metric {claim.metric!r}, which no plugin "
                "registers, so it would never show a number: register a MetricSpec of that "
                f"name (register_metrics), or name a registered metric ({known})")


def _always(spec: ModelSpec) -> None:
    return None


def _needs_a_density(spec: ModelSpec) -> str | None:
    if spec.density == "implicit":
        return "an implicit-density model has no log_prob to check"
    return None


def _needs_a_summable_density(spec: ModelSpec) -> str | None:
    if spec.density == "implicit":
        return "an implicit-density model has no probabilities to sum"
    if spec.density in ("bound", "estimate") and spec.data != "image":
        return (f"{'a bound on' if spec.density == 'bound' else 'an estimate of'} a series "
                "density is not integrated (only exact series densities are)")
    if not spec.model_class.bound_available:
        return ("the model declares no bound of its own (bound_available = False): its "
                "log_prob refuses")
    return None


@dataclass(frozen=True)
class Check:
    """A named contract check, and when it applies: ``not_applicable(spec)`` says why a model
    is not checked by it (None: it is), so a result never claims a pass that was not tested."""

    name: str
    run: Callable[[ModelSpec], None]
    not_applicable: Callable[[ModelSpec], str | None] = _always

    def applies(self, spec: ModelSpec) -> bool:
        """Whether this check tests ``spec`` at all."""
        return self.not_applicable(spec) is None


CHECKS = (
    Check("loss", check_loss),
    Check("sample", check_sample),
    Check("sample_deterministic", check_sample_deterministic),
    Check("log_prob", check_log_prob, _needs_a_density),
    Check("normalized", check_normalized, _needs_a_summable_density),
    Check("state_round_trip", check_state_round_trip),
    Check("claims", check_claims),
)


def describe_failure(exc: BaseException) -> str:
    """A failed check's message: a :class:`ContractViolation` as ``ContractViolation: what to
    fix``; any other exception (raised inside the model's code) with the file and line it came
    from, since the fix is there."""
    message = f"{type(exc).__name__}: {exc}"
    if isinstance(exc, ContractViolation) or exc.__traceback__ is None:
        return message
    import traceback

    frame = traceback.extract_tb(exc.__traceback__)[-1]
    return (f"{message} (raised at {Path(frame.filename).name}:{frame.lineno}, in "
            f"{frame.name}; the check calls the model as the trainer would)")


def run_checks(spec: ModelSpec) -> list[dict]:
    """Every check on one model: ``[{check, passed, message, seconds}]``. A check that does not
    apply to the model (see :class:`Check`) has ``passed: None`` and says why in ``message``."""
    results = []
    for check in CHECKS:
        reason = check.not_applicable(spec)
        if reason is not None:
            results.append({"check": check.name, "passed": None, "message": reason,
                            "seconds": 0.0})
            continue
        started = time.perf_counter()
        try:
            check.run(spec)
            results.append({"check": check.name, "passed": True, "message": ""})
        except Exception as exc:  # report, don't stop: the next check may still pass
            results.append({"check": check.name, "passed": False,
                            "message": describe_failure(exc)})
        results[-1]["seconds"] = round(time.perf_counter() - started, 4)
    return results


# -- a plugin's models, for ``genzoo check-plugin`` and plugins' own test suites --------------


class PluginFailed(GenzooError):
    """The plugin asked for is installed but failed to import or register (exit code 1)."""

    exit_code = 1


def plugin_models(registry, name: str) -> tuple[str | None, list[str]]:
    """``(plugin, models)`` that ``name`` stands for: a plugin as ``genzoo plugins`` lists it
    (a built-in module like ``genzoo.pixelcnn`` or an entry point's name) and every model it
    registers, or a model name and that model alone (``plugin`` is then the model's plugin).

    Unknown names raise :class:`NotFound` listing the known plugins and models; a plugin that
    failed to load raises :class:`PluginFailed` with its recorded error.
    """
    from .errors import NotFound

    if name in registry.plugins:
        info = registry.plugins[name]
        if info.error:
            raise PluginFailed(f"plugin {name!r} failed to load, so none of its models can be "
                               f"checked: {info.error}")
        return name, list(info.models)
    if name in registry.models:
        return registry.plugin_of("models", name), [name]
    raise NotFound(f"unknown plugin {name!r}; known plugins: {', '.join(sorted(registry.plugins))}"
                   f" (a model name works too: {', '.join(sorted(registry.models))})")


def registry_including(names, environ=None):
    """The installed plugins' registry, as ``get_registry()`` builds it, but with the named
    entry-point plugins loaded even where ``GENZOO_PLUGINS`` leaves them out: checking a plugin
    by name must not depend on that selection."""
    import os

    from .plugins import get_registry

    environ = dict(os.environ if environ is None else environ)
    selected = environ.get("GENZOO_PLUGINS")
    if selected is not None:
        environ["GENZOO_PLUGINS"] = ",".join(filter(None, [selected, *names]))
    return get_registry(environ=environ)


def check_plugin(registry, name: str, *,
                 progress: Callable[[int, int, str], None] | None = None) -> dict:
    """Every contract check on every model that ``name`` (a plugin or a model, see
    :func:`plugin_models`) stands for: ``{target, kind, plugin, version, models: {model:
    [{check, passed, message, seconds}]}, passed, failed, total}``; ``progress(done, total,
    model)`` is called before each model."""
    plugin, names = plugin_models(registry, name)
    info = registry.plugins.get(plugin) if plugin else None
    models = {}
    for done, model in enumerate(names):
        if progress is not None:
            progress(done, len(names), model)
        models[model] = run_checks(registry.model(model))
    results = [r for rows in models.values() for r in rows]
    failed = sum(r["passed"] is False for r in results)
    applied = [r for r in results if r["passed"] is not None]
    # a plugin that registers nothing is broken (a misspelled hook, a missing @hookimpl): it
    # must not pass with 0 checks
    empty = info is not None and name in registry.plugins and not (
        info.models or info.datasets or info.metrics)
    return {"target": name, "kind": "plugin" if name in registry.plugins else "model",
            "plugin": plugin, "version": info.version if info else None, "models": models,
            "passed": failed == 0 and not empty, "failed": failed, "total": len(applied),
            "not_applicable": len(results) - len(applied),
            "problem": NOTHING_REGISTERED.format(name=name) if empty else None}


#: What ``check-plugin`` says of a plugin that loads but registers no model, dataset or metric.
NOTHING_REGISTERED = (
    "plugin {name!r} registers nothing: no model, dataset or metric. Decorate each hook with "
    "@hookimpl (from genzoo.registry) and name it as docs/plugins.md does (register_models, "
    "register_datasets, register_metrics)")


def parametrize_with_checks(names, *, registry=None):
    """``pytest.mark.parametrize`` over every ``(model, check)`` pair of the named models (or
    of every model of the named plugins), with ids ``model-check``: a plugin's whole contract
    suite in one decorator, in the manner of scikit-learn's ``parametrize_with_checks``::

        from genzoo.registry.conformance import parametrize_with_checks

        @parametrize_with_checks(["my-model"])
        def test_contract(model, check):
            check.run(model)

    ``model`` is the :class:`ModelSpec` as registered; ``registry`` defaults to the installed
    plugins' (``get_registry()``, which honours ``GENZOO_PLUGINS``). pytest is imported here,
    so genzoo does not need it at run time.
    """
    import pytest

    if isinstance(names, str):
        names = [names]
    registry = registry if registry is not None else registry_including(names)
    params = []
    for name in names:
        for model in plugin_models(registry, name)[1]:
            spec = registry.model(model)
            # only the checks that apply (as scikit-learn's checks yield only what applies):
            # a test that would pass without testing anything is not generated
            params += [pytest.param(spec, check, id=f"{model}-{check.name}")
                       for check in CHECKS if check.applies(spec)]
    return pytest.mark.parametrize(("model", "check"), params)


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


def limit_memory(extra: int) -> None:
    """Cap this process's address space (RLIMIT_AS) at what it maps now plus ``extra`` bytes:
    a budget for what is allocated from here on, whatever the interpreter and the libraries
    already imported map (a CUDA build of torch maps gigabytes of them before any work)."""
    import resource

    mapped = 0
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmSize:"):
                mapped = int(line.split()[1]) * 1024
    except (OSError, ValueError):
        pass  # no procfs: the budget alone
    limit = mapped + int(extra)
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def main(argv: list[str] | None = None) -> int:
    """``python -m genzoo.registry.conformance HOME [--memory BYTES]``: run every check on
    every registered model and cache the results in HOME (how the dashboard runs them, out of
    its own process); prints one progress line per model. With ``--memory``, the checks may
    allocate at most BYTES more than the process maps once the plugins are imported."""
    import sys

    from .plugins import get_registry

    args = sys.argv[1:] if argv is None else list(argv)
    memory = None
    if len(args) == 3 and args[1] == "--memory" and args[2].isdigit():
        memory = int(args.pop(2))
        args.pop(1)
    if len(args) != 1:
        print("usage: python -m genzoo.registry.conformance GENZOO_HOME [--memory BYTES]",
              file=sys.stderr)
        return 2
    registry = get_registry()  # imports torch and every plugin
    if memory is not None:
        limit_memory(memory)
    run_conformance(registry, home=args[0],
                    progress=lambda done, total, model: print(
                        f"{done}/{total} {model}" if model else f"{total}/{total} done",
                        flush=True))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
