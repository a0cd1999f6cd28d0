"""What the Speed page shows: training throughput, sampling time, parameters, peak memory.

Two sources, both read from the runs store and never measured on page load:

- every image run records, when it finishes training, its training examples/s and its
  sampling ms/image at batch 1 and 64 (``registry/training.py``), with its parameter count and
  device;
- ``genzoo bench`` times every model side by side in one process and saves the result in the
  store (``$GENZOO_HOME/bench/<time>.json``, ``registry/bench.py``): the same numbers measured
  under the same conditions, plus peak memory (CUDA) and sampling time against image size.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from genzoo.dashboard import data
from genzoo.registry import bench
from genzoo.registry.plugins import Registry
from genzoo.registry.store import RunRecord

BENCH_COMMAND = "genzoo bench"
# (stored key, column title): the speed numbers, as both sources store them
TRAIN = ("train_examples_per_s", "train examples/s")
SAMPLE_B1 = ("sample_ms_per_image_b1", "sample ms/image (b=1)")
SAMPLE_B64 = ("sample_ms_per_image_b64", "sample ms/image (b=64)")
PEAK = ("peak_memory_mib", "peak memory (MiB)")
# the ratio columns: how many times slower than the fastest model in the table (1 = fastest)
RATIOS = {TRAIN[1]: "training × fastest", SAMPLE_B1[1]: "b=1 × fastest",
          SAMPLE_B64[1]: "b=64 × fastest"}
RATIO_HELP = ("how many times the fastest model's time this model takes: 1 is the fastest, "
              "10 ten times slower")
NO_PEAK_ON_CPU = ("Peak memory: n/a on CPU (torch counts allocations on CUDA only); "
                  "`genzoo bench --device cuda` on a GPU measures it.")


# -- reading ------------------------------------------------------------------------------------


@st.cache_data(show_spinner=False, max_entries=16)
def _bench_results(home: str, stamp: tuple) -> list[dict]:
    return bench.load_results(home)


def bench_results() -> list[dict]:
    """Every ``genzoo bench`` result saved in the runs store, newest first (re-read when a
    file is added or changed). Unreadable files come back as ``{file, error}``."""
    home = data.store_home()
    stamp = tuple((p.name, p.stat().st_mtime_ns) for p in bench.result_files(home))
    return _bench_results(home, stamp)


def bench_label(result: dict) -> str:
    """How a saved benchmark reads in a picker: when, on what, on which data, how long."""
    env = result.get("environment", {})
    return (f"{env.get('time', result.get('file', '?'))} · {env.get('device', '?')} · "
            f"{result.get('dataset', '?')} · {result.get('steps', '?')} steps")


def bench_on_cpu(result: dict) -> bool:
    """Whether the benchmark ran on a CPU (so there is no peak memory to show)."""
    env = result.get("environment", {})
    if "device_type" in env:
        return env["device_type"] == "cpu"
    return str(env.get("device", "cpu")).startswith("cpu")  # results saved before device_type


# -- tables -------------------------------------------------------------------------------------


def times_fastest(values: pd.Series, higher_is_better: bool = False) -> pd.Series:
    """Each value against the best in the column: how many times slower (1 = the fastest).

    For a time (lower is better) value / min; for a throughput (higher is better) max / value.
    Missing or non-positive values stay missing.
    """
    numbers = pd.to_numeric(values, errors="coerce").where(lambda v: v > 0)
    if numbers.notna().sum() == 0:
        return pd.Series([None] * len(values), index=values.index, dtype=float)
    if higher_is_better:
        return numbers.max() / numbers
    return numbers / numbers.min()


def _with_ratios(frame: pd.DataFrame) -> pd.DataFrame:
    for column, ratio in RATIOS.items():
        if column in frame:
            frame[ratio] = times_fastest(frame[column], higher_is_better=(column == TRAIN[1]))
    return frame


def bench_frame(result: dict) -> pd.DataFrame:
    """One row per benchmarked model: training examples/s, sampling ms/image at batch 1 and
    64, each against the fastest, parameters, peak memory, the growth exponent of sampling
    time with image size, and the device."""
    device = result.get("environment", {}).get("device")
    growth = {g["model"]: g.get("exponent") for g in result.get("growth", [])}
    rows = []
    for row in result.get("rows", []):
        rows.append({"model": row.get("model"), "family": row.get("family"),
                     "sampling": row.get("sampling"),
                     TRAIN[1]: row.get(TRAIN[0]), "train step ms": row.get("train_step_ms"),
                     SAMPLE_B1[1]: row.get(SAMPLE_B1[0]), SAMPLE_B64[1]: row.get(SAMPLE_B64[0]),
                     "parameters": row.get("parameters"),
                     PEAK[1]: row.get(PEAK[0], row.get("peak_memory_mb")),  # older name
                     "growth k": growth.get(row.get("model")), "device": device})
    columns = ["model", "family", "sampling", TRAIN[1], "train step ms", SAMPLE_B1[1],
               SAMPLE_B64[1], "parameters", PEAK[1], "growth k", "device"]
    frame = _with_ratios(pd.DataFrame(rows, columns=columns))
    return frame[["model", "family", "sampling", TRAIN[1], RATIOS[TRAIN[1]], "train step ms",
                  SAMPLE_B1[1], RATIOS[SAMPLE_B1[1]], SAMPLE_B64[1], RATIOS[SAMPLE_B64[1]],
                  "growth k", "parameters", PEAK[1], "device"]]


def variants_frame(result: dict) -> pd.DataFrame:
    """One row per model and ``(precision, compiled)`` variant of a benchmark: step time,
    examples/s and its speed-up over the model's first variant (fp32 eager by default), eager
    sampling in that precision, peak memory, and what went wrong (out of memory, a compile
    that fell back to eager, a sampler that does not run in bf16). Empty for a benchmark of
    one variant (older results, or a CPU default)."""
    rows = [{"model": row.get("model"), "precision": v.get("precision"),
             "compiled": bool(v.get("compiled")), "train step ms": v.get("train_step_ms"),
             TRAIN[1]: v.get(TRAIN[0]), "speed-up": v.get("train_speedup"),
             SAMPLE_B1[1]: v.get(SAMPLE_B1[0]), SAMPLE_B64[1]: v.get(SAMPLE_B64[0]),
             PEAK[1]: v.get(PEAK[0]),
             "note": "; ".join(filter(None, [v.get("error"), v.get("compile_error") and
                                             f"compile failed, ran eager: {v['compile_error']}",
                                             v.get("sample_error")]))}
            for row in result.get("rows", []) for v in row.get("variants", [])]
    frame = pd.DataFrame(rows, columns=["model", "precision", "compiled", "train step ms",
                                        TRAIN[1], "speed-up", SAMPLE_B1[1], SAMPLE_B64[1],
                                        PEAK[1], "note"])
    if frame.empty or len(frame) == frame["model"].nunique():
        return frame.iloc[0:0]
    return frame


def variants_figure(frame: pd.DataFrame) -> go.Figure:
    """Training speed-up of each variant over the model's first, one bar group per model."""
    fig = go.Figure()
    for (precision, compiled), part in frame.groupby(["precision", "compiled"], sort=False):
        fig.add_bar(name=f"{precision}, {'compiled' if compiled else 'eager'}",
                    x=part["model"], y=part["speed-up"])
    fig.add_hline(y=1.0, line_dash="dot", annotation_text="first variant")
    fig.update_layout(title="Training speed-up by precision and compilation", barmode="group",
                      xaxis_title="model", yaxis_title="examples/s ÷ first variant (×)")
    return fig


