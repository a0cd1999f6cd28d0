"""Annealed importance sampling: an estimate of log Z for a model whose Z cannot be summed.

Neal 2001, "Annealed importance sampling"; Salakhutdinov & Murray 2008, "On the quantitative
analysis of deep belief networks", sec. 3-4 (the RBM's path, the base-rate base model and the
schedule used here).

A model p_B(v) = p*_B(v) / Z_B (an RBM: p*_B(v) = exp(-F(v))) is bridged to a base p_A(v) =
p*_A(v) / Z_A whose Z_A is known and which can be sampled exactly, through the geometric path

    p*_k(v) = p*_A(v)^(1 - beta_k) p*_B(v)^beta_k,    0 = beta_0 < beta_1 < ... < beta_K = 1.

One run draws v_1 ~ p_A, then v_{k+1} ~ T_k(. | v_k) with a transition that leaves p_k invariant
(a Gibbs sweep), and carries the importance weight

    w = prod_{k=1..K} p*_k(v_k) / p*_{k-1}(v_k),    E[w] = Z_B / Z_A.

With M independent runs, Z^_B = Z_A * (1/M) sum_m w_m is unbiased; its log (a log-mean-exp of
the log-weights) is not: by Jensen, E[log Z^] <= log Z_B, so log Z is underestimated and
log p(x) = log p*(x) - log Z^ overestimated on average. The spread reported is the standard
error of log Z^ by the delta method, sd(w) / (sqrt(M) mean(w)), as the paper's log(Z^ +- 3 sigma)
is. A model that is small enough has its log Z summed exactly instead
(:func:`log_partition_exact`), which is how the estimate is tested.
"""

from __future__ import annotations

import abc
import itertools
import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .errors import BadConfig
from .model import GenerativeModel

EXACT_MAX_UNITS = 20  # enumerate at most 2^20 configurations of the smaller side
# The paper's schedule (sec. 4.1): 500 betas in [0, 0.5], 4,000 in [0.5, 0.9], 10,000 in
# [0.9, 1]; as a piecewise-linear map from evenly spaced t in [0, 1], for any count.
_KNOTS = ((0.0, 0.0), (500 / 14_500, 0.5), (4_500 / 14_500, 0.9), (1.0, 1.0))


