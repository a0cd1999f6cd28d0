"""What is the same for every visitor is built once: the Overview's tables and the Likelihood
page's figures are shared by every session while the store stays the same, and built again when
a run changes (docs/benchmarks.md, "Load"). Also the Samples page's layout with many models."""

from __future__ import annotations

import shutil

import pytest
import streamlit as st

from genzoo.registry.store import RunStore


@pytest.fixture
def own_store(demo_home, tmp_path, monkeypatch):
    """A copy of the demo store (a test changes a run), as ``GENZOO_HOME``, with every shared
    table and figure dropped."""
    home = tmp_path / "shared"
    shutil.copytree(demo_home, home)
    monkeypatch.setenv("GENZOO_HOME", str(home))
    st.cache_data.clear()
    st.cache_resource.clear()
    yield home
    st.cache_data.clear()
    st.cache_resource.clear()


def counting(monkeypatch, module, name) -> list:
    """Replace ``module.name`` by a wrapper that records each call; returns the record."""
    calls, real = [], getattr(module, name)

    def wrapper(*args, **kwargs):
        calls.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, wrapper)
    return calls


def test_likelihood_figures_are_built_once_for_every_session(app, own_store, monkeypatch):
    from genzoo.dashboard import data, likelihood_data

    bars = counting(monkeypatch, likelihood_data, "likelihood_figure")
    curves = counting(monkeypatch, data, "loss_figure")
    parts = counting(monkeypatch, data, "loss_parts_figure")
    first, second = app("likelihood"), app("likelihood")  # two visitors
    assert not first.exception and not second.exception
    assert (len(bars), len(curves), len(parts)) == (1, 1, 1)
    assert first.get("plotly_chart")[0].proto.spec == second.get("plotly_chart")[0].proto.spec

    # a run's numbers change (a tighter bound computed later): the bars are built again
    store = RunStore(own_store)
    vae = store.list_runs(model="vae", dataset="digits")[0]
    store.merge_metrics(vae.run_id, {"test_bits_per_dim": 0.5})
    st.cache_data.clear()  # the list of runs is re-read (it is every few seconds)
    third = app("likelihood")
    assert not third.exception
    assert len(bars) == 2 and len(curves) == 2  # the vae's curve is among the defaults
    vae_bar = next(t for t in third.get("plotly_chart")[0].proto.spec.split('"name"')
                   if "elbo likelihood" in t)
    assert "0.5" in vae_bar


def test_overview_tables_are_built_once_for_every_session(app, own_store, monkeypatch):
    from genzoo.dashboard import overview_data

    claims = counting(monkeypatch, overview_data, "claims_frame")
    first = app("overview")
    built = len(claims)
    assert built >= 1
    second = app("overview")
    assert not first.exception and not second.exception
    assert len(claims) == built  # the second visitor drew the first one's tables


def test_samples_page_wraps_many_models_into_rows(app, own_store):
    at = app("samples")
    assert not at.exception
    models = at.multiselect[0].value
    assert len(models) + 1 > 5  # more grids than one row holds
    rows = [block for block in at.main.children.values()
            if getattr(block, "type", None) == "flex_container"][1:]  # after the controls' row
    assert rows and all(len(row.children) == 5 for row in rows)  # grids of one size
    filled = [sum(bool(column.children) for column in row.children.values()) for row in rows]
    assert sum(filled) == len(models) + 1 and len(rows) == -(-(len(models) + 1) // 5), filled
    assert len(at.image) == len(models) + 1  # every model and the real images still drawn


def test_cached_by_run_keeps_one_cache_per_function_and_recomputes_a_changed_run(monkeypatch):
    """data.cached_by_run (issue 20, part 2): two decorated functions never share a cache,
    and a run whose update time changed is computed again."""
    from types import SimpleNamespace

    from genzoo.dashboard import data

    calls = []
    monkeypatch.setattr(data, "run_at",
                        lambda home, run_id, updated_at: SimpleNamespace(run=(run_id, updated_at)))

    @data.cached_by_run(show_spinner=False)
    def first(loaded, n):
        calls.append("first")
        return ("first", loaded.run, n)

    @data.cached_by_run(show_spinner=False)
    def second(loaded, n):
        calls.append("second")
        return ("second", loaded.run, n)

    record = SimpleNamespace(run_id="cache-test-run", updated_at=1.0)
    assert first(record, 3) == ("first", ("cache-test-run", 1.0), 3)
    assert second(record, 3) == ("second", ("cache-test-run", 1.0), 3)
    assert first(record, 3) == ("first", ("cache-test-run", 1.0), 3)  # cached
    assert calls == ["first", "second"]
    record.updated_at = 2.0  # the run trained on
    assert first(record, 3)[1] == ("cache-test-run", 2.0) and calls[-1] == "first"
    first.clear()
    second.clear()
