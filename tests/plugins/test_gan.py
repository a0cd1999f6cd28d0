"""The GAN: shapes on every image size, determinism, two players with two optimizers, losses,
the refused log_prob, config errors, and a short run that learns a 2-d mixture of 8 modes."""

from __future__ import annotations

import math

import pytest
import torch

from genzoo.plugins.gan import GAN, GANConfig
from genzoo.registry import DataInfo, ImageData
from genzoo.registry.config import build_config
from genzoo.registry.errors import BadConfig, BadData, GenzooError

DIGITS = DataInfo(kind="image", shape=(1, 8, 8), levels=17)
MNIST = DataInfo(kind="image", shape=(1, 28, 28), levels=256)
POINTS = DataInfo(kind="image", shape=(1, 1, 2), levels=32)
LOGGED = {"loss", "d_loss", "g_loss", "d_real", "d_fake"}


def make(info: DataInfo, **overrides) -> GAN:
    torch.manual_seed(0)
    return GAN(build_config(GANConfig, overrides), info)


def images(info: DataInfo, n: int = 16, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(info.levels, (n, *info.shape), generator=generator)


@pytest.mark.parametrize("info, arch", [(DIGITS, "dcgan"), (MNIST, "dcgan"), (POINTS, "mlp"),
                                        (DataInfo("image", (3, 16, 16), 4), "dcgan"),
                                        (DataInfo("image", (1, 32, 32), 2), "dcgan")])
def test_samples_are_int64_levels_of_the_data_shape(info, arch):
    model = make(info).eval()
    assert model.info()["arch"] == arch  # auto: an MLP only for tiny images (2-d points)
    x = model.sample(5, generator=torch.Generator().manual_seed(0))
    assert x.shape == (5, *info.shape) and x.dtype == torch.int64
    assert int(x.min()) >= 0 and int(x.max()) < info.levels


def test_the_same_seed_gives_the_same_samples_in_any_mode_and_batch():
    model = make(DIGITS)
    model.train()  # batchnorm in training mode must not make samples depend on the batch
    first = model.sample(8, generator=torch.Generator().manual_seed(3))
    model.eval()
    again = model.sample(8, generator=torch.Generator().manual_seed(3))
    assert torch.equal(first, again)
    assert torch.equal(model.sample(1, generator=torch.Generator().manual_seed(3)), first[:1])
    assert not torch.equal(first, model.sample(8, generator=torch.Generator().manual_seed(4)))
    assert model.G.training is False  # sample() restored the mode it found


def test_each_step_updates_each_player_with_its_own_optimizer():
    model = make(DIGITS)
    opt_d, opt_g = model.configure_optimizers()
    assert {id(p) for g in opt_d.param_groups for p in g["params"]} == \
        {id(p) for p in model.D.parameters()}
    assert {id(p) for g in opt_g.param_groups for p in g["params"]} == \
        {id(p) for p in model.G.parameters()}
    assert opt_d.defaults["lr"] == 2e-4 and opt_d.defaults["betas"] == (0.5, 0.999)

    snapshot = {name: p.detach().clone() for name, p in model.named_parameters()}
    model.train()
    values = model.training_step(images(DIGITS), [opt_d, opt_g])
    assert set(values) == LOGGED and all(math.isfinite(v) for v in values.values())
    assert values["loss"] == pytest.approx(values["d_loss"] + values["g_loss"])
    assert 0 < values["d_real"] < 1 and 0 < values["d_fake"] < 1
    changed = {name for name, p in model.named_parameters() if not torch.equal(p, snapshot[name])}
    assert any(n.startswith("D.") for n in changed) and any(n.startswith("G.") for n in changed)
    assert all(p.requires_grad for p in model.D.parameters())  # D re-enabled after G's step


def test_the_discriminator_step_leaves_the_generator_alone_and_vice_versa():
    model = make(POINTS, d_steps=2)
    opt_d, opt_g = model.configure_optimizers()
    g_before = [p.detach().clone() for p in model.G.parameters()]
    d_before = [p.detach().clone() for p in model.D.parameters()]
    opt_g.step = lambda *a, **k: None  # only D may move now
    model.training_step(images(POINTS), [opt_d, opt_g])
    assert all(torch.equal(a, b) for a, b in zip(g_before, model.G.parameters()))
    assert not all(torch.equal(a, b) for a, b in zip(d_before, model.D.parameters()))

    model = make(POINTS)
    opt_d, opt_g = model.configure_optimizers()
    d_before = [p.detach().clone() for p in model.D.parameters()]
    opt_d.step = lambda *a, **k: None  # only G may move now
    model.training_step(images(POINTS), [opt_d, opt_g])
    assert all(torch.equal(a, b) for a, b in zip(d_before, model.D.parameters()))


def test_the_learning_rate_defaults_per_architecture_and_can_be_set():
    assert make(DIGITS).configure_optimizers()[1].defaults["lr"] == 2e-4  # DCGAN's
    assert make(POINTS).configure_optimizers()[1].defaults["lr"] == 2e-3  # the MLPs'
    assert make(POINTS, lr=1e-4).configure_optimizers()[0].defaults["lr"] == 1e-4
    assert build_config(GANConfig, {"lr": "none"}).lr is None  # from the command line


def test_loss_has_the_same_terms_without_stepping():
    model = make(DIGITS)
    before = [p.detach().clone() for p in model.parameters()]
    parts = model.loss(images(DIGITS))
    assert set(parts) == LOGGED and parts["loss"].requires_grad
    assert torch.allclose(parts["loss"], parts["d_loss"] + parts["g_loss"])
    # at initialization D is near 1/2 on everything: L_D ~ 2 log 2, L_G ~ log 2
    assert float(parts["d_loss"]) == pytest.approx(2 * math.log(2), abs=0.3)
    assert float(parts["g_loss"]) == pytest.approx(math.log(2), abs=0.3)
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))


