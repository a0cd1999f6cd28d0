"""Comparisons past one machine: each queued run of a comparison as one submitit job.

A comparison's runs are independent, so they can go to a cluster through an existing engine,
submitit (Slurm; its local executor to try it and for the tests), never a home-made one:
``genzoo compare --executor slurm ...``. :func:`run_on_executor` takes the comparison's queued
jobs in order (a second stage once its parent has completed, sample quality once its run has),
claims each for this process, and submits the very command a local worker would run
(:func:`~genzoo.registry.pool.job_command`) as a cluster job, with ``GENZOO_HOME`` set to a
private home of that run on the shared file system: ``<store.home>/cluster/<NAME>/<RUN_ID>/``.
The node is the only writer of that private store; SQLite is never written from many nodes over
NFS. When a cluster job ends, this process, the one writer of the main store, imports the run
(:meth:`~genzoo.registry.store.RunStore.import_run`: its folder copied and renamed into place,
its record and curves in one transaction) and finishes the job. Before a job starts, the run as
the main store has it (to resume), and its parent run (for a second stage), are copied into the
private home. Ctrl-C cancels the cluster jobs (their trainers checkpoint), imports what they
left and puts their jobs back in line: the same command continues. docs/scaling.md says how to
set it up.
"""

from __future__ import annotations

import math
import os
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from .errors import BadConfig, GenzooError, NotFound
from .jobs import MEASUREMENTS, Job, JobQueue, last_error
from .pool import GRACE_SECONDS, check_workers, job_command, threads_per_worker, worker_alive
from .process import process_start
from .store import ACTIVE, RunStore

EXECUTORS = ("local", "submitit-local", "slurm")  # local: the worker pool of registry/pool.py
CLUSTER_FOLDER = "cluster"  # under the store's home: NAME/RUN_ID/ private homes, NAME/submitit/
REFERENCE_FOLDER = "reference"  # cached reference classifiers (sample quality), shared out
INSTALL_HINT = "pip install 'genzoo[cluster]'"
MEASURE_MINUTES = 30  # time limit of a measurement job (sample quality, restoration)
STEPS_MINUTES = 240  # time limit of a run on a step budget (its time is not known ahead)


def require_submitit():
    """The submitit module, or a one-line :class:`BadConfig` that says how to install it."""
    try:
        import submitit
    except ImportError:
        raise BadConfig(f"--executor needs submitit, which is not installed: {INSTALL_HINT}"
                        ) from None
    return submitit


def require_slurm() -> None:
    """A one-line error unless this machine can submit to Slurm (``srun`` and ``sbatch``)."""
    missing = [tool for tool in ("sbatch", "srun") if shutil.which(tool) is None]
    if missing:
        raise GenzooError(f"--executor slurm: {missing[0]} is not found here; run this on a "
                          "Slurm login node (or try --executor submitit-local)")


def _value(text: str):
    """``--slurm`` text as submitit wants it: an int, a float, true/false, or the text."""
    lowered = text.strip().lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text.strip()


