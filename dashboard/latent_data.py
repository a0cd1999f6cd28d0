"""The latent explorer's cached computations and figures (the page only draws them).

Every view goes through :mod:`genzoo.registry.explore`, so the dashboard shows exactly what
``genzoo explore`` writes. Results are cached per run and per choice; models are loaded once
and shared (see :func:`genzoo.dashboard.data.loaded_run`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
import torch

from genzoo.dashboard import data
from genzoo.registry import disentangle, explore
from genzoo.registry.errors import GenzooError
from genzoo.registry.flow import FlowModel
from genzoo.registry.latent import LatentVariableModel
from genzoo.registry.outputs import grid_scale, image_grid
from genzoo.registry.plugins import Registry
from genzoo.registry.store import RunRecord

MAX_POINTS = 1000  # test images encoded for the 2-d plot and the factor table


def latent_runs(reg: Registry, records: list[RunRecord]) -> list[RunRecord]:
    """Completed runs of registered latent-variable models on registered datasets, newest
    first."""
    return [r for r in records if r.status == "completed" and r.model in reg.models
            and issubclass(reg.models[r.model].model_class, LatentVariableModel)
            and r.dataset in reg.datasets]


def code_formula(model) -> str:
    """How the page writes an image's code: z = f(x) for a flow, the posterior mean otherwise."""
    return "z = f(x)" if isinstance(model, FlowModel) else "z = μ(x)"


def _model_and_data(loaded):
    return explore.require_latent(loaded.model, loaded.record.run_id), loaded.data


def _picture(images: torch.Tensor, levels: int, columns: int, target_px: int = 640) -> np.ndarray:
    _, _, height, width = images.shape
    scale = grid_scale(height, width, columns=columns, target_px=target_px)
    return image_grid(images, levels, columns=columns, scale=scale)


@data.cached_by_run(show_spinner="Reconstructing…", max_entries=64)
def _reconstructions(loaded, n: int) -> dict:
    model, dataset = _model_and_data(loaded)
    images = dataset.test[:n]
    recon = explore.reconstructions(model, images)
    error = float((recon - images.float()).abs().mean())
    both = torch.cat([images.float(), recon])
    return {"picture": _picture(both, dataset.levels, columns=n), "error": error}


def reconstructions(record: RunRecord, n: int) -> dict:
    """The first ``n`` test images above their reconstructions: ``{picture, error}`` (mean
    absolute error in levels)."""
    return _reconstructions(record, int(n))


@data.cached_by_run(show_spinner="Decoding traversals…", max_entries=64)
def _traversal(loaded, index: int, dims: tuple, steps: int, span: float) -> np.ndarray:
    model, dataset = _model_and_data(loaded)
    grid = explore.traversal(model, dataset.test[index], list(dims), steps, span)
    return _picture(grid.flatten(0, 1), dataset.levels, columns=steps)


def traversal(record: RunRecord, index: int, dims: list[int], steps: int, span: float):
    """One row per latent dimension, walked from -span to +span (a picture)."""
    return _traversal(record, int(index), tuple(int(d) for d in dims), int(steps), float(span))


@data.cached_by_run(show_spinner="Interpolating…", max_entries=64)
def _interpolation(loaded, first: int, second: int, steps: int) -> np.ndarray:
    model, dataset = _model_and_data(loaded)
    frames = explore.interpolation(model, dataset.test[first], dataset.test[second], steps)
    ends = torch.stack([dataset.test[first].float(), dataset.test[second].float()])
    return _picture(torch.cat([ends[:1], frames, ends[1:]]), dataset.levels, columns=steps + 2)


def interpolation(record: RunRecord, first: int, second: int, steps: int) -> np.ndarray:
    """Test image ``first``, ``steps`` decoded codes between the two, test image ``second``."""
    return _interpolation(record, int(first), int(second), int(steps))


