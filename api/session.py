"""Runs as Python objects: train, load, list and compare them (``genzoo.train`` and the rest).

Every function works on the runs store the command line and the dashboard use, and does what
the command of the same name does: ``train`` is ``genzoo train``, ``compare`` is ``genzoo
compare``, ``runs`` is ``genzoo runs``. A :class:`Run` holds a stored run: its record and numbers
at once, its model (rebuilt from the newest checkpoint) on first use.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import torch

from genzoo.registry import compare as cmp
from genzoo.registry.errors import BadConfig, BadData, GenzooError
from genzoo.registry.plugins import Registry, get_registry
from genzoo.registry.runs import absolute_dataset, dataset_label, load_run
from genzoo.registry.store import RunRecord, RunStore, default_home

_REGISTRY: Registry | None = None


def _registry() -> Registry:
    """The plugin registry, loaded once per process (loading imports every plugin)."""
    global _REGISTRY
    if _REGISTRY is None:
        _REGISTRY = get_registry()
    return _REGISTRY


def _store() -> RunStore:
    return RunStore()  # $GENZOO_HOME as it is now: home() may have changed it


def home(path: str | os.PathLike | None = None) -> Path:
    """The runs store's folder; with ``path``, use that folder from now on in this process
    (and in the trainers it starts), as ``GENZOO_HOME=path`` would."""
    if path is not None:
        os.environ["GENZOO_HOME"] = str(Path(path).expanduser().resolve())
    return default_home()


def train(model: str, dataset: str = "digits", *, steps: int | None = None,
          seconds: float | None = None, seed: int = 0, device: str = "auto",
          parent: str | None = None, run_id: str | None = None, tags: list[str] | None = None,
          data_options: dict | None = None, progress: bool = True, **config) -> Run:
    """Train ``model`` on ``dataset`` to a budget (``steps`` or ``seconds``; 500 steps when
    neither), evaluate it on the test split and return the :class:`Run`.

    ``dataset`` is a registered name, a CSV file or a folder/file of your own images
    (docs/datasets.md). Keyword arguments are the model's config fields (``hidden=32``), as
    ``--set`` gives them; ``data_options`` are the dataset's (``{"levels": 2}``). ``parent`` is
    the run a second stage builds on (a VQ-VAE under its prior). A progress bar shows in a
    notebook and on a terminal (``progress=False``: none). Stop it with the interrupt button:
    the run keeps its checkpoint, and ``genzoo resume RUN_ID`` continues it.
    """
    from genzoo.registry.training import LoopSettings, start_run

    record = start_run(_registry(), _store(), model, dataset, overrides=dict(config),
                       dataset_options=dict(data_options or {}), steps=steps, seconds=seconds,
                       device=device, seed=seed, parent=parent, run_id=run_id, tags=tags,
                       settings=LoopSettings(progress="always" if progress else False))
    return Run(record.run_id)


def load(run_id: str) -> Run:
    """The stored run ``run_id`` (:class:`NotFound` names it when there is none)."""
    _store().get(run_id)  # fails here, not on first use
    return Run(run_id)


RUN_COLUMNS = ["run_id", "model", "dataset", "status", "test", "unit", "bound", "steps",
               "train_seconds", "seed", "created", "tags", "error"]


def runs(*, model: str | None = None, dataset: str | None = None,
         status: str | None = None) -> pd.DataFrame:
    """Every run in the store, newest first, as a DataFrame (one row per run: its held-out
    number in its unit and bound, budget spent, seed, when it was made), optionally filtered."""
    rows = [_run_row(r) for r in _store().list_runs(model=model, status=status)
            if dataset is None or dataset in (r.dataset, dataset_label(r.dataset))]
    return pd.DataFrame(rows, columns=RUN_COLUMNS)


def _run_row(record: RunRecord) -> dict:
    value, unit = held_out_number(record)
    return {"run_id": record.run_id, "model": record.model,
            "dataset": dataset_label(record.dataset), "status": record.status, "test": value,
            "unit": unit, "bound": (record.metrics or {}).get("bound"), "steps": record.step,
            "train_seconds": record.train_seconds, "seed": record.seed,
            "created": pd.Timestamp(record.created_at, unit="s"),
            "tags": ", ".join(record.tags), "error": record.error}


def held_out_number(record: RunRecord) -> tuple[float | None, str | None]:
    """A run's test number and its unit: bits/dim for images, nats/obs for series, and an
    RBM's AIS estimate labelled as one."""
    metrics = record.metrics or {}
    for key, unit in (("test_bits_per_dim", "bits/dim"), ("test_nats_per_obs", "nats/obs"),
                      ("test_bits_per_dim_estimate", "bits/dim (AIS estimate)")):
        if metrics.get(key) is not None:
            return float(metrics[key]), unit
    return None, None


