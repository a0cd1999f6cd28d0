"""VAE: a latent-variable model trained by maximizing the evidence lower bound (ELBO).

Kingma & Welling, "Auto-Encoding Variational Bayes", ICLR 2014; the importance-weighted bound
of Burda, Grosse & Salakhutdinov, "Importance Weighted Autoencoders", ICLR 2016; richer priors
and posteriors (the lecture's "active areas of research"): the VampPrior of Tomczak & Welling,
"VAE with a VampPrior", AISTATS 2018, and the inverse autoregressive flow of Kingma, Salimans,
Jozefowicz, Chen, Sutskever & Welling, "Improved Variational Inference with Inverse
Autoregressive Flow", NeurIPS 2016.

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

Richer priors (``prior``), equal-weight mixtures of K components (``_vae_priors.py``):

    mog:   p(z) = 1/K sum_k N(z; m_k, diag s_k^2)          (learned m_k, s_k)
    vamp:  p(z) = 1/K sum_k q_phi(z | u_k)                  (Tomczak & Welling, eq. 9)

with K learned pseudo-inputs u_k shaped like the images, in the encoder's scaled space, passed
through the same encoder (they start as K training images). The VampPrior approximates the
aggregated posterior 1/N sum_n q(z | x_n), the prior that maximizes the average ELBO.

A richer posterior (``posterior=iaf``, ``_iaf.py``): the encoder also outputs a context h, and
T steps of an inverse autoregressive flow move z_0 = mu + sigma * eps (Kingma et al., eq. 14):

    [m_t, s_t] = MADE_t(z_{t-1}, h),   sigma_t = sigmoid(s_t),
    z_t = sigma_t * z_{t-1} + (1 - sigma_t) * m_t,          the order reversed between steps
    log q(z_T | x) = log N(eps; 0, I) - sum_i log sigma_i - sum_t sum_i log sigma_{t,i}

With either, KL(q || p) has no closed form; the bound uses the Monte Carlo estimate
KL ~ log q(z|x) - log p(z), z ~ q(z|x): one draw per image in training, the ``elbo_samples``
draws of ``log_prob``, and the same log q and log p(z) in each IWAE weight. Every bound stays a
lower bound on log p(x) of the same discrete data. VAE(config) with these options builds a
``VariationalAutoencoder``, which (unlike the ``VAE``) is no ``GaussianLatentModel``: nothing
shows its KL as the closed form. ``kl_term(x)`` gives the estimate per image.

beta-VAE (Higgins et al., ICLR 2017) weights the KL term by beta > 0; KL annealing (Bowman et
al., CoNLL 2016) raises that weight linearly from 0 over the first steps. Both change only the
training loss: the reported bound is always the ELBO (weight 1).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from torch import nn

from genzoo.plugins._conv_nets import conv_encoder_decoder
from genzoo.registry import Claim, ModelConfig, ModelSpec, hookimpl
from genzoo.registry.bounds import ImportanceWeightedBound
from genzoo.registry.config import bounded
from genzoo.registry.distributions import DECODERS, PixelLikelihood, resolve_decoder
from genzoo.registry.errors import BadConfig, BadData
from genzoo.registry.latent import GaussianLatentModel, LatentVariableModel
from genzoo.registry.model import check_image_batch

from ._iaf import IAF
from ._vae_priors import LatentDistributions

ARCHS = ("auto", "conv", "mlp")
PRIORS = ("standard", "mog", "vamp")
POSTERIORS = ("gaussian", "iaf")
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
    # weight of the KL term in the training loss (beta-VAE), > 0 (validate refuses 0)
    beta: float = bounded(1.0, 1e-6, 1000.0)
    # KL weight rises linearly 0 -> beta over these training steps
    kl_warmup_steps: int = bounded(0, 0, 10_000_000)
    # z samples per image when log_prob estimates E_q[log p(x|z)]
    elbo_samples: int = bounded(8, 1, 4096)
    # p(z): standard N(0, I) (closed-form KL) | mog (a learned mixture of Gaussians) | vamp
    prior: str = field(default="standard", metadata={"choices": PRIORS})
    prior_components: int = bounded(16, 1, 4096)  # K: mog components or vamp pseudo-inputs
    # q(z|x): gaussian (diagonal) | iaf (that Gaussian through iaf_steps IAF steps)
    posterior: str = field(default="gaussian", metadata={"choices": POSTERIORS})
    iaf_steps: int = bounded(2, 1, 64)
    iaf_hidden: int = bounded(64, 1, 2048)  # the MADEs' width and the encoder's context h
    weight_decay: float = bounded(0.2, 0.0, 10.0)  # AdamW's decoupled weight decay
    lr: float = bounded(1e-3, 1e-6, 1.0)

    def validate(self):
        for name in ("latent_dim", "hidden", "channels", "elbo_samples", "prior_components",
                     "iaf_steps", "iaf_hidden"):
            if getattr(self, name) < 1:
                raise BadConfig(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.arch not in ARCHS:
            raise BadConfig(f"arch must be one of {', '.join(ARCHS)}, got {self.arch!r}")
        if not self.beta > 0:
            raise BadConfig("beta must be greater than 0 (the KL's weight in the β-VAE loss), "
                            f"got {self.beta}")
        for name, choices in (("prior", PRIORS), ("posterior", POSTERIORS)):
            if getattr(self, name) not in choices:
                raise BadConfig(f"{name} must be one of {', '.join(choices)}, "
                                f"got {getattr(self, name)!r}")
        if self.kl_warmup_steps < 0:
            raise BadConfig(f"kl_warmup_steps must be 0 or more, got {self.kl_warmup_steps}")
        if not self.weight_decay >= 0:
            raise BadConfig(f"weight_decay must be 0 or more, got {self.weight_decay}")
        resolve_decoder(self.decoder, 2)  # the name; the levels are checked with the data

    @property
    def closed_form_kl(self) -> bool:
        """Whether KL(q(z|x) || p(z)) has its closed form: a Gaussian q and the N(0, I) prior."""
        return self.prior == "standard" and self.posterior == "gaussian"


@dataclass
class VampVAEConfig(VAEConfig):
    """``vae-vamp``: the VAE with the VampPrior."""

    prior: str = field(default="vamp", metadata={"choices": PRIORS})


@dataclass
class IAFVAEConfig(VAEConfig):
    """``vae-iaf``: the VAE with an inverse autoregressive flow posterior."""

    posterior: str = field(default="iaf", metadata={"choices": POSTERIORS})


def resolve_arch(arch: str, shape: tuple[int, int, int]) -> str:
    """``auto`` -> ``mlp`` for tiny images (2-d points), ``conv`` otherwise."""
    if arch != "auto":
        return arch
    return "mlp" if shape[1] * shape[2] <= TINY_PIXELS else "conv"


def mlp_networks(shape: tuple[int, int, int], latent: int, hidden: int, n_params: int,
                 context: int = 0) -> tuple[nn.Module, nn.Module]:
    """The paper's MLPs (two hidden ReLU layers here): x -> (mu, log sigma^2, h), z -> params."""
    channels, height, width = shape
    encoder = nn.Sequential(  # (N, C, H, W) -> (N, 2 * latent)
        nn.Flatten(), nn.Linear(channels * height * width, hidden), nn.ReLU(),
        nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, 2 * latent + context))
    decoder = nn.Sequential(  # (N, latent) -> (N, P, H, W)
        nn.Linear(latent, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(),
        nn.Linear(hidden, n_params * height * width), nn.Unflatten(1, (n_params, height, width)))
    return encoder, decoder


def conv_networks(shape: tuple[int, int, int], latent: int, ch: int, n_params: int,
                  context: int = 0) -> tuple[nn.Module, nn.Module]:
    """The family's small conv net (``_conv_nets``): x -> (mu, log sigma^2, context h);
    z -> pixel parameters."""
    return conv_encoder_decoder(shape, 2 * latent + context, latent, ch, n_params)


def gaussian_kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, diag sigma^2) || N(0, I)) in nats, summed over the last axis: (N, L) -> (N,).

        KL = -1/2 sum_j (1 + log sigma_j^2 - mu_j^2 - sigma_j^2)
    """
    return -0.5 * (1.0 + logvar - mu.pow(2) - logvar.exp()).sum(-1)


def reparameterize(mu: torch.Tensor, logvar: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
    """z = mu + sigma * eps with sigma = exp(log sigma^2 / 2): differentiable in mu and sigma."""
    return mu + (0.5 * logvar).exp() * eps


class VariationalAutoencoder(LatentVariableModel, ImportanceWeightedBound):
    """q(z|x) (diagonal Gaussian, or one through an IAF), p(z) (N(0, I), a mixture of Gaussians
    or a VampPrior) and a discrete per-pixel decoder p(x|z)."""

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
        # Encoder: x (scaled to [-1, 1]) -> (mu, log sigma^2, h); decoder: z -> pixel parameters.
        self.arch = resolve_arch(config.arch, data.shape)
        build = conv_networks if self.arch == "conv" else mlp_networks
        width = config.channels if self.arch == "conv" else config.hidden
        latent = config.latent_dim
        self.context = config.iaf_hidden if config.posterior == "iaf" else 0  # size of h
        self.encoder, self.decoder = build(data.shape, latent, width, self.likelihood.n_params,
                                           self.context)
        # Training steps taken so far: drives KL annealing and travels with the checkpoint.
        self.register_buffer("steps_taken", torch.zeros((), dtype=torch.int64))
        # p(z) and q's flow, built after the networks: a standard VAE draws the same weights.
        flow = (IAF(latent, self.context, config.iaf_hidden, config.iaf_steps)
                if config.posterior == "iaf" else None)
        self.latents = LatentDistributions(config.prior, config.prior_components, latent,
                                           data.shape, flow)

    @property
    def latent_shape(self) -> tuple[int, ...]:
        return (self.config.latent_dim,)

    # -- the networks, q(z|x) and p(z) ---------------------------------------------------------

    def _check(self, x: torch.Tensor) -> None:
        check_image_batch(x, self.data.shape, self.levels, "vae")

    def scale(self, x: torch.Tensor) -> torch.Tensor:
        """Levels 0..L-1 to floats in [-1, 1], the encoder's input."""
        return x.float() * (2.0 / (self.levels - 1)) - 1.0

    def _encode_scaled(self, u: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """(mu, log sigma^2, h) of scaled inputs: (N, L), (N, L), (N, C) or None."""
        out, latent = self.encoder(u), self.config.latent_dim
        h = out[:, 2 * latent:] if self.context else None
        return out[:, :latent], out[:, latent:2 * latent], h

    def q_params(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """The encoder's (mu, log sigma^2, h) for images x (N, C, H, W); h is None without IAF."""
        return self._encode_scaled(self.scale(x))

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

        recon = E_q[-log p(x|z)] (one reparameterized sample), kl = KL(q(z|x) || p(z)) (closed
        form, or log q(z|x) - log p(z) at the same sample), both in nats per image (batch
        means); loss = (recon + w * kl) / D; bits_per_dim is the -ELBO (w = 1) per dimension.
        """
        self._check(batch)
        mu, logvar, h = self.q_params(batch)  # (N, L) each
        z, log_q = self.latents.transform(mu, logvar, h, torch.randn_like(mu))
        recon = -self.recon_log_prob(z, batch).mean()
        kl = (gaussian_kl(mu, logvar) if self.config.closed_form_kl else
              log_q - self.latents.log_prior(z, self.latents.components(self._encode_scaled)))
        kl = kl.mean()
        dims, weight = self.data.dims, self.kl_weight()
        return {"loss": (recon + weight * kl) / dims, "recon": recon.detach(), "kl": kl.detach(),
                "bits_per_dim": (recon + kl).detach() / (dims * math.log(2)),
                "kl_weight": torch.tensor(weight)}

    def fit(self, train: torch.Tensor) -> bool:
        """A VampPrior's pseudo-inputs start as K random training images; trained by steps."""
        if self.latents.pseudo_inputs is not None and len(train):
            self.latents.pseudo_inputs.init_from(train, self.scale)
        return False

    def configure_optimizers(self) -> list[torch.optim.Optimizer]:
        """One AdamW (Adam when weight_decay is 0); the prior's own parameters are not decayed
        (decay would pull pseudo-inputs to grey and mixture means to 0)."""
        decay, prior = self.config.weight_decay, self.latents.prior_parameters()
        rest = [p for p in self.parameters() if all(p is not q for q in prior)]
        groups = ([{"params": rest}, {"params": prior, "weight_decay": 0.0}] if prior
                  else self.parameters())
        return [torch.optim.AdamW(groups, lr=self.config.lr, weight_decay=decay)]

    def training_step(self, batch: torch.Tensor, optimizers: list[torch.optim.Optimizer],
                      **context) -> dict[str, float]:
        """One Adam step on the loss, then count it (the KL warm-up reads the count)."""
        values = super().training_step(batch, optimizers, **context)
        self.steps_taken += 1
        return values

    def _eval_generator(self) -> torch.Generator:
        return torch.Generator(device=self.device).manual_seed(self.eval_seed)

    def elbo_terms(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """E_q[log p(x|z)] and the KL(q(z|x) || p(z)) of the ELBO in nats per image, (N,) each.

        The expectation averages ``elbo_samples`` reparameterized samples; the KL is the closed
        form for a Gaussian q and the N(0, I) prior, else the average of log q(z|x) - log p(z)
        over the same samples. The noise comes from a generator seeded with ``eval_seed`` at
        every call, so the same batch always gets the same numbers.
        """
        self._check(x)
        mu, logvar, h = self.q_params(x)
        samples = self.config.elbo_samples
        eps = torch.randn(samples, *mu.shape, generator=self._eval_generator(),
                          device=mu.device)  # (S, N, L)
        z, log_q = self.latents.transform(mu, logvar, h, eps)  # (S, N, L), (S, N)
        recon = self.recon_log_prob(z.flatten(0, 1), x.repeat(samples, 1, 1, 1))
        recon = recon.view(samples, -1).mean(0)
        if self.config.closed_form_kl:
            return recon, gaussian_kl(mu, logvar)
        log_prior = self.latents.log_prior(z, self.latents.components(self._encode_scaled))
        return recon, (log_q - log_prior).mean(0)

    def kl_term(self, x: torch.Tensor) -> torch.Tensor:
        """The ELBO's KL(q(z|x) || p(z)) per image (N,), nats: closed form or Monte Carlo."""
        return self.elbo_terms(x)[1]

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """The ELBO in nats per image, (N,): a lower bound on log p(x) (:meth:`elbo_terms`).

        Reproducible (reloading a checkpoint reproduces it exactly) and unbiased over seeds.
        Averaging 8 samples (the default) keeps its noise on digits' test split near 0.002
        bits/dim for the standard VAE; the gap to IWAE-100 is about 0.05.
        """
        recon, kl = self.elbo_terms(x)
        return recon - kl

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
        mu, logvar, h = self.q_params(x)  # (N, L)
        components = self.latents.components(self._encode_scaled)
        n = len(x)
        chunk = max(1, self.iwae_chunk_pixels // max(n * self.data.dims, 1))  # samples per pass
        parts = []  # logsumexp of each chunk's log-weights: (N,) each
        for start in range(0, k, chunk):
            size = min(chunk, k - start)
            eps = torch.randn(size, *mu.shape, generator=generator,
                              device=generator.device).to(mu.device)  # (S, N, L)
            z, log_q = self.latents.transform(mu, logvar, h, eps)  # (S, N, L), (S, N)
            log_prior = self.latents.log_prior(z, components)
            log_px_z = self.recon_log_prob(z.flatten(0, 1), x.repeat(size, 1, 1, 1)).view(size, n)
            parts.append(torch.logsumexp(log_px_z + log_prior - log_q, 0))
        return torch.logsumexp(torch.stack(parts), 0) - math.log(k)

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """z ~ p(z), then x ~ p(x|z): one decoder pass for the whole batch; int64 levels."""
        device = generator.device if generator is not None else self.device
        z = self.latents.sample_prior(n, generator, self.device, self._encode_scaled)
        params = self.decoder_params(z).to(device)
        return self.likelihood.sample(params, generator).to(self.device)

    # -- the latent explorer -------------------------------------------------------------------

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """The code of x, (N, latent_dim): the posterior mean mu(x); with the IAF, z_T at
        eps = 0 (mu through the flow)."""
        self._check(x)
        mu, _, h = self.q_params(x)
        return mu if self.latents.flow is None else self.latents.flow(mu, h)[0]

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """The decoder's mean image E[x|z], floats (N, C, H, W) in level units."""
        return self.likelihood.mean(self.decoder_params(z.to(self.device).float()))

    @torch.no_grad()
    def active_units(self, x: torch.Tensor, threshold: float = 0.01) -> int:
        """Latent dimensions in use: Cov_x(E_q[z_j | x]) > threshold (Burda et al. 2016)."""
        mu = self.encode(x)
        return int((mu.var(0) > threshold).sum()) if len(mu) > 1 else 0

    def info(self) -> dict:
        config = self.config
        return {"latent_dim": config.latent_dim, "arch": self.arch,
                "decoder": self.likelihood.kind, "prior": config.prior,
                "posterior": config.posterior,
                **({} if config.prior == "standard" else {"prior_components":
                                                          config.prior_components}),
                **({"iaf_steps": config.iaf_steps} if config.posterior == "iaf" else {}),
                "beta": config.beta, "kl_weight": self.kl_weight(),
                "steps_taken": int(self.steps_taken)}


class VAE(VariationalAutoencoder, GaussianLatentModel):
    """The lecture's VAE: Gaussian q(z|x), N(0, I) prior, closed-form KL, so Lecture mode's
    ELBO split works on it. A config with another prior or posterior builds a
    :class:`VariationalAutoencoder` instead (like ``pathlib.Path``), which claims no closed
    form."""

    def __new__(cls, config: VAEConfig | None = None, *args, **kwargs):
        if cls is VAE and config is not None and not config.closed_form_kl:
            return VariationalAutoencoder(config, *args, **kwargs)
        return super().__new__(cls)

    def posterior(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """q(z|x) = N(mu, diag sigma^2): ``(mu, log sigma^2)``, each (N, latent_dim)."""
        mu, logvar, _ = self.q_params(x)
        return mu, logvar


@hookimpl
def register_models(register):
    """The VAE of Kingma & Welling, with the importance-weighted bound of Burda et al., and
    two richer variants: the VampPrior (Tomczak & Welling) and an IAF posterior (Kingma et al.)."""
    common = dict(leaf="variational", family="latent variable", density="bound",
                  sampling="parallel", data="image")
    bound = Claim("Maximizes only a lower bound of the likelihood (ELBO): not as good an "
                  "evaluation as PixelRNN/PixelCNN", "test_bits_per_dim")
    fast = Claim("Fast sampling: one decoder pass per batch", "sample_ms_per_image_b64")
    monte_carlo = Claim("The KL has no closed form: a Monte Carlo estimate", None)
    register(ModelSpec(
        name="vae", model_class=VAE, config_class=VAEConfig, **common,
        paper="Kingma & Welling 2014, Auto-Encoding Variational Bayes; IWAE bound: Burda et "
              "al. 2016, Importance Weighted Autoencoders",
        summary="A Gaussian encoder q(z|x) and a discrete decoder p(x|z) trained on the "
                "evidence lower bound, with the reparameterization trick and a closed-form KL.",
        pros=[Claim("Principled approach to generative models", None), fast,
              Claim("Interpretable latent space", None),
              Claim("Allows inference of q(z|x): a useful feature representation (encode x "
                    "to z)", None)],
        cons=[bound, Claim("Samples blurrier and lower quality than the state of the art "
                           "(GANs)", None)]))
    register(ModelSpec(
        name="vae-vamp", model_class=VariationalAutoencoder, config_class=VampVAEConfig,
        **common, paper="Tomczak & Welling 2018, VAE with a VampPrior (AISTATS)",
        summary="The VAE with a learned prior: a mixture of the encoder's posteriors at K "
                "learned pseudo-inputs, p(z) = 1/K sum_k q(z | u_k).",
        pros=[Claim("A learned prior close to the aggregated posterior tightens the bound",
                    "test_bits_per_dim"), fast],
        cons=[bound, monte_carlo]))
    register(ModelSpec(
        name="vae-iaf", model_class=VariationalAutoencoder, config_class=IAFVAEConfig,
        **common, paper="Kingma et al. 2016, Improved Variational Inference with Inverse "
                        "Autoregressive Flow (NeurIPS)",
        summary="The VAE with a richer posterior: the Gaussian q(z|x) through T inverse "
                "autoregressive flow steps (MADEs conditioned on the encoder's context).",
        pros=[Claim("A richer posterior tightens the bound", "test_bits_per_dim"), fast],
        cons=[bound, monte_carlo]))
