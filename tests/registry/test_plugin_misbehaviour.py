"""Plugins that misbehave without failing (issue 19, part 7): one prints to stdout (at import, in
its hook, in its model), one's ``sample()`` returns floats, one names its model like a
spreadsheet formula, one takes long to import. The JSON on stdout stays JSON, floats are caught
where samples are used, the name is refused at registration (and CSV cells are made safe for a
spreadsheet anyway), and a slow import is named while it is waited on."""

from __future__ import annotations

import json
import sys

import pandas as pd
import pytest

from cli_helpers import last_json, run
from plugin_packages import make_distribution

CHATTY = """
    from genzoo.registry import hookimpl, ModelSpec
    from genzoo.plugins.independent import IndependentPixels, IndependentConfig

    print("hello from chatty, at import")

    class Chatty(IndependentPixels):
        '''The independent model, printing as it is built.'''

        def __init__(self, config, data):
            print("hello from chatty's model")
            super().__init__(config, data)

    @hookimpl
    def register_models(register):
        print("hello from chatty's hook")
        register(ModelSpec(name="chatty", model_class=Chatty, config_class=IndependentConfig,
                           family="test", density="exact", sampling="parallel", data="image"))
"""

FLOATY = """
    from genzoo.registry import hookimpl, ModelSpec
    from genzoo.plugins.independent import IndependentPixels, IndependentConfig

    class Floaty(IndependentPixels):
        '''Samples as floats in [0, 1], against the contract (integer levels).'''

        def sample(self, n, generator=None):
            return super().sample(n, generator=generator).float() / (self.data.levels - 1)

    @hookimpl
    def register_models(register):
        register(ModelSpec(name="floaty", model_class=Floaty, config_class=IndependentConfig,
                           family="test", density="exact", sampling="parallel", data="image"))
"""

FORMULA = """
    from genzoo.registry import hookimpl, ModelSpec
    from genzoo.plugins.independent import IndependentPixels, IndependentConfig

    @hookimpl
    def register_models(register):
        register(ModelSpec(name='=HYPERLINK("http://example.com/x")', model_class=IndependentPixels,
                           config_class=IndependentConfig, family="test", density="exact",
                           sampling="parallel", data="image"))
"""

SLOW = """
    import time
    time.sleep(1.0)
"""

PLUGINS = {"pm-chatty": "pm_chatty", "pm-floaty": "pm_floaty", "pm-formula": "pm_formula",
           "pm-slow": "pm_slow"}


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    root = tmp_path_factory.mktemp("misbehaving-site")
    make_distribution(root, "genzoo-misbehaving", PLUGINS,
                      {"pm_chatty": CHATTY, "pm_floaty": FLOATY, "pm_formula": FORMULA,
                       "pm_slow": SLOW})
    return root


@pytest.fixture
def installed(site, monkeypatch):
    """The distribution on ``sys.path``; ``load(names)`` chooses which of its plugins load."""
    monkeypatch.syspath_prepend(str(site))
    yield lambda names: monkeypatch.setenv("GENZOO_PLUGINS", names)
    for name in [m for m in sys.modules if m.startswith("pm_")]:
        del sys.modules[name]


def test_a_plugin_that_prints_leaves_the_json_on_stdout_alone(installed):
    installed("pm-chatty")
    for command in ("plugins", "models", "datasets"):
        result = run(command, "--json")
        json.loads(result.stdout)  # stdout is one JSON document
        if command == "plugins":  # the registry is built once per process: the prints once
            assert "hello from chatty, at import" in result.stderr
    models = {m["name"] for m in json.loads(run("models", "--json").stdout)}
    assert "chatty" in models
    record = last_json(run("train", "chatty", "--dataset", "digits", "--steps", 0, "--json",
                           "-q"))
    result = run("eval", record["run_id"], "--json")
    assert json.loads(result.stdout)["bits_per_dim"] > 0
    assert "hello from chatty's model" in result.stderr and "hello" not in result.stdout


def test_samples_that_break_the_contract_are_refused_where_they_are_used(installed, tmp_path):
    installed("pm-floaty")
    run_id = last_json(run("train", "floaty", "--dataset", "digits", "--steps", 0, "--json",
                           "-q"))["run_id"]
    out = tmp_path / "floaty.png"
    result = run("sample", run_id, "-n", "4", "-o", out, ok=False)
    assert result.exit_code == 2 and "float32 images" in result.stderr, result.output
    assert "integer levels" in result.stderr and not out.exists()

    from genzoo.dashboard import samples_data
    from genzoo.registry.errors import GenzooError
    from genzoo.registry.store import RunStore

    with pytest.raises(GenzooError, match="float32 images"):
        samples_data.image_samples(RunStore().get(run_id), 0, 4)


def test_a_model_named_like_a_formula_is_refused_and_the_rest_load(installed):
    installed("pm-formula,pm-chatty")
    plugins = {p["name"]: p for p in json.loads(run("plugins", "--json").stdout)}
    assert "use letters, digits" in plugins["pm-formula"]["error"]
    assert plugins["pm-formula"]["models"] == [] and plugins["pm-chatty"]["error"] is None


def test_csv_cells_that_a_spreadsheet_would_run_are_quoted():
    from genzoo.dashboard import data

    frame = pd.DataFrame({"model": ['=HYPERLINK("http://x")', "+cmd", "@SUM(A1)", "-2+3",
                                    "\tx", "pixelcnn"],
                          "note": ["-1.5", "1e3", "ok", None, "-x", "="],
                          "bits": [1.0, -2.0, 3.0, 4.0, 5.0, 6.0]})
    parsed = pd.read_csv(pd.io.common.BytesIO(data.csv_bytes(frame)), keep_default_na=False)
    assert list(parsed["model"]) == ["'=HYPERLINK(\"http://x\")", "'+cmd", "'@SUM(A1)",
                                     "'-2+3", "'\tx", "pixelcnn"]
    assert list(parsed["note"].astype(str)) == ["-1.5", "1e3", "ok", "", "'-x", "'="]
    assert list(parsed["bits"]) == [1.0, -2.0, 3.0, 4.0, 5.0, 6.0]  # numbers stay numbers


def test_a_slow_plugin_is_named_while_it_is_waited_on(installed, monkeypatch):
    from genzoo.registry import plugins

    monkeypatch.setattr(plugins, "SLOW_IMPORT_SECONDS", 0.2)
    installed("pm-slow")
    result = run("models")
    assert "plugin 'pm-slow' is still importing" in result.stderr
    assert "GENZOO_PLUGINS" in result.stderr
