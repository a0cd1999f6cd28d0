"""``genzoo new-plugin NAME``: a third-party plugin package that works before it is edited.

The package is written from the templates in ``genzoo/registry/templates`` (``string.Template``,
``$name`` style): its ``pyproject.toml`` declares the entry point in group ``genzoo``, its model
is a small exact autoregressive model that passes every contract check, its test file runs
those checks with :func:`~genzoo.registry.conformance.parametrize_with_checks`, and its README
lists the next steps. Nothing is ever overwritten.
"""

from __future__ import annotations

import re
from pathlib import Path
from string import Template

from .errors import BadConfig, GenzooError

TEMPLATES = Path(__file__).resolve().with_name("templates")
NAME_PATTERN = re.compile(r"[a-z][a-z0-9]*(-[a-z0-9]+)*")

# target path in the package (with {module} for the Python package) <- template file
FILES = {
    "pyproject.toml": "pyproject.toml.tmpl",
    "README.md": "README.md.tmpl",
    "{module}/__init__.py": "__init__.py.tmpl",
    "{module}/model.py": "model.py.tmpl",
    "{module}/plugin.py": "plugin.py.tmpl",
    "tests/test_contract.py": "test_contract.py.tmpl",
}


def validate_name(name: str) -> None:
    """Refuse, saying why, a NAME that is not lowercase letters, digits and single dashes
    starting with a letter (it becomes the model's name, the distribution ``genzoo-NAME`` and
    the Python package ``genzoo_NAME``)."""
    if not NAME_PATTERN.fullmatch(name or ""):
        raise BadConfig(f"plugin name {name!r}: use lowercase letters, digits and dashes, "
                        "starting with a letter (like my-model)")


def template_values(name: str) -> dict[str, str]:
    """What the templates' ``$placeholders`` stand for, for the plugin ``name``."""
    from . import plugins

    api = str(getattr(plugins, "GENZOO_API_VERSION", "1.0")).split(".")[0]
    return {"name": name, "dist": f"genzoo-{name}", "module": f"genzoo_{name.replace('-', '_')}",
            "cls": "".join(part.capitalize() for part in name.split("-")), "api": api}


def render(template: str, values: dict[str, str]) -> str:
    """One template file of ``TEMPLATES`` with its placeholders filled in."""
    return Template((TEMPLATES / template).read_text()).substitute(values)


def new_plugin(name: str, folder: Path | str = ".", *, taken=()) -> Path:
    """Write the package ``folder/genzoo-NAME/`` and return its path.

    Refuses (:class:`GenzooError`, nothing written) a bad name, a model name in ``taken`` (the
    models registered already) and an existing package folder.
    """
    validate_name(name)
    if name in taken:
        raise BadConfig(f"a model named {name!r} is registered already; pick another name")
    values = template_values(name)
    root = Path(folder) / values["dist"]
    if root.exists():
        raise GenzooError(f"{root} exists already; new-plugin never overwrites: remove it or "
                          "pick another --dir or name")
    contents = {path.format(module=values["module"]): render(template, values)
                for path, template in FILES.items()}  # every template renders before a write
    for path, text in contents.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text)
    return root
