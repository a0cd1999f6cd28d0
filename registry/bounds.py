"""Bounds that can be tightened by importance sampling, and densities over dequantized values.

Two capabilities a ``density="bound"`` model may declare (docs/plugins.md, "Optional
capabilities"):

* :class:`ImportanceWeightedBound`: ``genzoo eval --iwae K`` draws K samples of whatever the
  bound integrates out (a VAE's code z ~ q(z|x); a flow's dequantization noise u ~ q(u|x)) and
  reports log 1/K sum_k p(x, z_k) / q(z_k | x), which tightens as K grows (Burda et al. 2016).
* :class:`ContinuousDensityModel`: a model of the *continuous* values v = x + u, u in [0, 1)^D
  (a normalizing flow). The probability of a discrete image is the integral of that density
  over its unit bin, P(x) = int_{[0,1)^D} p(x + u) du; a model reports a lower bound on its log
  (Jensen), but on a small grid (the 2-d toy densities) the integral itself can be computed
  (:func:`cell_log_probs`), and that is the flow's exact distribution over the cells.
"""

from __future__ import annotations

import abc
import math

import torch

from .model import GenerativeModel


class ImportanceWeightedBound(GenerativeModel):
    """A bound model whose bound tightens with K importance samples (``genzoo eval --iwae K``)."""

    @abc.abstractmethod
    def iwae_log_prob(self, x: torch.Tensor, k: int,
                      generator: torch.Generator | None = None) -> torch.Tensor:
        """The importance-weighted bound with ``k`` samples, in nats per image: (N,).

        ``k = 1`` is the model's ordinary bound (its ``log_prob``, up to Monte-Carlo noise);
        the bound is non-decreasing in ``k`` and reaches ``log p(x)`` in the limit.
        """


class ContinuousDensityModel(GenerativeModel):
    """A density over dequantized values v = x + u (level units, each dimension in [0, L))."""

    @abc.abstractmethod
    def continuous_log_density(self, v: torch.Tensor) -> torch.Tensor:
        """log p(v) in nats for float images v of shape (N, C, H, W) in level units: (N,).

        It integrates to 1 over [0, L)^D, so that P(x) = int_{[0,1)^D} p(x + u) du is a
        probability over the discrete images.
        """


@torch.no_grad()
def cell_log_probs(model: ContinuousDensityModel, x: torch.Tensor, points_per_axis: int = 16,
                   batch_size: int = 8192) -> torch.Tensor:
    """log P(x) = log int_{[0,1)^D} p(x + u) du by the midpoint rule on a regular sub-grid of
    ``points_per_axis`` points per dimension: (N,) nats.

    The cost is ``points_per_axis ** D`` density evaluations per image, so this is for the 2-d
    toy grids (D = 2), where 16 x 16 points per cell put the error well below the plotted scale.
    """
    dims = x[0].numel()
    offsets = (torch.arange(points_per_axis, dtype=torch.float32) + 0.5) / points_per_axis
    grid = torch.cartesian_prod(*([offsets] * dims)).view(-1, *x.shape[1:])  # (P^D, C, H, W)
    grid = grid.to(model.device)
    out = []
    for image in x.to(model.device).float():
        values = image[None] + grid  # (P^D, C, H, W)
        log_p = torch.cat([model.continuous_log_density(values[i:i + batch_size])
                           for i in range(0, len(values), batch_size)])
        out.append(torch.logsumexp(log_p.double(), 0) - math.log(len(values)))
    return torch.stack(out)
