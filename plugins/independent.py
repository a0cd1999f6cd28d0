"""The independent per-pixel categorical model: the floor every image model must beat.

    p(x) = prod_i p(x_i),   p(x_i = k) = theta_{i,k}

No pixel depends on any other, so the maximum-likelihood fit is a table of per-pixel value
frequencies, found in closed form. Smoothing with a symmetric Dirichlet prior (alpha) keeps
values never seen in training at a finite likelihood on the test split.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from genzoo.registry import Claim, GenerativeModel, ModelConfig, ModelSpec, hookimpl
from genzoo.registry.config import bounded
from genzoo.registry.errors import BadConfig


@dataclass
class IndependentConfig(ModelConfig):
    """``alpha``: pseudo-count added to every value of every pixel (0.5 is Krichevsky-Trofimov)."""

    alpha: float = bounded(0.5, 0.0, 10_000.0)  # 0 itself: refused by validate

    def validate(self):
        if not self.alpha > 0:
            raise BadConfig(f"alpha must be positive (it keeps unseen values finite), "
                            f"got {self.alpha}")


class IndependentPixels(GenerativeModel):
    """A categorical distribution per pixel and channel, independent of all the others."""

    def __init__(self, config: IndependentConfig, data):
        super().__init__(config, data)
        channels, height, width = data.shape
        # logits: (C, H, W, levels); uniform until fitted
        self.logits = nn.Parameter(torch.zeros(channels, height, width, data.levels))

    def fit(self, train: torch.Tensor) -> bool:
        """Closed-form MLE with Dirichlet smoothing: log((count + alpha) / (N + levels*alpha))."""
        one_hot = F.one_hot(train, self.data.levels).to(self.logits.dtype)  # (N, C, H, W, L)
        counts = one_hot.sum(0) + self.config.alpha
        with torch.no_grad():
            self.logits.copy_(counts.log() - counts.sum(-1, keepdim=True).log())
        return True

    def _log_probs_per_dim(self, x: torch.Tensor) -> torch.Tensor:
        log_theta = self.logits.log_softmax(-1)  # (C, H, W, L)
        # gather log theta[c, h, w, x[n, c, h, w]] for every n: (N, C, H, W)
        return log_theta.expand(len(x), *log_theta.shape).gather(-1, x.unsqueeze(-1)).squeeze(-1)

    def loss(self, batch: torch.Tensor) -> dict[str, torch.Tensor]:
        """Negative log-likelihood in nats per dimension (and the same in bits)."""
        nll = -self._log_probs_per_dim(batch).mean()
        return {"loss": nll, "bits_per_dim": nll.detach() / math.log(2)}

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """Exact: the sum of the per-pixel log-probabilities, nats per image."""
        return self._log_probs_per_dim(x).flatten(1).sum(1)

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """Every pixel drawn at once (parallel sampling), from its own categorical."""
        probs = self.logits.softmax(-1).reshape(-1, self.data.levels)  # (C*H*W, L)
        draws = torch.multinomial(probs, n, replacement=True, generator=generator)  # (C*H*W, n)
        return draws.T.reshape(n, *self.data.shape).to(torch.int64)


@hookimpl
def register_models(register):
    """The independent-pixels baseline."""
    register(ModelSpec(
        name="independent", model_class=IndependentPixels, config_class=IndependentConfig,
        family="independent pixels (baseline)", density="exact", sampling="parallel", data="image",
        baseline=True,
        paper="baseline: product of per-pixel categoricals",
        summary="Every pixel its own categorical, fitted by counting. The floor for bits/dim.",
        pros=[Claim("Exact likelihood in closed form", "test_bits_per_dim"),
              Claim("Parallel sampling: all pixels at once", "sample_ms_per_image_b64")],
        cons=[Claim("Ignores every dependency between pixels: samples are noise",
                    "test_bits_per_dim")]))
