"""The Python API (``import genzoo``): runs trained, listed, loaded and used from Python, over the
same store as the command line, with the command line's one-line errors."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

import genzoo
from genzoo.registry.errors import BadConfig, BadData, GenzooError, NotFound


@pytest.fixture
def pixelcnn_run():
    return genzoo.train("pixelcnn", "digits", steps=6, hidden=8, progress=False)


def test_a_run_trained_from_python_is_the_store_s_and_reports_its_own_numbers(pixelcnn_run):
    run = pixelcnn_run
    assert isinstance(run, genzoo.Run) and run.record.status == "completed"
    assert run.bits_per_dim() == pytest.approx(run.metrics["test_bits_per_dim"], rel=1e-6)
    listed = genzoo.runs()
    row = listed.set_index("run_id").loc[run.id]
    assert (row["model"], row["dataset"], row["unit"]) == ("pixelcnn", "digits", "bits/dim")
    assert row["test"] == pytest.approx(run.metrics["test_bits_per_dim"])
    assert genzoo.runs(model="vae").empty and len(genzoo.runs(dataset="digits")) == 1
    assert genzoo.load(run.id).record.run_id == run.id
    assert f"<Run {run.id}: pixelcnn on digits, completed" in repr(run)


def test_sampling_is_seeded_and_log_prob_is_the_model_s_per_image(pixelcnn_run):
    run = pixelcnn_run
    first, again, other = run.sample(5, seed=3), run.sample(5, seed=3), run.sample(5, seed=4)
    assert first.shape == (5, 1, 8, 8) and first.dtype == torch.int64
    assert torch.equal(first, again) and not torch.equal(first, other)
    images, _ = run.data.split("test")
    log_p = run.log_prob(images[:4])
    assert log_p.shape == (4,) and (log_p < 0).all()
    assert torch.allclose(log_p[:1], run.log_prob(images[0]))  # one (C, H, W) image
    bits = -float(run.log_prob(images).mean()) / (64 * torch.log(torch.tensor(2.0)))
    assert bits == pytest.approx(run.bits_per_dim(), rel=1e-5)


def test_curves_come_as_a_data_frame_long_or_wide(pixelcnn_run):
    long = pixelcnn_run.curves()
    assert list(long.columns) == ["step", "name", "value", "wall_time"]
    assert "loss" in set(long["name"]) and long["step"].max() >= 1
    wide = pixelcnn_run.curves(wide=True)
    assert "loss" in wide.columns and wide.index.name == "step"


@pytest.mark.parametrize("bad, message", [
    (torch.zeros(2, 1, 4, 8, dtype=torch.long), r"shape \(1, 8, 8\).*\(2, 1, 4, 8\)"),
    (torch.full((2, 1, 8, 8), 17), r"levels 0\.\.16; got values 17\.\.17"),
    (torch.full((2, 1, 8, 8), 0.5), "fractional"),
])
def test_log_prob_refuses_a_batch_the_run_does_not_model_in_one_line(pixelcnn_run, bad,
                                                                      message):
    with pytest.raises(BadData, match=message):
        pixelcnn_run.log_prob(bad)


def test_the_api_raises_the_command_line_s_one_line_errors():
    assert genzoo.GenzooError is GenzooError
    with pytest.raises(NotFound, match="no run with id 'nope'"):
        genzoo.load("nope")
    with pytest.raises(BadConfig, match="hidden"):
        genzoo.train("pixelcnn", "digits", steps=1, hidden=0, progress=False)
    with pytest.raises(GenzooError, match="unknown dataset"):
        genzoo.train("pixelcnn", "no-such-data", steps=1, progress=False)
    with pytest.raises(BadConfig, match="same budget"):
        genzoo.compare(["pixelcnn"], "digits")
    assert genzoo.runs().empty  # nothing half-made was left behind


def test_the_dashboard_s_figures_draw_runs_in_a_notebook(pixelcnn_run):
    floor = genzoo.train("independent", "digits", steps=1, progress=False)
    bars = genzoo.figures.bits_per_dim([pixelcnn_run, floor.id])
    (bar,) = [trace for trace in bars.data if trace.type == "bar"]
    assert list(bar.x) == ["pixelcnn"]
    assert bar.y[0] == pytest.approx(pixelcnn_run.metrics["test_bits_per_dim"])
    assert any("floor" in (trace.name or "") for trace in bars.data)  # independent: a line
    grids = genzoo.figures.samples([pixelcnn_run, floor], n=4)
    assert [trace.type for trace in grids.data] == ["image", "image"]
    curves = genzoo.figures.curves([pixelcnn_run])
    assert [trace.name for trace in curves.data] == [pixelcnn_run.id]
    terms = genzoo.figures.loss_terms(pixelcnn_run)
    assert len(terms.data) >= 1


def test_runs_on_two_datasets_are_not_drawn_as_one_bar_chart(pixelcnn_run):
    other = genzoo.train("independent", "shapes-8", steps=1, progress=False)
    with pytest.raises(BadConfig, match="one dataset"):
        genzoo.figures.bits_per_dim([pixelcnn_run, other])


def test_the_command_line_does_not_load_the_api():
    code = ("import sys, genzoo.registry.cli; "
            "sys.exit('genzoo.session' in sys.modules or 'genzoo.figures' in sys.modules)")
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0
