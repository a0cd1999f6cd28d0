"""The runs store: SQLite for run records and logged metrics, one folder per run for checkpoints.

It lives under ``GENZOO_HOME`` (default ``~/.genzoo``). The CLI, the trainer and the dashboard
all read and write the same store; SQLite runs in WAL mode so the dashboard can read while a
training process writes.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from .errors import BadConfig, GenzooError, NotFound, StoreError

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY,
    model TEXT NOT NULL,
    dataset TEXT NOT NULL,
    dataset_options TEXT NOT NULL DEFAULT '{}',
    config TEXT NOT NULL,
    data_info TEXT NOT NULL DEFAULT '{}',
    seed INTEGER NOT NULL,
    device TEXT NOT NULL,
    status TEXT NOT NULL,
    step INTEGER NOT NULL DEFAULT 0,
    target_steps INTEGER,
    target_seconds REAL,
    train_seconds REAL NOT NULL DEFAULT 0,
    metrics TEXT NOT NULL DEFAULT '{}',
    error TEXT,
    tags TEXT NOT NULL DEFAULT '[]',
    settings TEXT NOT NULL DEFAULT '{}',
    dataset_identity TEXT NOT NULL DEFAULT '{}',
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS metrics (
    run_id TEXT NOT NULL,
    step INTEGER NOT NULL,
    name TEXT NOT NULL,
    value REAL NOT NULL,
    wall_time REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS metrics_by_run ON metrics (run_id, name, step);
CREATE INDEX IF NOT EXISTS metrics_by_step ON metrics (run_id, step);
CREATE TABLE IF NOT EXISTS jobs (
    job_id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    run_id TEXT NOT NULL,
    request TEXT NOT NULL,
    status TEXT NOT NULL,
    owner TEXT NOT NULL DEFAULT '',
    comparison TEXT,
    after INTEGER,
    worker TEXT,
    pid INTEGER,
    pid_started INTEGER,
    attempts INTEGER NOT NULL DEFAULT 0,
    cancel_at REAL,
    message TEXT,
    created_at REAL NOT NULL,
    started_at REAL,
    finished_at REAL
);
CREATE INDEX IF NOT EXISTS jobs_by_status ON jobs (status, job_id);
CREATE TABLE IF NOT EXISTS comparisons (
    name TEXT PRIMARY KEY,
    spec TEXT NOT NULL,
    created_at REAL NOT NULL
);
"""

# cancelled: stopped on request (SIGTERM: the dashboard's Cancel); interrupted: stopped
# otherwise (Ctrl-C, out of GPU memory, a process that died). Both resume from their checkpoint.
STATUSES = ("created", "running", "completed", "failed", "interrupted", "cancelled")
ACTIVE = ("created", "running")  # a process is (or should be) training these
_RUN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,127}")  # one folder name, no path
_JSON_COLUMNS = ("dataset_options", "config", "data_info", "metrics", "tags", "settings",
                 "dataset_identity")
# Columns added after the first release, with their definitions: a store written by an older
# genzoo gets them on first open (SQLite adds a column with its default to every row).
_ADDED_COLUMNS = {"settings": "TEXT NOT NULL DEFAULT '{}'",
                  "dataset_identity": "TEXT NOT NULL DEFAULT '{}'"}


