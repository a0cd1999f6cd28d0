"""The dashboard as the author and the users of a third-party plugin see it, through AppTest.

Two installs, each as a user would have it: a fake distribution with deliberately broken plugins
(one raises on import, one registers the built-in name ``pixelcnn``, one was built for plugin
API 2) next to a good one, and the example package ``examples/genzoo-made`` pip-installed into a
temporary folder. The broken ones are named with their errors on the Overview and Plugins pages
while every page still renders; MADE and NADE appear everywhere a built-in model does, by being
installed.

The dashboard caches its registry with ``st.cache_resource`` (keyed by ``GENZOO_PLUGINS``), so
each test clears that cache before it runs, to build a registry that sees the install, and
after, so that no other test sees it; ``sys.path`` and the imported modules are restored too.
"""

from __future__ import annotations

import importlib
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pytest
import streamlit as st

from genzoo.registry.store import RunStore

from page_helpers import assert_clean, charts, texts
from plugin_packages import make_distribution, pip_install

MADE_PACKAGE = Path(__file__).resolve().parents[2] / "examples" / "genzoo-made"
TRACTABLE = "explicit density: tractable"

FUTURE = """
    from genzoo.registry import hookimpl

    GENZOO_API = "2"

    @hookimpl
    def register_models(register):
        raise AssertionError("a refused plugin's hooks are never called")
"""

DUPLICATE = """
    from genzoo.registry import hookimpl, ModelSpec
    from genzoo.plugins.independent import IndependentPixels, IndependentConfig

    @hookimpl
    def register_models(register):
        register(ModelSpec(name="pixelcnn", model_class=IndependentPixels,
                           config_class=IndependentConfig, family="impostor", density="exact",
                           sampling="parallel", data="image"))
"""

GOOD = """
    from genzoo.registry import hookimpl, ModelSpec
    from genzoo.plugins.independent import IndependentPixels, IndependentConfig

    @hookimpl
    def register_models(register):
        register(ModelSpec(name="pagecat", model_class=IndependentPixels,
                           config_class=IndependentConfig, family="test", density="exact",
                           sampling="parallel", data="image"))
"""

BROKEN = {  # entry point -> a part of the error the pages must show
    "page-import": "needs tensorflow, which is not installed",
    "page-dupe": "model name 'pixelcnn' is already registered by plugin 'genzoo.pixelcnn'",
    "page-future": "was built for genzoo plugin API 2 (GENZOO_API), but this genzoo provides "
                   "plugin API 1.0",
}


def forget(prefixes: tuple[str, ...]) -> None:
    """Drop the imported modules of the test's plugins, so that no other test can import them
    from the module cache."""
    for name in [m for m in sys.modules if m.startswith(prefixes)]:
        del sys.modules[name]
    importlib.invalidate_caches()


def frame_with(at, column: str) -> pd.DataFrame:
    """The first table on the page that has ``column``."""
    found = [d.value for d in at.dataframe if column in d.value.columns]
    assert found, f"no table with a {column!r} column"
    return found[0]


def tree_parents(at) -> dict[str, str]:
    """The Overview's taxonomy tree as ``{node id: parent id}``."""
    (tree,) = [c for c in charts(at) if c["data"][0]["type"] == "treemap"]
    trace = tree["data"][0]
    return dict(zip(trace["ids"], trace["parents"]))


@pytest.fixture
def fresh_dashboard_registry():
    """The dashboard's cached registry (and what was built from it) thrown away before and after
    the test."""
    st.cache_resource.clear()
    yield
    st.cache_resource.clear()


# -- broken plugins -----------------------------------------------------------------------------


@pytest.fixture
def broken_installed(tmp_path, monkeypatch, empty_store, fresh_dashboard_registry):
    """The broken plugins and a good one installed (every entry point loads), an empty store."""
    make_distribution(tmp_path, "genzoo-pagebreak",
                      {"page-import": "page_import", "page-dupe": "page_dupe",
                       "page-future": "page_future", "page-good": "page_good"},
                      {"page_import": "raise ImportError('needs tensorflow, which is not "
                                      "installed')\n",
                       "page_dupe": DUPLICATE, "page_future": FUTURE, "page_good": GOOD},
                      version="0.4")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delenv("GENZOO_PLUGINS", raising=False)
    yield
    forget(("page_",))


