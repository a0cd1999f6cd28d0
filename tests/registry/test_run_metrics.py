"""Every number a run carries is a registered MetricSpec (issue 20, part 1): the trainer's,
``eval --iwae`` and ``--parzen``'s, and the sample-quality scores; the dashboard and the CLI
read units and directions from the registry only."""

from __future__ import annotations

import numbers

from genzoo.dashboard import data
from genzoo.registry.metrics import RUN_METRICS, iwae_key, sample_ms_key
from genzoo.registry.store import RunStore

from cli_helpers import run, train

TINY_VAE = ["--set", "latent_dim=2", "--set", "hidden=16", "--set", "batch_size=16"]


def numbers_of(record) -> dict:
    return {k: v for k, v in (record.metrics or {}).items()
            if isinstance(v, numbers.Number) and not isinstance(v, bool)}


def test_every_number_a_run_stores_is_registered(registry):
    vae = train("vae", "--dataset", "digits", "--steps", 3, *TINY_VAE)
    run("eval", vae, "--iwae", 3)
    run("eval", vae, "--parzen", 20)
    run("quality", vae, "-n", 20)
    series = train("ar", "--dataset", "sunspots")
    store = RunStore()
    for run_id in (vae, series):
        stored = numbers_of(store.get(run_id))
        unregistered = sorted(k for k in stored if registry.metric(k) is None)
        assert not unregistered, f"{run_id} stores numbers no plugin registers: {unregistered}"
    vae_numbers = numbers_of(store.get(vae))
    assert iwae_key(3) in vae_numbers and "quality_frechet_distance" in vae_numbers
    assert registry.metric(iwae_key(3)).name == "test_bits_per_dim_iwae_K"


def test_units_and_directions_come_from_the_registry(registry):
    assert {spec.name for spec in RUN_METRICS} <= set(registry.metrics)
    assert registry.plugin_of("metrics", "test_bits_per_dim") == "genzoo.run_metrics"
    assert data.metric_unit(registry, sample_ms_key(1)) == "ms/image (batch 1)"
    assert data.higher_is_better(registry, "train_examples_per_s") is True
    assert data.higher_is_better(registry, "test_bits_per_dim") is False
    assert data.higher_is_better(registry, "step") is None  # a count: no better way
    assert data.metric_unit(registry, "no_such_metric") == ""
    assert registry.metric("quality_nn_ratio").better_words == "near 1 (not << 1)"
    assert registry.metric("test_bits_per_dim_iwae_x") is None  # not a whole number
