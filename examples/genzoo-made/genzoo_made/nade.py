"""NADE: the neural autoregressive distribution estimator.

Larochelle & Murray, "The Neural Autoregressive Distribution Estimator", AISTATS 2011.

NADE writes the chain rule

    p(x) = prod_{d=1}^{D} p(x_d | x_<d)

with one hidden layer per conditional, all sharing one weight matrix W (H x D) and bias c:

    h_d = sigmoid(c + W[:, <d] x_<d)                       (eq. 6)
    p(x_d | x_<d) = softmax(b_d + V_d h_d)                 (eq. 7, a softmax over L levels)

Because the pre-activations of consecutive conditionals differ by one column,
a_{d+1} = a_d + W[:, d] x_d, all D hidden layers cost O(DH) instead of O(D^2 H): the running
sum (sec. 3). ``network`` computes it for a whole batch as an exclusive cumulative sum;
``sample`` keeps it literally, one pixel at a time.

The paper's x is binary and its output a Bernoulli. For L levels the output of pixel d is a
softmax with its own V_d (L x H) and b_d (L), and the input is x_d / (L - 1) in [0, 1], not a
one-hot code: for binary data this is exactly the paper's model, it keeps one column of W per
pixel (so the running sum stays O(DH) and W stays H x D), and grey levels are ordered
intensities, which one scalar per pixel carries. A one-hot input would give each level its own
column (L times the weights and the cost) at no gain for binary data.
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
class NADEConfig(ModelConfig):
    """Size of NADE's one shared hidden layer."""

    hidden: int = 128  # H (the paper uses 500 on binarized MNIST)
    lr: float = 2e-3

    def validate(self):
        """Refuse a hidden size below 1."""
        if self.hidden < 1:
            raise BadConfig(f"hidden must be at least 1, got {self.hidden}")


class NADE(ChainRuleModel):
    """NADE with shared input weights W, the running-sum trick and a softmax output per pixel."""

    def __init__(self, config: NADEConfig, data):
        super().__init__(config, data)
        dims, levels, hidden = self.dims, self.levels, config.hidden
        self.W = nn.Parameter(torch.randn(hidden, dims) * dims ** -0.5)  # (H, D), shared
        self.c = nn.Parameter(torch.zeros(hidden))  # (H,)
        self.V = nn.Parameter(torch.randn(dims, levels, hidden) * hidden ** -0.5)  # (D, L, H)
        self.b = nn.Parameter(torch.zeros(dims, levels))  # (D, L)

    def inputs(self, x: torch.Tensor) -> torch.Tensor:
        """Levels 0..L-1 to x / (L - 1) in [0, 1] (binary data stays 0/1): (N, ...) -> (N, D)."""
        return x.flatten(1).float() / (self.levels - 1)

    def network(self, v: torch.Tensor) -> torch.Tensor:
        """Logits of every p(x_d | x_<d): (N, D) -> (N, D, L), by the running sum of eq. 6."""
        steps = v[:, :, None] * self.W.t()  # (N, D, H): W[:, d] x_d
        a = self.c + F.pad(steps.cumsum(1)[:, :-1], (0, 0, 1, 0))  # (N, D, H): a_d, x_<d only
        h = torch.sigmoid(a)
        return torch.einsum("ndh,dlh->ndl", h, self.V) + self.b  # (N, D, L)

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """Draw pixels in raster order, updating a = c + W[:, <d] x_<d by one column a step."""
        x = torch.zeros(n, self.dims, dtype=torch.int64, device=self.device)  # (N, D)
        a = self.c.expand(n, -1).clone()  # (N, H): a_1 = c
        for d in range(self.dims):
            logits = torch.sigmoid(a) @ self.V[d].t() + self.b[d]  # (N, L)
            x[:, d] = self.draw(logits, generator)
            a += (x[:, d].float() / (self.levels - 1))[:, None] * self.W[:, d]  # a_{d+1}
        return x.view(n, *self.data.shape)
