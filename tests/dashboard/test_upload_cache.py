"""An upload is parsed and fitted once per payload (a rerun of the page repeats nothing), and no
trace of a long series' figure holds more than the plot's cap of points."""

from __future__ import annotations

import numpy as np

from genzoo.dashboard import timeseries_data


def walk(rows: int, seed: int = 0) -> bytes:
    values = np.cumsum(np.random.default_rng(seed).normal(size=rows))
    return ("t,value\n" + "".join(f"{t},{v:.4f}\n" for t, v in enumerate(values))).encode()


def test_a_rerun_with_the_same_payload_fits_nothing_again(monkeypatch):
    calls = []
    fit = timeseries_data.fit_csv_ar

    def counted(*args, **kwargs):
        calls.append(args[1])
        return fit(*args, **kwargs)

    monkeypatch.setattr(timeseries_data, "fit_csv_ar", counted)
    timeseries_data.fit_upload.clear()
    payload = walk(500)
    first = timeseries_data.fit_upload(payload, "walk.csv", None, 2, 20)
    again = timeseries_data.fit_upload(payload, "walk.csv", None, 2, 20)
    assert calls == ["walk.csv"] and again["info"] == first["info"]
    # another payload: fitted
    timeseries_data.fit_upload(walk(500, seed=1), "walk.csv", None, 2, 20)
    assert calls == ["walk.csv", "walk.csv"]


def test_no_trace_of_a_long_series_exceeds_the_cap():
    fit = timeseries_data.fit_csv_ar(walk(50_000), "long.csv", column=None, p=3, horizon=20)
    assert fit["n"] == 50_000 and fit["info"]["nobs"] == 50_000 - 3  # fitted on every value
    figure = timeseries_data.forecast_figure(fit, title="long", y_label="value")
    assert max(len(trace.x) for trace in figure.data) <= timeseries_data.PLOT_MAX_POINTS
    series = figure.data[0]
    assert series.x[0] == 0 and series.x[-1] == 49_999  # the whole span, at a stride