def executor_options(kind: str, *, partition: str | None = None,
                     time_min: int | None = None, pairs=()) -> dict:
    """The submitit parameters for ``kind`` from the command line, checked before anything is
    queued: ``--slurm KEY=VALUE`` keys are submitit's shared ones (``timeout_min``,
    ``gpus_per_node``, ``mem_gb``, ``cpus_per_task``) or Slurm's (``account``, ``qos``,
    ``constraint``, with or without the ``slurm_`` prefix). Needs submitit (one line if not)."""
    if kind not in EXECUTORS:
        raise BadConfig(f"--executor {kind!r}: choose one of {', '.join(EXECUTORS)}")
    if kind == "local":
        if partition is not None or time_min is not None or pairs:
            raise BadConfig("--slurm-partition, --slurm-time-min and --slurm apply to "
                            "--executor slurm (or submitit-local), not to the local pool")
        return {}
    require_submitit()
    if time_min is not None and time_min < 1:
        raise BadConfig(f"--slurm-time-min {time_min}: give whole minutes, 1 or more")
    options: dict = {}
    for pair in pairs:
        key, sep, text = str(pair).partition("=")
        key = key.strip()
        if not sep or not key:
            raise BadConfig(f"--slurm {pair!r}: give KEY=VALUE, like gpus_per_node=1")
        options[key] = _value(text)
    if partition is not None:
        options["slurm_partition"] = partition
    if time_min is not None:
        options["timeout_min"] = int(time_min)
    if kind == "submitit-local":
        extra = sorted(set(options) - {"timeout_min"})
        if extra:
            raise BadConfig(f"--slurm {extra[0]}=...: submitit's local executor takes only a "
                            "time limit (--slurm-time-min); the others are Slurm's")
        return options
    from submitit.auto.auto import AutoExecutor
    from submitit.slurm.slurm import SlurmExecutor

    shared, slurm = AutoExecutor._typed_parameters(), SlurmExecutor._valid_parameters()
    out = {}
    for key, value in options.items():
        bare = key.removeprefix("slurm_")
        if key in shared:
            wanted = shared[key]
            if wanted is float and isinstance(value, int) and not isinstance(value, bool):
                value = float(value)
            if not isinstance(value, wanted):
                what = {int: "a whole number", float: "a number", bool: "true or false"}
                raise BadConfig(f"--slurm {key}={value}: {key} takes "
                                f"{what.get(wanted, wanted.__name__)}")
            out[key] = value
        elif bare in slurm:
            out[f"slurm_{bare}"] = value
        else:
            raise BadConfig(f"--slurm {key}=...: not a submitit or Slurm parameter; shared: "
                            f"{', '.join(sorted(shared))}; Slurm's: {', '.join(sorted(slurm))}")
    for key in ("nodes", "tasks_per_node", "slurm_ntasks_per_node"):
        if out.get(key, 1) != 1:
            raise BadConfig(f"--slurm {key}={out[key]}: a comparison's run is one task on one "
                            "node (a run across nodes is torchrun's, see docs/scaling.md)")
    return out


def private_home(root: Path, run_id: str) -> Path:
    """The run's own ``GENZOO_HOME`` on the shared file system: only its cluster job writes it."""
    return Path(root) / run_id


def time_limit_min(job: Job) -> int:
    """A cluster job's time limit in minutes: half as long again as a seconds budget plus a
    quarter of an hour (data, evaluation, the node's start), or a fixed one for a step budget
    (there is no telling its time ahead; ``--slurm-time-min`` sets it) or a measurement job."""
    if job.kind in MEASUREMENTS:
        return MEASURE_MINUTES
    if job.request is not None and job.request.seconds is not None:
        return math.ceil(job.request.seconds * 1.5 / 60) + 15
    return STEPS_MINUTES


_CHILD: list[subprocess.Popen] = []  # the command the task in this process runs


@dataclass
class ClusterTask:
    """What a cluster job runs: one genzoo command in a private home. Picklable (submitit sends
    it to the node); the command's output goes to the job's log in the submitit folder, and the
    exit code is the job's result.

    Timed out or preempted (submitit's USR2), the trainer gets SIGTERM and writes its checkpoint,
    and submitit requeues the job (:meth:`checkpoint`); the run's folder exists by then, so the
    job runs ``resume_argv`` instead of ``argv`` and continues from that checkpoint.
    """

    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)
    resume_argv: list[str] | None = None
    run_dir: str | None = None  # in the private home: once it exists, resume

    def __call__(self) -> int:
        argv = self.argv
        if self.resume_argv and self.run_dir and Path(self.run_dir).is_dir():
            argv = self.resume_argv
        print(f"$ {' '.join(argv[2:])}", flush=True)
        process = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                   env={**os.environ, **self.env})
        _CHILD[:] = [process]
        try:
            return process.wait()
        except BaseException:  # cancelled or timed out: let the trainer checkpoint first
            _stop(process)
            raise

    def checkpoint(self, *args, **kwargs):
        """submitit's hook before it requeues a timed-out or preempted job: tell the command to
        stop (a trainer checkpoints on SIGTERM) and run this task again. It runs in a signal
        handler, inside :meth:`__call__`'s wait: the wait for the trainer is left to
        ``__call__``, which the exit submitit raises next goes through."""
        import signal

        from submitit.helpers import DelayedSubmission

        for process in _CHILD:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        return DelayedSubmission(self)


