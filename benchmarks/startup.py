"""A newcomer's first minutes: a fresh clone, `bash scripts/dashboard.sh`, the demo, a second start.

Clones this repository into a temporary folder (no virtual environment, an empty runs store),
runs ``scripts/dashboard.sh`` there and measures, from the command's start:

- ``first_page_s``: the Overview page served whole (Streamlit's ``script_finished``, through the
  websocket client of ``benchmarks/load.py``), setup included;
- ``demo_done_s``: every demo job finished (none queued or running in the clone's store);
- ``second_start_s``: the dashboard stopped and started again on the same store and venv, until
  its Overview is served.

Nothing is asserted: it prints the numbers and writes JSON. The pip cache of the machine is used
as it is (a machine that never installed the dependencies downloads them first).

    python benchmarks/startup.py --out benchmarks/results/startup.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from load import free_port, open_page  # noqa: E402  - the same protocol client

REPO = Path(__file__).resolve().parent.parent


def serve(clone: Path, home: Path, port: int, log: Path) -> subprocess.Popen:
    """``bash scripts/dashboard.sh`` in the clone, in its own process group."""
    env = {**os.environ, "GENZOO_HOME": str(home), "PORT": str(port)}
    env.pop("VIRTUAL_ENV", None)
    return subprocess.Popen(["bash", "scripts/dashboard.sh"], cwd=clone, env=env,
                            stdout=log.open("ab"), stderr=subprocess.STDOUT,
                            start_new_session=True)


def until_served(port: int, started: float, timeout: float = 1800.0) -> float:
    """Seconds from ``started`` until the Overview page is served whole."""
    deadline = started + timeout
    while time.time() < deadline:
        try:
            urllib.request.urlopen(f"http://localhost:{port}/_stcore/health", timeout=2)
            break
        except OSError:
            time.sleep(0.5)
    else:
        raise SystemExit(f"the dashboard did not answer within {timeout:.0f} s")
    asyncio.run(open_page(f"ws://localhost:{port}/_stcore/stream", ""))
    return time.time() - started


def open_jobs(home: Path) -> int | None:
    """Demo jobs not finished yet (None before the background pool has queued them)."""
    try:
        with sqlite3.connect(f"file:{home / 'runs.sqlite'}?mode=ro", uri=True) as db:
            total, left = db.execute("SELECT COUNT(*), SUM(status IN ('queued', 'running')) "
                                     "FROM jobs").fetchone()
    except sqlite3.Error:
        return None
    return left if total else None


def job_counts(home: Path) -> dict[str, int]:
    with sqlite3.connect(f"file:{home / 'runs.sqlite'}?mode=ro", uri=True) as db:
        return dict(db.execute("SELECT status, COUNT(*) FROM jobs GROUP BY status").fetchall())


def stop(server: subprocess.Popen) -> None:
    """The dashboard and its worker pool (the pool lets its trainers finish their checkpoint)."""
    with_group = os.getpgid(server.pid)
    os.killpg(with_group, signal.SIGTERM)
    try:
        server.wait(60)
    except subprocess.TimeoutExpired:
        os.killpg(with_group, signal.SIGKILL)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", default=str(REPO), help="the repository to clone")
    parser.add_argument("--out", default="benchmarks/results/startup.json")
    parser.add_argument("--demo-timeout", type=float, default=1800.0)
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="genzoo-startup-"))
    clone, home, log = root / "genzoo", root / "home", root / "dashboard.log"
    subprocess.run(["git", "clone", "-q", args.source, str(clone)], check=True)
    shared = Path(args.source).resolve().parent / "shared"
    if shared.is_dir():  # the lecture beside the clone, as in CI
        (root / "shared").symlink_to(shared)
    result = {"cpus": os.cpu_count(), "clone": str(clone)}
    port = free_port()
    started = time.time()
    server = serve(clone, home, port, log)
    try:
        result["first_page_s"] = round(until_served(port, started), 1)
        print(f"first page served {result['first_page_s']:.1f} s after the command "
              "(setup included)", flush=True)
        while (left := open_jobs(home)) is None or left > 0:
            if time.time() - started > args.demo_timeout:
                raise SystemExit(f"the demo was not done in {args.demo_timeout:.0f} s")
            time.sleep(2)
        result["demo_done_s"] = round(time.time() - started, 1)
        result["jobs"] = job_counts(home)
        print(f"demo done {result['demo_done_s']:.1f} s after the command: {result['jobs']}",
              flush=True)
    finally:
        stop(server)
    port = free_port()
    started = time.time()
    server = serve(clone, home, port, log)
    try:
        result["second_start_s"] = round(until_served(port, started), 1)
        print(f"second start served in {result['second_start_s']:.1f} s", flush=True)
    finally:
        stop(server)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1))
    print(f"wrote {out} (the clone, its store and dashboard.log stay in {root})")


if __name__ == "__main__":
    main()
