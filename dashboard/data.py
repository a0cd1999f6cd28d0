"""The dashboard's core: what every page shares. The registry, the runs store and its run
lists, the cached run loader (:func:`run_at`, :func:`loaded_run`) and :func:`cached_by_run` for
a page's computation over one run, units and formatting, and the training curves that the
Likelihood and Train pages both draw. Each page's own tables and figures are in its
``<page>_data.py``; its drawing in ``views/<page>.py``; the formulas in ``formulas.py``.

Nothing here trains. Pages only read the runs store (``$GENZOO_HOME``); a model is rebuilt from
its checkpoint to sample or forecast, and the closed-form AR fit of an uploaded CSV is the one
"fit" the dashboard does (it is a least-squares solve, instant).

Caching: ``st.cache_resource`` for the registry, the store and loaded models (shared, not
copied); ``st.cache_data`` for samples, forecasts and run lists (copied, keyed by their inputs).
Everything cached is keyed by the store's home folder, so two stores never mix.
"""

from __future__ import annotations

import functools
import math
import os

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from genzoo.registry.errors import GenzooError
from genzoo.registry.outputs import spreadsheet_safe
from genzoo.registry.plugins import Registry, get_registry
from genzoo.registry.runs import (
    data_changed,
    dataset_label,
    is_csv_path,
    is_image_path,
    load_dataset,
    load_run,
)
from genzoo.registry.store import RunRecord, RunStore, default_home

DEMO_COMMAND = "genzoo demo"
LEVELS = (0.8, 0.95)

# Units of the loss terms models log (a term not listed is drawn without a unit).
PART_UNITS = {"loss": "nats/dim", "bits_per_dim": "bits/dim", "recon": "nats/image",
              "recon_bits_per_dim": "bits/dim", "kl": "nats/image", "codebook": "squared distance",
              "commitment": "squared distance", "prior_bits_per_code": "bits/code",
              "d_loss": "nats", "g_loss": "nats", "d_real": "D(x)", "d_fake": "D(G(z))",
              "kl_weight": "weight of KL (0 to β)", "perplexity": "codes (perplexity)",
              "usage": "share of codes used", "nll": "nats/value"}
TIME_COLUMNS = ("year", "time", "t", "date", "month", "day")  # an uploaded CSV's x axis
NOT_LOSS_PARTS = ("examples_per_s",)  # logged each step, but not a term of the loss


# -- where things are ---------------------------------------------------------------------------


def store_home() -> str:
    """The runs store the dashboard reads: ``$GENZOO_HOME`` or ``~/.genzoo``, read at each run."""
    return str(default_home())


@st.cache_resource(show_spinner=False)
def _registry(plugins_env: str | None) -> Registry:
    return get_registry()


def registry() -> Registry:
    """Every loaded plugin's models and datasets (a broken plugin is recorded, not raised)."""
    return _registry(os.environ.get("GENZOO_PLUGINS"))


@st.cache_resource(show_spinner=False)
def store_at(home: str) -> RunStore:
    """The runs store at ``home``, one per process (a cached resource)."""
    return RunStore(home)


def store() -> RunStore:
    """The runs store at :func:`store_home`."""
    return store_at(store_home())


@st.cache_data(ttl=3, show_spinner=False)
def _runs(home: str, status: str | None) -> list[RunRecord]:
    return store_at(home).list_runs(status=status)


def runs(status: str | None = None) -> list[RunRecord]:
    """Run records, newest first (re-read at most every 3 s, so new runs show up)."""
    return _runs(store_home(), status)


def completed_runs() -> list[RunRecord]:
    return runs("completed")


def records_state(records: list[RunRecord]) -> tuple:
    """What a table or figure shared by every session depends on in ``records`` (a cache key:
    it is built again when a run is added, finishes or changes)."""
    return tuple((r.run_id, r.updated_at, r.status) for r in records)


def deleted_runs(run_ids) -> set[str]:
    """The runs among ``run_ids`` that the store no longer holds: deleted since the cached list
    (:func:`runs`, re-read every 3 s) was read, so an empty curve does not mean "no steps"."""
    from genzoo.registry.errors import NotFound

    gone = set()
    for run_id in run_ids:
        try:
            store().get(run_id)
        except NotFound:
            gone.add(run_id)
    return gone


