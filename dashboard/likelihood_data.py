"""The Likelihood page's tables and figures, built once per state of the store and shared by
every session.

Building a plotly figure (validating each trace and layout property) was most of the page's
time with a class on it; a figure depends only on the run records and the runs' logged curves,
so it is built once for everyone and only drawn per visitor (docs/benchmarks.md, "Load").
The figures are shared objects: nothing may change them after they are built.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from genzoo.dashboard import data
from genzoo.dashboard.tables import SharedTable
from genzoo.registry.plugins import Registry
from genzoo.registry.store import RunRecord


@dataclass(frozen=True)
class LikelihoodTables:
    """One dataset's likelihoods: a row per number (``runs``), a row per model and bound
    (``summary``, means over seeds) and their bar chart (``None`` when nothing reports one)."""

    runs: SharedTable
    summary: pd.DataFrame
    figure: go.Figure | None
    baselines: dict[str, float]
    missing_baselines: list[str]
    no_likelihood: dict[str, str]


@dataclass(frozen=True)
class Curves:
    """Training-loss curves of chosen runs: their figure (``None`` when none logged a step) and
    the runs that logged none (fitted in closed form, or deleted since the list was read)."""

    figure: go.Figure | None
    empty: list[str]


def likelihood_tables(reg: Registry, records: list[RunRecord], dataset_name: str
                      ) -> LikelihoodTables:
    """The tables and bar chart of ``dataset_name``, shared while ``records`` stay the same."""
    return _likelihood_tables(data.store_home(), tuple(sorted(reg.models)), dataset_name,
                              data.records_state(records), reg, records)


@st.cache_resource(show_spinner=False, max_entries=16)
def _likelihood_tables(home: str, models: tuple[str, ...], dataset_name: str, state: tuple,
                       _reg: Registry, _records: list[RunRecord]) -> LikelihoodTables:
    runs = likelihood_frame(_reg, _records, dataset_name)
    summary = likelihood_summary(runs)
    baselines = baseline_bits(_reg, summary) if not summary.empty else {}
    figure = (likelihood_figure(summary, dataset_name, baselines)
              if not summary.empty else None)
    missing = [name for name, spec in _reg.models.items()
               if spec.baseline and spec.data == "image" and name not in baselines]
    return LikelihoodTables(SharedTable(runs), summary, figure, baselines, missing,
                            no_likelihood_models(_reg, _records, dataset_name))


def loss_curves(run_ids: list[str], records: list[RunRecord], unit: str = "nats/dim") -> Curves:
    """The training-loss figure of ``run_ids``, shared while those runs' records stay the same."""
    updated = {r.run_id: r.updated_at for r in records}
    state = tuple((run_id, updated.get(run_id)) for run_id in run_ids)
    return _loss_curves(data.store_home(), state, unit)


@st.cache_resource(show_spinner=False, max_entries=64)
def _loss_curves(home: str, state: tuple, unit: str) -> Curves:
    curves = {run_id: data.loss_curve(run_id) for run_id, _ in state}
    drawn = {run_id: frame for run_id, frame in curves.items() if not frame.empty}
    return Curves(data.loss_figure(drawn, unit) if drawn else None,
                  [run_id for run_id, frame in curves.items() if frame.empty])


def loss_parts_figure(run_id: str, records: list[RunRecord]) -> go.Figure | None:
    """One panel per logged term of ``run_id``'s loss (``None`` when it logged none), shared
    while its record stays the same."""
    updated = next((r.updated_at for r in records if r.run_id == run_id), None)
    return _loss_parts_figure(data.store_home(), run_id, updated)


@st.cache_resource(show_spinner=False, max_entries=64)
def _loss_parts_figure(home: str, run_id: str, updated_at) -> go.Figure | None:
    parts = data.loss_parts(run_id)
    return None if parts.empty else data.loss_parts_figure(parts, run_id)


FLOOR_MODEL = "independent"


FLOOR_LABEL = "independent pixels (floor)"


# p(x | y) of a class-conditional model: given the label, so not a number about p(x)
GIVEN_LABEL_BOUND = "exact, given the label (p(x | y), not p(x))"


GIVEN_LABEL_NOTE = ("A class-conditional model (`--set conditional=true`) has two numbers, two "
                    "bars: its p(x), the mean of p(x | y) over the classes it samples from, "
                    "comparable with every other bar; and p(x | y) given the true label, which "
                    "is told part of the answer and is lower than any p(x) for that reason.")


