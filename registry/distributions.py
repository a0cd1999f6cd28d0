"""Discrete likelihoods over image levels, shared by the models whose decoder outputs one
distribution per pixel given a latent code (VAE, VQ-VAE) and by PixelCNN++.

Every likelihood here is a proper distribution over the dataset's ``levels`` values, so
``log p(x | z)`` is in nats of the same discrete data as the exact models' ``log p(x)`` and the
bounds built on it are in the common unit (bits/dim).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .errors import BadConfig

DECODERS = ("auto", "categorical", "bernoulli", "logistic")


def discretized_logistic_mix_log_prob(k: torch.Tensor, logit_probs: torch.Tensor,
                                      means: torch.Tensor, log_scales: torch.Tensor,
                                      levels: int) -> torch.Tensor:
    """log P(level k) under a mixture of logistics discretized into `levels` bins on [-1, 1].

    Salimans et al. 2017, sec. 2.1: level k owns the bin [k - 0.5, k + 0.5] (once scaled), the
    lowest level takes all mass below its upper edge and the highest all mass above its lower
    edge. ``k`` holds integer levels and broadcasts against the parameters, which carry the
    mixture axis last: (..., K) -> (...).
    """
    half = 1.0 / (levels - 1)  # half a bin on the scaled axis
    centre = k * (2.0 * half) - 1.0
    log_scales = log_scales.clamp(-7.0, 7.0)  # -7 as the reference; 7 keeps e^(a-b) below 1
    inv_scale = torch.exp(-log_scales)
    upper = inv_scale * (centre + half - means)  # logistic CDF argument at the bin's upper edge
    lower = inv_scale * (centre - half - means)
    # log(sigmoid(upper) - sigmoid(lower)), exactly and without cancellation
    log_inner = (F.logsigmoid(upper) + F.logsigmoid(-lower)
                 + torch.log(-torch.expm1(-2.0 * half * inv_scale)))
    log_bin = torch.where(k == 0, F.logsigmoid(upper),  # everything up to the first upper edge
                          torch.where(k == levels - 1, F.logsigmoid(-lower),  # all above the last
                                      log_inner))
    return torch.logsumexp(F.log_softmax(logit_probs, -1) + log_bin, -1)


def resolve_decoder(name: str, levels: int) -> str:
    """The decoder a config asks for: ``auto`` is Bernoulli on binary data, else categorical."""
    if name not in DECODERS:
        raise BadConfig(f"decoder must be one of {', '.join(DECODERS)}, got {name!r}")
    if name == "auto":
        return "bernoulli" if levels == 2 else "categorical"
    if name == "bernoulli" and levels != 2:
        raise BadConfig(f"decoder=bernoulli needs binary data (2 levels); this data has {levels}")
    return name


class PixelLikelihood:
    """A factorized distribution over every pixel's level, given per-pixel parameters.

    ``p(x | z) = prod_i p(x_i | params_i(z))`` with one of:

    * ``categorical``: a softmax over the ``levels`` (``levels`` parameters per channel);
    * ``bernoulli``: binary data, one logit per channel;
    * ``logistic``: one logistic on the scaled axis [-1, 1], discretized into the levels
      (PixelCNN++'s likelihood with a single component): a mean and a log-scale per channel.

    Parameters come as ``(N, channels * params_per_channel, H, W)``, channel-major.
    """

    def __init__(self, kind: str, channels: int, levels: int):
        self.kind = resolve_decoder(kind, levels)
        self.channels, self.levels = channels, levels
        self.params_per_channel = {"categorical": levels, "bernoulli": 1, "logistic": 2}[self.kind]

    @property
    def n_params(self) -> int:
        """Output channels a decoder must produce."""
        return self.channels * self.params_per_channel

    def _split(self, params: torch.Tensor) -> torch.Tensor:
        n, _, height, width = params.shape
        return params.view(n, self.channels, self.params_per_channel, height, width)

    def level_log_probs(self, params: torch.Tensor) -> torch.Tensor:
        """log P(level) for every level of every pixel: (N, C, levels, H, W)."""
        p = self._split(params)
        if self.kind == "categorical":
            return p.log_softmax(2)
        if self.kind == "bernoulli":
            logit = p[:, :, 0:1]
            return torch.cat([F.logsigmoid(-logit), F.logsigmoid(logit)], 2)
        levels = torch.arange(self.levels, device=params.device).view(1, 1, -1, 1, 1, 1)
        mean, log_scale = p[:, :, 0:1, None], p[:, :, 1:2, None]  # mixture axis last, size 1
        weights = torch.zeros_like(mean)
        return discretized_logistic_mix_log_prob(
            levels, weights.movedim(3, -1), mean.movedim(3, -1), log_scale.movedim(3, -1),
            self.levels)

    def log_prob(self, params: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """log p(x | params) in nats, summed over pixels and channels: (N,)."""
        per_level = self.level_log_probs(params)  # (N, C, L, H, W)
        return per_level.gather(2, x.unsqueeze(2)).squeeze(2).flatten(1).sum(1)

    def sample(self, params: torch.Tensor, generator: torch.Generator | None = None
               ) -> torch.Tensor:
        """One draw per pixel: int64 levels (N, C, H, W), all randomness from ``generator``."""
        probs = self.level_log_probs(params).exp()  # (N, C, L, H, W)
        n, c, levels, height, width = probs.shape
        flat = probs.movedim(2, -1).reshape(-1, levels).float()
        draws = torch.multinomial(flat, 1, generator=generator)
        return draws.view(n, c, height, width)

    def mean(self, params: torch.Tensor) -> torch.Tensor:
        """The expected level of every pixel, a float image (N, C, H, W) in [0, levels - 1]."""
        probs = self.level_log_probs(params).exp()
        levels = torch.arange(self.levels, device=params.device, dtype=probs.dtype)
        return (probs * levels.view(1, 1, -1, 1, 1)).sum(2)
