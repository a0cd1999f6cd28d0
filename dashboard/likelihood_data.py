"""The Likelihood page's tables and figures, built once per state of the store and shared by
every session.

Building a plotly figure (validating each trace and layout property) was most of the page's
time with a class on it; a figure depends only on the run records and the runs' logged curves,
so it is built once for everyone and only drawn per visitor (docs/benchmarks.md, "Load").
The figures are shared objects: nothing may change them after they are built.
"""

from __future__ import annotations

from dataclasses import dataclass

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
    runs = data.likelihood_frame(_reg, _records, dataset_name)
    summary = data.likelihood_summary(runs)
    baselines = data.baseline_bits(_reg, summary) if not summary.empty else {}
    figure = (data.likelihood_figure(summary, dataset_name, baselines)
              if not summary.empty else None)
    missing = [name for name, spec in _reg.models.items()
               if spec.baseline and spec.data == "image" and name not in baselines]
    return LikelihoodTables(SharedTable(runs), summary, figure, baselines, missing,
                            data.no_likelihood_models(_reg, _records, dataset_name))


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
