"""What the Plugins page shows: every installed plugin, what it registered, and how its models
fare against the model contract.

Everything but the conformance checks is read from the registry (built once, cached). The
checks build and train tiny models, so they never run on page load nor in the server's process:
the page's button starts them in a process of their own with a time and memory limit
(:func:`start_conformance`, one at a time per store), which caches the results in the runs store
(``$GENZOO_HOME/conformance.json``, with the genzoo and plugin versions they were run with, so
results of an upgraded plugin are marked stale). The run-and-cache code lives in
``genzoo.registry.conformance``, where the CLI can reuse it. The page also imports a run bundle
(``genzoo export --bundle``) uploaded by a visitor, through ``genzoo.registry.bundles``.
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
PASSED, FAILED, NOT_APPLICABLE = "✓ passed", "✗ failed", "n/a"


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
        better = f" · {spec.better_words} is better" if spec.better_words else ""
        rows.append({"kind": "metric", "name": name, "plugin": reg.plugin_of("metrics", name),
                     "what": f"{spec.unit or 'no unit'}{better} · for "
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


CHECK_SECONDS = 300  # the checks' time limit, wall clock (an alarm) and CPU time (RLIMIT_CPU)
# Bytes of address space the checks may map beyond what Python and torch map on import
# (RLIMIT_AS, set by the checks process once imported: a CUDA build's libraries alone map GBs).
CHECK_MEMORY = 4 * 2**30
RUNNER_FILE = "conformance.run.json"  # in the store's home: the process running the checks
RUNNER_LOG = "conformance.log"
RUNNER_LOCK = "conformance.lock"  # held while a server looks for a running one and starts one
MEMORY_SIGNS = ("MemoryError", "Cannot allocate memory", "can't allocate memory",
                "failed to map segment")  # in the log of a process that ran out of memory


def checks_command(home) -> list[str]:
    """The command that runs the checks on every registered model, caching them in ``home``."""
    import sys

    return [sys.executable, "-m", "genzoo.registry.conformance", str(home),
            "--memory", str(CHECK_MEMORY)]


def _limits() -> None:
    """In the child, before exec: bound its wall-clock and CPU time (an alarm and RLIMIT_CPU
    are both kept across exec; the kernel stops it, whatever it runs) and write no core file."""
    import resource
    import signal

    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGALRM, signal.SIGXCPU})
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    resource.setrlimit(resource.RLIMIT_CPU, (CHECK_SECONDS, CHECK_SECONDS + 5))
    signal.alarm(CHECK_SECONDS)


def _runner(home) -> dict | None:
    import json
    from pathlib import Path

    try:
        runner = json.loads((Path(home) / RUNNER_FILE).read_text())
    except (OSError, ValueError):
        return None
    return runner if isinstance(runner, dict) else None


def checks_running() -> dict | None:
    """The process running the checks for this store (``{pid, started, since}``), or None."""
    from genzoo.registry.process import pid_alive

    runner = _runner(data.store_home())
    if runner is None:
        return None
    return runner if pid_alive(runner.get("pid"), runner.get("started")) else None


def start_conformance() -> str:
    """Start the checks in a process of their own (never the server's: they build and fit tiny
    models) with a time and memory limit; one at a time per store, however many tabs or servers
    click at once. Returns what was done."""
    import fcntl
    import json
    import os
    import subprocess
    import time
    from pathlib import Path

    from genzoo.dashboard import access
    from genzoo.registry.checkpoints import atomic_write_bytes
    from genzoo.registry.process import process_start

    access.require_writable()
    home = Path(data.store_home())
    home.mkdir(parents=True, exist_ok=True)
    with open(home / RUNNER_LOCK, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when closed
        if checks_running() is not None:
            return "the checks are already running for this runs store"
        with open(home / RUNNER_LOG, "wb") as log:
            process = subprocess.Popen(
                checks_command(home), stdin=subprocess.DEVNULL, stdout=log,
                stderr=subprocess.STDOUT, env={**os.environ, "OMP_NUM_THREADS": "1"},
                start_new_session=True, preexec_fn=_limits)
        _STARTED.append((process, home))
        atomic_write_bytes(home / RUNNER_FILE, json.dumps(
            {"pid": process.pid, "started": process_start(process.pid),
             "since": time.time()}).encode())
    return "started the checks"


_STARTED: list = []  # (process, home) of the checks this server started: polled, never zombies


def _exit_line(code: int, home) -> str | None:
    """What a checks process's exit code (and its log) says, in one line; None for success."""
    import signal
    from pathlib import Path

    if code == 0:
        return None
    try:
        log = (Path(home) / RUNNER_LOG).read_text(errors="replace")
    except OSError:
        log = ""
    terminal = "run `genzoo check-plugin NAME` in a terminal for one plugin at a time"
    if code == -signal.SIGALRM:
        return f"the checks were stopped at their time limit of {CHECK_SECONDS} s; {terminal}"
    if code == -signal.SIGXCPU:
        return f"the checks were stopped after {CHECK_SECONDS} s of CPU time; {terminal}"
    if any(sign in log for sign in MEMORY_SIGNS):
        return (f"the checks ran out of their {CHECK_MEMORY / 2**30:g} GiB of memory; "
                f"{terminal}")
    if code == -signal.SIGKILL:
        return ("the checks were killed (past their CPU-time limit, or by the out-of-memory "
                f"killer); {terminal}")
    last = " ".join((log.strip().splitlines() or [""])[-1].split())[:300]
    return f"the checks failed (exit code {code}): {last or 'no output'}"


