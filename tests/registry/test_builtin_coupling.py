"""Built-in plugins do not import each other (issue 20, part 5): shared layers and models live
in private modules (``genzoo.plugins._pixelcnn``, ``_vqvae``), so a mistake in one plugin's
module takes that plugin down alone."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import genzoo.plugins
from genzoo.registry.plugins import builtin_plugins, get_registry

PLUGINS = Path(genzoo.plugins.__file__).parent


def test_no_builtin_plugin_imports_another():
    public = {module.rsplit(".", 1)[1] for module in builtin_plugins().values()}
    for path in sorted(PLUGINS.glob("*.py")):
        if path.stem not in public:  # a plugin's own private helper may import its plugin
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                parts = node.module.split(".")
                target = parts[-1] if node.module.startswith("genzoo.plugins") else (
                    node.module if node.level else None)
                assert target not in public or target == path.stem, \
                    f"{path.name} imports the plugin {node.module}: import its private module"


def test_a_broken_plugin_module_takes_only_itself_down(monkeypatch):
    for name in ("genzoo.plugins.pixelcnn", "genzoo.plugins.vqvae"):
        monkeypatch.setitem(sys.modules, name, None)  # importing it now raises ImportError
    registry = get_registry(environ={"GENZOO_PLUGINS": ""})
    for broken in ("genzoo.pixelcnn", "genzoo.vqvae"):
        assert "failed to import" in registry.plugins[broken].error
    for name in ("genzoo.pixelrnn", "genzoo.codeformer", "genzoo.gated_pixelcnn"):
        assert registry.plugins[name].error is None, registry.plugins[name].error
    assert {"pixelrnn-row", "pixelrnn-diag", "codeformer"} <= set(registry.models)
