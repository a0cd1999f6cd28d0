"""Glow: a normalizing flow of actnorm, invertible 1x1 convolutions and affine couplings.

Kingma & Dhariwal, "Glow: Generative Flow with Invertible 1x1 Convolutions", NeurIPS 2018;
variational dequantization from Ho et al., "Flow++", ICML 2019.

As every flow, an invertible z = f(x) with p(z) = N(0, I) and, by the change of variables,

    log p(x) = log p(z) + log |det df/dx| = log p(z) + sum_i log |det dh_i / dh_{i-1}|

One step of flow is three invertible layers, each with a cheap log-determinant (Table 1):

    actnorm          y = (x + b) * s per channel             log det = H W sum log |s|
    1x1 convolution  y = W x at every pixel                  log det = H W log |det W|
    affine coupling  y_a = x_a, y_b = x_b * s(x_a) + t(x_a)   log det = sum log s(x_a)

actnorm's b and s start from the first batch's per-channel statistics (data-dependent init);
the 1x1 convolution is a learned generalization of Real NVP's fixed channel permutation, kept
O(C) by an LU decomposition W = P L (U + diag(s)). The multi-scale architecture (Figure 2):

    per level:  squeeze (C, H, W) -> (4C, H/2, W/2) -> K steps of flow
                -> split: half the channels leave as z_i ~ N(mu(h), sigma(h)^2), a learned
                   prior given the half that goes on (the last level does not split)

Sampling draws z ~ N(0, T^2 I) with a temperature T (section 5: T < 1 trades diversity for
quality). Images are discrete, so the flow models v = x + u, u in [0, 1)^D, and reports

    log P(x) >= E_{q(u|x)}[log p(x + u) - log q(u|x)]

with q uniform ("dequant") or a learned flow q(u|x) ("vardeq", Flow++). Glow's own
preprocessing, v / L - 1/2, leaves much of N(0, I)'s mass outside the data's cube; the logit of
Real NVP (shared with ``realnvp``) is used instead.
"""

from __future__ import annotations

from dataclasses import dataclass

from genzoo.registry import ModelSpec, hookimpl
from genzoo.registry.config import bounded
from genzoo.registry.errors import BadConfig

from ._flow_model import FLOW_CONS, FLOW_PROS, DequantizedFlow, FlowConfig
from ._flows import ActNorm, AffineCoupling, InvConv1x1, MultiScaleFlow, Squeeze


@dataclass
class GlowConfig(FlowConfig):
    """Glow's layout with a narrow network and few steps, sized for digits on a CPU."""

    # Chosen on digits' validation split, 2 minutes on one CPU thread (bits/dim): 6 steps 2.018,
    # with dropout 0.2 1.983 (it overfits 1,293 images without), 8 steps and dropout 2.003.
    steps: int = bounded(6, 1, 64)  # steps of flow (actnorm, 1x1 conv, coupling) per level
    lu: bool = True  # LU-decomposed 1x1 convolutions (else W itself, with slogdet)
    learned_prior: bool = True  # split: z_i ~ N(mu(h), sigma(h)^2) given the kept half h
    dropout: float = bounded(0.2, 0.0, 0.9)  # inside the coupling networks' residual blocks

    def validate(self):
        super().validate()
        if self.steps < 1:
            raise BadConfig(f"steps must be at least 1, got {self.steps}")


class Glow(DequantizedFlow):
    """Steps of actnorm -> invertible 1x1 conv -> affine coupling, on squeezed levels."""

    model_name = "glow"

    def __init__(self, config: GlowConfig, data):
        super().__init__(config, data)
        channels, height, width = data.shape
        levels = max(self.scales, 1)  # scales=0 (a 5x5 image): one level, no squeeze
        stages = []
        for level in range(levels):
            layers = []
            if self.scales:
                layers.append(Squeeze())
                channels, height, width = 4 * channels, height // 2, width // 2
            for i in range(config.steps):
                # a single channel cannot be split: a checkerboard of pixels, alternating
                mask = "channel" if channels >= 2 else "checkerboard"
                layers += [ActNorm(channels), InvConv1x1(channels, config.lu),
                           AffineCoupling(channels, mask, mask == "checkerboard" and i % 2 == 1,
                                          config.hidden, config.blocks, scale="sigmoid",
                                          dropout=config.dropout)]
            if level < levels - 1:
                if config.learned_prior:  # the first half (leaving) given the second (staying)
                    layers.append(AffineCoupling(channels, "channel", True, config.hidden, 0,
                                                 scale="tanh"))
                channels -= channels // 2
            stages.append(layers)
        self.flow = MultiScaleFlow(stages, data.shape)

    def info(self) -> dict:
        return {**super().info(), "levels": len(self.flow.stages),
                "steps_per_level": self.config.steps, "lu": self.config.lu,
                "learned_prior": self.config.learned_prior}


@hookimpl
def register_models(register):
    """Glow (Kingma & Dhariwal 2018), with Flow++'s variational dequantization as an option."""
    register(ModelSpec(
        name="glow", model_class=Glow, config_class=GlowConfig,
        family="normalizing flow", density="bound", sampling="parallel", data="image",
        leaf="change of variables",
        paper="Kingma & Dhariwal 2018, Glow: Generative Flow with Invertible 1x1 Convolutions; "
              "variational dequantization: Ho et al. 2019, Flow++",
        summary="Steps of actnorm, an invertible 1x1 convolution and an affine coupling on "
                "squeezed levels, from dequantized images to N(0, I); samples at a temperature "
                "T from z ~ N(0, T^2 I).",
        pros=FLOW_PROS, cons=FLOW_CONS))
