"""Autoregressive models of a univariate series: the lecture's AR(p), and a neural AR(p).

The lecture's AR(p) (lecture 2, "Autoregressive Models"; Box & Jenkins 1970, *Time Series
Analysis: Forecasting and Control*, ch. 3):

    X_t = c + sum_{i=1..p} phi_i X_{t-i} + eps_t,        eps_t ~ N(0, sigma2)

By the chain rule this is an explicit, tractable density. Given the first p values of a series,

    log p(x_p, ..., x_{L-1} | x_0, ..., x_{p-1}) = sum_{t=p}^{L-1} log N(x_t | mu_t, sigma2),
    mu_t = c + sum_i phi_i x_{t-i}.

``ar`` is fitted exactly as statsmodels ``AutoReg(y, lags=p, trend="c").fit()`` fits it:
conditional maximum likelihood, which for Gaussian noise is ordinary least squares of x_t on
(1, x_{t-1}, ..., x_{t-p}) over t = p..T-1. So nobs = T - p, sigma2 = SSR / nobs (the MLE, not
SSR / (nobs - p - 1)) and llf = -nobs/2 (log(2 pi sigma2) + 1). Its h-step forecast intervals use
the MA(inf) form X_{T+h} - E[X_{T+h}] = sum_{j<h} psi_j eps_{T+h-j}, as
``AutoRegResults.get_prediction`` does.

``neural-ar`` keeps the same factorization and Gaussian output but lets an MLP of the last p
values give the mean and log-variance of the next one: still an exact density, no longer a
closed-form fit.
"""

from __future__ import annotations

import abc
import math
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np
import torch
from torch import nn

from genzoo.registry import Claim, ModelConfig, ModelSpec, SeriesModel, hookimpl
from genzoo.registry.config import bounded
from genzoo.registry.errors import BadConfig, BadData

F64 = torch.float64


def _check_at_least_one(config, *names: str) -> None:
    for name in names:
        value = getattr(config, name)
        if value < 1:
            raise BadConfig(f"--set {name}={value}: must be at least 1")


def gaussian_log_prob(x: torch.Tensor, mean: torch.Tensor, var: torch.Tensor) -> torch.Tensor:
    """Elementwise log N(x | mean, var) in nats."""
    return -0.5 * (torch.log(2 * math.pi * var) + (x - mean) ** 2 / var)


def _intervals(mean: np.ndarray, sd: np.ndarray, levels) -> dict:
    """Gaussian central intervals ``mean +- z sd`` for each level, in the forecast format."""
    lower, upper = {}, {}
    for level in levels:
        z = NormalDist().inv_cdf(0.5 + level / 2)
        lower[level], upper[level] = mean - z * sd, mean + z * sd
    return {"mean": mean, "lower": lower, "upper": upper}


