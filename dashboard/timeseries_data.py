"""What the Time series page shows: series runs and their forecasts, and an uploaded CSV fitted by
the lecture's AR(p) (bounded, cached, downsampled for the plot). The fitting and forecasting
are the registry's (`genzoo.plugins.ar`, `registry.data`); this module adapts them for the page
and Lecture mode's AR part.
"""

from __future__ import annotations

import io
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st
import torch

from genzoo.dashboard import data as core
from genzoo.dashboard.data import LEVELS, TIME_COLUMNS, cached_by_run, latest_by_model
from genzoo.registry.config import build_config
from genzoo.registry.data import load_csv_series, numeric_columns, series_column
from genzoo.registry.errors import BadData, GenzooError
from genzoo.registry.plugins import Registry
from genzoo.registry.runs import build_model
from genzoo.registry.series import SeriesModel
from genzoo.registry.store import RunRecord


def series_runs(reg: Registry, records: list[RunRecord], dataset_name: str) -> list[RunRecord]:
    """The newest completed run of each registered series model on ``dataset_name``."""
    done = [r for r in records if r.status == "completed" and r.dataset == dataset_name
            and r.model in reg.models and reg.models[r.model].data == "series"]
    return sorted(latest_by_model(done).values(), key=lambda r: r.model)


def _years(data, *lengths: int) -> tuple[np.ndarray, ...]:
    """The time stamps of consecutive parts of a series (train, validation, test)."""
    total = sum(lengths)
    index = np.asarray(data.index if getattr(data, "index", None) is not None
                       else np.arange(total))
    edges = np.cumsum((0, *lengths))
    return tuple(index[a:b] for a, b in zip(edges[:-1], edges[1:]))


@cached_by_run(show_spinner="Forecasting…", max_entries=64)
def _forecast_bundle(loaded, levels: tuple) -> dict:
    run_id = loaded.record.run_id
    data, model = loaded.data, loaded.model
    train, test = data.train.numpy(), data.test.numpy()
    val = data.val.numpy() if data.val is not None else np.zeros(0)
    x_train, x_val, x_test = _years(data, len(train), len(val), len(test))
    bundle = {"run_id": run_id, "model": loaded.spec.name, "dataset": data.name,
              "x_train": x_train, "y_train": train, "x_val": x_val, "y_val": val,
              "x_test": x_test, "y_test": test,
              "x_label": "year" if getattr(data, "index", None) is not None else "observation",
              "forecast": None, "info": {}, "metrics": dict(loaded.record.metrics or {})}
    if isinstance(model, SeriesModel):
        # from the end of the training split, over the validation years and then the test years
        with torch.no_grad():
            forecast = model.forecast(len(val) + len(test), levels=levels)
        bundle["forecast"] = {"x": np.concatenate([x_val, x_test]),
                              "mean": np.asarray(forecast["mean"]),
                              "lower": {lv: np.asarray(v) for lv, v in forecast["lower"].items()},
                              "upper": {lv: np.asarray(v) for lv, v in forecast["upper"].items()}}
    bundle["info"] = dict(model.info())
    return bundle


def forecast_bundle(record: RunRecord, levels: tuple = LEVELS) -> dict:
    """Series, held-out values (validation, then test), the forecast from the end of the
    training split over both (bands at ``levels``) and ``model.info()`` of a run (cached)."""
    return _forecast_bundle(record, tuple(levels))


def forecast_figure(bundle: dict, *, title: str | None = None,
                    y_label: str = "value") -> go.Figure:
    """The series, the forecast with its 80%/95% bands, and the held-out values on top."""
    fig = go.Figure()
    fig.add_scatter(x=bundle["x_train"], y=bundle["y_train"], mode="lines",
                    name=bundle.get("series_label", "training split"),
                    line=dict(color="#4c78a8"))
    if bundle.get("fitted") is not None:
        fitted = bundle["fitted"]
        fig.add_scatter(x=fitted["x"], y=fitted["y"], mode="lines", name="one-step fit",
                        line=dict(color="#f58518", width=1))
    forecast = bundle.get("forecast")
    if forecast is not None:
        widest_first = sorted(forecast["lower"], reverse=True)
        for level, alpha in zip(widest_first, (0.15, 0.3, 0.45)):
            x = np.concatenate([forecast["x"], forecast["x"][::-1]])
            y = np.concatenate([forecast["upper"][level], forecast["lower"][level][::-1]])
            fig.add_scatter(x=x, y=y, fill="toself", mode="lines", line=dict(width=0),
                            fillcolor=f"rgba(228,87,86,{alpha})", hoverinfo="skip",
                            name=f"{level:.0%} interval")
        fig.add_scatter(x=forecast["x"], y=forecast["mean"], mode="lines", name="forecast mean",
                        line=dict(color="#e45756", dash="dash"))
    if len(bundle.get("y_val", [])):
        fig.add_scatter(x=bundle["x_val"], y=bundle["y_val"], mode="lines+markers",
                        name="held-out validation values", marker=dict(size=4, color="#888"),
                        line=dict(color="#888", width=1))
    if len(bundle.get("y_test", [])):
        fig.add_scatter(x=bundle["x_test"], y=bundle["y_test"], mode="lines+markers",
                        name="held-out test values", marker=dict(size=4, color="black"),
                        line=dict(color="black", width=1))
    x_range = None
    if forecast is not None and len(bundle["x_train"]) > 2 * len(forecast["x"]):
        # open on the end of the series, where the forecast is; zoom out to see it all
        x_range = [bundle["x_train"][-2 * len(forecast["x"])], forecast["x"][-1]]
    fig.update_layout(title=title or f"{bundle['model']} on {bundle['dataset']}",
                      xaxis_title=bundle.get("x_label", "time"), yaxis_title=y_label,
                      xaxis_range=x_range,
                      height=420, margin=dict(t=60, b=40), hovermode="x unified",
                      legend=dict(orientation="h", y=-0.2))
    return fig


