"""Every plotly chart on every page names what its axes measure (and in what unit), on a store
with the demo runs, so a reader never has to guess what a number is."""

from __future__ import annotations

import re

import pytest

from page_helpers import assert_clean, charts

PAGES = ["overview", "samples", "likelihood", "quality", "speed", "lecture", "latent",
         "completion", "density2d", "timeseries", "train", "plugins"]


# Quantities that always come in a unit (nats, bits/dim, ms, levels, latent units, ...): an axis
# naming one must say which, in parentheses. Counts, shares, ranks and scores in a classifier's
# feature space (model, training step, precision, Fréchet distance, row) are unitless.
WITH_UNITS = re.compile(r"\b(loss|log-likelihood|log p|time|bandwidth|KL|density|component)\b")


def visible_axes(spec: dict) -> dict[str, str]:
    """The figure's visible x/y axes and their titles ("" for none)."""
    layout = spec["layout"]
    axes = [key for key in layout if key.startswith(("xaxis", "yaxis"))] or ["xaxis", "yaxis"]
    shown = {}
    for key in axes:
        axis = layout.get(key, {})
        if axis.get("visible") is False or axis.get("showticklabels") is False:
            continue  # an image or a heatmap of pixels: no scale to read
        shown[key] = str(axis.get("title", {}).get("text") or "").strip()
    return shown


def unlabelled_axes(spec: dict) -> list[str]:
    """The figure's visible x/y axes that have no title."""
    return [key for key, title in visible_axes(spec).items() if not title]


def axes_without_units(spec: dict) -> list[str]:
    """Titles that name a quantity measured in a unit but give no unit in parentheses."""
    return [title for title in visible_axes(spec).values() if WITH_UNITS.search(title)
            and not re.search(r"\(.+\)", re.sub(r"p\([^)]*\)", "", title))]  # p(x) is no unit


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
        title = spec["layout"].get("title", {}).get("text", "untitled")
        if missing := unlabelled_axes(spec):
            bad[title] = missing
        if no_unit := axes_without_units(spec):
            bad[title] = bad.get(title, []) + [f"no unit: {t!r}" for t in no_unit]
    assert not bad, bad


def test_a_quantity_with_a_unit_is_caught_without_it():
    def figure(*titles):
        return {"layout": {f"{axis}axis": {"title": {"text": t}}
                           for axis, t in zip("xy", titles)}}

    assert axes_without_units(figure("training step", "training loss (nats/dim)")) == []
    assert axes_without_units(figure("model", "precision")) == []  # unitless: nothing asked
    assert axes_without_units(figure("sampling time", "estimate of log p(x)")) == [
        "sampling time", "estimate of log p(x)"]  # p(x)'s parentheses are not a unit
