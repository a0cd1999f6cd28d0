"""2-d densities: the true density of a toy dataset next to what each trained model makes of it.

A point of the plane is a cell of a G x G grid stored as a 1x2 image, so every model's
distribution over the whole space can be drawn cell by cell: exact models by their probability,
bound models by exp(ELBO), implicit models by a histogram of their samples (GAN Lab's view).
"""

import streamlit as st

from genzoo.dashboard import data, density2d_data, widgets

reg = data.registry()
records = data.completed_runs()

st.title("2-d densities")
st.markdown("Each toy point (x, y) is a cell of a grid, stored as a two-pixel image, so a "
            "PixelCNN models it as **p(x) p(y | x)**, the chain rule in its smallest form, and "
            "every model's distribution can be drawn cell by cell next to the true one. Exact "
            "models give probabilities that sum to 1, a VAE gives a lower bound (exp ELBO) whose "
            "map sums to less than 1, and a GAN gives only samples, whose histogram shows which "
            "modes it covers and which it dropped.")

datasets = density2d_data.toy_datasets(reg, records)
if not datasets:
    st.info("No 2-d toy dataset is registered (the built-in ones come with the "
            "genzoo.toy2d plugin).")
    st.stop()
dataset_name = st.selectbox("Dataset", datasets)
by_grid = density2d_data.toy_runs(reg, records, dataset_name)
grids = list(by_grid) or [density2d_data.DEFAULT_GRID]
grid = (st.radio("Grid (cells per axis)", grids, horizontal=True,
                 index=grids.index(density2d_data.DEFAULT_GRID)
                 if density2d_data.DEFAULT_GRID in grids else 0)
        if len(grids) > 1 else grids[0])

truth = density2d_data.truth(dataset_name, grid)
zmax = float(truth["density"].max())
floor = truth["entropy"] / 2
st.caption(f"{truth['source']}. True entropy H = {truth['entropy']:.3f} bits per point, so no "
           f"model can average below {floor:.3f} bits/dim on this grid.")

runs = by_grid.get(grid, [])
if not runs:
    st.plotly_chart(density2d_data.heatmap(truth["density"], f"True density: {dataset_name}",
                                           zmax), key="true")
    st.info(f"No completed run on {dataset_name} ({grid}x{grid}) in the runs store "
            f"`{data.store_home()}` yet. Train one in half a minute:")
    st.code(density2d_data.TRAIN_COMMAND.replace("8-gaussians", dataset_name), language="bash")
    st.stop()

chosen = st.multiselect("Runs", runs, default=density2d_data.default_runs(runs),
                        format_func=data.run_label,
                        help="The newest run of each model is shown first.")
results = [density2d_data.run_density(record) for record in chosen]

columns = st.columns(3)
with columns[0]:
    st.plotly_chart(density2d_data.heatmap(truth["density"], f"True density: {dataset_name}",
                                           zmax), key="true")
    st.caption("The generating distribution's probability of each cell.")
for i, (record, result) in enumerate(zip(chosen, results), start=1):
    with columns[i % 3]:
        if "error" in result:
            st.error(f"{record.model} ({record.run_id}): {result['error']}")
            continue
        title = f"{record.model} ({record.run_id})"
        st.plotly_chart(density2d_data.heatmap(result["density"], title, zmax),
                        key=f"density-{record.run_id}")
        st.caption(f"{density2d_data.KIND_LABELS[result['kind']]}; test "
                   f"{data.test_score(record)}; KL(true ‖ model) {result['kl_bits']:.3f} "
                   f"bits/point; TV {result['tv']:.3f}; mass {result['mass']:.3f}"
                   + (f"; true mass on empty cells {result['missed_mass']:.3g}"
                      if result["missed_mass"] > 0 else ""))
        if result["samples"] is not None:
            st.plotly_chart(density2d_data.samples_figure(
                truth["density"], result["samples"], f"{record.model}: samples over the true "
                "density", zmax), key=f"samples-{record.run_id}")

st.caption("One colour scale for every map: 0 to the true density's largest cell (cells above "
           "it take the top colour). Axes are grid cells.")
frame = density2d_data.scores_frame(chosen, results, truth["entropy"])
if not frame.empty:
    st.subheader("How close each model gets")
    widgets.table(frame, f"genzoo-density2d-{dataset_name}", column_config={
        name: st.column_config.NumberColumn(format="%.4f") for name in frame.columns[3:]})
    st.caption("KL(true ‖ model) = Σ p log₂(p / q) over the cells where the true p > 0, in bits "
               "per point: for an exact model, test bits/dim ≈ H/2 + KL/2. A bound's map is used "
               "as it is, so its KL includes the bound's slack. A histogram leaves cells empty, "
               "which would make the KL infinite: the true mass on them is reported as missed "
               "(the modes a GAN dropped) and the KL is taken on the cells the model covers, "
               "against the true density renormalized there. Total variation compares the "
               "normalized maps: the largest difference in probability they give any region.")
