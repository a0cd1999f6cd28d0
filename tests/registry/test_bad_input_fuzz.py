"""Bad input, tried in bulk (issue 10): hypothesis over every ``genzoo`` command's arguments and
over the content of uploaded CSV files.

The contract (README, ``registry/cli.py``): bad input ends in one line, ``error: ...`` (or
click's own ``Error: ...`` usage message), and exit code 2; never a traceback, and nothing is
written half-way: no output file, no temporary file, no run left in the store.

The argument strategies are derived from each click command's declared ``params`` (option
names, types, ranges, choices), so a new command or option is fuzzed without editing this file;
what a parameter *means* (a model, a run, a path) adds the names that reach deeper. Where a
drawn invocation would do real work (train, resume, bench, sample, ...) a guard steers it onto a
tiny budget, so the file runs in about a minute on two cores. The number of cases each test
ran is written to ``tests/artifacts/fuzz_counts.json``.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import json
import math
import os
import shlex
import tempfile
import time
import traceback
from pathlib import Path

import click
import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from genzoo.registry.cli import cli
from genzoo.registry.errors import GenzooError
from genzoo.registry.plugins import get_registry
from genzoo.registry.store import RunStore

REGISTRY = get_registry(environ={"GENZOO_PLUGINS": ""})
MODELS = sorted(REGISTRY.models)
DATASETS = sorted(REGISTRY.datasets)
PLUGINS = sorted(REGISTRY.plugins)
ENV = {"GENZOO_PLUGINS": ""}  # built-ins only: the outcome must not depend on what is installed

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
COUNTS: collections.Counter = collections.Counter()  # cases run, per test
OUTCOMES: collections.Counter = collections.Counter()  # how they ended, to see what was reached

# `dashboard` is left out: valid input starts a Streamlit server (os.execvp replaces the test
# process), so it cannot be invoked in-process.
SKIPPED = {"dashboard"}
COMMANDS = sorted(set(cli.commands) - SKIPPED)
# Commands that get an empty store per case: a demo run left by one case would turn the next
# case's (refused) scale into a different path.
FRESH_HOME = {"demo"}

# Exit code 1 is documented for a failed contract check (check-plugin) and for a diverged
# training run (TrainingDiverged); everything else is 0 or 2.
EXIT_CODES = {"check-plugin": {0, 1, 2}, "train": {0, 1, 2}, "resume": {0, 1, 2}}

FUZZ_SCALE = float(os.environ.get("FUZZ_SCALE", "1"))  # FUZZ_SCALE=5: a five times longer hunt
# The same cases on every run, so CI passes or fails on the code and not on the draw; a hunt for
# new cases sets FUZZ_RANDOM=1 (and a failure it finds becomes a fixed case below).
FUZZ_RANDOM = os.environ.get("FUZZ_RANDOM", "") not in ("", "0")
# The conftest's autouse isolated_home is function-scoped, hence the health check; no case uses
# it: each passes GENZOO_HOME itself (the module's store, or a fresh one).
_FUZZ = settings(deadline=None, database=None,  # no .hypothesis/ folder in the checkout
                 derandomize=not FUZZ_RANDOM,
                 suppress_health_check=[HealthCheck.function_scoped_fixture,
                                        HealthCheck.too_slow, HealthCheck.data_too_large,
                                        HealthCheck.filter_too_much])


def fuzz(examples: int) -> settings:
    """The file's settings with ``examples`` cases (scaled by $FUZZ_SCALE for a longer hunt)."""
    return settings(_FUZZ, max_examples=max(1, round(examples * FUZZ_SCALE)))


# -- what the world looks like: a store with a few tiny runs, files to point at ---------------

FIXTURE_RUNS = {
    "ar-run": ["ar", "-d", "nile", "--steps", "0"],
    "csv-run": ["ar", "-d", "SERIES", "--column", "value", "--steps", "0"],  # the world's CSV
    "px-run": ["pixelcnn", "-d", "digits", "--steps", "1", "--set", "hidden=2",
               "--set", "layers=1"],
    "vae-run": ["vae", "-d", "digits", "--steps", "1", "--set", "hidden=2",
                "--set", "latent_dim=2", "--set", "channels=2"],
}
SERIES_CSV = "year,value\n" + "".join(f"{1900 + i},{v:.4f}\n" for i, v in
                                      enumerate(np.random.default_rng(0).normal(size=60)))


@dataclasses.dataclass
class World:
    """The module's runs store (with FIXTURE_RUNS) and its valid CSV series."""

    home: Path
    series: Path  # absolute


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> World:
    """Train the fixture runs once: the cases that read a run get past its lookup."""
    root = tmp_path_factory.mktemp("fuzz-world")
    series = root / "series.csv"
    series.write_text(SERIES_CSV)
    home = root / "home"
    for run_id, args in FIXTURE_RUNS.items():
        args = [str(series) if a == "SERIES" else a for a in args]
        result = invoke(["train", *args, "--run-id", run_id, "-q"], home)
        assert result.exit_code == 0, result.output + repr(result.exception)
    return World(home=home, series=series)


