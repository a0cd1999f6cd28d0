"""What the Quality page shows: every model's sample-quality scores next to the real-data floor.

The scores (`genzoo quality RUN_ID`, `genzoo.registry.quality`) are stored with each run, so the
page only reads them; the floor needs the reference classifier, which the page loads from the
runs store's cache but never trains (nothing trains on page load).
"""

from __future__ import annotations

import math
import shlex

import pandas as pd
import plotly.graph_objects as go
import streamlit as st
from plotly.subplots import make_subplots

from genzoo.dashboard import data
from genzoo.registry.plugins import Registry
from genzoo.registry.store import RunRecord

# (stored key, column title, which is better); the keys are `genzoo quality`'s. NN ratio: ~1,
# neither copies nor strays; copy rate: the real data's own (the dashed line), no higher.
SCORES = (("quality_frechet_distance", "Fréchet distance", "lower"),
          ("quality_precision", "precision", "higher"),
          ("quality_recall", "recall", "higher"),
          ("quality_coverage", "coverage", "higher"),
          ("quality_nn_ratio", "NN ratio", "near 1"),
          ("quality_memorized_fraction", "memorized fraction", "lower"),
          ("quality_copy_rate", "copy rate", "near real data"))
# Scores that are shares of samples (or of real images), between 0 and 1.
SHARES = ("quality_precision", "quality_recall", "quality_coverage",
          "quality_memorized_fraction", "quality_copy_rate")
# The memorization scores as defined since they are tie-aware (`genzoo.registry.quality`): a run
# scored before has no copy rate, and its NN ratio and memorized fraction meant other things.
MEMORIZATION = ("quality_nn_ratio", "quality_memorized_fraction", "quality_copy_rate")
REAL = "real data (floor)"
PARZEN = "parzen_bits_per_dim_estimate"  # `genzoo eval RUN --parzen`: an estimate, never a bound
AIS = "test_bits_per_dim_estimate"  # an RBM's, its log Z by annealed importance sampling


def quality_command(record: RunRecord) -> str:
    return f"genzoo quality {shlex.quote(record.run_id)}"


def scored_models(reg: Registry, records: list[RunRecord], dataset_name: str) -> dict:
    """The newest run of each image model on the dataset whose samples are its own to score
    (a first stage such as the VQ-VAE is scored through its second stage)."""
    skip = data.first_stages(reg)
    return {name: record for name, record in
            data.image_models_with_runs(reg, records, dataset_name).items() if name not in skip}


def quality_frame(reg: Registry, records: list[RunRecord], dataset_name: str) -> pd.DataFrame:
    """One row per model (its newest completed run on the dataset): likelihood with its kind,
    the Parzen estimate apart from it, every quality score, sampling and training time."""
    rows = []
    for name, record in scored_models(reg, records, dataset_name).items():
        metrics = record.metrics or {}
        row = {"model": name, "branch": reg.models[name].branch,
               "bits/dim": metrics.get("test_bits_per_dim"),
               "likelihood kind": metrics.get("bound", "—")
               if metrics.get("test_bits_per_dim") is not None
               else "AIS estimate" if metrics.get(AIS) is not None else "none",
               "Parzen estimate (bits/dim)": metrics.get(PARZEN),
               "AIS estimate (bits/dim)": metrics.get(AIS)}
        current = "quality_copy_rate" in metrics  # scored with the tie-aware definitions
        for key, title, _ in SCORES:
            row[title] = metrics.get(key) if current or key not in MEMORIZATION else None
        row.update({"classes covered": metrics.get("quality_classes_covered"),
                    "sample ms/img (b=64)": metrics.get("sample_ms_per_image_b64"),
                    "train seconds": round(record.train_seconds, 1), "run id": record.run_id})
        rows.append(row)
    return pd.DataFrame(rows)


def parzen_warning(frame: pd.DataFrame) -> str | None:
    """What a Parzen estimate is worth (``genzoo.registry.parzen.NOTE``), when the table shows
    one; None when no model has one."""
    from genzoo.registry.parzen import NOTE

    column = "Parzen estimate (bits/dim)"
    return NOTE if column in frame and frame[column].notna().any() else None


def unscored(reg: Registry, records: list[RunRecord], dataset_name: str) -> list[RunRecord]:
    """The newest runs on the dataset whose samples have not been scored yet, or were scored
    before the memorization scores were tie-aware (no copy rate: score them again)."""
    return [r for r in scored_models(reg, records, dataset_name).values()
            if (r.metrics or {}).get("quality_frechet_distance") is None
            or "quality_copy_rate" not in (r.metrics or {})]


def memorization_note(floor: dict | None, runs: list[RunRecord] = ()) -> str | None:
    """Why the dataset has no memorized fraction (held-out images that repeat training images
    leave copies and fresh draws alike): from the floor, else from a run's stored scores; None
    when it has one."""
    notes = [(floor or {}).get("memorized_fraction_note")]
    notes += [(r.metrics or {}).get("quality_memorized_fraction_note") for r in runs]
    return next((note for note in notes if note), None)


