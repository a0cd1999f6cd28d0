"""What every autoregressive image model shares: the chain rule over pixels in raster order.

    p(x) = prod_{i=1}^{n} p(x_i | x_1, ..., x_{i-1})

A family member (PixelCNN, Gated PixelCNN, PixelCNN++, PixelRNN) says three things: how its
network maps an image to the parameters of every pixel's conditional in one pass
(:meth:`network`), the log-probability of each pixel value under those parameters
(:meth:`dim_log_probs`), and how to draw one pixel from them (:meth:`sample_from`). This base
turns that into the contract (exact ``log_prob``, ``loss``, sequential ``sample``) and the
teaching views (``complete`` an image from a mask, the ``receptive_field`` of a pixel).

Sampling goes through a *stepper* that gives the parameters at one position: the naive stepper
reruns the whole network for each pixel (H*W passes); a model may offer a cached stepper
(:meth:`cached_stepper`) that recomputes only what the new pixel changes and must give the same
parameters.
"""

from __future__ import annotations

import abc
import math

import torch

from .errors import BadConfig, BadData
from .model import DataInfo, GenerativeModel, ModelConfig


class NaiveStepper:
    """Parameters at one position by a full network pass over the current image."""

    incremental = False  # positions whose value is already known can be skipped

    def __init__(self, model: AutoregressiveImageModel, labels: torch.Tensor | None):
        self.model, self.labels = model, labels

    def params_at(self, x: torch.Tensor, row: int, col: int) -> torch.Tensor:
        """(N, P) distribution parameters of pixel (row, col) given every earlier pixel of x."""
        return self.model.network(self.model.scale(x), self.labels)[:, :, row, col]