@pytest.fixture(scope="module", autouse=True)
def fuzz_counts():
    """Write how many cases each test ran (and the file's wall time) when the module ends."""
    started = time.perf_counter()
    yield COUNTS
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    counts = dict(sorted(COUNTS.items()))
    (ARTIFACTS / "fuzz_counts.json").write_text(json.dumps(
        {"cases": counts, "total": sum(counts.values()),
         "seconds": round(time.perf_counter() - started, 1),
         "outcomes": dict(sorted(OUTCOMES.items()))}, indent=1) + "\n")


def invoke(args: list[str], home: Path):
    """``genzoo ARGS`` in-process against ``home``, exceptions caught (the property reads them)."""
    return CliRunner().invoke(cli, args, env={**ENV, "GENZOO_HOME": str(home)},
                              catch_exceptions=True)


@contextlib.contextmanager
def workdir(series: Path):
    """A fresh current folder per case: ``out/`` to write to, ``afile`` (a file, not a folder),
    ``series.csv`` (valid), ``empty.csv`` and ``binary.csv``; relative paths land here."""
    previous = os.getcwd()
    with tempfile.TemporaryDirectory(prefix="genzoo-fuzz-") as folder:
        path = Path(folder)
        (path / "out").mkdir()
        (path / "afile").write_text("not a folder\n")
        (path / "series.csv").write_bytes(series.read_bytes())
        (path / "empty.csv").write_bytes(b"")
        (path / "binary.csv").write_bytes(bytes(range(256)))
        os.chdir(path)
        try:
            yield path
        finally:
            os.chdir(previous)


def state(home: Path, work: Path) -> dict:
    """Every file under the current folder and the store (but its SQLite file), and the runs."""
    def files(root):
        return sorted(str(p.relative_to(root)) for p in root.rglob("*")
                      if not p.name.startswith("runs.sqlite")) if root.exists() else []

    runs = sorted(r.run_id for r in RunStore(home).list_runs()) if home.exists() else []
    return {"work": files(work), "home": files(home), "runs": runs}


def check_outcome(args: list[str], result, before: dict, after: dict, allowed=frozenset({0, 2})):
    """The property every case must hold: a clean exit, a one-line error, nothing half-written."""
    where = (f"genzoo {shlex.join(args)}\n--- exit {result.exit_code}\n--- stdout\n"
             f"{result.stdout[-2000:]}\n--- stderr\n{result.stderr[-2000:]}")
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        trace = "".join(traceback.format_exception(*result.exc_info))
        pytest.fail(f"traceback from {where}\n{trace}")
    assert result.exit_code in allowed, where
    assert "Traceback" not in result.output, where
    if result.exit_code != 0:
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        if args[0] != "check-plugin" or result.exit_code != 1:  # exit 1 there: a report
            assert lines and lines[-1].startswith(("error: ", "Error: ")), where
    if result.exit_code == 2:
        assert after == before, f"a failed command left something behind\n{where}"
    leftovers = [name for name in after["work"] if Path(name).name.endswith(".tmp")]
    assert not leftovers, f"temporary files left: {leftovers}\n{where}"


# -- strategies derived from click params -----------------------------------------------------

# Text as argv can carry it: any code point but NUL, lone surrogates included (a byte that is
# not UTF-8 arrives as one), control characters, right-to-left marks, long strings.
ODD_TEXT = st.one_of(
    st.text(st.characters(exclude_characters="\x00", exclude_categories=()), max_size=20),
    st.text(st.characters(codec="ascii", exclude_characters="\x00"), max_size=10),
    st.sampled_from(["", " ", "-", "--", "-x", "--bogus", "..", ".", "/", "~", "\n", "\t",
                     "é", "名前", "🦄", "\u202e", "\x7f", "\udcff", "a" * 300, "None", "null",
                     "true", "NaN", "a=b", "=", "a,b", "'", '"']),
)
HUGE = [2**31, 2**32, 2**53 + 1, 2**63 - 1, 2**63, 2**64, 10**30, -(2**63) - 1, -(10**30)]
NUMBER_TEXT = st.one_of(
    st.integers(-3, 12).map(str),
    st.sampled_from(HUGE).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(["nan", "inf", "-inf", "1e309", "-0", "0x10", "1_000", " 5 ", "5.0", "1e3",
                     "١٢"]),  # Arabic-Indic digits: Python's int() reads them as 12
)
# Paths relative to the case's folder (never absolute, never ``..``: nothing outside it).
STEM = st.text(st.characters(exclude_characters="\x00/", exclude_categories=()), min_size=1,
               max_size=12).filter(lambda s: s not in (".", ".."))
