"""The contract suite: every check of genzoo.registry.conformance on every registered model.

A new model plugin is tested by being registered: it appears here without a line of test code,
and only with the checks that apply to it (an implicit density has no log_prob to check).
"""

from __future__ import annotations

from genzoo.registry.conformance import parametrize_with_checks
from genzoo.registry.plugins import builtin_plugins, get_registry

REGISTRY = get_registry(environ={"GENZOO_PLUGINS": ""})
MODELS = sorted(REGISTRY.models)


def test_every_builtin_plugin_loads_and_registers_something():
    """A built-in whose plugin fails to load would drop its models out of the suite silently;
    the list of built-ins is genzoo.plugins itself, not kept by hand."""
    for name in builtin_plugins():
        info = REGISTRY.plugins[name]
        assert info.error is None, f"{name}: {info.error}"
        assert info.models or info.datasets or info.metrics, f"{name} registers nothing"
    assert len(MODELS) >= 14


@parametrize_with_checks(MODELS, registry=REGISTRY)
def test_contract(model, check):
    check.run(model)
