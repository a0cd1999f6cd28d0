"""The hooks a genzoo plugin can implement.

A plugin is a module (or object) with functions decorated by ``genzoo.registry.hookimpl`` whose
names match the specs below, found through an entry point in group ``genzoo`` (built-ins: the
modules of ``genzoo.plugins``). It may declare the plugin API major version it was written for,
``GENZOO_API = "1"``; genzoo refuses a plugin whose major differs from its own
``genzoo.registry.GENZOO_API_VERSION``, and assumes one that declares none compatible.

Each hook receives a ``register`` callback and calls it once per thing it provides; it returns
nothing. pluggy passes an implementation only the arguments it names, so new arguments can be
added to these hooks later without breaking existing plugins (an implementation that names an
argument its genzoo does not have is refused when it loads).

Every hook is called once per plugin when the registry is built (``genzoo`` commands, the
dashboard), so it must be cheap: import nothing heavy that is not needed, build no model, load no
data. Names are global across plugins: registering a name another plugin (or a built-in) already
has raises ``ValueError`` from ``register``, as does passing the wrong descriptor type
(``TypeError``). Any exception a hook raises, or lets through from ``register``, marks the whole
plugin broken: nothing it registered is kept, ``genzoo plugins`` and the dashboard show the error,
and every other plugin keeps working.
"""

from __future__ import annotations

import pluggy

hookspec = pluggy.HookspecMarker("genzoo")


@hookspec
def register_models(register):
    """Register generative models.

    Call ``register(spec)`` once per model with a :class:`genzoo.registry.ModelSpec`: its
    ``name`` (what ``genzoo train NAME`` takes), ``model_class`` (a subclass of
    :class:`genzoo.registry.GenerativeModel`, built later as ``model_class(config, data_info)``),
    ``config_class`` (a dataclass subclassing :class:`genzoo.registry.ModelConfig`, every field
    with a default) and its taxonomy metadata: ``family``, ``density`` (``"exact"``, ``"bound"``,
    ``"estimate"`` or ``"implicit"``), ``sampling`` (``"parallel"`` or ``"sequential"``), ``data``
    (``"image"`` or ``"series"``), optionally ``paper``, ``summary``, ``pros``/``cons``
    (strings or :class:`genzoo.registry.Claim` naming the metric that tests them), ``parent``
    and ``baseline``. ``ModelSpec`` itself raises ``ValueError``/``TypeError`` for a bad field.
    """


@hookspec
def register_datasets(register):
    """Register datasets.

    Call ``register(spec)`` once per dataset with a :class:`genzoo.registry.DatasetSpec`:
    ``name``, ``kind`` (``"image"`` or ``"series"``) and ``load``, a callable that returns a
    :class:`genzoo.registry.ImageData` (int64 ``(N, C, H, W)`` splits with values in
    ``[0, levels)``) or a :class:`genzoo.registry.SeriesData` (float64 1-d splits). ``load`` is
    called only when a run needs the data, and must work offline: ship the data in a package or
    generate it. Keyword arguments of ``load`` listed in ``options`` (each with a default) can be
    set by users with ``--set NAME=VALUE``; ``source`` and ``summary`` are shown in listings.
    """


@hookspec
def register_metrics(register):
    """Register measurements computed on a trained model.

    Call ``register(spec)`` once per metric with a :class:`genzoo.registry.MetricSpec`:
    ``name``, ``compute(model, data, **kw) -> float`` (``model`` a trained ``GenerativeModel``,
    ``data`` the ``ImageData``/``SeriesData`` it was trained on), ``unit``, ``higher_is_better``,
    ``applies_to`` (data kinds, default ``("image",)``) and a ``summary`` a student can read.
    The dashboard labels a number stored with a run under the same name (a claim's metric) with
    this unit, direction and summary.
    """
