"""DDPM: the bound's terms (closed-form L_T, KLs >= 0, a decoder that sums to 1, a bound below 1 on
every binary 2x2 image), DDIM with eta = 1 as ancestral sampling, seeds, the schedules, the
forward process's moments, refusals, and learning on digits. Tiny configs: T = 20, width 8."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
from torch.distributions import Normal, kl_divergence

from genzoo.plugins._diffusion import (
    ddim_timesteps,
    discretized_gaussian_log_likelihood,
    make_betas,
    stratified_timesteps,
)
from genzoo.plugins.ddpm import DDPM, DDPMConfig
from genzoo.registry import DataInfo
from genzoo.registry.config import build_config
from genzoo.registry.errors import BadConfig, BadData

SMALL = DataInfo(kind="image", shape=(1, 5, 5), levels=4)
BINARY_2X2 = DataInfo(kind="image", shape=(1, 2, 2), levels=2)
T = 20


def make(info: DataInfo = SMALL, seed: int = 0, **overrides) -> DDPM:
    """A tiny DDPM whose zero-initialized layers are given random weights, so that its network
    computes something other than the identity and the checks below can fail."""
    config = build_config(DDPMConfig, {"timesteps": T, "channels": 8, **overrides})
    torch.manual_seed(seed)
    model = DDPM(config, info)
    with torch.no_grad():
        for p in model.net.parameters():
            if not p.any():
                p.normal_(0.0, 0.3)
    return model.eval()


def all_binary_2x2() -> torch.Tensor:
    return torch.tensor(list(itertools.product(range(2), repeat=4))).view(16, 1, 2, 2)


def fit(model: DDPM, data: torch.Tensor, steps: int, batch: int = 32, seed: int = 0) -> DDPM:
    torch.manual_seed(seed)
    model.train()
    (optimizer,) = model.configure_optimizers()
    g = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        model.training_step(data[torch.randint(len(data), (batch,), generator=g)], [optimizer])
    return model.eval()


# -- 1. the bound's terms ------------------------------------------------------------------------


@pytest.mark.parametrize("overrides", [{}, {"objective": "simple"}, {"output": "eps"},
                                       {"objective": "simple", "variance": "beta",
                                        "schedule": "linear"}])
def test_bound_terms_sum_to_log_prob_and_each_term_is_a_divergence(overrides):
    model = make(**overrides)
    x = torch.randint(4, (6, 1, 5, 5), generator=torch.Generator().manual_seed(1))
    terms = model.bound_terms(x)
    assert terms.shape == (6, T + 1)
    lp = model.log_prob(x)
    assert torch.equal(lp, -terms.sum(1))
    assert torch.equal(model.log_prob(x), lp)  # the eval seed: the same batch, the same number
    assert bool((terms[:, 1:] >= -1e-9).all())  # KLs
    assert bool((terms[:, 0] > 0).all())  # -log of a probability below 1
    # L_T = KL(N(sqrt(abar_T) x_0, 1 - abar_T) || N(0, 1)), from the betas themselves
    abar_T = torch.prod(1 - make_betas(model.config.schedule, T)[1:])
    x0 = x.double() * (2 / 3) - 1
    q = Normal(abar_T.sqrt() * x0, (1 - abar_T).sqrt())
    expected = kl_divergence(q, Normal(0.0, 1.0)).flatten(1).sum(1)
    torch.testing.assert_close(terms[:, T], expected)


def test_the_bound_is_minus_log_prob_in_the_contract_sense():
    """A wrong-shape batch, or floats, are refused with the data check's one line."""
    model = make()
    with pytest.raises(BadData, match="shape"):
        model.log_prob(torch.zeros(2, 1, 4, 4, dtype=torch.long))
    with pytest.raises(BadData, match="integer levels"):
        model.log_prob(torch.zeros(2, 1, 5, 5))
    with pytest.raises(BadData, match="integer levels"):
        model.log_prob(torch.full((2, 1, 5, 5), 4))


# -- 2. a bound on a probability, and the discrete decoder ---------------------------------------


