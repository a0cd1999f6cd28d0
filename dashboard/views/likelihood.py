"""Likelihood: held-out bits/dim of every model on one footing, and their training curves."""

import streamlit as st

from genzoo.dashboard import data, widgets

reg = data.registry()
records = data.completed_runs()

st.title("Likelihood")
st.latex(data.BITS_PER_DIM)
st.caption("Every image model puts a probability on the same discrete pixel values, so its "
           "negative log-likelihood per dimension, in bits, compares directly across families. "
           "Exact models give the true value; bound models (ELBO, IWAE-K) an upper bound on it; "
           "implicit models none.")

datasets = data.datasets_with_runs(reg, records, "image")
if not datasets:
    widgets.no_runs_yet("completed image runs")
    st.stop()

dataset_name = st.selectbox("Dataset", datasets, index=data.default_index(datasets, "digits"))
table = data.likelihood_frame(reg, records, dataset_name)
summary = data.likelihood_summary(table)

if summary.empty:
    st.info(f"No completed run on {dataset_name} reports a likelihood yet.")
else:
    baselines = data.baseline_bits(reg, summary)
    st.plotly_chart(data.likelihood_figure(summary, dataset_name, baselines))
    missing = [name for name, spec in reg.models.items()
               if spec.baseline and spec.data == "image" and name not in baselines]
    for name in missing:
        st.caption(f"No `{name}` run on {dataset_name}, so no {name} baseline line: "
                   f"`genzoo train {name} --dataset {dataset_name}`")
    if (summary["seeds"] > 1).any():
        st.caption("Bars are the mean over seeds (newest run per seed); error bars one std.")
    if (table["quantity"] == "p(x | y)").any():
        st.caption(data.GIVEN_LABEL_NOTE)
for model, reason in data.no_likelihood_models(reg, records, dataset_name).items():
    st.info(reason)

st.subheader("Runs")
st.caption("bits/dim is the test split's, the only number reported; validation bits/dim is what "
           "choices (defaults, kernel widths) are made on.")
st.dataframe(table, hide_index=True,
             column_config={"bits/dim": st.column_config.NumberColumn(format="%.4f"),
                            "validation bits/dim": st.column_config.NumberColumn(format="%.4f")})
widgets.csv_download(table, f"genzoo-likelihood-{dataset_name}.csv")

st.subheader("Training curves")
default = [run for run in summary["runs"].str.split(", ").str[0]] if not summary.empty else []
chosen = st.multiselect("Runs", list(dict.fromkeys(table["run id"])), default=default)
curves = {run_id: data.loss_curve(run_id) for run_id in chosen}
empty = [run_id for run_id, frame in curves.items() if frame.empty]
curves = {run_id: frame for run_id, frame in curves.items() if not frame.empty}
if curves:
    st.plotly_chart(data.loss_figure(curves, "nats/dim"))
gone = data.deleted_runs(empty)  # a deleted run's curve is empty too: not a closed-form fit
for run_id in empty:
    if run_id in gone:
        st.warning(data.deleted_message(run_id))
    else:
        st.caption(f"`{run_id}` logged no training steps (fitted in closed form).")

st.subheader("Terms of the loss")
st.caption("Each term a model logs, in its own panel: a VAE's reconstruction term falls as its "
           "KL term rises (the two halves of the ELBO pull against each other); a VQ-VAE logs "
           "its codebook and commitment losses and the perplexity of its code use.")
with_parts = list(dict.fromkeys(table["run id"]))
if with_parts:
    run_id = st.selectbox("Run", with_parts, key="parts-run")
    parts = data.loss_parts(run_id)
    if parts.empty and data.deleted_runs([run_id]):
        st.warning(data.deleted_message(run_id))
    elif parts.empty:
        st.caption(f"`{run_id}` logged no training steps.")
    else:
        st.plotly_chart(data.loss_parts_figure(parts, run_id), key="parts")
