"""The Diffusion page's cached computations and figures (the page only draws them).

Every view goes through :mod:`genzoo.registry.diffusion_views`, so a plugin's diffusion model
shows here as the built-in ``ddpm`` does. Results are cached per run and per choice.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import torch

from genzoo.dashboard import data
from genzoo.registry import diffusion_views
from genzoo.registry.diffusion import DiffusionModel
from genzoo.registry.outputs import grid_scale, image_grid
from genzoo.registry.plugins import Registry
from genzoo.registry.store import RunRecord

BOUND_IMAGES = 64  # test images the per-timestep bound is averaged over (T passes each)
TRADEOFF_SAMPLES = 200  # samples per step count on the trade-off plot


def diffusion_runs(reg: Registry, records: list[RunRecord]) -> list[RunRecord]:
    """Completed runs of registered diffusion models on registered datasets, newest first."""
    return [r for r in records if r.status == "completed" and r.model in reg.models
            and issubclass(reg.models[r.model].model_class, DiffusionModel)
            and r.dataset in reg.datasets]


def _picture(images: torch.Tensor, levels: int, columns: int, target_px: int = 900) -> np.ndarray:
    _, _, height, width = images.shape
    scale = grid_scale(height, width, columns=columns, target_px=target_px)
    return image_grid(images.clamp(0, levels - 1), levels, columns=columns, scale=scale)


def _model(loaded) -> DiffusionModel:
    return diffusion_views.require_diffusion(loaded.model, loaded.record.run_id)


@data.cached_by_run(show_spinner="Noising…", max_entries=64)
def _forward(loaded, index: int, frames: int, seed: int) -> dict:
    model, dataset = _model(loaded), loaded.data
    timesteps = diffusion_views.timestep_grid(model.num_timesteps, frames)
    images = diffusion_views.forward_frames(model, dataset.test[index], timesteps, seed)
    return {"timesteps": timesteps,
            "frames": [_picture(image[None], dataset.levels, 1, 160) for image in images],
            "strip": _picture(images, dataset.levels, columns=len(images))}


def forward(record: RunRecord, index: int, frames: int, seed: int = 0) -> dict:
    """Test image ``index`` through q(x_t | x_0) at ``frames`` timesteps from 1 to T:
    ``{timesteps, frames: [picture, ...] (the clean image first), strip: one picture}``."""
    return _forward(record, int(index), int(frames), int(seed))


@data.cached_by_run(show_spinner="Running the reverse chain…", max_entries=32)
def _reverse(loaded, n: int, steps: int, eta: float, frames: int, seed: int) -> dict:
    model, levels = _model(loaded), loaded.data.levels
    generator = torch.Generator(device=model.device).manual_seed(seed)
    chain = model.reverse_frames(n, steps, generator=generator, eta=eta, frames=frames)
    pictures = [_picture(torch.cat([x_t, x0]).cpu(), levels, columns=n, target_px=480)
                for x_t, x0 in zip(chain["x_t"], chain["x0_pred"], strict=True)]
    return {"t": list(chain["t"]), "pictures": pictures,
            "samples": _picture(chain["samples"].float().cpu(), levels, columns=n)}


def reverse(record: RunRecord, n: int, steps: int, eta: float, frames: int,
            seed: int = 0) -> dict:
    """The reverse chain from noise, ``frames`` snapshots: ``{t: [...], pictures: [...]}``,
    each picture x_t (top row) over the predicted x̂_0 (bottom row); ``samples``."""
    return _reverse(record, int(n), int(steps), float(eta), int(frames), int(seed))


@data.cached_by_run(show_spinner="Computing every term of the bound…", max_entries=16)
def _bound_terms(loaded, n: int) -> pd.DataFrame:
    return diffusion_views.bound_by_timestep(_model(loaded), loaded.data.test[:n])


def bound_terms(record: RunRecord, n: int = BOUND_IMAGES) -> pd.DataFrame:
    """Every term of the bound, averaged over the first ``n`` test images (bits/dim)."""
    return _bound_terms(record, int(n))


def bound_terms_figure(frame: pd.DataFrame) -> go.Figure:
    """Bits/dim of each term against t (log axis: the first steps hold most of the bits), with
    the running share of the total on a second axis."""
    shown = frame.assign(t_plot=frame["t"].clip(lower=0) + 1)  # t = 0 drawn at 1 on a log axis
    fig = go.Figure()
    fig.add_bar(x=shown["t_plot"], y=shown["bits_per_dim"], name="term (bits/dim)",
                customdata=shown["term"],
                hovertemplate="%{customdata}<br>%{y:.4g} bits/dim<extra></extra>")
    fig.add_scatter(x=shown["t_plot"], y=shown["cumulative_share"], name="running share",
                    yaxis="y2", mode="lines",
                    hovertemplate="up to %{x}: %{y:.1%} of the bound<extra></extra>")
    fig.update_layout(title=f"Where the bits go: {frame['bits_per_dim'].sum():.3f} bits/dim in "
                            f"{len(frame)} terms", xaxis=dict(title="t + 1 (log scale)",
                                                              type="log"),
                      yaxis=dict(title="bits/dim", type="log"),
                      yaxis2=dict(title="running share", overlaying="y", side="right",
                                  range=[0, 1], tickformat=".0%"),
                      height=400, margin=dict(t=60, b=40), legend=dict(orientation="h", y=-0.2))
    return fig


@data.cached_by_run(show_spinner="Sampling at each step count and scoring…", max_entries=16)
def _tradeoff(loaded, steps: tuple, n: int, eta: float) -> pd.DataFrame:
    from genzoo.registry.quality import reference_for_run

    model = _model(loaded)
    reference = reference_for_run(data.store(), data.registry(), loaded.record, loaded.data)
    return diffusion_views.step_tradeoff(model, loaded.data, reference, list(steps), n=n,
                                         eta=eta)


def tradeoff(record: RunRecord, steps: list[int], n: int = TRADEOFF_SAMPLES,
             eta: float = 0.0) -> pd.DataFrame:
    """ms/image and Fréchet distance of ``n`` samples at each step count."""
    return _tradeoff(record, tuple(sorted({int(k) for k in steps})), int(n), float(eta))


def tradeoff_figure(frame: pd.DataFrame, total: int) -> go.Figure:
    """Fréchet distance against ms/image, one point per step count (labelled K)."""
    fig = go.Figure(go.Scatter(
        x=frame["ms_per_image"], y=frame["frechet_distance"], mode="lines+markers+text",
        text=[f"K={k}" for k in frame["steps"]], textposition="top center",
        hovertemplate="%{text}: %{x:.3g} ms/image, Fréchet %{y:.3g}<extra></extra>"))
    fig.update_layout(title=f"Fewer steps, faster, at a cost: DDIM with K of T = {total} steps",
                      xaxis=dict(title="sampling ms per image (log scale)", type="log"),
                      yaxis_title="Fréchet distance (lower is better)", height=400,
                      margin=dict(t=60, b=40))
    return fig
