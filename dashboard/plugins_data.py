"""What the Plugins page shows: every installed plugin, what it registered, and how its models
fare against the model contract.

Everything but the conformance checks is read from the registry (built once, cached). The
checks build and train tiny models, so they never run on page load: the page's button runs them
(:func:`run_conformance`) and caches the results in the runs store
(``$GENZOO_HOME/conformance.json``, with the genzoo and plugin versions they were run with, so
results of an upgraded plugin are marked stale). The run-and-cache code lives in
``genzoo.registry.conformance``, where the CLI can reuse it.
"""

from __future__ import annotations

from importlib import metadata

import pandas as pd
import streamlit as st

from genzoo.dashboard import data
from genzoo.registry import conformance
from genzoo.registry.plugins import ENTRY_POINT_GROUP, Registry

BUILTIN = "built-in"
ENTRY_POINT = "entry point"
PASSED, FAILED = "✓ passed", "✗ failed"


@st.cache_data(show_spinner=False, max_entries=16)
def distributions(names: tuple[str, ...]) -> dict[str, str]:
    """``{entry-point name: distribution name}`` for the named ``genzoo`` entry points (the
    registry's third-party plugins: keyed by them, so a newly installed one is looked up)."""
    found = {}
    if not names:
        return found
    for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
        dist = getattr(ep, "dist", None)
        if ep.name in names:
            found.setdefault(ep.name, dist.name if dist is not None else "?")
    return found


def plugins_frame(reg: Registry) -> pd.DataFrame:
    """One row per plugin, built-ins first: where it comes from, its version, the plugin API it
    was built for (``GENZOO_API``, or that it declares none), the hooks it implements, what it
    registered, and the error of a broken one (an incompatible API included)."""
    dists = distributions(tuple(sorted(n for n, i in reg.plugins.items() if not i.builtin)))
    rows = []
    for name, info in reg.plugins.items():
        rows.append({"plugin": name, "source": BUILTIN if info.builtin else ENTRY_POINT,
                     "distribution": "genzoo" if info.builtin else dists.get(name, "?"),
                     "version": info.version or "?", "module": info.module,
                     "api": info.api_note, "status": "broken" if info.error else "loaded",
                     "hooks": ", ".join(info.hooks), "models": ", ".join(info.models),
                     "datasets": ", ".join(info.datasets), "metrics": ", ".join(info.metrics),
                     "error": info.error or ""})
    columns = ["plugin", "source", "distribution", "version", "module", "api", "status", "hooks",
               "models", "datasets", "metrics", "error"]
    frame = pd.DataFrame(rows, columns=columns)
    frame["_builtin"] = frame["source"] != BUILTIN
    return frame.sort_values(["_builtin", "plugin"]).drop(columns="_builtin").reset_index(
        drop=True)


def registered_frame(reg: Registry) -> pd.DataFrame:
    """One row per registered model, dataset and metric: its plugin and what it is."""
    rows = []
    for name, spec in reg.models.items():
        rows.append({"kind": "model", "name": name, "plugin": reg.plugin_of("models", name),
                     "what": f"{spec.family} · density {spec.density} · sampling "
                             f"{spec.sampling} · {spec.data}"
                             + (f" · second stage of {spec.parent}" if spec.parent else ""),
                     "summary": spec.summary})
    for name, spec in reg.datasets.items():
        rows.append({"kind": "dataset", "name": name, "plugin": reg.plugin_of("datasets", name),
                     "what": f"{spec.kind}" + (f" · {spec.source}" if spec.source else ""),
                     "summary": spec.summary})
    for name, spec in reg.metrics.items():
        better = "higher" if spec.higher_is_better else "lower"
        rows.append({"kind": "metric", "name": name, "plugin": reg.plugin_of("metrics", name),
                     "what": f"{spec.unit or 'no unit'} · {better} is better · for "
                             f"{', '.join(spec.applies_to)}",
                     "summary": spec.summary})
    return pd.DataFrame(rows, columns=["kind", "name", "plugin", "what", "summary"])


def checks_frame() -> pd.DataFrame:
    """The contract's checks, each with the first line of what it tests."""
    return pd.DataFrame([{"check": check.name, "what it tests": (check.run.__doc__ or "")
                          .strip().splitlines()[0].replace("``", "")}
                         for check in conformance.CHECKS], columns=["check", "what it tests"])


# -- conformance --------------------------------------------------------------------------------


def cached_conformance() -> dict | None:
    """The conformance results cached in the runs store, or None before the first run."""
    return conformance.load_conformance(data.store_home())


CHECK_SECONDS = 300  # CPU seconds the checks may take (RLIMIT_CPU), then they are stopped
CHECK_MEMORY = 4 * 2**30  # bytes of address space they may map (RLIMIT_AS)
RUNNER_FILE = "conformance.run.json"  # in the store's home: the process running the checks
RUNNER_LOG = "conformance.log"