@dataclass
class RunRecord:
    """One training of one model on one dataset with one config and seed."""

    run_id: str
    model: str
    dataset: str
    config: dict
    seed: int
    device: str
    status: str
    step: int = 0
    target_steps: int | None = None
    target_seconds: float | None = None
    train_seconds: float = 0.0
    metrics: dict = field(default_factory=dict)
    dataset_options: dict = field(default_factory=dict)
    data_info: dict = field(default_factory=dict)
    error: str | None = None
    tags: list = field(default_factory=list)
    # How the run trains, beyond its config: ``precision`` (fp32 | bf16), ``compile`` (bool),
    # and ``compile_error`` when torch.compile failed and it fell back to eager.
    settings: dict = field(default_factory=dict)
    # A dataset read from the user's files: its display ``name``, ``path``, ``format`` and the
    # ``sha256`` of its content when the run trained (empty for a registered dataset), so a
    # run whose data changed since can say so (:mod:`genzoo.registry.imagefiles`).
    dataset_identity: dict = field(default_factory=dict)
    created_at: float = 0.0
    updated_at: float = 0.0

    def to_json(self) -> dict:
        """The run record as the CLI prints it."""
        return {"run_id": self.run_id, "model": self.model, "dataset": self.dataset,
                "status": self.status, "config": self.config, "metrics": self.metrics,
                "seed": self.seed, "device": self.device, "step": self.step,
                "target_steps": self.target_steps, "target_seconds": self.target_seconds,
                "train_seconds": self.train_seconds, "dataset_options": self.dataset_options,
                "error": self.error, "tags": self.tags, "settings": self.settings,
                "dataset_identity": self.dataset_identity, "created_at": self.created_at,
                "updated_at": self.updated_at}


_MAX_RUN_ID = 128
_NOT_IN_RUN_ID = re.compile(r"[^A-Za-z0-9._+-]+")


def new_run_id(model: str, dataset: str) -> str:
    """A fresh id that a person can read, ``MODEL-DATASET-xxxxxx``, made to pass
    :func:`check_run_id` whatever the names hold: a CSV called ``my data (v2);$(id).csv`` gives
    ``MODEL-my-data-v2-id-xxxxxx``, and a long name is cut so that the id fits one folder name."""
    is_path = dataset.endswith(".csv") or "/" in dataset or os.sep in dataset
    stem = Path(dataset).stem if is_path else dataset  # a user's file or folder: its name
    suffix = uuid.uuid4().hex[:6]
    slug = "-".join(part for part in (slugify(model), slugify(stem)) if part)
    slug = re.sub(r"^[^A-Za-z0-9]+", "", slug) or "run"  # an id starts with a letter or digit
    return check_run_id(f"{slug[:_MAX_RUN_ID - len(suffix) - 1].rstrip('.-')}-{suffix}")


def slugify(name: str) -> str:
    """``name`` with each run of characters a run id cannot hold as one ``-``, and no leading
    or trailing ``-`` or ``.`` (``..`` becomes ``.``)."""
    slug = _NOT_IN_RUN_ID.sub("-", name)
    slug = re.sub(r"\.{2,}", ".", slug)
    return slug.strip("-.")


def check_run_id(run_id: str) -> str:
    """``run_id`` if it can name a run (and its folder); :class:`BadConfig` otherwise."""
    if not isinstance(run_id, str) or not _RUN_ID.fullmatch(run_id) or ".." in run_id:
        raise BadConfig(f"--run-id {run_id!r}: use letters, digits and . _ + - (at most "
                        f"{_MAX_RUN_ID}, starting with a letter or digit)")
    return run_id


def default_home() -> Path:
    """``$GENZOO_HOME`` or ``~/.genzoo``."""
    return Path(os.environ.get("GENZOO_HOME") or "~/.genzoo").expanduser()


def writable_home(home: Path) -> bool:
    """Whether this process can write the store under ``home`` (a missing home can be made)."""
    home = Path(home)
    if not home.exists():
        return True
    db = home / "runs.sqlite"
    return os.access(home, os.W_OK) and (not db.exists() or os.access(db, os.W_OK))


BUSY_SECONDS = 30.0  # how long a write waits for another process's write to end


def _make_home(home: Path) -> None:
    """Make the store's folder, or say in one line why ``GENZOO_HOME`` cannot be one."""
    try:
        home.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise StoreError(f"the runs store's home {home} is a file, not a folder: set "
                         "GENZOO_HOME to a folder (it is made if missing)") from None
    except NotADirectoryError:
        blocker = next((p for p in home.parents if p.exists() and not p.is_dir()), home)
        raise StoreError(f"the runs store's home {home} is under {blocker}, which is a file: "
                         "set GENZOO_HOME to a folder") from None
    except OSError as exc:
        raise StoreError(f"cannot make the runs store's home {home}: {exc.strerror or exc}; "
                         "set GENZOO_HOME to a folder you can write") from None


