"""VAE with richer priors and posteriors: the mixture-of-Gaussians and VampPrior densities
normalize, the IAF's log-determinant is the Jacobian's, the Monte Carlo bounds stay bounds
(IWAE-K above the ELBO, rising with K), the standard VAE keeps its old numbers, beta > 0."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
from click.testing import CliRunner
from torch.autograd.functional import jacobian

from genzoo.plugins._iaf import IAF
from genzoo.plugins.vae import VAE, VAEConfig, VariationalAutoencoder
from genzoo.registry import DataInfo
from genzoo.registry.cli import cli
from genzoo.registry.config import build_config
from genzoo.registry.errors import BadConfig
from genzoo.registry.latent import GaussianLatentModel

DIGITS = DataInfo(kind="image", shape=(1, 8, 8), levels=17)
SMALL = DataInfo(kind="image", shape=(1, 4, 4), levels=5)
BINARY_2X2 = DataInfo(kind="image", shape=(1, 2, 2), levels=2)
COMBOS = list(itertools.product(["mog", "vamp"], ["gaussian", "iaf"]))


def tiny(prior="mog", posterior="gaussian", info=SMALL, seed=0, **config):
    """A small MLP VAE with the given prior and posterior, its weights drawn from ``seed``."""
    torch.manual_seed(seed)
    values = dict(arch="mlp", hidden=16, latent_dim=3, prior_components=4, iaf_hidden=8,
                  elbo_samples=4, prior=prior, posterior=posterior)
    return VAE(VAEConfig(**{**values, **config}), info)


def images(info=SMALL, n=12, seed=1):
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(info.levels, (n, *info.shape), generator=generator)


# Recorded from plugins/vae.py before priors and posteriors were added (seeds as below).
OLD = {
    "conv": (2.858348846435547, 0.031011203303933144,
             [-183.14767456054688, -182.24639892578125, -183.0150909423828, -180.55787658691406,
              -184.19134521484375, -184.56536865234375],
             [-183.1330108642578, -182.18862915039062, -183.0054473876953, -180.4645233154297,
              -184.32077026367188, -184.66207885742188], 1578),
    "mlp": (2.839370012283325, 0.030574098229408264,
            [-181.02743530273438, -181.53794860839844, -181.92015075683594, -181.12765502929688,
             -182.35580444335938, -181.28614807128906],
            [-180.91163635253906, -181.50137329101562, -181.96719360351562, -181.37074279785156,
             -182.4024200439453, -181.35707092285156], 1479),
}


@pytest.mark.parametrize("arch", ["conv", "mlp"])
def test_standard_prior_and_gaussian_posterior_give_the_old_numbers(arch):
    loss, kl, elbo, iwae, sample_sum = OLD[arch]
    torch.manual_seed(0)
    model = VAE(VAEConfig(arch=arch, hidden=32, channels=8, latent_dim=4, elbo_samples=3), DIGITS)
    assert type(model) is VAE and isinstance(model, GaussianLatentModel)
    x = images(DIGITS, 6)
    torch.manual_seed(2)
    parts = model.loss(x)
    exact = dict(rtol=1e-6, atol=1e-5)
    torch.testing.assert_close(parts["loss"].item(), loss, **exact)
    torch.testing.assert_close(parts["kl"].item(), kl, **exact)
    torch.testing.assert_close(model.log_prob(x).tolist(), elbo, **exact)
    torch.testing.assert_close(model.iwae_log_prob(x, 7).tolist(), iwae, **exact)
    assert int(model.sample(3, torch.Generator().manual_seed(3)).sum()) == sample_sum
    assert model.info()["prior"] == "standard" and model.info()["posterior"] == "gaussian"


@pytest.mark.parametrize("prior,posterior", COMBOS + [("standard", "iaf")])
def test_a_richer_prior_or_posterior_is_no_gaussian_latent_model(prior, posterior):
    """Lecture mode's closed-form KL split must not be offered a Monte Carlo KL."""
    model = tiny(prior, posterior)
    assert type(model) is VariationalAutoencoder and not isinstance(model, GaussianLatentModel)
    info = model.info()
    assert info["prior"] == prior and info["posterior"] == posterior
    assert ("iaf_steps" in info) == (posterior == "iaf")
    assert ("prior_components" in info) == (prior != "standard")