def compare(models: list[str] | str, datasets: list[str] | str = "digits", *,
            seeds: list[int] | int = 0, steps: int | None = None, seconds: float | None = None,
            settings: dict[str, dict] | None = None, name: str | None = None,
            workers: int | None = None, quality: bool = True, device: str = "auto",
            progress: bool = True) -> Comparison:
    """Train every model on every dataset with every seed on one budget, as ``genzoo compare``
    does (a worker pool of trainer processes; only what is missing trains again), and return
    the :class:`Comparison` with its table.

    ``settings`` holds each model's config fields: ``{"pixelcnn": {"hidden": 32}}``.
    """
    from genzoo.registry.pool import check_workers

    if steps is None and seconds is None:
        raise BadConfig("give every run of the comparison the same budget: seconds=S or steps=N")
    models = [models] if isinstance(models, str) else list(models)
    datasets = [datasets] if isinstance(datasets, str) else list(datasets)
    seeds = [seeds] if isinstance(seeds, int) else list(seeds)
    text_settings = {model: {key: str(value) for key, value in values.items()}
                     for model, values in (settings or {}).items()}
    for model in text_settings:
        if model not in models:
            raise BadConfig(f"settings for {model!r}, which is not among the compared models")
    registry, store = _registry(), _store()
    datasets = [absolute_dataset(registry, dataset) for dataset in datasets]
    spec = cmp.ComparisonSpec(models=tuple(models), datasets=tuple(datasets), seeds=tuple(seeds),
                              steps=steps, seconds=seconds, settings=text_settings,
                              device=device, quality=quality)
    workers = check_workers(workers)
    name, _ = cmp.submit(registry, store, spec, name)
    cmp.wait_for(store, name, workers, show="always" if progress else False)
    cmp.write_results(store, name, cmp.results(registry, store, name))  # as the command does
    return Comparison(name)


class Comparison:
    """A stored comparison: its table and its runs."""

    def __init__(self, name: str):
        self.name = name

    @property
    def table(self) -> pd.DataFrame:
        """Per model and dataset: mean and std over seeds of the test number (with its unit and
        bound kind), Fréchet distance, sampling ms/image, training examples/s, status, runs."""
        return pd.DataFrame(cmp.results(_registry(), _store(), self.name))

    @property
    def runs(self) -> list[Run]:
        """The comparison's completed runs, in table order."""
        store = _store()
        ids = [run_id for row in self.table.itertuples() for run_id in row.runs.split()]
        return [Run(run_id) for run_id in ids if _completed(store, run_id)]

    def __repr__(self) -> str:
        return f"<Comparison {self.name}: {len(self.table)} rows>"


def _completed(store: RunStore, run_id: str) -> bool:
    try:
        return store.get(run_id).status == "completed"
    except GenzooError:
        return False


