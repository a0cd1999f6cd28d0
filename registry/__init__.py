"""genzoo's core: the model contract, the plugin registry, runs, training and evaluation.

Plugin authors need only the names exported here::

    from genzoo.registry import hookimpl, ModelSpec, GenerativeModel, ModelConfig

``GENZOO_API_VERSION`` is the plugin API this genzoo provides ("MAJOR.MINOR"); a plugin module
declares the major version it was written for as ``GENZOO_API = "1"`` (see docs/plugins.md).
"""

from .data import ImageData, SeriesData
from .errors import GenzooError
from .model import DataInfo, GenerativeModel, ModelConfig
from .plugins import GENZOO_API_VERSION, get_plugin_manager, get_registry, hookimpl
from .spec import Claim, DatasetSpec, MetricSpec, ModelSpec

__all__ = [
    "GENZOO_API_VERSION", "Claim", "DataInfo", "DatasetSpec", "GenerativeModel", "GenzooError",
    "ImageData", "MetricSpec", "ModelConfig", "ModelSpec", "SeriesData", "get_plugin_manager",
    "get_registry", "hookimpl",
]
