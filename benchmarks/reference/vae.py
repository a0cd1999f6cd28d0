"""A plain PyTorch VAE: the reference genzoo's `vae` is timed against.

Kingma & Welling, "Auto-Encoding Variational Bayes", ICLR 2014.

Written the way the paper's public PyTorch example (pytorch/examples, vae/main.py) does it:
an encoder to (mu, log sigma^2), z = mu + sigma * eps with eps = randn_like(sigma), the
closed-form Gaussian KL of the paper's appendix B, and the reconstruction term as a
cross-entropy, here over the dataset's levels (genzoo's categorical decoder, what
``decoder=auto`` resolves to on digits' 17 levels). No genzoo import. The networks are genzoo's
default ``arch=auto`` on an 8x8 image (the conv net), layer for layer and in the same parameter
order (so the same seed builds the same initial weights):

    encoder: 3x3 conv (C -> ch), 3x3 stride-2 (ch -> 2ch), 3x3 stride-2 (2ch -> 2ch), ReLUs,
             flatten, linear (2ch * H/4 * W/4 -> 2 * latent)
    decoder: linear (latent -> 2ch * H/4 * W/4), ReLU, 3x3 conv (2ch -> 2ch), ReLU, nearest
             upsample to H/2, 3x3 conv (2ch -> ch), ReLU, upsample to H, 3x3 conv (ch -> ch),
             ReLU, 1x1 conv (ch -> C * levels)
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .weights import load_from_genzoo  # noqa: F401  (re-exported for callers)


class VAE(nn.Module):
    """Gaussian q(z|x), N(0, I) prior, categorical p(x|z); ``loss`` is the -ELBO in nats/image."""

    def __init__(self, shape: tuple[int, int, int] = (1, 8, 8), levels: int = 17,
                 latent_dim: int = 16, channels: int = 32, elbo_samples: int = 8):
        super().__init__()
        self.shape, self.levels, self.elbo_samples = tuple(shape), levels, elbo_samples
        c, height, width = shape
        ch = channels
        self.half = (height + 1) // 2, (width + 1) // 2  # a stride-2 3x3 conv: ceil(H / 2)
        self.quarter = (self.half[0] + 1) // 2, (self.half[1] + 1) // 2
        flat = 2 * ch * self.quarter[0] * self.quarter[1]
        self.enc1 = nn.Conv2d(c, ch, 3, padding=1)
        self.enc2 = nn.Conv2d(ch, 2 * ch, 3, stride=2, padding=1)
        self.enc3 = nn.Conv2d(2 * ch, 2 * ch, 3, stride=2, padding=1)
        self.enc_fc = nn.Linear(flat, 2 * latent_dim)
        self.dec_fc = nn.Linear(latent_dim, flat)
        self.dec1 = nn.Conv2d(2 * ch, 2 * ch, 3, padding=1)
        self.dec2 = nn.Conv2d(2 * ch, ch, 3, padding=1)
        self.dec3 = nn.Conv2d(ch, ch, 3, padding=1)
        self.dec_out = nn.Conv2d(ch, c * levels, 1)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """q(z|x): int levels (N, C, H, W) -> mu, log sigma^2, each (N, latent)."""
        h = x.float() * (2.0 / (self.levels - 1)) - 1.0  # levels to [-1, 1]
        h = F.relu(self.enc1(h))
        h = F.relu(self.enc2(h))  # (N, 2ch, H/2, W/2)
        h = F.relu(self.enc3(h))  # (N, 2ch, H/4, W/4)
        return self.enc_fc(h.flatten(1)).chunk(2, dim=1)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Logits of p(x|z): (N, latent) -> (N, levels, C, H, W)."""
        h = F.relu(self.dec_fc(z)).view(len(z), -1, *self.quarter)  # (N, 2ch, H/4, W/4)
        h = F.interpolate(F.relu(self.dec1(h)), size=self.half)  # nearest, (N, 2ch, H/2, W/2)
        h = F.interpolate(F.relu(self.dec2(h)), size=self.shape[1:])  # (N, ch, H, W)
        logits = self.dec_out(F.relu(self.dec3(h)))  # (N, C*levels, H, W)
        # channel-major outputs; cross_entropy wants the classes on axis 1
        return logits.view(len(z), self.shape[0], self.levels, *self.shape[1:]).transpose(1, 2)

    def recon_nll(self, z: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """-log p(x|z) in nats for each image: (N,)."""
        return F.cross_entropy(self.decode(z), x, reduction="none").flatten(1).sum(1)

    @staticmethod
    def kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
        """KL(N(mu, sigma^2) || N(0, I)) = -1/2 sum (1 + log sigma^2 - mu^2 - sigma^2): (N,)."""
        return -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp(), dim=1)

    def loss(self, x: torch.Tensor) -> torch.Tensor:
        """The negative ELBO in nats per image, one reparameterized sample, mean over the batch."""
        mu, logvar = self.encode(x)
        std = torch.exp(0.5 * logvar)
        z = mu + std * torch.randn_like(std)
        return (self.recon_nll(z, x) + self.kl(mu, logvar)).mean()

    @torch.no_grad()
    def bits_per_dim(self, x: torch.Tensor, batch_size: int = 256, seed: int = 0) -> float:
        """-ELBO in bits per dimension, E_q estimated from ``elbo_samples`` draws of z.

        The noise is drawn the way genzoo's ``log_prob`` and ``evaluate`` draw it (a generator
        seeded ``seed`` for each batch, eps of shape (S, N, latent)), so equal weights give
        equal numbers.
        """
        was_training = self.training
        self.eval()
        nats = []
        for i in range(0, len(x), batch_size):
            batch = x[i:i + batch_size]
            mu, logvar = self.encode(batch)
            generator = torch.Generator(device=mu.device).manual_seed(seed)
            eps = torch.randn(self.elbo_samples, *mu.shape, generator=generator,
                              device=mu.device)  # (S, N, latent)
            z = (mu + torch.exp(0.5 * logvar) * eps).flatten(0, 1)  # (S*N, latent)
            recon = self.recon_nll(z, batch.repeat(self.elbo_samples, 1, 1, 1))
            recon = recon.view(self.elbo_samples, -1).mean(0)  # (N,)
            nats.append((recon + self.kl(mu, logvar)).double())
        self.train(was_training)
        return float(torch.cat(nats).mean()) / (math.prod(self.shape) * math.log(2))
