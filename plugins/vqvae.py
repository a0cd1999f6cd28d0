"""The VQ-VAE plugin: registers the two stages of :mod:`genzoo.plugins._vqvae` (van den Oord,
Vinyals & Kavukcuoglu 2017; the paper's account is there): the VQ-VAE and the PixelCNN prior
over its codes.

The models live in that private module because CodeFormer builds on the VQ-VAE: a mistake in
this registration takes only this plugin down.
"""

from __future__ import annotations

from genzoo.plugins._vqvae import (
    _PAPER,
    VQVAE,
    VQVAEConfig,
    VQVAEPrior,
    VQVAEPriorConfig,
    encoder,
    perplexity,
)
from genzoo.registry import Claim, ModelSpec, hookimpl

# the models' names, for code that imports them from the plugin
__all__ = ["VQVAE", "VQVAEConfig", "VQVAEPrior", "VQVAEPriorConfig", "encoder", "perplexity"]


@hookimpl
def register_models(register):
    """The VQ-VAE (stage one) and the PixelCNN prior over its codes (stage two)."""
    register(ModelSpec(
        name="vqvae", model_class=VQVAE, config_class=VQVAEConfig, family="latent variable",
        leaf="variational",
        density="bound", sampling="parallel", data="image", paper=_PAPER,
        summary="An encoder's outputs snap to the nearest of K learned codes; a decoder "
                "reconstructs from the code grid. Needs a prior over codes for a bound.",
        pros=[Claim("Discrete latent space, alleviates posterior collapse", None),
              Claim("Easier to interpret latent variables", None),
              Claim("Decoding a code grid is one parallel pass", "sample_ms_per_image_b64")],
        cons=[Claim("No likelihood bound until a prior over codes is trained",
                    "test_bits_per_dim"),
              Claim("Codebook lookup with KNN becomes unreliable at low resolutions", None)]))
    register(ModelSpec(
        name="vqvae-prior", model_class=VQVAEPrior, config_class=VQVAEPriorConfig,
        leaf="variational", family="latent variable", density="bound", sampling="sequential",
        data="image", paper=_PAPER + " (sec. 3.3: PixelCNN prior)", parent="vqvae",
        summary="A PixelCNN fitted to a trained VQ-VAE's codes: samples codes one at a time, "
                "then decodes; the ELBO is log p(x | z_q) + log p(z_q).",
        pros=[Claim("Explicit bound on the likelihood (ELBO)", "test_bits_per_dim"),
              Claim("Autoregressive over a small code grid, not over pixels",
                    "sample_ms_per_image_b1")],
        cons=[Claim("A bound, not the exact likelihood", "test_bits_per_dim"),
              Claim("Generation is sequential over codes", "sample_ms_per_image_b1")]))
