"""Training started from the dashboard: each run in its own process, followed through the store.

:func:`launch` checks a request with the model's own config parsing (nothing starts on a bad
value), chooses the run id, and starts ``genzoo train ... --run-id ID --quiet`` as a detached
process in a session of its own, so closing the tab, or the page's next rerun, does not stop
it. Its output goes to ``$GENZOO_HOME/jobs/ID.log``, its pid to ``jobs/ID.json``. The run id is
the link between the process and its run: the page follows the run through the store, and the
trainer's owner file (:mod:`genzoo.registry.process`) says which process trains any run.

:func:`cancel` sends SIGTERM (to the job's process group; to the trainer alone for a run
started elsewhere): the trainer checkpoints and marks the run ``cancelled``. Asked again after
:data:`GRACE_SECONDS`, it sends SIGKILL. A run left ``created`` or ``running`` by a process
that is gone is marked ``interrupted`` (``cancelled`` if a cancel was asked for) when it is
next looked at; ``genzoo resume`` continues it from its last checkpoint.

No Streamlit here: the Train page draws, this module starts, stops and reports processes.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import signal
import socket
import subprocess
import sys
import time
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch

from genzoo.registry.checkpoints import atomic_write_bytes
from genzoo.registry.config import build_config, config_fields, field_choices
from genzoo.registry.errors import BadConfig, GenzooError, NotFound
from genzoo.registry.plugins import Registry
from genzoo.registry.process import pid_alive, process_start, read_owner
from genzoo.registry.runs import check_compatible, load_dataset, split_settings
from genzoo.registry.spec import ModelSpec
from genzoo.registry.store import ACTIVE, RunRecord, RunStore, new_run_id

JOBS = "jobs"  # folder of the runs store that holds job records and logs
GRACE_SECONDS = 15.0  # a second cancel within this time waits; after it, it kills
DEFAULT_STEPS = 500
DEFAULT_SECONDS = 60.0
PARENT_FIELDS = ("parent_run", "parent_config")  # set by the trainer from --parent
PREFERRED_DATASETS = {"image": "digits", "series": "sunspots"}
LIVE = ("starting", "running", "cancelling")  # statuses shown while a process trains

# Popen objects of the processes this server started: polling one reaps it once it exits, so
# finished jobs do not linger as zombies of the dashboard.
_CHILDREN: dict[int, subprocess.Popen] = {}


# -- the form -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class FormField:
    """One input of the training form, read off a config dataclass or a dataset option.

    ``kind`` is ``int``, ``float``, ``bool``, ``choice`` (a fixed list) or ``text``;
    ``optional`` fields may be left empty (``None``: the model picks, e.g. the GAN's ``lr``).
    """

    name: str
    kind: str
    default: Any
    choices: tuple = ()
    optional: bool = False


def _unwrap(hint) -> tuple[Any, bool]:
    """``(type, optional)``: ``float | None`` is ``(float, True)``."""
    origin = typing.get_origin(hint)
    if origin is typing.Union or origin is getattr(__import__("types"), "UnionType", None):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        return (args[0] if len(args) == 1 else hint), True
    return hint, False


def _field(name: str, hint, default, choices: tuple = ()) -> FormField | None:
    kind, optional = _unwrap(hint)
    if typing.get_origin(kind) is typing.Literal:
        choices = choices or typing.get_args(kind)
    if choices:
        return FormField(name, "choice", default, tuple(choices), optional)
    names = {bool: "bool", int: "int", float: "float", str: "text"}
    return FormField(name, names[kind], default, (), optional) if kind in names else None


def form_fields(spec: ModelSpec) -> list[FormField]:
    """The model's config fields as form inputs, in the dataclass's order.

    Fields the command line cannot set (no plain default, or a type other than bool, int,
    float, str) are left out, and so are those the trainer fills in from ``--parent``.
    """
    choices = field_choices(spec.config_class)
    out = []
    for name, (hint, default) in config_fields(spec.config_class).items():
        if default is dataclasses.MISSING or (spec.parent and name in PARENT_FIELDS):
            continue
        made = _field(name, hint, default, choices.get(name, ()))
        if made is not None:
            out.append(made)
    return out


def dataset_fields(registry: Registry, dataset: str | None) -> list[FormField]:
    """The options a dataset declares (``shapes``: ``size``), as form inputs."""
    if dataset not in registry.datasets:
        return []
    defaults = registry.datasets[dataset].option_defaults()
    fields = [_field(name, type(value), value) for name, value in defaults.items()]
    return [f for f in fields if f is not None]


def as_setting(value) -> str:
    """A form value as ``--set`` text: ``true``/``false``, ``none``, a float that round-trips."""
    if value is None:
        return "none"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    return str(value)


def changed_settings(fields: list[FormField], values: dict[str, Any]) -> dict[str, str]:
    """``--set`` pairs for the values that differ from their defaults (the rest stay implicit,
    so a run started from the form stores the same config as one from the command line)."""
    return {f.name: as_setting(values[f.name]) for f in fields
            if f.name in values and values[f.name] != f.default}


def float_step(default: float | None) -> float:
    """A step for a float input that suits its default: 0.001 for ``lr=2e-3``, 0.1 for 0.5."""
    if not default:
        return 0.01
    return 10.0 ** math.floor(math.log10(abs(default)))


def device_choices() -> list[str]:
    """``cpu``, and ``cuda`` where torch sees a GPU."""
    return ["cpu", "cuda"] if torch.cuda.is_available() else ["cpu"]


def compatible_datasets(registry: Registry, spec: ModelSpec) -> list[str]:
    """Registered datasets of the model's kind (image or series), the preferred one first."""
    names = [name for name, d in registry.datasets.items() if d.kind == spec.data]
    preferred = PREFERRED_DATASETS.get(spec.data)
    return sorted(names, key=lambda n: n != preferred)


def parent_runs(store: RunStore, spec: ModelSpec) -> list[RunRecord]:
    """Completed runs a second-stage model can learn from (``vqvae-prior``: ``vqvae`` runs)."""
    return store.list_runs(model=spec.parent, status="completed") if spec.parent else []


def loss_unit(spec: ModelSpec) -> str:
    """The unit of a model's logged training loss."""
    if spec.density == "implicit":
        return "nats"
    return "nats/dim" if spec.data == "image" else "nats/obs"


def form_message(exc: Exception) -> str:
    """An error as the form shows it: the field and what is wrong, without CLI flags."""
    return str(exc).replace("--set ", "")


# -- requests -----------------------------------------------------------------------------------


@dataclass
class TrainRequest:
    """What the form asks for: one ``genzoo train`` command.

    ``config`` and ``dataset_options`` hold ``--set`` text (``{"hidden": "8"}``), parsed by
    the same code as the command line's. Give ``steps`` or ``seconds``.
    """

    model: str
    dataset: str | None
    steps: int | None = None
    seconds: float | None = None
    device: str = "cpu"
    seed: int = 0
    config: dict[str, str] = field(default_factory=dict)
    dataset_options: dict[str, str] = field(default_factory=dict)
    parent: str | None = None

    def argv(self, run_id: str) -> list[str]:
        """The command that trains it, with the Python that runs the dashboard."""
        args = [sys.executable, "-m", "genzoo.registry.cli", "train", self.model]
        args += ["--parent", self.parent] if self.parent else ["--dataset", str(self.dataset)]
        if self.steps is not None:
            args += ["--steps", str(int(self.steps))]
        if self.seconds is not None:
            args += ["--seconds", repr(float(self.seconds))]
        args += ["--device", self.device, "--seed", str(int(self.seed))]
        for key, value in {**self.config, **self.dataset_options}.items():
            args += ["--set", f"{key}={value}"]
        return args + ["--run-id", run_id, "--quiet"]


def check_request(registry: Registry, store: RunStore, request: TrainRequest, *,
                  load: Callable = load_dataset) -> None:
    """Refuse a request the trainer would refuse, with a message that names the field.

    Runs the command line's own checks: budget, device, dataset kind, the parent run, the
    config dataclass (``build_config`` and the model's ``validate``), and the model's own
    complaints about its data, by building it on the ``meta`` device (no memory, no weights).
    ``load(registry, name, options)`` loads the dataset (the page passes a cached loader).
    """
    try:
        _check(registry, store, request, load)
    except GenzooError:
        raise
    except (ValueError, TypeError) as exc:  # a plugin's config that raises its own errors
        raise BadConfig(f"{request.model}: {exc}") from None


def _check(registry: Registry, store: RunStore, request: TrainRequest, load: Callable) -> None:
    spec = registry.model(request.model)
    if (request.steps is None) == (request.seconds is None):
        raise BadConfig("give either a number of steps or a number of seconds")
    if request.steps is not None and not (isinstance(request.steps, int) and request.steps >= 0):
        raise BadConfig(f"steps must be 0 or more, got {request.steps}")
    if request.seconds is not None and not (math.isfinite(request.seconds)
                                            and request.seconds > 0):
        raise BadConfig(f"seconds must be positive, got {request.seconds}")
    if request.device not in device_choices():
        raise BadConfig(f"device {request.device!r} is not available here; choose "
                        f"{' or '.join(device_choices())}")
    overrides = dict(request.config)
    dataset, options = request.dataset, {}
    if spec.parent:
        if not request.parent:
            raise BadConfig(f"{spec.name!r} learns from a trained {spec.parent!r} run: choose "
                            "one (train it first if there is none)")
        parent = store.get(request.parent)
        if parent.model != spec.parent or parent.status != "completed":
            raise BadConfig(f"run {parent.run_id!r} is a {parent.status} {parent.model!r} run; "
                            f"{spec.name!r} needs a completed {spec.parent!r} run")
        dataset, options = parent.dataset, dict(parent.dataset_options)
        overrides.update(parent_run=parent.run_id,
                         parent_config=json.dumps(parent.config, sort_keys=True))
    elif request.parent:
        raise BadConfig(f"{spec.name!r} does not learn from another run")
    if not dataset:
        raise BadConfig(f"choose a dataset to train {spec.name!r} on")
    overrides, data_settings = split_settings(registry, spec, dataset,
                                              {**overrides, **request.dataset_options})
    data = load(registry, dataset, {**options, **data_settings})
    check_compatible(spec, data)
    config = build_config(spec.config_class, overrides)
    try:
        with torch.device("meta"):  # shapes only: a huge config costs nothing here
            spec.model_class(config, data.info)
    except GenzooError:
        raise
    except Exception:  # noqa: BLE001 - a model that cannot be built on meta: the trainer judges
        pass


# -- jobs ---------------------------------------------------------------------------------------


@dataclass
class Job:
    """A training process started from the dashboard, and the run it trains."""

    run_id: str
    pid: int
    host: str
    argv: list[str]
    created_at: float
    model: str
    dataset: str
    started: int | None = None  # the process's start time: a reused pid is not this job

    def to_json(self) -> dict:
        """The job record as ``jobs/ID.json`` holds it."""
        return dataclasses.asdict(self)


def jobs_dir(store: RunStore) -> Path:
    """Where job records and logs live: ``$GENZOO_HOME/jobs``."""
    return store.home / JOBS


def log_path(store: RunStore, run_id: str) -> Path:
    """The output of a job's process (stdout and stderr)."""
    return jobs_dir(store) / f"{run_id}.log"


def read_job(store: RunStore, run_id: str) -> Job | None:
    """The job that trains ``run_id``, if the dashboard started it."""
    try:
        return Job(**json.loads((jobs_dir(store) / f"{run_id}.json").read_text()))
    except (OSError, ValueError, TypeError):
        return None


def list_jobs(store: RunStore) -> list[Job]:
    """Every job started from the dashboard on this store, newest first."""
    folder = jobs_dir(store)
    found = [read_job(store, p.stem) for p in folder.glob("*.json")] if folder.is_dir() else []
    return sorted((j for j in found if j is not None), key=lambda j: j.created_at, reverse=True)


def launch(registry: Registry, store: RunStore, request: TrainRequest, *,
           load: Callable = load_dataset) -> Job:
    """Check ``request`` and start its training process; returns the job at once.

    The process runs in a session of its own (``start_new_session``): it outlives the page and
    the tab, and a cancel can signal its whole process group. Raises a
    :class:`GenzooError` and starts nothing when the request is refused.
    """
    check_request(registry, store, request, load=load)
    name = store.get(request.parent).dataset if request.parent else str(request.dataset)
    run_id = new_run_id(request.model, name)
    jobs_dir(store).mkdir(parents=True, exist_ok=True)
    argv = request.argv(run_id)
    # the store the page reads, whatever GENZOO_HOME the server was started with
    env = {**os.environ, "GENZOO_HOME": str(store.home), "PYTHONUNBUFFERED": "1"}
    with open(log_path(store, run_id), "ab") as log:
        process = _start_process(argv, log, env)
    _CHILDREN[process.pid] = process
    job = Job(run_id=run_id, pid=process.pid, host=socket.gethostname(), argv=argv,
              created_at=time.time(), model=request.model, dataset=name,
              started=process_start(process.pid))
    atomic_write_bytes(jobs_dir(store) / f"{run_id}.json", json.dumps(job.to_json()).encode())
    return job


def _start_process(argv: list[str], log, env: dict) -> subprocess.Popen:
    """Start ``argv`` detached: a session of its own, no stdin, output to ``log``."""
    return subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                            env=env, start_new_session=True, close_fds=True)


