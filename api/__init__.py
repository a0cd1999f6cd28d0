"""genzoo's Python API: train, load, list and compare runs from a notebook or a script.

One import gives it all, over the same runs store as the command line and the dashboard
(``$GENZOO_HOME``, default ``~/.genzoo``)::

    import genzoo

    run = genzoo.train("pixelcnn", "digits", seconds=30)   # a Run
    run.bits_per_dim()                                       # test bits/dim, its bound kind aside
    images = run.sample(16, seed=0)                          # (16, 1, 8, 8) integer images
    genzoo.runs()                                            # every run, as a DataFrame
    table = genzoo.compare(["independent", "pixelcnn"], "digits", seconds=10).table
    genzoo.figures.bits_per_dim([run])                       # the dashboard's own plotly figure

Errors are the command line's one-line :class:`GenzooError` s. The names below load on first use,
so the command line, which imports ``genzoo.registry``, does not pay for the API.
"""

from __future__ import annotations

import importlib

__all__ = ["Comparison", "GenzooError", "Run", "compare", "figures", "home", "load", "runs",
           "train"]

# name -> the module that defines it (the API's own modules, or the registry's errors)
_WHERE = {"Comparison": "genzoo.session", "Run": "genzoo.session", "compare": "genzoo.session",
          "home": "genzoo.session", "load": "genzoo.session", "runs": "genzoo.session",
          "train": "genzoo.session", "GenzooError": "genzoo.registry.errors"}


def __getattr__(name: str):
    if name == "figures":
        return importlib.import_module("genzoo.figures")
    if name in _WHERE:
        value = getattr(importlib.import_module(_WHERE[name]), name)
        globals()[name] = value  # looked up once
        return value
    raise AttributeError(f"module 'genzoo' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
