"""Comparisons and the job queue as the dashboard shows them: the sidebar's progress of the
demo and of every comparison in progress, and the Overview's table of a stored comparison.

The registry computes (:mod:`genzoo.registry.compare`); this module caches and adapts (one
short-lived cache for every session: thirty visitors polling the queue cost one query every few
seconds, not thirty); the pages draw.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import streamlit as st

from genzoo.dashboard import data
from genzoo.registry import compare
from genzoo.registry.jobs import JobQueue

POLL_SECONDS = 3.0  # how often the sidebar looks at the queue while work is pending


@dataclass(frozen=True)
class QueueStatus:
    """What every page's sidebar says: each comparison still training, and how many runs of the
    store are completed (a change makes the page redraw with the new runs)."""

    active: tuple[compare.Progress, ...]
    open_jobs: int
    completed_runs: int


@st.cache_data(ttl=POLL_SECONDS - 0.5, show_spinner=False)
def _status(home: str) -> QueueStatus:
    store = data.store_at(home)
    queue = JobQueue(store)
    open_jobs = queue.list(statuses=("queued", "running"))
    names = sorted({j.comparison for j in open_jobs if j.comparison})
    workers = _workers(store)
    active = tuple(compare.progress(store, name, workers) for name in names)
    with store._connect() as db:
        done = db.execute("SELECT COUNT(*) FROM runs WHERE status = 'completed'").fetchone()[0]
    return QueueStatus(active, len(open_jobs), done)


def _workers(store) -> int:
    from genzoo.registry.pool import pool_info

    info = pool_info(store) or {}
    return int(info.get("workers") or 1)


def status() -> QueueStatus:
    """The queue's state for the sidebar (cached for everyone a few seconds)."""
    return _status(data.store_home())


@st.cache_data(ttl=5, show_spinner=False)
def _names(home: str) -> list[str]:
    return compare.list_comparisons(data.store_at(home))


def comparison_names() -> list[str]:
    """Stored comparisons, newest first."""
    return _names(data.store_home())


@st.cache_data(ttl=5, show_spinner=False)
def _table(home: str, name: str) -> tuple[pd.DataFrame, dict]:
    store = data.store_at(home)
    rows = compare.results(data.registry(), store, name)
    spec = compare.get_spec(store, name)
    return pd.DataFrame(compare.table_rows(rows)), spec.to_json()


def comparison_table(name: str) -> tuple[pd.DataFrame, dict]:
    """``(table, spec)`` of a stored comparison: model × dataset, mean ± std over seeds."""
    return _table(data.store_home(), name)


def describe_spec(spec: dict) -> str:
    """``12 models × 1 dataset × 1 seed, 30 s per run`` for a caption."""
    budget = (f"{spec['seconds']:g} s" if spec.get("seconds") is not None
              else f"{spec['steps']} steps")
    return (f"{len(spec['models'])} models × {len(spec['datasets'])} datasets "
            f"({', '.join(spec['datasets'])}) × {len(spec['seeds'])} seeds, {budget} per run")