FILE_PATHS = st.one_of(
    st.sampled_from(["out/x.png", "out/x.npy", "out/x.csv", "out/x.txt", "out/X.PNG", "out/.png",
                     "out/x", "missing/x.png", "afile/x.png", "afile/x.csv", "afile", "out", "",
                     ".", "out/x.png/", "out/" + "a" * 300 + ".png", "out/" + "名" * 90 + ".npy",
                     "out/é 名.png", "out/\udcff.csv", "out/-x.npy", "out/x.png\n"]),
    st.builds(lambda stem, suffix: f"out/{stem}{suffix}", STEM,
              st.sampled_from([".png", ".npy", ".csv", ""])),
)
DIR_PATHS = st.one_of(
    st.sampled_from(["out", "out/new", "out/a/b", "afile", "afile/sub", "missing/deeper", "", ".",
                     "out/" + "a" * 300, "out/\udcff", "series.csv"]),
    STEM.map(lambda stem: f"out/{stem}"),
)
CSV_NAMES = ["series.csv", "missing.csv", "empty.csv", "binary.csv", "SERIES.CSV", "out/x.csv",
             "afile/x.csv", ".csv", "out"]
RUN_IDS = sorted(FIXTURE_RUNS)


def _comma_list(element):
    return st.lists(element, max_size=3).map(",".join)


def _pair(key, value):
    return st.builds(lambda k, v: f"{k}={v}", key, value)


def _settable(model: str, dataset: str | None = None) -> set[str]:
    """The ``--set`` keys that mean something: the model's config fields, the dataset's options."""
    keys = {f.name for f in dataclasses.fields(REGISTRY.models[model].config_class)}
    if dataset in REGISTRY.datasets:
        keys |= set(REGISTRY.datasets[dataset].option_defaults())
    return keys


ALL_FIELDS = sorted(set().union(*(_settable(m) for m in MODELS))
                    | {k for spec in REGISTRY.datasets.values() for k in spec.option_defaults()})
SET_PAIRS = st.one_of(_pair(st.one_of(st.sampled_from(ALL_FIELDS), ODD_TEXT),
                            st.one_of(NUMBER_TEXT, ODD_TEXT,
                                      st.sampled_from(["true", "no", "none", "auto"]))),
                      ODD_TEXT)

# What a parameter means, by its name: the values that reach past the first check.
MEANING = {
    "model": st.sampled_from(MODELS),
    "dataset": st.sampled_from(DATASETS + CSV_NAMES),
    "real_dataset": st.sampled_from(DATASETS + CSV_NAMES),
    "column": st.sampled_from(["value", "year", "Value", " value"]),
    "run_id": st.one_of(st.sampled_from(RUN_IDS), st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,20}",
                                                                 fullmatch=True)),
    "parent": st.sampled_from(RUN_IDS),
    "device": st.sampled_from(["auto", "cpu", "cuda", "cuda:0", "cuda:99", "CPU", " cpu ", "mps",
                               "cuda:-1", "cuda:x", "cuda:" + str(2**64), "gpu"]),
    "settings": SET_PAIRS,
    "mask_name": st.one_of(st.sampled_from(["top-half", "bottom-half", "left-half", "right-half",
                                            "center", "random", "random:0.5", "Random:0.5",
                                            "random:", "random:1", "random:0"]),
                           NUMBER_TEXT.map(lambda n: f"random:{n}")),
    "model_names": _comma_list(st.one_of(st.sampled_from(MODELS), ODD_TEXT)),
    "sizes": _comma_list(NUMBER_TEXT),
    "precisions": _comma_list(st.sampled_from(["fp32", "bf16", "fp16", "FP32", "", "auto"])),
    "modes": _comma_list(st.sampled_from(["eager", "compiled", "jit", "", "EAGER"])),
    "name": st.one_of(st.sampled_from(PLUGINS + MODELS),
                      st.from_regex(r"[a-z][a-z0-9]{0,6}(-[a-z0-9]{1,4})?", fullmatch=True)),
    "scale": NUMBER_TEXT,
}


def _int_range(param_type: click.IntRange):
    """Values at, inside and just past each declared bound."""
    edges = [b + d for b in (param_type.min, param_type.max) if b is not None for d in (-1, 0, 1)]
    return st.sampled_from(edges).map(str) if edges else NUMBER_TEXT


# Values that pass a parameter's own check, so that a case gets past it to the next one.
PLAUSIBLE = {"run_id": st.sampled_from(RUN_IDS), "dataset": st.sampled_from(DATASETS),
             "real_dataset": st.sampled_from(DATASETS)}


def plausible_strategy(param: click.Parameter):
    """A value ``param`` accepts: its meaning, one of its choices, a small in-range number, a
    path in the case's ``out/`` folder."""
    kind = param.type
    if param.name in PLAUSIBLE or param.name in MEANING:
        return PLAUSIBLE.get(param.name, MEANING.get(param.name))
    if isinstance(kind, click.Choice):
        return st.sampled_from([str(c) for c in kind.choices])
    if isinstance(kind, click.IntRange):
        low = kind.min if kind.min is not None else 0
        high = min(low + 3, kind.max) if kind.max is not None else low + 3
        return st.integers(low, high).map(str)
    if isinstance(kind, click.types.IntParamType):
        return st.integers(0, 3).map(str)
    if isinstance(kind, click.types.FloatParamType):
        return st.sampled_from(["0.5", "1", "2.5"])
    if isinstance(kind, click.Path):
        return st.sampled_from(["out/new"] if not kind.file_okay else
                               ["out/x.png", "out/x.npy", "out/x.csv"])
    return st.one_of(st.integers(0, 3).map(str), ODD_TEXT)


