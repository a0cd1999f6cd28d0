"""The worker pool: takes queued jobs in order and runs at most ``workers`` of them at once.

Each job runs as a ``genzoo train`` (or ``resume``, or ``quality``) process of its own: a trainer
that crashes or runs out of memory takes only its job down, SIGTERM makes it checkpoint, and its
memory is the operating system's again when it ends. One pool serves a store on a machine (an
exclusive lock on ``$GENZOO_HOME/pool.lock``), so however many pages, terminals and comparisons
queue work, no more than ``workers`` trainings run at once. The pool asks the kernel to send
every trainer SIGTERM if the pool itself dies (``PR_SET_PDEATHSIG``): the trainer checkpoints,
and the next pool takes its job up again and resumes it. Why a small loop over the SQLite queue
rather than a task-queue library is in docs/decisions.md.
"""

from __future__ import annotations

import ctypes
import fcntl
import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from contextlib import contextmanager, suppress
from dataclasses import dataclass

from .checkpoints import atomic_write_bytes
from .errors import BadConfig, GenzooError
from .jobs import JOBS_FOLDER, MEASUREMENTS, Job, JobQueue, last_error
from .process import pid_alive, process_start
from .store import ACTIVE, RunStore

GRACE_SECONDS = 15.0  # after SIGTERM, how long a trainer has to checkpoint before SIGKILL
POOL_LOCK = "pool.lock"
POOL_FILE = "pool.json"
RECOVER_SECONDS = 2.0  # how often the pool looks for jobs whose worker died
MAX_DEFAULT_WORKERS = 4
# Queued trainings run at a lower CPU priority than the dashboard and terminals (nice 10): on a
# 2-core machine a page waits for the CPU otherwise. Every trainer gets the same, so the
# comparison stays fair.
TRAINER_NICENESS = 10
SIGNAL_NAMES = {signal.SIGKILL: "SIGKILL: out of memory, or killed by hand",
                signal.SIGTERM: "SIGTERM", signal.SIGSEGV: "SIGSEGV: a crash in native code"}


class PoolBusy(GenzooError):
    """Another worker pool already serves this store on this machine."""


def available_cores() -> int:
    """The CPU cores this process may run on (a container's or taskset's share, not the host's)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def default_workers() -> int:
    """As many trainings at once as the cores hold, each with at least one core of its own."""
    return min(available_cores(), MAX_DEFAULT_WORKERS)


def threads_per_worker(workers: int) -> int:
    """torch's threads in each trainer: the cores shared out, so the pool never oversubscribes."""
    return max(1, available_cores() // workers)


def check_workers(workers: int | None) -> int:
    """``workers`` (default :func:`default_workers`), refused below 1 in one line."""
    if workers is None:
        return default_workers()
    if not isinstance(workers, int) or workers < 1:
        raise BadConfig(f"--workers {workers}: give a whole number of trainings at once, 1 or "
                        "more")
    return workers


# -- one pool per store --------------------------------------------------------------------------


@contextmanager
def pool_lock(store: RunStore):
    """Hold the store's pool lock for the block; :class:`PoolBusy` if another pool holds it."""
    store.home.mkdir(parents=True, exist_ok=True)
    handle = open(store.home / POOL_LOCK, "a+")
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            info = pool_info(store) or {}
            raise PoolBusy(f"a worker pool already serves {store.home} (process "
                           f"{info.get('pid', '?')}, {info.get('workers', '?')} workers); "
                           "its jobs are listed by `genzoo jobs`") from None
        yield
    finally:
        handle.close()  # closing releases the lock


def pool_running(store: RunStore) -> bool:
    """Whether a worker pool holds this store's lock now."""
    path = store.home / POOL_LOCK
    if not path.exists():
        return False
    with open(path, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(handle, fcntl.LOCK_UN)
    return False


def pool_info(store: RunStore) -> dict | None:
    """What the running pool wrote about itself (pid, workers, since), or None."""
    try:
        return json.loads((store.home / POOL_FILE).read_text())
    except (OSError, ValueError):
        return None


def start_pool_process(store: RunStore, workers: int | None = None,
                       idle_exit: float | None = 120.0, queue_demo: bool = False) -> int | None:
    """Start a pool in the background for this store unless one runs; its pid, or None.

    The pool outlives the caller (a session of its own) and ends after ``idle_exit`` seconds
    with nothing queued. Two callers at once may both start one: the second finds the lock
    taken and exits at once, so one pool serves the store. With ``queue_demo`` the process
    first queues the demo's missing runs (checking the stored ones takes seconds, which the
    dashboard does not wait for), then serves, or leaves the jobs to the pool already running.
    """
    if pool_running(store) and not queue_demo:
        return None
    argv = [sys.executable, "-m", "genzoo.registry.cli", "worker"]
    if queue_demo:
        argv += ["--queue-demo"]
    if workers is not None:
        argv += ["--workers", str(workers)]
    if idle_exit is not None:
        argv += ["--idle-exit", repr(float(idle_exit))]
    folder = store.home / JOBS_FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "GENZOO_HOME": str(store.home), "PYTHONUNBUFFERED": "1"}
    with open(folder / "pool.log", "ab") as log:
        process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log,
                                   stderr=subprocess.STDOUT, env=env, start_new_session=True,
                                   close_fds=True)
    _STARTED.append(process)  # polled later, so an exited pool is reaped, not a zombie
    return process.pid


