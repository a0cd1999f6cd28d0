"""The dashboard's own plotly figures for a notebook cell: ``genzoo.figures.samples(runs)``,
``bits_per_dim(runs)``, ``curves(runs)`` and ``loss_terms(run)``.

Each takes :class:`~genzoo.session.Run` objects (or run ids) and builds its figure with the
same code the dashboard's pages draw with, so a notebook and a page never disagree.
"""

from __future__ import annotations

import logging

import numpy as np
import plotly.graph_objects as go

from genzoo.registry.errors import BadConfig
from genzoo.registry.outputs import image_grid
from genzoo.registry.runs import dataset_label

from .session import Run, _registry, _store


def _quiet_streamlit_caches() -> None:
    """The dashboard's modules cache with Streamlit; outside `streamlit run` that is a plain
    memory cache, and Streamlit says so in a warning a notebook need not show."""
    from streamlit.runtime.caching import cache_data_api

    logging.getLogger(cache_data_api.__name__).setLevel(logging.ERROR)


_quiet_streamlit_caches()


def _runs(runs) -> list[Run]:
    runs = [runs] if isinstance(runs, (Run, str)) else list(runs)
    if not runs:
        raise BadConfig("give at least one run (a Run or a run id)")
    return [run if isinstance(run, Run) else Run(run) for run in runs]


def samples(runs, n: int = 16, seed: int = 0) -> go.Figure:
    """A grid of ``n`` samples of each image run side by side (same seed for all), titled by
    model, as the Samples page shows them."""
    from plotly.subplots import make_subplots

    runs = _runs(runs)
    titles = [f"{run.record.model} ({run.id})" for run in runs]
    fig = make_subplots(rows=1, cols=len(runs), subplot_titles=titles)
    for column, run in enumerate(runs, start=1):
        info = run.data.info
        if info.kind != "image":
            raise BadConfig(f"run {run.id} models a series: samples() draws image grids")
        grid = image_grid(run.sample(n, seed), info.levels, scale=1)
        rgb = np.repeat(grid[..., None], 3, axis=2) if grid.ndim == 2 else grid
        fig.add_trace(go.Image(z=rgb), row=1, col=column)
    fig.update_xaxes(showticklabels=False)
    fig.update_yaxes(showticklabels=False)
    fig.update_layout(title=f"{n} samples each, seed {seed}", height=360,
                      width=max(360, 300 * len(runs)), margin=dict(t=80, b=10))
    return fig


def bits_per_dim(runs) -> go.Figure:
    """Test bits/dim of the runs as the Likelihood page's bars: one bar per model (mean ± std
    over seeds), patterned by the kind of bound, each baseline a dashed line."""
    from genzoo.dashboard import likelihood_data

    runs = _runs(runs)
    records = [run.record for run in runs]
    datasets = sorted({record.dataset for record in records})
    if len(datasets) > 1:
        raise BadConfig("bits/dim compare runs on one dataset; these are on "
                        f"{', '.join(dataset_label(d) for d in datasets)}")
    registry = _registry()
    frame = likelihood_data.likelihood_frame(registry, records, datasets[0])
    summary = likelihood_data.likelihood_summary(frame)
    return likelihood_data.likelihood_figure(summary, dataset_label(datasets[0]),
                                             likelihood_data.baseline_bits(registry, summary))


def curves(runs, name: str = "loss") -> go.Figure:
    """The logged curve ``name`` (the training loss by default) of each run against the step,
    as the Likelihood and Train pages draw it."""
    import pandas as pd

    from genzoo.dashboard.data import PART_UNITS, loss_figure

    drawn = {}
    for run in _runs(runs):
        points = [p for p in _store().curves(run.id) if p["name"] == name]
        drawn[run.id] = pd.DataFrame({"step": [p["step"] for p in points],
                                      "loss": [p["value"] for p in points]})
    unit = PART_UNITS.get(name, "")
    fig = loss_figure(drawn, unit)
    if name != "loss":
        fig.update_layout(title=f"{name} during training",
                          yaxis_title=f"{name} ({unit})" if unit else name)
    return fig


def loss_terms(run) -> go.Figure:
    """Every logged term of one run's loss, a panel each (the ELBO's reconstruction and KL)."""
    import pandas as pd

    from genzoo.dashboard.data import NOT_LOSS_PARTS, loss_parts_figure

    (run,) = _runs(run)
    points = [p for p in _store().curves(run.id) if p["name"] not in NOT_LOSS_PARTS]
    return loss_parts_figure(pd.DataFrame(points, columns=["step", "name", "value"]), run.id)
