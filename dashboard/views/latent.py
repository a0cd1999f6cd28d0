"""Latent explorer: what a VAE or VQ-VAE keeps of an image, and how its codes are arranged.

Reconstructions, traversals of each latent dimension, interpolations between two test images,
the test set's codes in 2-d coloured by label, the 2-d manifold (latent_dim=2), and for a
VQ-VAE its codebook usage and the code grid of an image. On ``shapes``, where the factors of
variation are known, a table shows how strongly each latent dimension tracks each of them.
"""

import streamlit as st

from genzoo.dashboard import data, formulas, latent_data, widgets

reg = data.registry()

st.title("Latent explorer")
st.markdown("Latent-variable models explain an image by a code z: **p(x) = ∫ p(x | z) p(z) dz**."
            " The likelihood is intractable, so the VAE maximizes a lower bound (the ELBO), "
            "with a gradient through the sampling step by the reparameterization trick, and the "
            "Gaussian KL in closed form:")
# one to a line: side by side, the ELBO and the KL were cut off at the column's edge
for formula in (formulas.ELBO_BOUND, formulas.REPARAMETERIZATION, formulas.GAUSSIAN_KL_AS_CODED,
                formulas.IWAE):
    st.latex(formula)
st.markdown("A normalizing flow's code is z = f(x) itself, of the data's own size: f is "
            "invertible, so decoding is exact (up to dequantization), and the density follows "
            "by the change of variables:")
st.latex(formulas.CHANGE_OF_VARIABLES)
st.markdown("The VQ-VAE's code is a grid of codebook indices; its loss (straight-through "
            "gradient for the quantization, sg = stop-gradient):")
st.latex(formulas.VQ_LOSS)

record, model = widgets.pick_run(
    latent_data.latent_runs(reg, data.completed_runs()),
    "completed runs of latent-variable models (vae, gumbel-vae, vqvae, realnvp, glow)",
    "genzoo train vae --dataset digits --seconds 120")
n_test = len(data.dataset(record.dataset).test)
continuous = model.latent_kind == "continuous"
st.caption(f"{record.model} on {data.dataset_label(record.dataset)}: a {model.latent_kind} "
           "code of shape "
           f"{tuple(model.latent_shape)}; {data.test_score(record)}.")

st.header("Reconstructions")
n = st.slider("Test images", 4, 16, 8, key="recon-n")
recon = latent_data.reconstructions(record, n)
st.image(recon["picture"], caption="top: test images; bottom: decode(encode(x)), the decoder's "
         f"mean; mean absolute error {recon['error']:.2f} levels")

if continuous:
    st.header("Traversals")
    (latent_dim,) = model.latent_shape
    controls = st.columns([1, 3, 1, 1])
    index = int(controls[0].number_input("Test image", 0, n_test - 1, 0, key="trav-index"))
    dims = controls[1].multiselect("Latent dimensions", list(range(latent_dim)),
                                   default=list(range(min(latent_dim, 8))))
    steps = int(controls[2].number_input("Steps", 3, 15, 9, key="trav-steps"))
    span = float(controls[3].number_input("Span (σ)", 0.5, 5.0, 3.0, step=0.5))
    if dims:
        st.image(latent_data.traversal(record, index, dims, steps, span),
                 caption=f"Each row moves one dimension of {latent_data.code_formula(model)} of "
                         f"test image {index} from "
                         f"-{span:g} to +{span:g} prior standard deviations, the others held.")
    if tuple(model.latent_shape) == (2,):
        st.subheader("The 2-d latent manifold")
        st.image(latent_data.manifold(record), caption="Decoded images on a grid of the prior's "
                 "quantiles (Kingma & Welling 2014, fig. 4): z₁ grows to the right, z₂ upward.")

st.header("Interpolation")
controls = st.columns(3)
first = int(controls[0].number_input("From test image", 0, n_test - 1, 0, key="interp-a"))
second = int(controls[1].number_input("To test image", 0, n_test - 1, min(1, n_test - 1),
                                      key="interp-b"))
steps = int(controls[2].number_input("Steps", 2, 16, 8, key="interp-steps"))
how = ("z = (1 - t) z_a + t z_b" if continuous else
       "a growing share of code positions (raster order) taken from the second image")
st.image(latent_data.interpolation(record, first, second, steps),
         caption=f"Ends: the two test images; between them, decoded codes: {how}.")

st.header("The test set's codes")
method = st.radio("Reduce to 2-d with", ["pca", "tsne"], horizontal=True,
                  format_func={"pca": "PCA", "tsne": "t-SNE"}.get,
                  help="scikit-learn; used only when the code has more than two dimensions.")
codes = latent_data.encodings(record, method)
st.plotly_chart(latent_data.encodings_figure(codes["frame"], codes["how"]), key="encodings")
if codes["factors"] is not None:
    st.subheader("Latent dimensions against the known factors")
    st.plotly_chart(latent_data.factors_figure(codes["factors"]), key="factors")
    st.caption("shapes are generated from known factors (shape, size, row, col). A dimension "
               "that tracks one factor and no other is disentangled. Correlation sees only "
               "linear, monotone links: shape is a category, so its |r| understates.")
    widgets.csv_download(codes["factors"], f"{record.run_id}-factors.csv",
                         label="Download the table (CSV)", index=True)
if codes["mig"] is not None:
    mig = codes["mig"]
    st.subheader("Disentanglement: the mutual information gap")
    st.markdown("The lecture's VAE slide ends with *learning disentangled representations*. "
                "β-VAE (Higgins et al. 2017) weights the KL by β; the MIG (Chen et al. 2018) "
                "scores each factor by how much more its best latent dimension knows of it than "
                "the runner-up:")
    st.latex(formulas.BETA_VAE)
    st.latex(formulas.MIG_FORMULA)
    columns = st.columns(len(mig.gaps) + 1)
    columns[0].metric("MIG", f"{mig.score:.3f}", help=f"on {mig.n:,} test images")
    for column, (factor, gap) in zip(columns[1:], mig.gaps.items()):
        column.metric(f"gap: {factor}", f"{gap:.3f}")
    st.plotly_chart(latent_data.factors_figure(
        mig.information, "I / H", "Mutual information of each latent dimension with each "
        "factor, I(z_j; v_k) / H(v_k)"), key="mig")
    tradeoff = latent_data.beta_tradeoff(reg, data.completed_runs(), record.dataset)
    if tradeoff["beta"].nunique() > 1:
        st.plotly_chart(latent_data.tradeoff_figure(tradeoff), key="beta-tradeoff")
        st.dataframe(tradeoff, hide_index=True)
    else:
        st.caption("Train the same model at other β to draw the trade-off here: `genzoo "
                   f"train {record.model} --dataset {record.dataset} --set beta=4` (and 10).")
if codes["usage"] is not None:
    st.header("Codebook")
    st.plotly_chart(latent_data.usage_figure(codes["usage"]["counts"],
                                             codes["usage"]["perplexity"]), key="usage")
    index = int(st.number_input("Test image", 0, n_test - 1, 0, key="codes-index"))
    st.plotly_chart(latent_data.codes_figure(latent_data.image_codes(record, index), index),
                    key="codes")
