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


SESSION = "web-" + "0" * 32  # the browser session the tests' pages belong to


def started_from_the_train_page(home) -> str:
    """Make a demo run look like a job the Train page queued and saw complete (its log ending
    with the trainer's report); returns the run id."""
    from genzoo.registry.jobs import JobQueue
    from genzoo.registry.requests import TrainRequest

    store = RunStore(home)
    record = store.list_runs(model="pixelcnn", dataset="digits")[0]
    queue = JobQueue(store)
    job = queue.submit(TrainRequest(record.model, record.dataset, steps=record.step),
                       owner=SESSION, run_id=record.run_id)
    queue.claim({"pid": 1})
    queue.finish(job.job_id, "completed")
    queue.log_path(job).parent.mkdir(parents=True, exist_ok=True)
    queue.log_path(job).write_text(
        f"{record.run_id}: completed after {record.step} steps (1.0 s, fp32); test bits/dim "
        "2.0000 (exact)\n")
    return record.run_id


def says_deleted(elements, run_ids) -> bool:
    """Whether one of the elements says that one of the runs was deleted."""
    return any("deleted from the runs store" in str(e.value)
               and any(run_id in str(e.value) for run_id in run_ids) for e in elements)


@pytest.mark.parametrize("page", PAGES)
def test_a_page_whose_runs_are_deleted_under_it_says_so(app, doomed_store, page, monkeypatch):
    from genzoo.dashboard import access, data

    job_run = started_from_the_train_page(doomed_store) if page == "train" else None
    monkeypatch.setattr(access, "session_id", lambda: SESSION)
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
        ids = [r.run_id for r in before]
        if page == "likelihood":  # an empty curve of a deleted run is not a closed-form fit
            assert says_deleted(at.warning, ids), [w.value for w in at.warning]
            assert "fitted in closed form" not in " ".join(str(c.value) for c in at.caption)
        if page == "density2d":
            assert says_deleted(at.error, ids), [e.value for e in at.error]
        if page == "train":  # read from the store itself: it says so at once, and stays so
            assert says_deleted(at.warning, [job_run]), [w.value for w in at.warning]

    # Once the list is read again, the page is the empty store's page.
    st.cache_data.clear()
    at.run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    shown = " ".join(str(e.value) for e in [*at.info, *at.markdown, *at.warning])
    if page == "train":  # the job stays listed, not as failed nor as still starting
        assert says_deleted(at.warning, [job_run]) and "failed" not in shown, shown
        assert ":gray[deleted]" in shown and "starting" not in shown
        assert "not started yet" not in " ".join(str(c.value) for c in at.caption)
    else:
        assert "No " in shown or "no " in shown
