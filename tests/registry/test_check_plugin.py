"""The plugin author's kit: ``genzoo check-plugin``, ``parametrize_with_checks`` and
``genzoo new-plugin``, and the contract checks' messages that say what to fix."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest
import torch

from genzoo.plugins.independent import IndependentConfig, IndependentPixels
from genzoo.registry import ModelSpec
from genzoo.registry.conformance import CHECKS, ContractViolation, parametrize_with_checks
from genzoo.registry.plugins import get_registry

from cli_helpers import run
from plugin_packages import make_distribution

CHECK_NAMES = [check.name for check in CHECKS]

BROKEN_PLUGIN = """
    import torch
    from genzoo.registry import Claim, hookimpl, ModelSpec
    from genzoo.plugins.independent import IndependentPixels, IndependentConfig

    class Broken(IndependentPixels):
        '''Samples without their channel axis, and NaN for a likelihood.'''

        def sample(self, n, generator=None):
            return super().sample(n, generator=generator)[:, 0]  # (n, H, W)

        def log_prob(self, x):
            return torch.full((len(x),), float("nan"))

    @hookimpl
    def register_models(register):
        register(ModelSpec(name="broken-model", model_class=Broken,
                           config_class=IndependentConfig, family="test", density="exact",
                           sampling="parallel", data="image",
                           pros=(Claim("Samples fast", "sample_ms_per_image_b64"),
                                 Claim("Very good", "goodness_score"))))
"""


MISSPELLED_HOOK = """
    from genzoo.registry import hookimpl

    @hookimpl
    def register_model(register):  # one letter short of register_models
        raise AssertionError("never called")
"""

NO_HOOKS = """
    def register_models(register):  # no @hookimpl: pluggy never sees it
        raise AssertionError("never called")
