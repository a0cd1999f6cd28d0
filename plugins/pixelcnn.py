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

With several channels, the channels of one pixel are modelled as independent given the earlier
pixels (the paper further orders R -> G -> B within a pixel); it is still an exact, normalized
density. The built-in datasets are single-channel.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from genzoo.registry import Claim, ModelConfig, ModelSpec, hookimpl
from genzoo.registry.autoregressive import AutoregressiveImageModel, CategoricalPixels
from genzoo.registry.errors import BadConfig


@dataclass
class PixelCNNConfig(ModelConfig):
    """Architecture of the paper's PixelCNN, scaled to small images."""

    # Defaults sized for a 2-core CPU: on digits, 2 minutes of training reach about 1.85 bits/dim
    # (docs/benchmarks.md); the paper's 128 feature maps and 15 layers suit larger images.
    hidden: int = 32  # h: feature maps per layer (residual blocks carry 2h)
    layers: int = 4  # residual blocks of masked 3x3 convolutions (type B)
    first_kernel: int = 7  # the type-A input convolution
    dropout: float = 0.5  # in each residual block; digits is small (PixelCNN++ uses 0.5)
    lr: float = 2e-3

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


class PixelCNN(CategoricalPixels, AutoregressiveImageModel):
    """Masked-convolution PixelCNN with a softmax over the dataset's levels for every pixel."""

    def __init__(self, config: PixelCNNConfig, data):
        super().__init__(config, data)
        channels, levels, h = data.shape[0], data.levels, config.hidden
        self.net = nn.Sequential(
            MaskedConv2d("A", channels, 2 * h, config.first_kernel),
            *[ResidualBlock(h, config.dropout) for _ in range(config.layers)],
            nn.ReLU(), MaskedConv2d("B", 2 * h, 2 * h, 1),
            nn.ReLU(), nn.Conv2d(2 * h, channels * levels, 1))

    def network(self, scaled: torch.Tensor, labels=None) -> torch.Tensor:
        """Logits of every conditional p(x_i | x_<i): (N, C, H, W) -> (N, C*levels, H, W)."""
        return self.net(scaled)

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """Logits per pixel and channel: (N, C, H, W) ints -> (N, C, levels, H, W)."""
        return self._logits(self.network(self.scale(x)))


@hookimpl
def register_models(register):
    """The plain PixelCNN, baseline of the autoregressive image family."""
    register(ModelSpec(
        name="pixelcnn", model_class=PixelCNN, config_class=PixelCNNConfig,
        family="autoregressive image (PixelCNN)", density="exact", sampling="sequential",
        data="image", paper="van den Oord et al. 2016, Pixel Recurrent Neural Networks (sec. 3.5)",
        summary="Masked convolutions compute every p(x_i | x_<i) in one pass; a softmax over "
                "levels gives an exact likelihood.",
        pros=[Claim("Can explicitly compute likelihood p(x)", "test_bits_per_dim"),
              Claim("Easy to optimize", "test_bits_per_dim"),
              Claim("Training is faster than PixelRNN (parallel convolutions)",
                    "train_examples_per_s"),
              Claim("Good samples", None)],
        cons=[Claim("Sequential generation => slow: one pass per pixel",
                    "sample_ms_per_image_b1")]))
