"""VAE: the closed-form KL, the reparameterization trick, the ELBO's parts, KL warm-up, the IWAE
bound's ordering (ELBO <= IWAE-K, non-decreasing in K) and learning on digits."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
from torch.distributions import Normal, kl_divergence

from genzoo.plugins.vae import VAE, VAEConfig, gaussian_kl, reparameterize
from genzoo.registry import DataInfo
from genzoo.registry.config import build_config
from genzoo.registry.errors import BadConfig, BadData

from bound_helpers import mean_and_stderr, trained_on_digits

DIGITS = DataInfo(kind="image", shape=(1, 8, 8), levels=17)
SMALL = DataInfo(kind="image", shape=(1, 5, 5), levels=4)
BINARY_2X2 = DataInfo(kind="image", shape=(1, 2, 2), levels=2)


def _posterior_params(n=6, latent=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, latent, generator=g), torch.randn(n, latent, generator=g)


def test_closed_form_kl_equals_torch_distributions():
    mu, logvar = _posterior_params()
    q, prior = Normal(mu, (0.5 * logvar).exp()), Normal(0.0, 1.0)
    torch.testing.assert_close(gaussian_kl(mu, logvar), kl_divergence(q, prior).sum(-1))
    assert bool((gaussian_kl(mu, logvar) >= 0).all())
    assert gaussian_kl(torch.zeros(1, 3), torch.zeros(1, 3)).item() == 0.0  # q = p


def test_closed_form_kl_matches_a_monte_carlo_estimate():
    """KL = E_q[log q(z) - log p(z)]: the average over M draws lies within 5 standard errors."""
    mu, logvar = _posterior_params(n=4, latent=3, seed=1)
    q, prior = Normal(mu, (0.5 * logvar).exp()), Normal(0.0, 1.0)
    eps = torch.randn(20000, *mu.shape, generator=torch.Generator().manual_seed(2))
    z = reparameterize(mu, logvar, eps)  # (M, N, L)
    log_ratio = (q.log_prob(z) - prior.log_prob(z)).sum(-1)  # (M, N)
    estimate, stderr = log_ratio.mean(0), log_ratio.std(0) / math.sqrt(len(eps))
    gap = (estimate - gaussian_kl(mu, logvar)).abs()
    assert bool((gap < 5 * stderr).all()), (gap, stderr)


def test_reparameterized_z_has_the_posterior_moments_and_carries_gradient():
    mu = torch.tensor([1.5, -2.0, 0.0], requires_grad=True)
    logvar = torch.tensor([0.0, math.log(0.25), math.log(4.0)], requires_grad=True)
    draws = 20000
    eps = torch.randn(draws, 3, generator=torch.Generator().manual_seed(0))
    z = reparameterize(mu, logvar, eps)
    sigma = torch.tensor([1.0, 0.5, 2.0])
    assert bool(((z.mean(0) - mu).abs() < 5 * sigma / math.sqrt(draws)).all())
    # the sample std of a normal has a standard error of about sigma / sqrt(2M)
    assert bool(((z.std(0) - sigma).abs() < 5 * sigma / math.sqrt(2 * draws)).all())
    z.sum().backward()
    # dz/dmu = 1 and dz/dlogvar = sigma * eps / 2, summed over the draws
    torch.testing.assert_close(mu.grad, torch.full((3,), float(draws)))
    torch.testing.assert_close(logvar.grad, (0.5 * sigma * eps).sum(0), rtol=1e-4, atol=1e-3)


@pytest.mark.parametrize("arch", ["conv", "mlp"])
def test_loss_parts_relate_as_the_elbo_says(arch):
    torch.manual_seed(0)
    model = VAE(VAEConfig(arch=arch, beta=0.5, kl_warmup_steps=10), DIGITS)
    x = torch.randint(17, (8, 1, 8, 8))
    model.steps_taken.fill_(4)  # 40% through the warm-up: w = 0.5 * 0.4
    torch.manual_seed(1)
    parts = model.loss(x)
    # recon is -log p(x|z) at one reparameterized z (the loss's own draw), kl the closed form
    torch.manual_seed(1)
    mu, logvar = model.posterior(x)
    z = reparameterize(mu, logvar, torch.randn_like(mu))
    torch.testing.assert_close(parts["recon"], -model.recon_log_prob(z, x).mean())
    torch.testing.assert_close(parts["kl"], gaussian_kl(mu, logvar).mean())
    assert {"loss", "recon", "kl", "bits_per_dim", "kl_weight"} <= set(parts)
    recon, kl, weight = parts["recon"].item(), parts["kl"].item(), parts["kl_weight"].item()
    assert weight == pytest.approx(0.2)
    assert recon > 0 and kl >= 0
    assert parts["loss"].item() == pytest.approx((recon + weight * kl) / 64, rel=1e-5)
    assert parts["bits_per_dim"].item() == pytest.approx((recon + kl) / (64 * math.log(2)),
                                                          rel=1e-5)
    assert parts["loss"].requires_grad


def test_log_prob_is_the_elbo_and_reproducible():
    torch.manual_seed(0)
    model = VAE(VAEConfig(elbo_samples=2), DIGITS).eval()
    x = torch.randint(17, (5, 1, 8, 8))
    elbo = model.log_prob(x)
    assert elbo.shape == (5,) and torch.equal(elbo, model.log_prob(x))
    # by hand: the same two draws of the fixed-seed noise, analytic KL
    mu, logvar = model.posterior(x)
    eps = torch.randn(2, 5, model.config.latent_dim,
                      generator=torch.Generator().manual_seed(model.eval_seed))
    recon = torch.stack([model.recon_log_prob(reparameterize(mu, logvar, e), x) for e in eps])
    torch.testing.assert_close(elbo, recon.mean(0) - gaussian_kl(mu, logvar))


def test_kl_warmup_rises_linearly_and_survives_a_resume(registry):
    from genzoo.registry.runs import load_run
    from genzoo.registry.store import RunStore
    from genzoo.registry.training import LoopSettings, resume_run, start_run

    model = VAE(VAEConfig(beta=2.0, kl_warmup_steps=8, arch="mlp", hidden=16), DIGITS)
    optimizers = model.configure_optimizers()
    x = torch.randint(17, (4, 1, 8, 8))
    weights = [model.training_step(x, optimizers)["kl_weight"] for _ in range(10)]
    assert weights == pytest.approx([0.0, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 1.75, 2.0, 2.0])

    store = RunStore()
    quiet = LoopSettings(progress=False, checkpoint_every=3)
    tiny = {"arch": "mlp", "hidden": "16", "kl_warmup_steps": "20", "batch_size": "8"}
    halted = start_run(registry, store, "vae", "digits", steps=5, overrides=tiny, settings=quiet)
    assert load_run(halted.run_id, store, registry).model.kl_weight() == pytest.approx(0.25)
    resume_run(registry, store, halted.run_id, steps=10, settings=quiet)
    resumed = load_run(halted.run_id, store, registry).model
    assert int(resumed.steps_taken) == 10 and resumed.kl_weight() == pytest.approx(0.5)
    fresh = VAE(build_config(VAEConfig, tiny), DIGITS)
    fresh.load_state_dict(resumed.state_dict())
    assert fresh.kl_weight() == pytest.approx(0.5)


@pytest.fixture(scope="module")
def trained():
    """An MLP VAE after 400 steps on digits (a posterior worth importance-weighting), and 64
    test images."""
    torch.manual_seed(0)
    return trained_on_digits(VAE(VAEConfig(arch="mlp", hidden=128, latent_dim=8, lr=3e-3),
                                 DIGITS))


@torch.no_grad()
def test_iwae_bound_is_above_the_elbo_and_grows_with_k(trained):
    model, x = trained
    seed = iter(range(100))

    def bound(k):
        return model.iwae_log_prob(x, k, generator=torch.Generator().manual_seed(next(seed)))

    default, model.config.elbo_samples = model.config.elbo_samples, 50
    try:
        elbo = model.log_prob(x)  # an ELBO estimate whose noise is small next to the gap
    finally:
        model.config.elbo_samples = default
    iwae = {k: bound(k) for k in (1, 10, 100)}
    # L_1 <= L_10 <= L_100 on average: paired per-image differences, up to 3 standard errors
    for low, high in ((1, 10), (10, 100)):
        mean, err = mean_and_stderr(iwae[high] - iwae[low])
        assert mean > -3 * err, (low, high, mean, err)
    mean, err = mean_and_stderr(iwae[100] - elbo)
    assert mean > 3 * err and mean > 0.1, (mean, err)  # tighter, and clearly so
    # K = 1 is an unbiased estimate of the ELBO (its KL by the same sample): average 40 draws
    mean, err = mean_and_stderr(torch.stack([bound(1) for _ in range(40)]).mean(0) - elbo)
    assert abs(mean) < 4 * err, (mean, err)


def test_iwae_matches_the_definition_chunk_by_chunk(trained):
    """Chunks of one sample each, against log 1/K sum_k p(x|z_k) p(z_k) / q(z_k|x) by hand."""
    model, x = trained
    x, k = x[:6], 5
    model.iwae_chunk_pixels = len(x) * 64  # one sample per chunk: every boundary is exercised
    try:
        got = model.iwae_log_prob(x, k, generator=torch.Generator().manual_seed(7))
    finally:
        del model.iwae_chunk_pixels
    g = torch.Generator().manual_seed(7)
    mu, logvar = model.posterior(x)
    q = Normal(mu, (0.5 * logvar).exp())
    log_w = []
    with torch.no_grad():
        for _ in range(k):
            z = reparameterize(mu, logvar, torch.randn(1, *mu.shape, generator=g)[0])
            log_w.append(model.recon_log_prob(z, x) + Normal(0.0, 1.0).log_prob(z).sum(-1)
                         - q.log_prob(z).sum(-1))
    torch.testing.assert_close(got, torch.logsumexp(torch.stack(log_w), 0) - math.log(k))
    with pytest.raises(BadConfig, match="K >= 1.*0"):
        model.iwae_log_prob(x, 0)


def test_sample_encode_decode(trained):
    model, x = trained
    samples = model.sample(5, generator=torch.Generator().manual_seed(0))
    assert samples.dtype == torch.int64 and samples.shape == (5, 1, 8, 8)
    assert int(samples.min()) >= 0 and int(samples.max()) < 17
    with torch.no_grad():
        z = model.encode(x[:4])
        torch.testing.assert_close(z, model.posterior(x[:4])[0])
        means = model.decode(z)
    assert z.shape == (4, 8) and means.shape == (4, 1, 8, 8) and means.dtype == torch.float32
    assert float(means.min()) >= 0.0 and float(means.max()) <= 16.0
    # the code keeps something of its image: reconstructions are nearer their own image than
    # another test image (on average over 64 images)
    with torch.no_grad():
        means = model.reconstruct(x)
    own = (means - x).abs().mean()
    other = (means - x.roll(1, 0)).abs().mean()
    assert own < 0.75 * other, (own, other)
    assert 0 < model.active_units(x) <= 8
    assert model.info()["decoder"] == "categorical"


def test_a_short_training_run_lowers_the_bound(registry):
    from genzoo.registry.store import RunStore
    from genzoo.registry.training import LoopSettings, start_run

    store = RunStore()
    quiet = LoopSettings(progress=False)
    untrained = start_run(registry, store, "vae", "digits", steps=0, settings=quiet)
    trained = start_run(registry, store, "vae", "digits", steps=200, settings=quiet)
    assert trained.metrics["bound"] == "elbo"
    before, after = (r.metrics["test_bits_per_dim"] for r in (untrained, trained))
    assert before > math.log2(17) - 0.5  # a random decoder: about uniform over the 17 levels
    assert after < 2.6 < before - 1.0, (before, after)  # independent pixels: 2.43


def test_a_logistic_decoder_trains_on_digits_with_a_finite_loss(registry):
    """decoder=logistic (a mean and a log-scale per pixel) from the config to a stored run."""
    from genzoo.registry.store import RunStore
    from genzoo.registry.training import LoopSettings, start_run

    store = RunStore()
    record = start_run(registry, store, "vae", "digits", steps=30,
                       overrides={"decoder": "logistic", "arch": "mlp", "hidden": "32",
                                  "batch_size": "32"},
                       settings=LoopSettings(progress=False, log_seconds=0))
    assert record.status == "completed" and record.config["decoder"] == "logistic"
    losses = [row["value"] for row in store.curves(record.run_id) if row["name"] == "loss"]
    assert len(losses) == 30 and all(math.isfinite(v) for v in losses)
    assert losses[-1] < losses[0]
    bits = record.metrics["test_bits_per_dim"]
    assert math.isfinite(bits) and 0 < bits < math.log2(17)  # better than uniform levels


@torch.no_grad()
def test_the_bounds_sum_to_at_most_one_over_every_binary_2x2_image():
    """sum_x exp(ELBO(x)) <= sum_x p(x) = 1 over all 16 binary 2x2 images, and the same for
    the IWAE-K bound; each image's ELBO is below its log p(x), found by quadrature over a
    2-d z. One draw of exp(L_K(x)) is an unbiased estimate of p(x) and may top it, so the
    IWAE bound is E[L_K], averaged over draws; their exp(L_K) average to p(x) itself."""
    torch.manual_seed(0)
    model = VAE(VAEConfig(decoder="bernoulli", latent_dim=2, hidden=16, elbo_samples=4096),
                BINARY_2X2).eval()
    for parameter in model.decoder.parameters():  # a sharp decoder: q(z|x) is far from
        parameter.mul_(3.0)  # p(z|x), so the bounds' gaps are wide, not within the noise
    x = torch.tensor(list(itertools.product(range(2), repeat=4))).view(16, 1, 2, 2)
    grid = torch.linspace(-7.0, 7.0, 281)
    z = torch.cartesian_prod(grid, grid)  # (M, 2)
    log_prior = -0.5 * (z.pow(2) + math.log(2 * math.pi)).sum(-1)
    params = model.decoder_params(z)
    log_px_z = torch.stack([model.likelihood.log_prob(params, image.expand(len(z), 1, 2, 2))
                            for image in x])  # (16 images, M)
    log_px = (torch.logsumexp(log_px_z + log_prior, 1) + 2 * math.log(grid[1] - grid[0]))
    assert float(log_px.double().exp().sum()) == pytest.approx(1.0, abs=1e-4)

    elbo = model.log_prob(x)
    assert bool((elbo < log_px).all()), (elbo, log_px)
    elbo_mass = float(elbo.double().exp().sum())
    assert 0 < elbo_mass <= 1.0
    draws = torch.stack([model.iwae_log_prob(x, 10, torch.Generator().manual_seed(r))
                         for r in range(100)]).double()  # (draws, 16)
    iwae_mass = float(draws.mean(0).exp().sum())
    assert elbo_mass < iwae_mass <= 1.0  # tighter than the ELBO, still a bound
    assert float(draws.exp().mean(0).sum()) == pytest.approx(1.0, abs=0.05)


@pytest.mark.parametrize("overrides,message", [
    ({"latent_dim": "0"}, "latent_dim must be at least 1, got 0"),
    ({"beta": "-1"}, "beta must be greater than 0.*-1"),
    ({"kl_warmup_steps": "-5"}, "kl_warmup_steps.*-5"),
    ({"hidden": "0"}, "hidden must be at least 1, got 0"),
    ({"arch": "resnet"}, "arch='resnet': must be one of auto, conv, mlp"),
    ({"decoder": "gaussian"}, "decoder='gaussian': must be one of auto, categorical"),
])
def test_bad_config_names_the_value(overrides, message):
    with pytest.raises(BadConfig, match=message):
        build_config(VAEConfig, overrides)


def test_bad_decoder_for_the_data_and_bad_images():
    with pytest.raises(BadConfig, match="bernoulli.*17"):
        VAE(build_config(VAEConfig, {"decoder": "bernoulli"}), DIGITS)
    model = VAE(VAEConfig(), SMALL)
    with pytest.raises(BadData, match=r"\[0, 4\)"):
        model.log_prob(torch.full((2, 1, 5, 5), 4))
    with pytest.raises(BadData, match="shape"):
        model.loss(torch.zeros(2, 1, 8, 8, dtype=torch.int64))


def test_auto_arch_is_the_mlp_on_tiny_images_and_the_conv_net_otherwise():
    point = DataInfo(kind="image", shape=(1, 1, 2), levels=32)
    assert VAE(VAEConfig(), point).arch == "mlp"  # a 2-d point: the conv net's KL collapses
    assert VAE(VAEConfig(), DIGITS).arch == "conv"
    assert VAE(VAEConfig(arch="mlp"), DIGITS).arch == "mlp"
