"""The Overview's tables, built once per state of the store and shared by every session.

Each model's claims (with the numbers that test them) and runs depend only on the registry and
the run records, so with a class on the page they are computed and converted to Arrow once,
not once per visitor (docs/benchmarks.md, "Load").
"""

from __future__ import annotations

from dataclasses import dataclass

import plotly.graph_objects as go
import streamlit as st

from genzoo.dashboard import data
from genzoo.dashboard.tables import SharedTable
from genzoo.registry.plugins import Registry
from genzoo.registry.store import RunRecord


@dataclass(frozen=True)
class OverviewTables:
    """The taxonomy of the registered models (a tree and a table), ``claims[model]`` for every
    registered model, ``runs[model]`` for those with runs, and the runs of models no loaded
    plugin provides."""

    taxonomy_figure: go.Figure
    taxonomy: SharedTable
    claims: dict[str, SharedTable]
    runs: dict[str, SharedTable]
    orphans: SharedTable | None


def overview_tables(reg: Registry, records: list[RunRecord]) -> OverviewTables:
    """The tables for ``records`` (newest first), shared while the records stay the same."""
    return _overview_tables(data.store_home(), tuple(sorted(reg.models)),
                            data.records_state(records), reg, records)


@st.cache_resource(show_spinner=False, max_entries=4)
def _overview_tables(home: str, models: tuple[str, ...], state: tuple, _reg: Registry,
                     _records: list[RunRecord]) -> OverviewTables:
    by_model: dict[str, list[RunRecord]] = {}
    for record in _records:
        by_model.setdefault(record.model, []).append(record)
    claims = {name: SharedTable(data.claims_frame(_reg, _reg.model(name), by_model.get(name, []),
                                                  _records)) for name in models}
    runs = {name: SharedTable(data.runs_frame(found)) for name, found in by_model.items()}
    orphans = data.orphan_runs(_reg, _records)
    return OverviewTables(data.taxonomy_figure(_reg), SharedTable(data.taxonomy_frame(_reg)),
                          claims, runs, SharedTable(data.runs_frame(orphans)) if orphans
                          else None)
