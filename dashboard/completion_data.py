"""What the Completion and receptive fields page shows: completions of test images by an
autoregressive run (computed by `registry.masks.complete_images`, as `genzoo complete` does),
and which input pixels each output pixel's conditional sees (PixelCNN's blind spot).
"""

from __future__ import annotations

import os

import numpy as np
import plotly.graph_objects as go
import streamlit as st
import torch

from genzoo.dashboard import data as core
from genzoo.dashboard.data import cached_by_run
from genzoo.registry import outputs
from genzoo.registry.config import build_config
from genzoo.registry.errors import BadData
from genzoo.registry.masks import (
    can_complete,
    complete_images,
    completing_models,
    masked_picture,
    masked_view,
    require_completer,
)
from genzoo.registry.outputs import image_grid
from genzoo.registry.plugins import Registry
from genzoo.registry.runs import build_model
from genzoo.registry.store import RunRecord

RF_DATASET = "shapes"  # 16x16: big enough that PixelCNN's blind spot shows, fast to compute


RF_FLOOR = -4.0  # the heatmap's log10 scale starts at 1e-4 of the strongest influence


RF_EXPLANATION = (
    "Each heatmap shows which input pixels a model's prediction for the target pixel (✕) "
    "depends on (|∂ output / ∂ input|, log scale; blank cells have no influence at all): a "
    "raster-order model must never see the target pixel or any later one, the plain PixelCNN's "
    "stacked masked convolutions also miss earlier pixels up and to the right of it (its blind "
    "spot), the gated PixelCNN's separate vertical and horizontal stacks remove that blind spot, "
    "and PixelRNN's Row LSTM sees a triangle widening upwards from the rows above while its "
    "Diagonal BiLSTM sees every earlier pixel except the last one of the row above (one "
    "missing pixel, for targets more than 3 columns left of the right edge with the default "
    "7x7 first layer: 28 of 64 positions on 8x8, 180 of 256 on 16x16).")


def ar_image_models(reg: Registry) -> list[str]:
    """Every registered autoregressive image model, in registry order."""
    return completing_models(reg)


def image_dataset_names(reg: Registry) -> list[str]:
    """The registered picture datasets (not the 2-d point sets), in registry order."""
    return [name for name, spec in reg.datasets.items() if spec.kind == "image"
            and not core.is_points(name)]


def completion_runs(reg: Registry, records: list[RunRecord]) -> list[RunRecord]:
    """Completed runs of registered autoregressive image models on registered picture
    datasets (a 2-d point has no half to complete), newest first."""
    return [r for r in records if r.status == "completed" and r.model in reg.models
            and can_complete(reg.models[r.model]) and r.dataset in reg.datasets
            and not core.is_points(r.dataset)]


@cached_by_run(show_spinner="Completing…", max_entries=128)
def _completion(loaded, mask: str, seed: int, index: int, samples: int) -> dict:
    data = loaded.data
    if not 0 <= index < len(data.test):
        raise BadData(f"test image {index} does not exist: the {data.name} test split has "
                      f"images 0..{len(data.test) - 1}")
    image = data.test[index:index + 1]  # (1, C, H, W)
    label = int(data.test_labels[index]) if data.test_labels is not None else None
    done = complete_images(require_completer(loaded, core.registry()),
                           image.expand(samples, -1, -1, -1), mask, seed=seed, labels=label)
    known, completed = done.known, done.completed
    scale = outputs.grid_scale(*image.shape[-2:], target_px=160)
    return {"masked": masked_picture(image, known, data.levels, scale=scale),
            "completed": image_grid(completed, data.levels, columns=samples, scale=scale),
            "original": image_grid(image, data.levels, scale=scale),
            "npy": outputs.npy_bytes(torch.cat([masked_view(image, known), completed, image])),
            "hidden": done.hidden, "pixels": known.numel(), "label": label,
            "kept": bool((completed[:, :, known] == image[:, :, known]).all()),
            "seconds": done.seconds}