class SeriesAutoregression(SeriesModel):
    """A Gaussian autoregression of order p: windows, density, sampling and forecasts.

    A subclass says only how the past predicts the next value, in :meth:`next_gaussian`; the
    chain rule does the rest. ``history`` holds the last p training values (oldest first), the
    past that samples and forecasts continue from.
    """

    def __init__(self, config: ModelConfig, data, order: int, horizon: int):
        super().__init__(config, data, order=order, horizon=horizon)
        self.register_buffer("history", torch.zeros(order, dtype=F64))  # (p,)

    @abc.abstractmethod
    def next_gaussian(self, context: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and variance of the next value given ``context`` (N, p), oldest first; (N,) each."""

    def _check_length(self, train: torch.Tensor, needed: int, why: str) -> None:
        if len(train) < needed:
            raise BadData(f"the training series has {len(train)} values, too short for "
                          f"p={self.order}: {why} needs at least {needed}")

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """log p(x_p..x_{L-1} | x_0..x_{p-1}) in nats for each row of ``x`` (N, L), L > p: (N,)."""
        x = x.to(device=self.device, dtype=F64)
        if x.dim() == 1:
            x = x[None]  # one series
        if x.dim() != 2 or x.shape[1] <= self.order:
            raise BadData(f"log_prob needs series of more than p={self.order} values, "
                          f"got shape {tuple(x.shape)}")
        windows = x.unfold(1, self.order + 1, 1)  # (N, L-p, p+1)
        context, target = windows[..., :-1], windows[..., -1]  # (N, L-p, p), (N, L-p)
        mean, var = self.next_gaussian(context.reshape(-1, self.order))  # (N*(L-p),) each
        return gaussian_log_prob(target.reshape(-1), mean, var).view(target.shape).sum(1)

    def loss(self, batch: torch.Tensor) -> dict[str, torch.Tensor]:
        """Mean Gaussian negative log-likelihood per predicted value, in nats."""
        predicted = batch.shape[0] * (batch.shape[1] - self.order)
        nll = -self.log_prob(batch).sum() / predicted
        return {"loss": nll, "nll": nll.detach()}

    @torch.no_grad()
    def simulate(self, n: int, steps: int,
                 generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` continuations of ``history``, ``steps`` long each, drawn one value at a time."""
        device = generator.device if generator is not None else self.device
        # All noise up front, from the caller's generator: the same seed gives the same paths.
        noise = torch.randn(n, steps, generator=generator, dtype=F64, device=device)
        noise = noise.to(self.device)  # (n, steps)
        window = self.history.expand(n, -1).clone()  # (n, p): the past each path starts from
        out = torch.empty(n, steps, dtype=F64, device=self.device)
        for t in range(steps):  # sequential: step t needs the value drawn at step t-1
            mean, var = self.next_gaussian(window)  # (n,), (n,)
            out[:, t] = mean + var.sqrt() * noise[:, t]
            window = torch.cat([window[:, 1:], out[:, t:t + 1]], dim=1)
        return out

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` simulated continuations of the training series: (n, horizon) float64."""
        return self.simulate(n, self.horizon, generator)

    def forecast(self, h: int, levels=(0.8, 0.95), *, n_paths: int = 2000, seed: int = 0) -> dict:
        """Monte Carlo h-step forecast: the mean of ``n_paths`` simulated paths and their
        central quantile intervals; ``{"mean": (h,), "lower": {level: (h,)}, "upper": ...}``."""
        paths = self.simulate(n_paths, h, torch.Generator().manual_seed(seed)).cpu().numpy()
        lower = {lv: np.quantile(paths, 0.5 - lv / 2, axis=0) for lv in levels}
        upper = {lv: np.quantile(paths, 0.5 + lv / 2, axis=0) for lv in levels}
        return {"mean": paths.mean(0), "lower": lower, "upper": upper}


# -- the classic AR(p) ---------------------------------------------------------------------------


@dataclass
class ARConfig(ModelConfig):
    """``p``: the order (how many past values predict the next); ``horizon``: sample length."""

    p: int = bounded(2, 1, 1000)
    horizon: int = bounded(20, 1, 10_000)

    def validate(self):
        _check_at_least_one(self, "p", "horizon")


class AR(SeriesAutoregression):
    """The linear AR(p) with a constant, fitted by conditional maximum likelihood (OLS)."""

    def __init__(self, config: ARConfig, data):
        super().__init__(config, data, order=config.p, horizon=config.horizon)
        # Unfitted: X_t = eps_t with sigma2 = 1, a proper density for the contract checks.
        self.const = nn.Parameter(torch.zeros((), dtype=F64))  # c
        self.coefs = nn.Parameter(torch.zeros(config.p, dtype=F64))  # (p,) phi_1..phi_p
        self.log_sigma2 = nn.Parameter(torch.zeros((), dtype=F64))  # log: stays positive if trained
        self.register_buffer("llf", torch.zeros((), dtype=F64))  # of the fit; 0 until fitted
        self.register_buffer("nobs", torch.zeros((), dtype=F64))  # T - p; 0 until fitted

    @property
    def sigma2(self) -> torch.Tensor:
        """The innovation variance sigma2."""
        return self.log_sigma2.exp()

    def next_gaussian(self, context):
        # context.flip(-1)[:, i] is x_{t-1-i}, the value that phi_{i+1} multiplies
        mean = self.const + context.flip(-1) @ self.coefs  # (N,)
        return mean, self.sigma2.expand_as(mean)

    def fit(self, train: torch.Tensor) -> bool:
        """Least squares of x_t on (1, x_{t-1}, ..., x_{t-p}); sigma2 = SSR / nobs. Returns True."""
        p = self.order
        # nobs = T - p rows for p + 1 coefficients, and at least one residual left over
        self._check_length(train, 2 * p + 2, "least squares with a constant (T - p > p + 1)")
        y = train.detach().to("cpu", F64).numpy()  # (T,); numpy lstsq: exact on any device
        T = len(y)
        lags = np.column_stack([y[p - i:T - i] for i in range(1, p + 1)])  # (nobs, p), lag 1 first
        design = np.column_stack([np.ones(T - p), lags])  # (nobs, p+1)
        target = y[p:]  # (nobs,)
        beta, *_ = np.linalg.lstsq(design, target, rcond=None)  # (p+1,) = (c, phi_1..phi_p)
        resid = target - design @ beta
        nobs = T - p
        sigma2 = float(resid @ resid) / nobs
        if sigma2 <= 1e-12 * float(np.mean(y ** 2)):
            raise BadData(f"the training series ({T} values) is predicted exactly by an AR({p}) "
                          "(constant or perfectly regular): its residual variance is zero, so "
                          "the likelihood is degenerate")
        with torch.no_grad():
            self.const.fill_(beta[0])
            self.coefs.copy_(torch.from_numpy(beta[1:]))
            self.log_sigma2.fill_(math.log(sigma2))
            self.llf.fill_(-nobs / 2 * (math.log(2 * math.pi * sigma2) + 1))
            self.nobs.fill_(nobs)
            self.history.copy_(train[-p:])
        return True

    @torch.no_grad()
    def forecast(self, h: int, levels=(0.8, 0.95)) -> dict:
        """Analytic h-step forecast from ``history``, as statsmodels' ``get_prediction``.

        The mean follows the recursion with forecasts in place of unseen values; the variance is
        var_h = sigma2 sum_{j<h} psi_j^2, psi_0 = 1, psi_j = sum_{i<=min(j,p)} phi_i psi_{j-i}.
        """
        p, c = self.order, self.const.item()
        phi = self.coefs.detach().cpu().numpy()  # (p,)
        path = list(self.history.cpu().numpy())  # oldest first
        mean = np.empty(h)
        for k in range(h):
            mean[k] = c + phi @ np.array(path[-p:])[::-1]  # forecasts stand in for unseen values
            path.append(mean[k])
        psi = np.zeros(h)
        psi[0] = 1.0
        for j in range(1, h):
            k = min(j, p)
            psi[j] = phi[:k] @ psi[j - 1::-1][:k]  # psi_{j-1}, ..., psi_{j-k}
        sd = np.sqrt(self.sigma2.item() * np.cumsum(psi ** 2))  # (h,)
        return _intervals(mean, sd, levels)

    def info(self) -> dict:
        """Coefficients, sigma2 and the fit's log-likelihood, in statsmodels' conventions."""
        fitted = float(self.nobs) > 0
        return {"p": self.order, "const": self.const.item(), "coefs": self.coefs.tolist(),
                "sigma2": self.sigma2.item(),
                "llf": float(self.llf) if fitted else None,
                "nobs": int(self.nobs) if fitted else None}


# -- the neural AR(p) ----------------------------------------------------------------------------


@dataclass
class NeuralARConfig(ModelConfig):
    """``p``: order; ``hidden``/``layers``: MLP width and depth; ``horizon``: sample length;
    ``heteroscedastic``: let the MLP also move the noise variance with the past."""

    p: int = bounded(8, 1, 1000)
    hidden: int = bounded(64, 1, 2048)
    layers: int = bounded(2, 1, 64)
    horizon: int = bounded(20, 1, 10_000)
    heteroscedastic: bool = False
    batch_size: int = bounded(64, 1, 8192)
    lr: float = bounded(1e-3, 1e-6, 1.0)

    def validate(self):
        _check_at_least_one(self, "p", "hidden", "layers", "horizon")


class NeuralAR(SeriesAutoregression):
    """X_t = f(X_{t-1}, ..., X_{t-p}) + eps_t: an MLP of the last p standardized values gives
    the mean of the next one; its log-variance is one learned number (or, heteroscedastic, that
    number plus a second MLP output)."""

    def __init__(self, config: NeuralARConfig, data):
        super().__init__(config, data, order=config.p, horizon=config.horizon)
        blocks, width = [], config.p
        for _ in range(config.layers):
            blocks += [nn.Linear(width, config.hidden), nn.Tanh()]
            width = config.hidden
        head = nn.Linear(width, 2 if config.heteroscedastic else 1)  # mean (, log-variance offset)
        # Zero head: training starts from N(train mean, train var), the i.i.d. Gaussian baseline.
        nn.init.zeros_(head.weight)
        nn.init.zeros_(head.bias)
        # float64 throughout: inputs arrive in float64 and the net is tiny.
        self.net = nn.Sequential(*blocks, head).to(F64)
        self.log_var = nn.Parameter(torch.zeros((), dtype=F64))  # shared, in standardized units
        self.register_buffer("loc", torch.zeros((), dtype=F64))  # training mean
        self.register_buffer("scale", torch.ones((), dtype=F64))  # training standard deviation

    def next_gaussian(self, context):
        z = (context - self.loc) / self.scale  # (N, p) standardized past
        out = self.net(z)  # (N, 1) or (N, 2)
        mean_z = out[:, 0]  # (N,)
        # Why a shared variance by default: a per-step variance fits short series too well and
        # collapses on them (measured: nile test nats/obs in the thousands after 3,000 steps).
        log_var_z = self.log_var + (out[:, 1] if out.shape[1] == 2 else torch.zeros_like(mean_z))
        log_var_z = log_var_z.clamp(-12.0, 8.0)  # keeps the density finite far from the data
        # Back to data units: x = loc + scale z, so N(z | m, v) becomes N(x | loc + scale m,
        # scale^2 v). Its log density is log N(z | m, v) - log scale, the Jacobian term that
        # makes these nats comparable with AR's.
        return self.loc + self.scale * mean_z, self.scale ** 2 * log_var_z.exp()

    def fit(self, train: torch.Tensor) -> bool:
        """Record the standardization constants and ``history``; returns False (train by SGD)."""
        self._check_length(train, self.order + 2, "training on windows of p + 1 values")
        std = train.std()
        self.loc.copy_(train.mean())
        self.scale.copy_(std if std > 0 else torch.ones_like(std))  # a constant series: no scaling
        self.history.copy_(train[-self.order:])
        return False

    def info(self) -> dict:
        """Architecture and the standardization the net sees its inputs through."""
        noise_std = self.scale * (self.log_var / 2).exp()  # shared noise scale, in data units
        return {"p": self.order, "hidden": self.config.hidden, "layers": self.config.layers,
                "heteroscedastic": self.config.heteroscedastic, "noise_std": noise_std.item(),
                "train_mean": self.loc.item(), "train_std": self.scale.item()}


@hookimpl
def register_models(register):
    """The classic AR(p) and its neural counterpart."""
    register(ModelSpec(
        name="ar", model_class=AR, config_class=ARConfig,
        leaf="fully visible belief net",
        family="autoregressive time series", density="exact", sampling="sequential",
        data="series", paper="Box & Jenkins 1970; the lecture's AR(p)",
        summary="X_t = c + sum_i phi_i X_{t-i} + eps_t, fitted by least squares "
                "(statsmodels AutoReg conventions)",
        pros=(Claim("Can explicitly compute likelihood p(x)", "test_nats_per_obs"),
              Claim("Fits in closed form: least squares, no gradient steps", "train_seconds"),
              Claim("Interpretable coefficients φ_i", None)),
        cons=(Claim("Linear in the past: one fixed lag structure", "test_nats_per_obs"),
              Claim("Sequential generation: one step at a time", None))))
    register(ModelSpec(
        name="neural-ar", model_class=NeuralAR, config_class=NeuralARConfig,
        leaf="fully visible belief net",
        family="autoregressive time series", density="exact", sampling="sequential",
        data="series", paper="an MLP autoregression (a neural AR(p) with Gaussian output)",
        summary="an MLP of the last p values gives the mean and variance of the next",
        pros=(Claim("Can explicitly compute likelihood p(x)", "test_nats_per_obs"),
              Claim("Nonlinear in the past: any smooth function of the last p values",
                    "test_nats_per_obs")),
        cons=(Claim("Trained by gradient steps, not in closed form", "train_seconds"),
              Claim("Many parameters for a short series: overfits as training goes on",
                    "test_nats_per_obs"),
              Claim("Sequential generation: one step at a time", None),
              Claim("Forecast intervals only by Monte Carlo", None))))