def _store_problem(store: RunStore, exc: sqlite3.Error) -> str:
    """What an SQLite error says about the store, and what to do about it."""
    text = str(exc)
    where = store.db_path
    # a read-only home is opened with query_only, whose refusal is worded differently
    read_only = "readonly" in text or "read-only" in text or (
        store.read_only and "query_only" in text)
    other_schema = any(words in text for words in ("no such column", "no such table",
                                                    "has no column"))
    # an operational error is about access (locks, permissions); the other database errors
    # come from a file whose content SQLite cannot trust
    damaged = not isinstance(exc, sqlite3.OperationalError) and isinstance(
        exc, sqlite3.DatabaseError) or "malformed" in text or "not a database" in text
    if read_only:
        return (f"the runs store {where} is read-only here, so nothing can be written to it "
                "(reading works); to train or store results, set GENZOO_HOME to a folder you "
                "can write")
    if "locked" in text or "busy" in text:
        return (f"the runs store {where} stayed locked by another process for "
                f"{BUSY_SECONDS:.0f} s; try again when its write is done (a training or a "
                "`genzoo worker` using the same GENZOO_HOME)")
    if other_schema:
        return (f"the runs store {where} was written by another version of genzoo ({text}); "
                "upgrade genzoo, or set GENZOO_HOME to a new folder")
    if damaged:
        return (f"the runs store {where} is damaged ({text}): move it aside (the run folders "
                f"under {store.home / 'runs'} keep their checkpoints) and genzoo starts a new "
                "one, or restore it from a backup")
    if "unable to open" in text:
        return (f"cannot open the runs store {where} ({text}): check that its folder can be "
                "read and written, or set GENZOO_HOME to another folder")
    return f"the runs store {where} failed: {text}"