class AnnealingPath(abc.ABC):
    """What AIS needs of a model: an exactly solvable base p_A = p_0, and for each step of the
    path the log-ratio of two neighbouring p*_beta and a transition that leaves p_beta invariant
    (one method, so a model computes what both share once)."""

    @abc.abstractmethod
    def base_log_partition(self) -> float:
        """log Z_A of the base distribution, exactly."""

    @abc.abstractmethod
    def base_sample(self, m: int, generator: torch.Generator) -> torch.Tensor:
        """``m`` exact draws from p_A: (M, ...)."""

    @abc.abstractmethod
    def anneal(self, v: torch.Tensor, beta_from: float, beta_to: float,
               generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """``(log p*_to(v) - log p*_from(v), v')`` for the states ``v`` (M, ...): the
        log-ratio as (M,) float64 (AIS adds up thousands of them), and v' ~ T_to(. | v), one
        Markov-chain step that leaves p_to invariant."""


@dataclass(frozen=True)
class LogPartition:
    """log Z: ``value`` in nats, its ``std`` (0 when exact) and how it was found."""

    value: float
    std: float
    method: str  # "exact" or "ais"
    temperatures: int = 0
    runs: int = 0

    def describe(self) -> str:
        if self.method == "exact":
            return "log Z summed exactly by enumeration (std 0)"
        return (f"log Z estimated by AIS: {self.temperatures:,} temperatures, {self.runs:,} "
                f"runs, standard error {self.std:.3g} nats")


class EstimatedPartitionModel(GenerativeModel):
    """A ``density="estimate"`` model: log p(x) = log p*(x) - log Z with log Z estimated, so
    its ``log_prob`` is an estimate with a spread, neither exact nor a bound."""

    @abc.abstractmethod
    def log_partition(self) -> LogPartition:
        """The log Z that ``log_prob`` subtracts, with its spread."""


def check_temperatures(temperatures) -> int:
    """An AIS schedule needs beta = 0 and beta = 1 at least."""
    if isinstance(temperatures, bool) or not isinstance(temperatures, int) or temperatures < 2:
        raise BadConfig(f"an AIS schedule needs at least 2 temperatures (beta = 0 and beta = 1), "
                        f"got {temperatures!r}")
    return temperatures


def schedule(temperatures: int) -> torch.Tensor:
    """``temperatures`` betas from 0 to 1 (float64), spaced as Salakhutdinov & Murray's: dense
    near 1, where p*_k changes most. 14,501 gives the paper's schedule exactly."""
    t = torch.linspace(0.0, 1.0, check_temperatures(temperatures), dtype=torch.float64)
    knots_t = torch.tensor([k[0] for k in _KNOTS], dtype=torch.float64)
    knots_b = torch.tensor([k[1] for k in _KNOTS], dtype=torch.float64)
    i = torch.searchsorted(knots_t, t, right=True).clamp(1, len(_KNOTS) - 1)
    frac = (t - knots_t[i - 1]) / (knots_t[i] - knots_t[i - 1])
    betas = knots_b[i - 1] + frac * (knots_b[i] - knots_b[i - 1])
    betas[0], betas[-1] = 0.0, 1.0
    return betas


@dataclass(frozen=True)
class AISResult:
    """log Z^ with its standard error, and every run's log-weight (log Z^ = log Z_A +
    log-mean-exp of them)."""

    log_z: float
    std: float
    log_weights: torch.Tensor  # (M,) float64
    temperatures: int

    @property
    def interval(self) -> tuple[float, float]:
        """The paper's log(Z^ - 3 sigma), log(Z^ + 3 sigma) (-inf when 3 sigma > Z^)."""
        ratio = 3.0 * self.std  # sigma(Z^) / Z^ = std of log Z^ (delta method)
        return (self.log_z + math.log(1.0 - ratio) if ratio < 1.0 else -math.inf,
                self.log_z + math.log1p(ratio))

    def to_partition(self) -> LogPartition:
        return LogPartition(self.log_z, self.std, "ais", self.temperatures,
                            len(self.log_weights))


@torch.no_grad()
def ais(path: AnnealingPath, temperatures: int, runs: int,
        generator: torch.Generator) -> AISResult:
    """log Z of ``path``'s target by annealed importance sampling with ``runs`` independent
    chains over ``temperatures`` betas (:func:`schedule`)."""
    betas = schedule(temperatures)
    if isinstance(runs, bool) or not isinstance(runs, int) or runs < 2:
        raise BadConfig(f"AIS needs at least 2 runs (their spread is the estimate's), got "
                        f"{runs!r}")
    v = path.base_sample(runs, generator)  # v_1 ~ p_A
    log_w = torch.zeros(runs, dtype=torch.float64, device=v.device)
    for beta_from, beta_to in itertools.pairwise(betas.tolist()):
        ratio, v = path.anneal(v, beta_from, beta_to, generator)  # v_{k+1} ~ T_k(. | v_k)
        log_w += ratio  # log p*_k(v_k) - log p*_{k-1}(v_k)
    log_mean = torch.logsumexp(log_w, 0) - math.log(runs)
    w = (log_w - log_w.max()).exp()  # scaled weights: the ratio below does not see the scale
    std = float(w.std() / (math.sqrt(runs) * w.mean()))
    return AISResult(path.base_log_partition() + float(log_mean), std, log_w.cpu(),
                     len(betas))


@torch.no_grad()
def log_partition_exact(weight: torch.Tensor, visible_bias: torch.Tensor,
                        hidden_bias: torch.Tensor, chunk: int = 2 ** 14) -> float:
    """log Z of a binary RBM, E(v, h) = -b.v - c.h - v^T W h, summed exactly: every
    configuration of the smaller side is enumerated and the other side summed analytically,

        Z = sum_v exp(b.v) prod_j (1 + exp(c_j + W_j^T v))
          = sum_h exp(c.h) prod_i (1 + exp(b_i + W_i h)).

    ``weight`` is (visible, hidden); at most :data:`EXACT_MAX_UNITS` units on the smaller side.
    """
    weight, b, c = weight.double(), visible_bias.double(), hidden_bias.double()
    if weight.shape[0] > weight.shape[1]:  # enumerate the hidden side: swap the roles
        weight, b, c = weight.T, c, b
    n = weight.shape[0]
    if n > EXACT_MAX_UNITS:
        raise BadConfig(f"exact log Z enumerates 2^{n} configurations; at most "
                        f"{EXACT_MAX_UNITS} units on the smaller side")
    bits = 2 ** torch.arange(n, device=weight.device)
    parts = []
    for start in range(0, 2 ** n, chunk):
        index = torch.arange(start, min(start + chunk, 2 ** n), device=weight.device)
        states = (index[:, None] & bits).ne(0).double()  # (S, n): every configuration
        parts.append(torch.logsumexp(states @ b + F.softplus(states @ weight + c).sum(-1), 0))
    return float(torch.logsumexp(torch.stack(parts), 0))
