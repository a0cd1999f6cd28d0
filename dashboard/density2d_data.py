"""The 2-d densities page's cached computations and figures (the page only draws them).

Every number goes through :mod:`genzoo.registry.density2d`: the true density of a toy dataset,
each run's density on the same grid (exact, a bound, or a histogram of samples) and the
distances between them. Results are cached per run; models are loaded once and shared (see
:func:`genzoo.dashboard.data.loaded_run`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from genzoo.dashboard import data
from genzoo.registry import density2d
from genzoo.registry.errors import GenzooError
from genzoo.registry.plugins import Registry
from genzoo.registry.store import RunRecord

DEFAULT_GRID = 32
TRAIN_COMMAND = "genzoo train pixelcnn --dataset 8-gaussians --seconds 30"
SCATTER_POINTS = 1000  # samples of an implicit model drawn over the true density
COLOR_SCALE = "Viridis"
KIND_LABELS = {"exact": "exact density",
               "integrated": "exact continuous density, integrated over each cell",
               "bound": "lower bound: exp(ELBO), mass below 1",
               "samples": "histogram of samples (no density)"}


def toy_datasets(reg: Registry, records: list[RunRecord]) -> list[str]:
    """Registered 2-d points datasets (declared ``points`` by their spec), then any other one
    that a run stored as point data (a third-party toy registered without the flag), in registry
    order."""
    names = {name for name, spec in reg.datasets.items() if spec.points}
    names |= {r.dataset for r in records if r.dataset in reg.datasets
              and r.data_info.get("points")}
    order = list(reg.datasets)
    return sorted(names, key=order.index)


def run_grid(record: RunRecord) -> int:
    """The grid size (levels per coordinate) a run was trained on."""
    return int(record.data_info.get("levels") or DEFAULT_GRID)


def toy_runs(reg: Registry, records: list[RunRecord], dataset: str) -> dict[int, list[RunRecord]]:
    """Completed runs of registered models on ``dataset``, by grid size, newest first."""
    by_grid: dict[int, list[RunRecord]] = {}
    for record in records:
        if (record.status == "completed" and record.dataset == dataset
                and record.model in reg.models):
            by_grid.setdefault(run_grid(record), []).append(record)
    return dict(sorted(by_grid.items()))


def default_runs(records: list[RunRecord]) -> list[RunRecord]:
    """The newest run of each model (what the page shows until the user picks others)."""
    return list(data.latest_by_model(records).values())


def _points_data(name: str, grid: int):
    options = {} if grid == DEFAULT_GRID else {"grid": grid}
    return data.dataset(name, options)


@st.cache_data(show_spinner=False, max_entries=64)
def _truth(name: str, grid: int) -> dict:
    dataset = _points_data(name, grid)
    density = density2d.true_density(dataset)
    return {"density": density, "entropy": density2d.entropy_bits(density),
            "source": dataset.source}


def truth(name: str, grid: int = DEFAULT_GRID) -> dict:
    """A toy dataset's true density on the grid, its entropy (bits per point) and its source."""
    return _truth(name, int(grid))


@data.cached_by_run(show_spinner="Computing the density on the grid…", max_entries=128)
def _run_density(loaded) -> dict:
    density, kind = density2d.model_density(loaded.model, loaded.spec, loaded.data)
    scores = density2d.compare(density2d.true_density(loaded.data), density)
    out = {"density": density, "kind": kind, **scores, "samples": None}
    if kind == "samples":
        import torch

        generator = torch.Generator(device=loaded.model.device).manual_seed(1)
        points = loaded.model.sample(SCATTER_POINTS, generator=generator)
        out["samples"] = points.reshape(-1, 2).cpu().numpy()
    return out


def run_density(record: RunRecord) -> dict:
    """A run's density on its grid and how far it is from the truth: ``density``, ``kind``
    (exact / bound / samples), ``kl_bits``, ``tv``, ``mass``, ``missed_mass``, ``slack_bits``,
    and for a histogram ``samples`` (points to scatter). ``error`` instead, if it cannot load."""
    try:
        return _run_density(record)
    except GenzooError as exc:
        if data.deleted_runs([record.run_id]):  # nothing to train again: it was removed
            return {"error": data.deleted_message(record.run_id)}
        return {"error": f"{exc}; {data.retrain_hint(record)}"}


def scores_frame(records: list[RunRecord], results: list[dict], entropy: float) -> pd.DataFrame:
    """One row per run: kind, test bits/dim, KL, TV, mass and missed mass."""
    rows = []
    for record, result in zip(records, results):
        if "error" in result:
            continue
        rows.append({"run": record.run_id, "model": record.model,
                     "kind": KIND_LABELS[result["kind"]],
                     "test bits/dim": (record.metrics or {}).get("test_bits_per_dim"),
                     "KL(true ‖ model), bits/point": result["kl_bits"],
                     "total variation": result["tv"], "mass on the grid": result["mass"],
                     "true mass missed": result["missed_mass"]})
    frame = pd.DataFrame(rows, columns=["run", "model", "kind", "test bits/dim",
                                        "KL(true ‖ model), bits/point", "total variation",
                                        "mass on the grid", "true mass missed"])
    frame.attrs["floor bits/dim"] = entropy / 2
    return frame


def heatmap(density: np.ndarray, title: str, zmax: float) -> go.Figure:
    """A (G, G) [x, y] density as a heatmap, x to the right and y up, on a fixed colour scale
    (0 to ``zmax``; cells above it take the top colour)."""
    grid = density.shape[0]
    fig = go.Figure(go.Heatmap(z=density.T, x=np.arange(grid), y=np.arange(grid), zmin=0,
                               zmax=zmax, colorscale=COLOR_SCALE,
                               colorbar=dict(title="probability"),
                               hovertemplate="x=%{x}, y=%{y}: %{z:.2e}<extra></extra>"))
    _square_axes(fig, grid, title)
    return fig


def samples_figure(true: np.ndarray, samples: np.ndarray, title: str, zmax: float,
                   seed: int = 0) -> go.Figure:
    """Samples (n, 2) of cell indices over the true density; jittered inside their cell so
    that many samples in one cell stay visible."""
    grid = true.shape[0]
    jitter = np.random.default_rng(seed).uniform(-0.4, 0.4, size=samples.shape)
    points = samples + jitter
    fig = go.Figure([
        go.Heatmap(z=true.T, x=np.arange(grid), y=np.arange(grid), zmin=0, zmax=zmax,
                   colorscale="Greys", showscale=False, hoverinfo="skip"),
        go.Scatter(x=points[:, 0], y=points[:, 1], mode="markers", name="samples",
                   marker=dict(size=4, color="crimson", opacity=0.6))])
    _square_axes(fig, grid, title)
    return fig


def _square_axes(fig: go.Figure, grid: int, title: str) -> None:
    fig.update_layout(title=title, height=380, margin=dict(t=60, b=40, l=40, r=20),
                      showlegend=False)
    fig.update_xaxes(title="x (grid cell)", range=[-0.5, grid - 0.5], constrain="domain")
    fig.update_yaxes(title="y (grid cell)", range=[-0.5, grid - 0.5], scaleanchor="x",
                     constrain="domain")