"""


@pytest.fixture
def broken_plugins(tmp_path, monkeypatch):
    """Installed-looking plugins: ``broken-checks`` loads but its model breaks the contract,
    ``unimportable`` fails to import."""
    make_distribution(tmp_path, "genzoo-broken-checks",
                      {"broken-checks": "broken_checks_plugin",
                       "unimportable": "unimportable_checks_plugin",
                       "misspelled": "misspelled_hook_plugin", "hookless": "no_hooks_plugin"},
                      {"broken_checks_plugin": BROKEN_PLUGIN,
                       "unimportable_checks_plugin": "raise ImportError('needs torchvision')\n",
                       "misspelled_hook_plugin": MISSPELLED_HOOK, "no_hooks_plugin": NO_HOOKS})
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delenv("GENZOO_PLUGINS", raising=False)


# -- genzoo check-plugin --------------------------------------------------------------------------


def test_check_plugin_passes_a_builtin_and_lists_every_check():
    result = run("check-plugin", "genzoo.independent")
    assert "plugin genzoo.independent" in result.stdout
    rows = [line.split() for line in result.stdout.splitlines()
            if line.startswith("independent ")]
    assert [row[1] for row in rows] == CHECK_NAMES
    assert all(row[2] == "pass" for row in rows)
    assert f"{len(CHECKS)} of {len(CHECKS)} checks passed" in result.stdout


def test_check_plugin_json_and_a_model_name():
    result = run("check-plugin", "independent", "--json")
    report = json.loads(result.stdout)
    assert report["passed"] is True and report["failed"] == 0
    assert report["kind"] == "model" and report["plugin"] == "genzoo.independent"
    assert [r["check"] for r in report["models"]["independent"]] == CHECK_NAMES
    assert "is a model, not a plugin" in result.stderr


def test_check_plugin_names_each_failed_check_with_its_fix(broken_plugins):
    result = run("check-plugin", "broken-checks", ok=False)
    assert result.exit_code == 1
    results = {line.split()[1]: line.split()[2] for line in result.stdout.splitlines()
               if line.startswith("broken-model ")}
    assert results == {"loss": "pass", "sample": "FAIL", "sample_deterministic": "pass",
                       "log_prob": "FAIL", "normalized": "FAIL", "state_round_trip": "pass",
                       "claims": "FAIL"}
    fixes = result.stdout.split("what to fix:")[1]
    assert ("broken-model / sample: ContractViolation: sample(3) returned the wrong shape: "
            "expected (3, 1, 5, 5) (n, *data.shape), got (3, 5, 5)") in fixes
    assert "broken-model / log_prob: ContractViolation: log_prob() is not finite for 8 of 8" \
        in fixes
    assert "log_softmax" in fixes
    assert "broken-model / normalized: ContractViolation: the likelihood does not normalize" \
        in fixes and "sum to nan" in fixes
    assert ("broken-model / claims: ContractViolation: the claim 'Very good' names metric "
            "'goodness_score', which no plugin registers") in fixes
    assert "3 of 7 checks passed" in result.stdout

    report = json.loads(run("check-plugin", "broken-checks", "--json", ok=False).stdout)
    assert report["passed"] is False and report["failed"] == 4
    assert report["version"] == "0.1"


def test_other_plugins_keep_working_beside_broken_ones(broken_plugins):
    models = {m["name"]: m["plugin"] for m in json.loads(run("models", "--json").stdout)}
    assert models["broken-model"] == "broken-checks"
    assert {"independent", "pixelcnn", "ar"} <= set(models)
    plugins = {p["name"]: p for p in json.loads(run("plugins", "--json").stdout)}
    assert "needs torchvision" in plugins["unimportable"]["error"]
    assert run("check-plugin", "genzoo.independent").exit_code == 0


def test_a_plugin_that_failed_to_import_is_reported(broken_plugins):
    result = run("check-plugin", "unimportable", ok=False)
    assert result.exit_code == 1
    assert "plugin 'unimportable' failed to load" in result.stderr
    assert "ImportError: needs torchvision" in result.stderr


def test_unknown_plugin_exits_2_listing_the_known_ones():
    result = run("check-plugin", "genzoo.pixelcnm", ok=False)
    assert result.exit_code == 2
    assert "unknown plugin 'genzoo.pixelcnm'" in result.stderr
    assert "known plugins: " in result.stderr and "genzoo.pixelcnn" in result.stderr


# -- the checks' messages ------------------------------------------------------------------------


class NoLossKey(IndependentPixels):
    """Names its total "nll" instead of "loss"."""

    def loss(self, batch):
        parts = super().loss(batch)
        return {"nll": parts.pop("loss"), **parts}


class PerPixelLogProb(IndependentPixels):
    """Returns one log-probability per pixel instead of per image."""

    def log_prob(self, x):
        return self._log_probs_per_dim(x)


class GlobalRandom(IndependentPixels):
    """Ignores the generator and draws from the global RNG."""

    def sample(self, n, generator=None):
        return super().sample(n, generator=None)


class Unnormalized(IndependentPixels):
    """Adds half a nat to every log-probability."""

    def log_prob(self, x):
        return super().log_prob(x) + 0.5


class PlainTensorAttribute(IndependentPixels):
    """Keeps an offset as a plain attribute, so checkpoints lose it."""

    def __init__(self, config, data):
        super().__init__(config, data)
        self.offset = -torch.rand(1)

    def log_prob(self, x):
        return super().log_prob(x) + self.offset


def spec_of(model_class) -> ModelSpec:
    """A descriptor for one of the broken models above."""
    return ModelSpec(name=model_class.__name__.lower(), model_class=model_class,
                     config_class=IndependentConfig, family="test", density="exact",
                     sampling="parallel", data="image")


def run_check(name: str, model_class) -> str:
    """The message of check ``name`` failing on ``model_class``."""
    (check,) = [c for c in CHECKS if c.name == name]
    with pytest.raises(ContractViolation) as caught:
        check.run(spec_of(model_class))
    return str(caught.value)


@pytest.mark.parametrize("model_class,check,says", [
    (NoLossKey, "loss", ["must return a 'loss' key", "got keys ['bits_per_dim', 'nll']",
                         "return {'loss': total"]),
    (PerPixelLogProb, "log_prob", ["one value per example: expected shape (8,)",
                                   "got shape (8, 1, 5, 5)", ".flatten(1).sum(1)"]),
    (GlobalRandom, "sample_deterministic", ["not deterministic", "same generator seed",
                                            "generator=generator"]),
    (Unnormalized, "normalized", ["does not normalize", "sum to 1.648721, not 1"]),
    (PlainTensorAttribute, "state_round_trip", [
        "differing tensors: offset (a plain tensor attribute, not in the state_dict)",
        "register_buffer"]),
], ids=lambda v: v if isinstance(v, str) else getattr(v, "__name__", None))
def test_failures_say_what_to_fix(model_class, check, says):
    message = run_check(check, model_class)
    for text in says:
        assert text in message, message


def test_a_bound_above_the_likelihood_fails_and_a_bound_below_it_passes():
    """A bound model's probabilities over the 16 binary 2x2 images sum to at most 1: a "bound"
    half a nat above the exact likelihood sums to e^0.5 and fails; the exact likelihood less
    half a nat (a true lower bound) passes."""
    (check,) = [c for c in CHECKS if c.name == "normalized"]

    class Loose(IndependentPixels):
        def log_prob(self, x):
            return super().log_prob(x) - 0.5

    def bound_spec(model_class):
        return ModelSpec(name=model_class.__name__.lower(), model_class=model_class,
                         config_class=IndependentConfig, family="test", density="bound",
                         sampling="parallel", data="image")

    assert check.applies(bound_spec(Unnormalized))
    with pytest.raises(ContractViolation, match="above the likelihood: .* sums to 1.648721"):
        check.run(bound_spec(Unnormalized))
    check.run(bound_spec(Loose))


def test_an_exception_in_model_code_names_where_it_was_raised():
    from genzoo.registry.conformance import run_checks

    class Crashes(IndependentPixels):
        def sample(self, n, generator=None):
            raise RuntimeError("boom")

    results = {r["check"]: r for r in run_checks(spec_of(Crashes))}
    message = results["sample"]["message"]
    assert message.startswith("RuntimeError: boom (raised at test_check_plugin.py:")
    assert "in sample" in message and results["loss"]["passed"]


# -- parametrize_with_checks ---------------------------------------------------------------------

BUILTINS = get_registry(environ={"GENZOO_PLUGINS": ""})


@parametrize_with_checks(["independent"], registry=BUILTINS)
def test_parametrize_with_checks_runs_each_check(model, check):
    check.run(model)


def test_parametrize_with_checks_ids_and_plugin_names():
    mark = parametrize_with_checks(["independent", "genzoo.ar"], registry=BUILTINS)
    assert mark.args[0] == ("model", "check")
    ids = [param.id for param in mark.args[1]]
    assert ids[:len(CHECKS)] == [f"independent-{name}" for name in CHECK_NAMES]
    assert {"ar-loss", "neural-ar-state_round_trip"} <= set(ids)
    assert len(ids) == 3 * len(CHECKS)
    assert all(isinstance(param.values[0], ModelSpec) for param in mark.args[1])


def test_parametrize_with_checks_refuses_an_unknown_name():
    from genzoo.registry.errors import NotFound

    with pytest.raises(NotFound, match="known plugins: .*genzoo.independent"):
        parametrize_with_checks(["no-such-model"], registry=BUILTINS)


# -- genzoo new-plugin ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def scaffolded(tmp_path_factory):
    """``genzoo new-plugin demo-thing`` pip-installed into a folder of its own: (package, site)."""
    root = tmp_path_factory.mktemp("new-plugin")
    result = run("new-plugin", "demo-thing", "--dir", root)
    package = root / "genzoo-demo-thing"
    assert f"wrote {package}" in result.stdout
    source = root / "src"  # pip builds in the tree it is given: a copy keeps the package clean
    shutil.copytree(package, source)
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--no-build-isolation",
                    "--no-index", "-q", "--target", str(root / "site"), str(source)],
                   check=True, capture_output=True, text=True)
    return package, root / "site"


def in_subprocess(site, *args, cwd, plugins):
    """Run ``python ARGS`` with the installed package on PYTHONPATH."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(site), *filter(None, [os.environ.get("PYTHONPATH")])]),
        "GENZOO_PLUGINS": plugins, "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, *map(str, args)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)


