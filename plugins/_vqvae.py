"""VQ-VAE: a discrete latent grid learned by nearest-neighbour quantization, and a PixelCNN prior.

van den Oord, Vinyals & Kavukcuoglu, "Neural Discrete Representation Learning", NeurIPS 2017.

An encoder maps an image x to a grid of vectors z_e(x) (h x w positions, D dimensions each). A
codebook e_1..e_K in R^D replaces each vector by its nearest code (sec. 3.1):

    k = argmin_j ||z_e(x) - e_j||_2 ,      z_q(x) = e_k

so q(z = k | x) is one-hot (deterministic). A decoder gives p(x | z_q(x)), here a discrete
distribution over the dataset's levels per pixel (`PixelLikelihood`), so it is in the common
unit. argmin has no gradient; the straight-through estimator copies the decoder's gradient
from z_q to z_e: z_q = z_e + sg[e_k - z_e]. The loss has three terms (eq. 3):

    L = -log p(x | z_q(x)) + ||sg[z_e(x)] - e||^2 + beta ||z_e(x) - sg[e]||^2

the reconstruction (trains encoder and decoder), the codebook term (moves codes toward the
encoder outputs assigned to them) and the commitment term (keeps the encoder close to its
codes). With ``ema=True`` the codebook term is replaced by exponential moving averages
(appendix A.1; Razavi et al. 2019): N_k <- g N_k + (1-g) n_k, m_k <- g m_k + (1-g) sum z_e,
e_k <- m_k / N_k.

Stage two fits an autoregressive prior p(z) over the code grid, the project's PixelCNN. With a
one-hot posterior the ELBO is log p(x | z_q(x)) + log p(z_q(x)) (see `VQVAEPrior.log_prob`);
before the prior exists there is no bound to report, and the VQ-VAE alone says so.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from genzoo.plugins._pixelcnn import (
    CachedStepper,
    MaskedConv2d,
    PixelCNN,
    PixelCNNConfig,
    _step_ops,
    _Window,
    _windows,
)
from genzoo.registry import DataInfo, GenerativeModel, ModelConfig
from genzoo.registry.config import bounded, build_config
from genzoo.registry.distributions import DECODERS, PixelLikelihood
from genzoo.registry.errors import BadConfig, BadData, GenzooError
from genzoo.registry.latent import LatentVariableModel

DOWNSAMPLES = (1, 2, 4)
NO_BOUND = ("the VQ-VAE alone has no likelihood bound: it needs a prior over its codes; train one "
            "with `genzoo train vqvae-prior --parent RUN_ID`")


@dataclass
class VQVAEConfig(ModelConfig):
    """The paper's VQ-VAE, scaled to small images (digits 8x8 -> a 4x4 grid of codes).

    Defaults are sized for digits on one CPU core (the paper: K=512, D=64, 256 maps) and chosen
    on digits' validation split (docs/benchmarks.md, "Defaults chosen on validation"): with
    1,293 training images, codes that carry more (K=8, 16, or a finer grid) reconstruct better
    but make the prior over them overfit, so the held-out bound gets worse, not better; K=4 with
    decoder dropout 0.3 had the lowest validation bound after 2,000 + 2,000 steps (2 seeds).
    """

    codebook_size: int = bounded(4, 2, 16_384)  # K
    code_dim: int = bounded(16, 1, 1024)  # D, the size of each code vector
    hidden: int = bounded(32, 1, 1024)  # feature maps of encoder and decoder
    # f: the code grid is (ceil(H/f), ceil(W/f)); the image is padded
    downsample: int = field(default=2, metadata={"choices": DOWNSAMPLES})
    beta: float = bounded(0.25, 0.0, 1000.0)  # commitment weight (the paper's value)
    ema: bool = False  # codebook by moving averages instead of the codebook loss
    ema_decay: float = bounded(0.99, 0.0, 1.0)
    restart_dead: bool = True  # re-initialize codes unused for `restart_after` steps
    restart_after: int = bounded(20, 1, 1_000_000)
    # categorical over levels (Bernoulli on binary data)
    decoder: str = field(default="auto", metadata={"choices": DECODERS})
    # in the decoder's residual blocks (small data sets overfit)
    dropout: float = bounded(0.3, 0.0, 1.0)
    lr: float = bounded(1e-3, 1e-6, 1.0)  # ModelConfig's default, bounded

    def validate(self):
        if self.codebook_size < 2:
            raise BadConfig(f"codebook_size must be at least 2, got {self.codebook_size}")
        for name in ("code_dim", "hidden", "restart_after"):
            if getattr(self, name) < 1:
                raise BadConfig(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.downsample not in DOWNSAMPLES:
            raise BadConfig(f"downsample must be one of {', '.join(map(str, DOWNSAMPLES))}, "
                            f"got {self.downsample}")
        if not self.beta >= 0:
            raise BadConfig(f"beta must be 0 or more, got {self.beta}")
        if not 0.0 < self.ema_decay < 1.0:
            raise BadConfig(f"ema_decay must be in (0, 1), got {self.ema_decay}")
        if not 0.0 <= self.dropout < 1.0:
            raise BadConfig(f"dropout must be in [0, 1), got {self.dropout}")
        if self.decoder not in DECODERS:
            raise BadConfig(f"decoder must be one of {', '.join(DECODERS)}, got {self.decoder!r}")


class ResBlock(nn.Module):
    """The paper's residual block: x + conv1x1(ReLU(conv3x3(ReLU(x)))), optional dropout."""

    def __init__(self, hidden: int, dropout: float = 0.0):
        super().__init__()
        self.net = nn.Sequential(nn.ReLU(), nn.Conv2d(hidden, hidden, 3, padding=1),
                                 nn.ReLU(), nn.Dropout(dropout), nn.Conv2d(hidden, hidden, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.net(x)


def encoder(channels: int, hidden: int, code_dim: int, downsample: int) -> nn.Sequential:
    """log2(f) strided 4x4 convolutions, a 3x3 one, two residual blocks, 1x1 to D."""
    layers, width = [], channels
    for _ in range(int(math.log2(downsample))):
        layers += [nn.Conv2d(width, hidden, 4, stride=2, padding=1), nn.ReLU()]  # halves H, W
        width = hidden
    layers += [nn.Conv2d(width, hidden, 3, padding=1), ResBlock(hidden), ResBlock(hidden),
               nn.ReLU(), nn.Conv2d(hidden, code_dim, 1)]
    return nn.Sequential(*layers)


def decoder(code_dim: int, hidden: int, n_params: int, downsample: int,
            dropout: float = 0.0) -> nn.Sequential:
    """The mirror image: 3x3, two residual blocks, log2(f) transposed 4x4 convolutions."""
    layers = [nn.Conv2d(code_dim, hidden, 3, padding=1), ResBlock(hidden, dropout),
              ResBlock(hidden, dropout)]
    for _ in range(int(math.log2(downsample))):
        layers += [nn.ReLU(), nn.ConvTranspose2d(hidden, hidden, 4, stride=2, padding=1)]
    layers += [nn.ReLU(), nn.Conv2d(hidden, n_params, 1)]
    return nn.Sequential(*layers)


def perplexity(codes: torch.Tensor, size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """exp(H) of the codes' frequencies (1: one code used, K: all used equally), and the share
    of the K codes used at all."""
    p = torch.bincount(codes.flatten(), minlength=size).float() / codes.numel()
    entropy = -(p * p.clamp_min(1e-12).log()).sum()
    return entropy.exp(), (p > 0).float().mean()


class VQVAE(LatentVariableModel):
    """Encoder -> nearest code -> decoder; the prior over codes is a separate model.

    Buffers (saved in checkpoints, so a resumed run continues exactly): ``ema_count`` and
    ``ema_sum`` (the moving averages N_k, m_k), ``idle`` (training steps since each code was
    last chosen) and ``restarts``.
    """

    latent_kind = "discrete"
    bound_available = False  # log p(x) needs p(z): see VQVAEPrior
    bound_missing_reason = NO_BOUND

    def __init__(self, config: VQVAEConfig, data: DataInfo):
        super().__init__(config, data)
        if data.kind != "image" or data.levels is None or data.levels < 2:
            raise BadData("the VQ-VAE models discrete images with 2 or more levels")
        channels, height, width = data.shape
        f, K, D = config.downsample, config.codebook_size, config.code_dim
        self.codebook_size, self.levels = K, data.levels
        self.grid = (math.ceil(height / f), math.ceil(width / f))
        self.likelihood = PixelLikelihood(config.decoder, channels, data.levels)
        self.encoder = encoder(channels, config.hidden, D, f)
        self.decoder = decoder(D, config.hidden, self.likelihood.n_params, f, config.dropout)
        self.codebook = nn.Parameter(torch.empty(K, D).uniform_(-1.0 / K, 1.0 / K))
        self.codebook.requires_grad_(not config.ema)  # EMA updates it without gradients
        self.register_buffer("ema_count", torch.ones(K))
        self.register_buffer("ema_sum", self.codebook.detach().clone())
        self.register_buffer("idle", torch.zeros(K, dtype=torch.int64))
        self.register_buffer("restarts", torch.zeros((), dtype=torch.int64))
        self._assigned = None  # (z_e rows, codes) of the last loss() call, for training_step

    @property
    def latent_shape(self) -> tuple[int, ...]:
        """(h, w), the code grid: ceil(H / f) x ceil(W / f)."""
        return self.grid

    # -- the three stages: encode, quantize, decode ------------------------------------------

    def encode_continuous(self, x: torch.Tensor) -> torch.Tensor:
        """z_e(x): (N, C, H, W) levels -> (N, D, h, w), the image padded up to a multiple of f."""
        f = self.config.downsample
        scaled = x.float() * (2.0 / (self.levels - 1)) - 1.0  # levels -> [-1, 1]
        height, width = self.grid
        scaled = F.pad(scaled, (0, width * f - x.shape[3], 0, height * f - x.shape[2]))
        return self.encoder(scaled)

    def quantize(self, z_e: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """k = argmin_j ||z_e - e_j||^2 at every position: codes (N, h, w) and e_k (N, D, h, w).

        The squared distance is expanded as ||z||^2 - 2 z.e_j + ||e_j||^2 (one matrix product).
        """
        n, dim, height, width = z_e.shape
        flat = z_e.movedim(1, -1).reshape(-1, dim)  # (N*h*w, D)
        distances = (flat.pow(2).sum(1, keepdim=True) - 2 * flat @ self.codebook.t()
                     + self.codebook.pow(2).sum(1))  # (N*h*w, K)
        codes = distances.argmin(1)
        e = self.codebook[codes].view(n, height, width, dim).movedim(-1, 1)
        return codes.view(n, height, width), e

    def decode_params(self, z_q: torch.Tensor) -> torch.Tensor:
        """Decoder: code vectors (N, D, h, w) or indices (N, h, w) -> PixelLikelihood params
        (N, P, H, W), cropped back to the image size."""
        if z_q.dtype == torch.int64:
            z_q = self.codebook[z_q].movedim(-1, 1)  # (N, h, w) -> (N, D, h, w)
        _, height, width = self.data.shape
        return self.decoder(z_q)[:, :, :height, :width]

    def reconstruction_log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """log p(x | z_q(x)) in nats per image: (N,)."""
        codes, _ = self.quantize(self.encode_continuous(x))
        return self.likelihood.log_prob(self.decode_params(codes), x)

    # -- the contract --------------------------------------------------------------------------

    def loss(self, batch: torch.Tensor) -> dict[str, torch.Tensor]:
        """Eq. 3 per image: recon/n_dims + ||sg[z_e] - e||^2 + beta ||z_e - sg[e]||^2.

        The squared distances are means over positions and code dimensions, the reconstruction
        is in nats per data dimension, so the terms keep their relative weight on any image
        size. With ``ema`` the codebook term is logged but not optimized (it has no gradient).
        """
        z_e = self.encode_continuous(batch)  # (N, D, h, w)
        codes, e = self.quantize(z_e)
        z_q = z_e + (e - z_e).detach()  # straight-through: forward e, backward identity to z_e
        recon = -self.likelihood.log_prob(self.decode_params(z_q), batch).mean()  # nats/image
        codebook = F.mse_loss(e, z_e.detach())  # moves the codes only
        commitment = F.mse_loss(z_e, e.detach())  # moves the encoder only
        n_dims = self.data.dims
        loss = recon / n_dims + self.config.beta * commitment
        if not self.config.ema:
            loss = loss + codebook
        # what training_step needs for EMA and restarts, from this very pass
        self._assigned = (z_e.detach().movedim(1, -1).reshape(-1, z_e.shape[1]), codes.flatten())
        used_perplexity, usage = perplexity(codes, self.codebook_size)
        return {"loss": loss, "recon": recon, "codebook": codebook, "commitment": commitment,
                "perplexity": used_perplexity, "usage": usage,
                # the reconstruction term alone, not a bound: the prior's term comes in stage two
                "recon_bits_per_dim": recon.detach() / (n_dims * math.log(2))}

    def training_step(self, batch, optimizers, **context) -> dict[str, float]:
        """The gradient step, then the codebook's own updates from the same batch: the moving
        averages (``ema``) and the restart of dead codes (``restart_dead``)."""
        logged = super().training_step(batch, optimizers, **context)
        flat, codes = self._assigned
        self._assigned = None
        if self.config.ema:
            self.ema_update(flat, codes)
        if self.config.restart_dead:
            self.restart_dead_codes(flat, codes, optimizers)
        return logged

    @torch.no_grad()
    def ema_update(self, flat: torch.Tensor, codes: torch.Tensor) -> None:
        """N_k <- g N_k + (1-g) n_k;  m_k <- g m_k + (1-g) sum_{z assigned to k} z;  e_k <- m_k/N_k.

        N is Laplace-smoothed before the division (Sonnet's rule), so an unused code keeps a
        finite position instead of dividing by a vanishing count.
        """
        g, K = self.config.ema_decay, self.codebook_size
        onehot = F.one_hot(codes, K).to(flat.dtype)  # (M, K)
        self.ema_count.mul_(g).add_(onehot.sum(0), alpha=1 - g)
        self.ema_sum.mul_(g).add_(onehot.t() @ flat, alpha=1 - g)
        total, eps = self.ema_count.sum(), 1e-5
        smoothed = (self.ema_count + eps) / (total + K * eps) * total
        self.codebook.copy_(self.ema_sum / smoothed[:, None])

    @torch.no_grad()
    def restart_dead_codes(self, flat: torch.Tensor, codes: torch.Tensor,
                           optimizers=()) -> torch.Tensor:
        """Codes no position chose for ``restart_after`` consecutive training steps are dead:
        each is moved onto an encoder output of the current batch, drawn uniformly (from
        torch's global generator, so a seeded run restarts the same way), its idle count,
        moving averages and Adam moments reset. Returns the restarted indices."""
        used = torch.bincount(codes, minlength=self.codebook_size) > 0
        self.idle.add_(1).masked_fill_(used, 0)
        dead = torch.nonzero(self.idle >= self.config.restart_after).flatten()
        if len(dead) == 0:
            return dead
        picks = flat[torch.randint(len(flat), (len(dead),), device=flat.device)]
        self.codebook[dead] = picks
        self.ema_sum[dead], self.ema_count[dead] = picks, 1.0
        self.idle[dead] = 0
        self.restarts += len(dead)
        for optimizer in optimizers:
            for moment in optimizer.state.get(self.codebook, {}).values():
                if torch.is_tensor(moment) and moment.shape == self.codebook.shape:
                    moment[dead] = 0.0
        return dead

    @torch.no_grad()
    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Code indices of images: (N, C, H, W) -> (N, h, w) int64."""
        return self.quantize(self.encode_continuous(x))[0]

    @torch.no_grad()
    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """The decoder's mean image of code indices (N, h, w): floats in [0, levels - 1]."""
        return self.likelihood.mean(self.decode_params(z))

    @torch.no_grad()
    def sample_given_codes(self, codes: torch.Tensor,
                           generator: torch.Generator | None = None) -> torch.Tensor:
        """x ~ p(x | z_q) for code indices (N, h, w): int64 levels (N, C, H, W)."""
        return self.likelihood.sample(self.decode_params(codes.to(self.device)), generator)

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """Without a prior the codes are drawn uniformly (the untrained prior's draw, not the
        data's), then x ~ p(x | z_q): a real draw, but rarely a digit. `vqvae-prior` samples
        codes from a PixelCNN fitted to them."""
        device = generator.device if generator is not None else "cpu"
        codes = torch.randint(self.codebook_size, (n, *self.grid), generator=generator,
                              device=device)
        return self.sample_given_codes(codes, generator)

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """Not available: log p(x) >= log p(x | z_q) + log p(z_q) needs the prior p(z)."""
        raise GenzooError(NO_BOUND)

    def info(self) -> dict:
        """The code grid, K, codes no position chose at the last step, restarts so far."""
        return {"code_grid": list(self.grid), "codebook_size": self.codebook_size,
                "codes_idle_now": int((self.idle > 0).sum()), "codes_restarted": int(self.restarts)}


# -- stage two: a PixelCNN prior over the code grid ---------------------------------------------


@dataclass
class VQVAEPriorConfig(ModelConfig):
    """The prior's PixelCNN, and the VQ-VAE run it is fitted to (filled in by ``--parent``)."""

    parent_run: str = ""
    parent_config: str = ""  # the VQ-VAE's config as JSON; empty = VQVAEConfig's defaults
    # Small and regularized: on digits' 4x4 grids a bigger prior (32 maps, 2+ blocks) is ahead
    # after ~700 steps, then overfits and ends worse within the 60 s budget.
    hidden: int = bounded(16, 1, 1024)
    layers: int = bounded(1, 1, 64)
    # 5x5 mask A, then the residual block's masked 3x3: on a 4x4 grid they see every earlier
    # code except, for the 3 codes that start a row ((1,0), (2,0), (3,0)), the last code of
    # the row above, 3 columns right (PixelCNN's blind spot; measured in test_vqvae.py)
    first_kernel: int = bounded(5, 3, 15)
    # chosen on validation (docs/benchmarks.md); 0.5 is 0.003 behind
    dropout: float = bounded(0.3, 0.0, 1.0)
    # how codes enter the PixelCNN: onehot | ordinal (k scaled)
    code_input: str = field(default="onehot", metadata={"choices": ("onehot", "ordinal")})
    lr: float = bounded(1e-3, 1e-6, 1.0)

    def parent(self) -> VQVAEConfig:
        """The parent VQ-VAE's config, checked."""
        try:
            values = json.loads(self.parent_config) if self.parent_config else {}
        except json.JSONDecodeError as exc:
            raise BadConfig(f"parent_config must be the VQ-VAE's config as JSON: {exc}") from None
        if not isinstance(values, dict):
            raise BadConfig(f"parent_config must be a JSON object, got {self.parent_config!r}")
        return build_config(VQVAEConfig, values, stored=True)

    def pixelcnn(self) -> PixelCNNConfig:
        """The prior's own PixelCNN config."""
        return PixelCNNConfig(hidden=self.hidden, layers=self.layers, lr=self.lr,
                              first_kernel=self.first_kernel, dropout=self.dropout)

    def validate(self):
        self.parent()
        self.pixelcnn().validate()
        if self.code_input not in ("onehot", "ordinal"):
            raise BadConfig(f"code_input must be 'onehot' or 'ordinal', got {self.code_input!r}")


class CodePixelCNN(PixelCNN):
    """The project's PixelCNN over a grid of K-valued codes, optionally read as one-hot vectors.

    A code index has no order (code 5 is not 'between' 4 and 6), so the paper's prior embeds
    codes; a one-hot input into the first masked convolution is exactly a learned embedding per
    kernel tap. Masks, residual blocks and the softmax over K are PixelCNN's own.
    """

    def __init__(self, config: PixelCNNConfig, data: DataInfo, onehot: bool = True):
        super().__init__(config, data)
        self.onehot = onehot
        if onehot:
            self.net[0] = MaskedConv2d("A", data.levels, 2 * config.hidden, config.first_kernel)

    def scale(self, x: torch.Tensor) -> torch.Tensor:
        """Codes (N, 1, h, w) -> one-hot (N, K, h, w), or PixelCNN's ordinal scaling."""
        if not self.onehot:
            return super().scale(x)
        return F.one_hot(x[:, 0], self.levels).movedim(-1, 1).float()

    def cached_stepper(self, n: int, labels=None):
        """PixelCNN's fast sampler; with one-hot input, one that caches one-hot codes."""
        if not self.onehot:
            return super().cached_stepper(n, labels)
        _, height, width = self.data.shape
        first, *rest = self.net
        ops = _step_ops(rest, n, height, width)
        return None if ops is None else _OneHotStepper(
            self, n, _Window(first, n, height, width), ops)


class _OneHotStepper(CachedStepper):
    """PixelCNN's cached sampler, but a drawn code enters the image cache as one-hot."""

    def __init__(self, model: CodePixelCNN, n: int, first: _Window, ops: list):
        self.model, self.n, self.first, self.ops = model, n, first, ops
        self.windows = [first, *_windows(ops)]
        self.next = 0

    def params_at(self, x: torch.Tensor, row: int, col: int) -> torch.Tensor:
        """(N, K) logits of code (row, col), given that x is final before it."""
        width = self.model.data.shape[2]
        index = row * width + col
        if index == 0:
            for window in self.windows:
                window.cache.zero_()
        elif index != self.next:
            raise BadData(f"the cached stepper visits codes in raster order: expected "
                          f"{divmod(self.next, width)} next, got {(row, col)}")
        self.next = index + 1
        if index > 0:  # the previous code has been drawn: the first layer may now see it
            prev_row, prev_col = divmod(index - 1, width)
            self.first.slots[prev_col].copy_(
                F.one_hot(x[:, 0, prev_row, prev_col], self.model.levels))
        h = self.first.step(None, row, col)
        for op in self.ops:
            h = op.step(h, row, col)
        return h


class OnFrozenVQVAE:
    """Mixin of a second stage built on a trained VQ-VAE (the prior over its codes, CodeFormer):
    ``self.vqvae`` is a frozen copy of the parent run's VQ-VAE that stays in eval mode while the
    rest trains. Put it before the model's base class."""

    def train(self, mode: bool = True):
        """The second stage trains; the VQ-VAE stays frozen in eval mode."""
        super().train(mode)
        self.vqvae.eval()
        return self

    def copy_parent_vqvae(self, parent: GenerativeModel, stage: str) -> None:
        """Copy the trained VQ-VAE's weights (codebook and buffers included) into ``vqvae``; a
        one-line error names ``stage`` when the parent is no VQ-VAE or does not fit."""
        if not isinstance(parent, VQVAE):
            raise GenzooError(f"{stage} builds on a vqvae run, got a {type(parent).__name__}")
        try:
            self.vqvae.load_state_dict(parent.state_dict())
        except RuntimeError:
            raise GenzooError("the parent VQ-VAE does not match parent_config (different "
                              "codebook or layer sizes)") from None


class VQVAEPrior(OnFrozenVQVAE, GenerativeModel):
    """A frozen VQ-VAE and a PixelCNN prior p(z) over its code grid: a full generative model."""

    bound_name = "elbo"

    def __init__(self, config: VQVAEPriorConfig, data: DataInfo):
        super().__init__(config, data)
        self.vqvae = VQVAE(config.parent(), data)
        self.vqvae.requires_grad_(False)
        K, (height, width) = self.vqvae.codebook_size, self.vqvae.latent_shape
        codes = DataInfo(kind="image", shape=(1, height, width), levels=K)
        self.prior = CodePixelCNN(config.pixelcnn(), codes, onehot=config.code_input == "onehot")
        self.train()

    def attach_parent(self, parent: GenerativeModel) -> None:
        """Copy the trained VQ-VAE's weights (codebook and buffers included) into ``vqvae``."""
        self.copy_parent_vqvae(parent, "vqvae-prior")

    def configure_optimizers(self) -> list[torch.optim.Optimizer]:
        """Adam over the prior's parameters only: the VQ-VAE is frozen."""
        return [torch.optim.Adam(self.prior.parameters(), lr=self.config.lr)]

    def loss(self, batch: torch.Tensor) -> dict[str, torch.Tensor]:
        """The prior's negative log-likelihood of the batch's codes (nats per code), and the
        whole bound in bits per data dimension for the log."""
        codes = self.vqvae.encode(batch)[:, None]  # (N, 1, h, w), no gradient
        parts = self.prior.loss(codes)
        with torch.no_grad():
            recon = self.vqvae.likelihood.log_prob(self.vqvae.decode_params(codes[:, 0]), batch)
            prior_nats = parts["loss"].detach() * codes[0].numel()
            bound = (prior_nats - recon.mean()) / (self.data.dims * math.log(2))
        return {"loss": parts["loss"], "prior_bits_per_code": parts["bits_per_dim"],
                "bits_per_dim": bound}

    @torch.no_grad()
    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """The ELBO, in nats per image: log p(x | z_q(x)) + log p(z_q(x)).

        The posterior q(z | x) puts all its mass on the grid of nearest codes z_q(x), so

            ELBO = E_q[log p(x | z)] - KL(q(z | x) || p(z))
                 = log p(x | z_q(x)) - (log 1 - log p(z_q(x)))    (q's entropy is 0)

        which is also log p(x, z_q(x)) <= log sum_z p(x, z) = log p(x): a bound, never above.
        """
        codes = self.vqvae.encode(x)  # (N, h, w)
        recon = self.vqvae.likelihood.log_prob(self.vqvae.decode_params(codes), x)
        return recon + self.prior.log_prob(codes[:, None])

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """z ~ p(z), code by code in raster order (PixelCNN), then x ~ p(x | z_q)."""
        codes = self.prior.sample(n, generator)  # (n, 1, h, w)
        return self.vqvae.sample_given_codes(codes[:, 0], generator)

    def info(self) -> dict:
        """The parent run and its VQ-VAE's facts."""
        return {"parent_run": self.config.parent_run, **self.vqvae.info()}


_PAPER = "van den Oord, Vinyals & Kavukcuoglu 2017, Neural Discrete Representation Learning"