@data.cached_by_run(show_spinner="Decoding the manifold…", max_entries=16)
def _manifold(loaded, per_side: int) -> np.ndarray:
    model, dataset = _model_and_data(loaded)
    return _picture(explore.manifold(model, per_side), dataset.levels, columns=per_side)


def manifold(record: RunRecord, per_side: int = 12) -> np.ndarray:
    """The decoded 2-d latent space on a grid of prior quantiles (a picture)."""
    return _manifold(record, int(per_side))


@data.cached_by_run(show_spinner="Encoding the test set…", max_entries=32)
def _encodings(loaded, method: str) -> dict:
    model, dataset = _model_and_data(loaded)
    images = dataset.test[:MAX_POINTS]
    codes = explore.encode_all(model, images)
    points, how = explore.codes_2d(model, codes, method)
    frame = pd.DataFrame({"x": points[:, 0], "y": points[:, 1], "test image": range(len(images))})
    if dataset.test_labels is not None:
        frame["label"] = dataset.test_labels[:len(images)].numpy().astype(str)
    out = {"frame": frame, "how": how, "factors": None, "usage": None, "mig": None}
    if dataset.test_factors:
        out["factors"] = explore.factor_table(model, codes, dataset.test_factors)
        if model.latent_kind == "continuous" and codes.flatten(1).shape[1] >= 2:
            out["mig"] = disentangle.mutual_information_gap(
                codes.flatten(1).numpy(), {k: v[:len(codes)].numpy()
                                           for k, v in dataset.test_factors.items()})
    if model.latent_kind == "discrete":
        counts, perplexity = explore.codebook_usage(model, codes)
        out["usage"] = {"counts": counts, "perplexity": perplexity}
    return out


def encodings(record: RunRecord, method: str) -> dict:
    """The test set's codes: ``frame`` (x, y, label per image), ``how`` they were reduced to
    2-d, the ``factors`` correlation table and ``mig`` (shapes: the mutual information gap of a
    continuous code) and codebook ``usage`` (discrete codes)."""
    return _encodings(record, method)


@data.cached_by_run(show_spinner="Measuring the MIG…", max_entries=64)
def _run_mig(loaded) -> float | None:
    model, dataset = _model_and_data(loaded)
    try:
        return disentangle.model_mig(model, dataset, limit=MAX_POINTS).score
    except GenzooError:
        return None


def beta_tradeoff(reg: Registry, records: list[RunRecord], dataset_name: str) -> pd.DataFrame:
    """Every completed run on ``dataset_name`` of a model with a KL weight β (a vae at several
    β): its β, test bits/dim (the ELBO, at weight 1 whatever β trained it) and MIG."""
    rows = []
    for record in latent_runs(reg, records):
        beta = (record.config or {}).get("beta")
        bits = (record.metrics or {}).get("test_bits_per_dim")
        if record.dataset != dataset_name or beta is None or bits is None:
            continue
        stored = (record.metrics or {}).get(disentangle.TEST_MIG)
        rows.append({"run id": record.run_id, "model": record.model, "beta": float(beta),
                     "test bits/dim": float(bits),
                     "MIG": stored if stored is not None else _run_mig(record)})
    return pd.DataFrame(rows, columns=["run id", "model", "beta", "test bits/dim", "MIG"]
                        ).sort_values(["model", "beta"]).reset_index(drop=True)


def tradeoff_figure(frame: pd.DataFrame) -> go.Figure:
    """β against the bound and the MIG: two panels sharing the β axis (log scale)."""
    from plotly.subplots import make_subplots

    fig = make_subplots(rows=1, cols=2, subplot_titles=(
        "the bound: test bits/dim (ELBO, lower is better)",
        "disentanglement: MIG (higher is better)"))
    for model, group in frame.groupby("model", sort=False):
        for column, name in ((1, "test bits/dim"), (2, "MIG")):
            fig.add_scatter(x=group["beta"], y=group[name], mode="lines+markers", name=model,
                            legendgroup=model, showlegend=column == 1, row=1, col=column,
                            customdata=group["run id"],
                            hovertemplate=f"β %{{x:g}}<br>{name} %{{y:.3f}}<br>%{{customdata}}"
                                          "<extra></extra>")
    fig.update_xaxes(type="log", title_text="β (KL weight in training)")
    fig.update_layout(title="The β-VAE trade-off: a larger β presses q(z|x) towards the "
                            "factorized prior", height=400, margin=dict(t=80, b=40))
    return fig


