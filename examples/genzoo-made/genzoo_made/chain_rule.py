"""What MADE and NADE share: the chain rule over the D = C*H*W dimensions of an image.

    p(x) = prod_{d=1}^{D} p(x_d | x_<d)

A fully visible belief network has no latent variables: every dimension is visible and its
conditional on the earlier ones is a softmax over the dataset's L levels, so log p(x) is an
exact sum. A model says how it turns levels into network inputs (:meth:`inputs`) and how it maps
those inputs to the logits of every conditional at once (:meth:`network`); this base turns that
into genzoo's contract (``loss``, exact ``log_prob``). Sampling differs between the two models
(MADE reruns its network, NADE updates a running sum), so each writes its own ``sample``.
"""

from __future__ import annotations

import abc
import math

import torch

from genzoo.registry import GenerativeModel
from genzoo.registry.errors import BadData
from genzoo.registry.model import check_image_batch


class ChainRuleModel(GenerativeModel):
    """Base of a fully visible belief network over flattened images with categorical outputs."""

    def __init__(self, config, data):
        super().__init__(config, data)
        if data.kind != "image" or data.levels is None or data.levels < 2:
            raise BadData(f"{type(self).__name__} models discrete images with 2 or more levels")
        self.levels = data.levels
        self.dims = data.dims  # D = C * H * W, flattened channel-major, then raster order

    @abc.abstractmethod
    def inputs(self, x: torch.Tensor) -> torch.Tensor:
        """Levels to the network's float input: (N, C, H, W) int64 -> (N, D)."""

    @abc.abstractmethod
    def network(self, v: torch.Tensor) -> torch.Tensor:
        """Logits of every conditional in one pass: (N, D) -> (N, D, L).

        Row d may depend only on the inputs that come before d in the model's order.
        """

    def dim_log_probs(self, x: torch.Tensor) -> torch.Tensor:
        """log p(x_d | x_<d) for every dimension: (N, C, H, W) -> (N, D), in nats."""
        check_image_batch(x, self.data.shape, self.levels, type(self).__name__)
        log_softmax = self.network(self.inputs(x)).log_softmax(-1)  # (N, D, L)
        return log_softmax.gather(-1, x.flatten(1).unsqueeze(-1)).squeeze(-1)  # (N, D)

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """Exact log p(x) in nats per image: the sum of the chain rule's log-conditionals."""
        return self.dim_log_probs(x).sum(1)

    def loss(self, batch: torch.Tensor) -> dict[str, torch.Tensor]:
        """Negative log-likelihood in nats per dimension (and the same in bits)."""
        nll = -self.dim_log_probs(batch).mean()
        return {"loss": nll, "bits_per_dim": nll.detach() / math.log(2)}

    def draw(self, logits: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        """One value per row from a categorical: (N, L) logits -> (N,) int64 levels."""
        probs = logits.float().softmax(-1)
        return torch.multinomial(probs, 1, generator=generator).squeeze(1)
