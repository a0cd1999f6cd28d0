"""CodeFormer: blind restoration by predicting a VQ-VAE's code indices with a transformer.

Zhou, Chan, Li & Loy, "Towards Robust Blind Face Restoration with Codebook Lookup
Transformer", NeurIPS 2022.

Stage one is genzoo's own VQ-VAE (`genzoo.plugins.vqvae`), frozen: its codebook C = {c_k},
its decoder, and its encoder E_H, which gives a clean image x its nearest codes s and their
vectors Z_c = C[s]. The lecture's point: the nearest-neighbour lookup of a *degraded* image's
features breaks down, since degradation moves features across code boundaries. CodeFormer
predicts every position's clean code from the whole grid instead (sec. 3.2):

    Z_l = E_L(x_d)                      (N, D, h, w) features of the degraded image; E_L starts
                                        as a copy of E_H and is fine-tuned
    s_hat = softmax(T(W Z_l + p))       (N, h*w, K): a transformer encoder, learned positions p
    x_hat = Dec(C[argmax s_hat])        the looked-up codes, decoded by the frozen decoder

trained with the paper's two code-level losses (eq. 3-4):

    L_code^token = sum_i -log s_hat_i[s_i]          cross-entropy on the clean codes
    L_code^feat  = || Z_l - sg(Z_c) ||^2            pulls E_L's features onto the clean codes

Controllable feature transformation (CFT, sec. 3.3), between the degraded image's features
F_e = Z_l and the looked-up codes F_d = C[argmax s_hat]:

    (alpha, beta) = P(concat(F_d, sg(F_e))),  F_hat = F_d + w (alpha * F_d + beta),  w in [0, 1]

as in the paper and its code (`Fuse_sft_block`): the *decoder's* features F_d are scaled and
shifted, alpha and beta are predicted from both, and the encoder's features enter detached, so
the CFT's loss trains the CFT only, never E_L. w = 0 is pure lookup (exactly the decoding of the
predicted codes: quality), w = 1 adds all of the correction learned from the input's features
(fidelity). The paper applies CFT at several decoder scales to encoder skip features; genzoo's
VQ-VAE has no skips, so here it acts once, on the code grid. As in the paper's stage III, the
CFT is trained with w = 1, by the clean image's negative log-likelihood under the decoder of
F_hat (``cft_recon``, nats per dim). genzoo trains the three terms together, in one run,
instead of in separate stages.

Training pairs are made on the fly: each clean training image is degraded by one of
``degradations`` (`genzoo.registry.degrade`) at a strength drawn from its range, with torch's
global generator (which the trainer seeds and checkpoints).

CodeFormer models q(codes | degraded x), not p(x). ``sample(n)`` restores the parent VQ-VAE's
own draws without a prior (uniform codes, decoded: rarely a digit), the lecture's "fix
AI-generated images"; that procedure has no tractable density, so the spec says
``density="implicit"`` and ``log_prob`` refuses (docs/decisions.md, "Restoration").
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from genzoo.plugins._vqvae import VQVAE, OnFrozenVQVAE, VQVAEConfig, VQVAEPriorConfig, encoder
from genzoo.registry import Claim, DataInfo, GenerativeModel, ModelSpec, hookimpl
from genzoo.registry.config import bounded
from genzoo.registry.degrade import parse_ranges, random_degradation
from genzoo.registry.errors import BadConfig, GenzooError
from genzoo.registry.model import ModelConfig, check_image_batch
from genzoo.registry.restoration import RestorationModel

NO_DENSITY = ("codeformer restores images: it models the clean codes given a degraded image, "
              "not p(x), so it has no log_prob or bits/dim; the VQ-VAE's bound comes from "
              "`genzoo train vqvae-prior --parent RUN_ID`")


@dataclass
class CodeFormerConfig(ModelConfig):
    """The transformer, the CFT, the loss weights and the training degradations; and the VQ-VAE
    run it builds on (filled in by ``--parent``). The paper: 9 layers, 8 heads, d = 512, K = 1024
    on 16x16 grids; on digits the default VQ-VAE has a 4x4 grid of 4 codes."""

    parent_run: str = ""
    parent_config: str = ""  # the VQ-VAE's config as JSON; empty = VQVAEConfig's defaults
    d_model: int = bounded(64, 1, 2048)  # width of the transformer's tokens
    layers: int = bounded(2, 1, 64)
    heads: int = bounded(4, 1, 64)
    dropout: float = bounded(0.1, 0.0, 1.0)
    cft_hidden: int = bounded(32, 1, 1024)  # feature maps of the CFT's convolution P
    feat_weight: float = bounded(1.0, 0.0, 1000.0)  # weight of L_code^feat (the paper: 1)
    # weight of the CFT's reconstruction term, trained at w = 1
    cft_weight: float = bounded(1.0, 0.0, 1000.0)
    # what training pairs are made of: name:LOW-HIGH, comma-separated (genzoo.registry.degrade)
    degradations: str = "mask:0-0.8,noise:0-5,blur:0-1.5,down:1-4"
    lr: float = bounded(1e-3, 1e-6, 1.0)  # ModelConfig's default, bounded

    def parent(self) -> VQVAEConfig:
        """The parent VQ-VAE's config, checked (as vqvae-prior reads it)."""
        return VQVAEPriorConfig(parent_config=self.parent_config).parent()

    def validate(self):
        self.parent()
        parse_ranges(self.degradations)
        for name in ("d_model", "layers", "heads", "cft_hidden"):
            if getattr(self, name) < 1:
                raise BadConfig(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.d_model % self.heads:
            raise BadConfig(f"d_model ({self.d_model}) must be a multiple of heads "
                            f"({self.heads})")
        if not 0.0 <= self.dropout < 1.0:
            raise BadConfig(f"dropout must be in [0, 1), got {self.dropout}")
        for name in ("feat_weight", "cft_weight"):
            if not getattr(self, name) >= 0:
                raise BadConfig(f"{name} must be 0 or more, got {getattr(self, name)}")


class CodeFormer(OnFrozenVQVAE, RestorationModel):
    """A frozen VQ-VAE, a fine-tuned copy of its encoder, a code-predicting transformer, CFT."""

    baseline_name = "nearest-code lookup"
    restoration_label = "codeformer"

    def __init__(self, config: CodeFormerConfig, data: DataInfo):
        super().__init__(config, data)
        self.vqvae = VQVAE(config.parent(), data)  # C, decoder and E_H: frozen
        self.vqvae.requires_grad_(False)
        vq = self.vqvae.config
        D, K, (height, width) = vq.code_dim, self.vqvae.codebook_size, self.vqvae.latent_shape
        self.lq_encoder = encoder(data.shape[0], vq.hidden, D, vq.downsample)  # E_L
        self.lq_encoder.load_state_dict(self.vqvae.encoder.state_dict())
        self.embed = nn.Linear(D, config.d_model)
        self.position = nn.Parameter(0.02 * torch.randn(1, height * width, config.d_model))
        layer = nn.TransformerEncoderLayer(config.d_model, config.heads, 4 * config.d_model,
                                           config.dropout, batch_first=True, norm_first=True)
        self.transformer = nn.TransformerEncoder(layer, config.layers,
                                                 enable_nested_tensor=False)
        self.norm = nn.LayerNorm(config.d_model)
        self.head = nn.Linear(config.d_model, K)
        self.cft = nn.Sequential(nn.Conv2d(2 * D, config.cft_hidden, 3, padding=1),
                                 nn.LeakyReLU(0.2), nn.Conv2d(config.cft_hidden, 2 * D, 3,
                                                              padding=1))  # P -> (alpha, beta)
        self.ranges = parse_ranges(config.degradations)
        self.train()

    def attach_parent(self, parent: GenerativeModel) -> None:
        """Copy the trained VQ-VAE into ``vqvae``, and its encoder into E_L (the starting point
        that fine-tuning moves from)."""
        self.copy_parent_vqvae(parent, "codeformer")
        self.lq_encoder.load_state_dict(parent.encoder.state_dict())

    def configure_optimizers(self) -> list[torch.optim.Optimizer]:
        """Adam over E_L, the transformer and the CFT: the VQ-VAE is frozen."""
        trained = [p for p in self.parameters() if p.requires_grad]
        return [torch.optim.Adam(trained, lr=self.config.lr)]

    # -- the pieces ------------------------------------------------------------------------------

    def lq_features(self, degraded: torch.Tensor) -> torch.Tensor:
        """Z_l = E_L(x_d): (N, C, H, W) levels -> (N, D, h, w), scaled and padded as E_H's."""
        f, (height, width) = self.vqvae.config.downsample, self.vqvae.latent_shape
        scaled = degraded.float() * (2.0 / (self.data.levels - 1)) - 1.0  # levels -> [-1, 1]
        pad = (0, width * f - degraded.shape[3], 0, height * f - degraded.shape[2])
        return self.lq_encoder(F.pad(scaled, pad))

    def code_logits(self, z_l: torch.Tensor) -> torch.Tensor:
        """The transformer's logits over the K codes at every position: (N, h*w, K)."""
        tokens = self.embed(z_l.flatten(2).transpose(1, 2)) + self.position  # (N, h*w, d)
        return self.head(self.norm(self.transformer(tokens)))

    def lookup(self, codes: torch.Tensor) -> torch.Tensor:
        """F_d = C[codes]: (N, h, w) indices -> (N, D, h, w), as the VQ-VAE's decoder reads them."""
        return self.vqvae.codebook[codes].movedim(-1, 1)

    def fuse(self, looked_up: torch.Tensor, z_l: torch.Tensor, w: float) -> torch.Tensor:
        """CFT: F_hat = F_d + w (alpha * F_d + beta), (alpha, beta) = P(concat(F_d, sg(F_e))).

        F_e = Z_l enters detached, as in the paper's code: no gradient reaches E_L from here."""
        both = torch.cat([looked_up, z_l.detach()], 1)  # (N, 2D, h, w)
        alpha, beta = self.cft(both).chunk(2, 1)  # (N, D, h, w) each
        return looked_up + w * (alpha * looked_up + beta)

    # -- the contract --------------------------------------------------------------------------

    def loss(self, batch: torch.Tensor) -> dict[str, torch.Tensor]:
        """L_code^token + feat_weight L_code^feat + cft_weight L_cft on freshly degraded pairs.

        Also logged: the share of positions whose clean code the transformer predicts
        (``code_accuracy``) and the share the nearest-code lookup of the degraded image gets
        (``lookup_accuracy``): the transformer's gain, step by step.
        """
        check_image_batch(batch, self.data.shape, self.data.levels, "codeformer")
        with torch.no_grad():
            codes, z_c = self.vqvae.quantize(self.vqvae.encode_continuous(batch))  # s, Z_c
            degraded = random_degradation(batch, self.ranges, self.data.levels)
            lookup_codes = self.vqvae.encode(degraded)
        z_l = self.lq_features(degraded)  # (N, D, h, w)
        logits = self.code_logits(z_l)  # (N, h*w, K)
        code_ce = F.cross_entropy(logits.flatten(0, 1), codes.flatten())  # nats per code
        code_feat = F.mse_loss(z_l, z_c)
        predicted = logits.detach().argmax(-1).view_as(codes)  # (N, h, w)
        fused = self.fuse(self.lookup(predicted), z_l, 1.0)  # w = 1, as the paper trains CFT
        params = self.vqvae.decode_params(fused)
        cft_recon = -self.vqvae.likelihood.log_prob(params, batch).mean() / self.data.dims
        loss = code_ce + self.config.feat_weight * code_feat + self.config.cft_weight * cft_recon
        return {"loss": loss, "code_ce": code_ce, "code_feat": code_feat, "cft_recon": cft_recon,
                "code_accuracy": (predicted == codes).float().mean(),
                "lookup_accuracy": (lookup_codes == codes).float().mean()}

    @torch.no_grad()
    def predict_codes(self, degraded: torch.Tensor) -> torch.Tensor:
        """argmax s_hat: the predicted clean codes of degraded images, (N, h, w) int64."""
        logits = self.code_logits(self.lq_features(degraded))
        return logits.argmax(-1).view(len(degraded), *self.vqvae.latent_shape)

    @torch.no_grad()
    def restore_mean(self, degraded: torch.Tensor, w: float = 0.0) -> torch.Tensor:
        """The decoder's mean image of F_hat(w): floats (N, C, H, W) in [0, levels - 1]."""
        check_image_batch(degraded, self.data.shape, self.data.levels, "codeformer")
        z_l = self.lq_features(degraded)
        codes = self.code_logits(z_l).argmax(-1).view(len(degraded), *self.vqvae.latent_shape)
        fused = self.fuse(self.lookup(codes), z_l, float(w))
        return self.vqvae.likelihood.mean(self.vqvae.decode_params(fused))

    def restore(self, degraded: torch.Tensor, w: float = 0.0) -> torch.Tensor:
        """Restored images, the decoder's mean rounded to the nearest level: int64 levels."""
        return self.restore_mean(degraded, w).round().long()

    @torch.no_grad()
    def baseline(self, degraded: torch.Tensor) -> torch.Tensor:
        """The nearest-code lookup of the frozen VQ-VAE, E_H -> argmin -> decoder: int64."""
        return self.vqvae.decode(self.vqvae.encode(degraded)).round().long()

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """A prior-less VQ-VAE draw (uniform codes, x ~ p(x | z)), restored at w = 0: its codes
        predicted, then x ~ p(x | z_hat). All randomness from ``generator``."""
        drafts = self.vqvae.sample(n, generator)  # (n, C, H, W) levels
        return self.vqvae.sample_given_codes(self.predict_codes(drafts), generator)

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """Refuses: a restoration model defines no p(x)."""
        raise GenzooError(NO_DENSITY)

    def info(self) -> dict:
        """The parent run, the code grid and what the training pairs were made of."""
        return {"parent_run": self.config.parent_run, "code_grid": list(self.vqvae.grid),
                "codebook_size": self.vqvae.codebook_size,
                "degradations": self.config.degradations}


@hookimpl
def register_models(register):
    """CodeFormer, the second stage of a trained VQ-VAE."""
    register(ModelSpec(
        name="codeformer", model_class=CodeFormer, config_class=CodeFormerConfig,
        family="VQ-VAE restoration (CodeFormer)", density="implicit", sampling="parallel",
        data="image", parent="vqvae",
        paper="Zhou, Chan, Li & Loy 2022, Towards Robust Blind Face Restoration with Codebook "
              "Lookup Transformer (CodeFormer)",
        summary="A transformer reads a degraded image's features and predicts the clean "
                "image's VQ-VAE codes; decoding them restores it. A weight w trades quality "
                "(w = 0, pure lookup) for fidelity to the input (w = 1).",
        pros=[Claim("Transformer-based lookup: more reliable than the nearest code",
                    "restoration_psnr_gain_db"),
              Claim("Controls quality and fidelity with one weight w", None),
              Claim("Fixes generated images too (its samples: restored VQ-VAE draws)",
                    "quality_frechet_distance")],
        cons=[Claim("Restores, does not model p(x): no likelihood", None),
              Claim("Bounded by the codebook: at best the VQ-VAE's reconstruction",
                    "restoration_psnr_gain_db")]))