def value_strategy(param: click.Parameter):
    """What to give ``param``: drawn from its declared type, its meaning, and odd text."""
    kind = param.type
    options = []
    if param.name in MEANING:
        options.append(MEANING[param.name])
    if isinstance(kind, click.Choice):
        choices = [str(c) for c in kind.choices]
        options += [st.sampled_from(choices), st.sampled_from(choices).map(str.upper)]
    elif isinstance(kind, click.IntRange):
        options += [_int_range(kind), NUMBER_TEXT]
    elif isinstance(kind, (click.types.IntParamType, click.types.FloatParamType)):
        options.append(NUMBER_TEXT)
    elif isinstance(kind, click.Path):
        options.append(DIR_PATHS if not kind.file_okay else FILE_PATHS)
    options += [NUMBER_TEXT, ODD_TEXT]
    return st.one_of(*options)


def _is_flag(param) -> bool:
    return isinstance(param, click.Option) and (param.is_flag or param.count)


@st.composite
def invocations(draw, command: click.Command) -> list[str]:
    """An argv for ``command``: each declared param present or not, with a drawn value; then
    the command's guard (if any) keeps real work tiny; then stray extras now and then.

    Each case draws how careful it is: from every value junk to every value plausible, so that
    some cases fail at the first check and others get past all but one (or all) of them."""
    careful = draw(st.sampled_from([0, 5, 8, 10]))  # in 10: how often a value is plausible
    values = {}
    for param in command.params:
        if param.required:
            present = draw(st.integers(0, 9)) > 0  # mostly there; sometimes missing
        else:
            present = draw(st.booleans())
        if not present:
            values[param.name] = None
        elif _is_flag(param):
            values[param.name] = draw(st.sampled_from(param.opts + param.secondary_opts))
        else:
            strategy = (plausible_strategy(param) if draw(st.integers(0, 9)) < careful
                        else value_strategy(param))
            if param.multiple or (param.nargs or 1) != 1:
                values[param.name] = draw(st.lists(strategy, min_size=1, max_size=3))
            else:
                values[param.name] = draw(strategy)
    guard = GUARDS.get(command.name)
    if guard is not None:
        guard(draw, values)
    params = {p.name: p for p in command.params}
    groups, positionals = [], []
    for name, value in values.items():
        param = params[name]
        if value is None:
            continue
        if isinstance(param, click.Argument):  # RUN_ID... (nargs=-1) takes a list
            positionals.extend(value if isinstance(value, list) else [value])
        elif _is_flag(param):
            groups.append([value])
        else:
            for item in value if isinstance(value, list) else [value]:
                groups.append([draw(st.sampled_from(param.opts)), item])
    groups = draw(st.permutations(groups))
    extra = draw(st.sampled_from([[]] * 6 + [["--bogus"], ["stray"], ["--help"], ["--"]]))
    return [command.name, *[token for group in groups for token in group], *positionals, *extra]


# -- guards: valid-looking invocations get tiny budgets ----------------------------------------

# Pairs that train in a fraction of a second; a drawn valid (model, dataset) becomes one.
CHEAP_TRAIN = [pair for pair in [("ar", "nile"), ("ar", "sunspots"), ("ar", "series.csv"),
                                 ("neural-ar", "nile"), ("independent", "digits"),
                                 ("independent", "shapes"), ("independent", "8-gaussians"),
                                 ("gan", "8-gaussians"), ("gmm", "8-gaussians")]
               if pair[0] in REGISTRY.models]
# Step budgets: tiny, negative, or past what the store can hold (must be refused).
TINY_STEPS = st.one_of(st.integers(0, 2).map(str), st.integers(-(2**70), -1).map(str),
                       st.sampled_from([2**63, 2**64, 10**30]).map(str), ODD_TEXT)
BAD_SECONDS = st.one_of(st.sampled_from(["0", "-1", "-0.0", "nan", "-inf", "-1e309"]), ODD_TEXT)
# A value for a real config field or dataset option: small, zero, negative, or not a number;
# never large (hidden=10**9 would only measure the machine's memory, the GAN's d_steps=2**64
# trains one step for ever).
SMALL_VALUE = st.one_of(st.integers(-3, 4).map(str),
                        st.sampled_from(["nan", "inf", "1e309", "-1e309", "0.5", "x", "", "true",
                                         "-" + str(2**64)]),
                        ODD_TEXT)


def _valid_run(value) -> bool:
    return value in FIXTURE_RUNS


def _no_compile(values):
    if values.get("compile_") == "--compile":  # torch.compile on a CPU takes tens of seconds
        values["compile_"] = "--no-compile"


