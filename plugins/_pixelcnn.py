"""PixelCNN: an autoregressive image model built from masked convolutions.

van den Oord, Kalchbrenner & Kavukcuoglu, "Pixel Recurrent Neural Networks", ICML 2016, sec. 3.5.

The chain rule writes the likelihood of an image as a product of 1-d conditionals in raster
order (top to bottom, left to right):

    p(x) = prod_{i=1}^{n} p(x_i | x_1, ..., x_{i-1})

A convolution whose kernel is masked so that it never sees the current pixel or any later one
computes every conditional at once: training and likelihood take one parallel pass. The first
layer uses mask A (the centre pixel excluded), later layers mask B (the centre included, since
it then holds features of earlier pixels only). Each conditional is a softmax over the dataset's
discrete levels, so log p(x) is exact and in the common unit.

Sampling cannot share that pass: pixel i must be drawn before pixel i+1 can be conditioned on
it, so an H x W image takes H*W network passes (1,024 for 32x32, as the lecture says).

Most of each pass is wasted: a new pixel changes every layer at one position only. The cached
sampler of Ramachandran et al. 2017 ("Fast Generation for Convolutional Autoregressive Models",
ICLR workshop; the Fast PixelCNN++ / Fast WaveNet idea) keeps each layer's input and computes,
per pixel, one output position per layer from a k x k window of that cache: O(layers * k^2 *
channels^2) per pixel instead of a full H x W pass, with the same numbers (`CachedStepper`).

With several channels, the channels of one pixel are modelled as independent given the earlier
pixels (the paper further orders R -> G -> B within a pixel); it is still an exact, normalized
density. The built-in datasets are single-channel.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from genzoo.registry import ModelConfig
from genzoo.registry.autoregressive import AutoregressiveImageModel, CategoricalPixels
from genzoo.registry.config import bounded
from genzoo.registry.errors import BadConfig, BadData


@dataclass
class PixelCNNConfig(ModelConfig):
    """Architecture of the paper's PixelCNN, scaled to small images."""

    # Defaults sized for a 2-core CPU: on digits, 2 minutes of training reach about 1.85 bits/dim
    # (docs/benchmarks.md); the paper's 128 feature maps and 15 layers suit larger images.
    # Dropout chosen on digits' validation split: 0.3 is at or below 0 and 0.5 at 1,000, 2,000
    # and 3,000 steps (docs/benchmarks.md, "Defaults chosen on validation").
    hidden: int = bounded(32, 1, 1024)  # h: feature maps per layer (residual blocks carry 2h)
    layers: int = bounded(4, 1, 64)  # residual blocks of masked 3x3 convolutions (type B)
    first_kernel: int = bounded(7, 3, 15)  # the type-A input convolution
    # in each residual block: digits is small and overfits without it
    dropout: float = bounded(0.3, 0.0, 1.0)
    lr: float = bounded(2e-3, 1e-6, 1.0)

    def validate(self):
        for name in ("hidden", "layers"):
            if getattr(self, name) < 1:
                raise BadConfig(f"{name} must be at least 1, got {getattr(self, name)}")
        if not 0.0 <= self.dropout < 1.0:
            raise BadConfig(f"dropout must be in [0, 1), got {self.dropout}")
        if self.first_kernel < 3 or self.first_kernel % 2 == 0:
            raise BadConfig(f"first_kernel must be odd and at least 3, got {self.first_kernel}")


