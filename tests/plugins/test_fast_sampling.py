"""PixelCNN's cached sampler (Ramachandran et al. 2017) gives the naive full pass's numbers.

Each test drives the cached stepper and the naive one (a full network pass per pixel) over the
same pixels and checks that they agree: logits at every step, samples, completions.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from genzoo.plugins.pixelcnn import PixelCNN, PixelCNNConfig
from genzoo.registry import DataInfo
from genzoo.registry.autoregressive import NaiveStepper
from genzoo.registry.errors import BadData

# (channels, height, width, levels, first_kernel): a kernel wider than the image, odd shapes,
# two channels, 17 levels like digits.
SHAPES = [(1, 5, 5, 4, 7), (1, 8, 8, 17, 5), (1, 7, 9, 5, 3), (2, 6, 6, 3, 5)]



def random_pixelcnn(channels, height, width, levels, first_kernel, seed, layers=2) -> PixelCNN:
    """A small PixelCNN with random weights large enough to give far-from-uniform logits."""
    torch.manual_seed(seed)
    data = DataInfo(kind="image", shape=(channels, height, width), levels=levels)
    model = PixelCNN(PixelCNNConfig(hidden=8, layers=layers, first_kernel=first_kernel), data)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.normal_(0.0, 0.3)
    return model.eval()


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s[:3])) + f"-L{s[3]}")
def test_cached_logits_equal_the_full_pass_at_every_step(shape, seed):
    """Both steppers see the same pixels; the image starts random, so a peek at a later pixel
    would show. The same stepper is then reused for a second image (its caches reset)."""
    channels, height, width, levels, _ = shape
    model = random_pixelcnn(*shape, seed=seed)
    n = 3
    naive, cached = NaiveStepper(model, None), model.cached_stepper(n, None)
    assert cached is not None and cached.incremental
    generator = torch.Generator().manual_seed(seed)
    for _ in range(2):
        x = torch.randint(levels, (n, channels, height, width), generator=generator)
        for row in range(height):
            for col in range(width):
                expected = naive.params_at(x, row, col)  # (N, C*levels)
                got = cached.params_at(x, row, col)
                assert got.shape == (n, channels * levels)
                torch.testing.assert_close(got, expected, atol=1e-4, rtol=0,
                                           msg=f"pixel {(row, col)}")
                x[:, :, row, col] = model.sample_from(expected, generator)
    assert expected.std() > 0.1  # the logits were far from uniform: the comparison had teeth


@pytest.mark.parametrize("seed", [2, 3, 4])
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s[:3])) + f"-L{s[3]}")
def test_cached_sampling_draws_the_same_images(shape, seed):
    """Several seeds: each draws other weights and other pixels, so other cache paths run."""
    model = random_pixelcnn(*shape, seed=seed, layers=3)
    fast = model.sample(4, generator=torch.Generator().manual_seed(seed + 5), cached=True)
    slow = model.sample(4, generator=torch.Generator().manual_seed(seed + 5), cached=False)
    assert torch.equal(fast, slow)
    assert fast.unique().numel() > 1  # not a degenerate all-equal image


@pytest.mark.parametrize("levels", [2, 256], ids=["mnist-binary", "mnist"])
def test_cached_sampling_draws_the_same_images_at_mnist_size(levels):
    """28x28, MNIST's size: 784 cached steps, rows far wider than the 7x7 first kernel, give the
    naive loop's images (an error in a cache's row or column bookkeeping that the small shapes
    above never reach would show here)."""
    model = random_pixelcnn(1, 28, 28, levels, 7, seed=1, layers=2)
    fast = model.sample(2, generator=torch.Generator().manual_seed(1), cached=True)
    slow = model.sample(2, generator=torch.Generator().manual_seed(1), cached=False)
    assert fast.shape == (2, 1, 28, 28) and torch.equal(fast, slow)
    assert fast.unique().numel() > 1  # not a degenerate all-equal image


@pytest.mark.parametrize("shape", SHAPES[1:3], ids=lambda s: "x".join(map(str, s[:3])))
def test_completing_the_bottom_half_is_the_same_both_ways(shape):
    """Image 0 knows its top half (the lecture's completion), image 1 its bottom half, image 2
    nothing. Every position is unknown to some image, so both loops draw at every position."""
    channels, height, width, levels, _ = shape
    model = random_pixelcnn(*shape, seed=3)
    x = torch.randint(levels, (3, channels, height, width), generator=torch.Generator()
                      .manual_seed(0))
    known = torch.zeros(3, height, width, dtype=torch.bool)
    known[0, :height // 2] = True
    known[1, height // 2:] = True
    fast = model.complete(x, known, generator=torch.Generator().manual_seed(1), cached=True)
    slow = model.complete(x, known, generator=torch.Generator().manual_seed(1), cached=False)
    assert torch.equal(fast, slow)
    top, bottom = slice(None, height // 2), slice(height // 2, None)
    assert torch.equal(fast[0, :, top], x[0, :, top])  # known pixels kept
    assert torch.equal(fast[1, :, bottom], x[1, :, bottom])
    assert not torch.equal(fast[0, :, bottom], x[0, :, bottom])  # and the others drawn


def test_completing_with_one_mask_for_all_is_identical_and_keeps_the_known_pixels():
    """With one (H, W) top-half mask, both ways keep the top and draw the same bottom."""
    model = random_pixelcnn(1, 6, 6, 4, 5, seed=4)
    x = torch.randint(4, (4, 1, 6, 6), generator=torch.Generator().manual_seed(0))
    known = torch.zeros(6, 6, dtype=torch.bool)
    known[:3] = True
    fast, slow = (model.complete(x, known, generator=torch.Generator().manual_seed(1),
                                 cached=cached) for cached in (True, False))
    assert torch.equal(fast, slow)
    assert torch.equal(fast[:, :, :3], x[:, :, :3])
    assert not torch.equal(fast[:, :, 3:], x[:, :, 3:])


def test_cached_sampling_never_runs_the_full_network(monkeypatch):
    model = random_pixelcnn(1, 6, 6, 4, 5, seed=0)

    def full_pass(*args, **kwargs):
        raise AssertionError("a full network pass")

    monkeypatch.setattr(model, "network", full_pass)
    assert model.sample(2, generator=torch.Generator().manual_seed(0)).shape == (2, 1, 6, 6)
    with pytest.raises(AssertionError, match="full network pass"):
        model.sample(2, generator=torch.Generator().manual_seed(0), cached=False)


def test_stepper_visits_pixels_in_raster_order_only():
    model = random_pixelcnn(1, 5, 5, 4, 3, seed=0)
    stepper = model.cached_stepper(2, None)
    x = torch.zeros(2, 1, 5, 5, dtype=torch.int64)
    stepper.params_at(x, 0, 0)
    with pytest.raises(BadData, match=r"expected \(0, 1\) next, got \(0, 2\)"):
        stepper.params_at(x, 0, 2)
    with pytest.raises(BadData, match=r"built for 2 images of shape \(1, 5, 5\)"):
        stepper.params_at(torch.zeros(3, 1, 5, 5, dtype=torch.int64), 0, 0)


def test_a_layer_it_cannot_step_falls_back_to_the_naive_loop():
    model = random_pixelcnn(1, 5, 5, 4, 3, seed=0)
    model.net[1] = nn.Identity()  # an unknown layer (still causal): no cached stepper
    assert model.cached_stepper(2, None) is None
    fast = model.sample(2, generator=torch.Generator().manual_seed(0), cached=True)
    slow = model.sample(2, generator=torch.Generator().manual_seed(0), cached=False)
    assert torch.equal(fast, slow)
