"""Time series: the lecture's AR(p) and a neural AR(p), forecast against held-out years."""

import streamlit as st

from genzoo.dashboard import access, data, formulas, timeseries_data, widgets
from genzoo.registry.errors import GenzooError

reg = data.registry()
records = data.completed_runs()

st.title("Time series")
st.markdown("The lecture's autoregressive model: each value is a linear function of the "
            "previous p values plus white noise. By the chain rule its likelihood is exact.")
st.latex(formulas.AR_FORMULA)

for name, error in data.broken_plugins(reg):
    if name == "genzoo.ar":
        st.warning(f"Plugin **{name}** is broken, so AR models are missing: {error}")

datasets = data.datasets_with_runs(reg, records, "series")
if not datasets:
    widgets.no_runs_yet("completed series runs")
else:
    dataset_name = st.selectbox("Series", datasets, index=data.default_index(datasets, "sunspots"),
                                format_func=data.dataset_label)
    st.caption("Each model is fitted on the training split; its forecast starts where that split "
               "ends, with 80% and 95% intervals, and the held-out test values are drawn on top.")
    bundles = []
    for record in timeseries_data.series_runs(reg, records, dataset_name):
        try:
            bundles.append(timeseries_data.forecast_bundle(record))
        except GenzooError as exc:
            st.error(f"cannot load run {record.run_id}: {exc}; {data.retrain_hint(record)}")
    columns = st.columns(max(1, min(2, len(bundles))))
    for i, bundle in enumerate(bundles):
        with columns[i % len(columns)]:
            if bundle["forecast"] is None:
                st.info(f"{bundle['model']} has no forecast(): only its table row is shown.")
                continue
            st.plotly_chart(timeseries_data.forecast_figure(
                bundle, title=f"{bundle['model']} forecast",
                y_label=timeseries_data.series_unit(dataset_name)), key=f"fc-{bundle['run_id']}")
            score = data.format_metric(bundle["metrics"].get("test_nats_per_obs"), "nats/obs")
            st.caption(f"run `{bundle['run_id']}` · test {score} · double-click the plot to "
                       "see the whole series")
    if bundles:
        st.subheader("Fits")
        st.caption("Test nats/obs: negative log-likelihood of each held-out value given the "
                   "values before it (lower is better). AR coefficients, σ² and llf follow "
                   "statsmodels AutoReg conventions.")
        widgets.table(timeseries_data.series_table(bundles), f"genzoo-series-{dataset_name}")

st.header("Upload a CSV", divider="gray")
st.markdown("Fit the closed-form AR(p) (least squares, instant) to one numeric column of your "
            "own CSV and forecast past its end.")
upload = None
if access.read_only():
    st.info(f"Uploads are off: {access.read_only_reason()}.")
else:
    upload = st.file_uploader("CSV file", type=["csv"],
                              help=f"at most {timeseries_data.UPLOAD_MAX_BYTES // 2**20} MB, "
                                   f"{timeseries_data.UPLOAD_MAX_COLUMNS} columns and "
                                   f"{timeseries_data.UPLOAD_MAX_ROWS:,} rows")
if upload is not None:
    payload = upload.getvalue()
    numeric = timeseries_data.csv_numeric_columns(payload)
    left, middle, right = st.columns(3)
    column = left.selectbox("Column", numeric) if numeric else None
    p = int(middle.number_input("Order p", min_value=1, max_value=50, value=2, step=1))
    horizon = int(right.number_input("Forecast steps", min_value=1, max_value=500, value=20))
    try:
        fit = timeseries_data.fit_upload(payload, upload.name, column, p, horizon)
    except (GenzooError, access.ReadOnly) as exc:
        st.error(str(exc))
    else:
        st.plotly_chart(timeseries_data.forecast_figure(fit, title=f"AR({p}) on {fit['dataset']}",
                                             y_label=fit["column"]), key="fc-upload")
        info = fit["info"]
        widgets.table(timeseries_data.series_table([fit]).drop(columns=["run id", "test nats/obs"]),
                      "genzoo-ar-fit-upload")
        st.caption(f"{fit['n']:,} values; fitted on all of them (nobs = {info.get('nobs')})"
                   + (f"; drawn at an even stride, {timeseries_data.PLOT_MAX_POINTS:,} points"
                      if fit.get("downsampled") else "") + ".")
