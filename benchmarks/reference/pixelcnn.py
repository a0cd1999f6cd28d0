"""A plain PyTorch PixelCNN: the reference genzoo's `pixelcnn` is timed against.

van den Oord, Kalchbrenner & Kavukcuoglu, "Pixel Recurrent Neural Networks", ICML 2016, sec. 3.5.

Written the way the public PyTorch ports of the paper do it (one masked 'same' convolution class
that multiplies its weight by a fixed mask in forward, a stack of residual blocks, a softmax over
the levels trained with F.cross_entropy), with no genzoo import, so that
benchmarks/reference_compare.py measures genzoo's overhead and nothing else. The architecture is
genzoo's default on digits, layer for layer and in the same parameter order (so the same seed
builds the same initial weights):

    mask-A kxk conv (C -> 2h)
    layers x residual block: ReLU, 1x1 (2h -> h), ReLU, mask-B 3x3 (h -> h), ReLU, dropout,
                             1x1 (h -> 2h), plus the input
    ReLU, mask-B 1x1 (2h -> 2h), ReLU, 1x1 (2h -> C * levels)
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .weights import load_from_genzoo  # noqa: F401  (re-exported for callers)


class MaskedConv2d(nn.Conv2d):
    """A 'same' convolution whose kernel sees only pixels above, and left in the centre row.

    Mask A also hides the centre (the first layer must not see the pixel it predicts).
    """

    def __init__(self, mask_type: str, in_channels: int, out_channels: int, kernel_size: int):
        super().__init__(in_channels, out_channels, kernel_size, padding=kernel_size // 2)
        centre = kernel_size // 2
        mask = torch.ones_like(self.weight)  # (Cout, Cin, k, k)
        mask[:, :, centre, centre + (mask_type == "B"):] = 0
        mask[:, :, centre + 1:] = 0
        # Not in the state dict: it is fixed by the architecture, not learned.
        self.register_buffer("mask", mask, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight * self.mask, self.bias, padding=self.padding)


class ResidualBlock(nn.Module):
    """The paper's block (fig. 5): 1x1 halves the features, masked 3x3, 1x1 restores them."""

    def __init__(self, hidden: int, dropout: float):
        super().__init__()
        self.conv1 = nn.Conv2d(2 * hidden, hidden, 1)
        self.conv2 = MaskedConv2d("B", hidden, hidden, 3)
        self.conv3 = nn.Conv2d(hidden, 2 * hidden, 1)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.relu(x))
        h = self.conv2(F.relu(h))
        h = self.conv3(self.dropout(F.relu(h)))
        return x + h


class PixelCNN(nn.Module):
    """PixelCNN with a softmax over ``levels`` per pixel; ``loss`` is -log p(x) in nats/image."""

    def __init__(self, shape: tuple[int, int, int] = (1, 8, 8), levels: int = 17,
                 hidden: int = 32, layers: int = 4, first_kernel: int = 7, dropout: float = 0.3):
        super().__init__()
        self.shape, self.levels = tuple(shape), levels
        channels = shape[0]
        self.conv_in = MaskedConv2d("A", channels, 2 * hidden, first_kernel)
        self.blocks = nn.ModuleList(ResidualBlock(hidden, dropout) for _ in range(layers))
        self.conv_out1 = MaskedConv2d("B", 2 * hidden, 2 * hidden, 1)
        self.conv_out2 = nn.Conv2d(2 * hidden, channels * levels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits of every p(x_i | x_<i): int levels (N, C, H, W) -> (N, levels, C, H, W)."""
        h = self.conv_in(x.float() * (2.0 / (self.levels - 1)) - 1.0)  # levels to [-1, 1]
        for block in self.blocks:
            h = block(h)
        logits = self.conv_out2(F.relu(self.conv_out1(F.relu(h))))  # (N, C*levels, H, W)
        n, _, height, width = logits.shape
        # channel-major outputs; cross_entropy wants the classes on axis 1
        return logits.view(n, self.shape[0], self.levels, height, width).transpose(1, 2)

    def nll(self, x: torch.Tensor) -> torch.Tensor:
        """-log p(x) in nats for each image: (N,)."""
        return F.cross_entropy(self(x), x, reduction="none").flatten(1).sum(1)

    def loss(self, x: torch.Tensor) -> torch.Tensor:
        """-log p(x) in nats per image (summed over dimensions), mean over the batch."""
        return self.nll(x).mean()

    @torch.no_grad()
    def bits_per_dim(self, x: torch.Tensor, batch_size: int = 256) -> float:
        """Exact -log2 p(x) per dimension on ``x``, in eval mode (dropout off)."""
        was_training = self.training
        self.eval()
        nats = torch.cat([self.nll(x[i:i + batch_size]).double()
                          for i in range(0, len(x), batch_size)])
        self.train(was_training)
        return float(nats.mean()) / (math.prod(self.shape) * math.log(2))
