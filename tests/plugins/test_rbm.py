"""RBM: the free energy and log Z against brute-force sums, AIS against the exact log Z, the
Gibbs chain's frames, persistent CD learning, and the estimate kept apart from exact numbers."""

from __future__ import annotations

import itertools
import json
import math

import pytest
import torch
from click.testing import CliRunner

from genzoo.plugins.rbm import RBM, RBMConfig
from genzoo.registry import DataInfo
from genzoo.registry.ais import ais, log_partition_exact, schedule
from genzoo.registry.cli import cli
from genzoo.registry.config import build_config
from genzoo.registry.errors import BadConfig, BadData
from genzoo.registry.runs import load_dataset


def run(*args):
    """``genzoo ARGS`` in-process (the registry tests' cli_helpers.run)."""
    return CliRunner().invoke(cli, [str(a) for a in args])


def random_rbm(visible: int, hidden: int, seed: int, scale: float = 1.0) -> RBM:
    """An RBM on ``visible`` binary pixels (1 x 1 x visible) with N(0, scale^2) weights and
    N(0, 1) biases: far from its base model, with several modes."""
    g = torch.Generator().manual_seed(seed)
    model = RBM(RBMConfig(hidden=hidden), DataInfo("image", (1, 1, visible), 2))
    with torch.no_grad():
        model.weight.copy_(scale * torch.randn(visible, hidden, generator=g))
        model.visible_bias.copy_(torch.randn(visible, generator=g))
        model.hidden_bias.copy_(torch.randn(hidden, generator=g))
        model.base_bias.copy_(0.5 * torch.randn(visible, generator=g))
    return model.double()


def every_state(n: int) -> torch.Tensor:
    return torch.tensor(list(itertools.product((0.0, 1.0), repeat=n)), dtype=torch.float64)


def test_free_energy_is_minus_log_sum_over_h_of_exp_minus_energy():
    model = random_rbm(5, 4, seed=0)
    vs, hs = every_state(5), every_state(4)  # (32, 5), (16, 4)
    energies = torch.stack([model.energy(v.expand(16, -1), hs) for v in vs])  # (32, 16)
    brute = -torch.logsumexp(-energies, 1)
    torch.testing.assert_close(model.free_energy(vs), brute, rtol=0, atol=1e-10)


@pytest.mark.parametrize("visible, hidden", [(6, 4), (4, 6)])  # either side enumerated
def test_exact_log_partition_is_the_double_sum_over_v_and_h(visible, hidden):
    model = random_rbm(visible, hidden, seed=1)
    vs, hs = every_state(visible), every_state(hidden)
    v, h = vs.repeat_interleave(len(hs), 0), hs.repeat(len(vs), 1)  # every (v, h) pair
    brute = float(torch.logsumexp(-model.energy(v, h).detach(), 0))
    assert log_partition_exact(model.weight, model.visible_bias, model.hidden_bias) == \
        pytest.approx(brute, abs=1e-9)


def log_p_star(model: RBM, v: torch.Tensor, beta: float) -> torch.Tensor:
    """The path's log p*_beta(v) = (1 - beta) b_A.v + beta b.v + sum_j softplus(beta a_j),
    written out in float64."""
    w, b, c, base = (t.detach().double() for t in (model.weight, model.visible_bias,
                                                    model.hidden_bias, model.base_bias))
    v = v.double()
    return (1 - beta) * v @ base + beta * v @ b + torch.nn.functional.softplus(
        beta * (v @ w + c)).sum(-1)


