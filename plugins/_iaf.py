"""Inverse autoregressive flow for the VAE's posterior (Kingma et al., NeurIPS 2016).

Kingma, Salimans, Jozefowicz, Chen, Sutskever & Welling, "Improved Variational Inference with
Inverse Autoregressive Flow", NeurIPS 2016, algorithm 1 and eq. 14 (the LSTM-type update):

    [m_t, s_t] = AutoregressiveNN_t(z_{t-1}, h),   sigma_t = sigmoid(s_t)
    z_t = sigma_t * z_{t-1} + (1 - sigma_t) * m_t

m_{t,i} and s_{t,i} depend on z_{t-1} only through the dimensions before i (in step t's order),
so dz_t / dz_{t-1} is triangular with diagonal sigma_t and log |det| = sum_i log sigma_{t,i}.
The autoregressive networks are MADEs (Germain et al., ICML 2015: masked linear layers), with
the encoder's context h added to the first hidden layer; successive steps reverse the order.
Sampling and the density of one's own samples take one pass per step; the density at any
other point (a VampPrior's q(z | u_k)) inverts the steps, one dimension at a time.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

S_BIAS = 2.0  # s_t starts near +2 (sigma_t ~ 0.88): each step starts close to the identity


class MaskedLinear(nn.Linear):
    """A linear layer whose weight is multiplied by a fixed 0/1 mask (out_features, in_features)."""

    def __init__(self, mask: torch.Tensor):
        super().__init__(mask.shape[1], mask.shape[0])
        self.register_buffer("mask", mask.float())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight * self.mask, self.bias)


class IAFStep(nn.Module):
    """One step: a two-hidden-layer MADE over z (in ``order``), conditioned on the context h."""

    def __init__(self, latent: int, context: int, hidden: int, reverse: bool):
        super().__init__()
        degree = torch.arange(1, latent + 1)  # the position of each dimension in this order
        self.register_buffer("degree", degree.flip(0) if reverse else degree)
        # hidden units see dimensions up to their degree (1..L-1; 0 for L = 1: the context only)
        hidden_degree = (torch.arange(hidden) % max(latent - 1, 1) + 1 if latent > 1
                         else torch.zeros(hidden, dtype=torch.long))
        self.first = MaskedLinear(hidden_degree[:, None] >= self.degree[None, :])
        self.context = nn.Linear(context, hidden) if context > 0 else None
        self.second = MaskedLinear(hidden_degree[:, None] >= hidden_degree[None, :])
        out_mask = self.degree[:, None] > hidden_degree[None, :]  # strictly earlier dimensions
        self.m = MaskedLinear(out_mask)
        self.s = MaskedLinear(out_mask)
        nn.init.constant_(self.s.bias, S_BIAS)

    def forward(self, z: torch.Tensor, h: torch.Tensor | None) -> tuple[torch.Tensor, ...]:
        """``(m, s)`` for z (..., L) with context h (..., C) broadcastable to it."""
        pre = self.first(z)
        if self.context is not None:
            pre = pre + self.context(h)
        hidden = F.elu(self.second(F.elu(pre)))
        return self.m(hidden), self.s(hidden)

    def step(self, z: torch.Tensor, h) -> tuple[torch.Tensor, torch.Tensor]:
        """z_t and log |det dz_t/dz_{t-1}| = sum_i log sigma_{t,i}: (..., L), (...)."""
        m, s = self(z, h)
        sigma = torch.sigmoid(s)
        return sigma * z + (1 - sigma) * m, F.logsigmoid(s).sum(-1)

    def invert(self, z: torch.Tensor, h) -> tuple[torch.Tensor, torch.Tensor]:
        """z_{t-1} from z_t, and the step's log |det| there: L passes, the dimension at position
        n of the order solved at pass n (z_{t-1,i} = (z_{t,i} - (1 - sigma_i) m_i) / sigma_i
        needs z_{t-1,<i}); the unsolved ones stay 0, so no overflow leaks through the masks."""
        prev, log_det = torch.zeros_like(z), None
        for n in range(1, z.shape[-1] + 1):
            m, s = self(prev, h)
            sigma = torch.sigmoid(s)
            prev = torch.where(self.degree == n, (z - (1 - sigma) * m) / sigma, prev)
            log_det = F.logsigmoid(s).sum(-1)  # exact at the last pass: s_i needs only prev_{<i}
        return prev, log_det


class IAF(nn.Module):
    """T IAF steps, alternating the order: z_0 -> z_T with sum_t log |det| (Kingma et al.)."""

    def __init__(self, latent: int, context: int, hidden: int, steps: int):
        super().__init__()
        self.steps = nn.ModuleList(IAFStep(latent, context, hidden, reverse=t % 2 == 1)
                                   for t in range(steps))

    def forward(self, z: torch.Tensor, h: torch.Tensor | None
                ) -> tuple[torch.Tensor, torch.Tensor]:
        """z_T and sum_t sum_i log sigma_{t,i}: (..., L) -> (..., L), (...)."""
        log_det = torch.zeros(z.shape[:-1], device=z.device, dtype=z.dtype)
        for step in self.steps:
            z, term = step.step(z, h)
            log_det = log_det + term
        return z, log_det

    def inverse(self, z: torch.Tensor, h: torch.Tensor | None
                ) -> tuple[torch.Tensor, torch.Tensor]:
        """z_0 from z_T, and the forward log |det| at z_0 (T * L network passes)."""
        log_det = torch.zeros(z.shape[:-1], device=z.device, dtype=z.dtype)
        for step in reversed(self.steps):
            z, term = step.invert(z, h)
            log_det = log_det + term
        return z, log_det