def test_new_plugin_writes_a_package_with_its_entry_point(scaffolded):
    package, site = scaffolded
    files = sorted(str(p.relative_to(package)) for p in package.rglob("*") if p.is_file())
    assert files == ["README.md", "genzoo_demo_thing/__init__.py", "genzoo_demo_thing/model.py",
                     "genzoo_demo_thing/plugin.py", "pyproject.toml", "tests/test_contract.py"]
    assert 'genzoo-demo-thing = "genzoo_demo_thing.plugin"' in \
        (package / "pyproject.toml").read_text()
    readme = (package / "README.md").read_text()
    for step in ("pip install -e .", "genzoo check-plugin genzoo-demo-thing",
                 "genzoo train demo-thing --dataset digits"):
        assert step in readme
    (info,) = site.glob("genzoo_demo_thing-*.dist-info")
    assert "[genzoo]" in (info / "entry_points.txt").read_text()


def test_the_new_plugin_passes_check_plugin(scaffolded, tmp_path):
    package, site = scaffolded
    # GENZOO_PLUGINS="" loads no entry point, but check-plugin loads the one it is asked for
    result = in_subprocess(site, "-m", "genzoo.registry.cli", "check-plugin",
                           "genzoo-demo-thing", "--json", cwd=tmp_path, plugins="")
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout)
    assert report["passed"] and report["version"] == "0.1.0"
    assert [r["check"] for r in report["models"]["demo-thing"]] == CHECK_NAMES