class RunStore:
    """Run records, logged metrics and checkpoint folders under one home directory."""

    def __init__(self, home: str | Path | None = None):
        self.home = Path(home).expanduser() if home else default_home()
        self.db_path = self.home / "runs.sqlite"
        _make_home(self.home)
        # a home this process cannot write (a teacher's store shared read-only) is read: every
        # listing, evaluation and page works, and a write says why it cannot be done
        self.read_only = not writable_home(self.home)
        with self._connect() as db:
            if not self.read_only:
                db.executescript(SCHEMA)
            present = {row["name"] for row in db.execute("PRAGMA table_info(runs)")}
            if not present:  # a read-only home without a store: read as an empty one
                return
            for name, definition in _ADDED_COLUMNS.items():
                if name not in present and not self.read_only:
                    try:
                        db.execute(f"ALTER TABLE runs ADD COLUMN {name} {definition}")
                    except sqlite3.OperationalError as exc:  # another process added it first
                        if "duplicate column" not in str(exc):
                            raise
                    present.add(name)
            missing = [name for name in RunRecord.__dataclass_fields__ if name not in present]
            if missing:
                raise StoreError(f"the runs store {self.db_path} was written by another "
                                 f"version of genzoo (its runs table has no {', '.join(missing)} "
                                 "column); upgrade genzoo, or set GENZOO_HOME to a new folder")

    def _open(self, **options) -> sqlite3.Connection:
        if not self.read_only:
            return sqlite3.connect(self.db_path, timeout=BUSY_SECONDS, **options)
        if not self.db_path.exists():  # nothing stored yet: an empty store that takes no writes
            db = sqlite3.connect(":memory:", **options)
            db.executescript(SCHEMA)
            db.execute("PRAGMA query_only = ON")
            return db
        # immutable: a read-only folder has no room for WAL's shared-memory file, and no
        # process of this user can write the store while it is read
        return sqlite3.connect(f"{self.db_path.resolve().as_uri()}?immutable=1", uri=True,
                               timeout=BUSY_SECONDS, **options)

    @contextmanager
    def _connect(self):
        with self._translated():
            db = self._open()
            try:
                if not self.read_only:
                    db.execute("PRAGMA journal_mode=WAL")
                db.execute(f"PRAGMA busy_timeout={int(BUSY_SECONDS * 1000)}")
                db.row_factory = sqlite3.Row
                with db:  # one transaction: committed on success, rolled back on error
                    yield db
            finally:
                db.close()

    @contextmanager
    def transaction(self):
        """A connection whose block is one write transaction, taken before its first read
        (``BEGIN IMMEDIATE``): a count and the insert it allows, or a job chosen and claimed,
        cannot interleave with another process doing the same (the job queue relies on it)."""
        with self._translated():
            db = self._open(isolation_level=None)
            try:
                db.execute(f"PRAGMA busy_timeout={int(BUSY_SECONDS * 1000)}")
                db.row_factory = sqlite3.Row
                db.execute("BEGIN IMMEDIATE")
                try:
                    yield db
                except BaseException:
                    db.execute("ROLLBACK")
                    raise
                db.execute("COMMIT")
            finally:
                db.close()

    @contextmanager
    def _translated(self):
        """SQLite's errors about the store itself as one line that names the file and what to
        do; an IntegrityError (a taken id) is the caller's to handle."""
        try:
            yield
        except sqlite3.IntegrityError:
            raise
        except sqlite3.Error as exc:
            raise StoreError(_store_problem(self, exc)) from None

    # -- runs --------------------------------------------------------------------------------

    def create_run(self, *, model: str, dataset: str, config: dict, seed: int, device: str,
                   data_info: dict, dataset_options: dict | None = None,
                   target_steps: int | None = None, target_seconds: float | None = None,
                   tags: list | None = None, run_id: str | None = None,
                   settings: dict | None = None,
                   dataset_identity: dict | None = None) -> RunRecord:
        """Record a new run (status ``created``) and make its checkpoint folder.

        ``run_id`` is chosen by the caller where it must know the id before the run exists
        (the dashboard starts ``genzoo train --run-id ID`` and follows that id); a taken id is
        an error, never a second writer in the same folder.
        """
        now = time.time()
        run_id = check_run_id(run_id) if run_id else new_run_id(model, dataset)
        if self.run_dir(run_id).exists():
            raise GenzooError(f"run id {run_id!r} is taken (its folder {self.run_dir(run_id)} "
                              "exists); choose another")
        record = RunRecord(run_id=run_id, model=model, dataset=dataset, config=config, seed=seed,
                           device=device, status="created", target_steps=target_steps,
                           target_seconds=target_seconds, dataset_options=dataset_options or {},
                           data_info=data_info, tags=tags or [], settings=settings or {},
                           dataset_identity=dataset_identity or {}, created_at=now,
                           updated_at=now)
        row = record.__dict__.copy()
        for key in _JSON_COLUMNS:
            row[key] = json.dumps(row[key])
        try:
            with self._connect() as db:
                db.execute(f"INSERT INTO runs ({', '.join(row)}) VALUES "
                           f"({', '.join('?' for _ in row)})", list(row.values()))
        except sqlite3.IntegrityError:
            raise GenzooError(f"run id {run_id!r} is taken; choose another") from None
        self.run_dir(run_id).mkdir(parents=True, exist_ok=True)
        return record

    def get(self, run_id: str) -> RunRecord:
        """The run ``run_id``; :class:`NotFound` names it and suggests ``genzoo runs``."""
        with self._connect() as db:
            row = db.execute("SELECT * FROM runs WHERE run_id = ?", (run_id,)).fetchone()
        if row is None:
            raise NotFound(f"no run with id {run_id!r} in {self.home} (see `genzoo runs`)")
        return _record(row, self.db_path)

    def list_runs(self, *, model: str | None = None, dataset: str | None = None,
                  status: str | None = None) -> list[RunRecord]:
        """Runs, newest first, optionally filtered."""
        query, args = "SELECT * FROM runs WHERE 1=1", []
        for column, value in (("model", model), ("dataset", dataset), ("status", status)):
            if value is not None:
                query += f" AND {column} = ?"
                args.append(value)
        with self._connect() as db:
            rows = db.execute(query + " ORDER BY created_at DESC", args).fetchall()
        return [_record(row, self.db_path) for row in rows]

    def update(self, run_id: str, *, when_status: tuple[str, ...] | None = None,
               **fields) -> bool:
        """Set columns of a run (JSON columns take Python objects); True if the row changed.

        With ``when_status``, only while the run's status is one of those, checked and written
        in one statement: a reader that marks a dead run ``interrupted`` cannot overwrite the
        ``completed`` its trainer wrote a moment before.
        """
        if "status" in fields and fields["status"] not in STATUSES:
            raise ValueError(f"unknown status {fields['status']!r}")
        fields["updated_at"] = time.time()
        for key in _JSON_COLUMNS:
            if key in fields:
                fields[key] = json.dumps(fields[key])
        query, args = (f"UPDATE runs SET {', '.join(f'{k} = ?' for k in fields)} "
                       "WHERE run_id = ?"), [*fields.values(), run_id]
        if when_status is not None:
            query += f" AND status IN ({', '.join('?' for _ in when_status)})"
            args += list(when_status)
        with self._connect() as db:
            return db.execute(query, args).rowcount > 0

    def merge_metrics(self, run_id: str, values: dict) -> dict:
        """Add summary metrics (``test_bits_per_dim``, ...) to a run; returns the merged dict."""
        with self._connect() as db:
            row = db.execute("SELECT metrics FROM runs WHERE run_id = ?", (run_id,)).fetchone()
            if row is None:
                raise NotFound(f"no run with id {run_id!r}")
            merged = {**json.loads(row["metrics"]), **values}
            db.execute("UPDATE runs SET metrics = ?, updated_at = ? WHERE run_id = ?",
                       (json.dumps(merged), time.time(), run_id))
        return merged

    def delete(self, run_id: str) -> None:
        """Remove a run's record, metrics and checkpoints."""
        import shutil

        with self._connect() as db:
            db.execute("DELETE FROM metrics WHERE run_id = ?", (run_id,))
            db.execute("DELETE FROM runs WHERE run_id = ?", (run_id,))
        shutil.rmtree(self.run_dir(run_id), ignore_errors=True)

    def import_run(self, other: RunStore, run_id: str) -> RunRecord:
        """Copy run ``run_id`` from store ``other`` into this one, replacing any copy here.

        The folder first, copied beside its place and renamed into it (``owner.json`` left out:
        no process trains a run while it is copied), then the record and every logged point in
        one transaction, as they were (``updated_at`` included, so two copies can be told equal).
        The cluster's submitting process brings a node's runs into the main store with it, so
        each store has one writer (:mod:`genzoo.registry.cluster`).
        """
        import shutil

        from .process import LOCK_FILE, OWNER_FILE

        with other._connect() as db:
            row = db.execute("SELECT * FROM runs WHERE run_id = ?", (run_id,)).fetchone()
            if row is None:
                raise NotFound(f"no run with id {run_id!r} in {other.home}")
            points = [tuple(p) for p in db.execute(
                "SELECT run_id, step, name, value, wall_time FROM metrics WHERE run_id = ? "
                "ORDER BY rowid", (run_id,)).fetchall()]
        row = dict(row)
        source, target = other.run_dir(run_id), self.run_dir(run_id)
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = target.parent / f".{run_id}.importing-{uuid.uuid4().hex[:6]}"
        if source.is_dir():
            shutil.copytree(source, staging, ignore=shutil.ignore_patterns(OWNER_FILE, LOCK_FILE))
        else:
            staging.mkdir()
        replaced = None
        if target.exists():
            replaced = target.parent / f".{run_id}.replaced-{uuid.uuid4().hex[:6]}"
            target.rename(replaced)
        staging.rename(target)
        if replaced is not None:
            shutil.rmtree(replaced, ignore_errors=True)
        with self.transaction() as db:
            db.execute("DELETE FROM metrics WHERE run_id = ?", (run_id,))
            db.execute("DELETE FROM runs WHERE run_id = ?", (run_id,))
            db.execute(f"INSERT INTO runs ({', '.join(row)}) VALUES "
                       f"({', '.join('?' for _ in row)})", list(row.values()))
            db.executemany("INSERT INTO metrics VALUES (?, ?, ?, ?, ?)", points)
        return self.get(run_id)

    # -- logged curves -----------------------------------------------------------------------

    def log_metrics(self, run_id: str, step: int, values: dict[str, float]) -> None:
        """Append one point per named value (training loss parts, throughput, ...).

        Points already logged at ``step`` or later are dropped first: a curve is one timeline,
        and a process that resumed from an earlier step (one killed before its first checkpoint
        leaves no step to truncate to) writes over what the lost steps had logged.
        """
        now = time.time()
        with self._connect() as db:
            db.execute("DELETE FROM metrics WHERE run_id = ? AND step >= ?", (run_id, step))
            db.executemany("INSERT INTO metrics VALUES (?, ?, ?, ?, ?)",
                           [(run_id, step, name, float(v), now) for name, v in values.items()])

    def truncate_metrics(self, run_id: str, after_step: int) -> None:
        """Drop points logged after ``after_step`` (a resumed run repeats those steps)."""
        with self._connect() as db:
            db.execute("DELETE FROM metrics WHERE run_id = ? AND step > ?", (run_id, after_step))

    def curves(self, run_id: str) -> list[dict]:
        """Every logged point of a run: ``[{step, name, value, wall_time}]`` in step order."""
        with self._connect() as db:
            rows = db.execute("SELECT step, name, value, wall_time FROM metrics WHERE run_id = ? "
                              "ORDER BY step, name", (run_id,)).fetchall()
        return [dict(row) for row in rows]

    # -- files -------------------------------------------------------------------------------

    def run_dir(self, run_id: str) -> Path:
        """The folder that holds a run's checkpoints; never a link (a resume would write, and
        prune, in a folder outside the store)."""
        path = self.home / "runs" / run_id
        if path.is_symlink():
            raise StoreError(f"run folder {path} is a link to {os.readlink(path)}; genzoo never "
                             "follows a run's folder out of the store: put the folder itself "
                             "there")
        return path


