"""MADE: a masked autoencoder whose outputs are the chain rule's conditionals.

Germain, Gregor, Murray & Larochelle, "MADE: Masked Autoencoder for Distribution Estimation",
ICML 2015.

An ordinary autoencoder's output d sees every input, x_d included, so it cannot be a
probability. MADE multiplies each weight matrix by a binary mask so that output d is connected,
along every path, only to the inputs that come before d in an ordering:

    p(x) = prod_{d=1}^{D} p(x_d | x_<d)

Every unit k gets a degree m(k) (sec. 4): input d has the degree of its place in the order
(1..D), a hidden unit of layer l one drawn uniformly from {min m^{l-1}, ..., D-1}, so it may
look at inputs of degree <= m(k), and output d has the degree of input d:

    hidden mask  M^W[k, k'] = 1[m^l(k) >= m^{l-1}(k')]       (eq. 12)
    output mask  M^V[d, k]  = 1[m^0(d) > m^L(k)]              (eq. 13, strictly greater)

The paper's outputs are Bernoulli; here output d is a softmax over the dataset's L levels
(L logits share the degree of input d), so MADE scores digits with 17 levels as well as binary
images, in exact bits per dimension. Optional direct input-to-output connections (sec. 4) are
masked the same way, strictly.

The degrees come from a seeded generator and the masks are buffers in the state dict, so a
checkpoint reloads the same connectivity. One pass gives all D conditionals (training and
likelihood are parallel); sampling is sequential: D passes, one per dimension, in order.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from genzoo.registry import ModelConfig
from genzoo.registry.errors import BadConfig

from .chain_rule import ChainRuleModel


@dataclass
class MADEConfig(ModelConfig):
    """Architecture of the paper's MADE, sized for small images on a CPU."""

    hidden: int = 256  # units per hidden layer (the paper uses 500 for binarized MNIST)
    layers: int = 1  # hidden layers (the paper: 1 or 2)
    order: str = "raster"  # "raster": C, H, W flattening order; "random": a seeded permutation
    direct: bool = True  # direct input-to-output connections (sec. 4)
    mask_seed: int = 0  # seeds the hidden degrees (and the random order)

    def validate(self):
        """Refuse sizes below 1 and an unknown order."""
        for name in ("hidden", "layers"):
            if getattr(self, name) < 1:
                raise BadConfig(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.order not in ("raster", "random"):
            raise BadConfig(f"order must be 'raster' or 'random', got {self.order!r}")


class MaskedLinear(nn.Linear):
    """A linear layer whose weight is multiplied by a fixed 0/1 mask (a persistent buffer)."""

    def __init__(self, mask: torch.Tensor, bias: bool = True):
        out_features, in_features = mask.shape
        super().__init__(in_features, out_features, bias=bias)
        self.register_buffer("mask", mask.float())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x (N, in) -> (N, out) through the masked weight."""
        return F.linear(x, self.weight * self.mask, self.bias)


def made_degrees(dims: int, hidden: int, layers: int, order: torch.Tensor,
                 generator: torch.Generator) -> list[torch.Tensor]:
    """Degrees [m^0, m^1, ..., m^L]: m^0[d] = place of input d in ``order`` (1..D); hidden
    degrees uniform on {min m^{l-1}, ..., D-1} (eq. 11), clamped for D = 1."""
    first = torch.empty(dims, dtype=torch.int64)
    first[order] = torch.arange(1, dims + 1)  # order[i] is the i-th dimension visited
    degrees = [first]
    for _ in range(layers):
        low = int(degrees[-1].min())
        high = max(dims - 1, low)  # D = 1: no input to look at; a constant unit
        degrees.append(torch.randint(low, high + 1, (hidden,), generator=generator))
    return degrees


class MADE(ChainRuleModel):
    """A masked MLP over the D dimensions with a softmax over the levels for each output."""

    def __init__(self, config: MADEConfig, data):
        super().__init__(config, data)
        dims, levels = self.dims, self.levels
        g = torch.Generator().manual_seed(config.mask_seed)
        order = (torch.randperm(dims, generator=g) if config.order == "random"
                 else torch.arange(dims))
        self.register_buffer("order", order)  # (D,): the dimensions in sampling order
        degrees = made_degrees(dims, config.hidden, config.layers, order, g)
        self.hidden_layers = nn.ModuleList(
            MaskedLinear(m[:, None] >= m_prev[None, :])  # (H, H_prev), eq. 12
            for m_prev, m in zip(degrees[:-1], degrees[1:]))
        # output d (its L logits, level-major within d) sees hidden units of lower degree
        out_mask = degrees[0][:, None] > degrees[-1][None, :]  # (D, H), eq. 13
        self.output = MaskedLinear(out_mask.repeat_interleave(levels, 0))  # (D*L, H)
        self.direct = None
        if config.direct:  # output d sees inputs strictly before d
            direct_mask = degrees[0][:, None] > degrees[0][None, :]  # (D, D)
            self.direct = MaskedLinear(direct_mask.repeat_interleave(levels, 0), bias=False)

    def inputs(self, x: torch.Tensor) -> torch.Tensor:
        """Levels 0..L-1 to floats in [-1, 1]: (N, C, H, W) -> (N, D)."""
        return x.flatten(1).float() * (2.0 / (self.levels - 1)) - 1.0

    def network(self, v: torch.Tensor) -> torch.Tensor:
        """Logits of p(x_d | x_<d) for every d in one masked pass: (N, D) -> (N, D, L)."""
        h = v
        for layer in self.hidden_layers:
            h = torch.relu(layer(h))  # (N, H)
        logits = self.output(h)  # (N, D*L)
        if self.direct is not None:
            logits = logits + self.direct(v)
        return logits.view(len(v), self.dims, self.levels)

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """Draw the dimensions one at a time in the model's order: D full network passes."""
        x = torch.zeros(n, self.dims, dtype=torch.int64, device=self.device)  # (N, D)
        for d in self.order.tolist():
            logits = self.network(self.inputs(x))[:, d]  # (N, L): depends on x_<d only
            x[:, d] = self.draw(logits, generator)
        return x.view(n, *self.data.shape)