def _stop(process: subprocess.Popen) -> None:
    """SIGTERM, then SIGKILL if it has not ended after the grace period."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(GRACE_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@dataclass
class _Flight:
    job: Job
    future: object  # a submitit Job
    home: Path
    cancel_sent: bool = False


def _make_executor(submitit, kind: str, folder: Path, options: dict):
    if kind == "submitit-local":
        return submitit.LocalExecutor(folder=folder)
    try:
        executor = submitit.AutoExecutor(folder=folder, cluster="slurm")
    except RuntimeError as exc:  # no srun here
        raise GenzooError(f"--executor slurm: {exc} (run this on a Slurm login node, or try "
                          "--executor submitit-local)") from None
    executor.update_parameters(**options)
    return executor


def _share(source: Path, target: Path) -> None:
    """Copy the files of ``source`` that ``target`` lacks (each copied beside and renamed)."""
    if not source.is_dir():
        return
    target.mkdir(parents=True, exist_ok=True)
    for path in source.iterdir():
        if path.is_file() and not path.name.startswith(".") and not (target / path.name).exists():
            staging = target / f".{path.name}.{uuid.uuid4().hex[:6]}"
            shutil.copy2(path, staging)
            staging.rename(target / path.name)


def _same(a: RunStore, b: RunStore, run_id: str) -> bool:
    try:
        x, y = a.get(run_id), b.get(run_id)
    except NotFound:
        return False
    return (x.updated_at, x.step, x.status) == (y.updated_at, y.step, y.status)


def _stage(store: RunStore, private: RunStore, job: Job) -> None:
    """Give the private home what its command reads: the run as the main store has it (a resume
    or a quality job), the parent run of a second stage, the cached reference classifiers."""
    parent = job.request.parent if job.request else None
    for run_id in ([parent] if parent else []) + [job.run_id]:
        try:
            store.get(run_id)
        except NotFound:
            if run_id == job.run_id:  # not begun in the main store: begin afresh here too
                private.delete(run_id)
            continue
        if not _same(store, private, run_id):
            private.import_run(store, run_id)
    if job.kind in MEASUREMENTS:  # both score with the dataset's reference classifier
        _share(store.home / REFERENCE_FOLDER, private.home / REFERENCE_FOLDER)


def _bring_back(store: RunStore, private: RunStore, job: Job, why: str | None) -> None:
    """Import the run from its private home (the one write to the main store per job); a run
    that its trainer left ``running`` (killed without its last word) is marked interrupted."""
    try:
        private.get(job.run_id)
    except NotFound:
        return
    store.import_run(private, job.run_id)
    _share(private.home / REFERENCE_FOLDER, store.home / REFERENCE_FOLDER)
    if job.kind == "train":
        store.update(job.run_id, when_status=ACTIVE, status="interrupted",
                     error=why or "its cluster job ended before the run finished; the same "
                     "`genzoo compare` command resumes it from its last checkpoint")


def _reference_key(store: RunStore, job: Job) -> str | None:
    from .quality import cache_key

    try:
        record = store.get(job.run_id)
    except NotFound:
        return None
    return cache_key(record.dataset, record.dataset_options)


def _reference_pending(store: RunStore, job: Job, flying: dict[int, _Flight]) -> bool:
    """A measurement job waits while another one on its dataset is out and the main store has
    no reference classifier for it yet: the first trains it, the others reuse it (each private
    home would train its own)."""
    if job.kind not in MEASUREMENTS:
        return False
    key = _reference_key(store, job)
    if key is None or (store.home / REFERENCE_FOLDER / f"{key}.safetensors").is_file():
        return False
    return any(f.job.kind in MEASUREMENTS and _reference_key(store, f.job) == key
               for f in flying.values())


def _logs(future) -> str:
    parts = []
    for read in (future.stdout, future.stderr):
        try:
            parts.append(read() or "")
        except Exception:  # noqa: BLE001 - a log the scheduler never wrote
            pass
    return "\n".join(parts)


def run_on_executor(registry, store: RunStore, name: str, executor_kind: str, *,
                    folder: str | Path | None = None, slurm_options: dict | None = None,
                    workers: int | None = None, log: Callable[[str], None] = lambda line: None,
                    poll_seconds: float = 1.0) -> dict:
    """Run comparison ``name``'s queued jobs (``compare.submit`` queued them) as submitit jobs
    of ``executor_kind`` (``slurm`` or ``submitit-local``), importing each run into ``store``
    when its job ends; returns ``{"submitted", "completed", "failed", "cancelled"}`` counts.

    ``folder`` holds the private homes and submitit's logs (default
    ``<store.home>/cluster/NAME``; on a cluster it must be on the file system the nodes share).
    ``slurm_options`` are submitit parameters (:func:`executor_options`). With the local
    executor at most ``workers`` jobs run at once (default: as the local pool); Slurm queues
    them itself. ``registry`` is unused: the comparison's jobs are already planned and queued.
    """
    from . import compare as cmp

    submitit = require_submitit()
    if executor_kind not in ("submitit-local", "slurm"):
        raise BadConfig(f"run_on_executor runs submitit-local or slurm, not {executor_kind!r}")
    cmp.get_spec(store, name)  # NotFound, in a line
    options = dict(slurm_options or {})
    root = Path(folder) if folder else store.home / CLUSTER_FOLDER / name
    executor = _make_executor(submitit, executor_kind, root / "submitit", options)
    limit = check_workers(workers) if executor_kind == "submitit-local" else None
    threads = str(threads_per_worker(limit) if limit else options.get("cpus_per_task", 1))
    queue = JobQueue(store)
    pid = os.getpid()
    me = {"pid": pid, "host": socket.gethostname(), "started": process_start(pid),
          "executor": executor_kind}
    for job_id in queue.recover(worker_alive):  # a submitter or pool that died left them
        log(f"job #{job_id}: its worker had died; back in line")
    counts = {"submitted": 0, "completed": 0, "failed": 0, "cancelled": 0}
    flying: dict[int, _Flight] = {}

    def launch(job: Job) -> None:
        try:
            argv = job_command(store, job)
        except GenzooError as exc:
            queue.finish(job.job_id, "failed", str(exc))
            counts["failed"] += 1
            log(f"job #{job.job_id} failed: {exc}")
            return
        if argv is None:
            queue.finish(job.job_id, "completed", "nothing left to do")
            return
        home = private_home(root, job.run_id)
        private = RunStore(home)
        _stage(store, private, job)
        env = {"GENZOO_HOME": str(home), "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": threads,
               "MKL_NUM_THREADS": threads}
        limit_min = options.get("timeout_min", time_limit_min(job))
        if executor_kind == "slurm":
            executor.update_parameters(timeout_min=int(limit_min), name=f"genzoo-{job.run_id}")
        else:
            executor.update_parameters(timeout_min=limit_min)
        resume = (argv[:3] + ["resume", job.run_id, "--quiet"] if job.kind == "train"
                  else None)
        future = executor.submit(ClusterTask(argv, env, resume, str(private.run_dir(job.run_id))))
        flying[job.job_id] = _Flight(job, future, home)
        counts["submitted"] += 1
        log(f"submitted {job.describe()} as {executor_kind} job {future.job_id} (run "
            f"{job.run_id})")

    def land(flight: _Flight) -> None:
        job, future = flight.job, flight.future
        try:
            code, problem = future.result(), None
        except Exception as exc:  # noqa: BLE001 - timed out, killed, the node failed
            code, problem = None, exc
        text = _logs(future)
        asked = queue.get(job.job_id).cancel_at is not None
        if code == 0:
            _bring_back(store, RunStore(flight.home), job, None)
            queue.finish(job.job_id, "completed")
            counts["completed"] += 1
            log(f"job #{job.job_id} completed (run {job.run_id})")
            return
        if asked or code in (130, 143):
            message = (f"cancelled; the run keeps its last checkpoint (`genzoo resume "
                       f"{job.run_id}`)")
            _bring_back(store, RunStore(flight.home), job, message)
            queue.finish(job.job_id, "cancelled", message)
            counts["cancelled"] += 1
            log(f"job #{job.job_id} cancelled (run {job.run_id})")
            return
        if problem is not None:
            first = (str(problem).strip().splitlines() or [type(problem).__name__])[0]
            message = last_error(text) or f"its {executor_kind} job {future.job_id} ended " \
                f"without finishing ({first[:200]}); see {future.paths.stdout}"
        else:
            lines = [line for line in text.splitlines() if line.strip()]
            message = last_error(text) or (lines[-1] if lines else f"it exited with code {code}")
        _bring_back(store, RunStore(flight.home), job, message)
        queue.finish(job.job_id, "failed", message)
        counts["failed"] += 1
        log(f"job #{job.job_id} failed: {message}")

    try:
        while True:
            for job_id, flight in list(flying.items()):
                if not flight.cancel_sent and queue.get(job_id).cancel_at is not None:
                    flight.future.cancel(check=False)
                    flight.cancel_sent = True
                if flight.future.done():
                    del flying[job_id]
                    land(flight)
            waiting = queue.list(comparison=name, statuses=("queued",))
            for job in waiting:
                if limit is not None and len(flying) >= limit:
                    break
                if _reference_pending(store, job, flying):
                    continue
                claimed = queue.claim_job(job.job_id, me)
                if claimed is not None:
                    launch(claimed)
            if not flying and not queue.list(comparison=name, statuses=("queued",)):
                return counts
            time.sleep(poll_seconds)
    except KeyboardInterrupt:
        _interrupt(store, queue, flying, log)
        raise GenzooError(f"interrupted; the cluster jobs of {name} were cancelled, every "
                          "unfinished run keeps its checkpoint and its job is back in line: "
                          "the same command continues it") from None


def _interrupt(store: RunStore, queue: JobQueue, flying: dict[int, _Flight], log) -> None:
    """Cancel the cluster jobs, give their trainers time to checkpoint, import what they left,
    and put their jobs back in line (not counted as an attempt)."""
    for flight in flying.values():
        try:
            flight.future.cancel(check=False)
        except Exception:  # noqa: BLE001 - already gone
            pass
    deadline = time.time() + GRACE_SECONDS + 5
    try:
        while time.time() < deadline and not all(f.future.done() for f in flying.values()):
            time.sleep(0.2)
    except KeyboardInterrupt:  # a second Ctrl-C: stop waiting
        pass
    for job_id, flight in flying.items():
        if flight.future.done():
            _bring_back(store, RunStore(flight.home), flight.job, "its cluster job was "
                        "cancelled (Ctrl-C); the same `genzoo compare` command resumes it")
        queue.requeue(job_id, "its cluster submission was interrupted; taken up again, "
                      "resuming from the run's last checkpoint", count_attempt=False)
        log(f"job #{job_id}: back in line")

