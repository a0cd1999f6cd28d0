"""A small U-Net with a sinusoidal time embedding: the DDPM's noise predictor eps_theta(x_t, t).

Ho, Jain & Abbeel 2020 (appendix B) use a PixelCNN++-style U-Net: residual blocks with group
normalization at each resolution, the timestep added to every block through a sinusoidal
(Transformer) embedding, stride-2 down-sampling and nearest-neighbour up-sampling, skips from
each down-sampling block to the block of the same resolution on the way up. This one keeps that
shape at the scale of 8x8 digits on a CPU: one residual block per resolution by default, and no
self-attention (at 4x4 and below a 3x3 convolution already sees most of the image).

Any image size works: the number of halvings is chosen from the image (none for a 1x2 image),
the input is zero-padded to a multiple of 2^halvings and the output cropped back.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def timestep_embedding(t: torch.Tensor, dim: int, max_period: float = 10_000.0) -> torch.Tensor:
    """The Transformer's sinusoidal position encoding of (float) timesteps: (N,) -> (N, dim).

        emb[:, i] = sin(t / P^(i / h)),  emb[:, h + i] = cos(t / P^(i / h)),  h = dim // 2
    """
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, device=t.device) / half)
    args = t.float()[:, None] * freqs[None]  # (N, half)
    emb = torch.cat([torch.sin(args), torch.cos(args)], -1)
    return F.pad(emb, (0, dim - 2 * half))  # an odd dim gets one zero column


def group_norm(channels: int) -> nn.GroupNorm:
    """Groups of 4 channels (at least one group): every group spans several channels, so it
    still normalizes over more than one value on a 1x1 feature map."""
    return nn.GroupNorm(max(1, channels // 4), channels)


class ResBlock(nn.Module):
    """GN -> SiLU -> conv3x3 -> + time -> GN -> SiLU -> dropout -> conv3x3, plus a skip."""

    def __init__(self, c_in: int, c_out: int, t_dim: int, dropout: float):
        super().__init__()
        self.norm1, self.conv1 = group_norm(c_in), nn.Conv2d(c_in, c_out, 3, padding=1)
        self.time = nn.Linear(t_dim, c_out)
        self.norm2, self.conv2 = group_norm(c_out), nn.Conv2d(c_out, c_out, 3, padding=1)
        self.dropout = nn.Dropout(dropout)
        nn.init.zeros_(self.conv2.weight)  # each block starts as the identity
        nn.init.zeros_(self.conv2.bias)
        self.skip = nn.Conv2d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.silu(self.norm1(x)))  # (N, c_out, H, W)
        h = h + self.time(emb)[:, :, None, None]
        h = self.conv2(self.dropout(F.silu(self.norm2(h))))
        return self.skip(x) + h


def halvings(height: int, width: int, most: int) -> int:
    """How many times to halve an image: at most ``most``, and while the smaller side after
    the halving would still be 2 or more (8x8: 2, to 2x2; 5x5: 1; 2x2 and 1x2: none)."""
    side = min(height, width)
    return max(0, min(most, int(math.floor(math.log2(side))) - 1))


class UNet(nn.Module):
    """eps_theta(x_t, t): (N, C, H, W) floats and (N,) timesteps -> (N, out, H, W).

    ``width`` feature maps at full resolution, doubled after each halving; ``blocks`` residual
    blocks per resolution on the way down (one more on the way up, which also takes the skips).
    """

    def __init__(self, channels: int, out: int, shape: tuple[int, int], width: int = 32,
                 blocks: int = 1, depth: int = 2, dropout: float = 0.0):
        super().__init__()
        self.levels = halvings(*shape, depth)
        self.width = width
        t_dim = 4 * width
        self.time = nn.Sequential(nn.Linear(width, t_dim), nn.SiLU(), nn.Linear(t_dim, t_dim))
        self.stem = nn.Conv2d(channels, width, 3, padding=1)
        chans = [width * 2 ** i for i in range(self.levels + 1)]  # per resolution
        self.down, skips, c = nn.ModuleList(), [width], width
        for i, ch in enumerate(chans):
            for _ in range(blocks):
                self.down.append(ResBlock(c, ch, t_dim, dropout))
                c = ch
                skips.append(c)
            if i < self.levels:
                self.down.append(nn.Conv2d(c, c, 3, stride=2, padding=1))  # halve
                skips.append(c)
        self.middle = nn.ModuleList([ResBlock(c, c, t_dim, dropout),
                                     ResBlock(c, c, t_dim, dropout)])
        self.up = nn.ModuleList()
        for i, ch in reversed(list(enumerate(chans))):
            for _ in range(blocks + 1):
                self.up.append(ResBlock(c + skips.pop(), ch, t_dim, dropout))
                c = ch
            if i > 0:
                self.up.append(nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"),
                                             nn.Conv2d(c, c, 3, padding=1)))
        self.out = nn.Sequential(group_norm(c), nn.SiLU(), nn.Conv2d(c, out, 3, padding=1))
        nn.init.zeros_(self.out[-1].weight)  # predict eps = 0 at the start
        nn.init.zeros_(self.out[-1].bias)

    def forward(self, x: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        height, width = x.shape[-2:]
        step = 2 ** self.levels
        pad_h, pad_w = -height % step, -width % step
        h = F.pad(x, (0, pad_w, 0, pad_h))  # (N, C, H', W'), multiples of 2^levels
        emb = self.time(timestep_embedding(t, self.width))  # (N, 4 width)
        h = self.stem(h)
        stack = [h]
        for layer in self.down:
            h = layer(h, emb) if isinstance(layer, ResBlock) else layer(h)
            stack.append(h)
        for layer in self.middle:
            h = layer(h, emb)
        for layer in self.up:
            if isinstance(layer, ResBlock):
                h = layer(torch.cat([h, stack.pop()], 1), emb)
            else:
                h = layer(h)
        return self.out(h)[..., :height, :width]  # crop the padding back off
