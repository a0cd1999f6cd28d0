"""Gumbel-softmax VAE: the discrete KL, the Gumbel-max and Gumbel-softmax draws, the temperature
schedule, the discrete model's ELBO and IWAE bounds (against log p(x) summed over every code),
bad temperatures, and a short training on digits."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
from click.testing import CliRunner
from torch.distributions import Categorical, kl_divergence

from genzoo.plugins.gumbel_vae import (
    GumbelSoftmaxVAE,
    GumbelVAEConfig,
    categorical_kl,
    gumbel_noise,
    gumbel_softmax,
)
from genzoo.registry import DataInfo
from genzoo.registry.config import build_config
from genzoo.registry.errors import BadConfig

from bound_helpers import mean_and_stderr, trained_on_digits

DIGITS = DataInfo(kind="image", shape=(1, 8, 8), levels=17)
BINARY_2X2 = DataInfo(kind="image", shape=(1, 2, 2), levels=2)
ALL_2X2 = torch.tensor(list(itertools.product(range(2), repeat=4))).view(16, 1, 2, 2)


def _logits(n=4, vars_=3, k=5, seed=0):
    return 2.0 * torch.randn(n, vars_, k, generator=torch.Generator().manual_seed(seed))


def test_discrete_kl_is_the_sum_over_every_code():
    """KL(q || p) = sum_z q(z) log q(z) / p(z) over all K^N codes, p uniform; and per variable
    it is torch's KL between categoricals."""
    logits = _logits(n=3, vars_=3, k=4)
    log_q = logits.log_softmax(-1)
    brute = []
    for row in log_q:
        total = 0.0
        for code in itertools.product(range(4), repeat=3):
            log_qz = sum(float(row[n, c]) for n, c in enumerate(code))
            total += math.exp(log_qz) * (log_qz - 3 * math.log(1 / 4))
        brute.append(total)
    torch.testing.assert_close(categorical_kl(logits), torch.tensor(brute))
    uniform = Categorical(logits=torch.zeros_like(logits))
    torch.testing.assert_close(categorical_kl(logits),
                               kl_divergence(Categorical(logits=logits), uniform).sum(-1))


def test_discrete_kl_is_zero_for_uniform_logits_and_positive_otherwise():
    assert categorical_kl(torch.zeros(2, 5, 10)).abs().max() < 1e-6
    assert categorical_kl(torch.full((1, 3, 4), 7.5)).abs().max() < 1e-6  # a shift is uniform
    assert bool((categorical_kl(_logits()) > 0).all())
    one_hot = torch.tensor([[[50.0, 0.0, 0.0]]])  # q puts all mass on one of K = 3 values
    assert categorical_kl(one_hot).item() == pytest.approx(math.log(3), abs=1e-4)


def test_gumbel_max_draws_follow_q():
    """argmax(l + g), g ~ Gumbel: the frequencies of 20,000 draws match softmax(l) within 5
    standard errors."""
    model = GumbelSoftmaxVAE(GumbelVAEConfig(latent_vars=2, categories=4, channels=4), DIGITS)
    logits = _logits(n=1, vars_=2, k=4, seed=3)
    draws = model.one_hot_samples(logits, 20000, torch.Generator().manual_seed(0))
    assert draws.shape == (20000, 1, 2, 4) and bool((draws.sum(-1) == 1).all())
    freq, q = draws.mean(0), logits.softmax(-1)
    stderr = (q * (1 - q) / 20000).sqrt()
    assert bool(((freq - q).abs() < 5 * stderr + 1e-6).all()), (freq, q)


def test_relaxed_sample_tends_to_the_one_hot_draw_as_tau_falls():
    logits = _logits(n=64, vars_=5, k=6, seed=1)
    g = gumbel_noise(logits.shape, torch.Generator().manual_seed(2))
    hard = torch.nn.functional.one_hot((logits + g).argmax(-1), 6).float()
    gaps = []
    for tau in (5.0, 1.0, 0.5, 0.1, 0.01):
        y = gumbel_softmax(logits, tau, g)
        torch.testing.assert_close(y.sum(-1), torch.ones(64, 5))  # points of the simplex
        assert torch.equal(y.argmax(-1), hard.argmax(-1))  # the same value at every tau
        gaps.append(float((y - hard).abs().sum(-1).mean()))
    assert gaps == sorted(gaps, reverse=True) and gaps[0] > 0.5 and gaps[-1] < 1e-2, gaps


