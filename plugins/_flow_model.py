"""What ``realnvp`` and ``glow`` share: dequantization, the bounds, sampling, the code z.

A subclass builds ``self.flow`` (a :class:`~genzoo.plugins._flows.MultiScaleFlow`, the map
w -> z); this base adds the logit preprocessing v -> w in front of it and the dequantizer, so

    log p(v) = log N(z; 0, I) + log |det dz/dw| + log |det dw/dv|          (change of variables)
    log P(x) >= E_{q(u|x)}[log p(x + u) - log q(u|x)]                      (dequantization bound)
             >= ... <= log 1/K sum_k p(x + u_k) / q(u_k|x)                  (IWAE, K samples)

with v = x + u in level units. Training minimizes the negative bound, one u per image, in nats
per dimension, the unit every other model's loss is in.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch

from genzoo.registry import Claim, ModelConfig
from genzoo.registry.config import bounded
from genzoo.registry.errors import BadConfig, BadData
from genzoo.registry.flow import FlowModel, check_temperature
from genzoo.registry.model import check_image_batch

from ._dequantize import LogitTransform, UniformDequantizer, VariationalDequantizer
from ._flows import resolve_scales, standard_normal_log_prob

DEQUANTIZATIONS = ("uniform", "variational")

# What the literature says of flows, each next to the number that tests it (both flows share it)
FLOW_PROS = (Claim("Exact density of the dequantized data by the change of variables (on "
                   "discrete images a bound over the dequantization noise)", "test_bits_per_dim"),
             Claim("One-pass sampling and inference: x = f^-1(z), z = f(x)",
                   "sample_ms_per_image_b64"))
FLOW_CONS = (Claim("A latent of the data's own size: no compression, no bottleneck", None),
             Claim("Many parameters per bit: every layer must be invertible with a cheap "
                   "Jacobian, which limits what each one can do", "parameters"))
INIT_IMAGES = 512  # training images that set actnorm's data-dependent initial values


@dataclass
class FlowConfig(ModelConfig):
    """The knobs both flows have; each model adds its depth (couplings or steps)."""

    scales: int = bounded(0, 0, 6)  # squeeze levels (multi-scale); 0: as many as H, W allow, <= 2
    hidden: int = bounded(64, 1, 1024)  # feature maps of each coupling's network
    blocks: int = bounded(1, 0, 16)  # residual blocks in each coupling's network
    dropout: float = bounded(0.0, 0.0, 0.9)  # inside the coupling networks' residual blocks
    # uniform: q(u|x) = 1 ("dequant" bound) | variational: a learned flow q(u|x) ("vardeq")
    dequantization: str = field(default="uniform", metadata={"choices": DEQUANTIZATIONS})
    deq_hidden: int = bounded(32, 1, 1024)  # feature maps of q(u|x)'s networks (variational)
    deq_couplings: int = bounded(4, 1, 16)  # coupling layers of q(u|x) (variational)
    bound_samples: int = bounded(8, 1, 4096)  # draws of u when log_prob estimates the bound
    # w = logit(alpha + (1 - 2 alpha) v / L): Real NVP took 0.05; 0 (a bijection onto R^D, so
    # p(v) integrates to 1) measured better on digits: 1.999 against 2.044 bits/dim (val, 60 s)
    logit_alpha: float = bounded(0.0, 0.0, 0.4)
    weight_decay: float = bounded(0.0, 0.0, 10.0)  # AdamW's decoupled weight decay
    lr: float = bounded(1e-3, 1e-6, 1.0)
    batch_size: int = bounded(64, 1, 8192)

    def validate(self):
        for name in ("hidden", "deq_hidden", "deq_couplings", "bound_samples"):
            if getattr(self, name) < 1:
                raise BadConfig(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.scales < 0 or self.blocks < 0:
            raise BadConfig(f"scales and blocks must be 0 or more, got {self.scales}, "
                            f"{self.blocks}")
        if self.dequantization not in DEQUANTIZATIONS:
            raise BadConfig(f"dequantization must be one of {', '.join(DEQUANTIZATIONS)}, got "
                            f"{self.dequantization!r}")
        if not 0.0 <= self.logit_alpha < 0.5:
            raise BadConfig(f"logit_alpha must lie in [0, 0.5), got {self.logit_alpha}")
        if not 0.0 <= self.dropout < 1.0 or not self.weight_decay >= 0:
            raise BadConfig(f"dropout must lie in [0, 1) and weight_decay be 0 or more, got "
                            f"{self.dropout}, {self.weight_decay}")


class DequantizedFlow(FlowModel):
    """A flow over dequantized images; subclasses set ``model_name`` and build ``self.flow``."""

    model_name = "flow"  # in messages: "the realnvp models discrete images ..."
    bound_name = "dequant"  # "vardeq" on an instance with variational dequantization
    eval_seed = 0  # log_prob's fixed noise seed: the same x always gets the same bound
    chunk_values = 2 ** 21  # a bound's pass handles samples x images x dims <= this

    def __init__(self, config: FlowConfig, data):
        super().__init__(config, data)
        if (data.kind != "image" or data.levels is None or data.levels < 2
                or len(data.shape) != 3 or math.prod(data.shape) < 2):
            raise BadData(f"the {self.model_name} models discrete images (C, H, W) with 2 or more "
                          f"levels and 2 or more values; got {data.kind} data of shape "
                          f"{tuple(data.shape)}")
        self.levels = data.levels
        self.scales = resolve_scales(self.model_name, config.scales, data.shape)
        self.logit = LogitTransform(data.levels, config.logit_alpha)
        if config.dequantization == "variational":
            self.dequantizer = VariationalDequantizer(data.shape, data.levels, config.deq_hidden,
                                                      config.deq_couplings)
            self.bound_name = "vardeq"
        else:
            self.dequantizer = UniformDequantizer()

    @property
    def latent_shape(self) -> tuple[int, ...]:
        return (self.data.dims,)

    def _check(self, x: torch.Tensor) -> None:
        check_image_batch(x, self.data.shape, self.levels, self.model_name)

    # -- the density of v = x + u, and the bounds on P(x) -----------------------------------

    def continuous_log_density(self, v: torch.Tensor) -> torch.Tensor:
        """log p(v) = log N(f(w)) + log |det df/dw| + log |det dw/dv|, v (N, C, H, W) in level
        units: (N,) nats."""
        if tuple(v.shape[1:]) != tuple(self.data.shape):
            raise BadData(f"the {self.model_name} was built for images of shape "
                          f"{tuple(self.data.shape)}, got values of shape {tuple(v.shape)}")
        w, logdet_logit = self.logit.forward(v)
        z, logdet_flow = self.flow(w)
        return standard_normal_log_prob(z) + logdet_flow + logdet_logit

    def log_weights(self, x: torch.Tensor, k: int, generator: torch.Generator | None = None,
                    dequantizer=None) -> torch.Tensor:
        """log p(x + u_k) - log q(u_k|x) for k draws u_k ~ q(u|x) per image: (k, N)."""
        dequantizer = dequantizer if dequantizer is not None else self.dequantizer
        u, log_q = dequantizer.sample(x, k, generator)  # (k*N, C, H, W), (k*N,)
        v = x.repeat(k, 1, 1, 1).to(u.dtype) + u
        return (self.continuous_log_density(v) - log_q).view(k, len(x))

    def _chunks(self, x: torch.Tensor, k: int):
        per_pass = max(1, self.chunk_values // max(len(x) * self.data.dims, 1))
        return [min(per_pass, k - start) for start in range(0, k, per_pass)]

    def _eval_generator(self) -> torch.Generator:
        return torch.Generator(device=self.device).manual_seed(self.eval_seed)

    def loss(self, batch: torch.Tensor) -> dict[str, torch.Tensor]:
        """-E_q[log p(x + u) - log q(u|x)] / D with one u per image (nats per dimension)."""
        self._check(batch)
        u, log_q = self.dequantizer.sample(batch, 1)
        log_p = self.continuous_log_density(batch.to(u.dtype) + u)
        bound = (log_p - log_q).mean()
        dims = self.data.dims
        parts = {"loss": -bound / dims, "bits_per_dim": -bound.detach() / (dims * math.log(2))}
        if isinstance(self.dequantizer, VariationalDequantizer):
            parts.update(log_p_v=log_p.mean().detach(), log_q_u=log_q.mean().detach())
        return parts

    @torch.no_grad()
    def log_prob(self, x: torch.Tensor, dequantizer=None) -> torch.Tensor:
        """The dequantization bound in nats per image, (N,): E_q[log p(x + u) - log q(u|x)]
        averaged over ``bound_samples`` draws of u from a generator seeded with ``eval_seed``
        at every call, so the same batch always gets the same number."""
        self._check(x)
        generator, k = self._eval_generator(), self.config.bound_samples
        total = torch.cat([self.log_weights(x, size, generator, dequantizer)
                           for size in self._chunks(x, k)])  # (k, N)
        return total.mean(0)

    @torch.no_grad()
    def iwae_log_prob(self, x: torch.Tensor, k: int,
                      generator: torch.Generator | None = None) -> torch.Tensor:
        """log 1/K sum_k p(x + u_k) / q(u_k|x), u_k ~ q(u|x): (N,) nats; K = 1 is the plain
        bound, and it grows toward log P(x) with K (Burda et al. 2016). Chunked over samples;
        ``generator=None`` uses the fixed ``eval_seed``."""
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise BadConfig(f"the IWAE bound needs K >= 1 importance samples, got {k!r}")
        self._check(x)
        generator = generator if generator is not None else self._eval_generator()
        parts = [torch.logsumexp(self.log_weights(x, size, generator), 0)
                 for size in self._chunks(x, k)]  # (N,) each
        return torch.logsumexp(torch.stack(parts), 0) - math.log(k)

    # -- fit: actnorm's data-dependent initialization ------------------------------------------

    @torch.no_grad()
    def fit(self, train: torch.Tensor) -> bool:
        """Set every actnorm from the first ``INIT_IMAGES`` training images (uniform noise of
        a fixed seed); layers already set (a reloaded checkpoint) are left alone."""
        batch = train[:INIT_IMAGES].to(self.device)
        generator = torch.Generator(device=self.device).manual_seed(self.eval_seed)
        u = torch.rand(batch.shape, generator=generator, device=self.device)
        self.continuous_log_density(batch.float() + u)
        return False

    def configure_optimizers(self) -> list[torch.optim.Optimizer]:
        return [torch.optim.AdamW(self.parameters(), lr=self.config.lr,
                                  weight_decay=self.config.weight_decay)]

    # -- sampling and the code z ----------------------------------------------------------------

    def _to_levels(self, z: torch.Tensor) -> torch.Tensor:
        """v = f^{-1}(z) in level units: (N, D) -> (N, C, H, W)."""
        w = self.flow.inverse(z.view(len(z), -1))
        return torch.nan_to_num(self.logit.inverse(w), nan=0.0)

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None,
               temperature: float = 1.0) -> torch.Tensor:
        """z ~ N(0, T^2 I), v = f^{-1}(z), x = floor(v) in [0, L-1]: one inverse pass, int64."""
        temperature = check_temperature(temperature)
        device = generator.device if generator is not None else self.device
        z = torch.randn(n, self.data.dims, generator=generator, device=device) * temperature
        v = self._to_levels(z.to(self.device))
        return v.floor().clamp(0, self.levels - 1).long()

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """z = f(x + 1/2), the code of each bin's centre: (N, C, H, W) -> (N, D)."""
        self._check(x)
        w, _ = self.logit.forward(x.float() + 0.5)
        return self.flow(w)[0]

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """f^{-1}(z) - 1/2 (the level whose bin centre it is), floats (N, C, H, W) clamped to
        [0, L-1], not rounded: decode(encode(x)) = x."""
        v = self._to_levels(z.to(self.device).float())
        return (v - 0.5).clamp(0, self.levels - 1)

    def info(self) -> dict:
        return {"scales": self.scales, "dequantization": self.dequantizer.kind,
                "bound": self.bound_name, "logit_alpha": self.config.logit_alpha,
                "latent_dim": self.data.dims,
                "factored_out": [list(s) for s in self.flow.part_shapes[:-1]],
                "last_scale": list(self.flow.part_shapes[-1])}
