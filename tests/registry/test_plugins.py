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


# -- the plugin API version ---------------------------------------------------------------------


def api_plugin(declared: str, model: str) -> str:
    """A plugin module that registers ``model`` and declares ``GENZOO_API = declared``."""
    return f"""
    from genzoo.registry import hookimpl, ModelSpec
    from genzoo.plugins.independent import IndependentPixels, IndependentConfig

    GENZOO_API = {declared}

    @hookimpl
    def register_models(register):
        register(ModelSpec(name="{model}", model_class=IndependentPixels,
                           config_class=IndependentConfig, family="test", density="exact",
                           sampling="parallel", data="image"))
"""


@pytest.fixture
def versioned(tmp_path, monkeypatch):
    """Plugins declaring the current major (as "1" and as "1.7"), another major, a value that is
    not a version, and none at all."""
    plugins = {"api-same": ('"1"', "api_same"), "api-minor": ('"1.7"', "api_minor"),
               "api-future": ('"2"', "api_future"), "api-garbage": ('"one"', "api_garbage")}
    modules = {module: api_plugin(declared, module) for declared, module in plugins.values()}
    modules["api_none"] = GOOD_PLUGIN
    make_distribution(tmp_path, "genzoo-apitest",
                      {**{name: module for name, (_, module) in plugins.items()},
                       "api-none": "api_none"}, modules)
    monkeypatch.syspath_prepend(str(tmp_path))
    return get_registry(environ={"GENZOO_PLUGINS": ",".join([*plugins, "api-none"])})


def test_the_api_version_is_exported_and_builtins_provide_it():
    from genzoo.registry import GENZOO_API_VERSION
    from genzoo.registry.plugins import api_major

    major, minor = GENZOO_API_VERSION.split(".")
    assert major.isdigit() and minor.isdigit()
    registry = get_registry(environ={"GENZOO_PLUGINS": ""})
    assert {info.api for info in registry.plugins.values()} == {api_major(GENZOO_API_VERSION)}
    assert registry.plugins["genzoo.pixelcnn"].to_json()["api"] == major


def test_a_plugin_built_for_the_same_major_version_loads(versioned):
    for name in ("api-same", "api-minor"):
        info = versioned.plugins[name]
        assert info.error is None and info.models and info.models[0] in versioned.models
    assert versioned.plugins["api-same"].api == "1"
    assert versioned.plugins["api-minor"].api == "1.7"  # minor versions only add: compatible


def test_a_plugin_that_declares_no_version_is_assumed_compatible_and_says_so(versioned):
    info = versioned.plugins["api-none"]
    assert info.error is None and "copycat" in versioned.models
    assert info.api is None and info.to_json()["api"] is None
    assert info.api_note == "none declared (assumed 1)"


def test_a_plugin_built_for_another_major_version_is_refused_and_named(versioned):
    from genzoo.registry import GENZOO_API_VERSION

    info = versioned.plugins["api-future"]
    assert info.error.startswith("refused: plugin 'api-future' was built for genzoo plugin API 2")
    assert f"this genzoo provides plugin API {GENZOO_API_VERSION}" in info.error
    assert info.api == "2" and info.models == [] and info.hooks == []
    assert "api_future" not in versioned.models and "api_same" in versioned.models
    garbage = versioned.plugins["api-garbage"]
    assert "declares GENZOO_API = 'one', which is not a plugin API version" in garbage.error
    assert {"independent", "pixelcnn", "copycat"} <= set(versioned.models)  # the rest still load


def test_a_refused_plugin_is_not_in_the_plugin_manager(tmp_path, monkeypatch):
    make_distribution(tmp_path, "genzoo-apitest2", {"api-future": "api_future2"},
                      {"api_future2": api_plugin('"2.0"', "future")})
    monkeypatch.syspath_prepend(str(tmp_path))
    pm = get_plugin_manager(environ={"GENZOO_PLUGINS": "api-future"})
    assert pm.get_plugin("api-future") is None  # its hooks are never called
    assert "genzoo.pixelcnn" in {pm.get_name(p) for p in pm.get_plugins()}


def test_a_hook_naming_an_argument_genzoo_does_not_pass_is_refused_in_one_line(tmp_path,
                                                                                monkeypatch):
    make_distribution(tmp_path, "genzoo-argtest", {"wants-device": "wants_device"},
                      {"wants_device": """
                          from genzoo.registry import hookimpl

                          @hookimpl
                          def register_models(register, device):
                              pass
                      """})
    monkeypatch.syspath_prepend(str(tmp_path))
    registry = get_registry(environ={"GENZOO_PLUGINS": "wants-device"})
    error = registry.plugins["wants-device"].error
    assert error.startswith("failed to load: PluginValidationError")
    assert "{'device'}" in error and "\n" not in error
    assert "pixelcnn" in registry.models


def test_a_leaf_places_a_model_in_the_lecture_tree_and_a_wrong_leaf_is_refused():
    """A flow reports a bound on discrete data but hangs under the tractable branch's change of
    variables; a leaf that is not in the lecture's tree, or one that disagrees with the density
    on implicitness, is refused when the spec is built."""
    from genzoo.plugins.independent import IndependentConfig, IndependentPixels
    from genzoo.registry.spec import LEAVES, TAXONOMY, ModelSpec

    def spec(**fields):
        base = dict(name="m", model_class=IndependentPixels, config_class=IndependentConfig,
                    family="f", density="bound", sampling="parallel", data="image")
        return ModelSpec(**{**base, **fields})

    assert spec().branch == TAXONOMY["bound"]
    assert spec(leaf="change of variables").branch == TAXONOMY["exact"]
    assert spec(leaf="variational").branch == TAXONOMY["bound"]
    assert set(LEAVES.values()) == set(TAXONOMY)
    with pytest.raises(ValueError, match="leaf must be one of"):
        spec(leaf="flows")
    with pytest.raises(ValueError, match="disagree on whether the density is implicit"):
        spec(leaf="direct")
