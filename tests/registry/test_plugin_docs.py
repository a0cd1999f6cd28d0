"""docs/plugins.md documents the whole plugin API: every hook genzoo calls and every name that
``genzoo.registry`` exports (in the manner of datasette's test_plugin_hooks_are_documented), so
an author never meets an API the guide does not mention."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import genzoo.registry
from genzoo.registry import hookspecs

GUIDE = (Path(__file__).resolve().parents[2] / "docs" / "plugins.md").read_text()


def hook_names() -> list[str]:
    marker = "genzoo_spec"  # pluggy's HookspecMarker("genzoo") sets this attribute
    return sorted(name for name, fn in inspect.getmembers(hookspecs, inspect.isfunction)
                  if hasattr(fn, marker))


def test_every_hook_is_documented_with_its_arguments():
    names = hook_names()
    assert names == ["register_datasets", "register_metrics", "register_models"]
    for name in names:
        arguments = ", ".join(inspect.signature(getattr(hookspecs, name)).parameters)
        assert f"`{name}({arguments})`" in GUIDE, f"hook {name} is not in docs/plugins.md"


def test_every_exported_name_is_in_the_exports_table():
    table = GUIDE.split("### What `genzoo.registry` exports", 1)[1].split("\n### ", 1)[0]
    documented = set(re.findall(r"`([A-Za-z_][A-Za-z0-9_]*)`", table))
    missing = sorted(set(genzoo.registry.__all__) - documented)
    assert not missing, f"exported but not in docs/plugins.md's exports table: {missing}"
    for name in genzoo.registry.__all__:
        assert getattr(genzoo.registry, name) is not None  # importable, lazy ones included