class MaskedConv2d(nn.Conv2d):
    """A 'same' convolution that sees only pixels above, and left of the centre in its row.

    Mask A hides the centre pixel too (first layer: the input pixel is what we predict);
    mask B shows it (later layers: the centre holds features of earlier pixels only).
    """

    def __init__(self, mask_type: str, in_channels: int, out_channels: int, kernel_size: int):
        super().__init__(in_channels, out_channels, kernel_size, padding=kernel_size // 2)
        if mask_type not in ("A", "B"):
            raise ValueError(f"mask_type must be 'A' or 'B', got {mask_type!r}")
        self.mask_type = mask_type
        centre = kernel_size // 2
        mask = torch.ones(kernel_size, kernel_size)
        mask[centre, centre + (mask_type == "B"):] = 0  # the centre row, right of (or at) centre
        mask[centre + 1:] = 0  # every row below
        self.register_buffer("mask", mask[None, None], persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight * self.mask, self.bias, padding=self.padding)


class ResidualBlock(nn.Module):
    """The paper's residual block: 1x1 (2h -> h), masked 3x3 (h -> h), 1x1 (h -> 2h)."""

    def __init__(self, hidden: int, dropout: float = 0.0):
        super().__init__()
        self.net = nn.Sequential(
            nn.ReLU(), nn.Conv2d(2 * hidden, hidden, 1),
            nn.ReLU(), MaskedConv2d("B", hidden, hidden, 3),
            nn.ReLU(), nn.Dropout(dropout), nn.Conv2d(hidden, 2 * hidden, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.net(x)


def output_head(features: int, channels: int, levels: int) -> list[nn.Module]:
    """The paper's output layers: ReLU, masked 1x1 (type B), ReLU, 1x1 to logits per level."""
    return [nn.ReLU(), MaskedConv2d("B", features, features, 1),
            nn.ReLU(), nn.Conv2d(features, channels * levels, 1)]


class PixelCNN(CategoricalPixels, AutoregressiveImageModel):
    """Masked-convolution PixelCNN with a softmax over the dataset's levels for every pixel."""

    def __init__(self, config: PixelCNNConfig, data):
        super().__init__(config, data)
        channels, levels, h = data.shape[0], data.levels, config.hidden
        self.net = nn.Sequential(
            MaskedConv2d("A", channels, 2 * h, config.first_kernel),
            *[ResidualBlock(h, config.dropout) for _ in range(config.layers)],
            *output_head(2 * h, channels, levels))

    def network(self, scaled: torch.Tensor, labels=None) -> torch.Tensor:
        """Logits of every conditional p(x_i | x_<i): (N, C, H, W) -> (N, C*levels, H, W)."""
        return self.net(scaled)

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """Logits per pixel and channel: (N, C, H, W) ints -> (N, C, levels, H, W)."""
        return self._logits(self.network(self.scale(x)))

    def cached_stepper(self, n: int, labels=None) -> CachedStepper | None:
        """The fast sampler (Ramachandran et al. 2017); None if ``net`` has a layer it can't do."""
        _, height, width = self.data.shape
        first, *rest = self.net
        if type(first) is not MaskedConv2d or first.mask_type != "A" or first.kernel_size[0] < 3:
            return None
        ops = _step_ops(rest, n, height, width)
        if ops is None:
            return None
        return CachedStepper(self, n, _Window(first, n, height, width), ops)


# -- fast sampling: every layer at one new position per pixel (Ramachandran et al. 2017) --------


def _bias(conv: nn.Conv2d) -> torch.Tensor:
    """The convolution's bias, zeros where it has none: (Cout,)."""
    return conv.bias.detach() if conv.bias is not None else conv.weight.new_zeros(len(conv.weight))


class _Pointwise:
    """A 1x1 convolution at one position: (N, Cin) -> (N, Cout)."""

    def __init__(self, conv: nn.Conv2d):
        weight = conv.weight * conv.mask if type(conv) is MaskedConv2d else conv.weight
        self.weight = weight.detach()[:, :, 0, 0].t().contiguous()  # (Cin, Cout)
        self.bias = _bias(conv)

    def step(self, h, row, col):
        return torch.addmm(self.bias, h, self.weight)


class _ReLU:
    """max(h, 0) at one position."""

    def step(self, h, row, col):
        return torch.relu(h)


class _Residual:
    """x + f(x), with f stepped at the same position."""

    def __init__(self, ops):
        self.ops = ops

    def step(self, h, row, col):
        out = h
        for op in self.ops:
            out = op.step(out, row, col)
        return h + out


class _Window:
    """A masked k x k 'same' convolution at one position, from a cache of its zero-padded input.

    The output at (r, c) is a sum over the kernel rows above the centre, which see only rows < r
    (final when row r begins: computed for the whole row by one matrix product), plus the centre
    row's taps left of c (and c itself, mask B), read from the cache at each pixel.
    """

    def __init__(self, conv: MaskedConv2d, n: int, height: int, width: int):
        self.k = conv.kernel_size[0]
        self.pad, self.width, self.padded_width = self.k // 2, width, width + 2 * (self.k // 2)
        weight = (conv.weight * conv.mask).detach()  # (Cout, Cin, k, k)
        above = weight[:, :, :self.pad]  # (Cout, Cin, k//2, k): the kernel rows above the centre
        self.above = above.permute(2, 3, 1, 0).reshape(-1, len(weight))  # (k//2*k*Cin, Cout)
        self.taps = self.pad + (conv.mask_type == "B")  # centre-row taps: c-k//2 .. c(-1)
        centre = weight[:, :, self.pad, :self.taps]  # (Cout, Cin, taps)
        self.centre = centre.permute(2, 1, 0).reshape(-1, len(weight))  # (taps*Cin, Cout)
        self.bias = _bias(conv)
        # Rows: k//2 of padding on top, then the image; rows below the centre are never seen.
        self.cache = weight.new_zeros(n, (self.pad + height) * self.padded_width, weight.shape[1])
        self.relu_input = False  # set when a ReLU comes just before: applied on the way in

    def begin_row(self, row: int) -> None:
        """Every row above ``row`` is final: its part of the row's outputs, and per-pixel views."""
        n, length, cin = self.cache.shape
        strides = (length * cin, cin, 1)
        top = row * self.padded_width * cin  # (padded) image row row - k//2, first column
        patches = self.cache.as_strided(  # (N, W, k//2, k, Cin): each output's rows above
            (n, self.width, self.pad, self.k, cin), (*strides[:2], self.padded_width * cin, cin, 1),
            top)
        above = torch.addmm(self.bias, patches.reshape(n * self.width, -1), self.above)
        self.row_part = above.view(n, self.width, -1).unbind(1)  # W x (N, Cout)
        # Views into the cache made once a row, so a pixel costs no indexing: the input at
        # (row, col), and the centre-row taps of (row, col), contiguous in the cache.
        first = (row + self.pad) * self.padded_width * cin  # the row's first (padding) column
        self.slots = self.cache.as_strided(  # W x (N, Cin)
            (n, self.width, cin), strides, first + self.pad * cin).unbind(1)
        self.windows = self.cache.as_strided(  # W x (N, taps*Cin)
            (n, self.width, self.taps * cin), strides, first).unbind(1)

    def step(self, h, row, col):
        if col == 0:
            self.begin_row(row)
        if h is not None:  # mask B: the input at (row, col) is final, and seen
            if self.relu_input:
                torch.clamp_min(h, 0.0, out=self.slots[col])
            else:
                self.slots[col].copy_(h)
        return torch.addmm(self.row_part[col], self.windows[col], self.centre)  # (N, Cout)


def _step_ops(modules, n: int, height: int, width: int) -> list | None:
    """The layers of ``net`` as one-position steps; None if one is not a known kind."""
    ops = []
    for module in modules:
        kind = type(module)
        if kind is nn.Dropout:
            continue  # the identity in eval mode, where sampling runs
        if kind is nn.ReLU:
            ops.append(_ReLU())
        elif kind is ResidualBlock:
            inner = _step_ops(module.net, n, height, width)
            if inner is None:
                return None
            ops.append(_Residual(inner))
        elif kind is MaskedConv2d and module.kernel_size[0] > 1:
            window = _Window(module, n, height, width)
            if ops and isinstance(ops[-1], _ReLU):  # one write into the cache, not two ops
                window.relu_input = True
                ops.pop()
            ops.append(window)
        elif kind in (nn.Conv2d, MaskedConv2d) and module.kernel_size == (1, 1):
            ops.append(_Pointwise(module))
        else:
            return None
    return ops


class CachedStepper:
    """Logits of one pixel from each layer's cached activations (Ramachandran et al. 2017).

    With 'same' masked convolutions a layer's output at position p depends on its input at
    positions <= p in raster order only (< p for mask A on the image), and those were final
    when p was reached. So at each pixel every layer computes one output position and writes it
    into the next layer's cache. Positions must come in raster order from (0, 0), as
    ``complete`` visits them; the first layer's cache takes each pixel once it has been drawn.
    Computes the network in eval mode (dropout is the identity), as ``complete`` runs it.
    """

    incremental = True  # the caches need every position, known or not

    def __init__(self, model: PixelCNN, n: int, first: _Window, ops: list):
        self.model, self.n, self.first, self.ops = model, n, first, ops
        self.windows = [first, *_windows(ops)]
        self.next = 0  # the raster index expected next
        # The model's scale(), levels -> network input, is affine: scale(v) = offset + slope * v,
        # so a drawn pixel enters the image cache in one op.
        ends = model.scale(torch.tensor([0, 1], device=first.cache.device))
        self.offset, self.slope = ends[0], float(ends[1] - ends[0])

    def params_at(self, x: torch.Tensor, row: int, col: int) -> torch.Tensor:
        """(N, C*levels) logits of pixel (row, col), given that x is final before it."""
        _, height, width = self.model.data.shape
        index = row * width + col
        if index == 0:  # a new image: forget the last one
            if tuple(x.shape) != (self.n, *self.model.data.shape):
                raise BadData(f"the cached stepper was built for {self.n} images of shape "
                              f"{self.model.data.shape}, got x of shape {tuple(x.shape)}")
            for window in self.windows:
                window.cache.zero_()
        elif index != self.next:
            expected = divmod(self.next, width)
            raise BadData(f"the cached stepper visits pixels in raster order: expected "
                          f"{expected} next, got {(row, col)}")
        self.next = index + 1
        if index > 0:  # the previous pixel has been drawn: the image layer may now see it
            prev_row, prev_col = divmod(index - 1, width)  # slots are still prev_row's
            torch.add(self.offset, x[:, :, prev_row, prev_col], alpha=self.slope,
                      out=self.first.slots[prev_col])
        h = self.first.step(None, row, col)  # (N, 2h)
        for op in self.ops:
            h = op.step(h, row, col)
        return h  # (N, C*levels)


def _windows(ops) -> list:
    """Every _Window among ``ops``, residual blocks included."""
    found = []
    for op in ops:
        found += [op] if isinstance(op, _Window) else _windows(getattr(op, "ops", []))
    return found
