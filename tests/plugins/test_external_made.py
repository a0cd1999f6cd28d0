"""The third-party plugin package examples/genzoo-made, installed with pip as a user would.

pip builds and installs the package (non-editable) into a temporary folder (``--target``), which
the CLI subprocesses get on ``PYTHONPATH`` and this process on ``sys.path`` for the module's
duration: genzoo finds it through its ``genzoo`` entry point, exactly as from site-packages, but
the shared virtual environment is never changed, so no other test (in this session or one
running beside it) ever sees ``made`` or ``nade``, even if this one is killed half-way.
"""

from __future__ import annotations

import importlib
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from genzoo.registry import DataInfo
from genzoo.registry.conformance import CHECKS
from genzoo.registry.plugins import get_registry

from plugin_packages import pip_install

PACKAGE = Path(__file__).resolve().parents[2] / "examples" / "genzoo-made"
PLUGIN = "genzoo-made"  # the entry point's name, which GENZOO_PLUGINS selects
MODELS = ("made", "nade")


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """The folder pip installed genzoo-made into (built from a copy: the source stays clean)."""
    target = pip_install(PACKAGE, tmp_path_factory.mktemp("genzoo-made"))
    sys.path.insert(0, str(target))
    importlib.invalidate_caches()
    yield target
    sys.path.remove(str(target))
    for name in [m for m in sys.modules if m == "genzoo_made" or m.startswith("genzoo_made.")]:
        del sys.modules[name]
    importlib.invalidate_caches()


@pytest.fixture(scope="module")
def plugin_registry(site):
    """The registry with the installed plugin loaded through its entry point."""
    return get_registry(environ={"GENZOO_PLUGINS": PLUGIN})


