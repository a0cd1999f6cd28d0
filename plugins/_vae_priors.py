"""The VAE's learned priors: a mixture of Gaussians and the VampPrior's pseudo-inputs.

Both are mixtures of K components with equal weights, so log p(z) is a logsumexp:

    log p(z) = logsumexp_k log p_k(z) - log K

* ``mog``: p_k = N(m_k, diag s_k^2) with learned means and log-variances;
* ``vamp`` (Tomczak & Welling, "VAE with a VampPrior", AISTATS 2018, eq. 9):
  p_k = q(z | u_k), the encoder's posterior at K learned pseudo-inputs u_k shaped like the
  images. The components are the encoder's own, so the VAE computes them
  (``VariationalAutoencoder.log_prior``); this module holds only the pseudo-inputs.
"""

from __future__ import annotations

import math

import torch
from torch import nn

LOG_2PI = math.log(2.0 * math.pi)


def diagonal_gaussian_log_prob(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor
                               ) -> torch.Tensor:
    """log N(z; mu, diag exp(logvar)) summed over the last axis (shapes broadcast): (...)."""
    return -0.5 * ((z - mu).pow(2) * (-logvar).exp() + LOG_2PI + logvar).sum(-1)


def mixture_log_prob(component_log_probs: torch.Tensor) -> torch.Tensor:
    """log (1/K) sum_k p_k(z) from log p_k(z) on the last axis (..., K): (...)."""
    return torch.logsumexp(component_log_probs, -1) - math.log(component_log_probs.shape[-1])


class GaussianMixturePrior(nn.Module):
    """p(z) = 1/K sum_k N(z; m_k, diag s_k^2), means drawn from N(0, I), unit variances."""

    def __init__(self, components: int, latent: int):
        super().__init__()
        self.means = nn.Parameter(torch.randn(components, latent))  # (K, L)
        self.logvars = nn.Parameter(torch.zeros(components, latent))  # (K, L)

    def log_prob(self, z: torch.Tensor) -> torch.Tensor:
        """log p(z) for z (..., L): (...)."""
        return mixture_log_prob(diagonal_gaussian_log_prob(
            z.unsqueeze(-2), self.means, self.logvars))  # (..., K, L) -> (..., K) -> (...)

    def sample(self, n: int, generator: torch.Generator | None, device) -> torch.Tensor:
        """n draws (n, L): a component uniformly, then its Gaussian; noise from ``generator``."""
        k = torch.randint(len(self.means), (n,), generator=generator, device=device)
        eps = torch.randn(n, self.means.shape[1], generator=generator, device=device)
        k, eps = k.to(self.means.device), eps.to(self.means.device)
        return self.means[k] + (0.5 * self.logvars[k]).exp() * eps


class PseudoInputs(nn.Module):
    """K learned inputs u_k of the images' shape in the encoder's scaled space ([-1, 1] for the
    data; the pseudo-inputs are not clamped). Uniform noise until :meth:`init_from` copies
    training images, the data-like start Tomczak & Welling offer (their code's
    ``use_training_data_init``)."""

    def __init__(self, components: int, shape: tuple[int, int, int]):
        super().__init__()
        self.inputs = nn.Parameter(torch.rand(components, *shape) * 2 - 1)  # (K, C, H, W)

    @torch.no_grad()
    def init_from(self, train: torch.Tensor, scale) -> None:
        """Set u_k to ``scale`` of K training images, drawn with the global RNG."""
        k = len(self.inputs)
        index = (torch.randperm(len(train))[:k] if len(train) >= k
                 else torch.randint(len(train), (k,)))
        self.inputs.copy_(scale(train[index.to(train.device)]).to(self.inputs))

    def forward(self) -> torch.Tensor:
        return self.inputs


class LatentDistributions(nn.Module):
    """The VAE's p(z) and the flow of its q(z|x), beyond the lecture's Gaussians.

    ``prior`` is "standard" (N(0, I)), "mog" or "vamp"; ``flow`` an :class:`~._iaf.IAF` or None.
    The VampPrior's components are the encoder's, so the methods that need them take
    ``encode``, the VAE's map from scaled inputs to (mu, log sigma^2, h). Holds no parameters
    for the standard prior and a Gaussian q (a standard VAE's weights are drawn as before).
    """

    def __init__(self, prior: str, components: int, latent: int, shape: tuple[int, int, int],
                 flow: nn.Module | None):
        super().__init__()
        self.latent, self.flow = latent, flow
        self.mixture = GaussianMixturePrior(components, latent) if prior == "mog" else None
        self.pseudo_inputs = PseudoInputs(components, shape) if prior == "vamp" else None

    def prior_parameters(self) -> list[nn.Parameter]:
        """The learned prior's parameters (none for N(0, I))."""
        return [p for m in (self.mixture, self.pseudo_inputs) if m is not None
                for p in m.parameters()]

    def transform(self, mu, logvar, h, eps) -> tuple[torch.Tensor, torch.Tensor]:
        """z ~ q(z|x) from noise eps (..., N, L), and log q(z|x) (..., N): z_0 = mu + sigma * eps,
        then the IAF; log q = log N(eps) - sum log sigma - sum_t sum_i log sigma_{t,i}."""
        z = mu + (0.5 * logvar).exp() * eps
        log_q = -0.5 * (eps.pow(2) + LOG_2PI + logvar).sum(-1)
        if self.flow is not None:
            z, log_det = self.flow(z, h)
            log_q = log_q - log_det
        return z, log_q

    def q_log_density(self, z, mu, logvar, h) -> torch.Tensor:
        """log q(z | mu, sigma, h) at any z (..., L), the IAF inverted: (...)."""
        log_det = 0.0
        if self.flow is not None:
            z, log_det = self.flow.inverse(z, h)
        return diagonal_gaussian_log_prob(z, mu, logvar) - log_det

    def components(self, encode) -> tuple[torch.Tensor, ...] | None:
        """The VampPrior's q(z | u_k): ``encode`` of the K pseudo-inputs; None for the others."""
        return None if self.pseudo_inputs is None else encode(self.pseudo_inputs())

    def log_prior(self, z: torch.Tensor, components=None) -> torch.Tensor:
        """log p(z) in nats, (..., L) -> (...); a VampPrior needs :meth:`components`."""
        if self.mixture is not None:
            return self.mixture.log_prob(z)
        if self.pseudo_inputs is not None:  # 1/K sum_k q(z | u_k)
            mu, logvar, h = components
            z = z.unsqueeze(-2).expand(*z.shape[:-1], len(mu), z.shape[-1])  # (..., K, L)
            return mixture_log_prob(self.q_log_density(z, mu, logvar, h))
        return -0.5 * (z.pow(2) + LOG_2PI).sum(-1)

    def sample_prior(self, n: int, generator: torch.Generator | None, device, encode
                     ) -> torch.Tensor:
        """n codes z ~ p(z), (n, L) on ``device``, the noise drawn on the generator's device."""
        noise_device = generator.device if generator is not None else device
        if self.mixture is not None:
            return self.mixture.sample(n, generator, noise_device)
        if self.pseudo_inputs is not None:  # a pseudo-input k, then z ~ q(z | u_k)
            mu, logvar, h = self.components(encode)
            k = torch.randint(len(mu), (n,), generator=generator, device=noise_device)
            eps = torch.randn(n, self.latent, generator=generator, device=noise_device)
            k, eps = k.to(device), eps.to(device)
            return self.transform(mu[k], logvar[k], None if h is None else h[k], eps)[0]
        return torch.randn(n, self.latent, generator=generator, device=noise_device).to(device)