def _small_settings(draw, values, model, dataset):
    known = _settable(model, dataset)
    pairs = []
    for pair in values.get("settings") or []:
        key, sep, _ = pair.partition("=")
        pairs.append(f"{key}={draw(SMALL_VALUE)}" if sep and key.strip() in known else pair)
    values["settings"] = pairs or None


def _guard_train(draw, values):
    model, dataset = values.get("model"), values.get("dataset")
    if model in REGISTRY.models and values.get("nproc") is not None:
        # --nproc N > 1 starts N training processes through torchrun
        values["nproc"] = draw(st.sampled_from(["1", "0", "-1", "x", "1.5", str(2**64)]))
    if model in REGISTRY.models and dataset in DATASETS + ["series.csv"]:
        values["model"], values["dataset"] = draw(st.sampled_from(CHEAP_TRAIN))
        values["steps"] = draw(TINY_STEPS)
        if values.get("seconds") is not None:
            values["seconds"] = draw(BAD_SECONDS)
        _no_compile(values)
        _small_settings(draw, values, values["model"], values["dataset"])
    elif model in REGISTRY.models and values.get("steps") is None:
        values["steps"] = draw(TINY_STEPS)  # a staged model whose parent gives the data


def _guard_resume(draw, values):
    if _valid_run(values.get("run_id")):
        values["steps"] = draw(st.one_of(st.none(), TINY_STEPS))
        if values["steps"] is None or values.get("seconds") is not None:
            values["seconds"] = draw(BAD_SECONDS)
        _no_compile(values)


def _guard_count(limit):
    """Commands that read a run: a valid run draws at most ``limit`` items (or a bad count)."""
    def guard(draw, values):
        if _valid_run(values.get("run_id")) and values.get("count") is not None:
            values["count"] = draw(st.one_of(st.integers(1, limit).map(str),
                                              st.sampled_from(["0", "-1", "100001", str(2**64)]),
                                              ODD_TEXT))
    return guard


def _guard_eval(draw, values):
    # --iwae K and --parzen N are work asked for (K importance samples, N drawn images, in
    # chunks): a large one runs for as long as it takes, like a large --steps
    if _valid_run(values.get("run_id")):
        for name in ("iwae", "parzen"):
            if values.get(name) is not None:
                values[name] = draw(st.one_of(st.integers(-2, 3).map(str), ODD_TEXT,
                                              st.sampled_from(["1.5", "nan", "-" + str(2**64)])))


def _guard_quality(draw, values):
    # A valid target trains the reference classifier (about 20 s): keep -n out of its range,
    # so the target is still checked while nothing is trained.
    if _valid_run(values.get("run_id")) or values.get("real_dataset") in DATASETS:
        values["count"] = draw(st.sampled_from(["9", "0", "-1", "100001", str(2**64), "x", ""]))


def _guard_bench(draw, values):
    names = (values.get("model_names") or "").split(",")
    first = names[0].strip() if names else ""
    if not first or first in REGISTRY.models:
        values["model_names"] = "independent"
        values["steps"] = draw(st.one_of(st.integers(0, 2).map(str), st.integers(-3, -1).map(str),
                                         ODD_TEXT))
        values["sizes"] = draw(st.one_of(st.sampled_from(["", "4", "0", "-1", "4,x", " "]),
                                         ODD_TEXT))
        if values.get("batch_size") is not None:
            values["batch_size"] = draw(st.sampled_from(["1", "8", "0", "-1", "x", str(2**64)]))
        if values.get("dataset") in REGISTRY.datasets:
            values["dataset"] = draw(st.sampled_from(["digits", "8-gaussians", "nile"]))
        # (compiled is left out: compiling a model on a CPU takes tens of seconds; a
        # closed-form model with --modes compiled alone is refused: the test below)
        values["modes"] = draw(st.sampled_from([None, "eager", "eager,jit", "jit", ""]))


def _guard_check_plugin(draw, values):
    if values.get("name") in REGISTRY.plugins or values.get("name") in REGISTRY.models:
        values["name"] = draw(st.sampled_from(["genzoo.nope", "genzoo-made-up", "Pixelcnn",
                                               "genzoo."]))  # a real one runs every check


def _guard_demo(draw, values):
    # A positive scale (the default is 1) trains all ten demo runs, for minutes: always give
    # one, and one that must be refused before anything trains.
    scale = values.get("scale")
    try:
        valid = scale is None or 0 < float(scale) < math.inf
    except ValueError:
        valid = False
    if valid:
        values["scale"] = draw(st.sampled_from(["0", "-0", "-1", "nan", "inf", "-inf", "x", ""]))


def _guard_worker(draw, values):
    # a pool with no --idle-exit serves until Ctrl-C: always leave at once when idle (an empty
    # store holds no job), or give an idle time that must be refused
    values["idle_exit"] = draw(st.sampled_from(["0", "-1", "nan", "x", ""]))
    if values["idle_exit"] == "0":  # --queue-demo then queues and trains the whole demo
        values["queue_demo"] = None


