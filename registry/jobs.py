"""The job queue: every training that does not run in the foreground waits here for a worker.

Jobs are rows of the runs store (table ``jobs`` in ``runs.sqlite``), so nothing queued is lost
when the dashboard, a terminal or a worker dies. A job is one of three kinds:

- ``train``: a :class:`~genzoo.registry.requests.TrainRequest` and the run id it trains, chosen
  when it is queued (the page, ``compare`` and ``genzoo jobs`` follow the run by that id). A job
  taken up again after its worker died resumes that run from its last checkpoint.
- ``quality``: score the samples of a completed run (``genzoo quality RUN``), queued behind the
  run's training so a comparison's table has its Fréchet distance.
- ``restore``: measure a completed restoration model (``genzoo restore RUN --table``: its PSNR
  and accuracy gains over the baseline on the standard degradations), so its claims have numbers.

A job moves ``queued -> running -> completed | failed | cancelled``; ``after`` names a job that
must complete first (a second stage after its parent's training), and a job whose ``after`` failed
or was cancelled fails with it. Choosing and claiming a job is one ``BEGIN IMMEDIATE``
transaction, so two workers never take the same one. :mod:`genzoo.registry.pool` runs them.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

from .errors import BadConfig, GenzooError, NotFound
from .requests import TrainRequest
from .store import RunStore, check_run_id, new_run_id

STATUSES = ("queued", "running", "completed", "failed", "cancelled")
OPEN = ("queued", "running")
KINDS = ("train", "quality", "restore")
# A measurement job: the command (after ``genzoo``, RUN standing for the run id) and the metric
# that, once stored with the run, means there is nothing left to do.
MEASUREMENTS = {
    "quality": (("quality", "RUN", "--json"), "quality_frechet_distance"),
    "restore": (("restore", "RUN", "--table", "--json"), "restoration_psnr_gain_db"),
}
MAX_ATTEMPTS = 3  # a job whose worker died this many times is failed, not taken up forever
JOBS_FOLDER = "jobs"  # under the store's home: one log per job
KEEP_LOGS = 200  # logs of finished jobs kept (the newest); older ones are pruned


class QueueFull(GenzooError):
    """A cap on queued jobs (a session's, or the queue's) is reached; nothing was queued."""


@dataclass
class Job:
    """One row of the queue. ``request`` is None for a corrupt entry (``message`` says why)."""

    job_id: int
    kind: str
    run_id: str
    request: TrainRequest | None
    status: str
    owner: str = ""
    comparison: str | None = None
    after: int | None = None
    worker: dict | None = None
    pid: int | None = None
    pid_started: int | None = None
    attempts: int = 0
    cancel_at: float | None = None
    message: str | None = None
    created_at: float = 0.0
    started_at: float | None = None
    finished_at: float | None = None

    @property
    def open(self) -> bool:
        """Queued or running: not yet finished."""
        return self.status in OPEN

    def describe(self) -> str:
        """``#12 train pixelcnn on digits, 30 s, seed 0`` for lists and progress lines."""
        what = self.request.describe() if self.request else "(corrupt entry)"
        return f"#{self.job_id} {self.kind} {what}"

    def to_json(self) -> dict:
        """The job as ``genzoo jobs --json`` prints it."""
        return {"job_id": self.job_id, "kind": self.kind, "run_id": self.run_id,
                "status": self.status, "owner": self.owner, "comparison": self.comparison,
                "after": self.after, "attempts": self.attempts, "message": self.message,
                "request": self.request.to_json() if self.request else None,
                "worker": self.worker, "pid": self.pid, "cancel_asked": self.cancel_at,
                "created_at": self.created_at, "started_at": self.started_at,
                "finished_at": self.finished_at}


def _job(row) -> Job:
    """A row as a :class:`Job`; a request that does not parse makes a corrupt entry, reported
    by its message rather than raised, so one bad row cannot hide or block the others."""
    values = dict(row)
    message = values.pop("message")
    try:
        request = TrainRequest.from_json(json.loads(values.pop("request")))
    except (GenzooError, ValueError, TypeError) as exc:
        request, message = None, f"corrupt queue entry: {exc}"
    try:
        worker = json.loads(values.pop("worker")) if values.get("worker") else None
    except (ValueError, TypeError):
        worker = None
    values.pop("worker", None)
    return Job(request=request, message=message, worker=worker, **values)