@pytest.mark.parametrize("prior,posterior", COMBOS)
def test_loss_is_finite_with_gradients_to_every_new_parameter(prior, posterior):
    model = tiny(prior, posterior)
    model.fit(images(n=40, seed=5))
    parts = model.loss(images())
    assert all(math.isfinite(float(v.detach())) for v in parts.values())
    parts["loss"].backward()
    new = dict(model.latents.named_parameters())
    assert new and set(new) >= ({"mixture.means", "mixture.logvars"} if prior == "mog"
                                else {"pseudo_inputs.inputs"})
    assert any(name.startswith("flow.") for name in new) == (posterior == "iaf")
    for name, p in new.items():
        assert p.grad is not None and float(p.grad.abs().sum()) > 0, name
    if posterior == "iaf":  # the encoder's context outputs h feed the flow
        last = model.encoder[-1].weight.grad
        assert float(last[2 * 3:].abs().sum()) > 0


@pytest.mark.parametrize("prior,posterior", COMBOS)
def test_log_prob_is_deterministic_and_splits_into_recon_and_kl(prior, posterior):
    model = tiny(prior, posterior).eval()
    x = images()
    elbo = model.log_prob(x)
    assert elbo.shape == (len(x),) and torch.equal(elbo, model.log_prob(x))
    recon, kl = model.elbo_terms(x)
    torch.testing.assert_close(elbo, recon - kl)
    torch.testing.assert_close(model.kl_term(x), kl)
    assert bool((elbo < 0).all())


@pytest.mark.parametrize("prior,posterior", COMBOS)
def test_iwae_is_above_the_elbo_and_rises_with_k(prior, posterior):
    """E[L_K] >= E[L_1] and rises with K; single draws are noisy, so batch means over seeds
    are compared with a tolerance. The weights are perturbed so that q is far from the true
    posterior and the gaps are clear of the noise."""
    model = tiny(prior, posterior, elbo_samples=16).eval()
    with torch.no_grad():
        for p in model.encoder.parameters():
            p.add_(0.3 * torch.randn_like(p))
    x = images(n=16)
    with torch.no_grad():
        elbo = float(model.log_prob(x).mean())
        mean = {k: sum(float(model.iwae_log_prob(x, k, torch.Generator().manual_seed(s)).mean())
                       for s in range(3)) / 3 for k in (1, 5, 50)}
    assert mean[50] >= elbo - 0.05, (mean, elbo)
    assert mean[1] - 0.05 <= mean[5] <= mean[50] + 0.05, mean
    assert mean[50] > mean[1], mean


@pytest.mark.parametrize("prior,posterior", COMBOS)
def test_the_bounds_bound_the_exact_likelihood_of_binary_2x2_images(prior, posterior):
    """With L = 2, log p(x) = log int p(x|z) p(z) dz on a grid: the 16 images' probabilities
    sum to 1 (the prior and decoder normalize), the ELBO is below log p(x) for every image and
    IWAE-100 is close to it."""
    model = tiny(prior, posterior, info=BINARY_2X2, latent_dim=2, elbo_samples=16).eval()
    x = torch.tensor(list(itertools.product(range(2), repeat=4))).view(16, 1, 2, 2)
    with torch.no_grad():
        for p in model.encoder.parameters():  # a posterior far from the true one
            p.add_(0.3 * torch.randn_like(p))
        for p in model.decoder.parameters():  # a decoder that depends on z
            p.mul_(3.0)
        axis = torch.linspace(-8.0, 8.0, 161)
        z = torch.cartesian_prod(axis, axis)  # (M, 2)
        log_prior = model.latents.log_prior(z, model.latents.components(model._encode_scaled))
        params = model.decoder_params(z)
        log_px_z = torch.stack([model.likelihood.log_prob(params, image.expand(len(z), 1, 2, 2))
                                for image in x])  # (16, M)
        log_px = torch.logsumexp(log_px_z + log_prior, 1) + 2 * math.log(axis[1] - axis[0])
        elbo = model.log_prob(x)
        iwae = torch.stack([model.iwae_log_prob(x, 100, torch.Generator().manual_seed(s))
                            for s in range(3)]).mean(0)
    assert float(log_px.double().exp().sum()) == pytest.approx(1.0, abs=1e-3)
    assert bool((elbo < log_px).all()), (elbo, log_px)
    assert abs(float((log_px - iwae).mean())) < 0.15
    assert float((log_px - iwae).mean()) < float((log_px - elbo).mean()) / 5


