"""The hooks a genzoo plugin can implement.

A plugin is a module (or object) with functions decorated by ``genzoo.registry.hookimpl`` whose
names match the specs below. Each hook receives a ``register`` callback and calls it once per
thing it provides. pluggy passes an implementation only the arguments it names, so new arguments
can be added to these hooks later without breaking existing plugins.
"""

from __future__ import annotations

import pluggy

hookspec = pluggy.HookspecMarker("genzoo")


@hookspec
def register_models(register):
    """Register generative models.

    Called once when the registry is built. Call ``register(spec)`` with a
    :class:`genzoo.registry.ModelSpec` for every model the plugin provides: its name, config
    dataclass, model class and taxonomy metadata. Build no model here; return nothing.
    """


@hookspec
def register_datasets(register):
    """Register datasets.

    Called once when the registry is built. Call ``register(spec)`` with a
    :class:`genzoo.registry.DatasetSpec` whose ``load()`` returns an ``ImageData`` or a
    ``SeriesData``. Loading must work offline: ship the data in a package or generate it.
    """


@hookspec
def register_metrics(register):
    """Register measurements computed on a trained model.

    Called once when the registry is built. Call ``register(spec)`` with a
    :class:`genzoo.registry.MetricSpec`; ``compute(model, data)`` returns one float.
    """