def test_overview_warns_about_each_broken_plugin_and_shows_the_rest(app, broken_installed):
    at = app()
    assert_clean(at)
    warnings = [w.value for w in at.warning]
    for name, error in BROKEN.items():
        assert any(f"**{name}**" in w and error in w for w in warnings), (name, warnings)
    taxonomy = at.dataframe[0].value.set_index("model")
    assert {"independent", "pixelcnn", "pagecat"} <= set(taxonomy.index)
    assert taxonomy.loc["pixelcnn", "plugin"] == "genzoo.pixelcnn"  # not the impostor's
    assert "impostor" not in set(taxonomy["family"])


def test_plugins_page_lists_each_broken_plugin_with_its_error(app, broken_installed):
    at = app("plugins")
    assert not at.exception
    table = frame_with(at, "hooks").set_index("plugin")
    for name, error in BROKEN.items():
        row = table.loc[name]
        assert row["status"] == "broken" and error in row["error"], row.to_dict()
        assert row["models"] == "" and row["distribution"] == "genzoo-pagebreak"
        assert name in texts(at.warning)
    assert table.loc["page-future", "api"] == "2"
    good = table.loc["page-good"]
    assert good["status"] == "loaded" and good["models"] == "pagecat"
    assert good["api"] == "none declared (assumed 1)"  # no GENZOO_API: the page says so
    assert set(table.loc[table["source"] == "built-in", "status"]) == {"loaded"}
    assert "plugin API **1.0**" in texts(at.caption)
    registered = frame_with(at, "kind")
    assert "pagecat" in set(registered["name"]) and "pixelcnn" in set(registered["name"])


@pytest.mark.parametrize("page", ["samples", "likelihood", "train", "quality", "speed"])
def test_other_pages_render_with_the_broken_plugins_installed(app, broken_installed, page):
    assert not app(page).exception


# -- genzoo-made, pip-installed -----------------------------------------------------------------


@pytest.fixture(scope="module")
def made_site(tmp_path_factory):
    """examples/genzoo-made pip-installed into a temporary folder (never the shared venv)."""
    return pip_install(MADE_PACKAGE, tmp_path_factory.mktemp("made-pages"))


@pytest.fixture(scope="module")
def made_home(tmp_path_factory, made_site):
    """A store with a ``made`` run of a few steps on digits and the closed-form independent
    baseline, trained with the installed plugin on ``sys.path`` for the fixture only."""
    from genzoo.registry.plugins import get_registry
    from genzoo.registry.training import LoopSettings, start_run

    home = tmp_path_factory.mktemp("made-pages-store") / "home"
    sys.path.insert(0, str(made_site))
    importlib.invalidate_caches()
    try:
        registry = get_registry(environ={"GENZOO_PLUGINS": "genzoo-made"})
        store = RunStore(home)
        for model, steps in (("made", 5), ("independent", 0)):
            record = start_run(registry, store, model, "digits", steps=steps, device="cpu",
                               settings=LoopSettings(progress=False))
            assert record.status == "completed", record
    finally:
        sys.path.remove(str(made_site))
        forget(("genzoo_made",))
    return home


@pytest.fixture
def made_installed(made_site, made_home, monkeypatch, fresh_dashboard_registry):
    """The dashboard on the made store, with genzoo-made importable and every entry point
    allowed; ``{model: run record}`` of the store (the tests only read it)."""
    monkeypatch.syspath_prepend(str(made_site))
    monkeypatch.delenv("GENZOO_PLUGINS", raising=False)
    monkeypatch.setenv("GENZOO_HOME", str(made_home))
    yield {r.model: r for r in RunStore(made_home).list_runs(status="completed")}
    forget(("genzoo_made",))


def test_overview_puts_made_and_nade_in_the_tractable_branch(app, made_installed):
    at = app()
    assert_clean(at)
    taxonomy = at.dataframe[0].value.set_index("model")
    for name in ("made", "nade"):
        assert taxonomy.loc[name, "branch"] == TRACTABLE
        assert taxonomy.loc[name, "plugin"] == "genzoo-made"
    parents = tree_parents(at)
    leaf = f"{TRACTABLE}/fully visible belief net"
    family = f"{leaf}/fully visible belief network (FVBN)"
    assert parents[f"{family}/made"] == family and parents[f"{family}/nade"] == family
    assert parents[family] == leaf and parents[leaf] == TRACTABLE
    subheaders = texts(at.subheader)
    assert "made — fully visible belief network (FVBN)" in subheaders
    assert "nade — fully visible belief network (FVBN)" in subheaders
    bits = made_installed["made"].metrics["test_bits_per_dim"]
    claims = pd.concat([d.value for d in at.dataframe if "claim" in d.value.columns])
    measured = claims[claims["claim"] == "Can explicitly compute likelihood p(x)"]
    assert any(f"{bits:.3f}" in str(value) for value in measured.to_numpy().ravel())