def _job_alive(job: Job) -> bool | None:
    """Whether the job's process runs; None when it runs on another host."""
    if job.host != socket.gethostname():
        return None
    alive = pid_alive(job.pid, job.started)
    child = _CHILDREN.get(job.pid)
    if child is not None and not alive:  # a child of this server that exited: reap it
        try:
            child.wait(timeout=1)
            del _CHILDREN[job.pid]
        except subprocess.TimeoutExpired:
            pass
    return alive


def _cancel_marker(store: RunStore, run_id: str) -> Path:
    return jobs_dir(store) / f"{run_id}.cancel"


def cancel_requested(store: RunStore, run_id: str) -> float | None:
    """When a cancel of ``run_id`` was first asked for, or None."""
    try:
        return float(_cancel_marker(store, run_id).read_text())
    except (OSError, ValueError):
        return None


def _process_of(store: RunStore, run_id: str) -> tuple[int | None, int | None, bool, bool | None]:
    """``(pid, start time, is a dashboard job, alive)`` of the process that trains a run."""
    job = read_job(store, run_id)
    if job is not None:
        return job.pid, job.started, True, _job_alive(job)
    owner = read_owner(store.run_dir(run_id))
    if owner is None:
        return None, None, False, None
    return owner.pid, owner.started, False, owner.alive()


