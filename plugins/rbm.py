"""A restricted Boltzmann machine on binary images: an energy-based model sampled by a Markov chain.

Hinton, "Training products of experts by minimizing contrastive divergence", Neural Computation
2002; Tieleman, "Training restricted Boltzmann machines using approximations to the likelihood
gradient", ICML 2008 (persistent contrastive divergence); Salakhutdinov & Murray, "On the
quantitative analysis of deep belief networks", ICML 2008 (log Z by annealed importance sampling).

Binary visible units v (the D pixels) and hidden units h (H of them) share the energy

    E(v, h) = -b.v - c.h - v^T W h,      p(v, h) = exp(-E(v, h)) / Z.

No two units of one layer interact, so each layer is independent given the other,

    p(h_j = 1 | v) = sigmoid(c_j + W_j^T v),      p(v_i = 1 | h) = sigmoid(b_i + W_i h),

and h sums out of p(v) in closed form through the free energy

    F(v) = -b.v - sum_j softplus(c_j + W_j^T v),      p(v) = exp(-F(v)) / Z.

The gradient of the log-likelihood is a difference of two expectations of -dF/dtheta, over the
data and over the model; the second needs samples of the model. Contrastive divergence (CD-k)
takes them from k Gibbs sweeps started at the data; persistent CD (PCD-k) keeps a set of chains
across updates and advances each by k sweeps, so they stay near the model's distribution while
the weights change slowly. ``loss`` is the surrogate mean F(data) - mean F(chains), whose
gradient is exactly that difference.

Z sums 2^D terms, so log p(x) = -F(x) - log Z needs an estimate of log Z:
:mod:`genzoo.registry.ais`, from the base-rate model (W = 0, visible biases from the data's
pixel frequencies) to the RBM. The number is an *estimate* (``density="estimate"``), never
shown as an exact value or a bound. It is computed once per set of weights with a fixed seed,
kept in a buffer (reset by every training step), so the same weights give the same number;
a model with at most 16 units on one side sums log Z exactly instead.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from genzoo.registry import Claim, ModelConfig, ModelSpec, hookimpl
from genzoo.registry.ais import (
    AnnealingPath,
    EstimatedPartitionModel,
    LogPartition,
    ais,
    check_temperatures,
    log_partition_exact,
)
from genzoo.registry.chains import MarkovChainSampler
from genzoo.registry.config import bounded
from genzoo.registry.errors import BadConfig, BadData
from genzoo.registry.model import check_image_batch

BINARY_DATASETS = "mnist-binary, shapes, shapes-8, shapes-28 or shapes-32"
EXACT_UNITS = 16  # at most this many units on one side: log Z summed over 2^16 terms, exactly


@dataclass
class RBMConfig(ModelConfig):
    """Sized for mnist-binary on a 2-core CPU: 3,000 PCD-1 steps take about 15 s and reach
    about 0.28 bits/dim (estimate) against the independent pixels' 0.38; AIS settings below."""

    hidden: int = bounded(200, 1, 4096)  # hidden units H
    cd_steps: int = bounded(1, 1, 1000)  # k of PCD-k: Gibbs sweeps per update
    chains: int = bounded(0, 0, 8192)  # persistent chains; 0: as many as batch_size
    lr: float = bounded(1e-3, 1e-6, 1.0)
    weight_decay: float = bounded(1e-4, 0.0, 1.0)  # L2 on W only (Hinton's "weight-cost")
    gibbs_steps: int = bounded(1000, 1, 100_000)  # Gibbs sweeps per sample (sample())
    # AIS (the paper: 14,500 betas, 100 runs). Measured on mnist-binary, 200 hidden units after
    # 20,000 PCD steps: 5,000 betas give log Z within 1 nat of 30,000's (375.3), standard error
    # 0.5-0.7 nats, i.e. about 0.001 bits/dim, in 7.5 s on one CPU thread; 1,000 betas fall
    # 3-9 nats short (E[log Z^] <= log Z: too few betas bias it down, and bits/dim with it)
    ais_temperatures: int = bounded(5_000, 2, 1_000_000)
    ais_runs: int = bounded(100, 2, 100_000)

    def validate(self):
        check_temperatures(self.ais_temperatures)
        for name in ("hidden", "cd_steps", "gibbs_steps"):
            if getattr(self, name) < 1:
                raise BadConfig(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.chains < 0:
            raise BadConfig(f"chains must be 0 (as many as batch_size) or more, got {self.chains}")
        if self.ais_runs < 2:
            raise BadConfig(f"ais_runs must be at least 2 (their spread is the estimate's), got "
                            f"{self.ais_runs}")
        if not self.weight_decay >= 0:
            raise BadConfig(f"weight_decay must be 0 or more, got {self.weight_decay}")


def bernoulli(p: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """Binary draws with probabilities ``p``, from ``generator`` (on its own device); u < p
    is 3x quicker than torch.bernoulli on a CPU."""
    device = generator.device if generator is not None else p.device
    u = torch.rand(p.shape, generator=generator, device=device).to(p.device)
    return (u < p).to(p.dtype)


class RBM(EstimatedPartitionModel, AnnealingPath, MarkovChainSampler):
    """Bernoulli-Bernoulli RBM trained by PCD-k, sampled by Gibbs sweeps, scored with AIS."""

    eval_seed = 0  # AIS's seed: the same weights always get the same log Z

    @classmethod
    def data_problem(cls, data) -> str | None:
        """Binary images only: the visible units are Bernoulli."""
        if data.kind != "image" or data.levels != 2:
            return (f"the rbm models binary images (2 levels): train it on {BINARY_DATASETS}; "
                    f"these images have {data.levels} levels")
        return None

    def __init__(self, config: RBMConfig, data):
        super().__init__(config, data)
        problem = self.data_problem(data)
        if problem:
            raise BadData(problem)
        dims, hidden = data.dims, config.hidden
        self.weight = nn.Parameter(0.01 * torch.randn(dims, hidden))  # W: (D, H)
        self.visible_bias = nn.Parameter(torch.zeros(dims))  # b: (D,)
        self.hidden_bias = nn.Parameter(torch.zeros(hidden))  # c: (H,)
        # AIS's base model p_A(v) = prod_i sigmoid(b_A,i)^v_i ...: the data's base rates (fit)
        self.register_buffer("base_bias", torch.zeros(dims))
        self.register_buffer("chains", torch.zeros(config.chains or config.batch_size, dims))
        # log Z, its std, temperatures, runs (0: exact); NaN until computed for these weights
        self.register_buffer("log_z", torch.full((4,), math.nan, dtype=torch.float64))

    # -- energies -------------------------------------------------------------------------------

    def _flat(self, x: torch.Tensor) -> torch.Tensor:
        check_image_batch(x, self.data.shape, 2, "rbm")
        return x.flatten(1).to(self.weight.dtype)  # (N, D)

    def energy(self, v: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        """E(v, h) = -b.v - c.h - v^T W h for flat float v (N, D) and h (N, H): (N,)."""
        return -v @ self.visible_bias - h @ self.hidden_bias - ((v @ self.weight) * h).sum(-1)

    def free_energy(self, v: torch.Tensor) -> torch.Tensor:
        """F(v) = -log sum_h exp(-E(v, h)) = -b.v - sum_j softplus(c_j + W_j^T v): (N,)."""
        return -v @ self.visible_bias - F.softplus(v @ self.weight + self.hidden_bias).sum(-1)

    # -- Gibbs sampling -------------------------------------------------------------------------

    def gibbs_sweep(self, v: torch.Tensor, generator=None) -> torch.Tensor:
        """h ~ p(h | v), then v ~ p(v | h): one step of the block Gibbs chain, (N, D)."""
        h = bernoulli(torch.sigmoid(v @ self.weight + self.hidden_bias), generator)  # (N, H)
        return bernoulli(torch.sigmoid(h @ self.weight.T + self.visible_bias), generator)

    def _start(self, n: int, generator) -> torch.Tensor:
        """Chains start from the base-rate model: each pixel on with its training frequency."""
        return bernoulli(torch.sigmoid(self.base_bias).expand(n, -1), generator)

    @torch.no_grad()
    def gibbs_chain(self, n: int, steps: int, every: int = 1,
                    generator: torch.Generator | None = None) -> torch.Tensor:
        """The frames of ``n`` Gibbs chains: the start and every ``every``-th sweep up to
        ``steps``, (steps // every + 1, n, C, H, W) int64, to watch the chain mix."""
        if steps < 0 or every < 1:
            raise BadConfig(f"a Gibbs chain needs steps >= 0 and every >= 1, got steps={steps}, "
                            f"every={every}")
        v = self._start(n, generator)
        frames = [v]
        for step in range(1, steps + 1):
            v = self.gibbs_sweep(v, generator)
            if step % every == 0:
                frames.append(v)
        return torch.stack(frames).long().view(len(frames), n, *self.data.shape)

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """``gibbs_steps`` sweeps from the base-rate model; the last binary v, int64 levels."""
        return self.gibbs_chain(n, self.config.gibbs_steps, self.config.gibbs_steps,
                                generator)[-1]

    # -- training: persistent contrastive divergence --------------------------------------------

    def fit(self, train: torch.Tensor) -> bool:
        """Set-up from the data (Hinton's practical guide): visible biases log p_i / (1 - p_i)
        of each pixel's frequency p_i, also the AIS base; chains started from that model."""
        flat = train.flatten(1).to(self.weight.dtype)
        p = (flat.sum(0) + 0.5) / (len(flat) + 1.0)  # smoothed: a pixel never on stays finite
        with torch.no_grad():
            self.base_bias.copy_(torch.log(p) - torch.log1p(-p))
            self.visible_bias.copy_(self.base_bias)
            self.chains.copy_(torch.bernoulli(p.expand_as(self.chains)))
            self.log_z.fill_(math.nan)
        return False

    def loss(self, batch: torch.Tensor) -> dict[str, torch.Tensor]:
        """PCD-k: advance the persistent chains k sweeps, then (mean F(data) - mean F(chains))
        / D, in nats per dimension like every image model's loss.

        Its gradient is (E_data[dF/dtheta] - E_model[dF/dtheta]) / D = -d log p / d theta / D
        (with the model's expectation from the chains). ``free_energy_gap`` is the same per
        image and ``recon`` the squared error of one mean-field reconstruction per image, the
        usual sign of life; none of them is a likelihood.
        """
        v = self._flat(batch)
        with torch.no_grad():
            chains = self.chains
            for _ in range(self.config.cd_steps):
                chains = self.gibbs_sweep(chains)
            self.chains.copy_(chains)
            h = torch.sigmoid(v @ self.weight + self.hidden_bias)
            recon = (torch.sigmoid(h @ self.weight.T + self.visible_bias) - v).pow(2).sum(-1)
        gap = self.free_energy(v).mean() - self.free_energy(chains).mean()
        return {"loss": gap / self.data.dims, "free_energy_gap": gap.detach(),
                "recon": recon.mean()}

    def configure_optimizers(self) -> list[torch.optim.Optimizer]:
        """Adam, with weight decay on W only (biases are not shrunk)."""
        return [torch.optim.Adam([
            {"params": [self.weight], "weight_decay": self.config.weight_decay},
            {"params": [self.visible_bias, self.hidden_bias], "weight_decay": 0.0}],
            lr=self.config.lr)]

    def training_step(self, batch, optimizers, **context) -> dict[str, float]:
        """One step through ``loss``; the weights changed, so the cached log Z is stale."""
        values = super().training_step(batch, optimizers, **context)
        self.log_z.fill_(math.nan)
        return values

    # -- AIS's path (Salakhutdinov & Murray, eq. 14-15) -----------------------------------------

    def base_log_partition(self) -> float:
        """p_A(v, h) = exp(b_A.v) / Z_A with W = 0, c = 0: Z_A = 2^H prod_i (1 + exp(b_A,i))."""
        return self.config.hidden * math.log(2.0) + float(F.softplus(self.base_bias.double()).sum())

    def base_sample(self, m: int, generator: torch.Generator) -> torch.Tensor:
        return self._start(m, generator)

    @torch.no_grad()
    def anneal(self, v: torch.Tensor, beta_from: float, beta_to: float,
               generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """On the path log p*_beta(v) = (1 - beta) b_A.v + beta b.v + sum_j softplus(beta a_j),
        a = c + W^T v: the log-ratio between two betas, and a Gibbs sweep on
        p_beta(v, h) ~ exp((1 - beta) b_A.v + beta (b.v + c.h + v^T W h)).

        The softplus terms nearly cancel, so their difference is taken in closed form,
        softplus(y) - softplus(x) = -log1p(sigmoid(y) expm1(x - y)), with sigmoid(y) the
        hidden units' probabilities that the sweep draws from anyway. That form is exact in
        float32 for a fine step; for a coarse one (|x - y| > 1 somewhere: a schedule of a few
        temperatures) it can round or overflow, and the difference is taken in float64.
        """
        step = beta_to - beta_from
        act = torch.addmm(self.hidden_bias, v, self.weight)  # (M, H): for ratio and sweep
        p_h = torch.sigmoid(beta_to * act)
        if step * float(act.abs().max()) <= 1:
            hidden = -torch.log1p(p_h * torch.expm1(-step * act)).sum(-1).double()
        else:
            wide = act.double()
            hidden = (F.softplus(beta_to * wide) - F.softplus(beta_from * wide)).sum(-1)
        ratio = step * (v @ (self.visible_bias - self.base_bias)).double() + hidden
        h = bernoulli(p_h, generator)
        visible = torch.addmm(self.visible_bias, h, self.weight.T, alpha=beta_to, beta=beta_to)
        return ratio, bernoulli(torch.sigmoid(visible.add_(self.base_bias, alpha=1 - beta_to)),
                                generator)

    # -- the likelihood -------------------------------------------------------------------------

    @torch.no_grad()
    def log_partition(self) -> LogPartition:
        """log Z for the current weights: exact with at most 16 units on one side, else AIS
        with ``ais_temperatures`` and ``ais_runs`` from the fixed ``eval_seed``; cached."""
        if math.isnan(float(self.log_z[0])):
            if min(self.data.dims, self.config.hidden) <= EXACT_UNITS:
                found = LogPartition(log_partition_exact(self.weight, self.visible_bias,
                                                         self.hidden_bias), 0.0, "exact")
            else:
                generator = torch.Generator(device=self.device).manual_seed(self.eval_seed)
                found = ais(self, self.config.ais_temperatures, self.config.ais_runs,
                            generator).to_partition()
            self.log_z.copy_(torch.tensor([found.value, found.std, found.temperatures,
                                           found.runs], dtype=torch.float64))
        value, std, temperatures, runs = self.log_z.tolist()
        return LogPartition(value, std, "ais" if runs else "exact", int(temperatures), int(runs))

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """log p(x) = -F(x) - log Z^ in nats per image, (N,): an estimate (through log Z^)."""
        return -self.free_energy(self._flat(x)).double() - self.log_partition().value

    def info(self) -> dict:
        """Size, and log Z where it has been found for these weights (never computed here)."""
        out = {"hidden": self.config.hidden, "gibbs_steps": self.config.gibbs_steps,
               "chains": len(self.chains)}
        if not math.isnan(float(self.log_z[0])):
            found = self.log_partition()
            out.update(log_z=found.value, log_z_std=found.std, log_z_method=found.describe())
        return out


@hookimpl
def register_models(register):
    """The restricted Boltzmann machine."""
    register(ModelSpec(
        name="rbm", model_class=RBM, config_class=RBMConfig, leaf="Markov chain",
        family="restricted Boltzmann machine", density="estimate", sampling="sequential",
        data="image",
        paper="Hinton 2002, contrastive divergence; Tieleman 2008, persistent CD; Salakhutdinov "
              "& Murray 2008, AIS for log Z",
        summary="Binary visible and hidden units with a bilinear energy; trained by persistent "
                "contrastive divergence, sampled by a Gibbs chain, scored with an AIS estimate "
                "of the partition function.",
        pros=[Claim("Explicit density up to Z: the free energy F(v) is exact and cheap", None),
              Claim("A likelihood number on the common footing, through an AIS estimate of "
                    "log Z", "test_bits_per_dim_estimate")],
        cons=[Claim("Sampling needs a long Markov chain: thousands of sequential Gibbs sweeps",
                    "sample_ms_per_image_b64"),
              Claim("The likelihood needs the partition function: only an estimate, with a "
                    "spread (and optimistic on average)", "test_bits_per_dim_estimate_std"),
              Claim("Markov chains mix slowly and scale poorly to high dimensions", None)]))