def deleted_message(run_id: str) -> str:
    """What a page says of a run it still lists but that was deleted from the store."""
    return (f"Run `{run_id}` was deleted from the runs store `{store_home()}` after this page "
            "read its list of runs; it drops out of the page within a few seconds.")


def retrain_hint(record: RunRecord) -> str:
    """The command that trains a run's model on its dataset again (for a run that won't load)."""
    return f"train it again: `genzoo train {record.model} --dataset {record.dataset}`"


def no_runs_message(what: str = "runs") -> str:
    """What a page says when the store has nothing to show."""
    return (f"No {what} yet in the runs store `{store_home()}`. Create the demo runs with "
            f"`{DEMO_COMMAND}` (a few minutes on a CPU), or train one model, for example "
            "`genzoo train pixelcnn --dataset digits --seconds 120`.")


def broken_plugins(reg: Registry) -> list[tuple[str, str]]:
    """``(plugin name, one-line error)`` for every plugin that failed to import or register."""
    return [(name, info.error) for name, info in reg.plugins.items() if info.error]


def latest_by_model(records: list[RunRecord]) -> dict[str, RunRecord]:
    """The newest run of each model (``records`` come newest first from the store)."""
    latest: dict[str, RunRecord] = {}
    for record in records:
        latest.setdefault(record.model, record)
    return latest


def data_kind(reg: Registry, dataset: str) -> str | None:
    """``image`` or ``series`` for a registered dataset; CSV files are series, a user's image
    files images; None if unknown."""
    if dataset in reg.datasets:
        return reg.datasets[dataset].kind
    if is_csv_path(dataset):
        return "series"
    return "image" if is_image_path(reg, dataset) else None


def datasets_with_runs(reg: Registry, records: list[RunRecord], kind: str) -> list[str]:
    """Datasets of ``kind`` that have a completed run of a registered model, registry order."""
    names = {r.dataset for r in records if r.status == "completed" and r.model in reg.models
             and data_kind(reg, r.dataset) == kind}
    order = list(reg.datasets)
    return sorted(names, key=lambda n: (order.index(n) if n in order else len(order), n))


@st.cache_data(show_spinner=False, ttl=30, max_entries=64)
def _data_changed(home: str, run_id: str, updated_at: float, touched: float | None
                  ) -> list[str]:
    try:
        return data_changed(store_at(home).get(run_id))
    except GenzooError as exc:  # the files are gone: say so, as loading the run would
        return [str(exc)]


def _modified(path: str) -> float | None:
    try:
        return os.stat(path).st_mtime
    except OSError:
        return None


def data_changed_notes(records: list[RunRecord], dataset_name: str) -> list[str]:
    """For a user's files: a note per run on ``dataset_name`` whose data changed since it
    trained (their content hash differs now). Hashed again when the path's modification time
    changes (a file), or after 30 seconds (a folder's files can change under the same time)."""
    touched = _modified(dataset_name)
    return [note for r in records if r.dataset == dataset_name and r.dataset_identity
            for note in _data_changed(store_home(), r.run_id, r.updated_at, touched)]


def picture_datasets(reg: Registry, records: list[RunRecord]) -> list[str]:
    """Image datasets with runs, less the 2-d point sets (a 1x2 "image" is no picture: those
    have the 2-d densities page)."""
    return [name for name in datasets_with_runs(reg, records, "image")
            if not is_points(name)]


def default_index(options: list[str], preferred: str) -> int:
    return options.index(preferred) if preferred in options else 0


# -- formatting ---------------------------------------------------------------------------------


def metric_unit(reg: Registry, metric: str) -> str:
    """The unit its MetricSpec declares for a run's number ("" for an unregistered key)."""
    spec = reg.metric(metric)
    return spec.unit if spec else ""