@data.cached_by_run(show_spinner=False, max_entries=64)
def _image_codes(loaded, index: int) -> np.ndarray:
    model, dataset = _model_and_data(loaded)
    return explore.encode_all(model, dataset.test[index:index + 1])[0].numpy()


def image_codes(record: RunRecord, index: int) -> np.ndarray:
    """The code grid (h, w) of one test image (discrete latents)."""
    return _image_codes(record, int(index))


def encodings_figure(frame: pd.DataFrame, how: str) -> go.Figure:
    """Test-set codes in 2-d, coloured by label."""
    color = "label" if "label" in frame else None
    fig = px.scatter(frame, x="x", y="y", color=color, hover_data=["test image"],
                     category_orders={"label": sorted(frame.get("label", pd.Series()).unique(),
                                                      key=lambda s: (len(s), s))})
    fig.update_traces(marker=dict(size=5, opacity=0.75))
    fig.update_layout(title=f"Test-set codes: {how}", xaxis_title="component 1 (latent units)",
                      yaxis_title="component 2 (latent units)", height=480,
                      margin=dict(t=60, b=40))
    return fig


def factors_figure(table: pd.DataFrame, what: str = "|r|",
                   title: str = "How strongly each latent dimension tracks each factor "
                                "(|Pearson r|)") -> go.Figure:
    """A (latent dimension x known factor) table in [0, 1] as a heatmap: |correlation| by
    default, or the normalized mutual information the MIG is made of."""
    fig = go.Figure(go.Heatmap(z=table.to_numpy(), x=list(table.columns), y=list(table.index),
                               zmin=0, zmax=1, colorscale="Blues", text=table.round(2).to_numpy(),
                               texttemplate="%{text}", colorbar=dict(title=what)))
    fig.update_layout(title=title,
                      xaxis_title="known factor", yaxis_title="latent dimension",
                      yaxis_autorange="reversed", height=max(300, 28 * len(table) + 120),
                      margin=dict(t=60, b=40))
    return fig


def usage_figure(counts: np.ndarray, perplexity: float) -> go.Figure:
    """How often each codebook entry is used on the test set."""
    order = np.argsort(-counts)
    fig = go.Figure(go.Bar(x=[str(k) for k in order], y=counts[order],
                           hovertemplate="code %{x}: %{y:.0f} uses<extra></extra>"))
    used = int((counts > 0).sum())
    fig.update_layout(title=f"Codebook usage: {used} of {len(counts)} codes used, "
                            f"perplexity {perplexity:.1f}",
                      xaxis_title="code index (most used first)", xaxis_type="category",
                      yaxis_title="uses on the test set (code positions)", height=360,
                      margin=dict(t=60, b=40))
    return fig


def codes_figure(grid: np.ndarray, index: int) -> go.Figure:
    """One image's code indices, each cell labelled with its code: a VQ-VAE's grid (h, w), or
    a row of categorical variables (a Gumbel-softmax VAE's N choices)."""
    row = np.ndim(grid) == 1
    grid = np.atleast_2d(grid)
    fig = go.Figure(go.Heatmap(z=grid, text=grid, texttemplate="%{text}", colorscale="Viridis",
                               showscale=False))
    fig.update_layout(title=f"Codes of test image {index}",
                      xaxis_title="categorical variable" if row else "code column",
                      yaxis_title="" if row else "code row", yaxis_autorange="reversed",
                      yaxis_showticklabels=not row, height=200 if row else 360,
                      margin=dict(t=60, b=40))
    return fig
