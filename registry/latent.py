"""What the latent explorer needs of a latent-variable model: an encoder and a decoder.

A VAE encodes an image to a continuous code (the mean of q(z|x)); a VQ-VAE to a grid of
codebook indices. Either way the explorer can reconstruct test images, walk along one latent
dimension, interpolate between two images and plot the test set's codes, without knowing which
model it holds.
"""

from __future__ import annotations

import abc
from typing import ClassVar, Literal

import torch

from .bounds import ImportanceWeightedBound
from .model import GenerativeModel

LatentKind = Literal["continuous", "discrete"]


class LatentVariableModel(GenerativeModel):
    """A generative model ``p(x) = sum_z p(x | z) p(z)`` with an encoder for ``z`` given ``x``."""

    latent_kind: ClassVar[LatentKind] = "continuous"
    #: K, the number of codebook entries of a discrete latent (None: continuous, or not known,
    #: then the explorer counts the codes it sees).
    codebook_size: int | None = None

    @property
    @abc.abstractmethod
    def latent_shape(self) -> tuple[int, ...]:
        """Shape of one image's code: ``(latent_dim,)`` or the code grid ``(h, w)``."""

    @abc.abstractmethod
    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Codes of images (N, C, H, W): the posterior mean (N, latent_dim) for a continuous
        latent, codebook indices (N, h, w) int64 for a discrete one."""

    @abc.abstractmethod
    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Images from codes: the decoder's mean, floats (N, C, H, W) in ``[0, levels - 1]``."""

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """``decode(encode(x))``: what the model keeps of an image."""
        return self.decode(self.encode(x))


class GaussianLatentModel(LatentVariableModel, ImportanceWeightedBound):
    """A latent-variable model with the lecture's Gaussian pieces: an encoder
    q(z|x) = N(mu, diag sigma^2), a standard normal prior p(z) = N(0, I) and a decoder p(x|z),
    so its ELBO splits into E_q[log p(x|z)] - D_KL(q(z|x) || p(z)) with the KL in closed form.
    Lecture mode's ELBO split works on it, and ``genzoo eval --iwae K`` through its
    ``iwae_log_prob`` (:class:`~genzoo.registry.bounds.ImportanceWeightedBound`)."""

    latent_kind: ClassVar[LatentKind] = "continuous"

    @abc.abstractmethod
    def posterior(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """q(z|x) of images (N, C, H, W): ``(mu, log sigma^2)``, each (N, latent_dim)."""

    @abc.abstractmethod
    def recon_log_prob(self, z: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """log p(x|z) in nats, summed over each image's dimensions: (N,)."""