def test_log_prob_refuses_and_points_to_the_parzen_estimate():
    model = make(DIGITS)
    with pytest.raises(GenzooError, match="implicit model.*Parzen"):
        model.log_prob(images(DIGITS))


def test_dequantization_keeps_real_images_in_range_and_within_half_a_level():
    model = make(DIGITS, dequantize=True)
    x = images(DIGITS, 64)
    scaled = model.scale(x)
    assert float(scaled.min()) >= -1 and float(scaled.max()) <= 1
    levels = (scaled + 1) * (DIGITS.levels - 1) / 2
    assert float((levels - x).abs().max()) <= 0.5 + 1e-5 and not torch.equal(levels, x.float())
    plain = make(DIGITS, dequantize=False).scale(x)
    assert torch.allclose((plain + 1) * (DIGITS.levels - 1) / 2, x.float(), atol=1e-5)


@pytest.mark.parametrize("overrides, message", [
    ({"latent_dim": 0}, "latent_dim"),
    ({"arch": "resnet"}, "arch='resnet': must be one of auto, dcgan, mlp"),
    ({"d_steps": 0}, "d_steps"), ({"beta1": 1.0}, "beta1"), ({"channels": 0}, "channels"),
    ({"lr": 0.0}, "lr")])
def test_bad_config_is_refused_with_the_value_named(overrides, message):
    with pytest.raises(BadConfig, match=message):
        build_config(GANConfig, overrides)


def test_bad_data_is_refused():
    with pytest.raises(BadData, match="discrete images"):
        GAN(GANConfig(), DataInfo(kind="series", shape=(1,)))
    model = make(DIGITS)
    with pytest.raises(BadData, match="shape"):
        model.loss(images(MNIST, 4))
    with pytest.raises(BadData, match="levels"):
        model.loss(images(DIGITS, 4).float())