def utilization_frame(result: dict) -> pd.DataFrame:
    """FLOPs of a training step and the TFLOP/s achieved, against the device's bf16 peak
    where it is known (a GPU of the data-sheet table)."""
    rows = [{"model": row["model"], "GFLOP/step": row["train_step_flops"] / 1e9,
             "achieved TFLOP/s (first variant)": row.get("train_tflops"),
             "best TFLOP/s": row.get("best_tflops"), "bf16 peak TFLOP/s":
             row.get("bf16_peak_tflops"),
             "share of peak (%)": (100 * row["utilization"] if row.get("utilization") is not None
                                   else None)}
            for row in result.get("rows", []) if row.get("train_step_flops")]
    return pd.DataFrame(rows, columns=["model", "GFLOP/step", "achieved TFLOP/s (first variant)",
                                       "best TFLOP/s", "bf16 peak TFLOP/s", "share of peak (%)"])


def scaling_frame(result: dict) -> pd.DataFrame:
    """The sampling-time-against-image-size sweep: one row per model and size, with the
    reason where a size has no time (the model cannot take it, or it was over budget)."""
    rows = [{"model": row.get("model"), "image size": f"{row['size']}x{row['size']}",
             "side (px)": row["size"], "pixels": row["pixels"], "batch": row.get("batch"),
             "sample ms/image": row.get("sample_ms_per_image"),
             "note": row.get("error") or row.get("note") or ""}
            for row in result.get("scaling", [])]
    return pd.DataFrame(rows, columns=["model", "image size", "side (px)", "pixels", "batch",
                                       "sample ms/image", "note"])


