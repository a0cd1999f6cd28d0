"""The PixelCNN plugin: registers the model of :mod:`genzoo.plugins._pixelcnn` (van den Oord
et al. 2016, sec. 3.5; the paper's account is there).

The network, its masked convolutions and the cached sampler live in that private module because
PixelRNN and the VQ-VAE's prior build on them too: a mistake in this registration takes only
this plugin down, not the three that share the layers.
"""

from __future__ import annotations

from genzoo.plugins._pixelcnn import (
    CachedStepper,
    MaskedConv2d,
    PixelCNN,
    PixelCNNConfig,
    ResidualBlock,
    output_head,
)
from genzoo.registry import Claim, ModelSpec, hookimpl

# the model's names, for code that imports them from the plugin
__all__ = ["CachedStepper", "MaskedConv2d", "PixelCNN", "PixelCNNConfig", "ResidualBlock",
           "output_head"]


@hookimpl
def register_models(register):
    """The plain PixelCNN, baseline of the autoregressive image family."""
    register(ModelSpec(
        name="pixelcnn", model_class=PixelCNN, config_class=PixelCNNConfig,
        leaf="fully visible belief net",
        family="autoregressive image (PixelCNN)", density="exact", sampling="sequential",
        data="image", paper="van den Oord et al. 2016, Pixel Recurrent Neural Networks (sec. 3.5)",
        summary="Masked convolutions compute every p(x_i | x_<i) in one pass; a softmax over "
                "levels gives an exact likelihood.",
        pros=[Claim("Can explicitly compute likelihood p(x)", "test_bits_per_dim"),
              Claim("Easy to optimize", "test_bits_per_dim"),
              Claim("Training is faster than PixelRNN (parallel convolutions)",
                    "train_examples_per_s"),
              Claim("Good samples", "quality_frechet_distance")],
        cons=[Claim("Sequential generation => slow: one pass per pixel",
                    "sample_ms_per_image_b1")]))
