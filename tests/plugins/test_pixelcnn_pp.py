"""PixelCNN++: a normalized discretized logistic mixture, causal shifted streams, learning."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from genzoo.plugins.pixelcnn_pp import (
    PixelCNNpp,
    PixelCNNppConfig,
    discretized_logistic_mix_log_prob,
)
from genzoo.registry import DataInfo
from genzoo.registry.config import build_config
from genzoo.registry.errors import BadConfig

DIGITS = DataInfo(kind="image", shape=(1, 8, 8), levels=17)



def tiny(data=DIGITS, **overrides):
    torch.manual_seed(0)
    return PixelCNNpp(PixelCNNppConfig(**{"nr_filters": 8, **overrides}), data)


def one_logistic(mean: float, log_scale: float, k: int = 1):
    """Parameters (N=1, 3*C*K) for one channel where only the first of k components counts."""
    logits = torch.full((k,), -50.0)
    logits[0] = 50.0
    return torch.cat([logits, torch.full((k,), mean), torch.full((k,), log_scale)])[None]


@pytest.mark.parametrize("levels", [2, 17, 256])
def test_levels_sum_to_one_for_any_parameters(levels):
    """exp(dim_log_probs) summed over all L levels is 1, also for extreme (tiny, huge) scales."""
    data = DataInfo(kind="image", shape=(2, 3, 3), levels=levels)
    model = tiny(data, nr_logistic_mix=3)
    torch.manual_seed(levels)
    params = torch.randn(5, 3 * 2 * 3, 3, 3) * 4  # (N, 3*C*K, H, W)
    params[0, 2 * 6:] = -20.0  # log scales far below the clamp: spikes inside one bin
    params[1, 2 * 6:] = 20.0  # and far above: nearly flat over [-1, 1]
    params.requires_grad_(True)
    per_level = torch.stack([model.dim_log_probs(params, torch.full((5, 2, 3, 3), k))
                             for k in range(levels)])  # (L, N, C, H, W)
    assert torch.isfinite(per_level).all()
    torch.testing.assert_close(per_level.exp().sum(0), torch.ones(5, 2, 3, 3), atol=2e-6, rtol=0)
    (grad,) = torch.autograd.grad(per_level.exp().sum() + per_level[:, :, 0].sum(), params)
    assert torch.isfinite(grad).all(), "the stable log-space bin mass must have finite gradients"


def test_channels_are_modelled_independently_and_the_model_stays_normalized():
    """Two channels on a 1x2 image: the 16 binary images' probabilities sum to 1, and a pixel's
    channels do not see each other (each has its own mixture, given the past)."""
    model = tiny(DataInfo(kind="image", shape=(2, 1, 2), levels=2)).eval()
    images = torch.tensor(list(itertools.product(range(2), repeat=4))).view(16, 2, 1, 2)
    with torch.no_grad():
        total = torch.logsumexp(model.log_prob(images).double(), 0).exp().item()
    assert total == pytest.approx(1.0, abs=1e-5)
    scaled = model.scale(images[:1]).requires_grad_(True)
    (grad,) = torch.autograd.grad(model.network(scaled)[0, :, 0, 1].sum(), scaled)
    assert grad[0, :, 0, 1].eq(0).all() and grad[0, :, 0, 0].ne(0).all()


def test_bins_are_the_paper_s_edges():
    """Level k owns [k - 0.5, k + 0.5] (scaled), the edge levels own the tails (Eq. 2)."""
    levels, mean, scale = 5, 0.1, 0.3
    half = 1.0 / (levels - 1)

    def cdf(v):
        return 1.0 / (1.0 + math.exp(-(v - mean) / scale))

    centres = [-1.0 + 2 * half * k for k in range(levels)]
    expected = ([cdf(centres[0] + half)]
                + [cdf(c + half) - cdf(c - half) for c in centres[1:-1]]
                + [1.0 - cdf(centres[-1] - half)])
    got = discretized_logistic_mix_log_prob(
        torch.arange(levels, dtype=torch.float64)[:, None], torch.zeros(1, dtype=torch.float64),
        torch.tensor([mean], dtype=torch.float64),
        torch.tensor([math.log(scale)], dtype=torch.float64), levels).exp()
    torch.testing.assert_close(got, torch.tensor(expected, dtype=torch.float64))
    # two levels: each takes one half of a logistic centred at 0
    two = DataInfo(kind="image", shape=(1, 1, 1), levels=2)
    probs = tiny(two, nr_logistic_mix=1).level_log_probs(one_logistic(0.0, 0.0, 1)).exp()
    torch.testing.assert_close(probs, torch.full((1, 1, 2), 0.5))


def test_log_prob_is_the_sum_of_per_pixel_conditionals():
    model = tiny().eval()
    x = torch.randint(17, (3, 1, 8, 8), generator=torch.Generator().manual_seed(1))
    by_hand = model.dim_log_probs(model.network(model.scale(x)), x).flatten(1).sum(1)
    torch.testing.assert_close(model.log_prob(x), by_hand)
    assert model.loss(x)["loss"].item() == pytest.approx(-by_hand.mean().item() / 64, rel=1e-5)
    assert (model.log_prob(x) < 0).all()


@pytest.mark.parametrize("shape,scales", [((1, 8, 8), 2), ((1, 5, 5), 2), ((1, 7, 9), 3)])
def test_each_conditional_sees_only_earlier_pixels_and_has_no_blind_spot(shape, scales):
    """Zero gradient from pixels at/after i (also where the image is padded to 6x6 or 8x12),
    nonzero from every earlier pixel nearby, including those up and to the right."""
    model = tiny(DataInfo(kind="image", shape=shape, levels=17), scales=scales)
    height, width = shape[1:]
    for i in range(height * width):
        row, col = divmod(i, width)
        seen = model.receptive_field(row, col).flatten()  # (H*W,)
        assert seen[i:].sum() == 0, f"pixel {(row, col)} sees itself or a later pixel"
        near = [r * width + c for r in range(max(row - 3, 0), row + 1)
                for c in range(max(col - 3, 0), min(col + 4, width)) if r * width + c < i]
        assert (seen[near] > 0).all(), f"pixel {(row, col)} misses an earlier neighbour"
    # the plain PixelCNN's blind spot, far up and to the right of the pixel, is seen
    assert model.receptive_field(3, 0).view(height, width)[1, 3:].gt(0).all()


def test_sampling_follows_the_distribution():
    data = DataInfo(kind="image", shape=(1, 2, 2), levels=5)
    model = tiny(data, nr_logistic_mix=2)
    # nearly all mass on one level: that level is drawn every time
    for level in range(5):
        spike = one_logistic(-1.0 + 0.5 * level, -7.0, 2).repeat(50, 1)
        assert model.sample_from(spike, torch.Generator().manual_seed(level)).eq(level).all()
    # a spread mixture: the draw frequencies match the bin probabilities
    params = torch.tensor([[0.3, -0.2, -0.6, 0.7, -1.2, -0.8]]).repeat(20000, 1)
    draws = model.sample_from(params, torch.Generator().manual_seed(0))  # (20000, 1)
    freq = torch.bincount(draws.flatten(), minlength=5) / len(draws)
    torch.testing.assert_close(freq, model.level_log_probs(params[:1]).exp()[0, 0],
                               atol=0.015, rtol=0)
    again = model.sample_from(params[:100], torch.Generator().manual_seed(0))
    assert torch.equal(again, model.sample_from(params[:100], torch.Generator().manual_seed(0)))


def test_a_short_training_lowers_the_loss():
    model = tiny(dropout=0.0, lr=1e-2)
    batch = torch.randint(17, (8, 1, 8, 8), generator=torch.Generator().manual_seed(0)) // 4 * 4
    with torch.no_grad():
        before = model.eval().loss(batch)["bits_per_dim"].item()
    model.train()
    optimizers = model.configure_optimizers()
    for _ in range(25):
        model.training_step(batch, optimizers)
    with torch.no_grad():
        after = model.eval().loss(batch)["bits_per_dim"].item()
    assert after < before - 0.5, (before, after)
    samples = model.sample(2, generator=torch.Generator().manual_seed(0))
    assert samples.shape == (2, 1, 8, 8) and samples.dtype == torch.int64


@pytest.mark.parametrize("key,value", [("nr_filters", "0"), ("nr_resnet", "0"), ("scales", "0"),
                                       ("scales", "7"), ("nr_logistic_mix", "0"),
                                       ("dropout", "1.0"), ("dropout", "-0.1")])
def test_invalid_config_values_are_bad_config(key, value):
    with pytest.raises(BadConfig, match=key):
        build_config(PixelCNNppConfig, {key: value})
