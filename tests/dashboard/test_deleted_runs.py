"""Runs deleted while a page shows them (from the CLI, or by another user): every page answers
with a message, never a traceback, both while its cached list still names the runs and after."""

from __future__ import annotations

import shutil

import pytest
import streamlit as st

from genzoo.registry.store import RunStore

PAGES = ["overview", "samples", "completion", "latent", "likelihood", "quality", "density2d",
         "timeseries", "lecture", "speed", "train"]


@pytest.fixture
def doomed_store(demo_home, tmp_path, monkeypatch):
    """A copy of the demo store (its runs are about to be deleted), as ``GENZOO_HOME``."""
    home = tmp_path / "doomed"
    shutil.copytree(demo_home, home)
    monkeypatch.setenv("GENZOO_HOME", str(home))
    return home


@pytest.mark.parametrize("page", PAGES)
def test_a_page_whose_runs_are_deleted_under_it_says_so(app, doomed_store, page, monkeypatch):
    from genzoo.dashboard import data

    at = app(page)
    assert not at.exception, at.exception
    store = RunStore(doomed_store)
    before = store.list_runs()
    for record in before:
        store.delete(record.run_id)
    assert store.list_runs() == []

    # While the page's list of runs still names them (it is re-read every few seconds), every
    # run it draws must be loaded again (caches dropped, as after a server restart) and fails.
    with monkeypatch.context() as stale:
        stale.setattr(data, "_runs", lambda home, status: [
            r for r in before if status is None or r.status == status])
        st.cache_data.clear()
        st.cache_resource.clear()
        at.run()
        assert not at.exception, at.exception
        if page in ("samples", "completion", "latent", "timeseries"):
            shown = " ".join(str(e.value) for e in at.error)
            assert any(r.run_id in shown for r in before), shown

    # Once the list is read again, the page is the empty store's page.
    st.cache_data.clear()
    at.run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    shown = " ".join(str(e.value) for e in [*at.info, *at.markdown, *at.warning])
    assert "No " in shown or "no " in shown