def test_likelihood_page_shows_the_made_runs_bits_per_dim(app, made_installed):
    at = app("likelihood")
    assert_clean(at)
    bits = made_installed["made"].metrics["test_bits_per_dim"]
    table = at.dataframe[0].value.set_index("model")
    assert table.loc["made", "bits/dim"] == pytest.approx(bits)
    assert table.loc["made", "run id"] == made_installed["made"].run_id
    bars = charts(at)[0]
    exact = next(trace for trace in bars["data"] if trace["name"] == "exact likelihood")
    assert "made" in list(exact["x"])


def test_samples_page_draws_a_made_grid(app, made_installed):
    at = app("samples")
    assert_clean(at)
    assert "made" in at.multiselect[0].value
    assert "made" in [h.value for h in at.subheader]
    assert len(at.image) == len(at.multiselect[0].value) + 1
    assert f"run `{made_installed['made'].run_id}`" in texts(at.caption)
    at.multiselect[0].set_value(["made"]).run()
    assert_clean(at)
    assert len(at.image) == 2  # made's grid and the real images
    assert "sequential sampling" in texts(at.caption)


def test_train_page_offers_made(app, made_installed):
    at = app("train")
    assert_clean(at)
    model = at.selectbox(key="model")
    assert {"made (fully visible belief network (FVBN), image)",
            "nade (fully visible belief network (FVBN), image)"} <= set(model.options)
    model.set_value("made").run()
    assert_clean(at)
    assert "digits" in at.selectbox(key="dataset").options
    assert "hidden" in {n.label for n in at.number_input}  # the form is MADE's config


# -- models that break the contract -------------------------------------------------------------

CONTRACT_BREAKERS = """
    import torch
    from genzoo.registry import hookimpl, ModelSpec
    from genzoo.plugins.independent import IndependentPixels, IndependentConfig

    class WrongShape(IndependentPixels):
        '''Samples without their channel axis.'''

        def sample(self, n, generator=None):
            return super().sample(n, generator=generator)[:, 0]  # (n, H, W)

    class NaNLikelihood(IndependentPixels):
        '''NaN for every log-likelihood.'''

        def log_prob(self, x):
            return torch.full((len(x),), float("nan"))

    @hookimpl
    def register_models(register):
        for name, cls in (("wrong-shape", WrongShape), ("nan-likelihood", NaNLikelihood)):
            register(ModelSpec(name=name, model_class=cls, config_class=IndependentConfig,
                               family="test", density="exact", sampling="parallel",
                               data="image"))
"""


@pytest.fixture
def breakers_registry(tmp_path, monkeypatch, empty_store):
    """The dashboard's registry holding only a third-party plugin whose two models break the
    contract (a sample without its channel axis, a NaN log_prob), loaded as an entry point."""
    from genzoo.dashboard import data
    from genzoo.registry.plugins import GenzooPluginManager

    (tmp_path / "page_breakers.py").write_text(textwrap.dedent(CONTRACT_BREAKERS))
    monkeypatch.syspath_prepend(str(tmp_path))
    pm = GenzooPluginManager()
    info = pm.load_plugin("page-breakers", "page_breakers", builtin=False, version="0.5")
    assert info.error is None  # it loads: only its models' behaviour is wrong
    registry = pm.registry()
    monkeypatch.setattr(data, "registry", lambda: registry)
    yield registry
    forget(("page_breakers",))


def test_plugins_page_names_each_contract_breaking_model_with_its_error(app, breakers_registry,
                                                                       monkeypatch):
    from genzoo.dashboard import data, plugins_data
    from genzoo.registry.conformance import run_conformance

    # the checks process would load installed plugins only; run them here on this registry
    # (the process itself is tested in test_speed_plugins_pages.py)
    monkeypatch.setattr(plugins_data, "start_conformance", lambda: bool(run_conformance(
        breakers_registry, home=data.store_home())) and "started the checks")
    at = app("plugins")
    assert not at.exception
    at.button[0].click().run()  # Run conformance checks
    assert not at.exception
    errors = texts(at.error)
    assert ("**wrong-shape** failed `sample`" in errors
            and "expected (3, 1, 5, 5) (n, *data.shape), got (3, 5, 5)" in errors), errors
    assert "**nan-likelihood** failed `log_prob`" in errors and "nan" in errors.lower()
    matrix = frame_with(at, "stale").set_index("model")
    assert matrix.loc["wrong-shape", "sample"] == "✗ failed"
    assert matrix.loc["nan-likelihood", "log_prob"] == "✗ failed"
    assert matrix.loc["nan-likelihood", "sample"] == "✓ passed"  # only what is wrong fails
    assert not at.success
