"""Comparisons on the dashboard: the Overview shows any stored comparison's table, and every
page's sidebar shows the progress of the comparisons still training."""

from __future__ import annotations

import pytest

from genzoo.dashboard import train_jobs
from genzoo.registry import compare
from genzoo.registry.store import RunStore

from page_helpers import assert_clean, texts

SPEC = compare.ComparisonSpec(models=("independent", "pixelcnn"), datasets=("digits",),
                              seeds=(0, 1), steps=5, quality=False)


@pytest.fixture
def no_pool(monkeypatch):
    monkeypatch.setattr(train_jobs, "start_pool_process", lambda store, workers=None: None)


def _finished(store, name: str, model: str, seed: int, bits: float) -> None:
    record = store.create_run(model=model, dataset="digits", config={}, seed=seed, device="cpu",
                              data_info={}, target_steps=5,
                              run_id=compare.run_id_of(name, model, "digits", seed))
    store.update(record.run_id, status="completed",
                 metrics={"test_bits_per_dim": bits, "bound": "exact",
                          "sample_ms_per_image_b64": 0.5, "train_examples_per_s": 1000.0})


def test_the_overview_shows_a_stored_comparisons_table(app, empty_store, no_pool):
    store = RunStore(empty_store)
    compare.store_spec(store, "class-demo", SPEC)
    for seed, bits in ((0, 1.0), (1, 1.2)):
        _finished(store, "class-demo", "pixelcnn", seed, bits)
    _finished(store, "class-demo", "independent", 0, 2.4)
    at = app()
    assert_clean(at)
    assert at.selectbox(key="comparison").value == "class-demo"
    table = next(frame.value for frame in at.dataframe if "seeds" in frame.value.columns)
    rows = {row.model: row for row in table.itertuples()}
    assert rows["pixelcnn"].test == "1.100 ± 0.141 bits/dim (exact)"
    assert rows["pixelcnn"].seeds == "2/2" and rows["independent"].seeds == "1/2"
    assert "1 queued" in rows["independent"].status  # its second seed never ran
    assert "2 models × 1 datasets" in texts(at.caption)


def test_every_page_shows_the_progress_of_a_comparison_in_the_queue(app, empty_store, no_pool,
                                                                    registry):
    store = RunStore(empty_store)
    name, jobs = compare.submit(registry, store, SPEC, "in-progress")
    assert len(jobs) == 4
    for page in (None, "samples", "likelihood"):
        at = app(page)
        assert not at.exception, texts(at.exception)
        (bar,) = [b for b in at.sidebar.get("progress")]
        assert "**in-progress**: 0 of 4 jobs done" in bar.proto.text
        assert "4 queued" in texts(at.sidebar.caption)