def _record(row: sqlite3.Row, store_path: Path | str = "runs.sqlite") -> RunRecord:
    values = {key: value for key, value in dict(row).items()
              if key in RunRecord.__dataclass_fields__}  # a newer genzoo's columns are left
    for key in _JSON_COLUMNS:
        try:
            values[key] = json.loads(values[key])
        except (TypeError, ValueError, RecursionError):
            raise StoreError(f"run {values.get('run_id')!r} has a damaged {key} column in the "
                             f"runs store {store_path} (not JSON): restore the store from a "
                             "backup, or move it aside (genzoo starts a new one; the run "
                             "folders keep their checkpoints)") from None
    values["metrics"] = _named_as_measured(values["metrics"], values["config"])
    return RunRecord(**values)


LEGACY_CONDITIONAL_NOTE = ("stored before genzoo kept p(x) and p(x | y) apart: its test number "
                           "is p(x | y); `genzoo eval RUN_ID` computes and stores its p(x)")


def _named_as_measured(metrics: dict, config: dict) -> dict:
    """A class-conditional run stored before p(x) and p(x | y) were kept apart holds log
    p(x | y) under ``test_bits_per_dim``: read it under its true name, with a note, so no page
    ever compares it with p(x)."""
    if (config.get("conditional") and metrics.get("test_bits_per_dim") is not None
            and "test_bits_per_dim_given_label" not in metrics):
        metrics = dict(metrics)
        metrics["test_bits_per_dim_given_label"] = metrics.pop("test_bits_per_dim")
        metrics["conditional_note"] = LEGACY_CONDITIONAL_NOTE
    return metrics