def series_unit(dataset_name: str) -> str:
    """The y-axis label of a built-in series (its unit), or a plain one."""
    return {"sunspots": "yearly mean sunspot number", "nile": "flow (10⁸ m³/year)",
            "ar-synthetic": "value (simulated, no unit)"}.get(dataset_name, "value")


def series_table(bundles: list[dict]) -> pd.DataFrame:
    """Each run's test nats/obs and what ``info()`` reports (AR: c, φ, σ², llf, nobs)."""
    rows = []
    for b in bundles:
        info, metrics = b["info"], b["metrics"]
        coefs = info.get("coefs")
        rows.append({"run id": b["run_id"], "model": b["model"], "p": info.get("p"),
                     "test nats/obs": metrics.get("test_nats_per_obs"),
                     "const c": info.get("const"),
                     "coefficients φ₁…φₚ": (", ".join(f"{c:.3f}" for c in coefs)
                                           if coefs else None),
                     "sigma²": info.get("sigma2"), "llf (nats)": info.get("llf"),
                     "nobs": info.get("nobs"),
                     "other": ", ".join(f"{k}={_short(v)}" for k, v in info.items()
                                        if k not in ("p", "const", "coefs", "sigma2", "llf",
                                                     "nobs")) or None})
    return pd.DataFrame(rows)


def _short(value) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


# What an upload may hold: a served dashboard parses it in its own process, for every visitor.
UPLOAD_MAX_BYTES = 20 * 2**20


UPLOAD_MAX_COLUMNS = 200


UPLOAD_MAX_ROWS = 200_000


PLOT_MAX_POINTS = 5_000  # a longer series is drawn at an even stride (the fit uses every value)


def check_upload(payload: bytes, filename: str) -> None:
    """Refuse an upload past the caps before it is parsed, in one line: the bytes, the columns
    (counted on the header line), the rows (counted as line ends): each check is linear in the
    bytes and needs no parse, so a 10^6-column file is refused at once."""
    import csv

    name = " ".join(Path(filename or "upload.csv").name.splitlines())
    if len(payload) > UPLOAD_MAX_BYTES:
        raise BadData(f"{name}: {len(payload) / 2**20:.1f} MB is more than an upload may hold "
                      f"({UPLOAD_MAX_BYTES // 2**20} MB); fit a shorter part of it, or train "
                      "from a terminal with `genzoo train ar --dataset FILE.csv`")
    header = payload.split(b"\n", 1)[0][:10 * 2**20].decode("utf-8", errors="replace")
    try:
        columns = len(next(csv.reader([header.rstrip("\r")]), []))
    except csv.Error:  # a header the csv module cannot split (a stray \r): count its commas
        columns = header.count(",") + 1
    if columns > UPLOAD_MAX_COLUMNS:
        raise BadData(f"{name}: {columns:,} columns, at most {UPLOAD_MAX_COLUMNS} in an upload; "
                      "keep the column of the series (and its time column)")
    rows = payload.count(b"\n") - 1
    if rows > UPLOAD_MAX_ROWS:
        raise BadData(f"{name}: {rows:,} rows, at most {UPLOAD_MAX_ROWS:,} in an upload; "
                      "fit a shorter part of it, or train from a terminal")


def thin(values: np.ndarray, most: int = PLOT_MAX_POINTS) -> np.ndarray:
    """Every k-th value, so at most ``most`` are drawn (the last one kept)."""
    values = np.asarray(values)
    if len(values) <= most:
        return values
    index = np.unique(np.append(np.linspace(0, len(values) - 1, most - 1).astype(int),
                                len(values) - 1))
    return values[index]