def _guard_compare(draw, values):
    # a valid comparison trains every model that applies: give a budget that must be refused
    # (the rest of the arguments are still checked first or after, whichever the code does)
    values["steps"] = draw(st.sampled_from([None, "-1", "x"]))
    values["seconds"] = draw(st.sampled_from(["0", "-3", "nan", "inf", "x"]))
    values.pop("detach", None)


GUARDS = {"train": _guard_train, "worker": _guard_worker, "compare": _guard_compare,
          "resume": _guard_resume, "eval": _guard_eval,
          "quality": _guard_quality, "sample": _guard_count(8), "complete": _guard_count(4),
          "explore": _guard_count(4), "bench": _guard_bench,
          "check-plugin": _guard_check_plugin, "demo": _guard_demo}

# Examples per command: the cheap listings get fewer, the commands with many options more.
EXAMPLES = collections.defaultdict(lambda: 200, {
    "plugins": 40, "models": 40, "datasets": 40, "runs": 100, "train": 400, "complete": 250,
    "bench": 120, "demo": 80})


# -- 1. every command's arguments --------------------------------------------------------------


@pytest.mark.parametrize("name", COMMANDS)
def test_every_command_fails_cleanly_on_bad_arguments(name, world):
    """Any argv for any command exits 0 or 2 (1 where documented), with an ``error:`` line on
    exit 2 and nothing left behind; never a traceback."""
    command = cli.commands[name]

    @fuzz(EXAMPLES[name])
    @given(args=invocations(command))
    def case(args):
        COUNTS[f"cli[{name}]"] += 1
        with workdir(world.series) as work, tempfile.TemporaryDirectory() as fresh:
            home = Path(fresh) if name in FRESH_HOME else world.home
            before = state(home, work)
            result = invoke(args, home)
            OUTCOMES[f"cli[{name}] exit {result.exit_code}"] += 1
            check_outcome(args, result, before, state(home, work),
                          allowed=EXIT_CODES.get(name, {0, 2}))

    case()


# -- 2. a CSV file as the dataset of `genzoo train` ---------------------------------------------

CELLS = st.one_of(
    st.integers(-10**6, 10**6).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(["nan", "NaN", "inf", "-inf", "1e400", "-1e400", str(10**30), str(2**64), "",
                     " ", "NA", "null", "1,5", '"3"', '"a,b"', '"', "''", "1e-320", "0x1F", "٣"]),
    st.text(max_size=6),
)


@st.composite
def csv_like(draw) -> bytes:
    """Text that looks like a CSV: a header, rows of numbers and not-numbers, odd delimiters,
    quotes, line endings, a BOM, another encoding, trailing junk."""
    width = draw(st.integers(1, 4))
    header = draw(st.lists(st.one_of(st.sampled_from(["value", "year", "time", "price", "",
                                                      "value", '"a\nb"', '"x,y"']),
                                     st.text(max_size=5)),
                           min_size=width, max_size=width))
    rows = draw(st.lists(st.lists(CELLS, min_size=width, max_size=width), max_size=25))
    delimiter = draw(st.sampled_from([",", ",", ",", ";", "\t"]))
    newline = draw(st.sampled_from(["\n", "\n", "\r\n", "\r"]))
    text = newline.join(delimiter.join(row) for row in [header, *rows])
    text = draw(st.sampled_from(["", "\ufeff"])) + text + draw(
        st.sampled_from(["", newline, newline * 3, "\x00", "garbage,,,", '"unclosed']))
    return text.encode(draw(st.sampled_from(["utf-8", "utf-8", "utf-16", "latin-1"])), "replace")


def _numbers_csv(values, header="value") -> bytes:
    return (header + "\n" + "".join(f"{v!r}\n" for v in values)).encode()


CSV_CONTENT = st.one_of(
    st.just(b""),
    st.binary(max_size=300),
    st.text(max_size=200).map(lambda s: s.encode("utf-8", "surrogatepass")),
    csv_like(),
    # a plausible series: moderate, full-range (1e308) and constant values
    st.lists(st.floats(-1e6, 1e6, allow_nan=False), max_size=60).map(_numbers_csv),
    st.lists(st.floats(allow_nan=False, allow_infinity=False), max_size=40).map(_numbers_csv),
    st.tuples(st.floats(allow_nan=False, allow_infinity=False), st.integers(0, 40)).map(
        lambda pair: _numbers_csv([pair[0]] * pair[1])),
    st.lists(st.integers(-(2**70), 2**70), max_size=40).map(_numbers_csv),
)


@fuzz(300)
@given(content=CSV_CONTENT,
       column=st.one_of(st.none(), st.sampled_from(["value", "year", "time", "price"]), ODD_TEXT))
