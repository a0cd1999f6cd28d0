"""A comparison: models × datasets × seeds, every run on one budget, as one stored job.

:class:`ComparisonSpec` says what is compared; :func:`submit` stores it under a name and queues
a training job (and, for image runs on labelled data, a sample-quality job; for a restoration
model, a restoration-table job) for every run that is not completed yet. Run ids follow from
the name (``NAME-MODEL-DATASET-sSEED``), so submitting the same spec again queues only what is
missing, and a run that was interrupted is resumed from its checkpoint by the worker that takes
its job. :func:`results` is the table the comparison exists
for: per model and dataset, the mean ± std over seeds of the held-out number (bits/dim, its bound
kind marked), the Fréchet distance, sampling ms/image and training examples/s.

The budget is the same for every run of a comparison: that is what makes it fair.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import re
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .errors import BadConfig, NotFound
from .jobs import MEASUREMENTS, OPEN, Job, JobQueue
from .model import GenerativeModel
from .plugins import Registry
from .requests import TrainRequest, check_budget, check_request
from .runs import dataset_kind, dataset_label
from .store import RunRecord, RunStore

ESTIMATE = "test_bits_per_dim_estimate"  # a model with an estimated normalizer (AIS)
COMPARISONS_FOLDER = "comparisons"  # under the store's home: NAME.csv and NAME.json
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


@dataclass(frozen=True)
class ComparisonSpec:
    """What a comparison trains: every model on every dataset with every seed, on one budget.

    ``settings`` holds ``--set`` text per model (``{"ar": {"p": "9"}}``); a model's settings
    apply on every dataset. ``quality``: measure what a run's training does not (score the
    samples of image runs on labelled data, a restoration model's restorations).
    """

    models: tuple[str, ...]
    datasets: tuple[str, ...]
    seeds: tuple[int, ...] = (0,)
    steps: int | None = None
    seconds: float | None = None
    settings: dict = field(default_factory=dict)
    device: str = "auto"
    quality: bool = True

    def to_json(self) -> dict:
        """The spec as it is stored (lists, sorted settings)."""
        values = asdict(self)
        values.update(models=list(self.models), datasets=list(self.datasets),
                      seeds=list(self.seeds))
        return values

    @classmethod
    def from_json(cls, values: dict) -> ComparisonSpec:
        """A stored spec."""
        return cls(**{**values, "models": tuple(values["models"]),
                      "datasets": tuple(values["datasets"]), "seeds": tuple(values["seeds"])})

    def digest(self) -> str:
        """Eight hex digits that name the spec (the default comparison name uses them)."""
        text = json.dumps(self.to_json(), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:8]

    def budget(self) -> str:
        """``120 s`` or ``500 steps``: the one budget every run gets."""
        return f"{self.seconds:g} s" if self.seconds is not None else f"{self.steps} steps"


@dataclass
class Cell:
    """One run of a comparison: a model on a dataset with a seed, and the run id it has."""

    model: str
    dataset: str
    seed: int
    run_id: str
    parent_model: str | None = None


# -- parsing what the command line gives ------------------------------------------------------


def parse_list(text: str | None, what: str) -> list[str]:
    """``"a,b, c"`` as ``["a", "b", "c"]``; an empty item is an error naming ``what``."""
    if text is None:
        return []
    items = [item.strip() for item in str(text).split(",")]
    if not items or any(not item for item in items):
        raise BadConfig(f"--{what} {text!r}: give a comma list without empty items, like a,b")
    return list(dict.fromkeys(items))  # in order, each once


def parse_seeds(text: str | None) -> list[int]:
    """``"0,1,2"`` (or a range ``"0-4"``) as seeds; anything else is a one-line error."""
    seeds = []
    for item in parse_list(text if text is not None else "0", "seeds"):
        low, dash, high = item.partition("-")
        try:
            if dash and low:
                first, last = int(low), int(high)
                if last < first or last - first >= 1000:
                    raise ValueError
                seeds += list(range(first, last + 1))
            else:
                seeds.append(int(item))
        except ValueError:
            raise BadConfig(f"--seeds {text!r}: give seeds as a comma list of whole numbers, "
                            "like 0,1,2 (or a range, 0-4)") from None
    if any(seed < 0 or seed >= 2**63 for seed in seeds):
        raise BadConfig(f"--seeds {text!r}: seeds are whole numbers from 0 to 2**63-1")
    return list(dict.fromkeys(seeds))


def check_name(name: str) -> str:
    """A comparison name: letters, digits, ``. _ -``, at most 64 (it names files and runs)."""
    if not isinstance(name, str) or not _NAME.match(name):
        raise BadConfig(f"--name {name!r}: use letters, digits and . _ - (at most 64, starting "
                        "with a letter or digit)")
    return name


def applicable_models(registry: Registry, dataset: str) -> list[str]:
    """Every registered model that trains on ``dataset``'s kind of data and can model it (an
    RBM only binary images: :meth:`GenerativeModel.data_problem`), in name order."""
    kind = dataset_kind(registry, dataset)
    names = sorted(name for name, spec in registry.models.items() if spec.data == kind)
    return [name for name in names if not data_problem(registry, name, dataset)]


def data_problem(registry: Registry, model: str, dataset: str) -> str | None:
    """Why ``model`` cannot model ``dataset`` (its class's own words), or None; the dataset is
    loaded only for a model that has such a rule."""
    model_class = registry.models[model].model_class
    if model_class.data_problem is GenerativeModel.data_problem:
        return None
    from .runs import load_dataset

    return model_class.data_problem(load_dataset(registry, dataset).info)


def plan(registry: Registry, spec: ComparisonSpec, name: str,
         log=lambda line: None) -> list[Cell]:
    """The runs of a comparison, parents before their second stages. Unknown names are refused
    (nothing is queued); a model that does not apply to a dataset is skipped with a line why;
    a second stage whose parent model is not listed gets it added."""
    kinds = {dataset: dataset_kind(registry, dataset) for dataset in spec.datasets}
    for model in spec.models:
        registry.model(model)  # NotFound names it and lists the registered ones
    cells = []
    for dataset in spec.datasets:
        kind = kinds[dataset]
        models = list(spec.models)
        for model in spec.models:
            parent = registry.models[model].parent
            if parent and parent not in models:
                log(f"adding {parent} on {dataset}: {model} trains on a {parent} run")
                models.insert(models.index(model), parent)
        # parents first: a second stage's job is queued behind its parent's
        models.sort(key=lambda m: registry.models[m].parent is not None)
        for model in models:
            model_spec = registry.models[model]
            if model_spec.data != kind:
                log(f"skipping {model} on {dataset}: {model} models {model_spec.data} data, "
                    f"{dataset} is {'an' if kind[0] in 'aeiou' else 'a'} {kind} dataset")
                continue
            problem = data_problem(registry, model, dataset)
            if problem:
                log(f"skipping {model} on {dataset}: {problem}")
                continue
            for seed in spec.seeds:
                cells.append(Cell(model, dataset, seed, run_id_of(name, model, dataset, seed),
                                  model_spec.parent))
    if not cells:
        raise BadConfig("no model in the comparison applies to its datasets: nothing to train")
    return cells


def run_id_of(name: str, model: str, dataset: str, seed: int) -> str:
    """The run id of one cell: ``NAME-MODEL-DATASET-sSEED``, made a valid run id."""
    if "/" in dataset:  # a user's files: their name, and a hash of the path to tell apart two
        digest = hashlib.sha1(dataset.encode()).hexdigest()[:6]  # folders of the same name
        dataset = f"{Path(dataset).name}-{digest}"
    text = re.sub(r"[^A-Za-z0-9._+-]", "_", f"{name}-{model}-{dataset}-s{seed}")
    if len(text) > 128:
        text = text[:119] + "-" + hashlib.sha256(text.encode()).hexdigest()[:8]
    return text


# -- storing and queueing -----------------------------------------------------------------------


def store_spec(store: RunStore, name: str, spec: ComparisonSpec) -> None:
    """Record the comparison; the same name with another spec is refused, naming both."""
    text = json.dumps(spec.to_json(), sort_keys=True)
    with store.transaction() as db:
        row = db.execute("SELECT spec FROM comparisons WHERE name = ?", (name,)).fetchone()
        if row is None:
            db.execute("INSERT INTO comparisons VALUES (?, ?, ?)", (name, text, time.time()))
        elif json.loads(row["spec"]) != json.loads(text):
            raise BadConfig(f"a comparison named {name!r} exists with another spec (models, "
                            "datasets, seeds or budget differ); give another --name, or leave "
                            "--name out for one named after the spec")


def get_spec(store: RunStore, name: str) -> ComparisonSpec:
    """The stored spec of comparison ``name``."""
    with store._connect() as db:
        row = db.execute("SELECT spec FROM comparisons WHERE name = ?", (name,)).fetchone()
    if row is None:
        raise NotFound(f"no comparison named {name!r} in {store.home} (see `genzoo compare "
                       "--list`)")
    return ComparisonSpec.from_json(json.loads(row["spec"]))


def list_comparisons(store: RunStore) -> list[str]:
    """Stored comparison names, newest first."""
    with store._connect() as db:
        rows = db.execute("SELECT name FROM comparisons ORDER BY created_at DESC").fetchall()
    return [row["name"] for row in rows]


def submit(registry: Registry, store: RunStore, spec: ComparisonSpec, name: str | None = None,
           *, owner: str = "cli", log=lambda line: None) -> tuple[str, list[Job]]:
    """Store the comparison and queue every run it still lacks; ``(name, jobs queued)``.

    Every request is checked before the first is queued, so a bad setting queues nothing.
    """
    check_budget(spec.steps, spec.seconds)
    if spec.steps is None and spec.seconds is None:
        raise BadConfig("give the comparison one budget: --seconds S or --steps N")
    name = check_name(name) if name else f"compare-{spec.digest()}"
    cells = plan(registry, spec, name, log)
    queue = JobQueue(store)
    requests = {cell.run_id: _request(spec, cell, name) for cell in cells}
    scorable = functools.cache(lambda dataset: _scorable(registry, dataset))
    for cell in cells:  # what will be queued; what is done or queued already was checked then
        record = _record(store, cell.run_id)
        if (record is not None and record.status in ("completed", "failed")) or \
                _open_job(queue, cell.run_id, "train") is not None:
            continue
        request = requests[cell.run_id]
        queued_parent = cell.parent_model is not None and not _completed(store, request.parent)
        check_request(registry, store, request,
                      parent_queued_on=cell.dataset if queued_parent else None)
    store_spec(store, name, spec)
    queued, train_jobs = [], {}
    for cell in cells:
        record = _record(store, cell.run_id)
        if record is not None and record.status == "failed":
            log(f"{cell.run_id} failed before ({record.error}); not trained again")
            continue
        open_job = _open_job(queue, cell.run_id, "train")
        if record is not None and record.status == "completed":
            job = None
        elif open_job is not None:
            job = open_job
        else:
            request = requests[cell.run_id]
            parent_job = train_jobs.get(request.parent) if request.parent else None
            job = queue.submit(request, owner=owner, run_id=cell.run_id, comparison=name,
                               after=parent_job.job_id if parent_job else None)
            queued.append(job)
        if job is not None:
            train_jobs[cell.run_id] = job
        for kind, (_, metric) in MEASUREMENTS.items():
            if record is not None and metric in record.metrics:
                continue  # measured (asked first: whether a kind applies may load the data)
            if _measures(registry, spec, kind, cell, cells, scorable) and \
                    _open_job(queue, cell.run_id, kind) is None:
                queued.append(queue.submit(requests[cell.run_id], owner=owner,
                                           run_id=cell.run_id, kind=kind, comparison=name,
                                           after=job.job_id if job else None))
    return name, queued


def _measures(registry: Registry, spec: ComparisonSpec, kind: str, cell: Cell,
              cells: list[Cell], scorable) -> bool:
    """Whether a cell's run gets the measurement job ``kind`` after its training: sample
    quality (see :func:`_scores_quality`), and a restoration model's restoration table."""
    from .restoration import RestorationModel

    if not spec.quality:
        return False
    if kind == "quality":
        return _scores_quality(cell, cells, scorable)
    return kind == "restore" and issubclass(registry.model(cell.model).model_class,
                                            RestorationModel)


def _request(spec: ComparisonSpec, cell: Cell, name: str) -> TrainRequest:
    """The training request of one cell; a second stage learns from its parent's cell."""
    parent = (run_id_of(name, cell.parent_model, cell.dataset, cell.seed)
              if cell.parent_model else None)
    return TrainRequest(model=cell.model, dataset=None if parent else cell.dataset,
                        steps=spec.steps, seconds=spec.seconds, device=spec.device,
                        seed=cell.seed, config=dict(spec.settings.get(cell.model, {})),
                        parent=parent, tags=[f"compare:{name}"])


def _record(store: RunStore, run_id: str | None) -> RunRecord | None:
    if run_id is None:
        return None
    try:
        return store.get(run_id)
    except NotFound:
        return None


def _completed(store: RunStore, run_id: str | None) -> bool:
    record = _record(store, run_id)
    return record is not None and record.status == "completed"


def _open_job(queue: JobQueue, run_id: str, kind: str) -> Job | None:
    return next((j for j in queue.list(run_id=run_id, statuses=OPEN) if j.kind == kind), None)


def _scorable(registry: Registry, dataset: str) -> bool:
    """Whether sample quality applies to a dataset: labelled images (a reference classifier is
    trained on the labels), not 2-d points (drawn on the 2-d densities page instead)."""
    from .runs import load_dataset

    spec = registry.dataset(dataset)
    if spec.kind != "image" or spec.points:
        return False  # known without loading it
    data = load_dataset(registry, dataset)
    return (data.kind == "image" and getattr(data, "train_labels", None) is not None
            and not data.points)


def _scores_quality(cell: Cell, cells: list[Cell], scorable) -> bool:
    """Sample quality applies to image runs on labelled data (``scorable(dataset)``), except a
    first stage whose samples its second stage draws (a VQ-VAE: its prior's samples are the
    ones to score)."""
    return not any(other.parent_model == cell.model and other.dataset == cell.dataset
                   for other in cells) and scorable(cell.dataset)


# -- progress and results ---------------------------------------------------------------------


@dataclass
class Progress:
    """Where a comparison stands: jobs done, running and queued, and what trains now."""

    name: str
    done: int
    running: int
    queued: int
    failed: int
    cancelled: int
    training: list[str]
    seconds_left: float | None

    @property
    def total(self) -> int:
        """Every job of the comparison."""
        return self.done + self.running + self.queued + self.failed + self.cancelled

    @property
    def finished(self) -> bool:
        """Nothing queued or running."""
        return self.running == 0 and self.queued == 0

    def line(self) -> str:
        """``demo: 7/15 done, 2 running, 6 queued (about 90 s left)`` for a terminal."""
        text = f"{self.name}: {self.done}/{self.total} done, {self.running} running, " \
               f"{self.queued} queued"
        if self.failed or self.cancelled:
            text += f", {self.failed} failed, {self.cancelled} cancelled"
        if self.seconds_left:
            text += f" (about {self.seconds_left:.0f} s of training left)"
        return text


def progress(store: RunStore, name: str, workers: int = 1) -> Progress:
    """How far comparison ``name`` is; ``seconds_left`` from the seconds budgets of what is
    still to train, shared over ``workers`` (None for step budgets)."""
    jobs = JobQueue(store).list(comparison=name)
    by = {status: [j for j in jobs if j.status == status]
          for status in ("completed", "running", "queued", "failed", "cancelled")}
    training = [f"{j.request.model} on {j.request.dataset or j.request.parent}"
                for j in by["running"] if j.request and j.kind == "train"]
    left = None
    seconds = [j.request.seconds for j in by["queued"] + by["running"]
               if j.kind == "train" and j.request and j.request.seconds]
    if seconds:
        left = 0.0
        for job in by["running"]:
            if job.kind == "train" and job.request and job.request.seconds:
                left += max(0.0, job.request.seconds - _trained(store, job.run_id))
        left += sum(j.request.seconds for j in by["queued"] if j.kind == "train"
                    and j.request and j.request.seconds)
        left /= max(1, workers)
    return Progress(name, len(by["completed"]), len(by["running"]), len(by["queued"]),
                    len(by["failed"]), len(by["cancelled"]), training, left)


def _trained(store: RunStore, run_id: str) -> float:
    record = _record(store, run_id)
    return record.train_seconds if record else 0.0


def results(registry: Registry, store: RunStore, name: str) -> list[dict]:
    """The comparison's table: one row per model and dataset, mean ± std over the seeds whose
    runs completed, with how many of the planned seeds that is."""
    spec = get_spec(store, name)
    rows = []
    cells = plan(registry, spec, name)
    groups: dict[tuple[str, str], list[Cell]] = {}
    for cell in cells:
        groups.setdefault((cell.model, cell.dataset), []).append(cell)
    for (model, dataset), group in groups.items():
        records = [r for r in (_record(store, c.run_id) for c in group) if r is not None]
        done = [r for r in records if r.status == "completed"]
        metrics = [r.metrics for r in done]
        unit = "nats/obs" if any("test_nats_per_obs" in m for m in metrics) else "bits/dim"
        key = "test_nats_per_obs" if unit == "nats/obs" else "test_bits_per_dim"
        if metrics and all(m.get(key) is None and m.get(ESTIMATE) is not None for m in metrics):
            key = ESTIMATE  # an RBM's: its bound column reads "ais", an estimate
        test = _mean_std([m.get(key) for m in metrics])
        bounds = sorted({m.get("bound") for m in metrics if m.get(key) is not None} - {None})
        row = {"model": model, "dataset": dataset, "seeds_done": len(done),
               "seeds": len(group), "status": _status(group, records),
               "test_mean": test[0], "test_std": test[1], "unit": unit,
               "bound": "/".join(bounds) or None}
        frechet = _mean_std([m.get("quality_frechet_distance") for m in metrics])
        row.update(frechet_mean=frechet[0], frechet_std=frechet[1],
                   sample_ms_per_image=_mean_std([m.get("sample_ms_per_image_b64")
                                                  for m in metrics])[0],
                   train_examples_per_s=_mean_std([m.get("train_examples_per_s")
                                                   for m in metrics])[0],
                   runs=" ".join(c.run_id for c in group))
        rows.append(row)
    return rows


def wait_for(store: RunStore, names: str | list[str], workers: int,
             show: bool | str = True) -> None:
    """Run a worker pool here until the comparisons are done (or follow the pool that already
    serves the store), with a progress bar of jobs done, running and queued: on a terminal
    (``show=True``), also in a notebook (``"always"``), or none (``False``)."""
    from tqdm.auto import tqdm

    from .errors import GenzooError
    from .pool import PoolBusy, WorkerPool, pool_running

    quiet = not show
    names = [names] if isinstance(names, str) else list(names)

    def states():
        return [progress(store, name, workers) for name in names]

    def finished() -> bool:
        return all(state.finished for state in states())

    bar = tqdm(total=sum(s.total for s in states()), desc=", ".join(names), unit="job",
               disable=True if quiet else (False if show == "always" else None),
               leave=True)

    def tick(_pool=None) -> bool:
        now = states()
        running, queued = sum(s.running for s in now), sum(s.queued for s in now)
        failed = sum(s.failed for s in now)
        left = sum(s.seconds_left or 0 for s in now)
        bar.total = sum(s.total for s in now)
        bar.n = bar.total - running - queued
        bar.set_postfix_str(f"{running} running, {queued} queued"
                            + (f", {failed} failed" if failed else "")
                            + (f", ~{left:.0f} s left" if left else ""), refresh=False)
        bar.refresh()
        return running == 0 and queued == 0

    try:
        while not tick():
            if pool_running(store):
                time.sleep(1.0)  # another pool (a dashboard's) trains them: follow
                continue
            try:
                WorkerPool(store, workers, log=(lambda line: None) if quiet else bar.write).run(
                    until=finished, on_tick=tick)
            except PoolBusy:
                continue
    except KeyboardInterrupt:
        bar.close()
        raise GenzooError(f"interrupted; every unfinished run of {', '.join(names)} keeps its "
                          "checkpoint and its job is back in line: the same command continues "
                          "it") from None
    finally:
        bar.close()


def _status(group: list[Cell], records: list[RunRecord]) -> str:
    statuses = [r.status for r in records]
    if len(records) == len(group) and all(s == "completed" for s in statuses):
        return "completed"
    counted = {s: statuses.count(s) for s in dict.fromkeys(statuses)}
    missing = len(group) - len(records)
    parts = [f"{n} {s}" for s, n in counted.items()] + ([f"{missing} queued"] if missing else [])
    return ", ".join(parts)


def _mean_std(values: list) -> tuple[float | None, float | None]:
    """Mean and sample standard deviation of the finite values (std None below two)."""
    finite = [float(v) for v in values if isinstance(v, (int, float)) and math.isfinite(v)]
    if not finite:
        return None, None
    mean = sum(finite) / len(finite)
    if len(finite) < 2:
        return mean, None
    return mean, math.sqrt(sum((v - mean) ** 2 for v in finite) / (len(finite) - 1))


def format_cell(mean: float | None, std: float | None, digits: int = 3) -> str:
    """``0.812 ± 0.004``; ``—`` where nothing was measured."""
    if mean is None:
        return "—"
    return f"{mean:.{digits}f}" + (f" ± {std:.{digits}f}" if std is not None else "")


def table_rows(rows: list[dict]) -> list[dict]:
    """The result rows as printed: numbers formatted, the bound kind next to the number."""
    out = []
    for row in rows:
        test = format_cell(row["test_mean"], row["test_std"])
        if row["test_mean"] is not None:
            test += f" {row['unit']}" + (f" ({row['bound']})" if row["bound"] else "")
        out.append({"model": row["model"], "dataset": dataset_label(row["dataset"]),
                    "seeds": f"{row['seeds_done']}/{row['seeds']}", "test": test,
                    "frechet": format_cell(row["frechet_mean"], row["frechet_std"], 2),
                    "sample ms/img": format_cell(row["sample_ms_per_image"], None, 2),
                    "train ex/s": format_cell(row["train_examples_per_s"], None, 0),
                    "status": row["status"]})
    return out


def write_results(store: RunStore, name: str, rows: list[dict],
                  folder: Path | None = None) -> tuple[Path, Path]:
    """Write the table as ``NAME.csv`` and ``NAME.json`` (default: the store's
    ``comparisons/`` folder); returns both paths."""
    import pandas as pd

    from .checkpoints import atomic_write_bytes
    from .outputs import output_folder, spreadsheet_safe

    folder = output_folder(folder) if folder else output_folder(store.home / COMPARISONS_FOLDER,
                                                                  "the store's comparisons")
    csv_path, json_path = folder / f"{name}.csv", folder / f"{name}.json"
    table = spreadsheet_safe(pd.DataFrame(rows))
    atomic_write_bytes(csv_path, table.to_csv(index=False).encode())
    record = {"name": name, "spec": get_spec(store, name).to_json(), "rows": rows}
    atomic_write_bytes(json_path, json.dumps(record, indent=1, allow_nan=False,
                                             default=str).encode())
    return csv_path, json_path
