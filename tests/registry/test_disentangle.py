"""The mutual information gap (Chen et al. 2018): 1 for a code that puts each factor in a
dimension of its own, near 0 for one that spreads every factor over every dimension, unchanged
by reordering dimensions, and measured on a model's posterior means over a split with factors."""

from __future__ import annotations

import numpy as np
import pytest

from genzoo.registry.disentangle import discretize, model_mig, mutual_information_gap
from genzoo.registry.errors import BadData


def shapes_like_factors(n=2000, seed=0):
    rng = np.random.default_rng(seed)
    return {"shape": rng.integers(0, 4, n), "size": rng.integers(5, 12, n),
            "row": rng.integers(0, 8, n), "col": rng.integers(0, 8, n)}


def test_a_code_with_one_dimension_per_factor_scores_near_one():
    factors = shapes_like_factors()
    rng = np.random.default_rng(1)
    codes = np.stack([factors[k] + 0.01 * rng.normal(size=2000) for k in factors]
                     + [rng.normal(size=2000)], axis=1)  # and one dimension of noise
    result = mutual_information_gap(codes, factors)
    assert result.score > 0.85 and min(result.gaps.values()) > 0.8
    assert list(result.information.index) == ["z0", "z1", "z2", "z3", "z4"]
    # each factor's most informative dimension is its own
    assert [result.information[k].idxmax() for k in factors] == ["z0", "z1", "z2", "z3"]
    reordered = mutual_information_gap(codes[:, ::-1], factors)
    assert reordered.score == pytest.approx(result.score)


def test_a_code_that_mixes_every_factor_into_every_dimension_scores_low():
    factors = shapes_like_factors()
    values = np.stack([factors[k] for k in factors], axis=1).astype(float)
    values = (values - values.mean(0)) / values.std(0)
    hadamard = np.array([[1, 1, 1, 1], [1, -1, 1, -1], [1, 1, -1, -1], [1, -1, -1, 1]]) / 2
    mixed = mutual_information_gap(values @ hadamard, factors)  # every factor, equal weight
    own = mutual_information_gap(values, factors)
    assert mixed.score < 0.3 < own.score


def test_a_copied_dimension_leaves_no_gap():
    factors = shapes_like_factors()
    column = factors["shape"].astype(float)
    result = mutual_information_gap(np.stack([column, column], 1), {"shape": factors["shape"]})
    assert result.gaps["shape"] == pytest.approx(0.0, abs=1e-12)


def test_bins_are_equal_width_per_dimension():
    codes = np.array([[0.0, 10.0], [0.5, 20.0], [1.0, 30.0]])
    assert discretize(codes, bins=2).tolist() == [[0, 0], [1, 1], [1, 1]]


def test_codes_of_one_dimension_and_constant_factors_are_refused():
    with pytest.raises(BadData, match="at least 2"):
        mutual_information_gap(np.zeros((10, 1)), {"a": np.arange(10)})
    with pytest.raises(BadData, match="vary"):
        mutual_information_gap(np.random.default_rng(0).normal(size=(10, 2)),
                               {"a": np.zeros(10, dtype=int)})


def test_a_model_without_a_continuous_code_or_data_without_factors_is_refused(registry):
    from genzoo.registry.runs import load_dataset

    digits = load_dataset(registry, "digits")
    with pytest.raises(BadData, match="none"):
        model_mig(object(), digits)


def test_genzoo_eval_mig_stores_the_test_split_s_gap_and_refuses_data_without_factors():
    from genzoo.registry.plugins import get_registry
    from genzoo.registry.store import RunStore

    from cli_helpers import last_json, run, train

    run_id = train("vae", "--dataset", "shapes-8", "--steps", "3", "--set", "latent_dim=3")
    out = last_json(run("eval", run_id, "--mig", "--json"))
    assert 0.0 <= out["mig"]["mig"] <= 1.0 and set(out["mig"]["gaps"]) == {"shape", "size",
                                                                            "row", "col"}
    assert RunStore().get(run_id).metrics["test_mig"] == out["mig"]["mig"]
    assert get_registry().metric("test_mig").higher_is_better is True  # a registered number
    digits = train("vae", "--dataset", "digits", "--steps", "1")
    result = run("eval", digits, "--mig", ok=False)
    assert result.exit_code == 2 and "shapes" in result.output and "Traceback" not in result.output
