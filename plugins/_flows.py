"""Invertible layers shared by the normalizing flows (``realnvp``, ``glow``).

Every layer is a bijection y = g(x) on tensors (N, C, H, W) with a cheap Jacobian:
``forward(x, cond=None) -> (y, log|det dy/dx|)`` with the log-determinant per example, (N,),
and ``inverse(y, cond=None) -> x``. Stacked, their log-determinants add up (the chain rule), so

    log p(x) = log N(f(x); 0, I) + sum_layers log |det d g_l / d h_{l-1}|

* :class:`AffineCoupling` (Dinh et al. 2017, Real NVP): half the values pass unchanged and set
  a scale and shift for the other half, y_b = x_b * exp(log s(x_a)) + t(x_a); the Jacobian is
  triangular, log det = sum log s. The halves are a checkerboard of pixels or halves of the
  channels; s and t come from a small conv net whose last layer starts at zero (identity).
* :class:`ActNorm` (Kingma & Dhariwal 2018, Glow): y = (x + b) * exp(log s) per channel,
  initialized from the first batch so its output has zero mean and unit variance per channel.
* :class:`InvConv1x1` (Glow): y = W x at every pixel, a learned channel permutation;
  log det = H * W * log |det W|, kept cheap by W = P L (U + diag(s)) (LU-decomposed).
* :class:`Squeeze`: (C, H, W) -> (4C, H/2, W/2), trading space for channels (log det 0).
* :class:`MultiScaleFlow`: stages of layers; after each stage but the last, half the channels
  are factored out to the prior (Real NVP's multi-scale architecture), so deeper layers work on
  fewer values. The code z is every factored-out part and the last stage's output, flattened
  and concatenated in that order: (N, C*H*W), the data's own size.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from genzoo.registry.errors import BadConfig

LOG_2PI = math.log(2.0 * math.pi)
AUTO_SCALES_CAP = 2  # scales=0 squeezes while H and W are even, at most this many times
ACTNORM_LOG_SCALE_CAP = 5.0  # a constant channel in the first batch must not give exp(1e6)


def standard_normal_log_prob(z: torch.Tensor) -> torch.Tensor:
    """log N(z; 0, I) summed over each example: (N, ...) -> (N,)."""
    return -0.5 * (z.pow(2) + LOG_2PI).flatten(1).sum(1)


def checkerboard(height: int, width: int, parity: int, like: torch.Tensor) -> torch.Tensor:
    """(1, 1, H, W) mask: 1 where (row + col) % 2 == parity (the values that pass unchanged)."""
    rows = torch.arange(height, device=like.device)[:, None]
    cols = torch.arange(width, device=like.device)[None, :]
    return ((rows + cols) % 2 == parity).to(like.dtype)[None, None]


def auto_scales(shape: tuple[int, ...], cap: int = AUTO_SCALES_CAP) -> int:
    """How many times (C, H, W) images can be squeezed: while H and W are even, up to ``cap``
    (8x8 and 28x28 -> 2, 2x2 -> 1, 5x5 and 1x2 -> 0)."""
    _, height, width = shape
    scales = 0
    while scales < cap and height % 2 == 0 and width % 2 == 0:
        height, width, scales = height // 2, width // 2, scales + 1
    return scales


def resolve_scales(model: str, scales: int, shape: tuple[int, ...]) -> int:
    """``scales`` squeezes as configured (0: :func:`auto_scales`); one line if H, W cannot."""
    if scales == 0:
        return auto_scales(shape)
    step = 2 ** scales
    if shape[1] % step or shape[2] % step:
        raise BadConfig(f"{model} with scales={scales} needs H and W divisible by {step}; got "
                        f"{tuple(shape)}; use scales=0 (auto) or pad the images")
    return scales


class CouplingNet(nn.Module):
    """s and t of a coupling: conv3x3 -> ``blocks`` residual blocks (ReLU, conv3x3, ReLU,
    conv1x1) -> ReLU -> conv3x3 whose weights start at zero, so every coupling starts as the
    identity (Glow's "zero init" of the last layer): (N, in, H, W) -> (N, out, H, W)."""

    def __init__(self, in_channels: int, out_channels: int, hidden: int, blocks: int,
                 dropout: float = 0.0):
        super().__init__()
        self.inp = nn.Conv2d(in_channels, hidden, 3, padding=1)
        self.blocks = nn.ModuleList(nn.Sequential(
            nn.ReLU(), nn.Conv2d(hidden, hidden, 3, padding=1), nn.ReLU(), nn.Dropout(dropout),
            nn.Conv2d(hidden, hidden, 1)) for _ in range(blocks))
        self.out = nn.Conv2d(hidden, out_channels, 3, padding=1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.inp(x)
        for block in self.blocks:
            h = h + block(h)
        return self.out(F.relu(h))


class AffineCoupling(nn.Module):
    """y_a = x_a, y_b = x_b * exp(log s(x_a)) + t(x_a); log det = sum log s (Real NVP, eq. 7).

    ``mask="checkerboard"``: a and b are the two colours of a checkerboard of pixels (``flip``
    swaps them); ``"channel"``: a is the first half of the channels, b the rest (``flip``: the
    other way round). ``scale="tanh"``: log s = c * tanh(raw) with a learned c per channel (Real
    NVP's code); ``"sigmoid"``: s = sigmoid(raw + 2) (Glow's code): both bounded, so a large
    raw output cannot blow a value up. ``cond_channels`` extra feature maps (a conditioning
    input, as q(u|x) of variational dequantization uses) are given to the net beside x_a.
    """

    def __init__(self, channels: int, mask: str, flip: bool, hidden: int, blocks: int,
                 scale: str = "tanh", cond_channels: int = 0, dropout: float = 0.0):
        super().__init__()
        if mask not in ("checkerboard", "channel") or scale not in ("tanh", "sigmoid"):
            raise ValueError(f"unknown coupling mask {mask!r} or scale {scale!r}")
        self.mask, self.flip, self.scale = mask, flip, scale
        if mask == "checkerboard":  # the net sees x * mask and the mask itself
            n_in, n_out = channels + 1, channels
        else:
            first = channels // 2
            self.sizes = (first, channels - first) if not flip else (channels - first, first)
            n_in, n_out = self.sizes[0], self.sizes[1]
        self.net = CouplingNet(n_in + cond_channels, 2 * n_out, hidden, blocks, dropout)
        if scale == "tanh":
            self.rescale = nn.Parameter(torch.ones(1, n_out, 1, 1))

    def _log_s_and_t(self, x_a: torch.Tensor, cond: torch.Tensor | None):
        inputs = x_a if cond is None else torch.cat([x_a, cond], 1)
        raw, t = self.net(inputs).chunk(2, 1)  # (N, n_out, H, W) each
        if self.scale == "tanh":
            return self.rescale * torch.tanh(raw), t
        return F.logsigmoid(raw + 2.0), t

    def _halves(self, x: torch.Tensor):
        if not self.flip:
            return x.split(self.sizes, 1)
        b, a = x.split((self.sizes[1], self.sizes[0]), 1)
        return a, b

    def _join(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return torch.cat([a, b] if not self.flip else [b, a], 1)

    def forward(self, x: torch.Tensor, cond: torch.Tensor | None = None):
        if self.mask == "checkerboard":
            keep = checkerboard(x.shape[2], x.shape[3], int(self.flip), x)  # (1, 1, H, W)
            log_s, t = self._log_s_and_t(
                torch.cat([x * keep, keep.expand(len(x), 1, -1, -1)], 1), cond)
            log_s, t = log_s * (1 - keep), t * (1 - keep)  # zero where x passes unchanged
            return x * log_s.exp() + t, log_s.flatten(1).sum(1)
        a, b = self._halves(x)
        log_s, t = self._log_s_and_t(a, cond)
        return self._join(a, b * log_s.exp() + t), log_s.flatten(1).sum(1)

    def inverse(self, y: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        if self.mask == "checkerboard":
            keep = checkerboard(y.shape[2], y.shape[3], int(self.flip), y)
            log_s, t = self._log_s_and_t(
                torch.cat([y * keep, keep.expand(len(y), 1, -1, -1)], 1), cond)
            log_s, t = log_s * (1 - keep), t * (1 - keep)
            return (y - t) * (-log_s).exp()
        a, b = self._halves(y)
        log_s, t = self._log_s_and_t(a, cond)
        return self._join(a, (b - t) * (-log_s).exp())


class ActNorm(nn.Module):
    """y = (x + b) * exp(log s) per channel; log det = H * W * sum log s (Glow, section 3.1).

    b and s are set from the first batch it sees (its per-channel mean and standard deviation),
    as Glow's public code does; the ``initialized`` buffer travels with the checkpoint, so a
    reloaded model does not set them again.
    """

    def __init__(self, channels: int):
        super().__init__()
        self.loc = nn.Parameter(torch.zeros(1, channels, 1, 1))
        self.log_scale = nn.Parameter(torch.zeros(1, channels, 1, 1))
        self.register_buffer("initialized", torch.zeros((), dtype=torch.uint8))

    @torch.no_grad()
    def initialize(self, x: torch.Tensor) -> None:
        x = x.detach()
        std = x.std((0, 2, 3), keepdim=True, unbiased=False) if x.numel() > x.shape[1] else (
            torch.ones_like(x[:1, :, :1, :1]))
        self.loc.copy_(-x.mean((0, 2, 3), keepdim=True))
        self.log_scale.copy_((-torch.log(std + 1e-6)).clamp(-ACTNORM_LOG_SCALE_CAP,
                                                            ACTNORM_LOG_SCALE_CAP))
        self.initialized.fill_(1)

    def forward(self, x: torch.Tensor, cond: torch.Tensor | None = None):
        if not bool(self.initialized):
            self.initialize(x)
        logdet = self.log_scale.sum() * (x.shape[2] * x.shape[3])
        return (x + self.loc) * self.log_scale.exp(), logdet.expand(len(x))

    def inverse(self, y: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        return y * (-self.log_scale).exp() - self.loc


class InvConv1x1(nn.Module):
    """y = W x at every pixel: a learned mixing of the channels (Glow, section 3.2).

    W starts as a random rotation (log det 0). ``lu=True`` keeps W = P L (U + diag(sign *
    exp(log|s|))) with P fixed, L unit lower and U strictly upper triangular, so log |det W| =
    sum log|s| costs O(C); ``lu=False`` learns W itself and takes ``slogdet`` (O(C^3)).
    """

    def __init__(self, channels: int, lu: bool = True):
        super().__init__()
        self.lu = lu
        weight = torch.linalg.qr(torch.randn(channels, channels))[0]  # (C, C), det +-1
        if not lu:
            self.weight = nn.Parameter(weight)
            return
        p, lower, upper = torch.linalg.lu(weight)
        s = upper.diagonal()
        self.register_buffer("p", p)
        self.register_buffer("sign_s", torch.sign(s))
        self.register_buffer("lower_mask", torch.tril(torch.ones(channels, channels), -1))
        self.lower = nn.Parameter(lower)
        self.upper = nn.Parameter(torch.triu(upper, 1))
        self.log_s = nn.Parameter(s.abs().log())

    def weight_and_logdet(self) -> tuple[torch.Tensor, torch.Tensor]:
        """W (C, C) and log |det W|."""
        if not self.lu:
            return self.weight, torch.linalg.slogdet(self.weight)[1]
        eye = torch.eye(len(self.log_s), dtype=self.log_s.dtype, device=self.log_s.device)
        lower = self.lower * self.lower_mask + eye
        upper = self.upper * self.lower_mask.T + torch.diag(self.sign_s * self.log_s.exp())
        return self.p @ lower @ upper, self.log_s.sum()

    def forward(self, x: torch.Tensor, cond: torch.Tensor | None = None):
        weight, logdet = self.weight_and_logdet()
        y = F.conv2d(x, weight[:, :, None, None])
        return y, (logdet * (x.shape[2] * x.shape[3])).expand(len(x))

    def inverse(self, y: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        weight, _ = self.weight_and_logdet()
        return F.conv2d(y, torch.linalg.inv(weight)[:, :, None, None])


class Squeeze(nn.Module):
    """(N, C, H, W) -> (N, 4C, H/2, W/2): each 2x2 block of pixels becomes 4 channels."""

    def forward(self, x: torch.Tensor, cond: torch.Tensor | None = None):
        n, c, h, w = x.shape
        y = x.view(n, c, h // 2, 2, w // 2, 2).permute(0, 1, 3, 5, 2, 4)
        return y.reshape(n, 4 * c, h // 2, w // 2), x.new_zeros(n)

    def inverse(self, y: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        n, c, h, w = y.shape
        x = y.view(n, c // 4, 2, 2, h, w).permute(0, 1, 4, 2, 5, 3)
        return x.reshape(n, c // 4, 2 * h, 2 * w)


class MultiScaleFlow(nn.Module):
    """Stages of invertible layers; after each stage but the last, the first half of the
    channels is factored out (Real NVP, section 3.6): z = (z_1, ..., z_S, h_S) flattened.

    ``stages`` is a list of layer lists; ``shape`` the (C, H, W) of the input.
    """

    def __init__(self, stages: list[list[nn.Module]], shape: tuple[int, int, int]):
        super().__init__()
        self.stages = nn.ModuleList(nn.ModuleList(layers) for layers in stages)
        c, h, w = shape
        self.part_shapes = []  # the shape of each factored-out part, then of the last output
        for i, layers in enumerate(stages):
            squeezes = sum(isinstance(layer, Squeeze) for layer in layers)
            c, h, w = c * 4 ** squeezes, h // 2 ** squeezes, w // 2 ** squeezes
            if i < len(stages) - 1:
                self.part_shapes.append((c // 2, h, w))
                c -= c // 2
        self.part_shapes.append((c, h, w))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(N, C, H, W) -> z (N, D) and log |det dz/dx| (N,)."""
        parts, logdet = [], x.new_zeros(len(x))
        for i, layers in enumerate(self.stages):
            for layer in layers:
                x, term = layer(x)
                logdet = logdet + term
            if i < len(self.stages) - 1:
                half = x.shape[1] // 2
                parts.append(x[:, :half].flatten(1))  # factored out: N(0, I) from here on
                x = x[:, half:]
        parts.append(x.flatten(1))
        return torch.cat(parts, 1), logdet

    def inverse(self, z: torch.Tensor) -> torch.Tensor:
        """z (N, D) -> x (N, C, H, W)."""
        sizes = [math.prod(shape) for shape in self.part_shapes]
        parts = [p.view(len(z), *shape) for p, shape in zip(z.split(sizes, 1), self.part_shapes)]
        x = parts[-1]
        for i in reversed(range(len(self.stages))):
            if i < len(self.stages) - 1:
                x = torch.cat([parts[i], x], 1)
            for layer in reversed(self.stages[i]):
                x = layer.inverse(x)
        return x

    def actnorms(self) -> list[ActNorm]:
        return [m for m in self.modules() if isinstance(m, ActNorm)]