_STARTED: list[subprocess.Popen] = []


def reap_started() -> None:
    """Collect pools this process started that have exited."""
    _STARTED[:] = [p for p in _STARTED if p.poll() is None]


def worker_alive(worker: dict) -> bool | None:
    """Whether the pool process named in a job's ``worker`` lives; None on another host."""
    if worker.get("host") != socket.gethostname():
        return None
    return pid_alive(worker.get("pid"), worker.get("started"))


# -- running jobs ----------------------------------------------------------------------------------


def job_command(store: RunStore, job: Job) -> list[str] | None:
    """The command that does ``job``, or None where there is nothing left to do (its run is
    already completed). A train job whose run exists resumes it from its last checkpoint."""
    cli = [sys.executable, "-m", "genzoo.registry.cli"]
    try:
        record = store.get(job.run_id)
    except GenzooError:
        record = None
    if job.kind in MEASUREMENTS:
        args, metric = MEASUREMENTS[job.kind]
        if record is None or record.status != "completed":
            raise GenzooError(f"run {job.run_id} is not completed: nothing to measure")
        if metric in record.metrics:
            return None
        return cli + [job.run_id if arg == "RUN" else arg for arg in args]
    if record is None:
        return job.request.argv(job.run_id)
    if record.status == "completed":
        return None
    return cli + ["resume", job.run_id, "--quiet"]