class Run:
    """A stored run: ``record``, ``metrics`` and ``curves()`` read the store; ``model`` and
    ``data`` are rebuilt from the newest checkpoint on first use, and ``sample``,
    ``log_prob`` and ``bits_per_dim`` use them."""

    def __init__(self, run_id: str):
        self.id = run_id
        self._loaded = None

    @property
    def record(self):
        """The run's record as it is in the store now."""
        return _store().get(self.id)

    @property
    def metrics(self) -> dict:
        """Every number the run carries (test and validation bits/dim, speed, ...)."""
        return dict(self.record.metrics or {})

    @property
    def loaded(self):
        """The run rebuilt: model (eval mode), spec, dataset, checkpoint step, warnings."""
        if self._loaded is None or self._loaded.record.updated_at != self.record.updated_at:
            self._loaded = load_run(self.id, _store(), _registry())
        return self._loaded

    @property
    def model(self) -> torch.nn.Module:
        """The trained model, a ``GenerativeModel``: sample, log_prob, and its own methods."""
        return self.loaded.model

    @property
    def data(self):
        """The run's dataset: ``ImageData`` or ``SeriesData`` with train, val and test splits."""
        return self.loaded.data

    @property
    def warnings(self) -> list[str]:
        """What loading it found: data changed since it trained, a damaged newer checkpoint."""
        return [*self.loaded.notes, *self.loaded.warnings]

    def curves(self, wide: bool = False) -> pd.DataFrame:
        """Every logged training point: columns step, name, value, wall_time; ``wide=True``
        gives one column per logged name, indexed by step."""
        frame = pd.DataFrame(_store().curves(self.id),
                             columns=["step", "name", "value", "wall_time"])
        return frame.pivot_table(index="step", columns="name", values="value") if wide else frame

    def sample(self, n: int = 16, seed: int = 0, *, steps: int | None = None, eta: float = 0.0,
               temperature: float | None = None, label: int | None = None) -> torch.Tensor:
        """``n`` samples in data space and dtype (integer images ``(n, C, H, W)``), the same for
        the same seed; ``steps``/``eta`` for a diffusion model's DDIM, ``temperature`` for a
        flow, ``label`` for a class-conditional model."""
        from genzoo.registry.outputs import check_samples
        from genzoo.registry.samplers import sampler

        loaded = self.loaded
        draw = sampler(loaded.model, steps=steps, eta=eta, temperature=temperature,
                       what=f"run {self.id} ({loaded.spec.name})")
        generator = torch.Generator(device=loaded.model.device).manual_seed(seed)
        context = {} if label is None else {"labels": label}
        with torch.no_grad():
            drawn = draw(n, generator=generator, **context)
        return check_samples(loaded.spec.name, drawn, n, loaded.data.info)

    def log_prob(self, x) -> torch.Tensor:
        """``log p(x)`` in nats per image (a bound for a VAE-like model: see ``metrics['bound']``)
        of integer images ``(N, C, H, W)`` (or one ``(C, H, W)``) of the run's shape and levels."""
        loaded = self.loaded
        if loaded.spec.density == "implicit":
            raise GenzooError(f"{loaded.spec.name} is an implicit model: it defines no "
                              "likelihood")
        images = _as_images(x, loaded.data.info, self.id)
        with torch.no_grad():
            return loaded.model.log_prob(images.to(loaded.model.device)).double().cpu()

    def evaluate(self, split: str = "test", iwae: int | None = None) -> dict:
        """The held-out likelihood on ``split`` (test | val | train) as ``genzoo eval`` computes
        it: bits_per_dim (or nats_per_obs) with the kind of bound it is."""
        from genzoo.registry.evaluation import evaluate

        loaded = self.loaded
        return evaluate(loaded.model, loaded.spec, loaded.data, split, iwae=iwae)

    def bits_per_dim(self, split: str = "test", iwae: int | None = None) -> float:
        """Bits per dimension on ``split`` (an image run; a bound where the model's is one)."""
        result = self.evaluate(split, iwae)
        if result.get("bits_per_dim") is None:
            raise GenzooError(result.get("note") or f"run {self.id} reports no bits/dim (a "
                              "series run reports nats per observation: use evaluate())")
        return float(result["bits_per_dim"])

    def __repr__(self) -> str:
        record = self.record
        value, unit = held_out_number(record)
        score = (f", {value:.4f} {unit} ({record.metrics.get('bound', 'exact')})"
                 if value is not None else "")
        return (f"<Run {self.id}: {record.model} on {dataset_label(record.dataset)}, "
                f"{record.status}{score}>")


def _as_images(x, info, run_id: str) -> torch.Tensor:
    """``x`` as an int64 batch of the run's image shape and levels, or a one-line error."""
    if info.kind != "image":
        raise BadData(f"run {run_id} models a series; log_prob here takes images")
    images = torch.as_tensor(x)
    if images.dim() == len(info.shape):
        images = images[None]
    if tuple(images.shape[1:]) != tuple(info.shape):
        raise BadData(f"run {run_id} models images of shape {tuple(info.shape)} (C, H, W); got "
                      f"a batch of shape {tuple(images.shape)}")
    if images.is_floating_point() and not torch.equal(images, images.round()):
        raise BadData(f"run {run_id} models integer pixel levels 0..{info.levels - 1}; got "
                      "fractional values")
    images = images.long()
    if len(images) and (int(images.min()) < 0 or int(images.max()) >= info.levels):
        raise BadData(f"run {run_id} models pixel levels 0..{info.levels - 1}; got values "
                      f"{int(images.min())}..{int(images.max())}")
    return images