def test_straight_through_is_one_hot_forward_and_relaxed_backward():
    logits = _logits(n=2, vars_=3, k=4, seed=4).requires_grad_()
    g = gumbel_noise(logits.shape, torch.Generator().manual_seed(5))
    weights = torch.randn(2, 3, 4, generator=torch.Generator().manual_seed(6))
    hard = gumbel_softmax(logits, 0.7, g, hard=True)
    assert bool(((hard == 0) | (hard == 1)).all()) and bool((hard.sum(-1) == 1).all())
    (soft_grad,) = torch.autograd.grad((gumbel_softmax(logits, 0.7, g) * weights).sum(), logits)
    (hard_grad,) = torch.autograd.grad((hard * weights).sum(), logits)
    torch.testing.assert_close(hard_grad, soft_grad)


def test_temperature_anneals_as_jang_et_al_and_survives_a_state_round_trip():
    config = GumbelVAEConfig(temperature=2.0, min_temperature=0.5, anneal_rate=0.01,
                             channels=4, latent_vars=3, categories=4)
    model = GumbelSoftmaxVAE(config, DIGITS)
    for t in (0, 10, 50, 138, 139, 1000):
        model.steps_taken.fill_(t)
        assert model.temperature() == pytest.approx(max(0.5, 2.0 * math.exp(-0.01 * t)))
    model.steps_taken.zero_()
    optimizers, x = model.configure_optimizers(), torch.randint(17, (4, 1, 8, 8))
    taus = [model.training_step(x, optimizers)["temperature"] for _ in range(3)]
    assert taus == pytest.approx([2.0, 2.0 * math.exp(-0.01), 2.0 * math.exp(-0.02)])
    fresh = GumbelSoftmaxVAE(config, DIGITS)
    fresh.load_state_dict(model.state_dict())
    assert int(fresh.steps_taken) == 3 and fresh.temperature() == model.temperature()


@pytest.mark.parametrize("overrides,message", [
    ({"temperature": "0"}, "temperature must be greater than 0.*got 0.0"),
    ({"temperature": "-1"}, "temperature must be greater than 0.*got -1.0"),
    ({"min_temperature": "0"}, "min_temperature must be greater than 0.*got 0.0"),
    ({"min_temperature": "-1"}, "min_temperature must be greater than 0.*got -1.0"),
    ({"min_temperature": "2"}, r"min_temperature \(2.0\) must be at most temperature \(1.0\)"),
    ({"categories": "1"}, "categories must be at least 2, got 1"),
])
def test_bad_config_names_the_value(overrides, message):
    with pytest.raises(BadConfig, match=message):
        build_config(GumbelVAEConfig, overrides)


@pytest.mark.parametrize("setting", ["temperature=0", "temperature=-1"])
def test_cli_refuses_a_temperature_at_or_below_zero_in_one_line(setting):
    from genzoo.registry.cli import cli

    result = CliRunner().invoke(cli, ["train", "gumbel-vae", "--dataset", "digits",
                                      "--set", setting])
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "temperature must be greater than 0" in lines[0], lines


def test_log_prob_is_the_discrete_elbo_and_reproducible():
    torch.manual_seed(0)
    model = GumbelSoftmaxVAE(GumbelVAEConfig(elbo_samples=3, channels=8), DIGITS).eval()
    x = torch.randint(17, (5, 1, 8, 8))
    with torch.no_grad():
        elbo = model.log_prob(x)
        assert elbo.shape == (5,) and torch.equal(elbo, model.log_prob(x))
        logits = model.logits(x)
        z = model.one_hot_samples(logits, 3, torch.Generator().manual_seed(model.eval_seed))
        recon = torch.stack([model.recon_log_prob(z_s, x) for z_s in z])  # one-hot codes
    assert bool(((z == 0) | (z == 1)).all())
    torch.testing.assert_close(elbo, recon.mean(0) - categorical_kl(logits))


