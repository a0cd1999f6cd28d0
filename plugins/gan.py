"""GAN: a generator and a discriminator trained against each other; an implicit density model.

Goodfellow et al., "Generative Adversarial Nets", NeurIPS 2014; the convolutional architecture of
Radford, Metz & Chintala, "Unsupervised Representation Learning with Deep Convolutional
Generative Adversarial Networks" (DCGAN), ICLR 2016.

A generator G maps noise z ~ p(z) = N(0, I) to an image G(z); a discriminator D(x) in (0, 1) is
the probability that x came from the data rather than from G. The two play the minimax game
(Goodfellow et al., eq. 1)

    min_G max_D  V(D, G) = E_{x ~ p_data}[log D(x)] + E_{z ~ p(z)}[log(1 - D(G(z)))]

whose optimum for a fixed G is D*(x) = p_data(x) / (p_data(x) + p_G(x)); at that D the game is
2 JS(p_data || p_G) - log 4, minimized exactly when p_G = p_data. Early in training
log(1 - D(G(z))) saturates (D rejects every sample and its gradient for G vanishes), so G
minimizes the non-saturating loss instead (sec. 3). Here, per batch, D takes ``d_steps`` steps on

    L_D = -log D(x) - log(1 - D(G(z)))      (binary cross-entropy: real -> 1, fake -> 0)

and then G one step on

    L_G = -log D(G(z))                      (binary cross-entropy: fake -> 1)

both computed from D's logits with ``F.binary_cross_entropy_with_logits`` (no log of 0), each
player with its own Adam (lr 2e-4, betas (0.5, 0.999): DCGAN's values; lr 2e-3 for the MLPs).
The logged ``loss`` is the sum L_D + L_G: neither player's loss measures sample quality, and at
the game's equilibrium (D = 1/2 everywhere) the sum is 3 log 2 ~ 2.08. ``d_real`` and
``d_fake`` are the mean D(x) and D(G(z)) before D's step.

The model is implicit: it samples without ever writing p(x) down, so ``log_prob`` refuses. For
a number in bits/dim anyway, ``genzoo.registry.parzen`` fits a Parzen window to its samples:
an estimate, biased and unreliable in high dimensions, never comparable to exact numbers.

Data are integer levels 0..L-1; D sees them scaled to [-1, 1] (the range of G's tanh), level k
at 2k/(L-1) - 1, and ``sample`` rounds G's output back to the nearest level. ``dequantize=true``
adds uniform noise of one level's width to real images, so that D cannot tell real from fake by
whether a value sits exactly on the grid; measured, it does not help (see ``GANConfig``), so it
is off by default.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from genzoo.registry import Claim, GenerativeModel, ModelConfig, ModelSpec, hookimpl
from genzoo.registry.config import bounded
from genzoo.registry.errors import BadConfig, BadData, GenzooError
from genzoo.registry.model import check_image_batch

ARCHS = ("auto", "dcgan", "mlp")
DEFAULT_LR = {"dcgan": 2e-4, "mlp": 2e-3}  # measured: see GANConfig
NO_DENSITY = ("the gan is an implicit model: it defines no density p(x), so it has no log_prob "
              "or bits/dim; for a sample-based estimate use the Parzen window "
              "(genzoo.registry.parzen.parzen_estimate), which is biased and not comparable to "
              "exact likelihoods")


class NoDensity(GenzooError):
    """An implicit model was asked for log p(x), which it does not define."""


@dataclass
class GANConfig(ModelConfig):
    """DCGAN's optimizer settings; networks sized for small images on a CPU."""

    # Measured on digits, 2 minutes on one shared CPU core (Frechet distance in the reference
    # classifier's features; real images score 4.9): channels=64 got ~1,000 steps and FD 183
    # (blobs); channels=32 gets 1,800-5,400 steps and FD 13-22 (digits, all 10 classes).
    # Dequantizing real images did not help: FD 20.2 / 22.5 with it, 17.1 / 19.8 without (3,000
    # steps, two seeds); on 8-gaussians, 71% of samples near a mode with it, 85% without. It
    # helped only where modes are a grid point or two wide (std 0.6 levels: 67% vs 45%).
    # On 2-d toy sets (arch=mlp) lr=2e-4 collapses onto 1 of the 8 gaussians in 3,000 steps
    # (and spreads between them, 17% near a mode, after 8,000); lr=2e-3 puts 85% of samples
    # near a mode and covers all 8 in 3,000 steps: hence a default lr per architecture.
    latent_dim: int = bounded(32, 1, 1024)  # dimensions of z ~ N(0, I)
    # dcgan | mlp | auto (mlp for images of 16 pixels or fewer: 2-d points)
    arch: str = field(default="auto", metadata={"choices": ARCHS})
    # feature maps of the conv nets at half resolution (arch=dcgan)
    channels: int = bounded(32, 1, 1024)
    hidden: int = bounded(256, 1, 2048)  # width of the MLPs' hidden layers (arch=mlp)
    d_steps: int = bounded(1, 1, 100)  # discriminator steps per generator step
    dequantize: bool = False  # add U(-1/2, 1/2) of a level to real images before D sees them
    # None: 2e-4 for dcgan (DCGAN's value), 2e-3 for mlp
    lr: float | None = bounded(None, 1e-6, 1.0)
    # Adam's betas (DCGAN: 0.5 steadies the adversarial updates)
    beta1: float = bounded(0.5, 0.0, 1.0)
    beta2: float = bounded(0.999, 0.0, 1.0)

    def validate(self):
        for name in ("latent_dim", "channels", "hidden", "d_steps"):
            if getattr(self, name) < 1:
                raise BadConfig(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.arch not in ARCHS:
            raise BadConfig(f"arch must be one of {', '.join(ARCHS)}, got {self.arch!r}")
        for name in ("beta1", "beta2"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise BadConfig(f"{name} must lie in [0, 1), got {getattr(self, name)}")


def resolve_arch(arch: str, shape: tuple[int, int, int]) -> str:
    """``auto`` is ``mlp`` for tiny images (H*W <= 16, e.g. a 2-d point as a 1x2 image)."""
    if arch != "auto":
        return arch
    return "mlp" if shape[1] * shape[2] <= 16 else "dcgan"


def mlp_networks(shape: tuple[int, int, int], latent: int, hidden: int
                 ) -> tuple[nn.Module, nn.Module]:
    """Two-hidden-layer MLPs as in Goodfellow et al. (ReLU in G; LeakyReLU in D, where they
    used maxout): z -> x and x -> a logit."""
    dims = math.prod(shape)
    generator = nn.Sequential(  # (N, latent) -> (N, C, H, W) in [-1, 1]
        nn.Linear(latent, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(),
        nn.Linear(hidden, dims), nn.Tanh(), nn.Unflatten(1, shape))
    discriminator = nn.Sequential(  # (N, C, H, W) -> (N, 1)
        nn.Flatten(), nn.Linear(dims, hidden), nn.LeakyReLU(0.2),
        nn.Linear(hidden, hidden), nn.LeakyReLU(0.2), nn.Linear(hidden, 1))
    return generator, discriminator


def dcgan_networks(shape: tuple[int, int, int], latent: int, ch: int
                   ) -> tuple[nn.Module, nn.Module]:
    """DCGAN for any H x W: G projects z to H/4 x W/4 and doubles twice; D halves twice.

    G upsamples (nearest) then convolves instead of using transposed convolutions: the same
    learned upsampling without checkerboard artifacts (Odena et al. 2016), and explicit target
    sizes make odd sizes (28 -> 14 -> 7, 5 -> 3 -> 2) come back exactly. G: batchnorm + ReLU,
    tanh output. D: strided convolutions with LeakyReLU(0.2) and no batchnorm, so D(x) of one
    image does not depend on the rest of its batch (all-real and all-fake batches would
    otherwise carry their own statistics to D) and the logged D(x) means what it says.
    """
    channels, height, width = shape
    half = (height + 1) // 2, (width + 1) // 2  # a 3x3 conv, stride 2, padding 1: ceil(H / 2)
    quarter = (half[0] + 1) // 2, (half[1] + 1) // 2
    flat = 2 * ch * quarter[0] * quarter[1]
    generator = nn.Sequential(  # (N, latent) -> (N, 2ch, H/4, W/4) -> (N, C, H, W)
        nn.Linear(latent, flat, bias=False), nn.Unflatten(1, (2 * ch, *quarter)),
        nn.BatchNorm2d(2 * ch), nn.ReLU(),
        nn.Upsample(size=half), nn.Conv2d(2 * ch, ch, 3, padding=1, bias=False),
        nn.BatchNorm2d(ch), nn.ReLU(),  # (N, ch, H/2, W/2)
        nn.Upsample(size=(height, width)), nn.Conv2d(ch, channels, 3, padding=1), nn.Tanh())
    discriminator = nn.Sequential(  # (N, C, H, W) -> (N, ch, H/2, W/2) -> (N, 2ch, H/4, W/4)
        nn.Conv2d(channels, ch, 3, stride=2, padding=1), nn.LeakyReLU(0.2),
        nn.Conv2d(ch, 2 * ch, 3, stride=2, padding=1), nn.LeakyReLU(0.2),
        nn.Flatten(), nn.Linear(flat, 1))  # (N, 1): a logit
    return generator, discriminator


class GAN(GenerativeModel):
    """Generator G(z) and discriminator D(x), trained with the non-saturating GAN loss."""

    def __init__(self, config: GANConfig, data):
        super().__init__(config, data)
        if data.kind != "image" or data.levels is None or data.levels < 2:
            raise BadData("the gan models discrete images with 2 or more levels")
        self.levels = data.levels
        self.arch = resolve_arch(config.arch, data.shape)
        self.lr = config.lr if config.lr is not None else DEFAULT_LR[self.arch]
        if self.arch == "mlp":
            self.G, self.D = mlp_networks(data.shape, config.latent_dim, config.hidden)
        else:
            self.G, self.D = dcgan_networks(data.shape, config.latent_dim, config.channels)
        self.compiled_parts = {}  # --compile: name -> compiled G / d_loss / g_loss

    def _check(self, x: torch.Tensor) -> None:
        check_image_batch(x, self.data.shape, self.levels, "gan")

    def scale(self, x: torch.Tensor) -> torch.Tensor:
        """Levels 0..L-1 to [-1, 1] (level k -> 2k/(L-1) - 1), D's input for real images.

        With ``dequantize``, plus noise uniform over one level's width, clamped to [-1, 1].
        """
        x = x.float()
        if self.config.dequantize:
            x = (x + torch.rand_like(x) - 0.5).clamp(0.0, self.levels - 1.0)
        return x * (2.0 / (self.levels - 1)) - 1.0

    def _noise(self, n: int) -> torch.Tensor:
        return torch.randn(n, self.config.latent_dim, device=self.device)

    def d_loss(self, real: torch.Tensor, fake: torch.Tensor
               ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """L_D = -log D(x) - log(1 - D(G(z))) on scaled real and fake images, batch means;
        also the mean D(x) and D(G(z)) (probabilities, detached)."""
        real_logit, fake_logit = self.D(real), self.D(fake)  # (N, 1) logits each
        loss = (F.binary_cross_entropy_with_logits(real_logit, torch.ones_like(real_logit))
                + F.binary_cross_entropy_with_logits(fake_logit, torch.zeros_like(fake_logit)))
        return loss, torch.sigmoid(real_logit).mean().detach(), \
            torch.sigmoid(fake_logit).mean().detach()

    def g_loss(self, fake: torch.Tensor) -> torch.Tensor:
        """L_G = -log D(G(z)), the non-saturating generator loss, batch mean."""
        logit = self.D(fake)
        return F.binary_cross_entropy_with_logits(logit, torch.ones_like(logit))

    def loss(self, batch: torch.Tensor) -> dict[str, torch.Tensor]:
        """L_D + L_G on one batch and one draw of z, without stepping.

        L_D sees G(z) detached (it trains D only), L_G trains G through D, as in a step.
        """
        self._check(batch)
        fake = self.G(self._noise(len(batch)))  # (N, C, H, W)
        d_loss, d_real, d_fake = self.d_loss(self.scale(batch), fake.detach())
        g_loss = self.g_loss(fake)
        return {"loss": d_loss + g_loss, "d_loss": d_loss.detach(), "g_loss": g_loss.detach(),
                "d_real": d_real, "d_fake": d_fake}

    def configure_optimizers(self) -> list[torch.optim.Optimizer]:
        """``[opt_D, opt_G]``: one Adam per player, each over its own network only."""
        betas = (self.config.beta1, self.config.beta2)
        return [torch.optim.Adam(self.D.parameters(), lr=self.lr, betas=betas),
                torch.optim.Adam(self.G.parameters(), lr=self.lr, betas=betas)]

    def training_step(self, batch: torch.Tensor, optimizers: list[torch.optim.Optimizer],
                      **context) -> dict[str, float]:
        """``d_steps`` steps of D on L_D (fresh z each, the same real batch), then one of G."""
        self._check(batch)
        opt_d, opt_g = optimizers
        n = len(batch)
        G, d_loss_of, g_loss_of = (self.compiled_parts.get(name, getattr(self, name))
                                   for name in ("G", "d_loss", "g_loss"))
        for _ in range(self.config.d_steps):
            with torch.no_grad(), self.autocast():
                fake = G(self._noise(n))  # no graph through G for D's step
            with self.autocast():
                d_loss, d_real, d_fake = d_loss_of(self.scale(batch), fake)
            opt_d.zero_grad(set_to_none=True)
            d_loss.backward()
            opt_d.step()
        self.D.requires_grad_(False)  # G's step needs gradients through D, not for D's weights
        try:
            with self.autocast():
                g_loss = g_loss_of(G(self._noise(n)))
            opt_g.zero_grad(set_to_none=True)
            g_loss.backward()
            opt_g.step()
        finally:
            self.D.requires_grad_(True)
        d_loss, g_loss = float(d_loss.detach()), float(g_loss.detach())
        return {"loss": d_loss + g_loss, "d_loss": d_loss, "g_loss": g_loss,
                "d_real": float(d_real), "d_fake": float(d_fake)}

    def compile_for_training(self, **options) -> list:
        """Compile what a step computes: G's forward pass and the two players' losses (the
        default would compile ``loss``, which ``training_step`` does not call)."""
        from genzoo.registry.precision import CompiledOrEager

        self.compiled_parts = {name: CompiledOrEager(getattr(self, name), f"GAN.{name}",
                                                     **options)
                               for name in ("G", "d_loss", "g_loss")}
        return list(self.compiled_parts.values())

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """Refuses: an implicit model has no p(x). See ``genzoo.registry.parzen``."""
        raise NoDensity(NO_DENSITY)

    @torch.no_grad()
    def generate(self, z: torch.Tensor) -> torch.Tensor:
        """G(z) in [-1, 1], (N, latent_dim) -> (N, C, H, W), with batchnorm's running statistics
        (so an image does not depend on the others drawn with it, and batch 1 works)."""
        was_training = self.G.training
        self.G.eval()
        try:
            return self.G(z.to(self.device).float())
        finally:
            self.G.train(was_training)

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """z ~ N(0, I) from ``generator``, one pass of G, rounded to levels: int64 (N, C, H, W)."""
        device = generator.device if generator is not None else self.device
        z = torch.randn(n, self.config.latent_dim, generator=generator, device=device)
        levels = (self.generate(z) + 1.0) * (0.5 * (self.levels - 1))
        return levels.round().clamp(0, self.levels - 1).to(torch.int64)

    def info(self) -> dict:
        return {"latent_dim": self.config.latent_dim, "arch": self.arch, "lr": self.lr,
                "dequantize": self.config.dequantize, "d_steps": self.config.d_steps,
                "density": "implicit: no log p(x); Parzen-window estimate only"}


@hookimpl
def register_models(register):
    """The GAN of Goodfellow et al. with DCGAN's architecture (an MLP for 2-d points)."""
    register(ModelSpec(
        name="gan", model_class=GAN, config_class=GANConfig,
        leaf="direct",
        family="GAN", density="implicit", sampling="parallel", data="image",
        paper="Goodfellow et al. 2014, Generative Adversarial Nets; architecture: Radford, Metz "
              "& Chintala 2016, DCGAN",
        summary="A generator G(z) trained to fool a discriminator D(x) that tells real images "
                "from generated ones (non-saturating loss); samples in one pass, defines no "
                "density.",
        pros=[Claim("Sharp, state-of-the-art samples (sharper than a VAE's)",
                    "quality_frechet_distance"),
              Claim("Fast sampling: one generator pass for a whole batch",
                    "sample_ms_per_image_b64"),
              Claim("Game-theoretic training: no density to define, no bound to maximize",
                    None)],
        # no bits/dim to show: what the samples score stands beside the missing likelihood
        cons=[Claim("Implicit density: cannot evaluate p(x) (no bits/dim), nor infer p(z|x); "
                    "only a biased Parzen-window estimate from samples",
                    "quality_frechet_distance"),
              Claim("Trickier, less stable to train: prone to mode collapse (samples cover few "
                    "classes)", "quality_coverage"),
              Claim("Samples may miss parts of the data distribution (low recall)",
                    "quality_recall")]))
