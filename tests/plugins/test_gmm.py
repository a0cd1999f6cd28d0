"""The GaussianMixture baseline: a discretized diagonal mixture, exact on discrete data."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch

from genzoo.plugins.gmm import GaussianMixtureModel, GMMConfig, log_bin_prob
from genzoo.plugins.independent import IndependentConfig, IndependentPixels
from genzoo.plugins.toy2d import load_toy
from genzoo.registry.config import build_config
from genzoo.registry.errors import BadConfig, BadData
from genzoo.registry.model import DataInfo


def fitted(info: DataInfo, train: torch.Tensor, **config) -> GaussianMixtureModel:
    model = GaussianMixtureModel(build_config(GMMConfig, config), info)
    assert model.fit(train) is True  # closed form: the trainer takes no gradient steps
    return model.eval()


def all_images(info: DataInfo) -> torch.Tensor:
    values = itertools.product(range(info.levels), repeat=info.dims)
    return torch.tensor(list(values)).view(-1, *info.shape)


def test_sums_to_one_over_every_image_of_a_small_space():
    info = DataInfo(kind="image", shape=(1, 1, 3), levels=5)
    train = torch.randint(5, (200, 1, 1, 3), generator=torch.Generator().manual_seed(0))
    model = fitted(info, train, n_components=3)
    with torch.no_grad():
        total = torch.logsumexp(model.log_prob(all_images(info)), 0).exp()
    assert float(total) == pytest.approx(1.0, abs=1e-9)


def test_bin_probabilities_are_accurate_far_in_both_tails():
    levels = torch.arange(50, dtype=torch.float64)
    for mu in (-30.0, 25.0, 80.0):  # far left of the range, inside, far right
        log_p = log_bin_prob(levels, torch.tensor(mu, dtype=torch.float64),
                             torch.tensor(0.7, dtype=torch.float64), 50)
        assert bool(torch.isfinite(log_p).all())
        assert float(torch.logsumexp(log_p, 0).exp()) == pytest.approx(1.0, abs=1e-12)
    # inside the range it is the plain CDF difference
    from scipy.stats import norm

    expected = np.log(norm.cdf(30.5, 25, 3) - norm.cdf(29.5, 25, 3))
    got = log_bin_prob(torch.tensor(30.0, dtype=torch.float64), torch.tensor(25.0,
                       dtype=torch.float64), torch.tensor(3.0, dtype=torch.float64), 50)
    assert float(got) == pytest.approx(expected, rel=1e-10)


def test_sample_frequencies_match_exp_log_prob():
    # 2 pixels with 3 levels: 9 images, each frequency against its exact probability
    info = DataInfo(kind="image", shape=(1, 1, 2), levels=3)
    train = torch.tensor([[0, 0], [1, 2], [2, 2], [0, 1], [2, 0]] * 20).view(-1, 1, 1, 2)
    model = fitted(info, train, n_components=2)
    n = 200_000
    draws = model.sample(n, generator=torch.Generator().manual_seed(0)).view(n, 2)
    counts = torch.bincount(draws[:, 0] * 3 + draws[:, 1], minlength=9).double() / n
    with torch.no_grad():
        probs = model.log_prob(all_images(info)).exp()
    assert float(probs.sum()) == pytest.approx(1.0, abs=1e-12)
    # each frequency within 5 standard errors of its probability
    assert bool(((counts - probs).abs() <= 5 * (probs * (1 - probs) / n).sqrt() + 1e-4).all())


def test_parameters_are_sklearns_fit():
    from sklearn.mixture import GaussianMixture

    data = load_toy("moons", 32)
    model = fitted(data.info, data.train, n_components=4, dequantize=False)
    values = data.train.view(len(data.train), -1).double().numpy()
    reference = GaussianMixture(4, covariance_type="diag", random_state=0).fit(values)
    np.testing.assert_allclose(model.means.detach().numpy(), reference.means_, rtol=1e-10)
    np.testing.assert_allclose(model.stds.detach().numpy() ** 2, reference.covariances_,
                               rtol=1e-10)
    np.testing.assert_allclose(model.log_weights.softmax(0).detach().numpy(),
                               reference.weights_, rtol=1e-10)
    # the discretized probability is close to density x bin width when the bins are narrow
    # relative to the components (sklearn's score_samples is the density)
    with torch.no_grad():
        ours = model.log_prob(data.test).numpy()
    theirs = reference.score_samples(data.test.view(len(data.test), -1).double().numpy())
    assert abs(ours.mean() - theirs.mean()) < 0.05


def test_same_seed_same_model_and_samples_and_checkpoint_round_trip():
    data = load_toy("ring", 16)
    first = fitted(data.info, data.train, n_components=5, seed=3)
    second = fitted(data.info, data.train, n_components=5, seed=3)
    assert torch.equal(first.means, second.means)
    a = first.sample(50, generator=torch.Generator().manual_seed(1))
    b = second.sample(50, generator=torch.Generator().manual_seed(1))
    c = first.sample(50, generator=torch.Generator().manual_seed(2))
    assert torch.equal(a, b) and not torch.equal(a, c)
    fresh = GaussianMixtureModel(build_config(GMMConfig, {"n_components": 5}), data.info)
    fresh.load_state_dict(first.state_dict())
    assert torch.equal(fresh.log_prob(data.test[:20]), first.log_prob(data.test[:20]))


def test_beats_independent_pixels_on_8_gaussians():
    data = load_toy("8-gaussians", 32)
    gmm = fitted(data.info, data.train, n_components=8)
    floor = IndependentPixels(IndependentConfig(), data.info)
    floor.fit(data.train)
    with torch.no_grad():
        bits = {name: -float(m.log_prob(data.test).double().mean()) / (2 * math.log(2))
                for name, m in (("gmm", gmm), ("independent", floor))}
    # the 8 modes make x and y strongly dependent: a product of marginals cannot see that
    assert bits["gmm"] < bits["independent"] - 0.3
    assert bits["gmm"] > 4.0  # and no model beats the true entropy, 4.07 bits/dim, by much


def test_dequantizing_keeps_unseen_values_affordable():
    # a pixel that is 0 or 3 in training, and 1 in a test image: without the noise, each
    # component's variance collapses onto one value (sklearn stops it at 1e-6) and level 1 is
    # practically impossible; with it each variance stays near 1/12 or more
    info = DataInfo(kind="image", shape=(1, 1, 1), levels=4)
    train = torch.zeros(400, 1, 1, 1, dtype=torch.int64)
    train[:100] = 3
    test = torch.ones(1, 1, 1, 1, dtype=torch.int64)
    with torch.no_grad():
        noisy = fitted(info, train, n_components=2).log_prob(test)
        sharp = fitted(info, train, n_components=2, dequantize=False).log_prob(test)
    assert float(noisy) > math.log(1e-3)
    assert float(sharp) < math.log(1e-20)


@pytest.mark.parametrize("key, value", [("n_components", "0"), ("n_components", "-2"),
                                        ("seed", "-1"), ("max_iter", "0")])
def test_bad_config_names_the_value(key, value):
    with pytest.raises(BadConfig, match=f"{key}.*{value}"):
        build_config(GMMConfig, {key: value})


def test_more_components_than_images_is_bad_data():
    info = DataInfo(kind="image", shape=(1, 2, 2), levels=2)
    model = GaussianMixtureModel(build_config(GMMConfig, {"n_components": 10}), info)
    with pytest.raises(BadData, match="n_components=10.*got 3"):
        model.fit(torch.zeros(3, 1, 2, 2, dtype=torch.int64))
