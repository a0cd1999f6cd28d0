"""Uploads on a served dashboard are bounded and cheap: caps on bytes, columns and rows, each
refused in one line before a parse; a long series drawn at a stride; read-only takes none."""

from __future__ import annotations

import numpy as np
import pytest

from genzoo.dashboard import access, timeseries_data
from genzoo.registry.errors import BadData

from page_helpers import texts


def csv(rows: int, columns: int = 2) -> bytes:
    header = ",".join(["t", "value", *[f"c{i}" for i in range(columns - 2)]])
    rng = np.random.default_rng(0)
    body = "\n".join(f"{t},{v:.4f}" + ",0" * (columns - 2)
                     for t, v in enumerate(np.cumsum(rng.normal(size=rows))))
    return (header + "\n" + body + "\n").encode()


def test_a_million_columns_are_refused_from_the_header_alone():
    payload = (",".join(f"c{i}" for i in range(10**6)) + "\n" + ",".join(["1"] * 10**6)).encode()
    with pytest.raises(BadData, match=r"wide.csv: 1,000,000 columns, at most 200"):
        timeseries_data.check_upload(payload, "wide.csv")
    assert timeseries_data.csv_numeric_columns(payload) == []


def test_too_many_rows_and_too_many_bytes_are_refused(monkeypatch):
    with pytest.raises(BadData, match=r"long.csv: 200,001 rows, at most 200,000"):
        timeseries_data.check_upload(b"t,value\n" + b"1,2\n" * 200_001, "long.csv")
    monkeypatch.setattr(timeseries_data, "UPLOAD_MAX_BYTES", 1000)
    with pytest.raises(BadData, match=r"big.csv: .* MB is more than an upload may hold"):
        timeseries_data.fit_csv_ar(csv(200), "big.csv", column=None, p=2)


def test_a_long_series_is_fitted_on_every_value_and_drawn_at_a_stride():
    fit = timeseries_data.fit_csv_ar(csv(20_000), "walk.csv", column=None, p=2)
    assert fit["n"] == 20_000 and fit["column"] == "value" and fit["downsampled"]
    assert len(fit["y_train"]) <= timeseries_data.PLOT_MAX_POINTS and fit["y_train"][-1] == \
        pytest.approx(np.cumsum(np.random.default_rng(0).normal(size=20_000))[-1], abs=1e-3)
    figure = timeseries_data.forecast_figure(fit, title="t", y_label="value")
    assert all(len(trace.x) <= timeseries_data.PLOT_MAX_POINTS + 500 for trace in figure.data)
    short = timeseries_data.fit_csv_ar(csv(300), "short.csv", column=None, p=2)
    assert not short["downsampled"] and len(short["y_train"]) == 300


def test_a_read_only_dashboard_takes_no_upload(app, empty_store, monkeypatch):
    monkeypatch.setenv("GENZOO_READ_ONLY", "1")
    with pytest.raises(access.ReadOnly):
        timeseries_data.fit_csv_ar(csv(100), "x.csv", column=None, p=2)
    at = app("timeseries")
    assert not at.exception
    assert "Uploads are off" in texts(at.info)