def cancel(store: RunStore, run_id: str) -> str:
    """Stop the process that trains ``run_id``; returns what was done, in one line.

    SIGTERM first: the trainer writes a checkpoint and marks the run ``cancelled``. A cancel
    asked again :data:`GRACE_SECONDS` later sends SIGKILL (the run is then marked from here).
    Only the job's own process group is signalled, or, for a run started elsewhere, only the
    trainer's pid from its owner file; never a process by name.
    """
    pid, started, is_job, alive = _process_of(store, run_id)
    if pid is None:
        return f"no training process is known for run {run_id} (not started from here, and " \
               "it has no owner file)"
    if alive is None:
        return f"run {run_id} trains on another machine (process {pid}); cancel it there"
    if not alive:
        return f"run {run_id} is not training any more (process {pid} has ended)"
    asked = cancel_requested(store, run_id)
    force = asked is not None and time.time() - asked >= GRACE_SECONDS
    sig = signal.SIGKILL if force else signal.SIGTERM
    try:
        # a job leads its own session, so its group id is its pid; a run started from a shell
        # shares the shell's group, and only the trainer itself is signalled
        if is_job and os.getpgid(pid) == pid:
            os.killpg(pid, sig)
        else:
            os.kill(pid, sig)
    except ProcessLookupError:
        return f"run {run_id} is not training any more (process {pid} has ended)"
    if asked is None:
        jobs_dir(store).mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(_cancel_marker(store, run_id), repr(time.time()).encode())
    if force:
        return f"killed process {pid} (run {run_id}); it keeps its last checkpoint"
    return (f"asked process {pid} to stop (run {run_id}): it saves a checkpoint and marks the "
            "run cancelled")


