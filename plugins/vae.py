"""VAE: a latent-variable model trained by maximizing the evidence lower bound (ELBO).

Kingma & Welling, "Auto-Encoding Variational Bayes", ICLR 2014; the importance-weighted bound
of Burda, Grosse & Salakhutdinov, "Importance Weighted Autoencoders", ICLR 2016.

The model draws a code from a prior and an image from a decoder given the code,

    p(z) = N(0, I),   p_theta(x | z) = prod_i p_theta(x_i | z),   p_theta(x) = int p(z) p(x|z) dz

and the integral (like the posterior p(z|x) = p(x|z) p(z) / p(x)) is intractable. An encoder
q_phi(z | x) = N(mu(x), diag sigma^2(x)) approximates the posterior; multiplying inside the log
by q/q and splitting the expectation gives (the lecture's derivation)

    log p(x) = E_q[log p(x|z)] - KL(q(z|x) || p(z)) + KL(q(z|x) || p(z|x))
             >= E_q[log p(x|z)] - KL(q(z|x) || p(z))  =  L(x; theta, phi)   (the ELBO)

since the last KL, which we cannot compute, is >= 0. Both remaining terms are tractable:

* the KL between two Gaussians has a closed form (Kingma & Welling, appendix B):
      KL(N(mu, diag sigma^2) || N(0, I)) = -1/2 sum_j (1 + log sigma_j^2 - mu_j^2 - sigma_j^2)
* E_q[log p(x|z)] is estimated with one sample through the reparameterization trick,
      z = mu + sigma * eps,   eps ~ N(0, I),
  which moves the randomness into an input eps, so gradients flow to mu and sigma.

The decoder is a discrete distribution over the dataset's levels (a categorical softmax,
Bernoulli on binary data, or a discretized logistic: ``genzoo.registry.distributions``), so
-L(x) / (D ln 2) is an upper bound on bits/dim of the same discrete data as the exact models'.

Importance weighting tightens the bound: with K samples z_k ~ q(z|x),

    L_K(x) = E[ log 1/K sum_k p(x, z_k) / q(z_k | x) ],   L_1 = L <= L_K <= L_{K+1} <= log p(x)

and L_K -> log p(x) as K grows (Burda et al., theorem 1). ``iwae_log_prob`` computes it.

beta-VAE (Higgins et al., ICLR 2017) weights the KL term by beta; KL annealing (Bowman et al.,
CoNLL 2016) raises that weight linearly from 0 over the first steps. Both change only the
training loss: the reported bound is always the ELBO (weight 1).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from torch import nn

from genzoo.registry import Claim, ModelConfig, ModelSpec, hookimpl
from genzoo.registry.config import bounded
from genzoo.registry.distributions import DECODERS, PixelLikelihood, resolve_decoder
from genzoo.registry.errors import BadConfig, BadData
from genzoo.registry.latent import GaussianLatentModel
from genzoo.registry.model import check_image_batch

LOG_2PI = math.log(2.0 * math.pi)


ARCHS = ("auto", "conv", "mlp")
TINY_PIXELS = 16  # arch=auto takes the MLP at or below this many pixels


@dataclass
class VAEConfig(ModelConfig):
    """Encoder and decoder sized for small images on a CPU; ``arch=mlp`` is the paper's."""

    # Defaults sized for digits on a 2-core CPU: the small conv net reaches about 1.9 bits/dim
    # (ELBO) in 2 minutes, where the paper's MLP stalls near 2.1 and then overfits 1,437
    # training images; weight decay keeps the conv net from overfitting in longer runs.
    latent_dim: int = bounded(16, 1, 1024)  # dimensions of z
    # conv | mlp (Kingma & Welling's one-hidden-layer MLP, two deep) | auto: conv, but the MLP
    # for images of 16 pixels or fewer (a 2-d point is a 1x2 image, on which the conv net's KL
    # collapses to 0: measured 4.52 bits/dim on 8-gaussians, MLP 4.17)
    arch: str = field(default="auto", metadata={"choices": ARCHS})
    hidden: int = bounded(256, 1, 2048)  # width of the MLP's hidden layers (arch=mlp)
    # feature maps of the conv net at full resolution (arch=conv)
    channels: int = bounded(32, 1, 1024)
    # categorical | bernoulli (2 levels) | logistic | auto
    decoder: str = field(default="auto", metadata={"choices": DECODERS})
    beta: float = bounded(1.0, 0.0, 1000.0)  # weight of the KL term in the training loss (beta-VAE)
    # KL weight rises linearly 0 -> beta over these training steps
    kl_warmup_steps: int = bounded(0, 0, 10_000_000)
    # z samples per image when log_prob estimates E_q[log p(x|z)]
    elbo_samples: int = bounded(8, 1, 4096)
    weight_decay: float = bounded(0.2, 0.0, 10.0)  # AdamW's decoupled weight decay
    lr: float = bounded(1e-3, 1e-6, 1.0)

    def validate(self):
        for name in ("latent_dim", "hidden", "channels", "elbo_samples"):
            if getattr(self, name) < 1:
                raise BadConfig(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.arch not in ARCHS:
            raise BadConfig(f"arch must be one of {', '.join(ARCHS)}, got {self.arch!r}")
        if not self.beta >= 0:
            raise BadConfig(f"beta must be 0 or more (the KL weight), got {self.beta}")
        if self.kl_warmup_steps < 0:
            raise BadConfig(f"kl_warmup_steps must be 0 or more, got {self.kl_warmup_steps}")
        if not self.weight_decay >= 0:
            raise BadConfig(f"weight_decay must be 0 or more, got {self.weight_decay}")
        resolve_decoder(self.decoder, 2)  # the name; the levels are checked with the data


def resolve_arch(arch: str, shape: tuple[int, int, int]) -> str:
    """``auto`` -> ``mlp`` for tiny images (2-d points), ``conv`` otherwise."""
    if arch != "auto":
        return arch
    return "mlp" if shape[1] * shape[2] <= TINY_PIXELS else "conv"


def mlp_networks(shape: tuple[int, int, int], latent: int, hidden: int, n_params: int
                 ) -> tuple[nn.Module, nn.Module]:
    """The paper's MLPs (two hidden ReLU layers here): x -> (mu, log sigma^2), z -> params."""
    channels, height, width = shape
    encoder = nn.Sequential(  # (N, C, H, W) -> (N, 2 * latent)
        nn.Flatten(), nn.Linear(channels * height * width, hidden), nn.ReLU(),
        nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, 2 * latent))
    decoder = nn.Sequential(  # (N, latent) -> (N, P, H, W)
        nn.Linear(latent, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(),
        nn.Linear(hidden, n_params * height * width), nn.Unflatten(1, (n_params, height, width)))
    return encoder, decoder


def conv_networks(shape: tuple[int, int, int], latent: int, ch: int, n_params: int
                  ) -> tuple[nn.Module, nn.Module]:
    """A small conv net: two stride-2 convolutions down to H/4, mirrored by upsampling.

    The decoder shares its filters across positions, which generalizes from 1,437 digits far
    better than the MLP's position-specific weights.
    """
    channels, height, width = shape
    half = (height + 1) // 2, (width + 1) // 2  # a 3x3 conv, stride 2, padding 1: ceil(H / 2)
    quarter = (half[0] + 1) // 2, (half[1] + 1) // 2
    flat = 2 * ch * quarter[0] * quarter[1]
    encoder = nn.Sequential(  # (N, C, H, W) -> (N, 2ch, H/4, W/4) -> (N, 2 * latent)
        nn.Conv2d(channels, ch, 3, padding=1), nn.ReLU(),
        nn.Conv2d(ch, 2 * ch, 3, stride=2, padding=1), nn.ReLU(),
        nn.Conv2d(2 * ch, 2 * ch, 3, stride=2, padding=1), nn.ReLU(),
        nn.Flatten(), nn.Linear(flat, 2 * latent))
    decoder = nn.Sequential(  # (N, latent) -> (N, 2ch, H/4, W/4) -> (N, P, H, W)
        nn.Linear(latent, flat), nn.ReLU(), nn.Unflatten(1, (2 * ch, *quarter)),
        nn.Conv2d(2 * ch, 2 * ch, 3, padding=1), nn.ReLU(), nn.Upsample(size=half),
        nn.Conv2d(2 * ch, ch, 3, padding=1), nn.ReLU(), nn.Upsample(size=(height, width)),
        nn.Conv2d(ch, ch, 3, padding=1), nn.ReLU(), nn.Conv2d(ch, n_params, 1))
    return encoder, decoder


def gaussian_kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, diag sigma^2) || N(0, I)) in nats, summed over the last axis: (N, L) -> (N,).

        KL = -1/2 sum_j (1 + log sigma_j^2 - mu_j^2 - sigma_j^2)
    """
    return -0.5 * (1.0 + logvar - mu.pow(2) - logvar.exp()).sum(-1)


def reparameterize(mu: torch.Tensor, logvar: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
    """z = mu + sigma * eps with sigma = exp(log sigma^2 / 2): differentiable in mu and sigma."""
    return mu + (0.5 * logvar).exp() * eps


class VAE(GaussianLatentModel):
    """Gaussian encoder q(z|x), standard normal prior, discrete per-pixel decoder p(x|z)."""

    # Its training_step only counts steps around the default one (through loss), so data
    # parallelism (--nproc) averages its gradients like any other model's.
    distributes_through_loss = True

    latent_kind = "continuous"
    bound_name = "elbo"
    eval_seed = 0  # log_prob's fixed noise seed: the same x always gets the same ELBO estimate
    iwae_chunk_pixels = 2 ** 20  # iwae_log_prob decodes samples x images x pixels <= this

    def __init__(self, config: VAEConfig, data):
        super().__init__(config, data)
        if data.kind != "image" or data.levels is None or data.levels < 2:
            raise BadData("the vae models discrete images with 2 or more levels")
        self.levels = data.levels
        self.likelihood = PixelLikelihood(config.decoder, data.shape[0], data.levels)
        # Encoder: x (scaled to [-1, 1]) -> (mu, log sigma^2); decoder: z -> pixel parameters.
        self.arch = resolve_arch(config.arch, data.shape)
        build = conv_networks if self.arch == "conv" else mlp_networks
        width = config.channels if self.arch == "conv" else config.hidden
        self.encoder, self.decoder = build(data.shape, config.latent_dim, width,
                                           self.likelihood.n_params)
        # Training steps taken so far: drives KL annealing and travels with the checkpoint.
        self.register_buffer("steps_taken", torch.zeros((), dtype=torch.int64))

    @property
    def latent_shape(self) -> tuple[int, ...]:
        return (self.config.latent_dim,)

    # -- the two networks ----------------------------------------------------------------------

    def _check(self, x: torch.Tensor) -> None:
        check_image_batch(x, self.data.shape, self.levels, "vae")

    def scale(self, x: torch.Tensor) -> torch.Tensor:
        """Levels 0..L-1 to floats in [-1, 1], the encoder's input."""
        return x.float() * (2.0 / (self.levels - 1)) - 1.0

    def posterior(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """q(z|x) = N(mu, diag sigma^2): ``(mu, log sigma^2)``, each (N, latent_dim)."""
        mu, logvar = self.encoder(self.scale(x)).chunk(2, -1)
        return mu, logvar

    def decoder_params(self, z: torch.Tensor) -> torch.Tensor:
        """Parameters of p(x|z) for every pixel: (N, latent_dim) -> (N, C*P, H, W)."""
        return self.decoder(z)

    def recon_log_prob(self, z: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """log p(x|z) in nats, summed over pixels: (N,)."""
        return self.likelihood.log_prob(self.decoder_params(z), x)

    # -- the contract --------------------------------------------------------------------------

    def kl_weight(self) -> float:
        """The KL term's weight now: beta, times min(1, steps / kl_warmup_steps) while warming."""
        warmup = self.config.kl_warmup_steps
        ramp = min(1.0, int(self.steps_taken) / warmup) if warmup > 0 else 1.0
        return self.config.beta * ramp

    def loss(self, batch: torch.Tensor) -> dict[str, torch.Tensor]:
        """Negative (beta-weighted) ELBO in nats per dimension, with its parts per image.

        recon = E_q[-log p(x|z)] (one reparameterized sample), kl = KL(q(z|x) || p(z)), both in
        nats per image (batch means); loss = (recon + w * kl) / D; bits_per_dim is the -ELBO
        (w = 1) in bits per dimension.
        """
        self._check(batch)
        mu, logvar = self.posterior(batch)  # (N, L) each
        z = reparameterize(mu, logvar, torch.randn_like(mu))
        recon = -self.recon_log_prob(z, batch).mean()
        kl = gaussian_kl(mu, logvar).mean()
        dims, weight = self.data.dims, self.kl_weight()
        return {"loss": (recon + weight * kl) / dims, "recon": recon.detach(), "kl": kl.detach(),
                "bits_per_dim": (recon + kl).detach() / (dims * math.log(2)),
                "kl_weight": torch.tensor(weight)}

    def configure_optimizers(self) -> list[torch.optim.Optimizer]:
        """One AdamW (Adam when weight_decay is 0)."""
        return [torch.optim.AdamW(self.parameters(), lr=self.config.lr,
                                  weight_decay=self.config.weight_decay)]

    def training_step(self, batch: torch.Tensor, optimizers: list[torch.optim.Optimizer],
                      **context) -> dict[str, float]:
        """One Adam step on the loss, then count it (the KL warm-up reads the count)."""
        values = super().training_step(batch, optimizers, **context)
        self.steps_taken += 1
        return values

    def _eval_generator(self) -> torch.Generator:
        return torch.Generator(device=self.device).manual_seed(self.eval_seed)

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """The ELBO in nats per image, (N,): a lower bound on log p(x).

        L(x) = E_q[log p(x|z)] - KL(q(z|x) || p(z)) with the KL in closed form and the
        expectation estimated from ``elbo_samples`` reparameterized samples. The noise comes
        from a generator seeded with ``eval_seed`` at every call, so the same batch always gets
        the same number (reloading a checkpoint reproduces it exactly); the estimate is unbiased
        over seeds. Averaging 8 samples (the default) keeps its noise on digits' test split near
        0.002 bits/dim; the gap to IWAE-100 is about 0.05.
        """
        self._check(x)
        mu, logvar = self.posterior(x)
        samples = self.config.elbo_samples
        eps = torch.randn(samples, *mu.shape, generator=self._eval_generator(),
                          device=mu.device)  # (S, N, L)
        z = reparameterize(mu, logvar, eps).flatten(0, 1)  # (S*N, L)
        recon = self.recon_log_prob(z, x.repeat(samples, 1, 1, 1)).view(samples, -1).mean(0)
        return recon - gaussian_kl(mu, logvar)

    @torch.no_grad()
    def iwae_log_prob(self, x: torch.Tensor, k: int,
                      generator: torch.Generator | None = None) -> torch.Tensor:
        """The importance-weighted bound L_K in nats per image, (N,) (Burda et al. 2016).

            L_K(x) = log 1/K sum_{k=1}^{K} p(x|z_k) p(z_k) / q(z_k|x),   z_k ~ q(z|x)

        computed with logsumexp over log-weights, in chunks of samples so that K in the
        hundreds fits in memory. ``generator=None`` uses the fixed ``eval_seed``, like
        ``log_prob``. K = 1 is the ELBO with its KL estimated by the same sample.
        """
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise BadConfig(f"the IWAE bound needs K >= 1 importance samples, got {k!r}")
        self._check(x)
        generator = generator if generator is not None else self._eval_generator()
        mu, logvar = self.posterior(x)  # (N, L)
        n = len(x)
        chunk = max(1, self.iwae_chunk_pixels // max(n * self.data.dims, 1))  # samples per pass
        parts = []  # logsumexp of each chunk's log-weights: (N,) each
        for start in range(0, k, chunk):
            size = min(chunk, k - start)
            eps = torch.randn(size, *mu.shape, generator=generator,
                              device=generator.device).to(mu.device)  # (S, N, L)
            z = reparameterize(mu, logvar, eps)
            # log q(z|x) = sum_j -1/2 (eps_j^2 + log 2 pi + log sigma_j^2); log p(z) = N(z; 0, I)
            log_q = -0.5 * (eps.pow(2) + LOG_2PI + logvar).sum(-1)  # (S, N)
            log_prior = -0.5 * (z.pow(2) + LOG_2PI).sum(-1)
            log_px_z = self.recon_log_prob(z.flatten(0, 1), x.repeat(size, 1, 1, 1)).view(size, n)
            parts.append(torch.logsumexp(log_px_z + log_prior - log_q, 0))
        return torch.logsumexp(torch.stack(parts), 0) - math.log(k)

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """z ~ N(0, I), then x ~ p(x|z): one decoder pass for the whole batch; int64 levels."""
        device = generator.device if generator is not None else self.device
        z = torch.randn(n, self.config.latent_dim, generator=generator, device=device)
        params = self.decoder_params(z.to(self.device)).to(device)
        return self.likelihood.sample(params, generator).to(self.device)

    # -- the latent explorer -------------------------------------------------------------------

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """The posterior mean mu(x): (N, C, H, W) -> (N, latent_dim)."""
        self._check(x)
        return self.posterior(x)[0]

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """The decoder's mean image E[x|z], floats (N, C, H, W) in level units."""
        return self.likelihood.mean(self.decoder_params(z.to(self.device).float()))

    @torch.no_grad()
    def active_units(self, x: torch.Tensor, threshold: float = 0.01) -> int:
        """Latent dimensions in use: Cov_x(E_q[z_j | x]) > threshold (Burda et al. 2016)."""
        mu = self.encode(x)
        return int((mu.var(0) > threshold).sum()) if len(mu) > 1 else 0

    def info(self) -> dict:
        return {"latent_dim": self.config.latent_dim, "arch": self.arch,
                "decoder": self.likelihood.kind,
                "beta": self.config.beta, "kl_weight": self.kl_weight(),
                "steps_taken": int(self.steps_taken)}


@hookimpl
def register_models(register):
    """The VAE of Kingma & Welling, with the importance-weighted bound of Burda et al."""
    register(ModelSpec(
        name="vae", model_class=VAE, config_class=VAEConfig,
        leaf="variational",
        family="latent variable", density="bound", sampling="parallel", data="image",
        paper="Kingma & Welling 2014, Auto-Encoding Variational Bayes; IWAE bound: Burda et "
              "al. 2016, Importance Weighted Autoencoders",
        summary="A Gaussian encoder q(z|x) and a discrete decoder p(x|z) trained on the "
                "evidence lower bound, with the reparameterization trick and a closed-form KL.",
        pros=[Claim("Principled approach to generative models", None),
              Claim("Fast sampling: one decoder pass per batch", "sample_ms_per_image_b64"),
              Claim("Interpretable latent space", None),
              Claim("Allows inference of q(z|x): a useful feature representation (encode x "
                    "to z)", None)],
        cons=[Claim("Maximizes only a lower bound of the likelihood (ELBO): not as good an "
                    "evaluation as PixelRNN/PixelCNN", "test_bits_per_dim"),
              Claim("Samples blurrier and lower quality than the state of the art (GANs)",
                    None)]))