@st.cache_data(show_spinner="Scoring the test split…", max_entries=16)
def _real_floor(home: str, dataset_name: str, options_key: tuple) -> dict | None:
    from genzoo.registry import quality

    options = dict(options_key)
    if not quality.reference_cached(data.store(), dataset_name, options):
        return None
    bundle = data.dataset(dataset_name, options)
    # the same cache name as `genzoo quality` gives the run's classifier
    reference = quality.reference_classifier(data.store(),
                                             quality.cache_key(dataset_name, options), bundle)
    return quality.real_data_scores(bundle, reference)


def real_floor(records: list[RunRecord], dataset_name: str) -> dict | None:
    """The real data's own scores (the floor of every metric), or None when the dataset's
    reference classifier has not been trained yet (the page never trains it)."""
    options = next((r.dataset_options for r in records if r.dataset == dataset_name), None)
    return _real_floor(data.store_home(), dataset_name, tuple(sorted((options or {}).items())))


def with_floor(frame: pd.DataFrame, floor: dict | None) -> pd.DataFrame:
    """The table with the real data's own scores as its first row."""
    if floor is None or frame.empty:
        return frame
    row = {"model": REAL, "branch": "—", "likelihood kind": "—"}
    for key, title, _ in SCORES:
        row[title] = floor.get(key.removeprefix("quality_"))
    row["classes covered"] = floor.get("classes_covered")
    return pd.concat([pd.DataFrame([row]), frame], ignore_index=True)


def scores_figure(frame: pd.DataFrame, floor: dict | None) -> go.Figure:
    """One panel per score: a bar per model, the real data's floor as a dashed line; the
    features' scores on the first row, the memorization scores on the second."""
    rows = [[s for s in SCORES if s[0] not in MEMORIZATION], [s for s in SCORES
                                                               if s[0] in MEMORIZATION]]
    cols = max(len(r) for r in rows)
    fig = make_subplots(rows=2, cols=cols, vertical_spacing=0.22, subplot_titles=[
        f"{title} ({better} is better)" for r in rows for _, title, better in r],
        specs=[[{} if c < len(r) else None for c in range(cols)] for r in rows])  # no empty axes
    for row, specs in enumerate(rows, start=1):
        for col, (key, title, _) in enumerate(specs, start=1):
            scored = frame[frame[title].notna()] if title in frame else frame.iloc[:0]
            # the value on each bar: a score of exactly 0 (no copies) would draw no bar at all
            fig.add_bar(x=scored["model"], y=scored[title], name=title, showlegend=False,
                        text=[f"{v:.3g}" for v in scored[title]], textposition="outside",
                        cliponaxis=False, row=row, col=col)
            if key in SHARES:  # shares of samples: the whole range, so 0 reads as 0
                fig.update_yaxes(range=[0, 1.1], row=row, col=col)
            value = (floor or {}).get(key.removeprefix("quality_"))
            if value is not None and math.isfinite(value):
                fig.add_hline(y=value, line_dash="dash", row=row, col=col,
                              annotation_text="real data", annotation_position="top left")
            fig.update_yaxes(title_text=title, row=row, col=col)
            fig.update_xaxes(title_text="model", row=row, col=col)
    fig.update_layout(title="Sample-quality scores by model", height=800,
                      margin=dict(t=90, b=40))
    return fig


def precision_recall_figure(frame: pd.DataFrame, floor: dict | None) -> go.Figure:
    """Precision against recall: quality of samples against coverage of the data."""
    fig = go.Figure()
    scored = frame.dropna(subset=["precision", "recall"])
    fig.add_scatter(x=scored["recall"], y=scored["precision"], mode="markers+text",
                    text=scored["model"], textposition="top center", name="models")
    if floor and floor.get("precision") is not None:
        fig.add_scatter(x=[floor["recall"]], y=[floor["precision"]], mode="markers+text",
                        text=[REAL], textposition="bottom center", name=REAL,
                        marker=dict(symbol="star", size=14))
    fig.update_layout(xaxis_title="recall (share of real data the samples cover)",
                      yaxis_title="precision (share of samples that look real)",
                      xaxis_range=[-0.05, 1.05], yaxis_range=[-0.05, 1.05], height=420)
    return fig


def coverage_figure(reg: Registry, records: list[RunRecord], dataset_name: str,
                    floor: dict | None) -> go.Figure | None:
    """The reference classifier's predicted classes of each model's samples: a GAN that
    collapses onto a few modes shows here as a few tall bars."""
    fig = go.Figure()
    if floor and floor.get("class_histogram"):
        histogram = floor["class_histogram"]
        fig.add_bar(x=list(range(len(histogram))), y=histogram, name=REAL)
    for name, record in data.image_models_with_runs(reg, records, dataset_name).items():
        histogram = (record.metrics or {}).get("quality_class_histogram")
        if histogram:
            fig.add_bar(x=list(range(len(histogram))), y=histogram, name=name)
    if not fig.data:
        return None
    fig.update_layout(barmode="group", xaxis_title="predicted class",
                      yaxis_title="share of samples", xaxis_dtick=1, height=380)
    return fig