@example(content=b"0\n0\n0\n0\n0\n0\n1\n0\n0\n589e153", column=None)  # found: test nats null
def test_train_on_any_csv_completes_or_fails_cleanly(world, content, column):
    """``genzoo train ar --dataset FILE.csv``: a completed run, or exit 2 with one line and no
    run left in the store."""
    COUNTS["csv[train]"] += 1
    with workdir(world.series) as work:
        path = work / "upload.csv"
        path.write_bytes(content)
        args = ["train", "ar", "--dataset", str(path), "--steps", "1", "-q", "--json"]
        if column is not None:
            args += ["--column", column]
        before = state(world.home, work)
        result = invoke(args, world.home)
        after = state(world.home, work)
        OUTCOMES[f"csv[train] exit {result.exit_code}"] += 1
        check_outcome(args, result, before, after)
        if result.exit_code == 0:
            record = json.loads(result.stdout.strip().splitlines()[-1])
            assert record["status"] == "completed", result.stdout
            assert set(after["runs"]) - set(before["runs"]) == {record["run_id"]}
            metrics = record["metrics"]
            if metrics["test_nats_per_obs"] is None:
                # an outlier of 1e150 and more overflows the Gaussian's log density: JSON has no
                # infinity, so the number is null and a note says what it was; counted here
                assert metrics["test_nats_per_obs_note"].startswith("not a finite number"), metrics
                OUTCOMES["csv[train] exit 0 with infinite test nats/obs"] += 1
            else:
                assert math.isfinite(metrics["test_nats_per_obs"]), metrics


# -- 3. the dashboard's CSV upload ---------------------------------------------------------------

UPLOAD_NAMES = st.one_of(
    st.just("upload.csv"),
    st.text(st.characters(exclude_characters="\x00/\\"), max_size=40).map(lambda s: s + ".csv"),
    st.sampled_from(["名" * 100 + ".csv", "a" * 260 + ".csv", " .csv", "..csv", "-.csv"]),
)


@fuzz(600)
@given(content=CSV_CONTENT, filename=UPLOAD_NAMES, p=st.integers(1, 50),
       horizon=st.integers(1, 500), pick=st.integers(0, 2))
def test_dashboard_upload_returns_a_fit_or_a_genzoo_error(content, filename, p, horizon, pick):
    """The Time series page's upload: ``csv_numeric_columns`` never raises, and ``fit_csv_ar``
    returns a fit or raises a one-line :class:`GenzooError`, never another exception."""
    from genzoo.dashboard import timeseries_data

    COUNTS["dashboard[upload]"] += 1
    numeric = timeseries_data.csv_numeric_columns(content)
    assert isinstance(numeric, list) and all(isinstance(c, str) for c in numeric)
    # the page offers the numeric columns in a select box (first one by default), or none
    column = numeric[min(pick, len(numeric) - 1)] if numeric else None
    try:
        fit = timeseries_data.fit_csv_ar(content, filename, column=column, p=p, horizon=horizon,
                              reg=REGISTRY)
    except GenzooError as exc:
        OUTCOMES[f"dashboard[upload] {type(exc).__name__}"] += 1
        message = str(exc)
        assert message and "\n" not in message, repr(message)
    else:
        OUTCOMES["dashboard[upload] fit"] += 1
        assert fit["n"] == len(fit["y_train"]) >= p + 2
        assert np.isfinite(fit["y_train"]).all()
        assert len(fit["forecast"]["mean"]) == horizon


# -- regressions: the inputs the fuzzing found ---------------------------------------------------


def _fails_cleanly(world, args, expect: str, home: Path | None = None):
    """Run ``args`` in a fresh folder: exit 2, ``expect`` in its one error line, nothing left."""
    home = home or world.home
    with workdir(world.series) as work:
        before = state(home, work)
        result = invoke(args, home)
        check_outcome(args, result, before, state(home, work), allowed={2})
    assert expect in result.stderr.strip().splitlines()[-1], result.stderr
    return result


@pytest.mark.parametrize("args", [
    ["train", "ar", "-d", "nile", "--steps", "0", "--seed", str(2**64)],
    ["sample", "ar-run", "-o", "out/x.csv", "--seed", str(2**64)],  # found: ValueError
    ["complete", "px-run", "-o", "out/x.png", "--seed", str(-(2**63) - 1)],
    ["quality", "--real", "digits", "--seed", "-1"],  # numpy's default_rng refuses it
])
def test_a_seed_no_generator_takes_is_a_usage_error(world, args):
    _fails_cleanly(world, args, "Invalid value for '--seed'")


def test_a_negative_seed_still_works_where_it_did(world):
    with workdir(world.series):
        result = invoke(["sample", "ar-run", "-n", "2", "-o", "out/x.csv", "--seed", "-1"],
                        world.home)
        assert result.exit_code == 0, result.output
        assert Path("out/x.csv").is_file()


def test_steps_past_what_the_store_can_count_are_refused(world):
    # found: OverflowError from SQLite ("Python int too large to convert to SQLite INTEGER")
    _fails_cleanly(world, ["train", "ar", "-d", "nile", "--steps", str(2**63)],
                   "more than the runs store can count")


