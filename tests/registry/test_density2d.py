"""Densities on the 2-d toy grid: exact, bound and sample histogram, against the truth."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch

from genzoo.plugins.gmm import GaussianMixtureModel, GMMConfig
from genzoo.plugins.toy2d import load_toy
from genzoo.registry import density2d
from genzoo.registry.bounds import ContinuousDensityModel
from genzoo.registry.config import build_config
from genzoo.registry.errors import BadData, GenzooError
from genzoo.registry.plugins import get_registry
from genzoo.registry.runs import load_dataset, load_run
from genzoo.registry.store import RunStore
from genzoo.registry.training import LoopSettings, start_run


@pytest.fixture(scope="module")
def registry():
    return get_registry()


@pytest.fixture(scope="module")
def gaussians():
    return load_toy("8-gaussians", 16)


def fitted_gmm(data, n_components=8):
    model = GaussianMixtureModel(build_config(GMMConfig, {"n_components": n_components}),
                                 data.info)
    model.fit(data.train)
    return model.eval()


def test_exact_model_density_sums_to_one_and_is_its_log_prob(registry, gaussians):
    model = fitted_gmm(gaussians)
    density, kind = density2d.model_density(model, registry.model("gmm"), gaussians)
    assert kind == "exact" and density.shape == (16, 16)
    assert density.sum() == pytest.approx(1.0, abs=1e-9)
    # cell [x, y] is the point (x, y): the 1x2 image (x, y)
    x, y = 3, 11
    point = torch.tensor([x, y]).view(1, 1, 1, 2)
    with torch.no_grad():
        assert density[x, y] == pytest.approx(float(model.log_prob(point).exp()), rel=1e-12)


def test_kl_of_the_truth_against_itself_is_zero_and_grows_with_error(gaussians):
    true = density2d.true_density(gaussians)
    same = density2d.compare(true, true)
    assert same["kl_bits"] == pytest.approx(0.0, abs=1e-12)
    assert same["tv"] == pytest.approx(0.0, abs=1e-12) and same["missed_mass"] == 0.0
    uniform = np.full_like(true, 1 / true.size)
    far = density2d.compare(true, uniform)
    # against the uniform map, KL = log2(cells) - H(true)
    assert far["kl_bits"] == pytest.approx(math.log2(true.size) - density2d.entropy_bits(true))
    assert 0.3 < far["tv"] < 1


def test_a_histogram_with_empty_cells_reports_the_missed_mass(gaussians):
    true = density2d.true_density(gaussians)
    half = true.copy()
    half[: half.shape[0] // 2] = 0  # a "GAN" that dropped the modes on the left...
    scores = density2d.compare(true, half / half.sum())  # ...and is perfect on the right
    assert scores["missed_mass"] == pytest.approx(true[: true.shape[0] // 2].sum())
    assert scores["kl_bits"] == pytest.approx(0.0, abs=1e-12)  # on the cells it covers
    assert scores["tv"] == pytest.approx(scores["missed_mass"], abs=1e-9)
    collapsed = np.zeros_like(true)
    collapsed[np.unravel_index(true.argmax(), true.shape)] = 1.0  # every sample in one cell
    scores = density2d.compare(true, collapsed)
    assert scores["missed_mass"] == pytest.approx(1 - true.max())
    assert scores["kl_bits"] == pytest.approx(0.0, abs=1e-12)  # one cell: nothing to compare
    assert scores["tv"] == pytest.approx(1 - true.max())


def test_bound_keeps_its_mass_below_one_in_the_kl():
    true = np.array([[0.5, 0.5]])
    scores = density2d.compare(true, np.array([[0.25, 0.25]]))  # exp(ELBO): half the mass
    assert scores["mass"] == 0.5 and scores["slack_bits"] == pytest.approx(1.0)
    assert scores["kl_bits"] == pytest.approx(1.0)  # the bound's slack, in bits per point
    assert scores["tv"] == pytest.approx(0.0)  # same shape


def test_implicit_model_gives_a_sample_histogram(registry, gaussians):
    model = fitted_gmm(gaussians)
    implicit = dataclasses.replace(registry.model("gmm"), density="implicit")  # a GAN's view
    density, kind = density2d.model_density(model, implicit, gaussians, n_samples=20_000)
    assert kind == "samples" and density.sum() == pytest.approx(1.0)
    np.testing.assert_allclose(density * 20_000, np.round(density * 20_000), atol=1e-6)
    exact, _ = density2d.model_density(model, registry.model("gmm"), gaussians)
    assert 0.5 * np.abs(density - exact).sum() < 0.05


class Unnormalized(GaussianMixtureModel):
    """A model that claims an exact density but scores every cell e^0.1 too high."""

    def log_prob(self, x):
        return super().log_prob(x) + 0.1


def test_a_model_claiming_exactness_that_does_not_sum_to_one_is_reported(registry, gaussians):
    model = Unnormalized(build_config(GMMConfig, {"n_components": 2}), gaussians.info)
    model.fit(gaussians.train)
    with pytest.raises(GenzooError, match="sum to 1.105"):
        density2d.model_density(model, registry.model("gmm"), gaussians)


def test_not_a_points_dataset_is_bad_data(registry, gaussians):
    digits = load_dataset(registry, "digits")
    with pytest.raises(BadData, match="'digits' is not a 2-d points dataset"):
        density2d.true_density(digits)
    model = fitted_gmm(gaussians)
    with pytest.raises(BadData, match="not a 2-d points dataset"):
        density2d.model_density(model, registry.model("gmm"), digits)
    other_grid = load_toy("8-gaussians", 8)
    with pytest.raises(BadData, match="16 levels, not the 8x8 grid"):
        density2d.model_density(model, registry.model("gmm"), other_grid)


def test_pixelcnn_trained_briefly_puts_its_mass_near_the_modes(registry, tmp_path):
    store = RunStore(tmp_path)
    record = start_run(registry, store, "pixelcnn", "8-gaussians", steps=150,
                       overrides={"grid": "16"}, settings=LoopSettings(progress=False))
    loaded = load_run(record.run_id, store, registry)
    density, kind = density2d.model_density(loaded.model, loaded.spec, loaded.data)
    true = density2d.true_density(loaded.data)
    assert kind == "exact" and density.sum() == pytest.approx(1.0, abs=1e-4)
    near = true >= np.quantile(true, 0.9)  # the cells at the 8 modes
    far = true < 1e-4 * true.max()  # the centre and the corners
    assert density[near].mean() > 4 * density[far].mean()  # about 8x after 150 steps
    scores = density2d.compare(true, density)
    uniform = density2d.compare(true, np.full_like(true, 1 / true.size))
    assert scores["kl_bits"] < uniform["kl_bits"] / 2


def test_a_gan_on_a_toy_set_gives_a_sample_histogram_with_finite_scores(registry, tmp_path):
    store = RunStore(tmp_path)
    record = start_run(registry, store, "gan", "8-gaussians", steps=30,
                       overrides={"grid": "16"}, settings=LoopSettings(progress=False))
    loaded = load_run(record.run_id, store, registry)
    assert loaded.model.info()["arch"] == "mlp"  # auto: an MLP for 1x2 "images"
    density, kind = density2d.model_density(loaded.model, loaded.spec, loaded.data,
                                             n_samples=20_000)
    assert kind == "samples" and density.shape == (16, 16)
    assert density.sum() == pytest.approx(1.0)
    scores = density2d.compare(density2d.true_density(loaded.data), density)
    # empty cells leave the KL finite: their true mass is reported as missed instead
    assert all(math.isfinite(scores[key]) for key in ("kl_bits", "missed_mass", "tv"))
    assert scores["kl_bits"] >= 0 and 0 <= scores["missed_mass"] < 1
    assert scores["mass"] == pytest.approx(1.0)


def test_point_datasets_are_declared_by_their_spec(registry):
    """Pages tell point data from pictures by the spec's ``points`` flag, without loading the
    data: it must say what loading gives."""
    declared = {name for name, spec in registry.datasets.items() if spec.points}
    assert declared == {"8-gaussians", "moons", "ring", "checkerboard"}
    for name in [*declared, "digits", "shapes"]:
        assert load_dataset(registry, name).points == registry.dataset(name).points, name


class Ramp(ContinuousDensityModel):
    """p(v) = prod_d 2 v_d / L^2 on [0, L)^2: a continuous density whose cell masses are known,
    P(cell k) = prod_d (2 k_d + 1) / L^2, and whose midpoint rule is exact (it is linear per
    dimension); its log_prob is deliberately a loose bound (half a nat below)."""

    def __init__(self, data):
        super().__init__(build_config(GMMConfig), data)
        self.levels = data.levels

    def continuous_log_density(self, v):
        return (torch.log(2.0 * v.flatten(1).double()) - 2.0 * math.log(self.levels)).sum(1)

    def log_prob(self, x):
        return torch.log((2.0 * x.flatten(1).double() + 1.0) / self.levels ** 2).sum(1) - 0.5

    def loss(self, batch):
        return {"loss": torch.zeros(())}

    def sample(self, n, generator=None):
        return torch.zeros(n, 1, 1, 2, dtype=torch.int64)


def test_a_continuous_density_is_integrated_over_each_cell_not_bounded(registry, gaussians):
    """A flow's map is its density integrated over each cell (kind 'integrated', summing to
    1), not exp of its dequantization bound (which would sum to e^-0.5 here)."""
    model = Ramp(gaussians.info)
    density, kind = density2d.model_density(model, registry.model("gmm"), gaussians)
    assert kind == "integrated" and density2d.KINDS[kind].startswith("continuous density")
    levels = gaussians.levels
    per_axis = (2.0 * np.arange(levels) + 1.0) / levels ** 2
    np.testing.assert_allclose(density, np.outer(per_axis, per_axis), rtol=1e-6)
    assert abs(density.sum() - 1.0) < 1e-9
