"""A class-conditional model's number is its marginal p(x), exact; p(x | y) is kept beside it
under its own name and never shares a bar or a mean with p(x)."""

from __future__ import annotations

import itertools
import json
import math

import pytest
import torch

from genzoo.plugins.gated_pixelcnn import GatedPixelCNN, GatedPixelCNNConfig
from genzoo.registry import DataInfo
from genzoo.registry.evaluation import marginal_log_probs
from genzoo.registry.store import RunStore
from genzoo.registry.training import LoopSettings, start_run

from cli_helpers import last_json, run

TINY = {"hidden": "8", "layers": "2", "conditional": "true"}


def test_the_marginal_is_a_distribution_over_every_image_and_the_mean_of_the_conditionals():
    torch.manual_seed(0)
    info = DataInfo(kind="image", shape=(1, 2, 2), levels=2, n_classes=3)
    model = GatedPixelCNN(GatedPixelCNNConfig(hidden=8, layers=2, conditional=True), info).eval()
    with torch.no_grad():  # the label embeddings start at zero-mean noise: make them matter
        for p in model.parameters():
            p.add_(0.3 * torch.randn_like(p))
    images = torch.tensor(list(itertools.product(range(2), repeat=4))).view(-1, 1, 2, 2)
    log_px = marginal_log_probs(model, images)
    assert float(torch.logsumexp(log_px, 0).exp()) == pytest.approx(1.0, abs=1e-5)
    with torch.no_grad():
        given = torch.stack([model.log_prob(images, labels=torch.full((16,), y))
                             for y in range(3)]).double()
    assert torch.allclose(log_px, given.exp().mean(0).log(), atol=1e-6)
    assert not torch.allclose(given[0], given[1], atol=1e-3)  # the labels do change p(x | y)


def test_a_conditional_run_reports_the_marginal_and_keeps_p_x_given_y_apart(registry):
    from genzoo.registry.runs import load_run

    record = start_run(registry, RunStore(), "gated-pixelcnn", "digits", steps=30,
                       overrides=TINY, settings=LoopSettings(progress=False))
    metrics = record.metrics
    loaded = load_run(record.run_id, RunStore(), registry)
    images, labels = loaded.data.test, loaded.data.test_labels
    dims_ln2 = 64 * math.log(2)
    marginal = -float(marginal_log_probs(loaded.model, images).mean()) / dims_ln2
    with torch.no_grad():
        given = -float(loaded.model.log_prob(images, labels=labels).double().mean()) / dims_ln2
    assert metrics["test_bits_per_dim"] == pytest.approx(marginal, rel=1e-9)
    assert metrics["test_bits_per_dim_given_label"] == pytest.approx(given, rel=1e-6)
    assert metrics["bound"] == "exact" and "marginal" in metrics["conditional_note"]
    assert "val_bits_per_dim" in metrics and "val_bits_per_dim_given_label" in metrics

    out = last_json(run("eval", record.run_id, "--json"))
    assert out["bits_per_dim"] == pytest.approx(marginal, rel=1e-9)
    assert out["bits_per_dim_given_label"] == pytest.approx(given, rel=1e-6)

    # the Likelihood page: two labels, two bars, never one mean
    from genzoo.dashboard import likelihood_data as dashboard_data

    plain = start_run(registry, RunStore(), "gated-pixelcnn", "digits", steps=5,
                      overrides={"hidden": "8", "layers": "2"},
                      settings=LoopSettings(progress=False))
    frame = dashboard_data.likelihood_frame(registry, RunStore().list_runs(), "digits")
    by_label = {row["model"]: row for row in frame.to_dict("records")}
    assert by_label["gated-pixelcnn"]["run id"] == plain.run_id
    assert by_label["gated-pixelcnn (conditional)"]["quantity"] == "p(x)"
    assert by_label["gated-pixelcnn (conditional)"]["bits/dim"] == metrics["test_bits_per_dim"]
    given_row = by_label["gated-pixelcnn (conditional): p(x | y)"]
    assert given_row["quantity"] == "p(x | y)"
    assert given_row["validation bits/dim"] == metrics["val_bits_per_dim_given_label"]
    assert by_label["gated-pixelcnn (conditional)"]["validation bits/dim"] == \
        metrics["val_bits_per_dim"]
    summary = dashboard_data.likelihood_summary(frame)
    assert len(summary) == 3 and set(summary["seeds"]) == {1}


def test_a_conditional_run_stored_before_the_split_is_read_as_p_x_given_y_until_evaluated(
        registry):
    store = RunStore()
    record = start_run(registry, store, "gated-pixelcnn", "digits", steps=5, overrides=TINY,
                       settings=LoopSettings(progress=False))
    given = record.metrics["test_bits_per_dim_given_label"]
    # how an older genzoo stored it: log p(x | y) under the test number's name, nothing else
    with store._connect() as db:
        old = {k: v for k, v in record.metrics.items()
               if "given_label" not in k and k != "conditional_note"}
        old["test_bits_per_dim"] = given
        db.execute("UPDATE runs SET metrics = ? WHERE run_id = ?",
                   (json.dumps(old), record.run_id))
    legacy = store.get(record.run_id).metrics
    assert "test_bits_per_dim" not in legacy and legacy["test_bits_per_dim_given_label"] == given
    assert "genzoo eval" in legacy["conditional_note"]
    from genzoo.dashboard import likelihood_data as dashboard_data

    rows = dashboard_data.likelihood_scores(store.get(record.run_id))
    assert [quantity for _, _, quantity, _ in rows] == ["p(x | y)"]
    run("eval", record.run_id, "--json")  # computes the marginal and stores it
    assert store.get(record.run_id).metrics["test_bits_per_dim"] == pytest.approx(
        record.metrics["test_bits_per_dim"], rel=1e-9)
