"""genzoo's entry point for this package: registers ``made`` and ``nade``.

Both are fully visible belief networks, the lecture's first explicit tractable density: the
chain rule p(x) = prod_d p(x_d | x_<d) with each conditional computed by a neural network.
"""

from __future__ import annotations

from genzoo.registry import Claim, ModelSpec, hookimpl

from .made import MADE, MADEConfig
from .nade import NADE, NADEConfig

# The genzoo plugin API this plugin was written for (its major version): a genzoo whose
# GENZOO_API_VERSION has another major refuses it with a message instead of failing half-way.
GENZOO_API = "1"

FAMILY = "fully visible belief network (FVBN)"


@hookimpl
def register_models(register):
    """MADE and NADE: exact likelihood, sequential sampling."""
    register(ModelSpec(
        name="made", model_class=MADE, config_class=MADEConfig, family=FAMILY,
        leaf="fully visible belief net",
        density="exact", sampling="sequential", data="image",
        paper="Germain et al. 2015, MADE: Masked Autoencoder for Distribution Estimation",
        summary="An MLP whose weight masks make output d depend only on x_<d: every "
                "p(x_d | x_<d) in one pass, a softmax over levels per pixel.",
        pros=[Claim("Can explicitly compute likelihood p(x)", "test_bits_per_dim"),
              Claim("Easy to optimize: one masked pass gives every conditional",
                    "train_examples_per_s")],
        cons=[Claim("Sequential generation => slow: one full pass per pixel",
                    "sample_ms_per_image_b1"),
              Claim("A dense MLP over all pixels: no notion of locality, weights grow with "
                    "the image", "parameters")]))
    register(ModelSpec(
        name="nade", model_class=NADE, config_class=NADEConfig, family=FAMILY,
        leaf="fully visible belief net",
        density="exact", sampling="sequential", data="image",
        paper="Larochelle & Murray 2011, The Neural Autoregressive Distribution Estimator",
        summary="One hidden layer per pixel with shared weights, h_d = sigmoid(c + W x_<d), "
                "computed with a running sum in O(DH).",
        pros=[Claim("Can explicitly compute likelihood p(x)", "test_bits_per_dim"),
              Claim("Weight sharing: all D conditionals in O(DH)", "train_examples_per_s")],
        cons=[Claim("Sequential generation => slow: one step per pixel",
                    "sample_ms_per_image_b1"),
              Claim("A fixed pixel order; no notion of locality", None)]))