def _limits() -> None:
    """In the child, before exec: bound its CPU time and memory."""
    import resource

    resource.setrlimit(resource.RLIMIT_CPU, (CHECK_SECONDS, CHECK_SECONDS + 5))
    resource.setrlimit(resource.RLIMIT_AS, (CHECK_MEMORY, CHECK_MEMORY))


def checks_running() -> dict | None:
    """The process running the checks for this store (``{pid, started, since}``), or None."""
    import json
    from pathlib import Path

    from genzoo.registry.process import pid_alive

    try:
        runner = json.loads((Path(data.store_home()) / RUNNER_FILE).read_text())
    except (OSError, ValueError):
        return None
    return runner if pid_alive(runner.get("pid"), runner.get("started")) else None


def start_conformance() -> str:
    """Start the checks in a process of their own (never the server's: they build and fit tiny
    models) with a CPU-time and memory limit; one at a time per store. Returns what was done."""
    import json
    import os
    import subprocess
    import sys
    import time
    from pathlib import Path

    from genzoo.dashboard import access
    from genzoo.registry.checkpoints import atomic_write_bytes
    from genzoo.registry.process import process_start

    access.require_writable()
    if checks_running() is not None:
        return "the checks are already running for this runs store"
    home = Path(data.store_home())
    home.mkdir(parents=True, exist_ok=True)
    with open(home / RUNNER_LOG, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "genzoo.registry.conformance", str(home)],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            env={**os.environ, "OMP_NUM_THREADS": "1"}, start_new_session=True,
            preexec_fn=_limits)
    _STARTED.append(process)
    atomic_write_bytes(home / RUNNER_FILE, json.dumps(
        {"pid": process.pid, "started": process_start(process.pid),
         "since": time.time()}).encode())
    return "started the checks"


_STARTED: list = []  # checks processes this server started: polled, so none stays a zombie


def checks_outcome() -> str | None:
    """How the last checks process ended, where it did not end well (a line), else None."""
    from pathlib import Path

    for process in list(_STARTED):
        code = process.poll()
        if code is None:
            continue
        _STARTED.remove(process)
        if code != 0:
            import signal

            tail = (Path(data.store_home()) / RUNNER_LOG).read_text(errors="replace")
            last = (tail.strip().splitlines() or [""])[-1]
            if code in (-signal.SIGXCPU, -signal.SIGKILL):
                return (f"the checks were stopped after {CHECK_SECONDS} s of CPU time; run "
                        "`genzoo check-plugin NAME` in a terminal for one plugin at a time")
            if "MemoryError" in tail:
                return (f"the checks ran out of their {CHECK_MEMORY // 2**30} GiB of memory; run "
                        "`genzoo check-plugin NAME` in a terminal")
            return f"the checks failed (exit code {code}): {last}"
    return None


def checks_progress() -> str:
    """The checks process's last progress line (``3/14 pixelcnn``)."""
    from pathlib import Path

    try:
        lines = (Path(data.store_home()) / RUNNER_LOG).read_text().strip().splitlines()
    except OSError:
        return ""
    return lines[-1] if lines else ""


def conformance_frame(document: dict | None, reg: Registry) -> pd.DataFrame:
    """One row per cached (model, check): passed or failed, the message that says what to fix,
    how long it took, when it ran, and why the result is stale where it is."""
    stale = conformance.stale_results(document or {}, reg)
    rows = []
    for model, entry in (document or {}).get("models", {}).items():
        for result in entry.get("results", []):
            rows.append({"model": model, "plugin": entry.get("plugin"),
                         "check": result.get("check"),
                         "result": PASSED if result.get("passed") else FAILED,
                         "message": result.get("message", ""),
                         "seconds": result.get("seconds"), "checked": entry.get("time"),
                         "plugin version": entry.get("plugin_version"),
                         "stale": stale.get(model, "")})
    return pd.DataFrame(rows, columns=["model", "plugin", "check", "result", "message",
                                       "seconds", "checked", "plugin version", "stale"])


def conformance_matrix(frame: pd.DataFrame) -> pd.DataFrame:
    """Model × check → passed/failed, with each model's plugin and staleness, in the order the
    checks run."""
    checks = [check.name for check in conformance.CHECKS]
    if frame.empty:
        return pd.DataFrame(columns=["model", "plugin", *checks, "stale"])
    table = frame.pivot(index="model", columns="check", values="result")
    order = [c for c in checks if c in table.columns]
    order += [c for c in table.columns if c not in order]  # a check not in this version's list
    table = table[order].reset_index()
    table.columns.name = None
    first = frame.drop_duplicates("model").set_index("model")
    table.insert(1, "plugin", table["model"].map(first["plugin"]))
    table["stale"] = table["model"].map(first["stale"])
    return table


def unchecked(document: dict | None, reg: Registry) -> list[str]:
    """Registered models without a cached result (new since the checks last ran)."""
    return conformance.unchecked_models(document, reg)


def failures(frame: pd.DataFrame) -> pd.DataFrame:
    """The failed checks with their messages."""
    return frame.loc[frame["result"] == FAILED, ["model", "check", "message"]]
