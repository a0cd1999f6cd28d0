"""Broken third-party plugins, as a user who installed them meets them on the command line.

Three deliberately broken plugins and one good one are installed as a fake distribution (a
``.dist-info`` with ``genzoo`` entry points, on ``sys.path``): one raises on import, one
registers a model name a built-in already has (``pixelcnn``), one was built for a plugin API
this genzoo does not provide. ``genzoo plugins --json`` names each with its error, and every
other plugin keeps working: ``genzoo models`` lists the built-ins and the good plugin's model,
and ``genzoo train`` trains. The registry-level rules (nothing half-registered, ``GENZOO_PLUGINS``,
the API version rule) are tested in ``test_plugins.py``; this file drives the CLI, in-process and
once in a fresh interpreter.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from cli_helpers import last_json, run
from plugin_packages import make_distribution

IMPORT_ERROR = "raise ImportError('genzoo-broken needs tensorflow, which is not installed')\n"

DUPLICATE = """
    from genzoo.registry import hookimpl, ModelSpec
    from genzoo.plugins.independent import IndependentPixels, IndependentConfig

    GENZOO_API = "1"

    @hookimpl
    def register_models(register):
        register(ModelSpec(name="pixelcnn", model_class=IndependentPixels,
                           config_class=IndependentConfig, family="impostor", density="exact",
                           sampling="parallel", data="image"))
"""

FUTURE = """
    from genzoo.registry import hookimpl

    GENZOO_API = "2"  # written for a genzoo that does not exist yet

    @hookimpl
    def register_models(register, device):  # an argument API 1 does not pass
        raise AssertionError("a refused plugin's hooks are never called")
"""

GOOD = """
    from genzoo.registry import hookimpl, ModelSpec
    from genzoo.plugins.independent import IndependentPixels, IndependentConfig

    class IsoCat(IndependentPixels):
        '''The independent model under another name.'''

    @hookimpl
    def register_models(register):
        register(ModelSpec(name="isocat", model_class=IsoCat, config_class=IndependentConfig,
                           family="test", density="exact", sampling="parallel", data="image"))
"""

BROKEN = {  # entry point -> what its error says
    "iso-import": "failed to import: ImportError: genzoo-broken needs tensorflow",
    "iso-dupe": "model name 'pixelcnn' is already registered by plugin 'genzoo.pixelcnn'",
    "iso-future": "refused: plugin 'iso-future' was built for genzoo plugin API 2 (GENZOO_API), "
                  "but this genzoo provides plugin API 1.0",
}


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """A folder holding the installed-looking distribution genzoo-isolation 0.2."""
    root = tmp_path_factory.mktemp("isolation-site")
    make_distribution(root, "genzoo-isolation",
                      {"iso-import": "iso_import", "iso-dupe": "iso_dupe",
                       "iso-future": "iso_future", "iso-good": "iso_good"},
                      {"iso_import": IMPORT_ERROR, "iso_dupe": DUPLICATE,
                       "iso_future": FUTURE, "iso_good": GOOD}, version="0.2")
    return root


@pytest.fixture
def installed(site, monkeypatch):
    """The distribution on ``sys.path`` and every entry point allowed (``GENZOO_PLUGINS``
    unset), as after a plain ``pip install``; undone after the test."""
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.delenv("GENZOO_PLUGINS", raising=False)
    yield site
    for name in [m for m in sys.modules if m.startswith("iso_")]:
        del sys.modules[name]


def check_plugins_json(rows: list[dict]) -> None:
    """Each broken plugin is listed by name with its error; the good one and the built-ins
    loaded."""
    plugins = {row["name"]: row for row in rows}
    for name, error in BROKEN.items():
        assert plugins[name]["error"] and error in plugins[name]["error"], plugins[name]
        assert plugins[name]["models"] == [] and plugins[name]["builtin"] is False
        assert plugins[name]["version"] == "0.2"
    assert plugins["iso-future"]["api"] == "2" and plugins["iso-dupe"]["api"] == "1"
    good = plugins["iso-good"]
    assert good["error"] is None and good["models"] == ["isocat"]
    assert good["api"] is None  # declares no GENZOO_API: assumed compatible, and shown so
    builtins = [row for row in rows if row["builtin"]]
    assert builtins and all(row["error"] is None and row["api"] == "1" for row in builtins)


def test_plugins_json_names_each_broken_plugin_with_its_error(installed):
    check_plugins_json(json.loads(run("plugins", "--json").stdout))


def test_plugins_table_shows_the_broken_plugins_too(installed):
    output = run("plugins").stdout
    for name in BROKEN:
        assert name in output
    assert "needs tensorflow" in output and "plugin API 2" in output


def test_models_lists_the_builtins_and_the_good_plugin(installed, registry):
    models = {row["name"]: row for row in json.loads(run("models", "--json").stdout)}
    assert set(registry.models) | {"isocat"} == set(models)  # conftest: the built-ins alone
    assert models["pixelcnn"]["plugin"] == "genzoo.pixelcnn"  # the impostor took nothing
    assert models["pixelcnn"]["family"] != "impostor"
    assert models["isocat"]["plugin"] == "iso-good"


def test_training_works_with_the_broken_plugins_installed(installed, isolated_home):
    record = last_json(run("train", "independent", "--dataset", "digits", "--steps", 0,
                           "--json", "-q"))
    assert record["model"] == "independent" and record["status"] == "completed"
    assert record["metrics"]["test_bits_per_dim"] > 0
    good = last_json(run("train", "isocat", "--dataset", "digits", "--steps", 0, "--json", "-q"))
    assert good["status"] == "completed"
    assert run("train", "iso-future", "--dataset", "digits", ok=False).exit_code != 0


def test_a_fresh_interpreter_reports_the_same(site, tmp_path):
    """``genzoo plugins --json`` as a user runs it: a new process with the site on PYTHONPATH."""
    env = {key: value for key, value in os.environ.items() if key != "GENZOO_PLUGINS"}
    env.update(PYTHONPATH=os.pathsep.join([str(site), *filter(None, [env.get("PYTHONPATH")])]),
               GENZOO_HOME=str(tmp_path / "home"), OMP_NUM_THREADS="1")
    result = subprocess.run([sys.executable, "-m", "genzoo.registry.cli", "plugins", "--json"],
                            env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    check_plugins_json(json.loads(result.stdout))