def test_iaf_log_det_equals_the_log_det_of_its_jacobian():
    torch.manual_seed(0)
    flow = IAF(latent=3, context=4, hidden=8, steps=3).double()
    with torch.no_grad():  # away from the near-identity start
        for p in flow.parameters():
            p.add_(0.5 * torch.randn_like(p))
    h = torch.randn(4, dtype=torch.float64)
    for z0 in torch.randn(5, 3, dtype=torch.float64):
        z, log_det = flow(z0, h)
        jac = jacobian(lambda v: flow(v, h)[0], z0)  # (3, 3)
        torch.testing.assert_close(log_det, torch.linalg.slogdet(jac)[1])
        back, inverse_log_det = flow.inverse(z, h)  # the inverse: L passes per step
        torch.testing.assert_close(back, z0)
        torch.testing.assert_close(inverse_log_det, log_det)
    # one step alone is triangular in its order: the first dimension only scales and shifts
    step_jac = jacobian(lambda v: flow.steps[0].step(v, h)[0], z0)
    assert torch.count_nonzero(step_jac.triu(1)) == 0


def test_posterior_density_is_the_change_of_variables_of_the_noise():
    """log q(z_T|x) = log N(eps) - log |det dz_T/deps|, and q_log_density (which inverts the
    flow, as the VampPrior does) gives the same number at the sample."""
    model = tiny("standard", "iaf").double()
    mu, logvar, h = model._encode_scaled(model.scale(images(n=1)).double())
    eps = torch.randn(1, 3, dtype=torch.float64)
    z, log_q = model.latents.transform(mu, logvar, h, eps)
    jac = jacobian(lambda e: model.latents.transform(mu, logvar, h, e[None])[0][0], eps[0])
    expected = -0.5 * (eps.pow(2) + math.log(2 * math.pi)).sum() - torch.linalg.slogdet(jac)[1]
    torch.testing.assert_close(log_q[0], expected)
    torch.testing.assert_close(model.latents.q_log_density(z, mu, logvar, h), log_q)


@pytest.mark.parametrize("prior,posterior", COMBOS)
def test_the_prior_density_integrates_to_one_and_matches_its_sampler(prior, posterior):
    model = tiny(prior, posterior, latent_dim=1).double()
    with torch.no_grad():
        if model.latents.pseudo_inputs is not None:  # pseudo-inputs far apart
            model.latents.pseudo_inputs.inputs.mul_(3.0)
        for p in model.encoder.parameters():
            p.mul_(2.0)
        grid = torch.linspace(-40.0, 40.0, 40001, dtype=torch.float64)[:, None]
        components = model.latents.components(model._encode_scaled)
        density = model.latents.log_prior(grid, components).exp()
        assert float(torch.trapezoid(density, grid[:, 0])) == pytest.approx(1.0, abs=1e-4)
        mean = float(torch.trapezoid(density * grid[:, 0], grid[:, 0]))
        draws = model.latents.sample_prior(20000, torch.Generator().manual_seed(0), "cpu",
                                           model._encode_scaled)[:, 0]
    spread = float(torch.trapezoid(density * (grid[:, 0] - mean) ** 2, grid[:, 0])) ** 0.5
    assert abs(float(draws.mean()) - mean) < 5 * spread / math.sqrt(len(draws))


