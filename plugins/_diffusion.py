"""The pieces of a DDPM that are plain formulas (Ho et al. 2020; Nichol & Dhariwal 2021; Song
et al. 2021): the noise schedules, the Gaussian KL, the discretized Gaussian decoder over a
dataset's levels, x^_0 as the levels' posterior mean, the stratified choice of the bound's
terms, and DDIM's timesteps and step. Schedules are indexed by t = 0..T with t = 0 the data
(beta_0 = 0, abar_0 = 1), so ``abar[t]`` reads like the paper's alpha-bar_t.
"""

from __future__ import annotations

import math

import torch

SCHEDULES = ("linear", "cosine")
MAX_BETA = 0.999  # Nichol & Dhariwal's clip: beta_T = 1 would make abar_T = 0 and x_0 = x_T / 0


def linear_betas(steps: int) -> torch.Tensor:
    """Ho et al.'s schedule, beta_1 = 1e-4 to beta_T = 0.02 for T = 1000, scaled by 1000 / T so
    that any T spans the same noise levels (improved-diffusion's ``get_named_beta_schedule``):
    (T,) float64, clipped at 0.999 (which only a T of 20 or less reaches)."""
    scale = 1000.0 / steps
    betas = torch.linspace(scale * 1e-4, scale * 0.02, steps, dtype=torch.float64)
    return betas.clamp(max=MAX_BETA)


def cosine_abar(t: torch.Tensor, steps: int, s: float = 0.008) -> torch.Tensor:
    """Nichol & Dhariwal's eq. 17: abar(t) = f(t) / f(0), f(t) = cos((t/T + s) / (1 + s) pi/2)^2."""
    f = torch.cos((t / steps + s) / (1 + s) * math.pi / 2) ** 2
    return f / math.cos(s / (1 + s) * math.pi / 2) ** 2


def cosine_betas(steps: int) -> torch.Tensor:
    """beta_t = 1 - abar(t) / abar(t - 1), clipped at 0.999 (near t = T, where abar -> 0):
    (T,) float64."""
    t = torch.arange(steps + 1, dtype=torch.float64)
    abar = cosine_abar(t, steps)
    return (1 - abar[1:] / abar[:-1]).clamp(max=MAX_BETA)


def make_betas(name: str, steps: int) -> torch.Tensor:
    """The named schedule's betas: (T + 1,) float64 with beta_0 = 0 in front."""
    betas = {"linear": linear_betas, "cosine": cosine_betas}[name](steps)
    return torch.cat([betas.new_zeros(1), betas])


def schedule_tensors(name: str, steps: int) -> dict[str, torch.Tensor]:
    """What the chain needs at each t = 0..T, (T + 1,) float64 each:

    abar_t; log beta_t; log beta~_t (the posterior variance, 0 at t = 1, there given t = 2's
    value as Ho et al.'s code does: it is only ever p(x_0 | x_1)'s variance); and the posterior
    mean's coefficients, mu~_t = coef_x0 x_0 + coef_xt x_t.
    """
    betas = make_betas(name, steps)
    abar = torch.cumprod(1 - betas, 0)
    abar_prev = torch.cat([abar.new_ones(1), abar[:-1]])
    one_minus = (1 - abar).clamp(min=1e-300)  # 0 at t = 0 only
    post_var = betas * (1 - abar_prev) / one_minus
    post_var[:2] = post_var[2] if steps > 1 else betas[1]
    return {"abar": abar, "log_betas": torch.log(betas.clamp(min=1e-300)),
            "post_logvar": torch.log(post_var), "coef_x0": abar_prev.sqrt() * betas / one_minus,
            "coef_xt": (1 - betas).sqrt() * (1 - abar_prev) / one_minus}


def normal_kl(mean1: torch.Tensor, logvar1: torch.Tensor, mean2: torch.Tensor,
              logvar2: torch.Tensor) -> torch.Tensor:
    """KL(N(mean1, e^logvar1) || N(mean2, e^logvar2)) in nats, elementwise (broadcasting):

        1/2 (-1 + logvar2 - logvar1 + e^(logvar1 - logvar2) + (mean1 - mean2)^2 e^-logvar2)
    """
    return 0.5 * (-1.0 + logvar2 - logvar1 + torch.exp(logvar1 - logvar2)
                  + (mean1 - mean2).pow(2) * torch.exp(-logvar2))


def _log_interval(lo: torch.Tensor, hi: torch.Tensor) -> torch.Tensor:
    """log(Phi(hi) - Phi(lo)) for lo < hi, accurate in both tails: an interval in the upper tail
    is mirrored to the lower one, where log_ndtr keeps its digits."""
    upper = lo > 0
    lo, hi = torch.where(upper, -hi, lo), torch.where(upper, -lo, hi)
    log_hi, log_lo = torch.special.log_ndtr(hi), torch.special.log_ndtr(lo)
    return log_hi + torch.log(-torch.expm1((log_lo - log_hi).clamp(max=-1e-30)))


