"""Plugin discovery: built-ins, entry points, GENZOO_PLUGINS, and broken plugins kept apart."""

from __future__ import annotations


import pytest

from genzoo.registry.plugins import get_plugin_manager, get_registry
from plugin_packages import make_distribution


GOOD_PLUGIN = """
    from genzoo.registry import hookimpl, ModelSpec
    from genzoo.plugins.independent import IndependentPixels, IndependentConfig

    class Copy(IndependentPixels):
        '''The independent model under another name.'''

    @hookimpl
    def register_models(register):
        register(ModelSpec(name="copycat", model_class=Copy, config_class=IndependentConfig,
                           family="test", density="exact", sampling="parallel", data="image"))
"""

DUPLICATE_PLUGIN = """
    from genzoo.registry import hookimpl, ModelSpec
    from genzoo.plugins.independent import IndependentPixels, IndependentConfig

    @hookimpl
    def register_models(register):
        register(ModelSpec(name="fine-before-duplicate", model_class=IndependentPixels,
                           config_class=IndependentConfig, family="test", density="exact",
                           sampling="parallel", data="image"))
        register(ModelSpec(name="pixelcnn", model_class=IndependentPixels,
                           config_class=IndependentConfig, family="test", density="exact",
                           sampling="parallel", data="image"))
"""


@pytest.fixture
def third_party(tmp_path, monkeypatch):
    make_distribution(tmp_path, "genzoo-testplugins",
                      {"good": "good_plugin", "broken": "broken_plugin", "dupe": "dupe_plugin"},
                      {"good_plugin": GOOD_PLUGIN,
                       "broken_plugin": "raise ImportError('needs a package that is missing')\n",
                       "dupe_plugin": DUPLICATE_PLUGIN})
    monkeypatch.syspath_prepend(str(tmp_path))


def test_builtins_register_like_plugins():
    registry = get_registry(environ={"GENZOO_PLUGINS": ""})
    assert {"independent", "pixelcnn", "ar", "neural-ar"} <= set(registry.models)
    assert {"digits", "sunspots", "nile", "ar-synthetic"} <= set(registry.datasets)
    assert registry.plugin_of("models", "pixelcnn") == "genzoo.pixelcnn"
    assert all(info.error is None for info in registry.plugins.values())
    assert registry.plugins["genzoo.pixelcnn"].hooks == ["register_models"]


def test_entry_point_plugins_load_and_broken_ones_are_isolated(third_party):
    registry = get_registry(environ={})
    assert "copycat" in registry.models
    assert registry.plugin_of("models", "copycat") == "good"
    assert registry.plugins["good"].version == "0.1"
    broken = registry.plugins["broken"]
    assert "needs a package that is missing" in broken.error
    assert broken.error.startswith("failed to import")
    dupe = registry.plugins["dupe"]
    assert "already registered by plugin 'genzoo.pixelcnn'" in dupe.error
    # nothing of a failing plugin is half-registered, and the original keeps its owner
    assert "fine-before-duplicate" not in registry.models
    assert registry.plugin_of("models", "pixelcnn") == "genzoo.pixelcnn"
    assert {"independent", "pixelcnn", "ar"} <= set(registry.models)


def test_genzoo_plugins_limits_what_loads(third_party):
    only_builtins = get_registry(environ={"GENZOO_PLUGINS": ""})
    assert "copycat" not in only_builtins.models
    assert not any(name in only_builtins.plugins for name in ("good", "broken", "dupe"))
    selected = get_registry(environ={"GENZOO_PLUGINS": "good"})
    assert "copycat" in selected.models and "broken" not in selected.plugins


def test_unknown_names_list_the_known_ones():
    from genzoo.registry.errors import NotFound

    registry = get_registry(environ={"GENZOO_PLUGINS": ""})
    with pytest.raises(NotFound, match="known models: .*pixelcnn"):
        registry.model("pixelcnm")
    with pytest.raises(NotFound, match="known datasets: .*digits"):
        registry.dataset("digitz")


def test_incomplete_model_cannot_be_instantiated():
    from genzoo.registry import DataInfo, GenerativeModel, ModelConfig

    class NoSample(GenerativeModel):
        def loss(self, batch):
            return {}

        def log_prob(self, x):
            return x

    with pytest.raises(TypeError, match="sample"):
        NoSample(ModelConfig(), DataInfo("image", (1, 2, 2), 2))


def test_manager_is_a_pluggy_manager_with_the_three_hooks():
    pm = get_plugin_manager(environ={"GENZOO_PLUGINS": ""})
    assert {"register_models", "register_datasets", "register_metrics"} <= {
        name for name in dir(pm.hook) if name.startswith("register_")}