BOUND_PATTERNS = {"exact": "", "elbo": "/", "none": ".",  # anything else (iwae-K, ...): "x"
                  GIVEN_LABEL_BOUND: "+"}


IWAE_PREFIX = "test_bits_per_dim_iwae_"  # + K: stored by `genzoo eval RUN --iwae K`


def is_conditional_run(record: RunRecord) -> bool:
    """Whether a run trained a class-conditional model (``--set conditional=true``)."""
    return bool((record.config or {}).get("conditional"))


def likelihood_scores(record: RunRecord) -> list[tuple[str, str, str, float]]:
    """A run's held-out numbers as ``(label, bound, quantity, bits/dim)``; quantity is
    ``p(x)`` or ``p(x | y)``.

    A class-conditional run is labelled apart from the model's unconditional runs; its p(x)
    (the marginal over the classes) and its p(x | y) (given the true label) are two rows with
    two labels, so they never share a bar or a mean. A conditional run stored before genzoo
    kept the two apart has only p(x | y) (the store reads it under its true name).
    """
    metrics = record.metrics or {}
    if is_conditional_run(record):
        label = f"{record.model} (conditional)"
        rows = []
        if metrics.get("test_bits_per_dim") is not None:
            rows.append((label, metrics.get("bound", "exact"), "p(x)",
                         float(metrics["test_bits_per_dim"])))
        if metrics.get("test_bits_per_dim_given_label") is not None:
            rows.append((f"{label}: p(x | y)", GIVEN_LABEL_BOUND, "p(x | y)",
                         float(metrics["test_bits_per_dim_given_label"])))
        return rows
    if metrics.get("test_bits_per_dim") is None:
        return []
    rows = [(record.model, metrics.get("bound", "exact"), "p(x)",
             float(metrics["test_bits_per_dim"]))]
    # tighter bounds computed later (`genzoo eval RUN --iwae K`) are rows of their own
    rows += [(record.model, f"iwae-{key.rsplit('_', 1)[1]}", "p(x)", float(value))
             for key, value in metrics.items() if key.startswith(IWAE_PREFIX) and value is not None]
    return rows


def likelihood_frame(reg: Registry, records: list[RunRecord], dataset_name: str) -> pd.DataFrame:
    """Every completed run on ``dataset_name`` with a test bits/dim, newest first (a row per
    number: :func:`likelihood_scores`)."""
    rows = []
    for r in records:
        if r.status != "completed" or r.dataset != dataset_name:
            continue
        metrics = r.metrics or {}
        for label, bound, quantity, value in likelihood_scores(r):
            # the validation number of the same quantity (none for a later IWAE bound, which
            # is computed on the test split alone)
            val = metrics.get("val_bits_per_dim_given_label" if quantity == "p(x | y)"
                              else "val_bits_per_dim")
            rows.append({"run id": r.run_id, "model": label, "bound": bound,
                         "quantity": quantity, "bits/dim": value,
                         "validation bits/dim": None if bound.startswith("iwae") else val,
                         "seed": r.seed,
                         "steps": r.step, "train seconds": round(r.train_seconds, 2),
                         "parameters": metrics.get("parameters")})
    return pd.DataFrame(rows, columns=["run id", "model", "bound", "quantity", "bits/dim",
                                       "validation bits/dim", "seed", "steps", "train seconds",
                                       "parameters"])


def no_likelihood_models(reg: Registry, records: list[RunRecord],
                         dataset_name: str) -> dict[str, str]:
    """Models with a completed run on the dataset that report no likelihood, and why: an
    implicit model defines none; a model may declare its bound unavailable (a VQ-VAE before
    its prior is trained)."""
    reasons = {}
    for r in records:
        if (r.status != "completed" or r.dataset != dataset_name or r.model not in reg.models
                or (r.metrics or {}).get("test_bits_per_dim") is not None):
            continue
        spec = reg.models[r.model]
        if spec.density == "estimate":  # an estimated normalizer: kept apart from the bars
            metrics = r.metrics or {}
            value, spread = (metrics.get("test_bits_per_dim_estimate"),
                             metrics.get("test_bits_per_dim_estimate_std"))
            number = (f": {value:.4f} ± {spread or 0:.4f} bits/dim over AIS runs"
                      if value is not None else "")
            reasons.setdefault(r.model, f"{r.model} reports an estimate, not a likelihood or a "
                                        "bound: log Z comes from annealed importance sampling, "
                                        f"optimistic on average{number}.")
            continue
        if spec.density == "implicit":
            reasons.setdefault(r.model, f"{r.model} is an implicit model: it defines no "
                                        "likelihood to report.")
            continue
        staged = [name for name, s in reg.models.items()  # the stage that gives the bound
                  if s.parent == r.model and s.density != "implicit"]
        how = (f" Train the second stage: `genzoo train {staged[0]} --parent "
               f"{shlex.quote(r.run_id)}`." if staged else "")
        reasons.setdefault(r.model, f"{r.model} has no likelihood bound on its own.{how}")
    return dict(sorted(reasons.items()))