class AutoregressiveImageModel(GenerativeModel):
    """Base of the raster-order autoregressive image models; exact likelihood over levels."""

    def __init__(self, config: ModelConfig, data: DataInfo):
        super().__init__(config, data)
        if data.kind != "image" or data.levels is None or data.levels < 2:
            raise BadData(f"{type(self).__name__} models discrete images with 2 or more levels")
        self.levels = data.levels
        if self.conditional and not data.n_classes:
            raise BadConfig("conditional=true needs a labelled dataset (like digits); this "
                            "dataset has no class labels")

    # -- what a family member defines ----------------------------------------------------------

    @abc.abstractmethod
    def network(self, scaled: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """Parameters of every pixel's conditional in one pass: (N, C, H, W) -> (N, P, H, W).

        The output at (row, col) may depend only on pixels before (row, col) in raster order.
        """

    @abc.abstractmethod
    def dim_log_probs(self, params: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """log p(x_i | x_<i) for every pixel and channel: (N, C, H, W), in nats."""

    @abc.abstractmethod
    def sample_from(self, params: torch.Tensor,
                    generator: torch.Generator | None) -> torch.Tensor:
        """Draw one pixel (every channel) from its parameters: (N, P) -> (N, C) int64."""

    def cached_stepper(self, n: int, labels: torch.Tensor | None):
        """A stepper that reuses earlier work (Ramachandran et al. 2017), or None."""
        return None

    # -- the contract --------------------------------------------------------------------------

    def scale(self, x: torch.Tensor) -> torch.Tensor:
        """Levels 0..L-1 to floats in [-1, 1], the network's input."""
        return x.float() * (2.0 / (self.levels - 1)) - 1.0

    def _labels(self, n: int, labels, generator=None) -> torch.Tensor | None:
        if not self.conditional:
            if labels is not None:
                raise BadConfig("labels were given, but this model is not conditional "
                                "(train it with --set conditional=true)")
            return None
        n_classes = self.data.n_classes
        if labels is None:  # no class asked for: draw classes uniformly
            return torch.randint(n_classes, (n,), generator=generator,
                                 device=generator.device if generator else "cpu").to(self.device)
        labels = torch.as_tensor(labels, dtype=torch.int64, device=self.device).expand(n)
        bad = labels[(labels < 0) | (labels >= n_classes)]
        if len(bad):
            raise BadData(f"class label {int(bad[0])} is outside this dataset's classes "
                          f"0..{n_classes - 1}")
        return labels

    def log_prob(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """Exact log p(x) in nats per image: the sum of the chain rule's log-conditionals."""
        if self.conditional and labels is None:
            raise BadConfig("a conditional model needs the labels of the images it scores")
        params = self.network(self.scale(x), self._labels(len(x), labels))
        return self.dim_log_probs(params, x).flatten(1).sum(1)  # (N, C, H, W) -> (N,)

    def loss(self, batch: torch.Tensor, labels: torch.Tensor | None = None
             ) -> dict[str, torch.Tensor]:
        """Negative log-likelihood in nats per dimension (and the same in bits)."""
        if self.conditional and labels is None:
            raise BadConfig("a conditional model is trained on labelled batches")
        params = self.network(self.scale(batch), self._labels(len(batch), labels))
        nll = -self.dim_log_probs(params, batch).mean()
        return {"loss": nll, "bits_per_dim": nll.detach() / math.log(2)}

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None,
               labels=None, cached: bool = True) -> torch.Tensor:
        """Draw pixels one at a time in raster order (cached when the model can)."""
        blank = torch.zeros(n, *self.data.shape, dtype=torch.int64, device=self.device)
        return self.complete(blank, None, generator=generator, labels=labels, cached=cached)

    @torch.no_grad()
    def complete(self, x: torch.Tensor, known: torch.Tensor | None,
                 generator: torch.Generator | None = None, labels=None,
                 cached: bool = True) -> torch.Tensor:
        """Fill the pixels where ``known`` is False, in raster order; keep the others.

        ``known``: (H, W) or (N, H, W) booleans, or None for nothing known. Each new pixel is
        drawn from p(x_i | x_<i): known pixels *before* it in raster order condition it, those
        after it cannot (the model never sees the future), which is exact for a top-half mask.
        """
        was_training = self.training
        self.eval()
        n, _, height, width = x.shape
        x = x.clone().to(self.device)
        if known is None:
            known = torch.zeros(height, width, dtype=torch.bool)
        known = known.to(self.device).expand(n, height, width)
        labels = self._labels(n, labels, generator)
        stepper = (self.cached_stepper(n, labels) if cached else None) or NaiveStepper(self, labels)
        for row in range(height):
            for col in range(width):
                todo = ~known[:, row, col]  # (N,)
                if not todo.any():
                    if stepper.incremental:
                        stepper.params_at(x, row, col)  # keeps its caches complete
                    continue  # no draw: cached and naive use the generator alike
                params = stepper.params_at(x, row, col)  # (N, P)
                draws = self.sample_from(params, generator)  # (N, C)
                x[:, :, row, col] = torch.where(todo[:, None], draws, x[:, :, row, col])
        self.train(was_training)
        return x

    def receptive_field(self, row: int, col: int, x: torch.Tensor | None = None,
                        labels=None) -> torch.Tensor:
        """|d params(row, col) / d input| summed over channels: (H, W), zero where no influence.

        The pixels a conditional actually depends on; PixelCNN's blind spot shows as zeros
        up and to the right of the pixel.
        """
        was_training = self.training
        self.eval()
        if x is None:
            x = torch.randint(self.levels, (1, *self.data.shape), generator=torch.Generator()
                              .manual_seed(0)).to(self.device)
        labels = self._labels(len(x), labels)
        scaled = self.scale(x).requires_grad_(True)
        out = self.network(scaled, labels)[:, :, row, col]
        (grad,) = torch.autograd.grad(out.abs().sum(), scaled)
        self.train(was_training)
        return grad.abs().sum((0, 1))  # (H, W)


class CategoricalPixels:
    """Mixin: each pixel's conditional is a softmax over the levels, for every channel.

    ``network`` then returns logits (N, C * levels, H, W), channel-major.
    """

    def _logits(self, params: torch.Tensor) -> torch.Tensor:
        n, _, *rest = params.shape
        return params.view(n, self.data.shape[0], self.levels, *rest)  # (N, C, L, ...)

    def dim_log_probs(self, params, x):
        log_softmax = self._logits(params).log_softmax(2)  # (N, C, L, H, W)
        return log_softmax.gather(2, x.unsqueeze(2)).squeeze(2)

    def sample_from(self, params, generator):
        probs = self._logits(params).softmax(2)  # (N, C, L)
        flat = probs.reshape(-1, self.levels).float()
        return torch.multinomial(flat, 1, generator=generator).view(len(params), -1)