@pytest.mark.parametrize("overrides", [{"objective": "simple"}, {"objective": "hybrid"},
                                       {"objective": "hybrid", "output": "eps"}])
def test_the_bound_over_every_binary_2x2_image_sums_to_at_most_one(overrides):
    """Trained on two of the 16 images (so the bound is far from trivial), the bounded
    probabilities still sum to at most 1 over all of them.

    Each term of log_prob is scored at one draw of x_t, so one draw's number can land above
    log p(x) (its spread here is 1-2 nats per image); its expectation, the bound, cannot. The
    average over 100 eval seeds stands for it (its own spread: about 0.2 nats)."""
    model = make(BINARY_2X2, **overrides)
    images = all_binary_2x2()
    fit(model, images[[3, 12]], steps=150)
    draws = []
    for seed in range(100):
        model.eval_seed = seed
        draws.append(model.log_prob(images))
    bound = torch.stack(draws).mean(0)  # (16,)
    assert float(bound.exp().sum()) <= 1 + 1e-6
    assert float(bound[[3, 12]].exp().sum()) > 0.01  # it learned where the mass is


@pytest.mark.parametrize("levels", [2, 4, 17])
def test_the_discrete_decoder_sums_to_one_over_the_levels(levels):
    g = torch.Generator().manual_seed(0)
    mean = torch.cat([torch.randn(200, generator=g, dtype=torch.float64) * 2,
                      torch.tensor([-40.0, 40.0, 0.0, 1.0], dtype=torch.float64)])
    logvar = torch.cat([torch.randn(200, generator=g, dtype=torch.float64) * 4 - 4,
                        torch.tensor([math.log(1e-4), math.log(1e-4), math.log(1e-8),
                                      math.log(1e4)], dtype=torch.float64)])
    grid = torch.linspace(-1, 1, levels, dtype=torch.float64)[:, None]  # (L, 1)
    log_p = discretized_gaussian_log_likelihood(grid, mean, logvar, levels)  # (L, M)
    assert bool(torch.isfinite(log_p).all())
    torch.testing.assert_close(torch.logsumexp(log_p, 0).exp(),
                               torch.ones(len(mean), dtype=torch.float64))
    # a narrow Gaussian on a level puts (nearly) all its mass in that level's bin
    sharp = discretized_gaussian_log_likelihood(grid, grid, torch.full_like(grid, -12.0), levels)
    assert bool((sharp > -1e-6).all())


def test_the_levels_output_snaps_to_the_right_level_at_low_noise():
    """At t = 1 of T = 1000 (sigma_1 = 0.01, a sixth of half a bin) x^_0 is each pixel's own
    level, whatever the network's logits say."""
    model = make(DataInfo(kind="image", shape=(1, 4, 4), levels=17), timesteps=1000,
                 schedule="linear")
    x = torch.randint(17, (8, 1, 4, 4), generator=torch.Generator().manual_seed(0))
    t = torch.ones(8, dtype=torch.long)
    xt = model.q_sample(x, t, torch.Generator().manual_seed(1))
    _, x0, _ = model.predict(xt, t)
    assert torch.equal(model.quantize(x0), x)
    torch.testing.assert_close(x0, model.scale(x), atol=1e-6, rtol=0)


# -- 3. DDIM with eta = 1 is ancestral sampling ------------------------------------------------


@pytest.mark.parametrize("output", ["levels", "eps"])
def test_ddim_with_eta_one_on_every_step_is_ancestral_sampling(output):
    model = make(output=output, objective="simple", variance="posterior")
    ancestral, _ = model._chain(5, list(range(T, 0, -1)), torch.Generator().manual_seed(7), None)
    ddim, _ = model._chain(5, ddim_timesteps(T, T), torch.Generator().manual_seed(7), 1.0)
    torch.testing.assert_close(ddim, ancestral, atol=1e-5, rtol=0)
    assert torch.equal(model.sample(5, torch.Generator().manual_seed(7)),
                       model.sample_steps(5, T, torch.Generator().manual_seed(7), eta=1.0))


