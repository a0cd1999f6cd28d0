"""Gated PixelCNN: no blind spot, gated units, class conditioning, and a cached stepper that
gives the same conditionals as the full pass."""

from __future__ import annotations

import itertools

import pytest
import torch

from genzoo.plugins.gated_pixelcnn import GatedPixelCNN, GatedPixelCNNConfig, gate
from genzoo.plugins.pixelcnn import PixelCNN, PixelCNNConfig
from genzoo.registry import DataInfo
from genzoo.registry.autoregressive import NaiveStepper
from genzoo.registry.config import build_config
from genzoo.registry.errors import BadConfig, BadData

DIGITS = DataInfo(kind="image", shape=(1, 8, 8), levels=17, n_classes=10)
UNLABELLED = DataInfo(kind="image", shape=(1, 8, 8), levels=17)


def make(data=DIGITS, seed=0, **overrides) -> GatedPixelCNN:
    torch.manual_seed(seed)
    return GatedPixelCNN(GatedPixelCNNConfig(**{"hidden": 8, **overrides}), data).eval()


def field(model, row, col) -> torch.Tensor:
    """Receptive field over several random images (so no ReLU is dead for all of them)."""
    data = model.data
    x = torch.randint(data.levels, (6, *data.shape), generator=torch.Generator().manual_seed(1))
    labels = torch.arange(6) % data.n_classes if model.conditional else None
    return model.receptive_field(row, col, x, labels)


def test_no_blind_spot_where_the_plain_pixelcnn_has_one():
    """Up-right of the target, beyond the first layer's reach, PixelCNN is blind; gated is not."""
    row, col = 5, 2
    gated = field(make(hidden=16), row, col)
    torch.manual_seed(0)
    plain = PixelCNN(PixelCNNConfig(hidden=16, layers=4), UNLABELLED)
    plain_field = field(plain, row, col)
    # the 7x7 type-A first layer reaches 3 columns right of the target in the row above
    assert (plain_field[row - 1, col + 4:] == 0).all()
    assert (gated[row - 1, col + 4:] > 0).all()
    assert (gated[row - 2, col + 4:] > 0).all() and (plain_field[row - 2, col + 5:] == 0).all()


def test_no_blind_spot_with_3x3_kernels():
    """The brief's (row-1, col+2): with 3x3 kernels throughout, the plain PixelCNN misses it."""
    row, col = 4, 3
    gated = field(make(hidden=16, first_kernel=3), row, col)
    torch.manual_seed(0)
    plain = field(PixelCNN(PixelCNNConfig(hidden=16, layers=4, first_kernel=3), UNLABELLED),
                  row, col)
    assert plain[row - 1, col + 2] == 0 and gated[row - 1, col + 2] > 0


@pytest.mark.parametrize("conditional", [False, True])
def test_each_conditional_sees_exactly_the_earlier_pixels(conditional):
    """On 5x5, every pixel before the target in raster order is seen; none at or after it."""
    data = DataInfo(kind="image", shape=(1, 5, 5), levels=4, n_classes=3)
    model = make(data, hidden=16, conditional=conditional)
    for i in range(25):
        row, col = divmod(i, 5)
        seen = field(model, row, col).flatten() > 0
        assert not seen[i:].any(), f"pixel {i} sees itself or a later pixel"
        assert seen[:i].all(), f"pixel {i} misses an earlier pixel: {seen[:i].tolist()}"


def test_gate_is_tanh_times_sigmoid_with_the_label_bias():
    pre, bias = torch.randn(2, 6, 3, 3), torch.randn(2, 6)
    f, g = pre.chunk(2, 1)
    bf, bg = bias[:, :3, None, None], bias[:, 3:, None, None]
    torch.testing.assert_close(gate(pre, bias), torch.tanh(f + bf) * torch.sigmoid(g + bg))
    torch.testing.assert_close(gate(pre, None), torch.tanh(f) * torch.sigmoid(g))


CASES = [((1, 5, 5), 4, False, 0), ((1, 8, 8), 17, False, 1), ((1, 9, 7), 17, True, 2),
         ((1, 9, 7), 4, False, 3), ((2, 5, 6), 4, True, 4), ((1, 8, 8), 17, True, 5)]


@pytest.mark.parametrize("shape,levels,conditional,seed", CASES)
def test_cached_stepper_equals_the_full_pass(shape, levels, conditional, seed):
    """Logits at every step of a sampling run, and the samples themselves, match the naive
    stepper's (one full network pass per pixel)."""
    data = DataInfo(kind="image", shape=shape, levels=levels, n_classes=10)
    model = make(data, seed=seed, conditional=conditional, layers=3)
    n = 3
    labels = torch.tensor([0, 4, 9]) if conditional else None
    cached, naive = model.cached_stepper(n, labels), NaiveStepper(model, labels)
    assert cached.incremental
    x = torch.zeros(n, *shape, dtype=torch.int64)
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for row, col in itertools.product(range(shape[1]), range(shape[2])):
            params = cached.params_at(x, row, col)
            torch.testing.assert_close(params, naive.params_at(x, row, col), atol=1e-4, rtol=0)
            x[:, :, row, col] = model.sample_from(params, generator)
    assert x.float().std() > 0  # a real sampling run, not all zeros
    for s in (seed, seed + 10):
        first = model.sample(n, torch.Generator().manual_seed(s), labels=labels, cached=True)
        second = model.sample(n, torch.Generator().manual_seed(s), labels=labels, cached=False)
        assert torch.equal(first, second)