@pytest.mark.parametrize("beta_from, beta_to", [(0.5, 0.5001), (0.9, 0.91), (0.0, 1.0)])
def test_an_annealing_step_gives_the_log_ratio_of_the_path(beta_from, beta_to):
    """The float32 closed form of a fine step and the float64 fallback of a coarse one both
    give log p*_to(v) - log p*_from(v), with weights large enough to need the fallback."""
    model = random_rbm(30, 12, seed=3, scale=4.0).float()
    v = torch.randint(2, (50, 30), generator=torch.Generator().manual_seed(0)).float()
    ratio, following = model.anneal(v, beta_from, beta_to, torch.Generator().manual_seed(0))
    expected = log_p_star(model, v, beta_to) - log_p_star(model, v, beta_from)
    torch.testing.assert_close(ratio, expected, rtol=1e-6, atol=1e-5)
    assert following.shape == v.shape and set(following.unique().tolist()) <= {0.0, 1.0}


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_ais_agrees_with_the_exact_log_partition_within_a_tenth_of_a_nat(seed):
    """16 visible and 8 hidden units with N(0, 1) weights: 1,000 temperatures and 1,000 runs
    give a standard error near 0.012 nats (measured over 40 models: mean error 0.001, largest
    0.026), so 0.1 is 8 standard errors, not luck."""
    model = random_rbm(16, 8, seed).float()
    exact = log_partition_exact(model.weight, model.visible_bias, model.hidden_bias)
    found = ais(model, 1000, 1000, torch.Generator().manual_seed(seed))
    assert abs(found.log_z - exact) < 0.1, (found.log_z, exact)
    assert 0 < found.std < 0.05  # the spread it reports is the one it has
    low, high = found.interval
    assert low < found.log_z < high


def test_an_ais_schedule_needs_two_temperatures():
    model = random_rbm(4, 3, seed=0).float()
    with pytest.raises(BadConfig, match="an AIS schedule needs at least 2 temperatures"):
        ais(model, 1, 10, torch.Generator())
    with pytest.raises(BadConfig, match="an AIS schedule needs at least 2 temperatures"):
        build_config(RBMConfig, {"ais_temperatures": "1"})
    betas = schedule(14_501)  # the paper's: 500 steps to 0.5, 4,000 to 0.9, 10,000 to 1
    assert betas[0] == 0 and betas[-1] == 1 and bool((betas.diff() > 0).all())
    assert float(betas[500]) == pytest.approx(0.5) and float(betas[4500]) == pytest.approx(0.9)
    assert schedule(2).tolist() == [0.0, 1.0]


def test_non_binary_data_is_refused_in_one_line_naming_the_binary_datasets():
    with pytest.raises(BadData, match="binary images .*mnist-binary, shapes.*17 levels"):
        RBM(RBMConfig(), DataInfo("image", (1, 8, 8), 17))
    result = run("train", "rbm", "--dataset", "digits", "--steps", "1")
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "mnist-binary" in lines[0] and "17 levels" in lines[0]


def test_gibbs_chain_frames_and_seeded_samples():
    model = RBM(RBMConfig(hidden=8, gibbs_steps=7), DataInfo("image", (1, 3, 4), 2))
    model.fit(torch.randint(2, (20, 1, 3, 4), generator=torch.Generator().manual_seed(0)))
    frames = model.gibbs_chain(5, steps=10, every=3, generator=torch.Generator().manual_seed(1))
    assert frames.shape == (4, 5, 1, 3, 4) and frames.dtype == torch.int64  # steps 0, 3, 6, 9
    assert set(frames.unique().tolist()) <= {0, 1}
    again = model.gibbs_chain(5, steps=10, every=3, generator=torch.Generator().manual_seed(1))
    assert torch.equal(frames, again)
    sample = model.sample(5, generator=torch.Generator().manual_seed(1))
    chain = model.gibbs_chain(5, steps=7, every=7, generator=torch.Generator().manual_seed(1))
    assert torch.equal(sample, chain[-1])  # a sample is the chain's frame after gibbs_steps
    with pytest.raises(BadConfig, match="every >= 1"):
        model.gibbs_chain(1, steps=3, every=0)