def log_tail(store: RunStore, run_id: str, lines: int = 20) -> str:
    """The last lines a job's process printed."""
    try:
        with open(log_path(store, run_id), "rb") as handle:
            handle.seek(0, os.SEEK_END)
            handle.seek(max(0, handle.tell() - 16_384))
            text = handle.read().decode(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.strip().splitlines()[-lines:])


# -- what the page shows ------------------------------------------------------------------------


@dataclass
class Activity:
    """One training the page follows: a job started here, or a run training in the store.

    ``status`` is what the page shows: ``starting``, ``running``, ``cancelling``, or the run's
    final status (``completed``, ``failed``, ``cancelled``, ``interrupted``), or ``deleted``
    for a job whose run was removed from the store after it trained. ``alive`` is
    None where the process cannot be checked (another host, or no process information).
    """

    run_id: str
    status: str
    record: RunRecord | None = None
    job: Job | None = None
    alive: bool | None = None
    note: str = ""
    cancel_asked: float | None = None

    @property
    def model(self) -> str:
        """The model being trained."""
        return self.record.model if self.record else self.job.model

    @property
    def dataset(self) -> str:
        """The dataset it trains on."""
        return self.record.dataset if self.record else self.job.dataset

    @property
    def cancellable(self) -> bool:
        """Whether a Cancel button can stop it: it trains, in a process known and running here
        (a run that just completed may still be exiting: nothing to cancel)."""
        return bool(self.alive) and self.status in LIVE

    @property
    def force_next(self) -> bool:
        """Whether the next cancel kills (the first one was asked for long enough ago)."""
        return (self.cancel_asked is not None
                and time.time() - self.cancel_asked >= GRACE_SECONDS)


def _get(store: RunStore, run_id: str) -> RunRecord | None:
    try:
        return store.get(run_id)
    except NotFound:
        return None