def speed_datasets(reg: Registry, records: list[RunRecord]) -> list[str]:
    """Datasets with a completed run of a registered model that recorded a speed number:
    image datasets first, then series, registry order within each."""
    names = (data.datasets_with_runs(reg, records, "image")
             + data.datasets_with_runs(reg, records, "series"))
    keys = (TRAIN[0], SAMPLE_B1[0], SAMPLE_B64[0])
    return [name for name in names
            if any(r.dataset == name and r.status == "completed" and r.model in reg.models
                   and any((r.metrics or {}).get(k) is not None for k in keys)
                   for r in records)]


def runs_frame(reg: Registry, records: list[RunRecord], dataset_name: str) -> pd.DataFrame:
    """The newest completed run of each registered model on ``dataset_name`` (registry order):
    what it recorded when it finished training, each time against the fastest, its parameter
    count and the device it ran on."""
    done = [r for r in records if r.status == "completed" and r.dataset == dataset_name
            and r.model in reg.models]
    latest = data.latest_by_model(done)
    rows = []
    for name in (n for n in reg.models if n in latest):
        record = latest[name]
        metrics = record.metrics or {}
        rows.append({"model": name, "sampling": reg.models[name].sampling,
                     TRAIN[1]: metrics.get(TRAIN[0]), SAMPLE_B1[1]: metrics.get(SAMPLE_B1[0]),
                     SAMPLE_B64[1]: metrics.get(SAMPLE_B64[0]),
                     "parameters": metrics.get("parameters"), "device": record.device,
                     "steps": record.step, "train seconds": round(record.train_seconds, 2),
                     "run id": record.run_id})
    columns = ["model", "sampling", TRAIN[1], SAMPLE_B1[1], SAMPLE_B64[1], "parameters",
               "device", "steps", "train seconds", "run id"]
    frame = _with_ratios(pd.DataFrame(rows, columns=columns))
    return frame[["model", "sampling", TRAIN[1], RATIOS[TRAIN[1]], SAMPLE_B1[1],
                  RATIOS[SAMPLE_B1[1]], SAMPLE_B64[1], RATIOS[SAMPLE_B64[1]], "parameters",
                  "device", "steps", "train seconds", "run id"]]


def column_config() -> dict:
    """Number formats and help texts of the speed tables' columns."""
    number = st.column_config.NumberColumn
    config = {TRAIN[1]: number(format="%.0f", help="training examples per second"),
              SAMPLE_B1[1]: number(format="%.4g", help="milliseconds per image, one at a time"),
              SAMPLE_B64[1]: number(format="%.4g",
                                    help="milliseconds per image, 64 images per call"),
              "train step ms": number(format="%.1f"),
              "growth k": number(format="%.2f", help="sampling time ~ pixels^k over the "
                                                     "image sizes timed"),
              PEAK[1]: number(format="%.1f", help="torch.cuda.max_memory_allocated while "
                                                  "training and sampling; none on a CPU"),
              "parameters": number(format="%d")}
    config.update({ratio: number(format="%.1f×", help=RATIO_HELP) for ratio in RATIOS.values()})
    return config