@torch.no_grad()
def test_bounds_lie_below_log_p_x_summed_over_every_code():
    """With N = 2 variables of K = 3 values, log p(x) = logsumexp_z log p(x|z) + log p(z) over
    all 9 codes is exact: it sums to 1 over the 16 binary 2x2 images, the exact ELBO lies below
    it, log_prob estimates that ELBO, and IWAE-K (averaged over draws) lies between the two."""
    torch.manual_seed(0)
    model = GumbelSoftmaxVAE(GumbelVAEConfig(latent_vars=2, categories=3, channels=8,
                                             elbo_samples=4096), BINARY_2X2).eval()
    for parameter in [*model.decoder.parameters(), *model.encoder.parameters()]:
        parameter.mul_(3.0)  # a sharp decoder and posterior: gaps wide enough to see
    codes = torch.tensor(list(itertools.product(range(3), repeat=2)))  # (9, N)
    z = torch.nn.functional.one_hot(codes, 3).float()  # (9, N, K)
    log_px_z = torch.stack([model.recon_log_prob(z, image.expand(9, 1, 2, 2))
                            for image in ALL_2X2])  # (16 images, 9 codes)
    log_px = torch.logsumexp(log_px_z - 2 * math.log(3), 1)
    assert float(log_px.double().exp().sum()) == pytest.approx(1.0, abs=1e-5)

    log_q = model.logits(ALL_2X2).log_softmax(-1)  # (16, N, K)
    q_code = (log_q[:, None] * z).sum((-2, -1)).exp()  # q(z|x) of every code: (16, 9)
    exact_elbo = (q_code * log_px_z).sum(1) - categorical_kl(model.logits(ALL_2X2))
    assert bool((exact_elbo < log_px - 1e-3).all())
    torch.testing.assert_close(model.log_prob(ALL_2X2), exact_elbo, atol=0.05, rtol=0)
    draws = torch.stack([model.iwae_log_prob(ALL_2X2, 10, torch.Generator().manual_seed(r))
                         for r in range(200)]).double()  # (draws, 16)
    iwae, err = draws.mean(0), draws.std(0) / math.sqrt(len(draws))
    assert bool((iwae > exact_elbo + 3 * err).all())  # tighter than the ELBO, clearly
    assert bool((iwae < log_px + 3 * err).all())  # E[L_K] <= log p(x), up to the draws' noise
    # exp(L_K) is an unbiased estimate of p(x) itself (Burda et al.): its mean over the draws
    weights = draws.exp()
    gap = (weights.mean(0) - log_px.double().exp()).abs()
    assert bool((gap < 5 * weights.std(0) / math.sqrt(len(draws)) + 1e-6).all()), gap


@pytest.fixture(scope="module")
def trained():
    """A small Gumbel-softmax VAE after 400 steps on digits, and 64 test images; beta = 0.5
    (the training loss only) keeps the code in use this early."""
    torch.manual_seed(0)
    config = GumbelVAEConfig(latent_vars=10, channels=16, lr=3e-3, beta=0.5)
    return trained_on_digits(GumbelSoftmaxVAE(config, DIGITS))


@torch.no_grad()
def test_iwae_bound_is_above_the_elbo_and_grows_with_k(trained):
    model, x = trained
    seed = iter(range(100))

    def bound(k):
        return model.iwae_log_prob(x, k, generator=torch.Generator().manual_seed(next(seed)))

    elbo = model.log_prob(x)
    iwae = {k: bound(k) for k in (1, 10, 50)}
    # L_1 <= L_10 <= L_50 on average: paired per-image differences, up to 3 standard errors
    for low, high in ((1, 10), (10, 50)):
        mean, err = mean_and_stderr(iwae[high] - iwae[low])
        assert mean > -3 * err, (low, high, mean, err)
    mean, err = mean_and_stderr(iwae[50] - elbo)
    assert mean > 3 * err and mean > 0.05, (mean, err)
    with pytest.raises(BadConfig, match="K >= 1.*0"):
        model.iwae_log_prob(x, 0)


def test_sample_encode_decode_and_the_latent_explorer(trained):
    from genzoo.registry import explore

    model, x = trained
    samples = model.sample(5, generator=torch.Generator().manual_seed(0))
    assert samples.dtype == torch.int64 and samples.shape == (5, 1, 8, 8)
    assert int(samples.min()) >= 0 and int(samples.max()) < 17
    codes = model.encode(x[:4])
    assert codes.shape == (4, 10) == (4, *model.latent_shape) and codes.dtype == torch.int64
    means = model.decode(codes)
    torch.testing.assert_close(means, model.decode(torch.nn.functional.one_hot(codes, 10).float()))
    assert means.shape == (4, 1, 8, 8) and 0.0 <= float(means.min()) <= float(means.max()) <= 16
    recon = model.reconstruct(x)  # the code keeps something of its own image
    assert (recon - x).abs().mean() < 0.8 * (recon - x.roll(1, 0)).abs().mean()
    assert explore.interpolation(model, x[0], x[1], steps=4).shape == (4, 1, 8, 8)
    counts, perplexity = explore.codebook_usage(model, explore.encode_all(model, x))
    assert counts.shape == (10,) and counts.sum() == 64 * 10 and 1 <= perplexity <= 10


def test_a_short_training_run_stores_the_elbo_in_bits_per_dim(registry):
    from genzoo.registry.store import RunStore
    from genzoo.registry.training import LoopSettings, start_run

    record = start_run(registry, RunStore(), "gumbel-vae", "digits", steps=40,
                       overrides={"channels": "8", "batch_size": "32", "hard": "true"},
                       settings=LoopSettings(progress=False))
    assert record.status == "completed" and record.metrics["bound"] == "elbo"
    bits = record.metrics["test_bits_per_dim"]
    assert 0 < bits < math.log2(17) + 0.2, bits  # about uniform over the levels, or better
