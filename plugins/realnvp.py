"""Real NVP: a normalizing flow of affine coupling layers in a multi-scale architecture.

Dinh, Sohl-Dickstein & Bengio, "Density estimation using Real NVP", ICLR 2017; variational
dequantization from Ho, Chen, Srinivas, Duan & Abbeel, "Flow++", ICML 2019.

A flow is an invertible map z = f(x) onto a code with a simple density p(z) = N(0, I). By the
change of variables the density of x is exact:

    log p(x) = log p(z) + log |det df/dx|,   z = f(x)

so f must be invertible and its Jacobian determinant cheap. An affine coupling layer (eq. 7)
keeps half of the values, x_a, and transforms the other half given them,

    y_a = x_a,   y_b = x_b * exp(s(x_a)) + t(x_a),   log |det dy/dx| = sum_j s(x_a)_j

(its Jacobian is triangular), with s and t any networks: inverting needs only s and t of y_a =
x_a. Alternating which half is kept (a checkerboard of pixels, or half the channels after a
squeeze) lets every value depend on every other. The multi-scale architecture (section 3.6):

    per scale:  3 checkerboard couplings -> squeeze (C, H, W) -> (4C, H/2, W/2)
                -> 3 channel couplings -> factor out half the channels as z_i ~ N(0, I)
    last scale: 4 checkerboard couplings (on the values not factored out)

Images are discrete, so the flow models v = x + u, u in [0, 1)^D, and reports the bound

    log P(x) >= E_{q(u|x)}[log p(x + u) - log q(u|x)]

with q uniform ("dequant") or a learned flow q(u|x) ("vardeq", Flow++), after Real NVP's
preprocessing w = logit(alpha + (1 - 2 alpha) v / L), whose log-determinant is in log p(v).
"""

from __future__ import annotations

from dataclasses import dataclass

from genzoo.registry import ModelSpec, hookimpl
from genzoo.registry.config import bounded
from genzoo.registry.errors import BadConfig

from ._flow_model import FLOW_CONS, FLOW_PROS, DequantizedFlow, FlowConfig
from ._flows import AffineCoupling, MultiScaleFlow, Squeeze


@dataclass
class RealNVPConfig(FlowConfig):
    """The paper's layout with a narrower network, sized for digits on a CPU."""

    # Chosen on digits' validation split, 60 s on one CPU thread (bits/dim): hidden 64 2.044,
    # 32 2.055, blocks=2 2.044 (half the steps), lr 2e-3 2.073, weight decay 0.1 2.058 (all
    # with alpha 0.05; alpha 0: 1.999); at 120 s, dropout 0.2 1.977 against none 1.952.
    couplings: int = bounded(3, 1, 16)  # couplings of each kind per scale (the last has one more)

    def validate(self):
        super().validate()
        if self.couplings < 1:
            raise BadConfig(f"couplings must be at least 1, got {self.couplings}")


class RealNVP(DequantizedFlow):
    """Checkerboard and channel-wise affine couplings, squeezes, factoring out (Dinh et al.)."""

    model_name = "realnvp"

    def __init__(self, config: RealNVPConfig, data):
        super().__init__(config, data)
        channels, height, width = data.shape
        n = config.couplings

        def coupling(c: int, mask: str, i: int) -> AffineCoupling:
            return AffineCoupling(c, mask, bool(i % 2), config.hidden, config.blocks,
                                  scale="tanh", dropout=config.dropout)

        stages = []
        for _ in range(self.scales):  # (C, H, W) -> (4C, H/2, W/2), then half factored out
            layers = [coupling(channels, "checkerboard", i) for i in range(n)]
            channels, height, width = 4 * channels, height // 2, width // 2
            layers += [Squeeze(), *(coupling(channels, "channel", i) for i in range(n))]
            stages.append(layers)
            channels -= channels // 2
        # the last scale: a checkerboard needs 2 pixels; a 1x1 map has 2+ channels instead
        last = "checkerboard" if height * width >= 2 else "channel"
        stages.append([coupling(channels, last, i) for i in range(n + 1)])
        self.flow = MultiScaleFlow(stages, data.shape)

    def info(self) -> dict:
        return {**super().info(), "couplings_per_scale": self.config.couplings,
                "couplings": sum(isinstance(m, AffineCoupling) for m in self.flow.modules())}


@hookimpl
def register_models(register):
    """Real NVP (Dinh et al. 2017), with Flow++'s variational dequantization as an option."""
    register(ModelSpec(
        name="realnvp", model_class=RealNVP, config_class=RealNVPConfig,
        family="normalizing flow", density="bound", sampling="parallel", data="image",
        leaf="change of variables",
        paper="Dinh, Sohl-Dickstein & Bengio 2017, Density estimation using Real NVP; "
              "variational dequantization: Ho et al. 2019, Flow++",
        summary="An invertible map of affine coupling layers (checkerboard and channel masks, "
                "squeezes, half the values factored out per scale) from dequantized images to "
                "N(0, I): log p(x) = log p(z) + log|det df/dx|.",
        pros=FLOW_PROS, cons=FLOW_CONS))