def genzoo(site, *args, plugins=PLUGIN):
    """Run ``genzoo ARGS`` in a fresh interpreter that has the package installed."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(site), *filter(None, [os.environ.get("PYTHONPATH")])]),
        "GENZOO_PLUGINS": plugins, "OMP_NUM_THREADS": "1"}
    result = subprocess.run([sys.executable, "-m", "genzoo.registry.cli", *map(str, args)],
                            env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_pip_installs_a_distribution_with_a_genzoo_entry_point(site):
    (info,) = site.glob("genzoo_made-*.dist-info")
    assert info.name == "genzoo_made-0.1.0.dist-info"
    assert "genzoo-made = genzoo_made.plugin" in (info / "entry_points.txt").read_text()
    assert not (site / "genzoo_made" / "__init__.py").is_symlink()  # a real copy, not editable


def test_cli_lists_the_plugin_and_its_models_in_the_tractable_branch(site):
    plugins = {p["name"]: p for p in genzoo(site, "plugins", "--json")}
    plugin = plugins[PLUGIN]
    assert plugin["version"] == "0.1.0" and plugin["error"] is None
    assert plugin["builtin"] is False and plugin["module"] == "genzoo_made.plugin"
    assert plugin["models"] == ["made", "nade"] and plugin["hooks"] == ["register_models"]
    assert plugin["api"] == "1"  # it declares GENZOO_API, the plugin API it was written for
    models = {m["name"]: m for m in genzoo(site, "models", "--json")}
    for name in MODELS:
        assert models[name]["plugin"] == PLUGIN
        assert models[name]["density"] == "exact" and models[name]["sampling"] == "sequential"
        assert models[name]["family"] == "fully visible belief network (FVBN)"
        assert all(c["metric"] for c in models[name]["pros"])
    builtins_only = {p["name"] for p in genzoo(site, "plugins", "--json", plugins="")}
    assert PLUGIN not in builtins_only  # GENZOO_PLUGINS="" keeps third-party plugins out


@pytest.mark.parametrize("name", MODELS)
def test_trains_on_digits_from_the_cli(site, name):
    record = genzoo(site, "train", name, "--dataset", "digits", "--steps", 20, "--json", "-q")
    assert record["model"] == name and record["status"] == "completed"
    assert record["step"] == 20
    bits = record["metrics"]["test_bits_per_dim"]
    assert math.isfinite(bits) and 0 < bits < math.log2(17)  # below uniform after 20 steps


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.name)
@pytest.mark.parametrize("name", MODELS)
def test_contract(plugin_registry, name, check):
    check.run(plugin_registry.model(name))


def build(registry, name, shape=(1, 4, 4), levels=3, **config):
    """A fresh model of the installed plugin on images of ``shape`` and ``levels``."""
    from genzoo.registry.config import build_config

    spec = registry.model(name)
    torch.manual_seed(0)
    return spec.model_class(build_config(spec.config_class, config),
                            DataInfo(kind="image", shape=shape, levels=levels))


@pytest.mark.parametrize("name,config", [("made", {}), ("made", {"order": "random"}),
                                         ("made", {"layers": 2, "direct": False}),
                                         ("nade", {})], ids=["made", "made-random-order",
                                                             "made-2-layers", "nade"])
def test_conditional_d_depends_on_earlier_dimensions_only(plugin_registry, name, config):
    model = build(plugin_registry, name, shape=(2, 3, 3), **config)  # D = 18
    x = torch.randint(3, (1, 2, 3, 3), generator=torch.Generator().manual_seed(0))
    v = model.inputs(x)
    jacobian = torch.autograd.functional.jacobian(lambda v: model.network(v), v)  # (1,D,L,1,D)
    influence = jacobian.abs().sum((0, 2, 3))  # (D outputs, D inputs)
    order = model.order.tolist() if hasattr(model, "order") else list(range(model.dims))
    rank = torch.empty(model.dims, dtype=torch.int64)
    rank[torch.tensor(order)] = torch.arange(model.dims)
    later_or_same = rank[None, :] >= rank[:, None]  # [d, j]: input j is not before output d
    assert influence[later_or_same].abs().max() == 0
    # and the masks leave the earlier dimensions connected (the model is not trivially empty)
    assert (influence[~later_or_same] > 0).float().mean() > 0.9


def correlated_binary(n: int, seed: int) -> torch.Tensor:
    """4x4 binary images that are all 0 or all 1, each pixel flipped with probability 0.05."""
    g = torch.Generator().manual_seed(seed)
    base = torch.randint(2, (n, 1, 1, 1), generator=g).expand(n, 1, 4, 4)
    flips = (torch.rand(n, 1, 4, 4, generator=g) < 0.05).long()
    return base ^ flips


def bits_per_dim(model, x) -> float:
    """Test bits per dimension from the model's exact log-likelihood."""
    with torch.no_grad():
        return float(-model.log_prob(x).mean() / (x[0].numel() * math.log(2)))


@pytest.mark.parametrize("name", MODELS)
def test_learns_pixel_correlations_the_independent_baseline_cannot(registry, plugin_registry,
                                                                   name):
    train, test = correlated_binary(512, seed=1), correlated_binary(256, seed=2)
    baseline = build(registry, "independent", levels=2)  # conftest: the built-ins
    baseline.fit(train)
    model = build(plugin_registry, name, levels=2, lr=1e-2)
    optimizers = model.configure_optimizers()
    g = torch.Generator().manual_seed(0)
    for _ in range(300):
        model.training_step(train[torch.randint(len(train), (64,), generator=g)], optimizers)
    model.eval()
    independent, learned = bits_per_dim(baseline, test), bits_per_dim(model, test)
    assert independent > 0.95  # each pixel alone is a fair coin
    assert learned < 0.6 * independent, (learned, independent)  # ideal: about 0.33 bits/dim
    samples = model.sample(200, generator=torch.Generator().manual_seed(0))
    agree = (samples == samples[:, :, :1, :1]).float().mean()  # pixels agree with the first
    assert agree > 0.8  # ideal: about 0.91; independent pixels: 0.5
