"""What a diffusion model offers beyond the contract: sampling with fewer steps, and its chain.

A diffusion model (Ho et al. 2020) is a hierarchical latent-variable model with a fixed
encoder: the forward process q(x_t | x_{t-1}) adds Gaussian noise over T steps, and a network
learns the reverse p_theta(x_{t-1} | x_t). Its number is the variational bound

    -log p(x_0) <= L_T + sum_{t=2}^{T} L_{t-1} + L_0
    L_T = KL(q(x_T | x_0) || p(x_T)),  L_{t-1} = KL(q(x_{t-1} | x_t, x_0) || p(x_{t-1} | x_t)),
    L_0 = -log p(x_0 | x_1)  (a discrete decoder over the data's levels)

and its sampler runs the reverse chain. The Diffusion page and ``genzoo sample --steps K`` use
the two bases here through ``isinstance``, so a plugin's diffusion model shows there too.
"""

from __future__ import annotations

import abc

import torch

from .errors import BadConfig
from .model import GenerativeModel


class StepSampler(GenerativeModel):
    """A model whose sampler runs a chain of steps and can take fewer of them (DDIM)."""

    @property
    @abc.abstractmethod
    def max_sampling_steps(self) -> int:
        """The number of steps of the full chain (T); ``sample`` takes all of them."""

    @abc.abstractmethod
    def sample_steps(self, n: int, steps: int, generator: torch.Generator | None = None,
                     eta: float = 0.0) -> torch.Tensor:
        """``n`` samples from a chain of ``steps`` steps (1 <= steps <= T), in data space and
        dtype. ``eta`` scales the noise of each step: 0 is the deterministic DDIM sampler; 1
        with all T steps is ancestral sampling with the posterior variance."""


def check_steps(model: StepSampler, steps: int, eta: float = 0.0) -> None:
    """Refuse, in one line, a step count outside 1..T or an eta outside [0, 1]."""
    top = model.max_sampling_steps
    if isinstance(steps, bool) or not isinstance(steps, int) or not 1 <= steps <= top:
        raise BadConfig(f"--steps must be a whole number from 1 to {top} (the model's T), got "
                        f"{steps!r}")
    if not 0.0 <= eta <= 1.0:
        raise BadConfig(f"--eta must be in [0, 1] (0: deterministic DDIM, 1: ancestral), got "
                        f"{eta!r}")


class DiffusionModel(StepSampler):
    """A denoising diffusion model: the forward process, the reverse chain, the bound's terms."""

    @property
    @abc.abstractmethod
    def num_timesteps(self) -> int:
        """T, the number of noising steps."""

    @abc.abstractmethod
    def q_sample(self, x: torch.Tensor, t: torch.Tensor,
                 generator: torch.Generator | None = None) -> torch.Tensor:
        """x_t ~ q(x_t | x_0) = N(sqrt(abar_t) x_0, (1 - abar_t) I) for integer images x (N, C,
        H, W) and timesteps t (N,) in 1..T: floats on the model's scale ([-1, 1] for data)."""

    @abc.abstractmethod
    def to_levels(self, x: torch.Tensor) -> torch.Tensor:
        """Model-scale floats (x_t, a predicted x_0) to level units, for drawing: (N, C, H, W)."""

    @abc.abstractmethod
    def reverse_frames(self, n: int, steps: int, generator: torch.Generator | None = None,
                       eta: float = 0.0, frames: int = 10) -> dict:
        """Run the reverse chain and keep ``frames`` evenly spaced snapshots:
        ``{"t": [t, ...], "x_t": (F, n, C, H, W), "x0_pred": (F, n, C, H, W), "samples": (n, C,
        H, W) int64}``, the floats in level units (for drawing), t from T down."""

    @abc.abstractmethod
    def bound_terms(self, x: torch.Tensor) -> torch.Tensor:
        """Every term of the bound for each image, nats: (N, T + 1), column 0 is L_0 (the
        decoder), column t (1 <= t < T) is L_t = KL(q(x_t | x_{t+1}, x_0) || p(x_t | x_{t+1})),
        column T is L_T (the prior). ``-bound_terms(x).sum(1)`` is ``log_prob(x)``."""