def test_the_vamp_prior_through_an_iaf_normalizes_in_two_dimensions():
    """With L = 2 the flow is truly autoregressive: its inverse must be exact to normalize."""
    model = tiny("vamp", "iaf", latent_dim=2, iaf_steps=2).double()
    with torch.no_grad():  # shifts m_t that depend strongly on the earlier dimension
        for step in model.latents.flow.steps:
            for p in step.m.parameters():
                p.add_(3.0 * torch.randn_like(p))
        axis = torch.linspace(-12.0, 12.0, 241, dtype=torch.float64)
        z = torch.cartesian_prod(axis, axis)  # (M, 2)
        components = model.latents.components(model._encode_scaled)
        mass = float(model.latents.log_prior(z, components).exp().sum()) * (axis[1] - axis[0]) ** 2
    assert mass == pytest.approx(1.0, abs=1e-4)


@pytest.mark.parametrize("prior,posterior", COMBOS)
def test_state_round_trip_and_sampling(prior, posterior):
    model = tiny(prior, posterior).eval()
    fresh = tiny(prior, posterior, seed=1).eval()
    fresh.load_state_dict(model.state_dict())
    x = images()
    assert torch.equal(model.log_prob(x), fresh.log_prob(x))
    first = model.sample(5, torch.Generator().manual_seed(7))
    assert torch.equal(first, fresh.sample(5, torch.Generator().manual_seed(7)))
    assert first.shape == (5, *SMALL.shape) and int(first.max()) < SMALL.levels
    assert model.encode(x).shape == (len(x), 3) and torch.equal(model.encode(x), fresh.encode(x))


def test_vamp_pseudo_inputs_start_as_training_images_and_the_prior_is_not_decayed():
    model = tiny("vamp")
    train = images(n=30, seed=3)
    torch.manual_seed(4)
    model.fit(train)
    scaled = {tuple(row.tolist()) for row in model.scale(train).flatten(1)}
    assert all(tuple(u.tolist()) in scaled for u in model.latents.pseudo_inputs().flatten(1))
    (optimizer,) = model.configure_optimizers()
    prior_group = [g for g in optimizer.param_groups if g["weight_decay"] == 0.0]
    assert [p for g in prior_group for p in g["params"]] == [model.latents.pseudo_inputs.inputs]


@pytest.mark.parametrize("value", ["0", "-1"])
def test_beta_must_be_positive(value):
    message = (r"beta must be greater than 0 \(the KL's weight in the β-VAE loss\), got "
               f"{float(value)}")
    with pytest.raises(BadConfig, match=message):
        build_config(VAEConfig, {"beta": value})
    with pytest.raises(BadConfig, match=message):
        VAEConfig(beta=float(value)).validate()
    assert build_config(VAEConfig, {"beta": "0.001"}).beta == 0.001


def test_cli_refuses_beta_zero_in_one_line(tmp_path, monkeypatch):
    monkeypatch.setenv("GENZOO_HOME", str(tmp_path))
    result = CliRunner().invoke(cli, ["train", "vae", "-d", "digits", "--set", "beta=0"])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "beta must be greater than 0" in lines[0], result.output


def test_named_variants_build_the_richer_models():
    from genzoo.registry.plugins import get_registry

    registry = get_registry(environ={"GENZOO_PLUGINS": ""})
    for name, key, value in (("vae-vamp", "prior", "vamp"), ("vae-iaf", "posterior", "iaf")):
        spec = registry.model(name)
        config = build_config(spec.config_class)
        assert getattr(config, key) == value and spec.leaf == "variational"
        assert not issubclass(spec.model_class, GaussianLatentModel)
        assert spec.model_class(config, SMALL).info()[key] == value