class JobQueue:
    """The queue of one runs store: submit, list, claim, finish and cancel jobs."""

    def __init__(self, store: RunStore):
        self.store = store

    # -- asking -----------------------------------------------------------------------------

    def submit(self, request: TrainRequest, *, owner: str = "cli", run_id: str | None = None,
               kind: str = "train", comparison: str | None = None, after: int | None = None,
               max_open_per_owner: int | None = None, max_open: int | None = None) -> Job:
        """Queue a job and return it; raises :class:`QueueFull` (nothing queued) where
        ``owner`` already holds ``max_open_per_owner`` open jobs or the queue ``max_open``.

        The caps are counted and the row inserted in one transaction: twenty sessions asking
        at once cannot slip past them. The request should have been checked already
        (:func:`~genzoo.registry.requests.check_request`).
        """
        if kind not in KINDS:
            raise BadConfig(f"unknown job kind {kind!r}; kinds: {', '.join(KINDS)}")
        run_id = check_run_id(run_id) if run_id else new_run_id(
            request.model, request.dataset or request.model)
        now = time.time()
        with self.store.transaction() as db:
            if max_open is not None:
                total = db.execute("SELECT COUNT(*) FROM jobs WHERE status IN (?, ?)",
                                   OPEN).fetchone()[0]
                if total >= max_open:
                    raise QueueFull(f"the queue is full ({total} jobs waiting or training, "
                                    f"at most {max_open}): try again when some have finished")
            if max_open_per_owner is not None:
                mine = db.execute("SELECT COUNT(*) FROM jobs WHERE owner = ? AND status IN "
                                  "(?, ?)", (owner, *OPEN)).fetchone()[0]
                if mine >= max_open_per_owner:
                    raise QueueFull(f"you have {mine} jobs waiting or training, at most "
                                    f"{max_open_per_owner} at a time: wait for one to finish or "
                                    "cancel one")
            cursor = db.execute(
                "INSERT INTO jobs (kind, run_id, request, status, owner, comparison, after, "
                "created_at) VALUES (?, ?, ?, 'queued', ?, ?, ?, ?)",
                (kind, run_id, json.dumps(request.to_json()), owner, comparison, after, now))
            job_id = cursor.lastrowid
        return self.get(job_id)

    # -- reading ----------------------------------------------------------------------------

    def get(self, job_id: int) -> Job:
        """Job ``job_id``; :class:`NotFound` names it and points to ``genzoo jobs``."""
        if not 0 < int(job_id) < 2**63:  # SQLite's integers: a larger number names no job
            raise NotFound(f"no job #{job_id} in {self.store.home} (see `genzoo jobs`)")
        with self.store._connect() as db:
            row = db.execute("SELECT * FROM jobs WHERE job_id = ?", (job_id,)).fetchone()
        if row is None:
            raise NotFound(f"no job #{job_id} in {self.store.home} (see `genzoo jobs`)")
        return _job(row)

    def list(self, *, statuses: tuple[str, ...] | None = None, owner: str | None = None,
             comparison: str | None = None, run_id: str | None = None,
             limit: int | None = None, newest_first: bool = False) -> list[Job]:
        """Jobs in queue order (oldest first), optionally filtered."""
        query, args = "SELECT * FROM jobs WHERE 1=1", []
        if statuses:
            query += f" AND status IN ({', '.join('?' for _ in statuses)})"
            args += list(statuses)
        for column, value in (("owner", owner), ("comparison", comparison),
                              ("run_id", run_id)):
            if value is not None:
                query += f" AND {column} = ?"
                args.append(value)
        query += f" ORDER BY job_id {'DESC' if newest_first else 'ASC'}"
        if limit is not None:
            query += f" LIMIT {int(limit)}"
        with self.store._connect() as db:
            return [_job(row) for row in db.execute(query, args).fetchall()]

    def for_run(self, run_id: str) -> Job | None:
        """The newest train job of ``run_id``, if the run was queued."""
        jobs = self.list(run_id=run_id, newest_first=True, limit=10)
        return next((j for j in jobs if j.kind == "train"), None)

    def position(self, job: Job) -> int | None:
        """A queued job's place in the line (1: next to be taken), None once it is taken."""
        if job.status != "queued":
            return None
        with self.store._connect() as db:
            ahead = db.execute("SELECT COUNT(*) FROM jobs WHERE status = 'queued' AND "
                               "job_id < ?", (job.job_id,)).fetchone()[0]
        return ahead + 1

    def counts(self, comparison: str | None = None) -> dict[str, int]:
        """``{status: number of jobs}``, for one comparison or the whole queue."""
        query, args = "SELECT status, COUNT(*) FROM jobs", []
        if comparison is not None:
            query, args = query + " WHERE comparison = ?", [comparison]
        with self.store._connect() as db:
            found = dict(db.execute(query + " GROUP BY status", args).fetchall())
        return {status: found.get(status, 0) for status in STATUSES}

    # -- working ----------------------------------------------------------------------------

    def claim(self, worker: dict) -> Job | None:
        """Take the oldest queued job whose ``after`` job has completed; None when none can run.

        In the same transaction, a corrupt entry is failed (and skipped), and a job whose
        ``after`` failed or was cancelled fails with it.
        """
        now = time.time()
        with self.store.transaction() as db:
            rows = db.execute("SELECT * FROM jobs WHERE status = 'queued' ORDER BY job_id")
            for row in rows.fetchall():
                job = _job(row)
                if _ready(db, job, now):
                    _take(db, job.job_id, worker, now)
                    break
            else:
                return None
        return self.get(job.job_id)

    def claim_job(self, job_id: int, worker: dict) -> Job | None:
        """Take job ``job_id`` for ``worker`` if it is queued and can run now (its ``after`` job
        completed), as :meth:`claim` would, in one transaction; None otherwise. For an executor
        that chooses its jobs itself (a comparison's cluster submission, :mod:`.cluster`)."""
        now = time.time()
        with self.store.transaction() as db:
            row = db.execute("SELECT * FROM jobs WHERE job_id = ? AND status = 'queued'",
                             (job_id,)).fetchone()
            if row is None or not _ready(db, _job(row), now):
                return None
            _take(db, job_id, worker, now)
        return self.get(job_id)

    def set_process(self, job_id: int, pid: int, started: int | None) -> None:
        """Record the process that works on a running job (for cancel and recovery)."""
        with self.store._connect() as db:
            db.execute("UPDATE jobs SET pid = ?, pid_started = ? WHERE job_id = ?",
                       (pid, started, job_id))

    def finish(self, job_id: int, status: str, message: str | None = None) -> None:
        """Mark a running job ``completed``, ``failed`` or ``cancelled``."""
        if status not in ("completed", "failed", "cancelled"):
            raise ValueError(f"a job finishes completed, failed or cancelled, not {status!r}")
        with self.store._connect() as db:
            _finish(db, job_id, status, message, time.time())

    def requeue(self, job_id: int, message: str, *, count_attempt: bool = True) -> str:
        """Put a running job back in line (its worker stopped or died); the status it got.

        A job that has been taken :data:`MAX_ATTEMPTS` times is failed instead, and a job whose
        cancel was asked for is cancelled.
        """
        with self.store.transaction() as db:
            row = db.execute("SELECT attempts, cancel_at FROM jobs WHERE job_id = ?",
                             (job_id,)).fetchone()
            if row is None:
                return "gone"
            attempts = row["attempts"] - (0 if count_attempt else 1)
            if row["cancel_at"] is not None:
                status, text = "cancelled", "cancelled while its worker stopped"
            elif attempts >= MAX_ATTEMPTS:
                status, text = "failed", f"{message}; given up after {attempts} attempts"
            else:
                status, text = "queued", message
            db.execute("UPDATE jobs SET status = ?, message = ?, attempts = ?, worker = NULL, "
                       "pid = NULL, pid_started = NULL, finished_at = ? WHERE job_id = ?",
                       (status, text, attempts, None if status == "queued" else time.time(),
                        job_id))
        return status

    def recover(self, worker_alive) -> list[int]:
        """Take up again the running jobs whose worker has died (``worker_alive(worker dict)``
        is False for them; None, another host's, is left alone); returns their ids."""
        taken = []
        for job in self.list(statuses=("running",)):
            if job.worker is None or worker_alive(job.worker) is False:
                self.requeue(job.job_id, "its worker stopped before the job finished; taken up "
                             "again, resuming from the run's last checkpoint")
                taken.append(job.job_id)
        return taken

    # -- cancelling -------------------------------------------------------------------------

    def cancel(self, target: str | int, *, owner: str | None = None) -> str:
        """Cancel a job (by number, ``#12``, or its run id); returns what was done, in a line.

        A queued job is cancelled at once. A running one is asked to stop: its worker sends the
        trainer SIGTERM, the trainer writes a checkpoint and the run is ``cancelled``
        (``genzoo resume`` continues it). With ``owner``, only that owner's jobs may be
        cancelled (a dashboard session cancels its own jobs, never a terminal's or another
        visitor's).
        """
        job = self._find(target)
        if owner is not None and job.owner != owner:
            raise BadConfig(f"job #{job.job_id} (run {job.run_id}) was not started from this "
                            "session; only the session that queued it can cancel it")
        now = time.time()
        with self.store.transaction() as db:
            row = db.execute("SELECT status FROM jobs WHERE job_id = ?", (job.job_id,)).fetchone()
            if row["status"] == "queued":
                _finish(db, job.job_id, "cancelled", "cancelled before it started", now)
                return f"cancelled job #{job.job_id} (run {job.run_id}) before it started"
            if row["status"] != "running":
                return f"job #{job.job_id} (run {job.run_id}) is already {row['status']}"
            db.execute("UPDATE jobs SET cancel_at = COALESCE(cancel_at, ?) WHERE job_id = ?",
                       (now, job.job_id))
        return (f"asked job #{job.job_id} to stop (run {job.run_id}): it saves a checkpoint and "
                "the run is marked cancelled")

    def _find(self, target: str | int) -> Job:
        text = str(target).strip().lstrip("#")
        if text.isdigit():
            return self.get(int(text))
        job = next(iter(self.list(run_id=str(target), newest_first=True, limit=1)), None)
        if job is None:
            raise NotFound(f"no queued job trains run {target!r} (see `genzoo jobs`)")
        return job

    # -- files ------------------------------------------------------------------------------

    def log_path(self, job: Job | int) -> Path:
        """What the job's process printed: ``$GENZOO_HOME/jobs/JOB_ID.log``."""
        job_id = job.job_id if isinstance(job, Job) else int(job)
        return self.store.home / JOBS_FOLDER / f"{job_id}.log"

    def log_tail(self, job: Job | int, lines: int = 20) -> str:
        """The last lines a job's process printed ('' before it printed any)."""
        try:
            with open(self.log_path(job), "rb") as handle:
                handle.seek(0, 2)
                handle.seek(max(0, handle.tell() - 16_384))
                text = handle.read().decode(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.strip().splitlines()[-lines:])

    def prune_logs(self, keep: int = KEEP_LOGS) -> int:
        """Delete the logs of finished jobs beyond the newest ``keep``; returns how many (a
        folder of thousands of files slows every listing of it)."""
        finished = [j.job_id for j in self.list(statuses=("completed", "failed", "cancelled"),
                                                newest_first=True)]
        removed = 0
        for job_id in finished[keep:]:
            path = self.log_path(job_id)
            if path.exists():
                path.unlink(missing_ok=True)
                removed += 1
        return removed


