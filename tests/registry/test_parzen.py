"""The Parzen-window estimate: a normalized discrete distribution, the empirical distribution in
the limit of small sigma, sigma picked on validation data, and clear errors on bad input."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from genzoo.plugins.independent import IndependentConfig, IndependentPixels
from genzoo.registry import ImageData, parzen
from genzoo.registry.errors import BadConfig, BadData
from genzoo.registry.parzen import bin_log_probs, parzen_estimate, parzen_log_prob


def all_images(levels: int, shape: tuple[int, ...]) -> torch.Tensor:
    dims = math.prod(shape)
    return torch.tensor(list(itertools.product(range(levels), repeat=dims))).view(-1, *shape)


@pytest.mark.parametrize("levels, shape, sigma", [(2, (1, 2, 2), 0.3), (3, (1, 2, 2), 5.0),
                                                  (40, (1, 1, 2), 0.05), (40, (1, 1, 2), 2.0)])
def test_probabilities_of_all_discrete_images_sum_to_one(levels, shape, sigma):
    samples = torch.randint(levels, (7, *shape), generator=torch.Generator().manual_seed(0))
    total = torch.logsumexp(parzen_log_prob(samples, all_images(levels, shape), sigma, levels), 0)
    assert float(total.exp()) == pytest.approx(1.0, abs=1e-9)


def test_bin_masses_are_finite_and_normalized_even_far_in_the_tails():
    table = bin_log_probs(0.01, 256)  # 255 levels at sigma 0.01: log-masses near -3e8
    assert bool(torch.isfinite(table).all())
    assert torch.allclose(table.exp().sum(0), torch.ones(256, dtype=torch.float64))
    assert float(table[128, 128]) == pytest.approx(0.0, abs=1e-12)


def test_small_sigma_on_the_data_itself_gives_the_empirical_distribution():
    data = torch.tensor([[0, 1], [0, 1], [0, 1], [2, 2]]).view(4, 1, 1, 2)
    probs = parzen_log_prob(data, all_images(3, (1, 1, 2)), 0.05, 3).exp()
    expected = torch.zeros(9, dtype=torch.float64)
    expected[0 * 3 + 1], expected[2 * 3 + 2] = 0.75, 0.25
    assert torch.allclose(probs, expected, atol=1e-6)


def test_the_gather_path_agrees_with_the_matrix_product_path(monkeypatch):
    samples = torch.randint(20, (300, 1, 3, 3), generator=torch.Generator().manual_seed(1))
    x = torch.randint(20, (50, 1, 3, 3), generator=torch.Generator().manual_seed(2))
    by_matmul = parzen_log_prob(samples, x, 1.3, 20)
    monkeypatch.setattr(parzen, "MATMUL_MAX_LEVELS", 2)
    monkeypatch.setattr(parzen, "CHUNK_ELEMENTS", 3000)  # many chunks of both kinds
    assert torch.allclose(parzen_log_prob(samples, x, 1.3, 20), by_matmul, rtol=1e-10)


def fitted_independent() -> tuple[IndependentPixels, ImageData]:
    """Independent pixels fitted to 4x4 images in which each pixel is its own centre plus
    -1, 0 or +1 with equal probability: log2(3) bits/dim of entropy, 3^16 possible images."""
    g = torch.Generator().manual_seed(0)
    centre = torch.randint(2, 14, (1, 1, 4, 4), generator=g)
    train = centre + torch.randint(-1, 2, (400, 1, 4, 4), generator=g)
    test = centre + torch.randint(-1, 2, (200, 1, 4, 4), generator=g)
    val = centre + torch.randint(-1, 2, (100, 1, 4, 4), generator=g)
    data = ImageData(name="near-centre", train=train, val=val, test=test, levels=16)
    model = IndependentPixels(IndependentConfig(), data.info)
    model.fit(data.train)
    return model, data


def test_the_estimate_picks_sigma_on_validation_data_and_labels_itself():
    model, data = fitted_independent()
    sigmas = [0.05, 0.8, 30.0]
    result = parzen_estimate(model, data, n_samples=1000, sigmas=sigmas, n_valid=100)
    assert {"parzen_bits_per_dim", "sigma", "n_samples", "note"} <= set(result)
    # too narrow: unseen images get almost nothing; too wide: the window ignores the data
    assert result["sigma"] == 0.8
    assert result["valid_bits_per_dim"][1] == min(result["valid_bits_per_dim"])
    assert result["n_samples"] == 1000 and "Theis" in result["note"]
    # A normalized estimate of a distribution cannot beat the data's entropy, log2(3) bits/dim
    # (up to the noise of 200 test images); with 1,000 samples in 16 dimensions it is worse.
    assert math.log2(3) - 0.05 < result["parzen_bits_per_dim"] < math.log2(3) + 1.0
    again = parzen_estimate(model, data, n_samples=1000, sigmas=sigmas, n_valid=100)
    assert again["parzen_bits_per_dim"] == result["parzen_bits_per_dim"]  # seeded


class TrainingSetCopier:
    """A "model" whose samples are its training images: the case a Parzen window chosen on
    training images rewards with the narrowest kernel."""

    def __init__(self, data: ImageData):
        self.data, self.train, self.device = data.info, data.train, torch.device("cpu")

    def sample(self, n, generator=None):
        return self.train[torch.randint(len(self.train), (n,), generator=generator)]


def test_sigma_is_chosen_on_the_validation_split_never_on_training_images():
    from genzoo.registry.plugins import get_registry
    from genzoo.registry.runs import load_dataset

    data = load_dataset(get_registry(environ={"GENZOO_PLUGINS": ""}), "digits")
    copier = TrainingSetCopier(data)
    result = parzen_estimate(copier, data, n_samples=len(data.train), n_valid=len(data.val))
    assert result["n_valid"] == len(data.val) == 144
    samples = parzen._draw(copier, len(data.train), seed=0)  # the estimate's own samples
    by_hand = [-float(parzen_log_prob(samples, data.val, s, 17).mean()) / (64 * math.log(2))
               for s in result["sigmas"]]
    assert result["valid_bits_per_dim"] == pytest.approx(by_hand, rel=1e-12)
    assert result["sigma"] == result["sigmas"][by_hand.index(min(by_hand))]
    # on training images the copier would get the narrowest window on the grid: they are
    # its own samples; held-out digits need a wide one
    on_train = [-float(parzen_log_prob(samples, data.train[:144], s, 17).mean())
                for s in result["sigmas"]]
    assert on_train.index(min(on_train)) < result["sigmas"].index(result["sigma"])


def test_bad_input_is_refused_with_the_value_named():
    model, data = fitted_independent()
    x = data.test[:4]
    with pytest.raises(BadConfig, match="sigma.*-1"):
        parzen_log_prob(x, x, -1.0, 16)
    with pytest.raises(BadConfig, match="sigma.*0"):
        parzen_estimate(model, data, n_samples=10, sigmas=[0.5, 0.0])
    with pytest.raises(BadConfig, match="n_samples.*0"):
        parzen_estimate(model, data, n_samples=0)
    with pytest.raises(BadData, match=r"\[0, 16\)"):
        parzen_log_prob(x + 16, x, 1.0, 16)
    with pytest.raises(BadData, match="integer"):
        parzen_log_prob(x.float(), x, 1.0, 16)
    with pytest.raises(BadData, match="dimensions"):
        parzen_log_prob(x.view(4, -1)[:, :3], x, 1.0, 16)
    from genzoo.registry.data import split_series

    with pytest.raises(BadData, match="image dataset"):
        parzen_estimate(model, split_series("s", [1.0, 2.0, 3.0, 4.0, 5.0]))