def discretized_gaussian_log_likelihood(x: torch.Tensor, mean: torch.Tensor,
                                        logvar: torch.Tensor, levels: int) -> torch.Tensor:
    """log p(x_0 | x_1): N(mean, e^logvar) integrated over the bin of each level (Ho et al.
    eq. 13, generalized from 256 levels to ``levels``), elementwise, nats.

    ``x`` holds levels on the [-1, 1] scale (k -> 2k/(L-1) - 1); the bin edges are the midpoints
    between levels, x +- 1/(L-1), and the first and last bins reach -inf and +inf, so the
    probabilities of the L levels sum to 1 for any mean and variance.
    """
    half = 1.0 / (levels - 1)
    inv_std = torch.exp(-0.5 * logvar)
    lo, hi = (x - half - mean) * inv_std, (x + half - mean) * inv_std
    lowest, highest = x < -1 + half / 2, x > 1 - half / 2
    lo = torch.where(lowest, torch.full_like(lo, -math.inf), lo)
    hi = torch.where(highest, torch.full_like(hi, math.inf), hi)
    inner = _log_interval(torch.where(lowest, hi - 1, lo), torch.where(highest, lo + 1, hi))
    return torch.where(lowest, torch.special.log_ndtr(hi),
                       torch.where(highest, torch.special.log_ndtr(-lo), inner))


def levels_mean(logits: torch.Tensor, xt: torch.Tensor, abar: torch.Tensor) -> torch.Tensor:
    """x^_0 from logits over the L levels c_k (on [-1, 1]) at each pixel, (N, C, L, H, W):

        x^_0 = sum_k c_k softmax_k(logit_k + log N(x_t; sqrt(abar_t) c_k, (1 - abar_t)))

    the posterior mean of x_0 under a per-pixel prior softmax(logits), given x_t: where the
    noise is small against the gap between levels, the Gaussian term picks x_t's own level
    whatever the logits say; where it is large, the logits decide. ``abar``: (N, 1, 1, 1).
    """
    levels = logits.shape[2]
    grid = torch.linspace(-1, 1, levels, dtype=xt.dtype, device=xt.device).view(1, 1, -1, 1, 1)
    abar = abar[..., None]  # (N, 1, 1, 1, 1)
    log_lik = -(xt[:, :, None] - abar.sqrt() * grid).pow(2) / (2 * (1 - abar))
    return (torch.softmax(logits + log_lik, 2) * grid).sum(2)  # (N, C, H, W)


def stratified_timesteps(steps: int, k: int, n: int, generator: torch.Generator | None,
                         device) -> tuple[torch.Tensor, torch.Tensor]:
    """The timesteps an estimate of the bound scores for each of n images, and their weights,
    (S, n) each: all of 1..T with weight 1 (k = 0, or k >= T - 1); else t = 1 plus one t drawn
    uniformly from each of k near-equal strata of 2..T, weighted by its stratum's size, so the
    weighted sum of the terms is an unbiased estimate of their sum."""
    if not k or k >= steps - 1:
        t = torch.arange(1, steps + 1, device=device)[:, None].expand(-1, n)
        return t, torch.ones(t.shape, dtype=torch.float64, device=device)
    edges = torch.linspace(2, steps + 1, k + 1, dtype=torch.float64).round().long().to(device)
    sizes = edges[1:] - edges[:-1]  # (k,)
    gen_device = generator.device if generator is not None else device
    u = torch.rand(k, n, generator=generator, device=gen_device, dtype=torch.float64).to(device)
    t = torch.cat([torch.ones(1, n, dtype=torch.long, device=device),
                   edges[:-1, None] + (u * sizes[:, None]).long()])  # (k + 1, n)
    weight = torch.cat([sizes.new_ones(1), sizes]).double()
    return t, weight[:, None].expand(-1, n)


def ddim_coefficients(abar_t: torch.Tensor, abar_s: torch.Tensor, eta: float):
    """DDIM's step from t to s < t as x_s = a x^_0 + c x_t + sigma z: (a, c, sigma).

    With eps^ = (x_t - sqrt(abar_t) x^_0) / sqrt(1 - abar_t) (the noise x^_0 implies),
    x_s = sqrt(abar_s) x^_0 + sqrt(1 - abar_s - sigma^2) eps^ + sigma z; for eta = 1 and
    s = t - 1, a and c are the posterior mean's coefficients and sigma^2 = beta~_t.
    """
    var = eta ** 2 * (1 - abar_s) / (1 - abar_t) * (1 - abar_t / abar_s)
    c = (1 - abar_s - var).clamp(min=0).sqrt() / (1 - abar_t).sqrt()
    return abar_s.sqrt() - c * abar_t.sqrt(), c, var.sqrt()


def ddim_timesteps(steps: int, count: int) -> list[int]:
    """``count`` timesteps evenly spaced over 1..T, from T down to 1 (all of them when count is
    T): the sub-sequence tau of Song et al.'s DDIM (sec. 4.2)."""
    if count == 1:
        return [steps]
    grid = torch.linspace(1, steps, count, dtype=torch.float64).round().long()
    return grid.flip(0).tolist()