@pytest.mark.parametrize("budget, expect", [
    (["--steps", "-5"], "--steps must be 0 or more"),
    (["--steps", str(2**63)], "more than the runs store can count"),
    (["--seconds", "-1"], "--seconds must be positive"),
    (["--seconds", "0"], "--seconds must be positive"),
    (["--seconds", "nan"], "--seconds must be positive"),
])
def test_resume_refuses_the_budgets_train_refuses_and_keeps_the_run(world, budget, expect):
    # found: resume stored these as the run's new target (train refused them) and exited 0
    before = RunStore(world.home).get("ar-run")
    _fails_cleanly(world, ["resume", "ar-run", *budget, "-q"], expect)
    after = RunStore(world.home).get("ar-run")
    assert (after.target_steps, after.target_seconds) == (before.target_steps,
                                                          before.target_seconds)


@pytest.mark.parametrize("args", [["quality", ""], ["quality", "--real", ""]])
def test_quality_with_an_empty_name_says_what_to_give(world, args):
    # found: AttributeError: 'NoneType' object has no attribute 'dataset'
    _fails_cleanly(world, args, "give a RUN_ID, or --real DATASET")


@pytest.mark.parametrize("args", [
    ["sample", "ar-run", "-o", "afile/x.csv"],  # found: NotADirectoryError
    ["sample", "ar-run", "-o", "out/" + "a" * 300 + ".csv"],  # File name too long
    ["complete", "px-run", "-n", "1", "-o", "afile/x.png"],
    ["explore", "vae-run", "-n", "1", "-o", "afile/x.png"],
    ["new-plugin", "stray", "--dir", "afile/sub"],  # found: NotADirectoryError
    ["new-plugin", "a" * 300, "--dir", "out/new"],  # found: left out/new behind
])
def test_an_output_path_the_system_refuses_is_one_line_and_leaves_nothing(world, args):
    _fails_cleanly(world, args, "cannot write")


@pytest.mark.parametrize("args", [
    ["bench", "--models", "0"],  # found: made ./benchmarks/results before naming the model
    ["compare", "--models", "0", "--dataset", "nile", "--steps", "1", "--out", "results"],
])
def test_a_refused_command_makes_no_output_folder(world, args):
    _fails_cleanly(world, args, "unknown model '0'")


def test_an_error_naming_a_line_break_stays_on_one_line(world):
    # found: `complete ar-run -o $'\r'` printed its error over two lines
    result = _fails_cleanly(world, ["sample", "ar-run", "-o", "out/a\nb\r.txt"],
                            "use a file ending in")
    assert result.stderr.count("\n") == 1 and "out/a\\nb\\r.txt" in result.stderr


@pytest.mark.parametrize("args", [["eval", "\udcff"], ["runs", "--model", "x\udc80"],
                                  ["train", "ar", "-d", "\udcff.csv"]])
def test_an_argument_that_is_not_utf8_is_refused_up_front(world, args):
    # found: UnicodeEncodeError from SQLite for `genzoo eval $'\xff'` (argv bytes that are not
    # UTF-8 arrive as lone surrogates)
    _fails_cleanly(world, args, "is not valid UTF-8 text")


@pytest.mark.parametrize("scale", ["0", "-1", "nan", "inf"])
def test_demo_refuses_a_scale_before_training_anything(world, tmp_path, scale):
    # found: 0 and -1 trained the first demo run and then failed on the next one's budget
    # (a run left behind), nan crashed (int(nan)), inf trained a seconds budget for ever
    _fails_cleanly(world, ["demo", "--scale", scale], "--scale", home=tmp_path / "home")
    assert RunStore(tmp_path / "home").list_runs() == []


def test_dashboard_upload_with_a_long_or_odd_name_fits(world):
    from genzoo.dashboard.timeseries_data import fit_csv_ar

    payload = world.series.read_bytes()
    # found: OSError "File name too long" (the upload was written under its own name)
    fit = fit_csv_ar(payload, "名" * 100 + ".csv", column="value", p=2, reg=REGISTRY)
    assert fit["n"] == 60 and fit["column"] == "value"
    # a ':' in the name once shifted the column name ("b.csv:value")
    assert fit_csv_ar(payload, "a:b.csv", column="value", p=2, reg=REGISTRY)["column"] \
        == "value"
    # found: an error naming "\n.csv" came out on two lines
    with pytest.raises(GenzooError) as caught:
        fit_csv_ar(b"", "\n.csv", column=None, p=2, reg=REGISTRY)
    assert "\n" not in str(caught.value) and "is empty" in str(caught.value)


def test_bench_compiled_only_on_closed_form_model(tmp_path):
    from genzoo.registry.bench import bench_model
    from genzoo.registry.devices import resolve_device
    from genzoo.registry.runs import load_dataset

    with pytest.raises(GenzooError, match="compiled"):
        bench_model(REGISTRY.model("independent"), load_dataset(REGISTRY, "digits"), steps=1,
                    device=resolve_device("cpu"), variants=(("fp32", True),))