@pytest.mark.parametrize("conditional", [False, True])
def test_cached_sampling_draws_the_same_images_at_mnist_size(conditional):
    """28x28 binary, MNIST's size: 784 cached steps through both stacks, rows far wider than
    the first kernel, give the naive loop's images, with and without a class bias."""
    data = DataInfo(kind="image", shape=(1, 28, 28), levels=2, n_classes=10)
    model = make(data, seed=0, conditional=conditional, layers=2)
    labels = torch.tensor([3, 7]) if conditional else None
    fast = model.sample(2, torch.Generator().manual_seed(1), labels=labels, cached=True)
    slow = model.sample(2, torch.Generator().manual_seed(1), labels=labels, cached=False)
    assert fast.shape == (2, 1, 28, 28) and torch.equal(fast, slow)
    assert 0.05 < fast.float().mean() < 0.95  # both levels drawn often: not a blank image


def test_cached_completion_equals_naive_completion():
    """Known pixels (a top half kept) flow through the cached buffers as in the full pass."""
    model = make(conditional=True)
    x = torch.randint(17, (4, 1, 8, 8), generator=torch.Generator().manual_seed(0))
    known = torch.zeros(8, 8, dtype=torch.bool)
    known[:4] = True
    known[5, 2] = True  # and one pixel further down
    kw = dict(labels=torch.tensor([1, 2, 3, 4]))
    fast = model.complete(x, known, torch.Generator().manual_seed(3), cached=True, **kw)
    slow = model.complete(x, known, torch.Generator().manual_seed(3), cached=False, **kw)
    assert torch.equal(fast, slow)
    assert torch.equal(fast[:, :, :4], x[:, :, :4]) and torch.equal(fast[:, :, 5, 2], x[:, :, 5, 2])


def test_cached_stepper_refuses_positions_out_of_raster_order():
    model = make()
    stepper = model.cached_stepper(2, None)
    x = torch.zeros(2, 1, 8, 8, dtype=torch.int64)
    stepper.params_at(x, 0, 0)
    with pytest.raises(BadData, match=r"expected \(0, 1\) next, got \(0, 2\)"):
        stepper.params_at(x, 0, 2)
    with pytest.raises(BadData, match=r"shape \(1, 8, 8\), got x of shape \(3, 1, 8, 8\)"):
        stepper.params_at(torch.zeros(3, 1, 8, 8, dtype=torch.int64), 0, 0)


def test_labels_change_the_samples_and_the_likelihood():
    model = make(conditional=True)
    a = model.sample(4, torch.Generator().manual_seed(0), labels=3)
    b = model.sample(4, torch.Generator().manual_seed(0), labels=7)
    assert not torch.equal(a, b)
    assert torch.equal(a, model.sample(4, torch.Generator().manual_seed(0), labels=3))
    lp3, lp7 = model.log_prob(a, labels=torch.full((4,), 3)), model.log_prob(a, labels=7)
    assert not torch.allclose(lp3, lp7)


def test_conditional_misuse_is_a_clear_error():
    model = make(conditional=True)
    x = torch.zeros(2, 1, 8, 8, dtype=torch.int64)
    with pytest.raises(BadConfig, match="labels"):
        model.log_prob(x)
    with pytest.raises(BadData, match="label 10 "):
        model.sample(1, torch.Generator().manual_seed(0), labels=10)
    with pytest.raises(BadData, match="label -1 "):
        model.log_prob(x, labels=torch.tensor([0, -1]))
    with pytest.raises(BadConfig, match="conditional=true"):
        GatedPixelCNN(GatedPixelCNNConfig(conditional=True), UNLABELLED)
    with pytest.raises(BadConfig, match="not conditional"):
        make().sample(1, labels=3)


def test_conditional_model_is_normalized_for_every_label():
    data = DataInfo(kind="image", shape=(1, 2, 2), levels=2, n_classes=3)
    model = make(data, conditional=True)
    images = torch.tensor(list(itertools.product(range(2), repeat=4))).view(16, 1, 2, 2)
    for label in range(3):
        with torch.no_grad():
            total = torch.logsumexp(model.log_prob(images, labels=label).double(), 0).exp()
        assert abs(float(total) - 1.0) < 1e-5


@pytest.mark.parametrize("key,value", [("kernel", "4"), ("kernel", "0"), ("first_kernel", "1"),
                                       ("first_kernel", "6"), ("hidden", "0"), ("layers", "0"),
                                       ("dropout", "1.0"), ("dropout", "-0.1")])
def test_bad_config_names_the_value(key, value):
    with pytest.raises(BadConfig, match=rf"{key} must .*got {value}"):
        build_config(GatedPixelCNNConfig, {key: value})


def test_a_short_training_lowers_the_loss():
    model = make(dropout=0.0, lr=1e-2)
    model.train()
    batch = torch.randint(17, (4, 1, 8, 8), generator=torch.Generator().manual_seed(0))
    optimizers = model.configure_optimizers()
    first = model.training_step(batch, optimizers)["loss"]
    for _ in range(25):
        last = model.training_step(batch, optimizers)["loss"]
    assert last < first - 0.3


def test_conditional_training_learns_one_image_per_class():
    """Trained on two classes with one constant image each, sampling a class draws its image."""
    data = DataInfo(kind="image", shape=(1, 5, 5), levels=4, n_classes=2)
    model = make(data, hidden=16, dropout=0.0, lr=1e-2, conditional=True)
    images = torch.stack([torch.arange(25).remainder(4), torch.arange(25).flip(0).remainder(3)])
    images = images.view(2, 1, 5, 5)
    labels = torch.tensor([0, 1])
    optimizers = model.configure_optimizers()
    model.train()
    for _ in range(120):
        model.training_step(images, optimizers, labels=labels)
    for label in (0, 1):
        drawn = model.sample(4, torch.Generator().manual_seed(0), labels=label)
        assert (drawn == images[label]).float().mean() > 0.95, f"class {label}"