def _ready(db, job: Job, now: float) -> bool:
    """Whether a queued job can be taken now; a corrupt entry, or one whose ``after`` job failed,
    was cancelled or is gone, is failed here (and is not ready)."""
    if job.request is None:
        _finish(db, job.job_id, "failed", job.message, now)
        return False
    if job.after is None:
        return True
    parent = db.execute("SELECT status FROM jobs WHERE job_id = ?", (job.after,)).fetchone()
    if parent is None or parent["status"] in ("failed", "cancelled"):
        why = "is gone" if parent is None else f"was {parent['status']}"
        _finish(db, job.job_id, "failed", f"not trained: job #{job.after} it waits for {why}",
                now)
        return False
    return parent["status"] == "completed"


def _take(db, job_id: int, worker: dict, now: float) -> None:
    db.execute("UPDATE jobs SET status = 'running', worker = ?, started_at = ?, "
               "attempts = attempts + 1, pid = NULL, pid_started = NULL WHERE job_id = ?",
               (json.dumps(worker), now, job_id))


def _finish(db, job_id: int, status: str, message: str | None, now: float) -> None:
    db.execute("UPDATE jobs SET status = ?, message = ?, finished_at = ? WHERE job_id = ?",
               (status, message, now, job_id))


def last_error(text: str) -> str | None:
    """The one-line ``error: ...`` a genzoo command printed last, without its prefix."""
    errors = [line[len("error: "):] for line in text.splitlines() if line.startswith("error: ")]
    return errors[-1] if errors else None
