"""The contract suite: every check of genzoo.registry.conformance on every registered model.

A new model plugin is tested by being registered: it appears here without a line of test code.
"""

from __future__ import annotations

import pytest

from genzoo.registry.conformance import CHECKS
from genzoo.registry.plugins import get_registry

MODELS = sorted(get_registry(environ={"GENZOO_PLUGINS": ""}).models)


def test_every_builtin_model_is_in_the_suite():
    """A built-in whose plugin fails to register would drop out of the suite silently."""
    assert {"independent", "gmm", "pixelcnn", "gated-pixelcnn", "pixelcnn++", "pixelrnn-row",
            "pixelrnn-diag", "ar", "neural-ar", "vae", "vqvae", "vqvae-prior",
            "gan"} <= set(MODELS)


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.name)
@pytest.mark.parametrize("model_name", MODELS)
def test_contract(registry, model_name, check):
    check.run(registry.model(model_name))
