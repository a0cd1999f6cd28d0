"""Optional capabilities are declared once (issue 20, part 4): an attribute of GenerativeModel
with its default, or a base class whose abstract methods a model implements; features test
the attribute or isinstance, so a model without a capability gets the default, and a model
that claims a base without its methods cannot be built."""

from __future__ import annotations

import pytest
import torch

from genzoo.plugins.ar import AR, NeuralAR
from genzoo.plugins.independent import IndependentConfig, IndependentPixels
from genzoo.plugins.vae import VAE
from genzoo.plugins.vqvae import VQVAE
from genzoo.registry import (
    AutoregressiveImageModel,
    DataInfo,
    GaussianLatentModel,
    GenerativeModel,
    LatentVariableModel,
    ModelConfig,
    SeriesModel,
)
from genzoo.registry.errors import BadConfig
from genzoo.registry.evaluation import bound_kind, check_iwae
from genzoo.registry.series import context_length

IMAGES = DataInfo(kind="image", shape=(1, 4, 4), levels=4)


def test_a_model_without_a_capability_has_the_declared_default():
    model = IndependentPixels(IndependentConfig(), IMAGES)
    declared = (context_length(model), model.bound_available, model.bound_missing_reason,
                model.bound_name, type(model).distributes_through_loss)
    assert declared == (0, True, None, "elbo", False)
    assert not hasattr(model, "order")  # a plugin may name a buffer so (MADE's ordering)
    assert model.info() == {} and model.conditional is False
    assert ModelConfig().validate() is None


def test_the_built_in_families_declare_their_bases():
    assert issubclass(AR, SeriesModel) and issubclass(NeuralAR, SeriesModel)
    assert issubclass(VAE, GaussianLatentModel)
    assert issubclass(VQVAE, LatentVariableModel) and not issubclass(VQVAE, GaussianLatentModel)
    assert VQVAE.bound_available is False and "prior" in VQVAE.bound_missing_reason


class NoForecast(SeriesModel):
    def loss(self, batch):
        return {"loss": batch.sum()}

    def sample(self, n, generator=None):
        return torch.zeros(n, self.horizon)

    def log_prob(self, x):
        return torch.zeros(len(x))


def test_a_model_that_claims_a_base_without_its_methods_cannot_be_built():
    with pytest.raises(TypeError, match="forecast"):
        NoForecast(ModelConfig(), DataInfo(kind="series", shape=(1,)), order=2, horizon=5)

    class HalfGaussian(GaussianLatentModel, IndependentPixels):
        latent_shape = (2,)

        def encode(self, x):
            return x

        def decode(self, z):
            return z

    with pytest.raises(TypeError, match="posterior"):
        HalfGaussian(IndependentConfig(), IMAGES)


def test_features_read_the_declarations(registry):
    pixels = IndependentPixels(IndependentConfig(), IMAGES)
    with pytest.raises(BadConfig, match="no importance-weighted bound"):
        check_iwae(registry.model("vqvae-prior"), pixels, 5)  # not a GaussianLatentModel
    assert bound_kind(registry.model("vae"), None) == GenerativeModel.bound_name
    assert not issubclass(IndependentPixels, AutoregressiveImageModel)
