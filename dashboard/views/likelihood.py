"""Likelihood: held-out bits/dim of every model on one footing, and their training curves."""

import streamlit as st

from genzoo.dashboard import data, formulas, likelihood_data, widgets

reg = data.registry()
records = data.completed_runs()

st.title("Likelihood")
st.latex(formulas.BITS_PER_DIM)
st.caption("Every image model puts a probability on the same discrete pixel values, so its "
           "negative log-likelihood per dimension, in bits, compares directly across families. "
           "Exact models give the true value; bound models (ELBO, IWAE-K) an upper bound on it; "
           "implicit models none.")

datasets = data.datasets_with_runs(reg, records, "image")
if not datasets:
    widgets.no_runs_yet("completed image runs")
    st.stop()

dataset_name = st.selectbox("Dataset", datasets, index=data.default_index(datasets, "digits"),
                            format_func=data.dataset_label)
shared = likelihood_data.likelihood_tables(reg, records, dataset_name)
for note in data.data_changed_notes(records, dataset_name):
    st.warning(note)
table, summary = shared.runs.frame, shared.summary

if shared.figure is None:
    st.info(f"No completed run on {dataset_name} reports a likelihood yet.")
else:
    st.plotly_chart(shared.figure)
    for name in shared.missing_baselines:
        st.caption(f"No `{name}` run on {dataset_name}, so no {name} baseline line: "
                   f"`genzoo train {name} --dataset {dataset_name}`")
    if (summary["seeds"] > 1).any():
        st.caption("Bars are the mean over seeds (newest run per seed); error bars one std.")
    if (table["quantity"] == "p(x | y)").any():
        st.caption(likelihood_data.GIVEN_LABEL_NOTE)
for reason in shared.no_likelihood.values():
    st.info(reason)

st.subheader("Runs")
st.caption("bits/dim is the test split's, the only number reported; validation bits/dim is what "
           "choices (defaults, kernel widths) are made on.")
widgets.table(shared.runs, f"genzoo-likelihood-{dataset_name}",
              column_config={"bits/dim": st.column_config.NumberColumn(format="%.4f"),
                             "validation bits/dim": st.column_config.NumberColumn(format="%.4f")})

st.subheader("Training curves")
default = [run for run in summary["runs"].str.split(", ").str[0]] if not summary.empty else []
chosen = st.multiselect("Runs", list(dict.fromkeys(table["run id"])), default=default)
curves = likelihood_data.loss_curves(chosen, records)
if curves.figure is not None:
    st.plotly_chart(curves.figure)
gone = data.deleted_runs(curves.empty)  # a deleted run's curve is empty too: not a closed-form fit
for run_id in curves.empty:
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
    parts_figure = likelihood_data.loss_parts_figure(run_id, records)
    if parts_figure is None and data.deleted_runs([run_id]):
        st.warning(data.deleted_message(run_id))
    elif parts_figure is None:
        st.caption(f"`{run_id}` logged no training steps.")
    else:
        st.plotly_chart(parts_figure, key="parts")