def test_ancestral_sampling_with_sigma_beta_differs_from_ddim_eta_one():
    model = make(objective="simple", variance="beta")
    ancestral, _ = model._chain(5, list(range(T, 0, -1)), torch.Generator().manual_seed(7), None)
    ddim, _ = model._chain(5, ddim_timesteps(T, T), torch.Generator().manual_seed(7), 1.0)
    assert not torch.allclose(ddim, ancestral, atol=1e-3)


# -- 4. seeds, fewer steps, refusals -------------------------------------------------------------


def test_samples_follow_the_generator_and_fewer_steps_keep_the_format():
    model = make()

    def gen(seed):
        return torch.Generator().manual_seed(seed)

    first = model.sample(4, gen(3))
    assert first.dtype == torch.int64 and first.shape == (4, 1, 5, 5)
    assert torch.equal(first, model.sample(4, gen(3)))
    assert not torch.equal(first, model.sample(4, gen(4)))
    for steps, eta in [(1, 0.0), (5, 0.0), (7, 0.5), (T, 0.0)]:
        x = model.sample_steps(6, steps, gen(1), eta=eta)
        assert x.dtype == torch.int64 and x.shape == (6, 1, 5, 5)
        assert int(x.min()) >= 0 and int(x.max()) < 4
        assert torch.equal(x, model.sample_steps(6, steps, gen(1), eta=eta))
    assert not torch.equal(model.sample_steps(6, 5, gen(1)), model.sample_steps(6, 5, gen(2)))
    assert model.max_sampling_steps == model.num_timesteps == T


@pytest.mark.parametrize(("steps", "eta"), [(0, 0.0), (T + 1, 0.0), (-3, 0.0), (5, 2.0),
                                            (5, -0.1)])
def test_bad_steps_or_eta_are_refused(steps, eta):
    model = make()
    with pytest.raises(BadConfig):
        model.sample_steps(2, steps, eta=eta)
    with pytest.raises(BadConfig):
        model.reverse_frames(2, steps, eta=eta)


def test_reverse_frames_keep_snapshots_of_the_chain_that_sample_steps_runs():
    model = make()
    frames = model.reverse_frames(3, 10, torch.Generator().manual_seed(5), frames=4)
    assert frames["t"][0] == T and frames["t"] == sorted(frames["t"], reverse=True)
    assert len(frames["t"]) == 4
    assert frames["x_t"].shape == frames["x0_pred"].shape == (4, 3, 1, 5, 5)
    assert torch.equal(frames["samples"], model.sample_steps(3, 10,
                                                             torch.Generator().manual_seed(5)))
    x0 = frames["x0_pred"]
    assert float(x0.min()) >= 0 and float(x0.max()) <= 3  # level units, clipped


# -- 5. schedules --------------------------------------------------------------------------------


@pytest.mark.parametrize("schedule", ["linear", "cosine"])
@pytest.mark.parametrize("steps", [1, 2, 20, 1000])
def test_abar_decreases_inside_zero_one(schedule, steps):
    abar = torch.cumprod(1 - make_betas(schedule, steps)[1:], 0)
    assert bool((abar > 0).all()) and bool((abar < 1).all())
    assert bool((abar[1:] < abar[:-1]).all())


def test_the_schedules_match_their_formulas():
    steps, s = 1000, 0.008
    betas = make_betas("linear", steps)[1:]
    torch.testing.assert_close(betas[[0, -1]], torch.tensor([1e-4, 0.02], dtype=torch.float64))
    assert make_betas("linear", 250)[1:][[0, -1]].tolist() == pytest.approx([4e-4, 0.08])
    abar = torch.cumprod(1 - make_betas("cosine", steps)[1:], 0)
    t = torch.arange(1, steps + 1, dtype=torch.float64)

    def f(u):
        return torch.cos((u / steps + s) / (1 + s) * math.pi / 2) ** 2

    formula = f(t) / f(torch.zeros((), dtype=torch.float64))
    # beta_T is clipped at 0.999 (the formula's abar_T is 0): every earlier t matches
    torch.testing.assert_close(abar[:-1], formula[:-1], rtol=1e-9, atol=1e-12)
    assert float(make_betas("cosine", steps)[-1]) == pytest.approx(0.999)


