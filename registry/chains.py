"""Models sampled by running a Markov chain (an RBM's block Gibbs sweeps), whose frames a page
can show: the chain starts far from the model's distribution and mixes towards it, which is
why such sampling is slow (the lecture's "Markov chain" leaf of the taxonomy)."""

from __future__ import annotations

import abc

import torch

from .errors import BadConfig
from .model import GenerativeModel

MAX_CHAIN_STEPS = 100_000  # what one request may run: a page's slider stays far below


class MarkovChainSampler(GenerativeModel):
    """A model whose ``sample`` is the last state of a Markov chain of ``gibbs_steps`` sweeps."""

    @abc.abstractmethod
    def gibbs_chain(self, n: int, steps: int, every: int = 1,
                    generator: torch.Generator | None = None) -> torch.Tensor:
        """The frames of ``n`` chains: the start and every ``every``-th step up to ``steps``,
        ``(steps // every + 1, n, C, H, W)`` in data space and dtype."""


def check_chain(steps: int, every: int) -> None:
    """Refuse, in one line, a chain of no steps, too many, or frames at no interval."""
    if isinstance(steps, bool) or not isinstance(steps, int) or not 1 <= steps <= MAX_CHAIN_STEPS:
        raise BadConfig(f"a Markov chain runs 1 to {MAX_CHAIN_STEPS:,} steps, got {steps!r}")
    if isinstance(every, bool) or not isinstance(every, int) or not 1 <= every <= steps:
        raise BadConfig(f"frames are taken every 1 to {steps} steps, got {every!r}")
