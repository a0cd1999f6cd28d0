"""VQ-VAE and its PixelCNN prior: quantization, straight-through gradients, the codebook's
updates (loss, EMA, restarts), and the prior's ELBO, sampling and frozen parent."""

from __future__ import annotations

import itertools
import json
import math

import pytest
import torch

from genzoo.plugins.vqvae import VQVAE, VQVAEConfig, VQVAEPrior, VQVAEPriorConfig, perplexity
from genzoo.registry import DataInfo
from genzoo.registry.autoregressive import NaiveStepper
from genzoo.registry.config import build_config
from genzoo.registry.errors import BadConfig, GenzooError

SMALL = DataInfo(kind="image", shape=(1, 5, 5), levels=4)
TINY = DataInfo(kind="image", shape=(1, 2, 2), levels=2)


def small_vqvae(**overrides) -> VQVAE:
    torch.manual_seed(0)
    config = VQVAEConfig(**{"codebook_size": 8, "code_dim": 3, "hidden": 8, "dropout": 0.0,
                            **overrides})
    config.validate()
    return VQVAE(config, SMALL)


def images(n: int = 6, info: DataInfo = SMALL, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(info.levels, (n, *info.shape), generator=generator)


def encoder_and_decoder_params(model: VQVAE):
    return list(model.encoder.parameters()), list(model.decoder.parameters())


def grads(output: torch.Tensor, tensors) -> list[torch.Tensor]:
    """d output / d tensor for each, zeros where the output does not depend on it."""
    found = torch.autograd.grad(output, tensors, retain_graph=True, allow_unused=True)
    return [torch.zeros_like(t) if g is None else g for g, t in zip(found, tensors)]


def test_code_grid_pads_odd_sizes_and_decodes_to_the_image_size():
    model = small_vqvae(downsample=2)
    assert model.latent_shape == (3, 3)  # 5x5 padded to 6x6, halved
    codes = model.encode(images())
    assert codes.shape == (6, 3, 3) and codes.dtype == torch.int64
    decoded = model.decode(codes)
    assert decoded.shape == (6, 1, 5, 5)
    assert float(decoded.min()) >= 0 and float(decoded.max()) <= 3


def test_quantize_picks_the_nearest_code():
    model = small_vqvae()
    z_e = torch.randn(4, 3, 3, 3)
    codes, e = model.quantize(z_e)
    flat = z_e.movedim(1, -1).reshape(-1, 3)
    brute = torch.cdist(flat, model.codebook.detach()).argmin(1)
    assert torch.equal(codes.flatten(), brute)
    torch.testing.assert_close(e, model.codebook.detach()[codes].movedim(-1, 1))


def test_straight_through_copies_the_decoder_gradient_to_the_encoder():
    """The loss's recon term reaches the encoder as if z_q were z_e: d recon / d z_e is the
    decoder's gradient at z_q = e (the argmin is skipped on the way back), and the codebook
    gets nothing from it."""
    model = small_vqvae()
    x = images()
    encoder, _ = encoder_and_decoder_params(model)
    through_loss = grads(model.loss(x)["recon"], [model.codebook, *encoder])
    z_e = model.encode_continuous(x)
    _, e = model.quantize(z_e.detach())
    e_leaf = e.detach().requires_grad_(True)
    recon = -model.likelihood.log_prob(model.decode_params(e_leaf), x).mean()
    (at_e,) = grads(recon, [e_leaf])
    by_hand = torch.autograd.grad(z_e, encoder, grad_outputs=at_e)  # chain rule with dz_q/dz_e=I
    assert through_loss[0].abs().sum() == 0  # the codebook learns from its own term only
    for got, expected in zip(through_loss[1:], by_hand):
        torch.testing.assert_close(got, expected)
    assert sum(float(g.abs().sum()) for g in by_hand) > 0


def test_codebook_loss_moves_only_the_codes_toward_the_encoder_outputs():
    model = small_vqvae()
    x = images()
    parts = model.loss(x)
    encoder, decoder = encoder_and_decoder_params(model)
    grad_codebook, *grad_nets = grads(parts["codebook"], [model.codebook, *encoder, *decoder])
    assert grad_codebook.abs().sum() > 0
    assert all(g.abs().sum() == 0 for g in grad_nets)
    with torch.no_grad():  # one gradient step brings every chosen code closer to its inputs
        model.codebook -= 0.1 * grad_codebook
    assert float(model.loss(x)["codebook"].detach()) < float(parts["codebook"].detach())


def test_commitment_loss_moves_only_the_encoder():
    model = small_vqvae()
    parts = model.loss(images())
    encoder, decoder = encoder_and_decoder_params(model)
    grad_codebook, *rest = grads(parts["commitment"], [model.codebook, *encoder, *decoder])
    grad_encoder, grad_decoder = rest[:len(encoder)], rest[len(encoder):]
    assert grad_codebook.abs().sum() == 0
    assert sum(float(g.abs().sum()) for g in grad_encoder) > 0
    assert all(g.abs().sum() == 0 for g in grad_decoder)


def test_loss_combines_its_terms_as_the_paper_writes():
    model = small_vqvae(beta=0.5)
    parts = model.loss(images())
    expected = parts["recon"] / 25 + parts["codebook"] + 0.5 * parts["commitment"]
    torch.testing.assert_close(parts["loss"], expected)
    recon = float(parts["recon"].detach())
    assert float(parts["recon_bits_per_dim"]) == pytest.approx(recon / (25 * math.log(2)))


def test_perplexity_is_one_for_one_code_and_k_for_uniform_use():
    one, usage_one = perplexity(torch.full((4, 3, 3), 5), 8)
    assert float(one) == pytest.approx(1.0) and float(usage_one) == pytest.approx(1 / 8)
    uniform, usage_all = perplexity(torch.arange(8).repeat(3), 8)
    assert float(uniform) == pytest.approx(8.0) and float(usage_all) == pytest.approx(1.0)


def test_loss_reports_the_perplexity_and_usage_of_the_batchs_codes():
    model = small_vqvae().eval()
    x = images(6)
    parts = model.loss(x)
    assert {"perplexity", "usage"} <= set(parts)
    expected_perplexity, expected_usage = perplexity(model.encode(x), 8)
    torch.testing.assert_close(parts["perplexity"], expected_perplexity)
    torch.testing.assert_close(parts["usage"], expected_usage)
    assert 1.0 <= float(parts["perplexity"]) <= 8.0 and 0.0 < float(parts["usage"]) <= 1.0


def test_a_trained_run_logs_perplexity_and_usage_curves(registry):
    """The codebook's health is in the run's logged curves, one point per step here."""
    from genzoo.registry.store import RunStore
    from genzoo.registry.training import LoopSettings, start_run

    store = RunStore()
    record = start_run(registry, store, "vqvae", "digits", steps=3,
                       overrides={"hidden": "8", "codebook_size": "4", "code_dim": "4",
                                  "batch_size": "16"},
                       settings=LoopSettings(progress=False, log_seconds=0))
    curves = {}
    for row in store.curves(record.run_id):
        curves.setdefault(row["name"], {})[row["step"]] = row["value"]
    assert set(curves["perplexity"]) == set(curves["usage"]) == {1, 2, 3}
    for step in (1, 2, 3):
        used = curves["usage"][step] * 4  # codes chosen at least once in that step's batch
        assert 1.0 <= used <= 4.0
        # exp(entropy) of the codes' frequencies is at most the number of codes used
        assert 1.0 - 1e-6 <= curves["perplexity"][step] <= used + 1e-6


def test_ema_moves_the_codebook_without_gradients_and_survives_a_round_trip():
    model = small_vqvae(ema=True, ema_decay=0.9, restart_dead=False).train()
    assert not model.codebook.requires_grad
    optimizers = model.configure_optimizers()
    before = model.codebook.detach().clone()
    model.training_step(images(), optimizers)
    assert not torch.equal(model.codebook, before)
    # the rule itself: e_k = m_k / N_k after one update from known averages
    flat = torch.randn(10, 3)
    codes = torch.tensor([0, 0, 1, 1, 1, 2, 2, 2, 2, 2])
    count, total = model.ema_count.clone(), model.ema_sum.clone()
    model.ema_update(flat, codes)
    n_k = torch.bincount(codes, minlength=8).float()
    sums = torch.zeros(8, 3).index_add_(0, codes, flat)
    torch.testing.assert_close(model.ema_count, 0.9 * count + 0.1 * n_k)
    torch.testing.assert_close(model.ema_sum, 0.9 * total + 0.1 * sums)
    torch.testing.assert_close(model.codebook[:3], (model.ema_sum / model.ema_count[:, None])[:3],
                               rtol=1e-3, atol=1e-4)  # Laplace smoothing is tiny here
    # resume: a fresh model loaded from the state dict continues identically
    fresh = small_vqvae(ema=True, ema_decay=0.9, restart_dead=False).train()
    fresh.load_state_dict(model.state_dict())
    for m in (model, fresh):
        torch.manual_seed(3)
        m.training_step(images(seed=1), m.configure_optimizers())
    assert torch.equal(model.codebook, fresh.codebook)
    assert torch.equal(model.ema_count, fresh.ema_count)


def test_dead_codes_restart_on_encoder_outputs_deterministically():
    def run():
        model = small_vqvae(restart_after=2)
        torch.manual_seed(7)
        flat = torch.randn(12, 3)
        only_code_0 = torch.zeros(12, dtype=torch.int64)
        first = model.restart_dead_codes(flat, only_code_0)  # idle 1: nothing is dead yet
        second = model.restart_dead_codes(flat, only_code_0)  # idle 2: codes 1..7 are dead
        return model, flat, first, second

    model, flat, first, second = run()
    assert len(first) == 0 and second.tolist() == list(range(1, 8))
    for k in second:  # each restarted code sits on one of the batch's encoder outputs
        assert (flat - model.codebook[k]).abs().sum(1).min() == 0
    assert model.idle.tolist() == [0] * 8 and int(model.restarts) == 7
    again, *_ = run()
    assert torch.equal(model.codebook, again.codebook)


def test_restart_resets_the_restarted_codes_adam_moments():
    model = small_vqvae(restart_after=1).train()
    optimizers = model.configure_optimizers()
    model.training_step(images(), optimizers)  # Adam now has moments for every code
    state = optimizers[0].state[model.codebook]
    flat, codes = torch.randn(5, 3), torch.zeros(5, dtype=torch.int64)
    state["exp_avg"].fill_(1.0)
    dead = model.restart_dead_codes(flat, codes, optimizers)
    assert dead.tolist() == list(range(1, 8))
    assert state["exp_avg"][1:].abs().sum() == 0 and state["exp_avg"][0].eq(1.0).all()


def test_training_reduces_the_reconstruction_error():
    model = small_vqvae(hidden=16, lr=3e-3).train()
    optimizers = model.configure_optimizers()
    x = images(4).repeat(4, 1, 1, 1)  # four patterns: codes can tell them apart
    first = float(model.loss(x)["recon"].detach())
    for _ in range(40):
        model.training_step(x, optimizers)
    assert float(model.loss(x)["recon"].detach()) < 0.8 * first


def test_vqvae_alone_refuses_a_likelihood_and_samples_real_levels():
    model = small_vqvae().eval()
    assert model.bound_available is False
    with pytest.raises(GenzooError, match="prior"):
        model.log_prob(images())
    a = model.sample(4, torch.Generator().manual_seed(0))
    b = model.sample(4, torch.Generator().manual_seed(0))
    assert a.shape == (4, 1, 5, 5) and a.dtype == torch.int64 and torch.equal(a, b)
    assert int(a.min()) >= 0 and int(a.max()) < 4


@pytest.mark.parametrize("key,value", [
    ("codebook_size", 1), ("code_dim", 0), ("hidden", 0), ("downsample", 3), ("beta", -0.5),
    ("ema_decay", 1.0), ("ema_decay", 0.0), ("restart_after", 0), ("decoder", "gaussian"),
    ("dropout", 1.0)])
def test_bad_vqvae_config_names_the_value(key, value):
    with pytest.raises(BadConfig, match=f"{key}.*{value}"):
        build_config(VQVAEConfig, {key: value})


@pytest.mark.parametrize("overrides,pattern", [
    ({"parent_config": "{not json"}, "parent_config"),
    ({"parent_config": json.dumps({"codebook_size": 1})}, "codebook_size must be at least 2"),
    ({"code_input": "embedding"}, "code_input.*embedding"),
    ({"layers": 0}, "layers.*0")])
def test_bad_prior_config_names_the_value(overrides, pattern):
    with pytest.raises(BadConfig, match=pattern):
        build_config(VQVAEPriorConfig, overrides)


# -- the prior ----------------------------------------------------------------------------------


def prior_for(parent: VQVAE, info: DataInfo = SMALL, **overrides) -> VQVAEPrior:
    parent_config = json.dumps(vars(parent.config))
    config = build_config(VQVAEPriorConfig, {"parent_config": parent_config, "hidden": 8,
                                             "layers": 1, "first_kernel": 3, **overrides})
    torch.manual_seed(1)
    model = VQVAEPrior(config, info)
    model.attach_parent(parent)
    return model


def test_the_default_prior_misses_one_earlier_code_at_three_positions_of_a_4x4_grid():
    """The comment on VQVAEPriorConfig.first_kernel, measured by gradients on digits' 4x4 code
    grid: the 5x5 mask-A layer and one block's masked 3x3 see every earlier code except, at
    the three codes that start a row, the last code of the row above."""
    torch.manual_seed(0)
    model = VQVAEPrior(VQVAEPriorConfig(), DataInfo(kind="image", shape=(1, 8, 8), levels=17))
    assert model.prior.data.shape == (1, 4, 4)
    missed = {}
    for r, c in itertools.product(range(4), range(4)):
        before = (torch.arange(16) < 4 * r + c).view(4, 4)
        seen = model.prior.receptive_field(r, c) > 0
        assert not (seen & ~before).any(), (r, c)
        if (before & ~seen).any():
            missed[(r, c)] = (before & ~seen).nonzero().tolist()
    assert missed == {(1, 0): [[0, 3]], (2, 0): [[1, 3]], (3, 0): [[2, 3]]}


def test_attach_parent_copies_the_vqvae_and_freezes_it():
    parent = small_vqvae()
    model = prior_for(parent)
    for name, tensor in parent.state_dict().items():
        assert torch.equal(model.vqvae.state_dict()[name], tensor), name
    assert not any(p.requires_grad for p in model.vqvae.parameters())
    with pytest.raises(GenzooError, match="parent"):
        model.attach_parent(small_vqvae(codebook_size=4))

def test_the_frozen_vqvae_stays_in_eval_mode_while_the_prior_trains():
    model = prior_for(small_vqvae(dropout=0.5)).train()
    assert model.prior.training and not model.vqvae.training
    x = images()
    first = model.vqvae.reconstruction_log_prob(x)
    assert torch.equal(first, model.vqvae.reconstruction_log_prob(x))  # no dropout noise


def test_prior_log_prob_is_reconstruction_plus_prior_of_the_codes():
    parent = small_vqvae()
    model = prior_for(parent).eval()
    x = images()
    codes = parent.encode(x)
    recon = parent.likelihood.log_prob(parent.decode_params(codes), x)
    logits = model.prior.logits(codes[:, None])  # (N, 1, K, h, w)
    prior = logits.log_softmax(2).gather(2, codes[:, None, None]).flatten(1).sum(1)
    torch.testing.assert_close(model.log_prob(x), recon + prior)


@pytest.mark.parametrize("code_input", ["onehot", "ordinal"])
def test_the_bound_sums_to_at_most_one_and_the_joint_to_exactly_one(code_input):
    """sum_x exp(ELBO(x)) = sum_x p(x, z_q(x)) <= sum_x sum_z p(x, z) = 1, checked over all 16
    binary 2x2 images and all 16 code grids of a 2-code, 2x2 model."""
    torch.manual_seed(0)
    parent = VQVAE(VQVAEConfig(codebook_size=2, code_dim=2, hidden=4, downsample=1), TINY)
    model = prior_for(parent, TINY, code_input=code_input).eval()
    every = torch.tensor(list(itertools.product(range(2), repeat=4)))
    x_all, z_all = every.view(16, 1, 2, 2), every.view(16, 2, 2)
    bound_mass = float(model.log_prob(x_all).double().exp().sum())
    with torch.no_grad():
        log_pz = model.prior.log_prob(z_all[:, None])  # (16,)
        params = parent.decode_params(z_all)
        log_px_given_z = torch.stack([parent.likelihood.log_prob(params, x.expand(16, 1, 2, 2))
                                      for x in x_all])  # (16 images, 16 grids)
    joint = float((log_px_given_z + log_pz).double().exp().sum())
    assert joint == pytest.approx(1.0, abs=1e-5)
    assert 0 < bound_mass <= 1.0 + 1e-6


@pytest.mark.parametrize("code_input", ["onehot", "ordinal"])
def test_prior_samples_are_levels_deterministic_and_cached_matches_naive(code_input):
    model = prior_for(small_vqvae(), code_input=code_input, layers=2).eval()
    a = model.sample(5, torch.Generator().manual_seed(0))
    b = model.sample(5, torch.Generator().manual_seed(0))
    assert a.shape == (5, 1, 5, 5) and a.dtype == torch.int64 and torch.equal(a, b)
    assert int(a.min()) >= 0 and int(a.max()) < 4
    with torch.no_grad():  # weights far from their init, so a wrong cache shows in the logits
        for parameter in model.prior.parameters():
            parameter.normal_(0.0, 0.3)
    naive, cached = NaiveStepper(model.prior, None), model.prior.cached_stepper(5)
    codes = torch.randint(8, (5, 1, 3, 3), generator=torch.Generator().manual_seed(1))
    for row, col in itertools.product(range(3), range(3)):
        expected = naive.params_at(codes, row, col)
        torch.testing.assert_close(cached.params_at(codes, row, col), expected, atol=1e-4, rtol=0)
    assert expected.std() > 0.1
    g1, g2 = torch.Generator().manual_seed(2), torch.Generator().manual_seed(2)
    assert torch.equal(model.prior.sample(5, g1, cached=True),
                       model.prior.sample(5, g2, cached=False))


def test_training_the_prior_leaves_the_vqvae_unchanged():
    parent = small_vqvae()
    model = prior_for(parent, lr=1e-2).train()
    frozen = {k: v.clone() for k, v in model.vqvae.state_dict().items()}
    prior_before = [p.detach().clone() for p in model.prior.parameters()]
    optimizers = model.configure_optimizers()
    x = images(16)
    first = model.loss(x)
    assert set(first) >= {"loss", "prior_bits_per_code", "bits_per_dim"}
    for _ in range(20):
        model.training_step(x, optimizers)
    for name, tensor in model.vqvae.state_dict().items():
        assert torch.equal(tensor, frozen[name]), name
    assert any(not torch.equal(p, q) for p, q in zip(model.prior.parameters(), prior_before))
    assert float(model.loss(x)["loss"].detach()) < float(first["loss"].detach())
