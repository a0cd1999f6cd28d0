"""genzoo's core: the model contract, the plugin registry, runs, training and evaluation.

Plugin authors need only the names exported here (each is documented in docs/plugins.md, and a
test keeps it so)::

    from genzoo.registry import hookimpl, ModelSpec, GenerativeModel, ModelConfig

``GENZOO_API_VERSION`` is the plugin API this genzoo provides ("MAJOR.MINOR"); a plugin module
declares the major version it was written for as ``GENZOO_API = "1"`` (see docs/plugins.md).
"""

from .autoregressive import AutoregressiveImageModel, CategoricalPixels
from .config import bounded
from .data import ImageData, SeriesData
from .distributions import PixelLikelihood
from .errors import BadConfig, BadData, GenzooError, NotFound
from .latent import GaussianLatentModel, LatentVariableModel
from .model import DataInfo, GenerativeModel, ModelConfig, check_image_batch
from .plugins import GENZOO_API_VERSION, get_plugin_manager, get_registry, hookimpl
from .series import SeriesModel
from .spec import Claim, DatasetSpec, MetricSpec, ModelSpec

__all__ = [
    "GENZOO_API_VERSION", "AutoregressiveImageModel", "BadConfig", "BadData", "CategoricalPixels",
    "Claim", "DataInfo", "DatasetSpec", "GaussianLatentModel", "GenerativeModel", "GenzooError",
    "ImageData", "LatentVariableModel", "MetricSpec", "ModelConfig", "ModelSpec", "NotFound",
    "PixelLikelihood", "RestorationModel", "SeriesData", "SeriesModel", "bounded",
    "check_image_batch",
    "get_plugin_manager", "get_registry", "hookimpl",
]


def __getattr__(name: str):
    # RestorationModel imports pandas (its metrics table): loaded when a plugin asks for it, so
    # every command's start does not pay for it
    if name == "RestorationModel":
        from .restoration import RestorationModel

        return RestorationModel
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