def format_metric(value, unit: str = "") -> str:
    """A measured number with its unit, at a precision that suits it."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "—"
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        text = f"{value:,}"
    elif abs(value) >= 100:
        text = f"{value:,.0f}"
    elif abs(value) >= 1:
        text = f"{value:.3g}" if unit in ("s", "examples/s") else f"{value:.3f}"
    else:
        text = f"{value:.3g}"
    return f"{text} {unit}".strip()


def test_score(record: RunRecord) -> str:
    """A run's held-out likelihood in its unit, or a dash."""
    metrics = record.metrics or {}
    if metrics.get("test_bits_per_dim") is not None:
        return format_metric(metrics["test_bits_per_dim"], "bits/dim")
    if metrics.get("test_bits_per_dim_given_label") is not None:
        return format_metric(metrics["test_bits_per_dim_given_label"], "bits/dim") + " p(x | y)"
    if metrics.get("test_nats_per_obs") is not None:
        return format_metric(metrics["test_nats_per_obs"], "nats/obs")
    if metrics.get("test_bits_per_dim_estimate") is not None:  # an RBM's AIS estimate
        spread = metrics.get("test_bits_per_dim_estimate_std") or 0.0
        return (format_metric(metrics["test_bits_per_dim_estimate"], "bits/dim")
                + f" ± {spread:.3g} (AIS estimate)")
    return "—"


# -- what the registry says of datasets and metrics ------------------------------------------------


def is_points(dataset_name: str) -> bool:
    """Whether a registered dataset is 2-d point data, as its spec declares (``points``):
    answered without loading it."""
    return dataset_name in _points_datasets()


def _points_datasets() -> set[str]:
    """Names of the registered 2-d point datasets."""
    return {name for name, spec in registry().datasets.items() if spec.points}


def higher_is_better(reg: Registry, metric: str) -> bool | None:
    """The direction its MetricSpec declares, or None when it has none (a count, or a key no
    plugin registers)."""
    spec = reg.metric(metric)
    return spec.higher_is_better if spec else None


def runs_frame(records: list[RunRecord]) -> pd.DataFrame:
    """Run id, dataset, status and held-out score of each run, newest first."""
    rows = [{"run id": r.run_id, "model": r.model,
             "dataset": dataset_label(r.dataset),
             "status": r.status, "test score": test_score(r), "steps": r.step,
             "train seconds": round(r.train_seconds, 2), "seed": r.seed,
             "tags": ", ".join(r.tags), "error": r.error or ""} for r in records]
    return pd.DataFrame(rows, columns=["run id", "model", "dataset", "status", "test score",
                                       "steps", "train seconds", "seed", "tags", "error"])


# -- loaded runs and their caches ------------------------------------------------------------------


@st.cache_resource(show_spinner="Loading the checkpoint…", max_entries=32)
def run_at(home: str, run_id: str, updated_at: float):
    """The run ``run_id`` of the store at ``home`` rebuilt from its newest checkpoint, shared
    by every session until the run changes (``updated_at``)."""
    return load_run(run_id, store_at(home), registry())


def loaded_run(record: RunRecord):
    """The run's model rebuilt from its newest checkpoint (eval mode), shared across sessions."""
    return run_at(store_home(), record.run_id, record.updated_at)


def cached_by_run(**cache_options):
    """Cache a page's computation over one run for every session, keyed by the run and its
    update time, so a run trained further or evaluated again is computed afresh.

    Decorates ``fn(loaded, *args)`` (``loaded`` a :class:`~genzoo.registry.runs.LoadedRun`)
    into ``fn(record, *args)``; ``cache_options`` go to ``st.cache_data`` (``show_spinner``,
    ``max_entries``). The extra arguments must be values Streamlit hashes (numbers, strings,
    tuples)."""
    def decorate(fn):
        def cached(home: str, run_id: str, updated_at: float, *args):
            return fn(run_at(home, run_id, updated_at), *args)

        # Streamlit keys a cache by the function's module and name: each decorated function
        # gets its own cache, not one shared by every use of this decorator
        cached.__module__, cached.__qualname__ = fn.__module__, f"{fn.__qualname__}.by_run"
        cached = st.cache_data(**cache_options)(cached)

        @functools.wraps(fn)
        def by_record(record: RunRecord, *args):
            return cached(store_home(), record.run_id, record.updated_at, *args)

        by_record.clear = cached.clear
        return by_record
    return decorate