def eight_modes(n: int, levels: int = 32, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Points around 8 modes on a circle of a levels x levels grid, as (N, 1, 1, 2) images."""
    g = torch.Generator().manual_seed(seed)
    angles = torch.arange(8) * (2 * math.pi / 8)
    centre, radius = (levels - 1) / 2, 0.35 * (levels - 1)
    modes = torch.stack([centre + radius * angles.cos(), centre + radius * angles.sin()], 1)
    points = modes[torch.randint(8, (n,), generator=g)] + 0.6 * torch.randn(n, 2, generator=g)
    return points.round().clamp(0, levels - 1).long().view(n, 1, 1, 2), modes


def near_modes(model: GAN, modes: torch.Tensor) -> tuple[float, int]:
    """Share of 1,000 samples within 3 levels of a mode, and modes with >= 2% of samples."""
    points = model.sample(1000, generator=torch.Generator().manual_seed(0)).view(-1, 2).float()
    dist = torch.cdist(points, modes)  # (1000, 8)
    near = dist.min(1).values < 3
    hits = torch.bincount(dist.argmin(1)[near], minlength=8)
    return float(near.float().mean()), int((hits >= 20).sum())


def test_a_short_run_learns_a_mixture_of_eight_modes():
    """Every draw is seeded (data, weights, batches; z and the dequantization noise from the
    global RNG that ``make`` seeds) and the run has one thread, so a run repeats to the last
    digit on one machine. Yet a GAN's outcome is chaotic in rounding: another CPU kernel
    (ATEN_CPU_CAPABILITY=default vs avx512) moved the old test's share from 0.24 to 0.35, and
    its 700 steps of 64 at lr=3e-3 passed for 5 of 10 seeds (2,000 of 64 at lr=2e-3: 9 of 10).
    2,000 steps of 128 at the default lr passed for all 40 runs tried (seeds 0-29, and 0-9 on
    the other kernels: share 0.77-0.95, all 8 modes covered), so the bound below holds for
    the run whatever its rounding."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        train, modes = eight_modes(2000)
        data = ImageData(name="eight-modes", train=train, test=train[:100], levels=32)
        # modes a grid point or two wide: dequantized real points keep D from spotting the grid
        model = make(data.info, hidden=64, latent_dim=8, dequantize=True)  # lr: mlp's 2e-3
        untrained = near_modes(model.eval(), modes)
        model.train()
        optimizers = model.configure_optimizers()
        g = torch.Generator().manual_seed(1)
        torch.manual_seed(0)  # z and the dequantization noise in training_step
        for _ in range(2000):
            model.training_step(train[torch.randint(len(train), (128,), generator=g)],
                                optimizers)
        share, covered = near_modes(model.eval(), modes)
    finally:
        torch.set_num_threads(threads)
    print(f"eight modes: share {share!r}, covered {covered}")  # shown with -s
    assert untrained[0] < 0.1  # the check fails for a generator that has not learned
    assert share > 0.6 and covered >= 7, (share, covered)


def test_a_generator_loss_gone_nan_stops_the_run_and_keeps_the_last_good_checkpoint(monkeypatch):
    from genzoo.registry.errors import TrainingDiverged
    from genzoo.registry.plugins import get_registry
    from genzoo.registry.runs import load_run
    from genzoo.registry.store import RunStore
    from genzoo.registry.training import LoopSettings, start_run

    original = GAN.g_loss
    calls = {"n": 0}

    def poisoned(self, fake):
        calls["n"] += 1
        loss = original(self, fake)
        return loss * float("nan") if calls["n"] == 7 else loss

    monkeypatch.setattr(GAN, "g_loss", poisoned)
    registry, store = get_registry(), RunStore()
    expected = r"step 7.*g_loss=nan.*last good checkpoint \(step 5\)"
    with pytest.raises(TrainingDiverged, match=expected):
        start_run(registry, store, "gan", "digits", steps=20,
                  overrides={"channels": "8", "batch_size": "16"},
                  settings=LoopSettings(progress=False, checkpoint_every=5))
    (record,) = store.list_runs()
    assert record.status == "failed" and "step 7" in record.error
    assert load_run(record.run_id, store, registry).step == 5
