"""What the dashboard tests read off a page run by AppTest: its figures, texts and errors."""

from __future__ import annotations

import base64
import json

import numpy as np


def charts(at) -> list[dict]:
    """The plotly figures a page drew, in order, as their JSON specs."""
    return [json.loads(chart.proto.spec) for chart in at.get("plotly_chart")]


def charts_by_title(at) -> dict[str, dict]:
    """The plotly figures a page drew, by their title."""
    return {spec["layout"]["title"]["text"]: spec for spec in charts(at)}


def array(value) -> np.ndarray:
    """A plotly trace's coordinates: a list, or a typed array (``{"dtype", "bdata"}``, with a
    ``shape`` such as "8, 8" for a 2-d array)."""
    if isinstance(value, dict) and "bdata" in value:
        flat = np.frombuffer(base64.b64decode(value["bdata"]), dtype=value["dtype"])
        shape = value.get("shape")
        return flat.reshape([int(n) for n in str(shape).split(",")]) if shape else flat
    return np.asarray(value)


def texts(elements) -> str:
    """The values of a page's elements of one kind, one per line."""
    return "\n".join(str(e.value) for e in elements)


def assert_clean(at) -> None:
    """The page ran without an exception and drew no error box."""
    assert not at.exception, texts(at.exception)
    assert not at.error, texts(at.error)