def test_pcd_learns_shapes_beyond_the_base_rates_with_log_z_exact(registry):
    """16 hidden units: log Z is summed exactly, so the comparison with the base-rate model
    (independent pixels, what the RBM is at W = 0) is exact; 300 PCD-1 steps beat it."""
    data = load_dataset(registry, "shapes-8", {})
    torch.manual_seed(0)
    model = RBM(RBMConfig(hidden=16, lr=3e-3), data.info)
    model.fit(data.train)
    rates = torch.sigmoid(model.base_bias)
    flat = data.test.flatten(1).float()
    base = float((flat * rates.log() + (1 - flat) * (-rates).log1p()).sum(1).mean())
    optimizers = model.configure_optimizers()
    g = torch.Generator().manual_seed(0)
    for _ in range(300):
        model.training_step(data.train[torch.randint(len(data.train), (64,), generator=g)],
                            optimizers)
    model.eval()
    assert model.log_partition().method == "exact"
    with torch.no_grad():
        learned = float(model.log_prob(data.test).mean())
    assert learned > base + 5, (learned, base)  # nats per image (measured: -24.4 vs -31.6)


def test_log_z_is_cached_for_the_weights_and_reset_by_a_training_step():
    model = RBM(RBMConfig(hidden=20, ais_temperatures=50, ais_runs=10),
                DataInfo("image", (1, 4, 5), 2))
    train = torch.randint(2, (16, 1, 4, 5), generator=torch.Generator().manual_seed(0))
    model.fit(train)
    first = model.log_partition()
    assert first.method == "ais" and first.temperatures == 50 and first.runs == 10
    assert model.log_partition() == first and model.info()["log_z"] == first.value
    model.training_step(train, model.configure_optimizers())
    assert "log_z" not in model.info()  # stale: not recomputed by info()
    assert model.log_partition().value != first.value


def test_training_stores_the_estimate_and_its_spread_never_test_bits_per_dim():
    result = run("train", "rbm", "--dataset", "shapes-8", "--steps", "20", "--set", "hidden=24",
                 "--set", "ais_temperatures=100", "--set", "ais_runs=20", "--set",
                 "gibbs_steps=20", "--json", "-q")
    assert result.exit_code == 0, result.output
    metrics = json.loads(result.stdout.strip().splitlines()[-1])["metrics"]
    assert metrics["bound"] == "ais"
    for split in ("val", "test"):
        assert f"{split}_bits_per_dim" not in metrics
        estimate, std = (metrics[f"{split}_bits_per_dim_estimate"],
                         metrics[f"{split}_bits_per_dim_estimate_std"])
        assert 0 < estimate < 1 and 0 < std < 0.1 * estimate
    assert metrics["sample_ms_per_image_b64"] > 0
    # reloaded, the run's log Z is found again from the same seed: the same number
    run_id = json.loads(result.stdout.strip().splitlines()[-1])["run_id"]
    again = run("eval", run_id, "--json")
    out = json.loads(again.stdout.strip().splitlines()[-1])
    assert out["bits_per_dim"] is None and out["bound"] == "ais"
    assert out["bits_per_dim_estimate"] == pytest.approx(metrics["test_bits_per_dim_estimate"],
                                                         rel=1e-9)
    assert "an estimate" in run("eval", run_id).output


def test_evaluate_keeps_the_estimate_apart_with_a_note(registry):
    from genzoo.registry.evaluation import evaluate

    data = load_dataset(registry, "shapes-8", {})
    model = RBM(RBMConfig(hidden=8), data.info)
    model.fit(data.train)
    result = evaluate(model, registry.model("rbm"), data)
    assert result["bound"] == "ais" and result["bits_per_dim"] is None
    assert result["bits_per_dim_estimate_std"] == 0.0  # 8 hidden units: log Z exact
    with torch.no_grad():
        expected = -float(model.log_prob(data.test).mean()) / (64 * math.log(2))
    assert result["bits_per_dim_estimate"] == pytest.approx(expected)
    assert "E[log Z^] <= log Z" in result["note"] and "summed exactly" in result["note"]


def test_the_rbm_declares_its_markov_chain_and_a_bad_chain_is_one_line():
    from genzoo.registry.chains import MarkovChainSampler, check_chain
    from genzoo.registry.errors import BadConfig

    assert issubclass(RBM, MarkovChainSampler)
    for steps, every, message in ((0, 1, "1 to 100,000 steps"), (10, 0, "every 1 to 10"),
                                  (10, 11, "every 1 to 10"), (True, 1, "steps")):
        with pytest.raises(BadConfig, match=message):
            check_chain(steps, every)
    check_chain(10, 10)  # a start and one frame