def likelihood_summary(frame: pd.DataFrame) -> pd.DataFrame:
    """Per model: the newest run of each seed, then mean and std of bits/dim over the seeds."""
    columns = ["model", "bound", "bits/dim", "std", "seeds", "runs"]
    if frame.empty:
        return pd.DataFrame(columns=columns)
    newest = frame.drop_duplicates(["model", "bound", "seed"], keep="first")  # newest first
    rows = []
    for (model, _), group in newest.groupby(["model", "bound"], sort=False):
        values = group["bits/dim"].to_numpy()
        rows.append({"model": model, "bound": group["bound"].iloc[0],
                     "bits/dim": float(values.mean()),
                     "std": float(values.std(ddof=1)) if len(values) > 1 else None,
                     "seeds": len(values), "runs": ", ".join(group["run id"])})
    return pd.DataFrame(rows, columns=columns).sort_values("bits/dim").reset_index(drop=True)


def baseline_bits(reg: Registry, summary: pd.DataFrame) -> dict[str, float]:
    """The baselines' bits/dim (models registered with ``baseline=True``) with a run here."""
    return {model: float(bits) for model, bits in zip(summary["model"], summary["bits/dim"])
            if model in reg.models and reg.models[model].baseline}


def baseline_label(model: str) -> str:
    return FLOOR_LABEL if model == FLOOR_MODEL else f"{model} (baseline)"


def likelihood_figure(summary: pd.DataFrame, dataset_name: str,
                      baselines: dict[str, float] | None = None) -> go.Figure:
    """Bars of test bits/dim per model, one legend entry and bar pattern per kind of bound,
    error bars over seeds; each baseline (``{model: bits/dim}``) a dashed line instead."""
    baselines = baselines or {}
    bars = summary[~summary["model"].isin(list(baselines))]
    fig = go.Figure()
    for bound, group in bars.groupby("bound", sort=False):
        has_std = group["std"].notna().any()
        fig.add_bar(
            x=group["model"], y=group["bits/dim"], name=f"{bound} likelihood", showlegend=True,
            marker_pattern_shape=BOUND_PATTERNS.get(str(bound), "x"),
            error_y=dict(type="data", array=group["std"].fillna(0).to_numpy(),
                         visible=bool(has_std)),
            customdata=np.stack([group["bound"], group["seeds"],
                                 group["std"].fillna(0.0), group["runs"]], axis=1),
            hovertemplate=("<b>%{x}</b><br>%{y:.4f} bits/dim ± %{customdata[2]:.4f}"
                           "<br>bound: %{customdata[0]}<br>seeds: %{customdata[1]}"
                           "<br>runs: %{customdata[3]}<extra></extra>"),
            text=[f"{v:.3f}" for v in group["bits/dim"]], textposition="inside",
            insidetextanchor="end")
    for i, (model, bits) in enumerate(sorted(baselines.items(), key=lambda kv: -kv[1])):
        label = f"{baseline_label(model)}: {bits:.3f}"
        dash = ("dash", "dot", "dashdot", "longdash")[i % 4]
        fig.add_scatter(x=[None], y=[None], mode="lines", name=label,  # its legend entry
                        line=dict(dash=dash, color="grey"))
        fig.add_hline(y=bits, line_dash=dash, line_color="grey", annotation_text=label,
                      annotation_position="top right" if i % 2 == 0 else "bottom right",
                      annotation_bgcolor="rgba(255,255,255,0.85)")
    top = float((summary["bits/dim"] + summary["std"].fillna(0)).max()) if len(summary) else 1.0
    fig.update_layout(
        title=f"Test bits/dim on {dataset_name} (lower is better)", barmode="group",
        xaxis_title="model", yaxis_title="test negative log-likelihood (bits/dim)",
        yaxis_range=[0, top * 1.15], legend_title_text="kind of number", height=420,
        margin=dict(t=60, b=40))
    return fig
