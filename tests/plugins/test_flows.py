"""Focused tests of the normalizing flows (realnvp, glow): the inverse undoes the forward, every
log-determinant matches a brute-force Jacobian, the dequantization bounds are bounds (they sum
to at most 1, the density integrates to 1, IWAE tightens), variational dequantization is a
density on the unit cube that helps, temperature, bad input, and learning on digits."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

from genzoo.plugins._dequantize import (
    LogitTransform,
    UniformDequantizer,
    VariationalDequantizer,
)
from genzoo.plugins._flows import (
    ActNorm,
    AffineCoupling,
    InvConv1x1,
    Squeeze,
    auto_scales,
    standard_normal_log_prob,
)
from genzoo.plugins.glow import Glow, GlowConfig
from genzoo.plugins.realnvp import RealNVP, RealNVPConfig
from genzoo.registry import DataInfo
from genzoo.registry.bounds import cell_log_probs
from genzoo.registry.config import build_config
from genzoo.registry.errors import BadConfig, BadData

MODELS = {"realnvp": (RealNVP, RealNVPConfig, {"couplings": 2}),
          "glow": (Glow, GlowConfig, {"steps": 2})}
TINY = {"hidden": 8, "blocks": 1, "deq_hidden": 8, "deq_couplings": 2}


def image(shape, levels):
    return DataInfo(kind="image", shape=shape, levels=levels)


def build(name, shape=(1, 8, 8), levels=17, perturb=0.0, seed=0, **overrides):
    """A tiny model, fitted (actnorm set) on random images; ``perturb`` adds noise to every
    weight, so the zero-initialized layers are not the identity."""
    cls, config_class, depth = MODELS[name]
    torch.manual_seed(seed)
    model = cls(config_class(**{**TINY, **depth, **overrides}), image(shape, levels))
    model.fit(torch.randint(levels, (64, *shape)))
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.add_(perturb * torch.randn_like(parameter))
    return model.eval()


def brute_log_det(fn, x: torch.Tensor) -> torch.Tensor:
    """log |det d fn(x) / dx| from the full Jacobian of one example, by autograd."""
    jacobian = torch.autograd.functional.jacobian(lambda t: fn(t.view_as(x)).flatten(),
                                                  x.flatten())
    return torch.linalg.slogdet(jacobian)[1]


# -- 1. the inverse undoes the forward --------------------------------------------------------


@pytest.mark.parametrize("name", sorted(MODELS))
@pytest.mark.parametrize("shape, levels", [((1, 8, 8), 17), ((1, 5, 5), 4), ((1, 1, 2), 8),
                                           ((3, 4, 4), 5)])
def test_the_inverse_undoes_the_forward(name, shape, levels):
    model = build(name, shape, levels, perturb=0.05)
    x = torch.randint(levels, (6, *shape))
    with torch.no_grad():
        assert (model.decode(model.encode(x)) - x).abs().max() < 1e-4
        v = x + torch.rand(x.shape)
        z = model.flow(model.logit.forward(v)[0])[0]
        assert z.shape == (6, math.prod(shape)) == (6, *model.latent_shape)
        assert (model._to_levels(z) - v).abs().max() < 1e-4


def test_scales_adapt_to_the_image_size():
    assert [auto_scales(s) for s in [(1, 8, 8), (1, 28, 28), (1, 5, 5), (1, 1, 2), (1, 2, 2)]
            ] == [2, 2, 0, 0, 1]
    assert build("realnvp", (1, 8, 8), scales=1).info()["last_scale"] == [2, 4, 4]
    assert build("glow", (1, 8, 8)).info()["factored_out"] == [[2, 4, 4]]


# -- 2. every log-determinant against a brute-force Jacobian (float64) ------------------------


def _coupling(mask, flip, scale, channels, cond=0):
    torch.manual_seed(1)
    layer = AffineCoupling(channels, mask, flip, hidden=6, blocks=1, scale=scale,
                           cond_channels=cond)
    with torch.no_grad():
        for parameter in layer.parameters():
            parameter.add_(0.3 * torch.randn_like(parameter))
    return layer


def _actnorm():
    layer = ActNorm(3)
    layer.initialize(torch.randn(16, 3, 2, 2) * 2 + 1)
    return layer


LAYERS = {
    "actnorm": lambda: _actnorm(),
    "invconv-lu": lambda: InvConv1x1(3, lu=True),
    "invconv-plain": lambda: InvConv1x1(3, lu=False),
    "coupling-checkerboard-tanh": lambda: _coupling("checkerboard", False, "tanh", 3),
    "coupling-checkerboard-flip-sigmoid": lambda: _coupling("checkerboard", True, "sigmoid", 3),
    "coupling-channel-tanh": lambda: _coupling("channel", False, "tanh", 3),
    "coupling-channel-flip-sigmoid": lambda: _coupling("channel", True, "sigmoid", 3),
    "squeeze": lambda: Squeeze(),
}


@pytest.mark.parametrize("kind", sorted(LAYERS))
def test_each_layer_log_det_matches_the_jacobian(kind):
    torch.manual_seed(2)
    layer = LAYERS[kind]().double()
    with torch.no_grad():
        for parameter in layer.parameters():  # off the initial values (det W = 1 at start)
            parameter.add_(0.2 * torch.randn_like(parameter))
    x = torch.randn(1, 3, 2, 2, dtype=torch.float64)
    y, log_det = layer(x)
    assert torch.allclose(brute_log_det(lambda t: layer(t)[0], x), log_det[0], atol=1e-6)
    assert torch.allclose(layer.inverse(y), x, atol=1e-10)


def test_a_conditioned_coupling_matches_the_jacobian():
    layer = _coupling("checkerboard", True, "tanh", 1, cond=2).double()
    x, cond = torch.randn(1, 1, 2, 2, dtype=torch.float64), torch.randn(1, 2, 2, 2,
                                                                        dtype=torch.float64)
    assert torch.allclose(brute_log_det(lambda t: layer(t, cond)[0], x), layer(x, cond)[1][0])


@pytest.mark.parametrize("alpha", [0.0, 0.05])
def test_the_logit_preprocessing_matches_the_jacobian(alpha):
    logit = LogitTransform(17, alpha)
    v = torch.rand(1, 1, 2, 2, dtype=torch.float64) * 17
    assert torch.allclose(brute_log_det(lambda t: logit.forward(t)[0], v), logit.forward(v)[1][0])
    assert torch.allclose(logit.inverse(logit.forward(v)[0]), v)


@pytest.mark.parametrize("name", sorted(MODELS))
@pytest.mark.parametrize("shape", [(1, 4, 4), (1, 2, 2), (1, 1, 2)])
def test_the_whole_flows_log_det_matches_the_jacobian(name, shape):
    """log p(v) - log N(z) is log |det dz/dv| of the whole map, logit included."""
    model = build(name, shape, 5, perturb=0.1).double()
    v = (torch.randint(5, (1, *shape)) + torch.rand(1, *shape)).double()
    z = model.flow(model.logit.forward(v)[0])[0]
    log_det = model.continuous_log_density(v) - standard_normal_log_prob(z)
    brute = brute_log_det(lambda t: model.flow(model.logit.forward(t)[0])[0], v)
    assert abs(float(brute - log_det[0].detach())) < 1e-4


def test_the_variational_dequantizers_log_det_matches_the_jacobian():
    model = build("realnvp", (1, 2, 2), 4, perturb=0.2, dequantization="variational").double()
    deq = model.dequantizer
    x = torch.randint(4, (1, 1, 2, 2))
    cond = deq.condition(x).double()
    eps = torch.randn(1, 1, 2, 2, dtype=torch.float64)
    u, log_det = deq.transform(eps, cond)
    assert torch.allclose(brute_log_det(lambda t: deq.transform(t, cond)[0], eps), log_det[0])


# -- 3. the bounds are bounds ---------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(MODELS))
@pytest.mark.parametrize("dequantization", ["uniform", "variational"])
@torch.no_grad()
def test_the_bounds_sum_to_at_most_one_over_every_binary_2x2_image(name, dequantization):
    """With the default config (as the conformance suite builds it), weights moved off their
    initial values."""
    cls, config_class, _ = MODELS[name]
    torch.manual_seed(0)
    config = build_config(config_class, {"dequantization": dequantization})
    model = cls(config, image((1, 2, 2), 2))
    images = torch.tensor(list(itertools.product(range(2), repeat=4))).view(16, 1, 2, 2)
    model.fit(images[torch.randint(16, (64,))])
    for parameter in model.parameters():
        parameter.add_(0.05 * torch.randn_like(parameter))
    total = float(torch.logsumexp(model.eval().log_prob(images).double(), 0).exp())
    iwae = model.iwae_log_prob(images, 512, torch.Generator().manual_seed(1))
    # exp(IWAE-K) estimates P(x) without bias: these sum to 1 up to the sampling noise
    tighter = float(torch.logsumexp(iwae.double(), 0).exp())
    assert total <= 1.0 and total < tighter - 0.05 and abs(tighter - 1) < 0.05, (total, tighter)


@pytest.mark.parametrize("name", sorted(MODELS))
@torch.no_grad()
def test_the_density_integrates_to_one_and_each_cell_is_above_its_bound(name):
    """On a 2-d point (a 1x2 image) on an 8x8 grid: the sum over the 64 cells of int p is 1
    with the default pure logit (alpha = 0, a bijection onto R^2), at most 1 with Real NVP's
    alpha = 0.05 (the flow's mass outside the logit's box is lost); and log P(x) >= the bound,
    cell by cell, up to the Monte-Carlo error of the bound."""
    cells = torch.tensor(list(itertools.product(range(8), repeat=2))).view(64, 1, 1, 2)
    for alpha in (0.0, 0.05):
        model = build(name, (1, 1, 2), 8, perturb=0.1, bound_samples=256, logit_alpha=alpha)
        log_p = cell_log_probs(model, cells)
        total = float(log_p.exp().sum())
        assert (abs(total - 1.0) < 1e-2) if alpha == 0 else (0.9 < total <= 1.0), total
        weights = model.log_weights(cells, 256, torch.Generator().manual_seed(0))  # (256, 64)
        bound, stderr = weights.mean(0), weights.std(0) / 16
        assert bool((log_p >= bound - 4 * stderr - 1e-4).all())
        assert torch.allclose(model.log_prob(cells), model.log_weights(
            cells, 256, torch.Generator().manual_seed(model.eval_seed)).mean(0))


# -- 4. the importance-weighted bound ---------------------------------------------------------


@pytest.mark.parametrize("name", sorted(MODELS))
@torch.no_grad()
def test_iwae_with_one_sample_is_the_bound_and_more_samples_tighten_it(name):
    model = build(name, (1, 5, 5), 4, perturb=0.1, bound_samples=1)
    x = torch.randint(4, (32, 1, 5, 5))
    assert torch.allclose(model.iwae_log_prob(x, 1), model.log_prob(x))
    k1 = model.iwae_log_prob(x, 1, torch.Generator().manual_seed(1))
    k64 = model.iwae_log_prob(x, 64, torch.Generator().manual_seed(2))
    assert float(k64.mean()) > float(k1.mean()) + 0.05
    model.chunk_values = 3 * 32 * 25  # chunks of 3 samples: the same number, however chunked
    chunked = model.iwae_log_prob(x, 8, torch.Generator().manual_seed(3))
    model.chunk_values = 2 ** 21
    assert torch.allclose(chunked, model.iwae_log_prob(x, 8, torch.Generator().manual_seed(3)),
                          atol=1e-4)
    for k in (0, -1, 1.5, True):
        with pytest.raises(BadConfig, match="K >= 1"):
            model.iwae_log_prob(x, k)


# -- 5. variational dequantization --------------------------------------------------------------


@torch.no_grad()
def test_q_u_given_x_is_a_density_on_the_unit_cube():
    model = build("glow", (1, 1, 2), 6, perturb=0.2, dequantization="variational")
    deq = model.dequantizer
    # tails narrowed (a < 1): q then falls to 0 at the cube's faces, which the midpoint rule
    # below can integrate (a > 1 gives an integrable spike there that a grid cannot)
    deq.log_scale.fill_(math.log(0.7))
    x = torch.tensor([[[[0, 5]]], [[[3, 2]]]])
    u, log_q = deq.sample(x, 500, torch.Generator().manual_seed(0))
    assert bool(((u > 0) & (u < 1)).all()) and bool(torch.isfinite(log_q).all())
    inside = ((u > 1e-3) & (u < 1 - 1e-3)).flatten(1).all(1)  # where float32 resolves u
    assert float(inside.float().mean()) > 0.9
    assert torch.allclose(deq.log_prob(u, x.repeat(500, 1, 1, 1))[inside], log_q[inside],
                          atol=1e-3)
    grid = (torch.arange(400) + 0.5) / 400  # midpoints of a 400 x 400 grid on (0, 1)^2
    points = torch.cartesian_prod(grid, grid).view(-1, 1, 1, 2)
    for image in x:
        density = deq.log_prob(points, image[None].expand(len(points), -1, -1, -1)).exp()
        assert abs(float(density.mean()) - 1.0) < 1e-2
    assert bool(torch.isfinite(model.log_prob(x)).all()) and model.bound_name == "vardeq"
    assert build("glow", (1, 1, 2), 6).bound_name == "dequant"


@pytest.fixture(scope="module")
def digits():
    from genzoo.registry.plugins import get_registry
    from genzoo.registry.runs import load_dataset

    return load_dataset(get_registry(environ={"GENZOO_PLUGINS": ""}), "digits")


def _train(model, images, steps, seed=0, optimizers=None):
    optimizers = optimizers or model.configure_optimizers()
    generator = torch.Generator().manual_seed(seed)
    model.train()
    for _ in range(steps):
        model.training_step(images[torch.randint(len(images), (64,), generator=generator)],
                            optimizers)
    return model.eval()


def _bits(model, images) -> float:
    return float(-model.log_prob(images).mean() / (images[0].numel() * math.log(2)))


@pytest.fixture(scope="module")
def trained(digits):
    """Each flow (narrow) before and after 150 steps on digits with uniform noise, and its
    held-out bits/dim then."""
    out = {}
    for name in sorted(MODELS):
        model = build(name, hidden=16)
        model.fit(digits.train)
        before = _bits(model, digits.val)
        out[name] = (_train(model, digits.train, 150), before, _bits(model, digits.val))
    return out


def test_learned_dequantization_beats_uniform_noise_for_the_same_flow(digits, trained):
    """q(u|x) starts uniform and, trained 40 steps against a fixed flow p, bounds the same p
    higher than uniform noise does (the gap it closes is KL(q(u|x) || p(u|x)))."""
    flow = trained["realnvp"][0]
    model = build("realnvp", hidden=16, dequantization="variational")
    model.flow.load_state_dict(flow.flow.state_dict())
    x = digits.val[:128]
    uniform = float(model.log_prob(x, dequantizer=UniformDequantizer()).mean())
    assert uniform == pytest.approx(float(flow.log_prob(x).mean()))
    # q = 1 at first (u = Phi(eps)): the two differ by the noise of their 8 x 128 draws alone
    assert float(model.log_prob(x).mean()) == pytest.approx(uniform, abs=1.0)
    _train(model, digits.train, 40,
           optimizers=[torch.optim.Adam(model.dequantizer.parameters(), lr=3e-3)])
    variational = float(model.log_prob(x).mean())
    assert variational > uniform + 0.3, (variational, uniform)
    assert isinstance(model.dequantizer, VariationalDequantizer)
    assert set(model.loss(x[:8])) >= {"loss", "bits_per_dim", "log_q_u", "log_p_v"}


# -- 6. temperature ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(MODELS))
@torch.no_grad()
def test_temperature_and_seeds(name):
    model = build(name, (1, 8, 8), 17, perturb=0.05)
    g = lambda seed: torch.Generator().manual_seed(seed)  # noqa: E731
    mode = model.decode(torch.zeros(1, 64))  # f^-1(0), the code's mode
    cold = model.sample(32, g(0), temperature=1e-4).float()
    warm = model.sample(32, g(0), temperature=1.0).float()
    # T -> 0: every sample at the mode (up to the bin edge it may sit on); T = 1: spread out
    assert float((cold - mode).abs().max()) <= 1.0
    assert float((model.decode(1e-4 * torch.randn(32, 64)) - mode).abs().max()) < 0.01
    assert float((warm != warm[:1]).float().mean()) > 0.2
    assert torch.equal(model.sample(4, g(5), 0.7), model.sample(4, g(5), 0.7))
    assert not torch.equal(model.sample(4, g(5)), model.sample(4, g(6)))
    for bad in (0, -1, float("nan"), float("inf"), "1"):
        with pytest.raises(BadConfig, match="temperature"):
            model.sample(2, g(0), temperature=bad)


# -- 7. bad input -----------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(MODELS))
def test_bad_input_is_refused_in_one_line(name):
    cls, config_class, _ = MODELS[name]
    with pytest.raises(BadData, match=f"the {name} models discrete images") as series:
        cls(config_class(), DataInfo(kind="series", shape=(1,)))
    assert "\n" not in str(series.value)
    with pytest.raises(BadConfig) as scales:
        cls(build_config(config_class, {"scales": "2"}), image((1, 5, 5), 4))
    message = str(scales.value)
    assert "scales=2" in message and "(1, 5, 5)" in message and "divisible by 4" in message
    assert "scales=0" in message and "\n" not in message
    with pytest.raises(BadConfig, match="scales=4 needs H and W divisible by 16"):
        cls(config_class(scales=4), image((1, 8, 8), 17))
    with pytest.raises(BadConfig, match="between 0 and 6"):
        build_config(config_class, {"scales": "7"})
    model = build(name, (1, 5, 5), 4)
    for batch in (torch.zeros(2, 1, 4, 4, dtype=torch.long), torch.zeros(2, 1, 5, 5),
                  torch.full((2, 1, 5, 5), 4)):
        for method in (model.loss, model.log_prob, model.encode):
            with pytest.raises(BadData):
                method(batch)


def test_actnorm_is_set_once_from_the_first_batch_and_not_again_after_a_reload():
    x = torch.randint(17, (256, 1, 8, 8))
    fresh = Glow(GlowConfig(**TINY, steps=2), image((1, 8, 8), 17))
    squeeze, actnorm = fresh.flow.stages[0][:2]
    assert not bool(actnorm.initialized)
    fresh.fit(x)  # the first actnorm's output: zero mean, unit variance per channel
    with torch.no_grad():
        out = actnorm(squeeze(fresh.logit.forward(x + torch.rand(x.shape))[0])[0])[0]
    assert float(out.mean((0, 2, 3)).abs().max()) < 0.1
    assert float((out.std((0, 2, 3)) - 1).abs().max()) < 0.1
    trained = build("glow", (1, 8, 8), 17, perturb=0.1)
    fresh.load_state_dict(trained.state_dict())
    fresh.continuous_log_density(x * 0.5 + 3)  # other data: no second initialization
    assert torch.equal(actnorm.loc, trained.flow.stages[0][1].loc)


# -- 8. learning -----------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(MODELS))
def test_a_short_training_lowers_the_held_out_bound(name, trained):
    """150 steps of a narrow flow: from a random map (4-6 bits/dim) to near the independent
    pixels' 2.43 (the defaults, 2 minutes: near 2.0)."""
    model, before, after = trained[name]
    assert after < 2.9 and after < before - 1.0, (before, after)
    assert model.info()["dequantization"] == "uniform" and model.bound_name == "dequant"
