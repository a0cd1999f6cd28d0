"""The Train page's logic: the form built from a model's config, and its jobs in the queue.

A request from the page is checked once by the registry's own checks
(:func:`genzoo.registry.requests.check_request`: budget, names, parent run, the config's types,
choices and declared ranges) and queued in the runs store's job queue with this browser session
as its owner (:mod:`genzoo.registry.jobs`); the worker pool (:mod:`genzoo.registry.pool`, started
in the background when none serves the store) trains it in a process of its own, so closing the
tab or restarting the dashboard loses nothing. Nothing trains or builds a model in the
dashboard's own process. A session holds at most a few open jobs, the queue has a cap, a session
cancels only its own jobs, and a read-only dashboard refuses both on the server side
(:mod:`genzoo.dashboard.access`).

No Streamlit here: the Train page draws, this module asks the registry.
"""

from __future__ import annotations

import dataclasses
import math
import typing
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from genzoo.dashboard import access
from genzoo.registry.config import check_budget_range, config_fields, field_choices, field_ranges
from genzoo.registry.errors import NotFound
from genzoo.registry.jobs import OPEN, Job, JobQueue
from genzoo.registry.plugins import Registry
from genzoo.registry.pool import pool_running, start_pool_process
from genzoo.registry.process import as_seen_now
from genzoo.registry.requests import PARENT_FIELDS, TrainRequest, check_request
from genzoo.registry.runs import is_image_path, load_dataset
from genzoo.registry.spec import ModelSpec
from genzoo.registry.store import ACTIVE, RunRecord, RunStore
from genzoo.registry.user_data import UPLOAD_MAX_BYTES, save_upload, uploaded_datasets

__all__ = ["TrainRequest"]  # the request type lives in the registry; re-exported for pages

DEFAULT_STEPS = 500
DEFAULT_SECONDS = 60.0
PREFERRED_DATASETS = {"image": "digits", "series": "sunspots"}
LIVE = ("queued", "starting", "running", "cancelling")  # statuses shown while work is pending


# -- the form -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class FormField:
    """One input of the training form, read off a config dataclass or a dataset option.

    ``kind`` is ``int``, ``float``, ``bool``, ``choice`` (a fixed list) or ``text``;
    ``optional`` fields may be left empty (``None``: the model picks, e.g. the GAN's ``lr``).
    ``low`` and ``high`` are the range the config declares (the input's min and max).
    """

    name: str
    kind: str
    default: Any
    choices: tuple = ()
    optional: bool = False
    low: float | None = None
    high: float | None = None


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
    ranges = field_ranges(spec.config_class)
    out = []
    for name, (hint, default) in config_fields(spec.config_class).items():
        if default is dataclasses.MISSING or (spec.parent and name in PARENT_FIELDS):
            continue
        made = _field(name, hint, default, choices.get(name, ()))
        if made is not None and name in ranges and made.kind in ("int", "float"):
            made = dataclasses.replace(made, low=ranges[name][0], high=ranges[name][1])
        if made is not None:
            out.append(made)
    return out


# A user's image files: channels (auto: as the files are), a side to resize to, levels to
# quantize to; empty means "as the files are" (genzoo.registry.imagefiles)
IMAGE_FILE_FIELDS = [FormField("channels", "choice", "auto", ("auto", "1", "3")),
                     FormField("size", "int", None, optional=True, low=2, high=512),
                     FormField("levels", "int", None, optional=True, low=2, high=256)]


def dataset_fields(registry: Registry, dataset: str | None) -> list[FormField]:
    """The options a dataset declares (``shapes``: ``size``; a user's images: ``channels``,
    ``size``, ``levels``), as form inputs."""
    if dataset is not None and is_image_path(registry, dataset):
        return list(IMAGE_FILE_FIELDS)
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


def compatible_datasets(registry: Registry, spec: ModelSpec,
                        store: RunStore | None = None) -> list[str]:
    """Registered datasets of the model's kind (image or series), the preferred one first; for
    an image model then the user's own image datasets: those uploaded to the store, and those
    earlier runs trained on that are still there."""
    names = [name for name, d in registry.datasets.items() if d.kind == spec.data]
    preferred = PREFERRED_DATASETS.get(spec.data)
    names = sorted(names, key=lambda n: n != preferred)
    if store is None or spec.data != "image":
        return names
    own = set(uploaded_datasets(store.home))
    own |= {r.dataset for r in store.list_runs() if is_image_path(registry, r.dataset)
            and Path(r.dataset).exists()}
    return names + sorted(own, key=lambda path: (Path(path).name, path))


UPLOAD_MAX_MB = UPLOAD_MAX_BYTES // 2**20


def upload_dataset(store: RunStore, filename: str, payload: bytes) -> str:
    """Keep an uploaded ``.npz`` or ``.zip`` of images as a dataset of the store (checked:
    :func:`genzoo.registry.user_data.save_upload`); refused on a read-only dashboard."""
    access.require_writable()
    return save_upload(store.home, filename, payload)


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


# -- jobs ---------------------------------------------------------------------------------------


