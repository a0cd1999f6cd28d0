"""Which process is training a run, and whether it still lives.

A training process writes ``owner.json`` (its pid, host and start time) into the run's folder
before its first step and removes it when it stops, however it stops short of being killed
outright. Readers use it to tell a live run from a stale one (status ``running``, process gone)
and to cancel a run whatever started it; a second trainer refuses a run whose owner is alive, so
``genzoo resume`` cannot write into a run that is still training.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from .checkpoints import atomic_write_bytes
from .errors import GenzooError

OWNER_FILE = "owner.json"
# Held with flock while a process trains the run: taking it is the claim, atomic, and the
# kernel lets go of it however the process ends (owner.json alone was read-then-write: two
# resumes started together both took the run). The file itself is never removed.
LOCK_FILE = "owner.lock"


def _proc_stat(pid: int) -> tuple[str, int] | None:
    """``(state, start time in clock ticks)`` from ``/proc/PID/stat``; None where unreadable."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2:].split()  # the name in parentheses may hold spaces
    return fields[0], int(fields[19])


def process_start(pid: int) -> int | None:
    """When process ``pid`` started (clock ticks since boot, Linux), or None where unknown.

    Stored next to a pid, it tells the process apart from a later one that reuses the number.
    """
    stat = _proc_stat(pid)
    return stat[1] if stat else None


def pid_alive(pid: int | None, started: int | None = None) -> bool:
    """True while process ``pid`` runs (on this host); a zombie or a reused pid is not alive."""
    if not pid or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # it exists, under another user
    stat = _proc_stat(pid)
    if stat is None:
        return not Path("/proc/self/stat").exists()  # no procfs: trust kill(0)
    state, start = stat
    if state in ("Z", "X"):  # exited, not yet reaped by its parent
        return False
    return started is None or start == started


@dataclass(frozen=True)
class Owner:
    """The process that trains a run, as its ``owner.json`` says."""

    pid: int
    host: str
    started: int | None = None
    since: float = 0.0

    @property
    def local(self) -> bool:
        """Whether the process runs on this machine (only then can its pid be checked)."""
        return self.host == socket.gethostname()

    def alive(self) -> bool | None:
        """True or False on this host; None when it runs elsewhere and cannot be checked."""
        return pid_alive(self.pid, self.started) if self.local else None


def read_owner(run_dir: str | Path) -> Owner | None:
    """The owner recorded in a run's folder, or None (no training process, or unreadable)."""
    try:
        values = json.loads((Path(run_dir) / OWNER_FILE).read_text())
        return Owner(pid=int(values["pid"]), host=str(values["host"]),
                     started=values.get("started"), since=float(values.get("since", 0.0)))
    except (OSError, ValueError, KeyError, TypeError):
        return None


@contextmanager
def own_run(run_dir: str | Path, run_id: str):
    """Mark this process as the one training ``run_id`` while the block runs.

    Refuses a run that a live process already trains (two writers would interleave their
    checkpoints and curves): the claim is an exclusive lock on the run's ``owner.lock``; a stale
    owner file, left by a killed process, is taken over.
    """
    path = Path(run_dir) / OWNER_FILE
    lock = os.open(Path(run_dir) / LOCK_FILE, os.O_CREAT | os.O_RDWR, 0o644)
    try:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            current = read_owner(run_dir)
            who = f"process {current.pid}" if current is not None else "another process"
            raise GenzooError(f"run {run_id!r} is being trained right now by {who}; cancel it "
                              "first (dashboard, or `genzoo cancel`) or wait for it to "
                              "finish") from None
        _refuse_a_live_owner(read_owner(run_dir), run_id, path)
        pid = os.getpid()
        owner = {"pid": pid, "host": socket.gethostname(), "started": process_start(pid),
                 "since": time.time()}
        atomic_write_bytes(path, json.dumps(owner).encode())
        try:
            yield
        finally:
            mine = read_owner(run_dir)
            if mine is not None and mine.pid == pid:
                path.unlink(missing_ok=True)
    finally:
        os.close(lock)  # lets go of the lock


def _refuse_a_live_owner(current: Owner | None, run_id: str, path: Path) -> None:
    """An owner file the lock does not cover: a trainer on another host (a lock on a shared
    file system is not to be trusted), or one that predates the lock."""
    if current is None or current.pid == os.getpid():
        return
    alive = current.alive()
    if alive:
        raise GenzooError(f"run {run_id!r} is being trained right now by process "
                          f"{current.pid}; cancel it first (dashboard, or kill "
                          f"{current.pid}) or wait for it to finish")
    if alive is None:
        raise GenzooError(f"run {run_id!r} is being trained by process {current.pid} on "
                          f"host {current.host!r}; if that process is gone, delete {path}")


def _locked(run_dir: Path) -> bool:
    """Whether a process holds the run's lock (taken and let go at once to find out)."""
    try:
        lock = os.open(Path(run_dir) / LOCK_FILE, os.O_RDONLY)
    except OSError:
        return False  # never locked: no trainer of this version ever took it
    try:
        fcntl.flock(lock, fcntl.LOCK_SH | fcntl.LOCK_NB)
        return False
    except BlockingIOError:
        return True
    finally:
        os.close(lock)


def as_seen_now(store, record):
    """``record`` as a reader should see it: a run the store still says is training, whose
    training process on this host is gone (killed, or the machine restarted), is shown
    ``interrupted`` with why, without writing anything (the dashboard's Train page, which also
    knows about cancel requests, records the final status)."""
    from dataclasses import replace

    from .store import ACTIVE

    if record.status not in ACTIVE:
        return record
    owner = read_owner(store.run_dir(record.run_id))
    if owner is None and record.status == "running" and not _locked(store.run_dir(record.run_id)):
        # its trainer went, taking its owner file with it (an older genzoo's
        # traceback): no process holds the run
        return replace(record, status="interrupted",
                       error="its training process ended without a trace (out of memory, or "
                             f"a crash); resume with `genzoo resume {record.run_id}`")
    if owner is None or owner.alive() is not False:
        return record
    return replace(record, status="interrupted",
                   error=f"its training process ({owner.pid}) ended without finishing (killed, "
                         f"or the machine restarted); resume with `genzoo resume "
                         f"{record.run_id}`")
