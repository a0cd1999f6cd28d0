"""The per-pixel likelihoods of genzoo.registry.distributions: the discretized logistic decoder
(a single logistic on [-1, 1] cut into the levels) is a proper distribution over the levels,
equal to the logistic CDF's differences over each level's bin, and samples and means fit it."""

from __future__ import annotations

import pytest
import torch

from genzoo.registry.distributions import PixelLikelihood


def logistic_params(n, channels, height, width, seed, log_scale=(-5.0, 2.0)) -> torch.Tensor:
    """Random (N, 2C, H, W) parameters: per channel a mean on and beyond [-1, 1] and a
    log-scale drawn uniformly from ``log_scale``."""
    generator = torch.Generator().manual_seed(seed)
    mean = 1.5 * torch.randn(n, channels, 1, height, width, generator=generator)
    low, high = log_scale
    scale = low + (high - low) * torch.rand(n, channels, 1, height, width, generator=generator)
    return torch.cat([mean, scale], 2).view(n, 2 * channels, height, width)


def reference_probs(params: torch.Tensor, levels: int) -> torch.Tensor:
    """P(level k) = F(upper edge of k) - F(lower edge of k), F the logistic CDF, in float64;
    the lowest level's bin reaches down to -inf and the highest's up to +inf."""
    n, twice_c, height, width = params.shape
    p = params.double().view(n, twice_c // 2, 2, height, width)
    mean, scale = p[:, :, 0:1], p[:, :, 1:2].clamp(-7.0, 7.0).exp()  # (N, C, 1, H, W) each
    edges = torch.linspace(-1.0, 1.0, levels, dtype=torch.float64)[:-1] + 1.0 / (levels - 1)
    cdf = torch.sigmoid((edges.view(1, 1, -1, 1, 1) - mean) / scale)  # (N, C, L-1, H, W)
    zeros, ones = torch.zeros_like(cdf[:, :, :1]), torch.ones_like(cdf[:, :, :1])
    return torch.cat([cdf, ones], 2) - torch.cat([zeros, cdf], 2)  # (N, C, L, H, W)


@pytest.mark.parametrize("levels", [17, 256])
def test_logistic_probabilities_sum_to_one_and_are_the_cdf_differences(levels):
    likelihood = PixelLikelihood("logistic", channels=2, levels=levels)
    assert likelihood.kind == "logistic" and likelihood.n_params == 4  # a mean, a log-scale
    params = logistic_params(3, 2, 4, 5, seed=levels)
    log_probs = likelihood.level_log_probs(params)
    probs = log_probs.exp()
    assert probs.shape == (3, 2, levels, 4, 5)
    torch.testing.assert_close(probs.double().sum(2), torch.ones(3, 2, 4, 5, dtype=torch.float64),
                               atol=1e-5, rtol=0)
    torch.testing.assert_close(probs.double(), reference_probs(params, levels),
                               atol=1e-5, rtol=0)
    # log_prob is the sum over pixels of the chosen levels' log-probabilities
    x = torch.randint(levels, (3, 2, 4, 5), generator=torch.Generator().manual_seed(0))
    chosen = log_probs.gather(2, x.unsqueeze(2)).squeeze(2).flatten(1).sum(1)
    torch.testing.assert_close(likelihood.log_prob(params, x), chosen)


@pytest.mark.parametrize("levels", [17, 256])
def test_extreme_scales_still_give_a_distribution(levels):
    """Scales beyond the clamp at e^-7 and e^7, and means far outside [-1, 1]: no NaN, no
    mass lost (a narrow logistic puts it all on one level, a wide one spreads it)."""
    likelihood = PixelLikelihood("logistic", channels=1, levels=levels)
    params = logistic_params(4, 1, 3, 3, seed=1, log_scale=(-20.0, 20.0))
    params[0, 0] = 50.0  # far above the top level
    log_probs = likelihood.level_log_probs(params)
    assert bool(torch.isfinite(log_probs).all())
    torch.testing.assert_close(log_probs.exp().double().sum(2),
                               torch.ones(4, 1, 3, 3, dtype=torch.float64), atol=1e-5, rtol=0)


@pytest.mark.parametrize("levels", [17, 256])
def test_logistic_sample_and_mean_have_the_shapes_and_range_of_the_levels(levels):
    likelihood = PixelLikelihood("logistic", channels=2, levels=levels)
    params = logistic_params(5, 2, 3, 4, seed=2)
    draws = likelihood.sample(params, torch.Generator().manual_seed(0))
    assert draws.shape == (5, 2, 3, 4) and draws.dtype == torch.int64
    assert int(draws.min()) >= 0 and int(draws.max()) <= levels - 1
    assert torch.equal(draws, likelihood.sample(params, torch.Generator().manual_seed(0)))
    means = likelihood.mean(params)
    assert means.shape == (5, 2, 3, 4) and means.dtype == torch.float32
    assert float(means.min()) >= 0.0 and float(means.max()) <= levels - 1


def test_a_narrow_logistic_on_a_level_samples_and_means_that_level():
    """Mean at the centre of level k on [-1, 1], scale e^-7: nearly all mass on k."""
    levels = 17
    likelihood = PixelLikelihood("logistic", channels=1, levels=levels)
    k = torch.tensor([0, 5, 16]).view(3, 1, 1, 1).expand(3, 1, 2, 2)
    centre = k.float() * (2.0 / (levels - 1)) - 1.0
    params = torch.cat([centre, torch.full_like(centre, -7.0)], 1)  # (3, 2, 2, 2)
    assert torch.equal(likelihood.sample(params, torch.Generator().manual_seed(0)), k)
    torch.testing.assert_close(likelihood.mean(params), k.float(), atol=1e-3, rtol=0)
