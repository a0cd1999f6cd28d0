"""genzoo's core: the model contract, the plugin registry, runs, training and evaluation.

Plugin authors need only the names exported here::

    from genzoo.registry import hookimpl, ModelSpec, GenerativeModel, ModelConfig
"""

from .data import ImageData, SeriesData
from .errors import GenzooError
from .model import DataInfo, GenerativeModel, ModelConfig
from .plugins import get_plugin_manager, get_registry, hookimpl
from .spec import Claim, DatasetSpec, MetricSpec, ModelSpec

__all__ = [
    "Claim", "DataInfo", "DatasetSpec", "GenerativeModel", "GenzooError", "ImageData",
    "MetricSpec", "ModelConfig", "ModelSpec", "SeriesData", "get_plugin_manager",
    "get_registry", "hookimpl",
]
