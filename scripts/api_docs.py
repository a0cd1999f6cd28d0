"""Write docs/api.md from the Python API's own docstrings, so the page never drifts from the
code (tests/api/test_api_docs.py fails when it has): ``python scripts/api_docs.py``."""

from __future__ import annotations

import inspect
import sys
from pathlib import Path

DOC = Path(__file__).resolve().parents[1] / "docs" / "api.md"
FUNCTIONS = ("train", "load", "runs", "compare", "home")
CLASSES = ("Run", "Comparison")
FIGURES = ("samples", "bits_per_dim", "curves", "loss_terms")


def _entry(title: str, obj, heading: str = "###") -> list[str]:
    try:
        signature = str(inspect.signature(obj, eval_str=True))  # types, not their strings
    except (TypeError, ValueError, NameError):  # a property; a type only a checker sees
        signature = ""
    return [f"{heading} `{title}{signature}`", "", inspect.cleandoc(obj.__doc__ or ""), ""]


def render() -> str:
    import genzoo
    from genzoo import figures, session

    lines = ["# The Python API", "",
             "<!-- written by scripts/api_docs.py from the docstrings; edit those, not this -->",
             "", inspect.cleandoc(genzoo.__doc__), "", "## Functions", ""]
    for name in FUNCTIONS:
        lines += _entry(f"genzoo.{name}", getattr(session, name))
    for name in CLASSES:
        cls = getattr(session, name)
        lines += [f"## `genzoo.{name}`", "", inspect.cleandoc(cls.__doc__), ""]
        for member, value in cls.__dict__.items():
            if member.startswith("_") and member != "__init__":
                continue
            if isinstance(value, property):
                lines += [f"### `{name}.{member}` (property)", "",
                          inspect.cleandoc(value.fget.__doc__ or ""), ""]
            elif inspect.isfunction(value) and value.__doc__:
                lines += _entry(f"{name}.{member}", value)
    lines += ["## `genzoo.figures`", "", inspect.cleandoc(figures.__doc__), ""]
    for name in FIGURES:
        lines += _entry(f"genzoo.figures.{name}", getattr(figures, name))
    return "\n".join(lines).rstrip() + "\n"


if __name__ == "__main__":
    DOC.write_text(render())
    sys.stdout.write(f"wrote {DOC}\n")
