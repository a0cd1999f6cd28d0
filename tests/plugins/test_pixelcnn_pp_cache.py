"""PixelCNN++'s cached sampler (Fast PixelCNN++, Ramachandran et al. 2017) gives the full pass's
numbers.

Each test drives the cached stepper and the naive one (a full network pass per pixel) over the
same pixels and checks that they agree: mixture parameters at every step, samples, completions.
The shapes cover odd sizes that the network pads (5x7, 7x7 with 3 scales pad to 8x8), one to
three scales, 2 and 17 levels, two channels and two blocks per scale.
"""

from __future__ import annotations

import pytest
import torch

from genzoo.plugins.pixelcnn_pp import PixelCNNpp, PixelCNNppConfig
from genzoo.registry import DataInfo
from genzoo.registry.autoregressive import NaiveStepper
from genzoo.registry.errors import BadData

# (channels, height, width, levels, scales, nr_resnet)
SHAPES = [(1, 5, 7, 4, 2, 1), (1, 7, 7, 17, 3, 1), (1, 8, 8, 17, 1, 1), (1, 8, 8, 2, 2, 1),
          (2, 6, 5, 5, 2, 1), (1, 5, 5, 17, 3, 2)]


def shape_id(shape) -> str:
    channels, height, width, levels, scales, nr_resnet = shape
    return f"{channels}x{height}x{width}-L{levels}-s{scales}-r{nr_resnet}"


def random_pp(channels, height, width, levels, scales, nr_resnet, seed) -> PixelCNNpp:
    """A small PixelCNN++ with random weights that give far-from-uniform, input-dependent
    parameters (large enough to matter, small enough that float error stays far below 1e-5)."""
    torch.manual_seed(seed)
    data = DataInfo(kind="image", shape=(channels, height, width), levels=levels)
    model = PixelCNNpp(PixelCNNppConfig(nr_filters=8, scales=scales, nr_resnet=nr_resnet,
                                        nr_logistic_mix=3), data)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.normal_(0.0, 0.15)
    return model.eval()


def assert_steps_agree(model, n: int, seed: int, images: int = 2) -> torch.Tensor:
    """Both steppers on the same pixels, raster order, for ``images`` images in a row (the
    cached one reused: its caches reset). The image starts random, so a cached value that
    peeked at a later pixel would show. Returns the last parameters."""
    channels, height, width = model.data.shape
    naive, cached = NaiveStepper(model, None), model.cached_stepper(n, None)
    assert cached is not None and cached.incremental
    generator = torch.Generator().manual_seed(seed)
    for _ in range(images):
        x = torch.randint(model.levels, (n, channels, height, width), generator=generator)
        for row in range(height):
            for col in range(width):
                with torch.no_grad():
                    expected = naive.params_at(x, row, col)  # (N, 3*C*K)
                got = cached.params_at(x, row, col)
                assert got.shape == expected.shape
                torch.testing.assert_close(got, expected, atol=1e-5, rtol=0,
                                           msg=lambda m, at=(row, col): f"pixel {at}: {m}")
                x[:, :, row, col] = model.sample_from(expected, generator)
    return expected


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("shape", SHAPES, ids=shape_id)
def test_cached_params_equal_the_full_pass_at_every_step(shape, seed):
    # seed 0 also reuses the stepper for a second image
    last = assert_steps_agree(random_pp(*shape, seed=seed), n=3, seed=seed, images=2 - seed)
    assert last.std() > 0.1  # far from constant: the comparison had teeth


def test_the_default_config_agrees_on_digits_sized_images():
    """The registered defaults (32 filters, 2 scales, 5 logistics), PyTorch's own init."""
    torch.manual_seed(0)
    data = DataInfo(kind="image", shape=(1, 8, 8), levels=17)
    model = PixelCNNpp(PixelCNNppConfig(), data).eval()
    assert_steps_agree(model, n=2, seed=0, images=1)


@pytest.mark.parametrize("seed", [2, 3, 4])
@pytest.mark.parametrize("shape", SHAPES, ids=shape_id)
def test_cached_sampling_draws_the_same_images(shape, seed):
    """Several seeds: each draws other weights and other pixels, so other cache paths run."""
    model = random_pp(*shape, seed=seed)
    fast = model.sample(3, generator=torch.Generator().manual_seed(seed + 5), cached=True)
    slow = model.sample(3, generator=torch.Generator().manual_seed(seed + 5), cached=False)
    assert torch.equal(fast, slow)
    assert fast.unique().numel() > 1  # not a degenerate all-equal image


@pytest.mark.parametrize("shape", [SHAPES[0], SHAPES[1], SHAPES[4]], ids=shape_id)
def test_completing_the_bottom_half_is_the_same_both_ways(shape):
    """Image 0 knows its top half (the lecture's completion), image 1 its bottom half, image 2
    nothing: every position is unknown to some image, so both loops draw at every position,
    and the cached stepper still steps through the known pixels of the others."""
    channels, height, width, levels = shape[:4]
    model = random_pp(*shape, seed=3)
    x = torch.randint(levels, (3, channels, height, width),
                      generator=torch.Generator().manual_seed(0))
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


def test_completing_with_one_top_half_mask_skips_draws_but_not_steps():
    """With one (H, W) mask, no image draws in the top half: the cached stepper is still fed
    those known pixels (it is incremental), and both ways draw the same bottom half."""
    model = random_pp(1, 7, 7, 17, 3, 1, seed=4)
    x = torch.randint(17, (4, 1, 7, 7), generator=torch.Generator().manual_seed(0))
    known = torch.zeros(7, 7, dtype=torch.bool)
    known[:3] = True
    fast, slow = (model.complete(x, known, generator=torch.Generator().manual_seed(1),
                                 cached=cached) for cached in (True, False))
    assert torch.equal(fast, slow)
    assert torch.equal(fast[:, :, :3], x[:, :, :3])
    assert not torch.equal(fast[:, :, 3:], x[:, :, 3:])


def test_cached_sampling_never_runs_the_full_network(monkeypatch):
    model = random_pp(1, 5, 7, 4, 2, 1, seed=0)

    def full_pass(*args, **kwargs):
        raise AssertionError("a full network pass")

    monkeypatch.setattr(model, "network", full_pass)
    assert model.sample(2, generator=torch.Generator().manual_seed(0)).shape == (2, 1, 5, 7)
    with pytest.raises(AssertionError, match="full network pass"):
        model.sample(2, generator=torch.Generator().manual_seed(0), cached=False)


def test_stepper_visits_pixels_in_raster_order_only():
    model = random_pp(1, 5, 5, 4, 2, 1, seed=0)
    stepper = model.cached_stepper(2, None)
    x = torch.zeros(2, 1, 5, 5, dtype=torch.int64)
    stepper.params_at(x, 0, 0)
    with pytest.raises(BadData, match=r"expected \(0, 1\) next, got \(0, 2\)"):
        stepper.params_at(x, 0, 2)
    with pytest.raises(BadData, match=r"built for 2 images of shape \(1, 5, 5\)"):
        stepper.params_at(torch.zeros(3, 1, 5, 5, dtype=torch.int64), 0, 0)