def csv_name(what: str, key: str) -> str:
    """A download file name: ``genzoo-speed-<what>-<key>.csv``."""
    return f"genzoo-speed-{what}-{Path(str(key)).stem}.csv".replace(" ", "_")


# -- figures ------------------------------------------------------------------------------------


def sampling_figure(frame: pd.DataFrame, title: str) -> go.Figure:
    """Sampling ms/image per model at batch 1 and batch 64, on a log axis (the models span
    orders of magnitude: one network pass against one per pixel)."""
    fig = go.Figure()
    for column, name in ((SAMPLE_B1[1], "batch 1"), (SAMPLE_B64[1], "batch 64")):
        shown = frame[frame[column].notna()] if column in frame else frame.iloc[:0]
        fig.add_bar(x=shown["model"], y=shown[column], name=name,
                    hovertemplate=f"<b>%{{x}}</b><br>%{{y:.4g}} ms/image ({name})<extra></extra>")
    fig.update_layout(title=title, barmode="group", xaxis_title="model",
                      yaxis_title="sampling time (ms/image, log scale)", yaxis_type="log",
                      legend_title_text="images per call", height=400, margin=dict(t=60, b=40))
    return fig


def training_figure(frame: pd.DataFrame, title: str) -> go.Figure:
    """Training examples/s per model on a log axis (closed-form fits are in examples of the
    training set per second of fitting)."""
    shown = frame[frame[TRAIN[1]].notna()] if TRAIN[1] in frame else frame.iloc[:0]
    fig = go.Figure()
    fig.add_bar(x=shown["model"], y=shown[TRAIN[1]], name="training",
                hovertemplate="<b>%{x}</b><br>%{y:,.0f} examples/s<extra></extra>")
    fig.update_layout(title=title, xaxis_title="model",
                      yaxis_title="training throughput (examples/s, log scale)",
                      yaxis_type="log", height=380, margin=dict(t=60, b=40))
    return fig


def scaling_figure(scaling: pd.DataFrame, growth: list[dict]) -> go.Figure:
    """Sampling ms/image against the number of pixels, one line per model, both axes log:
    the slope is the growth exponent k (time ~ pixels^k), shown in the legend."""
    k = {g["model"]: g.get("exponent") for g in growth}
    fig = go.Figure()
    timed = scaling[scaling["sample ms/image"].notna()]
    for model, group in timed.groupby("model", sort=False):
        label = f"{model} (k={k[model]:.2f})" if k.get(model) is not None else str(model)
        fig.add_scatter(x=group["pixels"], y=group["sample ms/image"], mode="lines+markers",
                        name=label, customdata=np.asarray(group["image size"]),
                        hovertemplate=(f"<b>{model}</b><br>%{{customdata}} (%{{x}} pixels)"
                                       "<br>%{y:.4g} ms/image<extra></extra>"))
    sizes = scaling.drop_duplicates("pixels").sort_values("pixels")
    batch = int(scaling["batch"].iloc[0]) if len(scaling) else 1
    fig.update_layout(
        title=f"Sampling time against image size (batch {batch})",
        xaxis_title="image size (pixels = side², log scale)",
        yaxis_title="sampling time (ms/image, log scale)", xaxis_type="log", yaxis_type="log",
        xaxis=dict(tickvals=list(sizes["pixels"]),
                   ticktext=[f"{s} ({p})" for s, p in zip(sizes["image size"], sizes["pixels"])]),
        legend_title_text="model (time ~ pixels^k)", height=420, margin=dict(t=60, b=40))
    return fig