def _settle(store: RunStore, record: RunRecord, alive: bool | None, asked: float | None,
            pid: int | None) -> tuple[str, str, RunRecord]:
    """``(status shown, note, record)``; a run whose process is gone gets an honest status."""
    if record.status not in ACTIVE:
        return record.status, record.error or "", record
    if alive is False:
        status = "cancelled" if asked is not None else "interrupted"
        error = (f"stopped by force at step {record.step} or later" if asked is not None
                 else f"its training process ({pid}) ended without finishing (killed, or the "
                      "machine restarted)")
        # only if still active: the trainer may have written its own last word just now
        store.update(record.run_id, when_status=ACTIVE, status=status,
                     error=f"{error}; resume with `genzoo resume {record.run_id}`")
        record = store.get(record.run_id)
        return record.status, record.error or "", record
    if asked is not None:
        return "cancelling", "saving a checkpoint before it stops", record
    if alive is None:
        return record.status, "no process information: its liveness cannot be checked here", \
            record
    return ("starting" if record.status == "created" else "running"), "", record


def job_activity(store: RunStore, job: Job) -> Activity:
    """How a job started from the dashboard stands now."""
    alive = _job_alive(job)
    asked = cancel_requested(store, job.run_id)
    record = _get(store, job.run_id)
    if record is not None:
        status, note, record = _settle(store, record, alive, asked, job.pid)
    elif alive is not False:
        status = "cancelling" if asked is not None else "starting"
        note = "loading the data and building the model"
    else:
        lines = log_tail(store, job.run_id).splitlines()
        errors = [line for line in lines if line.startswith("error:")]
        if any(line.startswith(f"{job.run_id}: ") for line in lines):
            # the trainer's last word names the run it wrote: the run existed, and is gone
            status = "deleted"
            note = (f"run {job.run_id} was deleted from the runs store after its training "
                    "ended; only its log is left (under Command and output)")
        elif asked is not None:
            status, note = "cancelled", "cancelled before training began"
        else:
            status = "failed"
            note = (errors or lines or ["the process ended before it created the run"])[-1]
    return Activity(job.run_id, status, record, job, alive, note, asked)


def run_activity(store: RunStore, record: RunRecord) -> Activity:
    """How a run that the store says is training stands now, whatever started it."""
    owner = read_owner(store.run_dir(record.run_id))
    alive = owner.alive() if owner is not None else None
    asked = cancel_requested(store, record.run_id)
    status, note, record = _settle(store, record, alive, asked, owner.pid if owner else None)
    return Activity(record.run_id, status, record, None, alive, note, asked)


def activities(store: RunStore, limit: int = 10) -> list[Activity]:
    """What the page lists: runs training now (any source) first, then the newest jobs and
    the runs cancelled from here (so a cancelled run stays in view with its final status)."""
    jobs = list_jobs(store)[:limit]
    out = [job_activity(store, job) for job in jobs]
    listed = {job.run_id for job in jobs}
    records = [r for status in ACTIVE for r in store.list_runs(status=status)]
    folder = jobs_dir(store)
    cancelled = sorted(folder.glob("*.cancel"), key=lambda p: p.stat().st_mtime,
                       reverse=True)[:limit] if folder.is_dir() else []
    records += [r for r in (_get(store, p.stem) for p in cancelled) if r is not None]
    for record in records:
        if record.run_id not in listed:
            listed.add(record.run_id)
            out.append(run_activity(store, record))
    live = [a for a in out if a.status in ("starting", "running", "cancelling")]
    return live + [a for a in out if a not in live]


def progress(record: RunRecord | None, points: list[dict]) -> tuple[float | None, str]:
    """``(fraction done, text)`` from the logged curve, fresher than the record's step (which
    the trainer writes only with each checkpoint)."""
    if record is None:
        return None, "not started yet"
    steps = [p["step"] for p in points]
    step = max([record.step, *steps])
    if record.status == "completed":
        return 1.0, f"{step:,} steps in {record.train_seconds:.1f} s"
    if record.target_seconds:
        seconds = record.train_seconds
        if points and record.status in ACTIVE:  # time trained since the last checkpoint
            seconds += max(0.0, max(p["wall_time"] for p in points) - record.updated_at)
        seconds = min(seconds, record.target_seconds)
        return (seconds / record.target_seconds,
                f"step {step:,}, about {seconds:.0f} of {record.target_seconds:.0f} s")
    if record.target_steps:
        return min(1.0, step / record.target_steps), f"step {step:,} of {record.target_steps:,}"
    return None, f"step {step:,}"

