"""How the dashboard holds up when a class opens it: N concurrent sessions open pages.

A protocol-level client (Streamlit's own websocket protocol: a ``rerun_script`` BackMsg, then
ForwardMsgs until ``script_finished``), so the time is the server's — the script run and every
delta it sends, charts included — without a browser's rendering. Each of N sessions opens the
pages in turn, all sessions at once; the table gives p50 and p95 of the time from the request
to the page's last message, per page and session count, with and without a training running in
the store's worker pool. Nothing here is asserted: it prints a table and writes JSON.

    python benchmarks/load.py --home ~/.genzoo --sessions 1,10,30 --training
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

PAGES = {"overview": "", "samples": "samples", "likelihood": "likelihood"}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_server(home: str, port: int) -> subprocess.Popen:
    """``genzoo dashboard --no-demo`` on ``home``; returns once it answers its health check."""
    env = {**os.environ, "GENZOO_HOME": home}
    server = subprocess.Popen([sys.executable, "-m", "genzoo.registry.cli", "dashboard",
                               "--no-demo", "--port", str(port)], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline:
        try:
            urllib.request.urlopen(f"http://localhost:{port}/_stcore/health", timeout=1)
            return server
        except OSError:
            time.sleep(0.5)
    server.kill()
    raise SystemExit("the dashboard did not answer within 120 s")


async def open_page(url: str, page: str, timeout: float = 300.0) -> float:
    """Seconds from asking for ``page`` in a fresh session to its ``script_finished``."""
    import websockets
    from streamlit.proto.BackMsg_pb2 import BackMsg
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

    async with websockets.connect(url, subprotocols=["streamlit"], max_size=2**28,
                                  open_timeout=timeout) as ws:
        request = BackMsg()
        request.rerun_script.query_string = ""
        request.rerun_script.page_name = page
        started = time.perf_counter()
        await ws.send(request.SerializeToString())
        while True:
            message = ForwardMsg()
            message.ParseFromString(await asyncio.wait_for(ws.recv(), timeout))
            if message.WhichOneof("type") == "script_finished":
                return time.perf_counter() - started


async def one_round(url: str, sessions: int) -> dict[str, list[float]]:
    """Every session opens every page in turn, all sessions at once."""
    times: dict[str, list[float]] = {name: [] for name in PAGES}

    async def visitor():
        for name, page in PAGES.items():
            times[name].append(await open_page(url, page))

    await asyncio.gather(*(visitor() for _ in range(sessions)))
    return times


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def start_training(home: str) -> subprocess.Popen:
    """A long training through the store's queue and a one-worker pool beside the server."""
    env = {**os.environ, "GENZOO_HOME": home}
    from genzoo.registry.jobs import JobQueue
    from genzoo.registry.requests import TrainRequest
    from genzoo.registry.store import RunStore

    os.environ["GENZOO_HOME"] = home
    JobQueue(RunStore(home)).submit(TrainRequest("pixelcnn", "digits", seconds=3600.0),
                                    owner="load-benchmark")
    return subprocess.Popen([sys.executable, "-m", "genzoo.registry.cli", "worker",
                             "--workers", "1"], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", default=os.environ.get("GENZOO_HOME", "~/.genzoo"),
                        help="the runs store to serve (the demo's: `genzoo demo` first)")
    parser.add_argument("--sessions", default="1,10,30")
    parser.add_argument("--training", action="store_true",
                        help="also measure with a training running in the worker pool")
    parser.add_argument("--out", default="benchmarks/results/load.json")
    args = parser.parse_args()
    # a copy: the training measured beside the pages must not leave a job in the user's queue
    import shutil
    import tempfile

    home = tempfile.mkdtemp(prefix="genzoo-load-")
    shutil.copytree(Path(args.home).expanduser(), home, dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns("pool.lock", "pool.json"))
    counts = [int(n) for n in args.sessions.split(",")]
    port = free_port()
    server = start_server(home, port)
    url = f"ws://localhost:{port}/_stcore/stream"
    rows = []
    try:
        asyncio.run(one_round(url, 1))  # warm: imports, the first loads of each page
        for training in ([False, True] if args.training else [False]):
            pool = start_training(home) if training else None
            try:
                if pool is not None:
                    time.sleep(10)  # the trainer past its start-up
                for sessions in counts:
                    times = asyncio.run(one_round(url, sessions))
                    for page, values in times.items():
                        rows.append({"page": page, "sessions": sessions, "training": training,
                                     "p50_s": round(statistics.median(values), 2),
                                     "p95_s": round(percentile(values, 0.95), 2),
                                     "max_s": round(max(values), 2)})
                        print(f"{page:10s} sessions={sessions:3d} training={training!s:5s} "
                              f"p50 {rows[-1]['p50_s']:6.2f} s  p95 {rows[-1]['p95_s']:6.2f} s",
                              flush=True)
            finally:
                if pool is not None:
                    pool.terminate()
                    pool.wait(60)
    finally:
        server.terminate()
        server.wait(30)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"cpus": os.cpu_count(), "rows": rows}, indent=1))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