def submit(registry: Registry, store: RunStore, request: TrainRequest, *, session: str,
           load: Callable = load_dataset) -> Job:
    """Check ``request`` and queue it for ``session``; returns the queued job.

    Refused, with nothing queued, on a read-only dashboard, for a request the trainer would
    refuse, a budget past what a shared server allows, or a full queue (the session's own cap
    or the queue's). Makes sure a worker pool serves the store.
    """
    access.require_writable()
    check_budget_range(request.steps, request.seconds)
    check_request(registry, store, request, load=load)
    job = JobQueue(store).submit(request, owner=session,
                                 max_open_per_owner=access.session_cap(),
                                 max_open=access.queue_cap())
    start_pool_process(store, access.pool_workers())
    return job


def cancel(store: RunStore, job_id: int, *, session: str) -> str:
    """Cancel one of this session's jobs (never a terminal's or another visitor's)."""
    access.require_writable()
    return JobQueue(store).cancel(job_id, owner=session)


def ensure_pool(store: RunStore) -> None:
    """Start a worker pool if jobs wait and none serves the store (one that ended idle, or one
    killed): its recovery takes up the jobs a dead pool left running."""
    if access.read_only() or pool_running(store):
        return
    if JobQueue(store).list(statuses=OPEN, limit=1):
        start_pool_process(store, access.pool_workers())


# -- what the page shows ------------------------------------------------------------------------


@dataclass
class Activity:
    """One training the page follows: a job this session queued, or a run training in the store
    that something else started (a terminal, another visitor: shown, never cancellable here).

    ``status`` is ``queued`` (with ``place`` in line), ``starting``, ``running``,
    ``cancelling``, or how it ended (``completed``, ``failed``, ``cancelled``, ``interrupted``;
    ``deleted`` for a completed job whose run was removed from the store since).
    """

    run_id: str
    status: str
    model: str
    dataset: str
    record: RunRecord | None = None
    job: Job | None = None
    place: int | None = None
    note: str = ""

    @property
    def cancellable(self) -> bool:
        """Whether this session may cancel it: its own job, not yet finished."""
        return self.job is not None and self.job.open and self.status != "cancelling"


def _get(store: RunStore, run_id: str) -> RunRecord | None:
    try:
        return store.get(run_id)
    except NotFound:
        return None


def job_activity(store: RunStore, job: Job, queue: JobQueue | None = None) -> Activity:
    """How one of this session's jobs stands now."""
    queue = queue or JobQueue(store)
    record = _get(store, job.run_id)
    request = job.request
    model = request.model if request else "?"
    dataset = (record.dataset if record else (request.dataset or f"run {request.parent}")
               if request else "?")
    note = job.message or ""
    if job.status == "queued":
        place = queue.position(job)
        status, note = "queued", f"number {place} in line" + (f"; {note}" if note else "")
        return Activity(job.run_id, status, model, dataset, record, job, place, note)
    if job.status == "running":
        if job.cancel_at is not None:
            status, note = "cancelling", "saving a checkpoint before it stops"
        elif record is None or record.status == "created":
            status, note = "starting", "loading the data and building the model"
        else:
            status = "running"
        if not pool_running(store):
            note = "its worker pool stopped: a new one takes the job up again"
        return Activity(job.run_id, status, model, dataset, record, job, None, note)
    status = job.status
    if record is None and job.status == "completed" and job.kind == "train":
        return Activity(job.run_id, "deleted", model, dataset, None, job, None,
                        f"run {job.run_id} was deleted from the runs store after its training "
                        "ended; only its log is left (under Command and output)")
    if record is not None and record.status in ("interrupted", "cancelled") \
            and job.status == "failed":
        status = record.status
    return Activity(job.run_id, status, model, dataset, record, job, None, note or
                    (record.error if record and record.error else ""))


def activities(store: RunStore, session: str, limit: int = 10) -> list[Activity]:
    """What the page lists: this session's jobs (open ones first, then the newest finished),
    then the runs training now that something else started."""
    queue = JobQueue(store)
    mine = queue.list(owner=session, newest_first=True, limit=50)
    mine = [j for j in mine if j.kind == "train"]
    shown = [j for j in mine if j.open] + [j for j in mine if not j.open]
    out = [job_activity(store, job, queue) for job in shown[:limit]]
    listed = {a.run_id for a in out}
    for status in ACTIVE:
        for record in store.list_runs(status=status):
            if record.run_id in listed:
                continue
            seen = as_seen_now(store, record)
            if seen.status != record.status:  # its trainer died without a word: record it
                _record_ending(store, seen)
            owner_job = queue.for_run(record.run_id)
            who = ("queued by another session" if owner_job and owner_job.owner.startswith("web-")
                   else f"queued by {owner_job.owner}" if owner_job
                   else "started from a terminal")
            out.append(Activity(record.run_id, "running" if seen.status in ACTIVE
                                else seen.status, record.model, record.dataset, seen, None,
                                None, f"{who}; only its owner can stop it"
                                if seen.status in ACTIVE else (seen.error or "")))
            listed.add(record.run_id)
    return out


def _record_ending(store: RunStore, seen: RunRecord) -> None:
    """Store the status a reader inferred (``interrupted``), only while the run is still active
    (its trainer may have written its own last word just now); a store this server may not
    write is left as it is: the page shows the inferred status either way."""
    import sqlite3

    try:
        store.update(seen.run_id, when_status=ACTIVE, status=seen.status, error=seen.error)
    except sqlite3.OperationalError:
        pass


def log_tail(store: RunStore, job: Job, lines: int = 20) -> str:
    """The last lines a job's process printed."""
    return JobQueue(store).log_tail(job, lines)


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
