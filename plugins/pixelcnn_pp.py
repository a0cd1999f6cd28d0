"""PixelCNN++: a PixelCNN with a discretized logistic mixture likelihood and two shifted streams.

Salimans, Karpathy, Chen & Kingma, "PixelCNN++: Improving the PixelCNN with Discretized Logistic
Mixture Likelihood and Other Modifications", ICLR 2017.

The chain rule is the PixelCNN's, p(x) = prod_i p(x_i | x_<i); what changes (the lecture's
"Improving PixelCNN performance"):

* Sec. 2.1, Eq. 2: instead of a softmax over the levels, each pixel is a mixture of K logistics
  on the scaled axis [-1, 1], discretized by the L levels: level k owns the bin [k - 0.5, k + 0.5]
  (width 2 / (L - 1) once scaled), the lowest level takes all mass below its upper edge and the
  highest all mass above its lower edge, so the L probabilities sum to exactly 1. Neighbouring
  levels share their parameters, which is what a softmax has to learn from data.
* Sec. 2.3-2.4, on the two-stream PixelCNN of van den Oord et al. (2016, Gated PixelCNN) that
  has no blind spot: a down-shifted stream u sees every row above the pixel, a down-right-shifted
  stream ul the rows above and the pixels to the left. Gated ResNet blocks (concat_elu, output
  a * sigmoid(b), as the reference code) fill each of `scales` resolutions; strided convolutions
  go down instead of dilated ones (sec. 2.3), transposed convolutions come back up, and every
  layer on the way down feeds the matching layer on the way up by a short-cut (sec. 2.4).
* Sec. 2.5: dropout inside every block.

Numerics: the reference code computes a bin's mass as sigmoid(upper) - sigmoid(lower) and falls
back to density x bin width where that difference underflows. Here the difference is taken in
log space, exactly, with no fallback: log(s(b) - s(a)) = log s(b) + log s(-a) + log(1 - e^(a-b)),
and a - b = -(bin width) / scale is the same for every bin. Levels therefore sum to 1 to float
precision for any parameters. Sampling draws the level from those L probabilities (a
categorical) instead of the paper's draw of a logistic, rounded and clipped: both are exact; the
categorical takes all its randomness from the caller's generator.

Channels: the built-in datasets are single-channel. With C > 1 channels, each channel gets its
own mixture and the channels of one pixel are independent given the earlier pixels (the paper's
linear R -> G -> B coupling of sec. 2.2 is left out); the density is still exact and normalized.
Images of any size are taken: the network pads on the right and bottom up to a multiple of
2**(scales - 1) and crops back. In the padded grid's raster order the real pixels before a real
pixel are the same as in the image's, and padded positions hold constants, not data (the extra
input channel of ones, which tells real pixels from padding, is zero there): no future leaks.

Weight normalization and Polyak averaging, which the paper also uses, are left out at this size.

Sampling is sequential, one pixel at a time, and a full network pass per pixel wastes nearly all
of its work. The cached sampler (`CachedStepper`) follows Ramachandran et al. 2017, "Fast
Generation for Convolutional Autoregressive Models" (ICLR workshop; its Fast PixelCNN++ keeps a
cache per layer and scale): both streams are causal at every scale k (2^k times coarser), the u
stream at row R seeing only image rows < 2^k R and the ul stream at (R, C) only the pixels
before (2^k R, 2^k C). So each u row is computed once, a whole row per layer when its image row
begins, and each ul position once, at pixel (2^k R, 2^k C); of a (2, 2) kernel, the half that
sees row R - 1 is done with the row and the half on row R at the pixel. A pixel then costs a
few small matrix products per layer instead of a pass over all H x W positions, with the full
pass's numbers (to float rounding), hence the same samples for the same generator.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from genzoo.registry import Claim, ModelConfig, ModelSpec, hookimpl
from genzoo.registry.autoregressive import AutoregressiveImageModel
from genzoo.registry.config import bounded
from genzoo.registry.distributions import discretized_logistic_mix_log_prob  # sec. 2.1
from genzoo.registry.errors import BadConfig


@dataclass
class PixelCNNppConfig(ModelConfig):
    """The paper's architecture, scaled to 8x8 digits on a CPU (the paper: 160 filters, 5 blocks
    per scale, 3 scales, 10 logistics for 32x32 CIFAR-10)."""

    nr_filters: int = bounded(32, 1, 1024)  # feature maps in both streams
    # gated ResNet blocks per scale (one more on the way up, bar the lowest)
    nr_resnet: int = bounded(1, 1, 32)
    scales: int = bounded(2, 1, 6)  # resolutions: 8x8 -> 4x4 and back
    nr_logistic_mix: int = bounded(5, 1, 100)  # K logistics per pixel and channel
    dropout: float = bounded(0.5, 0.0, 1.0)  # sec. 2.5
    lr: float = bounded(2e-3, 1e-6, 1.0)
    batch_size: int = bounded(64, 1, 8192)

    def validate(self):
        for name in ("nr_filters", "nr_resnet", "scales", "nr_logistic_mix"):
            if getattr(self, name) < 1:
                raise BadConfig(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.scales > 6:
            raise BadConfig(f"scales must be at most 6 (a 32x downsampling), got {self.scales}")
        if not 0.0 <= self.dropout < 1.0:
            raise BadConfig(f"dropout must be in [0, 1), got {self.dropout}")


# -- shifted convolutions: what each stream may see ----------------------------------

def down_shift(x: torch.Tensor) -> torch.Tensor:
    """Move every row one down (zeros on top): a position then sees only rows above it."""
    return F.pad(x, (0, 0, 1, 0))[:, :, :-1]


def right_shift(x: torch.Tensor) -> torch.Tensor:
    """Move every column one right (zeros on the left)."""
    return F.pad(x, (1, 0))[:, :, :, :-1]


class ShiftedConv2d(nn.Conv2d):
    """A (kh, kw) convolution padded so that it sees its own row and the kh - 1 rows above:
    centred in width (down-shifted, the u stream) or ending at the pixel (down-right-shifted,
    the ul stream). ``shift`` moves the output so that the pixel itself drops out."""

    def __init__(self, cin, cout, kernel, right: bool, stride: int = 1, shift: str = ""):
        super().__init__(cin, cout, kernel, stride)
        kh, kw = kernel
        self.pads = (kw - 1, 0, kh - 1, 0) if right else ((kw - 1) // 2, (kw - 1) // 2, kh - 1, 0)
        self.shift = shift

    def forward(self, x):
        y = super().forward(F.pad(x, self.pads))
        return down_shift(y) if self.shift == "down" else right_shift(y) if self.shift else y


class ShiftedDeconv2d(nn.ConvTranspose2d):
    """Stride-2 transposed convolution, cropped so that each output still sees only the past:
    the two output rows (and columns) made from one low-resolution position come after it."""

    def __init__(self, cin, cout, kernel, right: bool):
        super().__init__(cin, cout, kernel, stride=2, output_padding=1)
        self.right = right

    def forward(self, x):
        y = super().forward(x)  # (N, C, 2H + kh - 1, 2W + kw - 1)
        kh, kw = self.kernel_size
        left = 0 if self.right else (kw - 1) // 2
        return y[:, :, :y.shape[2] - kh + 1, left:left + 2 * x.shape[3]]  # (N, C, 2H, 2W)


def concat_elu(x: torch.Tensor) -> torch.Tensor:
    """ELU of [x, -x]: keeps both signs' information (doubles the channels)."""
    return F.elu(torch.cat([x, -x], 1))


