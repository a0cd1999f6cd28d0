"""PixelCNN: masks that respect the raster order, exact likelihood, and learning on digits."""

from __future__ import annotations

import math

import pytest
import torch

from genzoo.plugins.independent import IndependentConfig, IndependentPixels
from genzoo.plugins.pixelcnn import MaskedConv2d, PixelCNN, PixelCNNConfig
from genzoo.registry import DataInfo

DIGITS = DataInfo(kind="image", shape=(1, 8, 8), levels=17)


@pytest.mark.parametrize("mask_type,expected_centre", [("A", 0.0), ("B", 1.0)])
def test_mask_shape(mask_type, expected_centre):
    conv = MaskedConv2d(mask_type, 1, 1, 5)
    mask = conv.mask[0, 0]
    assert mask[2, 2] == expected_centre
    assert mask[:2].eq(1).all() and mask[2, :2].eq(1).all()  # above, and left in the row
    assert mask[3:].eq(0).all() and mask[2, 3:].eq(0).all()  # below, and right in the row


def test_each_conditional_sees_only_earlier_pixels():
    """d logits(i) / d x(j) is zero for every j >= i in raster order (no blind leaks)."""
    torch.manual_seed(0)
    model = PixelCNN(PixelCNNConfig(hidden=8, layers=3), DIGITS)
    x = torch.randint(17, (1, 1, 8, 8)).float().requires_grad_(True)
    width = 8
    for i in (0, 9, 27, 63):
        row, col = divmod(i, width)
        scaled = x * (2.0 / 16) - 1.0
        out = model.net(scaled)[0, :, row, col].sum()
        (grad,) = torch.autograd.grad(out, x)
        dependence = grad[0, 0].flatten().abs()
        assert dependence[i:].sum() == 0, f"pixel {i} sees itself or a later pixel"
        if i > 0:
            assert dependence[:i].sum() > 0, f"pixel {i} sees none of the earlier pixels"


def test_log_prob_is_the_sum_of_per_pixel_conditionals():
    torch.manual_seed(0)
    model = PixelCNN(PixelCNNConfig(hidden=8, layers=1), DIGITS).eval()
    x = torch.randint(17, (3, 1, 8, 8))
    log_softmax = model.logits(x).log_softmax(2)  # (3, 1, 17, 8, 8)
    by_hand = log_softmax.gather(2, x.unsqueeze(2)).flatten(1).sum(1)
    torch.testing.assert_close(model.log_prob(x), by_hand)
    assert model.loss(x)["loss"].item() == pytest.approx(-by_hand.mean().item() / 64, rel=1e-5)


def test_sampling_follows_the_learned_conditionals():
    """A model trained on one constant image samples that image (sampling is wired correctly)."""
    torch.manual_seed(0)
    model = PixelCNN(PixelCNNConfig(hidden=16, layers=1, lr=1e-2), DIGITS)
    target = torch.arange(64).remainder(17).view(1, 1, 8, 8)
    optimizers = model.configure_optimizers()
    for _ in range(150):
        model.training_step(target, optimizers)
    samples = model.sample(4, generator=torch.Generator().manual_seed(0))
    assert (samples == target).float().mean() > 0.95


def test_a_short_training_beats_the_uniform_and_moves_toward_the_data(registry):
    from genzoo.registry.store import RunStore
    from genzoo.registry.training import LoopSettings, start_run

    store = RunStore()
    indep = start_run(registry, store, "independent", "digits",
                      settings=LoopSettings(progress=False))
    cnn = start_run(registry, store, "pixelcnn", "digits", steps=60,
                    overrides={"hidden": "32", "layers": "2"},
                    settings=LoopSettings(progress=False))
    uniform = math.log2(17)
    assert indep.metrics["test_bits_per_dim"] < uniform - 1.0
    assert cnn.metrics["test_bits_per_dim"] < uniform - 1.0


def test_independent_fit_is_the_smoothed_frequency_table():
    data = DataInfo(kind="image", shape=(1, 1, 2), levels=3)
    model = IndependentPixels(IndependentConfig(alpha=1.0), data)
    train = torch.tensor([[[[0, 2]]], [[[0, 2]]], [[[1, 2]]]])  # pixel 0: 0,0,1; pixel 1: 2,2,2
    assert model.fit(train) is True
    probs = model.logits.softmax(-1)[0, 0]
    torch.testing.assert_close(probs[0], torch.tensor([3, 2, 1]) / 6.0)
    torch.testing.assert_close(probs[1], torch.tensor([1, 1, 4]) / 6.0)
    x = torch.tensor([[[[0, 2]]]])
    assert model.log_prob(x).item() == pytest.approx(math.log(3 / 6) + math.log(4 / 6))
