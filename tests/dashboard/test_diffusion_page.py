"""The Diffusion page, driven through AppTest on the demo-like store (a small ddpm on digits)."""

from __future__ import annotations

import numpy as np
import pytest

from genzoo.dashboard import formulas
from genzoo.registry.runs import load_run
from genzoo.registry.store import RunStore

from page_helpers import array, assert_clean, charts_by_title, texts

PAGE = "diffusion"


def ddpm_run(home):
    (record,) = [r for r in RunStore(home).list_runs(status="completed") if r.model == "ddpm"]
    return record


def test_the_page_shows_the_forward_process_the_chain_and_the_bound_terms(app, demo_store):
    record = ddpm_run(demo_store)
    at = app(PAGE)
    assert_clean(at)
    latex = texts(at.latex)
    for formula in (formulas.DIFFUSION_ELBO, formulas.DIFFUSION_FORWARD, formulas.L_SIMPLE,
                    formulas.DDIM_STEP):
        assert formula in latex
    headers = texts(at.header).splitlines()
    assert headers == ["The forward process", "The reverse chain, frame by frame",
                       "Where the bound's bits go", "Fewer steps: DDIM's trade-off"]
    assert "T = 40 steps" in texts(at.caption)
    # the bound's terms: T + 1 of them, summing to the run's own test number on those images
    terms = next(f for t, f in charts_by_title(at).items() if t.startswith("Where the bits go"))
    bars = array(terms["data"][0]["y"]).astype(float)
    assert len(bars) == 41 and (bars[1:] >= 0).all()
    from genzoo.registry.evaluation import evaluate
    from genzoo.registry.plugins import get_registry

    loaded = load_run(record.run_id, RunStore(demo_store), get_registry())
    data = loaded.data
    first = type(data)(**{**data.__dict__, "test": data.test[:64]})
    expected = evaluate(loaded.model, loaded.spec, first)["bits_per_dim"]
    assert bars.sum() == pytest.approx(expected, rel=1e-6)
    # the slider for t moves through the forward process (its last frame is t = T); the chain
    # through its frames
    assert at.select_slider(key="diff-t").options[-1] == "40"
    at.select_slider(key="diff-t").set_value(10).run()
    assert_clean(at)
    assert at.select_slider(key="rev-frame").options[0] == "t = 40"
    at.select_slider(key="rev-frame").set_value(9).run()
    assert_clean(at)


def test_the_ddim_tradeoff_is_measured_on_request(app, demo_store):
    at = app(PAGE)
    at.multiselect(key="ddim-steps").set_value([5, 40]).run()
    at.button(key="ddim-measure").click().run()
    assert_clean(at)
    plot = next(f for t, f in charts_by_title(at).items() if t.startswith("Fewer steps"))
    assert list(plot["data"][0]["text"]) == ["K=5", "K=40"]
    ms = array(plot["data"][0]["x"]).astype(float)
    frechet = array(plot["data"][0]["y"]).astype(float)
    assert (ms > 0).all() and np.isfinite(frechet).all()


def test_without_a_diffusion_run_the_page_says_how_to_train_one(app, empty_store):
    at = app(PAGE)
    assert_clean(at)
    assert "genzoo train ddpm --dataset digits" in texts(at.code)