def checks_outcome() -> str | None:
    """How the last checks run on this store ended, in one line, where it did not end well (its
    time or memory limit, an error, or gone without writing results), else None. Kept in the
    runner file, so every session sees it until the next run starts."""
    import json
    import time

    from genzoo.registry.checkpoints import atomic_write_bytes
    from genzoo.registry.process import pid_alive

    for process, home in list(_STARTED):
        code = process.poll()
        if code is None:
            continue
        _STARTED.remove((process, home))
        runner = _runner(home)
        if runner is not None and runner.get("pid") == process.pid:
            runner.update(outcome=_exit_line(code, home), ended=time.time())
            atomic_write_bytes(home / RUNNER_FILE, json.dumps(runner).encode())
    home = data.store_home()
    runner = _runner(home)
    if runner is None or pid_alive(runner.get("pid"), runner.get("started")):
        return None
    if "outcome" in runner:
        return runner["outcome"]
    # its server stopped before it saw the end: the results say whether it finished
    results = conformance.conformance_path(home)
    if results.is_file() and results.stat().st_mtime >= float(runner.get("since") or 0):
        return None
    return (f"the last checks run (process {runner.get('pid')}) ended without writing results; "
            f"its output is in {RUNNER_LOG} in the runs store")


def checks_progress() -> str:
    """The checks process's last progress line (``3/14 pixelcnn``)."""
    from pathlib import Path

    try:
        lines = (Path(data.store_home()) / RUNNER_LOG).read_text().strip().splitlines()
    except OSError:
        return ""
    return lines[-1] if lines else ""


def _result_word(passed: bool | None) -> str:
    """A cached check result in words: None is a check that does not apply to the model."""
    return NOT_APPLICABLE if passed is None else PASSED if passed else FAILED


def conformance_frame(document: dict | None, reg: Registry) -> pd.DataFrame:
    """One row per cached (model, check): passed or failed, the message that says what to fix,
    how long it took, when it ran, and why the result is stale where it is."""
    stale = conformance.stale_results(document or {}, reg)
    rows = []
    for model, entry in (document or {}).get("models", {}).items():
        for result in entry.get("results", []):
            rows.append({"model": model, "plugin": entry.get("plugin"),
                         "check": result.get("check"),
                         "result": _result_word(result.get("passed")),
                         "message": result.get("message", ""),
                         "seconds": result.get("seconds"), "checked": entry.get("time"),
                         "plugin version": entry.get("plugin_version"),
                         "stale": stale.get(model, "")})
    return pd.DataFrame(rows, columns=["model", "plugin", "check", "result", "message",
                                       "seconds", "checked", "plugin version", "stale"])


def applied_and_not(frame: pd.DataFrame) -> tuple[int, int]:
    """How many cached results tested their model, and how many checks did not apply."""
    skipped = int((frame["result"] == NOT_APPLICABLE).sum())
    return len(frame) - skipped, skipped


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


# -- importing a bundle -------------------------------------------------------------------------

# The most an uploaded bundle may be: checked on its declared size before its bytes are read (the
# server holds an upload in memory), and again on the bytes; the import checks the rest.
BUNDLE_UPLOAD_MAX_BYTES = 512 * 2**20
COLLISION_CHOICES = {"rename": "import it as ID-imported, beside the one here",
                     "skip": "keep the one here (when it is the same training)",
                     "refuse": "import nothing"}


def _upload_name(filename: str | None) -> str:
    """An uploaded file's name as one line, without any folder it claims."""
    from pathlib import Path

    return " ".join(Path(filename or "upload.zip").name.split()) or "upload.zip"


def check_bundle_upload(size: int, filename: str | None) -> None:
    """Refuse an upload past :data:`BUNDLE_UPLOAD_MAX_BYTES` in one line (a ``BadBundle``)."""
    from genzoo.registry.bundle_checks import BadBundle

    if size > BUNDLE_UPLOAD_MAX_BYTES:
        raise BadBundle(f"bundle {_upload_name(filename)}: {size / 2**20:,.0f} MB is more than "
                        f"an upload may hold ({BUNDLE_UPLOAD_MAX_BYTES // 2**20} MB); import it "
                        "with `genzoo import FILE.zip` on the server")


def import_uploaded_bundle(payload: bytes, filename: str | None,
                           on_collision: str = "rename") -> pd.DataFrame:
    """Import an uploaded bundle into the dashboard's runs store (every check of
    :func:`genzoo.registry.bundles.import_bundle` first); one row per run: its id, the id it
    has here, what was done and notes. Refused on a read-only dashboard, whatever the page
    shows; a bad bundle is a one-line ``GenzooError`` naming the file by its uploaded name."""
    import tempfile
    from pathlib import Path

    from genzoo.dashboard import access
    from genzoo.registry.bundles import import_bundle

    access.require_writable()
    check_bundle_upload(len(payload), filename)
    name = _upload_name(filename)
    with tempfile.TemporaryDirectory(prefix="genzoo-upload-") as folder:
        path = Path(folder) / "bundle.zip"  # not the uploaded name: it may not fit this disk
        path.write_bytes(payload)
        rows = import_bundle(data.store(), path, on_collision=on_collision, name=name,
                             registry=data.registry())
    return pd.DataFrame([{"run id": row["run_id"], "imported as": row["imported_as"],
                          "status": row["status"], "notes": "; ".join(row["notes"])}
                         for row in rows], columns=["run id", "imported as", "status", "notes"])
