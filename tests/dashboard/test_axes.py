"""Every plotly chart on every page names what its axes measure (and in what unit), on a store
with the demo runs, so a reader never has to guess what a number is."""

from __future__ import annotations

import pytest
from page_helpers import assert_clean, charts

PAGES = ["overview", "samples", "likelihood", "quality", "speed", "lecture", "latent",
         "completion", "density2d", "timeseries", "train", "plugins"]


def unlabelled_axes(spec: dict) -> list[str]:
    """The figure's visible x/y axes that have no title."""
    layout = spec["layout"]
    axes = [key for key in layout if key.startswith(("xaxis", "yaxis"))] or ["xaxis", "yaxis"]
    missing = []
    for key in axes:
        axis = layout.get(key, {})
        if axis.get("visible") is False or axis.get("showticklabels") is False:
            continue  # an image or a heatmap of pixels: no scale to read
        if not str(axis.get("title", {}).get("text") or "").strip():
            missing.append(key)
    return missing


@pytest.mark.parametrize("page", PAGES)
def test_every_chart_titles_its_axes(app, demo_store, page):
    at = app(page)
    if page == "lecture":  # every part of the lecture, not only the first
        at.radio(key="lecture-part").set_value("All parts").run()
    assert_clean(at)
    bad = {}
    for spec in charts(at):
        if spec["data"] and spec["data"][0].get("type") in ("pie", "table", "treemap"):
            continue  # no axes to title
        if missing := unlabelled_axes(spec):
            bad[spec["layout"].get("title", {}).get("text", "untitled")] = missing
    assert not bad, bad