def test_the_new_plugin_own_tests_pass(scaffolded):
    package, site = scaffolded
    result = in_subprocess(site, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-rA",
                           cwd=package, plugins="genzoo-demo-thing")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "test_contract[demo-thing-state_round_trip]" in result.stdout
    assert f"{len(CHECKS) + 1} passed" in result.stdout


def test_new_plugin_refuses_an_existing_folder(tmp_path):
    (tmp_path / "genzoo-taken").mkdir()
    result = run("new-plugin", "taken", "--dir", tmp_path, ok=False)
    assert result.exit_code == 2 and "exists already" in result.stderr
    assert list((tmp_path / "genzoo-taken").iterdir()) == []


@pytest.mark.parametrize("name", ["Demo", "my_model", "-demo", "demo-", "1demo", "a--b", "a b"])
def test_new_plugin_refuses_a_bad_name(tmp_path, name):
    result = run("new-plugin", "--dir", tmp_path, "--", name, ok=False)
    assert result.exit_code == 2
    assert "lowercase letters, digits and dashes" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_new_plugin_refuses_a_registered_model_name(tmp_path):
    result = run("new-plugin", "pixelcnn", "--dir", tmp_path, ok=False)
    assert result.exit_code == 2 and "registered already" in result.stderr


def test_a_misspelled_hook_is_a_load_error_naming_the_hook(broken_plugins):
    plugins = {p["name"]: p for p in json.loads(run("plugins", "--json").stdout)}
    error = plugins["misspelled"]["error"]
    assert "'register_model' is not a genzoo hook" in error
    assert "did you mean 'register_models'" in error
    assert plugins["broken-checks"]["error"] is None  # the others load as before
    result = run("check-plugin", "misspelled", ok=False)
    assert result.exit_code == 1 and "register_model" in result.output


def test_a_plugin_that_registers_nothing_fails_check_plugin(broken_plugins):
    result = run("check-plugin", "hookless", ok=False)
    assert result.exit_code == 1
    assert "registers nothing" in result.stdout and "@hookimpl" in result.stdout
    report = json.loads(run("check-plugin", "hookless", "--json", ok=False).stdout)
    assert report["passed"] is False and report["total"] == 0
    assert run("check-plugin", "genzoo.datasets").exit_code == 0  # datasets only: not empty


def test_checks_that_do_not_apply_are_reported_na_not_passed():
    report = json.loads(run("check-plugin", "gan", "--json").stdout)
    results = {r["check"]: r for r in report["models"]["gan"]}
    for check in ("log_prob", "normalized"):  # an implicit density has neither
        assert results[check]["passed"] is None and "implicit" in results[check]["message"]
    assert report["total"] == len(CHECKS) - 2 and report["not_applicable"] == 2
    vae = run("check-plugin", "vae")
    rows = {line.split()[1]: line.split()[2] for line in vae.stdout.splitlines()
            if line.startswith("vae ")}
    # a bound sums to at most 1: checked on the vae, n/a only where there is no bound at all
    assert rows["normalized"] == "pass" and rows["log_prob"] == "pass"
    assert f"{len(CHECKS)} of {len(CHECKS)} checks passed" in vae.stdout
    (normalized,) = [c for c in CHECKS if c.name == "normalized"]
    assert "bound_available = False" in normalized.not_applicable(BUILTINS.model("vqvae"))


def test_parametrize_yields_only_the_checks_that_apply():
    marker = parametrize_with_checks(["gan"])
    names = [param.values[1].name for param in marker.args[1]]
    assert "log_prob" not in names and "normalized" not in names and "sample" in names
