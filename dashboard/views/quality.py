"""Quality: every model's samples scored on one table, with a likelihood or without one."""

import streamlit as st

from genzoo.dashboard import data, quality_data, widgets

reg = data.registry()
records = data.completed_runs()

st.title("Sample quality")
st.caption("A likelihood says how well a model explains held-out data; it does not say whether "
           "its samples look real, and a GAN has none. These scores compare samples with real "
           "images through a reference classifier trained once per dataset: the Fréchet "
           "distance between the two clouds of its features, precision (samples that land "
           "among real images) and recall (real images the samples reach; Kynkäänniemi et al. "
           "2019), coverage (entropy of the predicted classes: a model that collapses onto a "
           "few modes scores low), and memorization against held-out images: the "
           "nearest-neighbour ratio (mean distance of samples to the training set over that of "
           "test images: far below 1 means copying), the memorized fraction (the estimated "
           "share of samples that copy training images rather than draw fresh ones: 0 for "
           "held-out data) and the copy rate (exact copies of training images, read against "
           "the real data's own: where test images repeat training images, as on the small "
           "shapes, fresh data has copies too).")
st.latex(r"d_F^2 = \lVert \mu_r - \mu_g \rVert^2 + \operatorname{Tr}\big(\Sigma_r + \Sigma_g "
         r"- 2 (\Sigma_r \Sigma_g)^{1/2}\big)")

datasets = data.picture_datasets(reg, records)
if not datasets:
    widgets.no_runs_yet("completed image runs")
    st.stop()
dataset_name = st.selectbox("Dataset", datasets, index=data.default_index(datasets, "digits"),
                            format_func=data.dataset_label)

frame = quality_data.quality_frame(reg, records, dataset_name)
floor = quality_data.real_floor(records, dataset_name)
memorization_note = quality_data.memorization_note(
    floor, list(quality_data.scored_models(reg, records, dataset_name).values()))
if floor is None:
    st.info(f"The reference classifier of {dataset_name} is not trained yet, so there is no "
            "real-data floor: score any run (`genzoo quality RUN_ID`) or run "
            f"`genzoo quality --real {dataset_name}`.")

table = quality_data.with_floor(frame, floor)
st.dataframe(table, hide_index=True, column_config={
    "bits/dim": st.column_config.NumberColumn(format="%.4f"),
    "Parzen estimate (bits/dim)": st.column_config.NumberColumn(
        format="%.3f", help="a kernel density fitted to samples: an estimate, not a bound; "
                            "unreliable in high dimensions (Theis et al. 2016)")})
widgets.csv_download(table, f"genzoo-quality-{dataset_name}.csv")
st.caption("The likelihood columns keep their kind: exact, a bound (ELBO, IWAE-K), or none for "
           "an implicit model. A Parzen estimate is shown apart from them, never in their place.")
parzen_warning = quality_data.parzen_warning(frame)
if parzen_warning:
    st.caption(f":warning: {parzen_warning}")
if memorization_note:
    st.caption(f"No memorized fraction on {dataset_name}: {memorization_note}.")

missing = quality_data.unscored(reg, records, dataset_name)
if missing:
    st.warning("Not scored yet, or scored before the memorization scores handled repeated "
               "images: " + ", ".join(f"{r.model} (`{r.run_id}`)" for r in missing)
               + ". Score them from a terminal (sampling 1,000 images):")
    st.code("\n".join(quality_data.quality_command(r) for r in missing), language="bash")

scored = frame.dropna(subset=["Fréchet distance"]) if "Fréchet distance" in frame else frame
if not scored.empty:
    st.plotly_chart(quality_data.scores_figure(scored, floor))
    left, right = st.columns(2)
    with left:
        st.subheader("Precision against recall")
        st.plotly_chart(quality_data.precision_recall_figure(scored, floor))
    with right:
        st.subheader("Class coverage")
        coverage = quality_data.coverage_figure(reg, records, dataset_name, floor)
        if coverage is not None:
            st.plotly_chart(coverage)