@st.cache_resource(show_spinner=False, max_entries=16)
def _dataset(name: str, options_key: tuple):
    return load_dataset(registry(), name, dict(options_key))


def dataset(name: str, options: dict | None = None):
    return _dataset(name, tuple(sorted((options or {}).items())))


def first_stages(reg: Registry) -> set[str]:
    """Models another registered model is trained on (a VQ-VAE under its prior): their own
    samples are not the pipeline's, so sample-quality tables score the second stage instead."""
    return {spec.parent for spec in reg.models.values() if spec.parent}


def image_models_with_runs(reg: Registry, records: list[RunRecord], dataset_name: str):
    """The newest completed run of each registered model on ``dataset_name``."""
    done = [r for r in records if r.status == "completed" and r.dataset == dataset_name
            and r.model in reg.models]
    latest = latest_by_model(done)
    return {name: latest[name] for name in reg.models if name in latest}  # registry order


# -- training curves (the Likelihood and Train pages) ----------------------------------------------


def loss_curve(run_id: str) -> pd.DataFrame:
    """The logged training loss of a run: columns ``step``, ``loss``."""
    points = [p for p in store().curves(run_id) if p["name"] == "loss"]
    return pd.DataFrame({"step": [p["step"] for p in points],
                         "loss": [p["value"] for p in points]})


def loss_figure(curves: dict[str, pd.DataFrame], unit: str = "nats/dim") -> go.Figure:
    fig = go.Figure()
    for run_id, frame in curves.items():
        fig.add_scatter(x=frame["step"], y=frame["loss"], mode="lines+markers", name=run_id,
                        hovertemplate=f"step %{{x}}<br>%{{y:.4f}} {unit}<extra>{run_id}</extra>")
    fig.update_layout(title="Training loss", xaxis_title="training step",
                      yaxis_title=f"training loss ({unit})", height=380, margin=dict(t=60, b=40))
    return fig


def loss_parts(run_id: str) -> pd.DataFrame:
    """Every logged term of a run's loss (recon, kl, ...): columns ``step``, ``name``,
    ``value``."""
    points = [p for p in store().curves(run_id) if p["name"] not in NOT_LOSS_PARTS]
    return pd.DataFrame(points, columns=["step", "name", "value"])


def loss_parts_figure(parts: pd.DataFrame, run_id: str) -> go.Figure:
    """One panel per logged term, sharing the step axis: the ELBO's reconstruction and KL
    terms pulling against each other, a VQ-VAE's codebook and commitment losses."""
    from plotly.subplots import make_subplots

    names = list(dict.fromkeys(parts["name"]))
    fig = make_subplots(rows=len(names), cols=1, shared_xaxes=True, subplot_titles=names,
                        vertical_spacing=min(0.08, 0.5 / max(len(names), 1)))
    for row, name in enumerate(names, start=1):
        part = parts[parts["name"] == name]
        fig.add_scatter(x=part["step"], y=part["value"], mode="lines", name=name, row=row,
                        col=1, hovertemplate=f"step %{{x}}<br>{name} %{{y:.4f}}<extra></extra>")
        fig.update_yaxes(title_text=PART_UNITS.get(name, name), row=row, col=1)
    fig.update_xaxes(title_text="training step", row=len(names), col=1)
    fig.update_layout(title=f"Logged loss terms of {run_id}", showlegend=False,
                      height=max(300, 170 * len(names)), margin=dict(t=70, b=40))
    return fig


def csv_bytes(frame: pd.DataFrame, index: bool = False) -> bytes:
    """``frame`` as UTF-8 CSV (without the index unless asked), its text cells made safe for a
    spreadsheet (:func:`~genzoo.registry.outputs.spreadsheet_safe`)."""
    return spreadsheet_safe(frame).to_csv(index=index).encode()


def run_label(record: RunRecord) -> str:
    """How a run reads in a picker: model, dataset, held-out score and id."""
    return (f"{record.model} on {dataset_label(record.dataset)} · {test_score(record)} · "
            f"{record.run_id}")