def _prepare_trainer() -> None:
    """In the child, before exec: SIGTERM when the pool dies, so no trainer is orphaned; and a
    lower CPU priority (:data:`TRAINER_NICENESS`), so pages and terminals stay quick while the
    queue trains."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:  # not glibc: the next pool's recovery still finds the job
        pass
    with suppress(OSError):
        os.nice(TRAINER_NICENESS)


@dataclass
class _Running:
    job: Job
    process: subprocess.Popen
    term_at: float | None = None
    stopping: bool = False  # SIGTERM sent because the pool stops: put the job back in line


class _Stop(Exception):
    pass


class WorkerPool:
    """Runs the store's queued jobs, at most ``workers`` at once, until told to stop.

    ``command(store, job)`` gives a job's argv (default :func:`job_command`; tests pass a
    stand-in). ``log`` receives one line per job started and finished.
    """

    def __init__(self, store: RunStore, workers: int | None = None, *,
                 command: Callable = job_command, log: Callable[[str], None] | None = None,
                 poll_seconds: float = 0.25):
        self.store = store
        self.queue = JobQueue(store)
        self.workers = check_workers(workers)
        self.threads = threads_per_worker(self.workers)
        self.command = command
        self.log = log or (lambda line: None)
        self.poll_seconds = poll_seconds
        self.running: dict[int, _Running] = {}
        pid = os.getpid()
        self.me = {"pid": pid, "host": socket.gethostname(), "started": process_start(pid)}

    def run(self, *, until: Callable[[], bool] | None = None, idle_exit: float | None = None,
            on_tick: Callable[[WorkerPool], None] | None = None) -> None:
        """Work until ``until()`` is true (then take nothing new and return when the running
        jobs end), or ``idle_exit`` seconds pass with nothing to do, or SIGTERM / Ctrl-C (then
        every trainer checkpoints and its job goes back in line)."""
        with pool_lock(self.store), self._stop_on_sigterm():
            atomic_write_bytes(self.store.home / POOL_FILE, json.dumps(
                {**self.me, "workers": self.workers, "threads": self.threads,
                 "since": time.time()}).encode())
            self.queue.prune_logs()
            idle_since, recovered_at = time.time(), 0.0
            try:
                while True:
                    if time.time() - recovered_at >= RECOVER_SECONDS:
                        self._recover()
                        recovered_at = time.time()
                    self._reap()
                    self._cancels()
                    finishing = until is not None and until()
                    if not finishing:
                        self._fill()
                    if on_tick is not None:
                        on_tick(self)
                    if self.running:
                        idle_since = time.time()
                    elif finishing:
                        return
                    elif idle_exit is not None and time.time() - idle_since >= idle_exit:
                        return
                    time.sleep(self.poll_seconds)
            except (KeyboardInterrupt, _Stop):
                self._stop_all()
                raise KeyboardInterrupt from None
            finally:
                (self.store.home / POOL_FILE).unlink(missing_ok=True)

    @contextmanager
    def _stop_on_sigterm(self):
        def handler(signum, frame):
            raise _Stop()

        try:
            previous = signal.signal(signal.SIGTERM, handler)
        except ValueError:  # not the main thread: no handler (a test's pool in a thread)
            yield
            return
        try:
            yield
        finally:
            signal.signal(signal.SIGTERM, previous)

    # -- one tick ---------------------------------------------------------------------------

    def _recover(self) -> None:
        for job_id in self.queue.recover(lambda w: None if w == self.me else worker_alive(w)):
            self.log(f"job #{job_id}: its worker had died; back in line")

    def _fill(self) -> None:
        while len(self.running) < self.workers:
            job = self.queue.claim(self.me)
            if job is None:
                return
            try:
                argv = self.command(self.store, job)
            except GenzooError as exc:
                self.queue.finish(job.job_id, "failed", str(exc))
                self.log(f"job #{job.job_id} failed: {exc}")
                continue
            if argv is None:
                self.queue.finish(job.job_id, "completed", "nothing left to do")
                continue
            self._start(job, argv)

    def _start(self, job: Job, argv: list[str]) -> None:
        path = self.queue.log_path(job)
        path.parent.mkdir(parents=True, exist_ok=True)
        threads = str(self.threads)
        env = {**os.environ, "GENZOO_HOME": str(self.store.home), "PYTHONUNBUFFERED": "1",
               "OMP_NUM_THREADS": threads, "MKL_NUM_THREADS": threads}
        with open(path, "ab") as log:
            log.write(f"$ {' '.join(argv[2:])}\n".encode())
            log.flush()
            process = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log,
                                       stderr=subprocess.STDOUT, env=env,
                                       start_new_session=True, close_fds=True,
                                       preexec_fn=_prepare_trainer)
        self.queue.set_process(job.job_id, process.pid, process_start(process.pid))
        self.running[job.job_id] = _Running(job, process)
        self.log(f"started {job.describe()} as run {job.run_id}")

    def _reap(self) -> None:
        for job_id, item in list(self.running.items()):
            code = item.process.poll()
            if code is None:
                continue
            del self.running[job_id]
            self._judge(item, code)

    def _judge(self, item: _Running, code: int) -> None:
        job, tail = item.job, self.queue.log_tail(item.job, lines=40)
        if item.stopping:
            self.queue.requeue(job.job_id, "its worker pool stopped; taken up again, resuming "
                               "from the run's last checkpoint", count_attempt=False)
            return
        if code == 0:
            self.queue.finish(job.job_id, "completed")
            self.log(f"job #{job.job_id} completed (run {job.run_id})")
            return
        asked = self.queue.get(job.job_id).cancel_at is not None
        if asked or code in (130, 143):
            self.queue.finish(job.job_id, "cancelled", "cancelled; the run keeps its last "
                              f"checkpoint (`genzoo resume {shlex.quote(job.run_id)}`)")
            self._mark_run(job, "cancelled", "stopped by force while saving" if code < 0
                           else None)
            self.log(f"job #{job.job_id} cancelled (run {job.run_id})")
            return
        if code < 0:
            name = SIGNAL_NAMES.get(-code, f"signal {-code}")
            message = (f"its process was killed by {name}; the run keeps its last checkpoint "
                       f"(`genzoo resume {shlex.quote(job.run_id)}`, or a smaller batch_size if "
                       "it ran out of memory)")
            self._mark_run(job, "interrupted", message)
        else:
            message = last_error(tail) or (tail.splitlines() or ["it exited with code "
                                                                 f"{code}"])[-1]
        self.queue.finish(job.job_id, "failed", message)
        self.log(f"job #{job.job_id} failed: {message}")

    def _mark_run(self, job: Job, status: str, message: str | None) -> None:
        """A trainer that died without its last word leaves its run ``running``: say how it
        ended, so no page waits on it forever."""
        if message is None or job.kind != "train":
            return
        self.store.update(job.run_id, when_status=ACTIVE, status=status, error=message)

    def _cancels(self) -> None:
        now = time.time()
        for job_id, item in self.running.items():
            if item.term_at is None:
                if self.queue.get(job_id).cancel_at is not None:
                    self._signal(item, signal.SIGTERM)
                    item.term_at = now
            elif now - item.term_at >= GRACE_SECONDS:
                self._signal(item, signal.SIGKILL)

    @staticmethod
    def _signal(item: _Running, sig: int) -> None:
        try:
            os.killpg(item.process.pid, sig)  # the trainer leads its own session
        except ProcessLookupError:
            pass

    def _stop_all(self) -> None:
        """SIGTERM to every trainer, wait for their checkpoints, put their jobs back in line."""
        for item in self.running.values():
            item.stopping = True
            self._signal(item, signal.SIGTERM)
        deadline = time.time() + GRACE_SECONDS
        while self.running and time.time() < deadline:
            self._reap()
            time.sleep(0.1)
        for item in self.running.values():
            self._signal(item, signal.SIGKILL)
            item.process.wait()
        self._reap()