class GatedResnet(nn.Module):
    """x + a * sigmoid(b), where [a, b] = conv(concat_elu(conv(concat_elu(x)) + skip))."""

    def __init__(self, filters: int, right: bool, skips: int, dropout: float):
        super().__init__()
        kernel = (2, 2) if right else (2, 3)
        self.conv_in = ShiftedConv2d(2 * filters, filters, kernel, right)
        self.skip = nn.Conv2d(2 * skips * filters, filters, 1) if skips else None
        self.dropout = nn.Dropout(dropout)
        self.conv_out = ShiftedConv2d(2 * filters, 2 * filters, kernel, right)

    def forward(self, x, skip=None):
        h = self.conv_in(concat_elu(x))
        if self.skip is not None:
            h = h + self.skip(concat_elu(skip))
        a, b = self.conv_out(self.dropout(concat_elu(h))).chunk(2, 1)
        return x + a * torch.sigmoid(b)


class PixelCNNpp(AutoregressiveImageModel):
    """PixelCNN++: u and ul streams over several resolutions, a logistic mixture per pixel."""

    def __init__(self, config: PixelCNNppConfig, data):
        super().__init__(config, data)
        channels, f, r, s, p = (data.shape[0], config.nr_filters, config.nr_resnet,
                                config.scales, config.dropout)
        # +1 input channel of ones: tells real pixels from the zeros the convolutions pad with
        self.u_init = ShiftedConv2d(channels + 1, f, (2, 3), right=False, shift="down")
        self.ul_init_above = ShiftedConv2d(channels + 1, f, (1, 3), right=False, shift="down")
        self.ul_init_left = ShiftedConv2d(channels + 1, f, (2, 1), right=True, shift="right")
        # downward pass: r blocks at each scale; upward: r at the lowest, r + 1 at the others
        # (one more to take the strided layer's output as its short-cut)
        n_up = r + (s - 1) * (r + 1)
        self.down_u = nn.ModuleList(GatedResnet(f, False, 0, p) for _ in range(s * r))
        self.down_ul = nn.ModuleList(GatedResnet(f, True, 1, p) for _ in range(s * r))
        self.up_u = nn.ModuleList(GatedResnet(f, False, 1, p) for _ in range(n_up))
        self.up_ul = nn.ModuleList(GatedResnet(f, True, 2, p) for _ in range(n_up))
        self.downsize_u = nn.ModuleList(ShiftedConv2d(f, f, (2, 3), False, stride=2)
                                        for _ in range(s - 1))
        self.downsize_ul = nn.ModuleList(ShiftedConv2d(f, f, (2, 2), True, stride=2)
                                         for _ in range(s - 1))
        self.upsize_u = nn.ModuleList(ShiftedDeconv2d(f, f, (2, 3), False) for _ in range(s - 1))
        self.upsize_ul = nn.ModuleList(ShiftedDeconv2d(f, f, (2, 2), True) for _ in range(s - 1))
        # per channel: K mixture logits, K means, K log scales
        self.out = nn.Conv2d(f, 3 * channels * config.nr_logistic_mix, 1)

    def network(self, scaled: torch.Tensor, labels=None) -> torch.Tensor:
        """Mixture parameters of every pixel: (N, C, H, W) -> (N, 3*C*K, H, W)."""
        height, width = scaled.shape[2:]
        cfg, m = self.config, 2 ** (self.config.scales - 1)
        x = torch.cat([scaled, torch.ones_like(scaled[:, :1])], 1)  # (N, C+1, H, W)
        x = F.pad(x, (0, -width % m, 0, -height % m))  # right/bottom, to a multiple of m
        u = self.u_init(x)  # (N, f, H', W'), rows above only
        ul = self.ul_init_above(x) + self.ul_init_left(x)  # rows above and pixels to the left
        us, uls = [u], [ul]
        blocks = iter(zip(self.down_u, self.down_ul))
        for scale in range(cfg.scales):  # downward: H' -> H'/2 -> ...
            for _ in range(cfg.nr_resnet):
                block_u, block_ul = next(blocks)
                u = block_u(u)
                ul = block_ul(ul, u)
                us.append(u)
                uls.append(ul)
            if scale < cfg.scales - 1:
                u, ul = self.downsize_u[scale](u), self.downsize_ul[scale](ul)
                us.append(u)
                uls.append(ul)
        u, ul = us.pop(), uls.pop()
        blocks = iter(zip(self.up_u, self.up_ul))
        for scale in range(cfg.scales):  # upward, taking the short-cuts in reverse order
            for _ in range(cfg.nr_resnet + (scale > 0)):
                block_u, block_ul = next(blocks)
                u = block_u(u, us.pop())
                ul = block_ul(ul, torch.cat([u, uls.pop()], 1))
            if scale < cfg.scales - 1:
                u, ul = self.upsize_u[scale](u), self.upsize_ul[scale](ul)
        return self.out(F.elu(ul))[:, :, :height, :width]  # (N, 3*C*K, H, W)

    def mixture(self, params: torch.Tensor):
        """(N, 3*C*K, ...) -> logits, means, log scales, each (N, C, ..., K)."""
        n, _, *rest = params.shape
        split = params.view(n, 3, self.data.shape[0], self.config.nr_logistic_mix, *rest)
        return split.movedim(3, -1).unbind(1)

    def dim_log_probs(self, params, x):
        """log P(x) of every pixel and channel under its discretized mixture: (N, C, H, W)."""
        logits, means, log_scales = self.mixture(params)  # (N, C, H, W, K)
        return discretized_logistic_mix_log_prob(x.unsqueeze(-1), logits, means, log_scales,
                                                 self.levels)  # (N, C, H, W)

    def level_log_probs(self, params: torch.Tensor) -> torch.Tensor:
        """log P(level) for every level of one pixel: (N, 3*C*K) -> (N, C, L)."""
        logits, means, log_scales = (t.unsqueeze(2) for t in self.mixture(params))  # (N,C,1,K)
        levels = torch.arange(self.levels, device=params.device).unsqueeze(-1)  # (L, 1)
        return discretized_logistic_mix_log_prob(levels, logits, means, log_scales, self.levels)

    def sample_from(self, params, generator):
        """One level per channel, drawn exactly from the L bin probabilities: (N, P) -> (N, C)."""
        probs = self.level_log_probs(params).exp()  # (N, C, L)
        flat = probs.reshape(-1, self.levels).float()
        return torch.multinomial(flat, 1, generator=generator).view(len(params), -1)

    def cached_stepper(self, n: int, labels=None):
        """Fast sampling with per-scale caches (Ramachandran et al. 2017): see
        ``genzoo.plugins._pixelcnn_pp_cache.CachedStepper``."""
        from ._pixelcnn_pp_cache import CachedStepper  # imported here: it imports this module

        return CachedStepper(self, n)


@hookimpl
def register_models(register):
    """PixelCNN++, the improved PixelCNN of the lecture."""
    register(ModelSpec(
        name="pixelcnn++", model_class=PixelCNNpp, config_class=PixelCNNppConfig,
        leaf="fully visible belief net",
        family="autoregressive image (PixelCNN)", density="exact", sampling="sequential",
        data="image",
        paper="Salimans et al. 2017, PixelCNN++: Improving the PixelCNN with Discretized "
              "Logistic Mixture Likelihood and Other Modifications (ICLR)",
        summary="A discretized logistic mixture per pixel, two shifted convolution streams with "
                "no blind spot, down- and upsampling with short-cuts, gated ResNet blocks; "
                "cached fast sampling.",
        pros=[Claim("Can explicitly compute likelihood p(x)", "test_bits_per_dim"),
              Claim("Better likelihood than PixelCNN: mixture of logistics, no blind spot, "
                    "multi-scale", "test_bits_per_dim"),
              Claim("Few output parameters: 3K per pixel instead of one per level", "parameters"),
              Claim("Training is parallel over pixels", "train_examples_per_s")],
        cons=[Claim("Sequential generation => slow, even with caching: one step per pixel",
                    "sample_ms_per_image_b1")]))