def test_bad_names_are_refused_with_the_choices():
    with pytest.raises(BadConfig, match="linear, cosine"):
        build_config(DDPMConfig, {"schedule": "quadratic"})
    with pytest.raises(BadConfig, match="linear, cosine"):
        DDPM(DDPMConfig(schedule="quadratic"), SMALL)
    with pytest.raises(BadConfig, match="simple, hybrid"):
        build_config(DDPMConfig, {"objective": "vlb"})


# -- 6. the forward process ----------------------------------------------------------------------


@pytest.mark.parametrize("step", [1, 7, T])
def test_q_sample_has_the_forward_process_moments(step):
    model = make()
    draws = 40_000
    x = torch.tensor([0, 1, 2, 3, 3]).repeat(5).view(1, 1, 5, 5).expand(draws, -1, -1, -1)
    xt = model.q_sample(x, torch.full((draws,), step), torch.Generator().manual_seed(step))
    abar = float(torch.prod(1 - make_betas("cosine", T)[1:step + 1]))
    mean, var = math.sqrt(abar) * model.scale(x[0]), 1 - abar
    # standard errors: of a mean sqrt(var / M), of a normal's variance var sqrt(2 / M)
    assert bool(((xt.mean(0) - mean).abs() < 6 * math.sqrt(var / draws)).all())
    assert bool(((xt.var(0) - var).abs() < 6 * var * math.sqrt(2 / draws)).all())
    with pytest.raises(BadConfig):
        model.q_sample(x[:2], torch.tensor([0, 1]))


# -- 7. refusals, the stratified estimate, info --------------------------------------------------


def test_series_data_is_refused():
    with pytest.raises(BadData, match="ddpm models discrete images"):
        DDPM(DDPMConfig(), DataInfo(kind="series", shape=(1,)))


def test_the_stratified_estimate_is_labelled_and_covers_every_term_once():
    model = make(bound_samples=4)
    assert model.bound_name == "vlb-stratified-4" and make().bound_name == "vlb"
    t, weight = stratified_timesteps(T, 4, 3, torch.Generator().manual_seed(0), "cpu")
    assert t.shape == weight.shape == (5, 3)
    assert t[0].tolist() == [1, 1, 1] and bool((weight.sum(0) == T).all())
    edges = [2] + (2 + weight[1:, 0].cumsum(0)).long().tolist()  # strata [edges[i], edges[i+1])
    assert edges[-1] == T + 1
    for i in range(4):
        assert bool(((t[i + 1] >= edges[i]) & (t[i + 1] < edges[i + 1])).all())
    x = torch.randint(4, (3, 1, 5, 5), generator=torch.Generator().manual_seed(1))
    terms = model.bound_terms(x)
    assert int((terms[:, 1:T] != 0).sum(1).max()) <= 4
    torch.testing.assert_close(terms[:, T], make().bound_terms(x)[:, T])


def test_info_names_the_chain_and_the_variance():
    assert make().info() == {"timesteps": T, "schedule": "cosine", "objective": "hybrid",
                             "variance": "learned", "output": "levels"}
    assert make(objective="simple", variance="beta").info()["variance"] == "beta"


# -- 8. learning ---------------------------------------------------------------------------------


def test_a_short_training_on_digits_lowers_the_held_out_bound():
    """100 steps (a few seconds) take the bound on 64 test digits from about 6.9 bits/dim (the
    untrained net: each pixel's posterior mean under a uniform prior) to about 4.3."""
    from genzoo.plugins.datasets import load_digits

    data = load_digits()
    torch.manual_seed(0)
    model = DDPM(build_config(DDPMConfig, {"timesteps": 50, "channels": 8}),
                 DataInfo(kind="image", shape=(1, 8, 8), levels=17)).eval()
    held_out, nats_per_bit = data.test[:64], 64 * math.log(2)
    before = -float(model.log_prob(held_out).mean()) / nats_per_bit
    fit(model, data.train, steps=100)
    after = -float(model.log_prob(held_out).mean()) / nats_per_bit
    assert after < before - 1.5 and after < 5.0, (before, after)
