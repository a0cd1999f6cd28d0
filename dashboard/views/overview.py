"""Overview: the lecture's taxonomy from the registered models, their claims and their runs."""

import streamlit as st

from genzoo.dashboard import compare_data, data, formulas, overview_data, widgets

reg = data.registry()
records = data.runs()
tables = overview_data.overview_tables(reg, records)

st.title("Generative models, side by side")
st.markdown("The lecture's taxonomy, built from the metadata every plugin registers. Each "
            "pro and con of a model sits next to the number that tests it, taken from the "
            "newest completed run that measured it.")

for name, error in data.broken_plugins(reg):
    st.warning(f"Plugin **{name}** is broken and was skipped: {error}")

st.subheader("Explicit, tractable density: the chain rule")
st.latex(formulas.CHAIN_RULE)
st.caption("Autoregressive models (AR, FVBN, PixelRNN/PixelCNN) factor the likelihood into 1-d "
           "conditionals, so p(x) is exact, and sampling is one value at a time.")

if not records:
    widgets.no_runs_yet()

names = compare_data.comparison_names()
if names:
    st.subheader("Comparisons: every model on one budget")
    chosen = st.selectbox("Comparison", names, key="comparison",
                          index=data.default_index(names, "demo-digits"),
                          help="`genzoo compare` stores one; `genzoo comparisons NAME` prints it")
    table, spec = compare_data.comparison_table(chosen)
    st.caption(f"{compare_data.describe_spec(spec)}. Held-out test number as mean ± std over "
               "seeds with its bound kind (exact, elbo, ...); Fréchet distance of the samples "
               "(lower is better); sampling ms per image at batch 64; training examples/s.")
    widgets.table(table, f"genzoo-comparison-{chosen}")

st.subheader("Taxonomy of the registered models")
st.plotly_chart(tables.taxonomy_figure, key="taxonomy-tree")
widgets.table(tables.taxonomy, "genzoo-taxonomy")

for branch in overview_data.branch_order():
    st.header(branch.capitalize(), divider="gray")
    st.caption(f"In the lecture: {overview_data.LECTURE_EXAMPLES[branch]}")
    specs = overview_data.models_in_branch(reg, branch)
    if not specs:
        st.markdown("_No model of this branch is registered yet._")
    for spec in specs:
        model_runs = [r for r in records if r.model == spec.name]
        plugin = reg.plugin_of("models", spec.name) or "—"
        st.subheader(f"{spec.name} — {spec.family}")
        st.markdown(f"{spec.summary}  \n*{spec.paper}* · density **{spec.density}** · sampling "
                    f"**{spec.sampling}** · data **{spec.data}** · plugin `{plugin}`")
        # full width: each claim, its number and how that ranks need room to be read
        widgets.table(tables.claims[spec.name],
                      f"genzoo-claims-{spec.name}",
                      column_config={"claim": st.column_config.Column(width="large"),
                                     "against the others": st.column_config.Column(
                                         width="large")})
        if model_runs:
            with st.expander(f"Runs of {spec.name} ({len(model_runs)})"):
                # the file keeps every column (seed, tags, error); the page shows the main ones
                widgets.table(tables.runs[spec.name], f"genzoo-runs-{spec.name}",
                              column_order=["run id", "dataset", "status", "test score",
                                            "steps", "train seconds"])
        else:
            st.markdown(f"No runs yet: `genzoo train {spec.name} --dataset "
                        f"{'digits' if spec.data == 'image' else 'sunspots'}`")

if tables.orphans is not None:
    st.header("Runs of models no loaded plugin provides", divider="gray")
    widgets.table(tables.orphans, "genzoo-orphan-runs")