@st.cache_data(show_spinner=False, max_entries=16)
def csv_numeric_columns(payload: bytes) -> list[str]:
    """The columns of a CSV that ``load_csv_series`` would accept as numeric (may be empty);
    cached by the payload, so a rerun of the page does not parse it again."""
    try:
        check_upload(payload, "upload.csv")
        frame = pd.read_csv(io.BytesIO(payload))
    except Exception:  # unreadable: load_csv_series says why, in one line
        return []
    numeric = [str(c) for c in numeric_columns(frame)]
    first = series_column(frame, numeric) if numeric else None  # load_csv_series's default
    return sorted(numeric, key=lambda c: (c != first, c.strip().lower() in TIME_COLUMNS))


def _time_axis(payload: bytes, column: str, n: int) -> tuple[np.ndarray, str]:
    """A year/time column of the CSV for the x axis when there is one, else row numbers."""
    try:
        frame = pd.read_csv(io.BytesIO(payload))
        for name in frame.columns:
            if str(name) != column and str(name).strip().lower() in TIME_COLUMNS:
                values = pd.to_numeric(frame[name], errors="coerce")
                if len(values) == n and values.notna().all() and values.is_monotonic_increasing:
                    return values.to_numpy(), str(name)
    except Exception:
        pass
    return np.arange(n), "observation"


@st.cache_data(show_spinner="Fitting…", max_entries=32)
def fit_upload(payload: bytes, filename: str, column: str | None, p: int, horizon: int) -> dict:
    """:func:`fit_csv_ar` cached by the payload and the choices (a rerun refits nothing)."""
    return fit_csv_ar(payload, filename, column=column, p=p, horizon=horizon)


def fit_csv_ar(payload: bytes, filename: str, *, column: str | None, p: int,
               horizon: int = 20, levels: tuple = LEVELS, reg: Registry | None = None) -> dict:
    """Load an uploaded CSV like ``load_csv_series``, fit the closed-form AR(p) on the whole
    series and forecast ``horizon`` steps past its end.

    Raises :class:`GenzooError` (one line, naming the file by its uploaded name) for a file
    that is not a usable series or one too short for the order.
    """
    from genzoo.dashboard import access

    access.require_writable()  # a read-only dashboard takes no uploads, whatever the page shows
    check_upload(payload, filename)
    reg = reg or core.registry()
    if "ar" not in reg.models:
        owner = reg.plugins.get("genzoo.ar")
        why = f": {owner.error}" if owner is not None and owner.error else ""
        raise GenzooError(f"the AR model is not available (plugin genzoo.ar not loaded{why})")
    name = Path(filename or "upload.csv").name or "upload.csv"
    name = " ".join(name.splitlines())  # errors name it, on one line
    with tempfile.TemporaryDirectory(prefix="genzoo-upload-") as folder:
        # not the uploaded name: one too long for this file system (or "..") cannot be written
        path = Path(folder) / "upload.csv"
        path.write_bytes(payload)
        try:
            data = load_csv_series(path, column=column or None)
        except GenzooError as exc:  # name the file as the user knows it, not the temp path
            message = str(exc).replace(str(path.resolve()), name).replace(str(path), name)
            raise type(exc)(" ".join(message.splitlines())) from None  # a column name may break it
    values = data.values  # (T,) float64, the whole series
    n, p, horizon = len(values), int(p), int(horizon)
    if n < p + 2:
        raise BadData(f"{name}: the series has {n} values, too short for AR({p}); "
                      f"it needs at least p+2 = {p + 2} (lower p or upload a longer series)")
    spec = reg.model("ar")
    config = build_config(spec.config_class, {"p": p, "horizon": horizon})
    model = build_model(spec, config, data.info)
    model.fit(values)  # closed form (least squares); raises BadData if too short for it
    info = dict(model.info())
    forecast = model.forecast(horizon, levels=levels)
    chosen = data.name.split(":", 1)[-1]
    x, x_label = _time_axis(payload, chosen, n)
    step = (x[-1] - x[-2]) if n > 1 else 1
    x_future = x[-1] + step * np.arange(1, horizon + 1)
    series = values.numpy()
    coefs = np.asarray(info["coefs"])  # phi_1..phi_p, lag 1 first
    fitted = np.array([info["const"] + coefs @ series[t - p:t][::-1] for t in range(p, n)])
    return {"run_id": "upload", "model": "ar", "dataset": f"{name}:{chosen}", "column": chosen,
            "x_train": thin(x), "y_train": thin(series), "x_test": np.array([]),
            "y_test": np.array([]), "x_label": x_label, "series_label": "uploaded series",
            "fitted": {"x": thin(x[p:]), "y": thin(fitted)}, "downsampled": n > PLOT_MAX_POINTS,
            "forecast": {"x": x_future, "mean": np.asarray(forecast["mean"]),
                         "lower": {lv: np.asarray(v) for lv, v in forecast["lower"].items()},
                         "upper": {lv: np.asarray(v) for lv, v in forecast["upper"].items()}},
            "info": info, "metrics": {}, "n": n}
