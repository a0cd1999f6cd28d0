"""DDPM: a denoising diffusion probabilistic model, with learned variances and a DDIM sampler.

Ho, Jain & Abbeel, "Denoising Diffusion Probabilistic Models", NeurIPS 2020; the hybrid objective
and the cosine schedule of Nichol & Dhariwal, "Improved Denoising Diffusion Probabilistic
Models", ICML 2021; the sampler of Song, Meng & Ermon, "Denoising Diffusion Implicit Models",
ICLR 2021.

A fixed encoder, the forward process, adds Gaussian noise in T steps (images scaled to [-1, 1]):

    q(x_t | x_{t-1}) = N(sqrt(1 - beta_t) x_{t-1}, beta_t I),   alpha_t = 1 - beta_t,
    q(x_t | x_0)     = N(sqrt(abar_t) x_0, (1 - abar_t) I),     abar_t = prod_{s<=t} alpha_s

so x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps in one step. Given x_0, the step back is
Gaussian too (the posterior):

    q(x_{t-1} | x_t, x_0) = N(mu~_t, beta~_t I),   beta~_t = (1 - abar_{t-1}) / (1 - abar_t) beta_t
    mu~_t = sqrt(abar_{t-1}) beta_t / (1 - abar_t) x_0
            + sqrt(alpha_t) (1 - abar_{t-1}) / (1 - abar_t) x_t

The model p(x_{t-1} | x_t) = N(mu_theta(x_t, t), sigma_t^2 I) puts the network's guess of x_0,
x^_0 = (x_t - sqrt(1 - abar_t) eps_theta(x_t, t)) / sqrt(abar_t), into mu~_t (clipped to [-1, 1],
which can only move it closer to the data). The bound, a hierarchical VAE's ELBO, is

    -log p(x_0) <= L_T + sum_{t=2}^{T} L_{t-1} + L_0,      L_T = KL(q(x_T | x_0) || N(0, I))
    L_{t-1} = KL(q(x_{t-1} | x_t, x_0) || p(x_{t-1} | x_t)),  L_0 = -log p(x_0 | x_1)

with x_t drawn from q(x_t | x_0) for each term and L_0 the Gaussian N(mu_theta(x_1, 1),
sigma_1^2) integrated over each level's bin (a discrete decoder, so the number is in bits/dim of
the same discrete data as every model's). With sigma_t fixed, each KL is a weighted squared
error in eps, and dropping the weights gives Ho et al.'s eq. 14,

    L_simple = E_{t, x_0, eps} || eps - eps_theta(sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps, t) ||^2

On discrete data the first terms dominate: while the noise is small against the gap between
levels, x_0 is x_t's nearest level, so the true eps is a sawtooth of x_t (x_t minus that level,
over sqrt(1 - abar_t)), which a small net predicts poorly, and each KL weighs the error of x^_0
by SNR_{t-1} - SNR_t (thousands there). ``output="levels"`` (the default) has the net output
logits over the L levels instead, and x^_0 = sum_k c_k softmax_k(logit_k + log N(x_t; sqrt(abar_t)
c_k, 1 - abar_t)): the posterior mean of x_0 under a per-pixel prior given by the net, which
snaps to the right level at low noise whatever the logits. eps^ follows from x^_0, and training
is L_simple unchanged (digits, 2 minutes: 1.93 bits/dim against 3.39 for eps^ from the net).

Fixed variances are sigma_t^2 = beta~_t (``variance="posterior"``) or beta_t (``"beta"``). The
hybrid objective learns them: the network also outputs v, sigma_t^2 = exp(v log beta_t + (1 - v)
log beta~_t), trained by L_hybrid = L_simple + lambda L_vlb, lambda = 0.001, with the mean
stop-gradiented inside L_vlb (so L_simple alone trains the mean).

DDIM samples on a sub-sequence tau of the timesteps, from s = tau_{i-1} to t = tau_i:

    x_s = sqrt(abar_s) x^_0 + sqrt(1 - abar_s - sigma^2) eps^ + sigma z,
    sigma = eta sqrt((1 - abar_s) / (1 - abar_t)) sqrt(1 - abar_t / abar_s)

eta = 0 is deterministic; eta = 1 on all T steps is ancestral sampling with sigma_t^2 = beta~_t.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch

from genzoo.registry import Claim, ModelConfig, ModelSpec, hookimpl
from genzoo.registry.config import bounded
from genzoo.registry.diffusion import DiffusionModel, check_steps
from genzoo.registry.errors import BadConfig, BadData
from genzoo.registry.model import check_image_batch

from ._diffusion import (
    SCHEDULES,
    ddim_coefficients,
    ddim_timesteps,
    discretized_gaussian_log_likelihood,
    levels_mean,
    normal_kl,
    schedule_tensors,
    stratified_timesteps,
)
from ._unet import UNet

OBJECTIVES = ("simple", "hybrid")
OUTPUTS = ("eps", "levels")
VARIANCES = ("posterior", "beta")


@dataclass
class DDPMConfig(ModelConfig):
    """The chain, the objective and a U-Net sized for 8x8 digits on a CPU."""

    # Defaults chosen on digits' validation split, 2 minutes on one CPU core (bits/dim): T = 500
    # with the cosine schedule 1.85, T = 250 1.96 (coarser steps loosen the bound), T = 1000
    # 1.83 but 70 s to score the 360 test images; linear at T = 250 2.10. The hybrid objective
    # beats the simple one (cosine, T = 250: 1.96 and 2.05). A net with one halving trains
    # faster than two (1.85 and 1.87), and width 16 beats 24 in the same time (1.87).
    timesteps: int = bounded(500, 1, 10_000)  # T
    schedule: str = field(default="cosine", metadata={"choices": SCHEDULES})
    # simple: L_simple (Ho et al.); hybrid: L_simple + vlb_weight * L_vlb, learned variances
    objective: str = field(default="hybrid", metadata={"choices": OBJECTIVES})
    # the fixed sigma_t^2 of the simple objective: beta~_t (posterior) or beta_t
    variance: str = field(default="posterior", metadata={"choices": VARIANCES})
    vlb_weight: float = bounded(0.001, 0.0, 1.0)  # lambda of the hybrid objective
    # what the network outputs: eps (Ho et al.), or logits over the levels that weight each
    # level's likelihood under q(x_t | x_0) into x^_0 (eps^ then follows from x^_0)
    output: str = field(default="levels", metadata={"choices": OUTPUTS})
    # 0: the bound sums all T terms; K: an unbiased stratified estimate from K of them
    bound_samples: int = bounded(0, 0, 10_000)
    channels: int = bounded(16, 1, 1024)  # U-Net feature maps at full resolution
    blocks: int = bounded(1, 1, 8)  # residual blocks per resolution
    depth: int = bounded(1, 0, 6)  # most halvings of the image
    dropout: float = bounded(0.0, 0.0, 0.9)
    batch_size: int = bounded(64, 1, 8192)
    lr: float = bounded(1e-3, 1e-6, 1.0)

    def validate(self):
        for name, choices in (("schedule", SCHEDULES), ("objective", OBJECTIVES),
                              ("variance", VARIANCES), ("output", OUTPUTS)):
            if getattr(self, name) not in choices:
                raise BadConfig(f"{name} must be one of {', '.join(choices)}, got "
                                f"{getattr(self, name)!r}")
        if self.timesteps < 1:
            raise BadConfig(f"timesteps must be at least 1, got {self.timesteps}")


class DDPM(DiffusionModel):
    """A U-Net denoiser, the T-step ancestral sampler, DDIM, and the bound over all T terms."""

    bound_name = "vlb"
    eval_seed = 0  # the bound's x_t draws: the same batch always gets the same number
    eval_pixels = 2 ** 15  # bound_terms scores (timesteps x images) in passes of this many pixels

    def __init__(self, config: DDPMConfig, data):
        super().__init__(config, data)
        if data.kind != "image" or data.levels is None or data.levels < 2:
            raise BadData("the ddpm models discrete images with 2 or more levels (pixels scaled "
                          "to [-1, 1]), not series")
        config.validate()
        self.levels, self.T = data.levels, config.timesteps
        self.learned = config.objective == "hybrid"
        channels, height, width = data.shape
        per_channel = (self.levels if config.output == "levels" else 1) + self.learned
        self.net = UNet(channels, per_channel * channels, (height, width), config.channels,
                        config.blocks, config.depth, config.dropout)
        if 0 < config.bound_samples < self.T - 1:
            self.bound_name = f"vlb-stratified-{config.bound_samples}"
        # abar_t, log beta_t, ... at t = 0..T (float64; rebuilt from the config, so not saved)
        chain = schedule_tensors(config.schedule, self.T)
        chain["fixed_logvar"] = chain["post_logvar" if config.variance == "posterior"
                                      else "log_betas"]  # sigma_t^2 = beta~_t or beta_t
        for name, value in chain.items():
            self.register_buffer(name, value, persistent=False)

    # -- scales and the forward process ----------------------------------------------------------

    @property
    def num_timesteps(self) -> int:
        return self.T

    @property
    def max_sampling_steps(self) -> int:
        return self.T

    def _check(self, x: torch.Tensor) -> None:
        check_image_batch(x, self.data.shape, self.levels, "ddpm")

    def scale(self, x: torch.Tensor) -> torch.Tensor:
        """Levels 0..L-1 to [-1, 1]: k -> 2k / (L - 1) - 1."""
        return x.float() * (2.0 / (self.levels - 1)) - 1.0

    def to_levels(self, x: torch.Tensor) -> torch.Tensor:
        return (x.float() + 1.0) * ((self.levels - 1) / 2.0)

    def quantize(self, x: torch.Tensor) -> torch.Tensor:
        """Model-scale floats to the nearest level, int64."""
        return self.to_levels(x).round().clamp(0, self.levels - 1).long()

    @staticmethod
    def at(buffer: torch.Tensor, t: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        """buffer[t] shaped (N, 1, 1, 1) in ``like``'s dtype, to broadcast over images."""
        return buffer[t].to(like.dtype).view(-1, *([1] * (like.dim() - 1)))

    def noisy(self, x0: torch.Tensor, t: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
        """x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps."""
        abar = self.at(self.abar, t, x0)
        return abar.sqrt() * x0 + (1 - abar).sqrt() * eps

    def q_sample(self, x, t, generator=None):
        self._check(x)
        t = torch.as_tensor(t, device=self.device).long().expand(len(x))
        if len(t) and (int(t.min()) < 1 or int(t.max()) > self.T):
            raise BadConfig(f"timesteps must be in 1..{self.T}, got {int(t.min())}..{int(t.max())}")
        x0 = self.scale(x.to(self.device))
        device = generator.device if generator is not None else self.device
        eps = torch.randn(x0.shape, generator=generator, device=device).to(self.device)
        return self.noisy(x0, t, eps)

    # -- the reverse process -----------------------------------------------------------------------

    def predict(self, xt: torch.Tensor, t: torch.Tensor):
        """The network at (x_t, t): (eps^, x^_0, log sigma_t^2), each (N, C, H, W).

        eps^ is the output (``output=eps``), x^_0 = (x_t - sqrt(1 - abar_t) eps^) / sqrt(abar_t);
        or x^_0 is the levels' posterior mean (``output=levels``) and eps^ follows from it.
        x^_0 is clipped to [-1, 1]. log sigma_t^2 is the fixed one, or the learned
        v log beta_t + (1 - v) log beta~_t with v = (out + 1) / 2 (Nichol & Dhariwal's eq. 15).
        """
        n, c, h, w = xt.shape
        out = self.net(xt.float(), t * (1000.0 / self.T)).to(xt.dtype)  # (N, C * P, H, W)
        abar = self.at(self.abar, t, xt)
        if self.config.output == "eps":
            eps = out[:, :c]
            x0 = (xt - (1 - abar).sqrt() * eps) / abar.sqrt()
        else:
            x0 = levels_mean(out[:, :c * self.levels].view(n, c, self.levels, h, w), xt, abar)
            eps = (xt - abar.sqrt() * x0) / (1 - abar).sqrt()
        if self.learned:
            v = (out[:, -c:] + 1) / 2
            logvar = v * self.at(self.log_betas, t, xt) + (1 - v) * self.at(self.post_logvar,
                                                                            t, xt)
        else:
            logvar = self.at(self.fixed_logvar, t, xt).expand_as(xt)
        return eps, x0.clamp(-1.0, 1.0), logvar

    def posterior_mean(self, x0: torch.Tensor, xt: torch.Tensor, t: torch.Tensor):
        """mu~_t(x_t, x_0), the mean of q(x_{t-1} | x_t, x_0)."""
        return self.at(self.coef_x0, t, xt) * x0 + self.at(self.coef_xt, t, xt) * xt

    def terms(self, x0: torch.Tensor, xt: torch.Tensor, t: torch.Tensor, x0_pred: torch.Tensor,
              logvar: torch.Tensor) -> torch.Tensor:
        """L_{t-1} per image in nats, (N,): -log p(x_0 | x_1) where t = 1, else the KL of
        q(x_{t-1} | x_t, x_0) from p(x_{t-1} | x_t)."""
        mean = self.posterior_mean(x0_pred, xt, t)
        kl = normal_kl(self.posterior_mean(x0, xt, t), self.at(self.post_logvar, t, xt),
                       mean, logvar)
        nll = -discretized_gaussian_log_likelihood(x0, mean, logvar, self.levels)
        first = (t == 1).view(-1, *([1] * (xt.dim() - 1)))
        return torch.where(first, nll, kl).flatten(1).sum(1)

    def prior_kl(self, x0: torch.Tensor) -> torch.Tensor:
        """L_T = KL(q(x_T | x_0) || N(0, I)) per image, nats: (N,)."""
        abar = self.abar[self.T].to(x0.dtype)
        return normal_kl(abar.sqrt() * x0, torch.log(1 - abar), torch.zeros_like(x0),
                         torch.zeros_like(x0)).flatten(1).sum(1)

    # -- training --------------------------------------------------------------------------------

    def loss(self, batch: torch.Tensor) -> dict[str, torch.Tensor]:
        """L_simple (mse) with t uniform in 1..T, plus lambda L_vlb for the hybrid objective.

        T L_{t-1} + L_T is a one-sample unbiased estimate of the whole bound, reported in
        bits/dim (and, as the hybrid's vlb part, in nats/dim).
        """
        self._check(batch)
        x0 = self.scale(batch)  # (N, C, H, W)
        t = torch.randint(1, self.T + 1, (len(x0),), device=x0.device)
        eps = torch.randn_like(x0)
        xt = self.noisy(x0, t, eps)
        eps_pred, x0_pred, logvar = self.predict(xt, t)
        mse = (eps - eps_pred).pow(2).mean()
        # the mean stop-gradiented: L_vlb trains the variance only (Nichol & Dhariwal, sec. 3.1)
        term = self.terms(x0, xt, t, x0_pred.detach(), logvar)  # (N,) nats
        vlb = (self.T * term + self.prior_kl(x0)).mean() / self.data.dims  # nats / dim
        parts = {"mse": mse.detach(), "bits_per_dim": vlb.detach() / math.log(2)}
        if not self.learned:
            return {"loss": mse, **parts}
        return {"loss": mse + self.config.vlb_weight * vlb, "vlb": vlb.detach(), **parts}

    # -- the bound -------------------------------------------------------------------------------

    def _eval_generator(self) -> torch.Generator:
        return torch.Generator(device=self.device).manual_seed(self.eval_seed)

    @torch.no_grad()
    def bound_terms(self, x: torch.Tensor) -> torch.Tensor:
        """Every term of the bound, nats: (N, T + 1); column 0 is L_0, column t-1 holds
        L_{t-1} = KL(q(x_{t-1} | x_t, x_0) || p(x_{t-1} | x_t)), column T is L_T.

        Each term draws its own x_t ~ q(x_t | x_0) from a generator seeded with ``eval_seed``,
        so the same batch always gets the same terms. With ``bound_samples = K`` only L_0, L_T
        and K stratified terms are computed; each sits in its column times its stratum's size
        and the others are 0, so the sum is still the (now estimated) bound.
        """
        self._check(x)
        n, generator = len(x), self._eval_generator()
        x0 = self.scale(x.to(self.device)).double()  # (N, C, H, W)
        out = torch.zeros(n, self.T + 1, dtype=torch.float64, device=self.device)
        out[:, self.T] = self.prior_kl(x0)
        steps, weights = stratified_timesteps(self.T, self.config.bound_samples, n, generator,
                                              self.device)  # (S, N)
        chunk = max(1, self.eval_pixels // max(1, n * self.data.dims))  # timesteps per pass
        for start in range(0, len(steps), chunk):
            t = steps[start:start + chunk].reshape(-1)  # (s * N,)
            reps = len(t) // n
            eps = torch.randn(reps, *x0.shape, generator=generator, device=generator.device)
            x0s = x0.repeat(reps, 1, 1, 1)
            xt = self.noisy(x0s, t, eps.to(self.device).flatten(0, 1).double())
            _, x0_pred, logvar = self.predict(xt, t)
            terms = self.terms(x0s, xt, t, x0_pred, logvar).view(reps, n)
            terms = terms * weights[start:start + chunk]
            out.scatter_add_(1, (t.view(reps, n) - 1).T, terms.T)
        return out

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """Minus the variational bound, nats per image: (N,), -bound_terms(x).sum(1)."""
        return -self.bound_terms(x).sum(1)

    # -- sampling --------------------------------------------------------------------------------

    @torch.no_grad()
    def _chain(self, n: int, steps: list[int], generator, eta: float | None, keep=()):
        """Run the reverse chain over ``steps`` (T down to 1) from x_T ~ N(0, I); returns the
        final x_0 on the model scale and, for each index in ``keep``, (t, x_t, x^_0).

        ``eta=None`` is ancestral sampling with the model's sigma_t; a number is DDIM's step.
        Both write x_s = a x^_0 + c x_t + sigma z and draw z only where s > 0 (and sigma > 0),
        so eta = 1 on all T steps draws the same noise as ancestral sampling.
        """
        device = generator.device if generator is not None else self.device
        shape = (n, *self.data.shape)
        x = torch.randn(shape, generator=generator, device=device).to(self.device)
        kept = []
        for i, t in enumerate(steps):
            s = steps[i + 1] if i + 1 < len(steps) else 0
            tt = torch.full((n,), t, dtype=torch.long, device=self.device)
            _, x0, logvar = self.predict(x, tt)
            if i in keep:
                kept.append((t, x, x0))
            if eta is None:  # p(x_{t-1} | x_t) = N(mu~_t(x_t, x^_0), sigma_t^2)
                a, c = self.coef_x0[t], self.coef_xt[t]
                sigma = (0.5 * (logvar if self.learned else self.fixed_logvar[t])).exp()
            else:
                a, c, sigma = ddim_coefficients(self.abar[t], self.abar[s], eta)
            x = a.float() * x0 + c.float() * x
            if s > 0 and (eta is None or eta > 0):
                z = torch.randn(shape, generator=generator, device=device).to(self.device)
                x = x + sigma.float() * z
        return x, kept

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """Ancestral sampling, all T steps (Ho et al. algorithm 2): int64 levels."""
        return self.quantize(self._chain(n, list(range(self.T, 0, -1)), generator, None)[0])

    def sample_steps(self, n, steps, generator=None, eta=0.0):
        """DDIM on ``steps`` evenly spaced timesteps: int64 levels."""
        check_steps(self, steps, eta)
        return self.quantize(self._chain(n, ddim_timesteps(self.T, steps), generator, eta)[0])

    def reverse_frames(self, n, steps, generator=None, eta=0.0, frames=10):
        check_steps(self, steps, eta)
        timesteps = ddim_timesteps(self.T, steps)
        keep = sorted({round(i) for i in torch.linspace(0, steps - 1, min(frames, steps)).tolist()})
        x, kept = self._chain(n, timesteps, generator, eta, keep)
        return {"t": [t for t, _, _ in kept],
                "x_t": torch.stack([self.to_levels(xt) for _, xt, _ in kept]),
                "x0_pred": torch.stack([self.to_levels(x0) for _, _, x0 in kept]),
                "samples": self.quantize(x)}

    def info(self) -> dict:
        return {"timesteps": self.T, "schedule": self.config.schedule,
                "objective": self.config.objective,
                "variance": "learned" if self.learned else self.config.variance,
                "output": self.config.output}


@hookimpl
def register_models(register):
    """The DDPM of Ho et al., with Nichol & Dhariwal's learned variances and DDIM sampling."""
    register(ModelSpec(
        name="ddpm", model_class=DDPM, config_class=DDPMConfig,
        family="diffusion", density="bound", sampling="sequential", data="image",
        leaf="variational",
        paper="Ho, Jain & Abbeel 2020, Denoising Diffusion Probabilistic Models; Nichol & "
              "Dhariwal 2021, Improved DDPM; Song, Meng & Ermon 2021, DDIM",
        summary="A fixed forward process adds Gaussian noise in T steps; a U-Net learns to undo "
                "one step at a time (predicting the noise), and its bound sums a KL per step.",
        pros=[Claim("Strong samples: the noise is removed step by step",
                    "quality_frechet_distance"),
              Claim("Fewer steps with DDIM (genzoo sample --steps K), at a cost in quality",
                    None)],
        cons=[Claim("The likelihood is a variational bound, tight only with many terms (T)",
                    "test_bits_per_dim"),
              Claim("Slow sampling: T network passes per image", "sample_ms_per_image_b64")]))