def completion(record: RunRecord, mask: str, seed: int, index: int, samples: int) -> dict:
    """Test image ``index`` of a run's dataset with ``mask``'s pixels hidden, completed
    ``samples`` times from ``seed``: ``{masked, completed, original}`` pictures (uint8 arrays),
    ``npy`` (masked with -1 where hidden, completions, original), ``hidden``/``pixels`` counts,
    the image's ``label``, ``kept`` (known pixels unchanged) and ``seconds`` (cached)."""
    return _completion(record, str(mask), int(seed), int(index), int(samples))


@st.cache_resource(show_spinner="Building the model…", max_entries=64)
def _untrained_model(plugins_env: str | None, name: str, dataset_name: str):
    """Model ``name`` with its default config and seeded random weights, on the dataset's shape
    (no training: its receptive field is the architecture's)."""
    spec = core.registry().model(name)
    with torch.random.fork_rng(devices=[]):  # the same random weights every time
        torch.manual_seed(0)
        model = build_model(spec, build_config(spec.config_class), core.dataset(dataset_name).info)
    return model.eval()


@st.cache_data(show_spinner="Computing receptive fields…", max_entries=512)
def _receptive_field(home: str, plugins_env: str | None, name: str, dataset_name: str,
                     run_key: tuple | None, row: int, col: int) -> np.ndarray:
    if run_key is None:
        model = _untrained_model(plugins_env, name, dataset_name)
    else:
        model = core.run_at(home, *run_key).model
    return model.receptive_field(row, col).detach().cpu().numpy()


def receptive_field(name: str, dataset_name: str, row: int, col: int,
                    record: RunRecord | None = None) -> dict:
    """The receptive field of pixel (row, col): which input pixels its conditional depends on.

    From an untrained default model on the dataset's shape, or from a trained run (``record``).
    Returns ``{field (H, W), seen, earlier, later, unseen, source}``: how many pixels influence
    it, how many come before it in raster order, how many after it do (0 for a correct model)
    and how many earlier ones it cannot see (out of reach of its layers, or PixelCNN's blind
    spot).
    """
    run_key = (record.run_id, record.updated_at) if record is not None else None
    field = _receptive_field(core.store_home(), os.environ.get("GENZOO_PLUGINS"), name,
                             dataset_name, run_key, int(row), int(col))
    width = field.shape[1]
    order = np.arange(field.size).reshape(field.shape)
    before = order < row * width + col  # raster order
    seen = field > 0
    return {"field": field, "seen": int(seen.sum()), "earlier": int(before.sum()),
            "later": int((seen & ~before).sum()), "unseen": int((before & ~seen).sum()),
            "source": f"run {record.run_id}" if record is not None
            else "untrained, default config"}


def receptive_field_figure(field: np.ndarray, row: int, col: int, title: str) -> go.Figure:
    """A heatmap of log10(influence / strongest influence), blank where there is none, with
    the target pixel marked."""
    import plotly.express as px

    strongest = float(field.max())
    relative = field / strongest if strongest > 0 else field
    with np.errstate(divide="ignore"):
        shown = np.where(relative > 0, np.maximum(np.log10(relative), RF_FLOOR), np.nan)
    fig = px.imshow(shown, zmin=RF_FLOOR, zmax=0.0, color_continuous_scale="Viridis",
                    labels=dict(x="column", y="row", color="log10 influence"),
                    aspect="equal")
    fig.update_traces(hovertemplate="row %{y}, column %{x}<br>log10 influence %{z:.2f}"
                                    "<extra></extra>")
    fig.add_scatter(x=[col], y=[row], mode="markers", name="target pixel", showlegend=False,
                    marker=dict(symbol="x", size=14, color="#e45756",
                                line=dict(width=2, color="white")),
                    hovertemplate=f"target pixel: row {row}, column {col}<extra></extra>")
    fig.update_layout(title=title, xaxis_title="column", yaxis_title="row", height=360,
                      margin=dict(t=50, b=40, l=40, r=20), plot_bgcolor="#f0f0f0")
    return fig
