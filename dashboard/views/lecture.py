"""Lecture mode: lecture 2 in its order, each formula next to a live model that shows it.

From the unsupervised warm-up (k-means, PCA, 1-d and 2-d density estimation with scikit-learn on
the digits and a 2-d toy) to each family: the AR(p) model and the chain rule beside the newest
autoregressive runs, the ELBO, reparameterization and Gaussian KL beside the newest VAE run, the
VQ-VAE loss beside its codebook, the GAN objective beside its two losses. A section whose model
has no run in the store says how to train one.
"""

import math
import shlex

import streamlit as st

from genzoo.dashboard import (
    completion_data,
    data,
    density2d_data,
    formulas,
    latent_data,
    overview_data,
    samples_data,
    timeseries_data,
)
from genzoo.dashboard import lecture_data as lecture
from genzoo.registry.diffusion import DiffusionModel
from genzoo.registry.errors import GenzooError
from genzoo.registry.flow import FlowModel

SAMPLES_PX = 320  # width of a grid of samples: big enough to read 8x8 digits, not a wall

reg = data.registry()
records = data.completed_runs()


def no_run(what: str, command: str) -> None:
    """The section's model has no run: say so and give the command that makes one."""
    st.info(f"No completed {what} run in the runs store `{data.store_home()}` yet. Train one "
            "(or create every demo run with `genzoo demo`):")
    st.code(command, language="bash")


def cannot_load(record, exc: Exception) -> None:
    """A run that no longer loads: one line naming it, and how to train it again."""
    st.error(f"cannot load run {record.run_id}: {exc}; {data.retrain_hint(record)}")


def header(part: int) -> None:
    """A part's title as the lecture's contents name it, with a link anchor."""
    anchor, _, title = lecture.PARTS[part]
    st.header(title, anchor=anchor)


def mu_sigma_sliders(prefix: str) -> tuple[float, float]:
    """Sliders for the mean and standard deviation of a 1-d Gaussian (keys prefix-mu/-sigma)."""
    controls = st.columns(2)
    mu = controls[0].slider("μ", -3.0, 3.0, 1.0, step=0.1, key=f"{prefix}-mu")
    sigma = controls[1].slider("σ", 0.1, 3.0, 0.5, step=0.1, key=f"{prefix}-sigma")
    return mu, sigma


def claims(pros, cons) -> None:
    """A family's pros and cons as two bullet lists, side by side."""
    left, right = st.columns(2)
    left.markdown("**Pros**\n" + "".join(f"\n- {text}" for text in pros))
    right.markdown("**Cons**\n" + "".join(f"\n- {text}" for text in cons))


st.title("Lecture mode")
st.markdown("Lecture 2, *Foundations of Generative Models*, in its order: every formula next to "
            "a model from the runs store, or a small live computation, that shows it. Numbers "
            "come from the newest completed run of each model; a part whose model has no run "
            "says how to train one.")
# One part at a time, as a lecture goes (and a page with one part's charts draws quickly);
# "All parts" shows the whole lecture on one page, for reading it through or printing it.
TITLES = [tab for _, tab, _ in lecture.PARTS]
ALL_PARTS = "All parts"
shown = st.radio("Part", [*TITLES, ALL_PARTS], horizontal=True, key="lecture-part",
                 label_visibility="collapsed")


def showing(part: int) -> bool:
    """Whether the reader is on this part (or on the whole lecture)."""
    return shown in (TITLES[part], ALL_PARTS)


def go_to(title: str) -> None:
    st.session_state["lecture-part"] = title


# -- supervised vs unsupervised: the warm-up ----------------------------------------------------

if showing(0):
    header(0)
    left, right = st.columns(2)
    left.markdown("**Supervised learning.** Data: (x, y), x is data, y is label. Goal: learn a "
                  "function to map x → y (classification, regression, detection, …).")
    right.markdown("**Unsupervised learning.** Data: x, just data, no labels! Goal: learn some "
                   "underlying hidden structure of the data (clustering, dimensionality "
                   "reduction, density estimation).")
    st.caption("Below, scikit-learn on the 1,437 training digits (8×8 pixels, 17 grey levels): "
               "the labels are never used to fit, only afterwards to see what was found.")

    st.subheader("K-means clustering")
    left, right = st.columns([2, 3])
    with left:
        st.latex(formulas.KMEANS_OBJECTIVE)
        k = st.slider("Clusters k", 2, 20, 10, key="kmeans-k")
        km = lecture.kmeans_digits(k)
        metrics = st.columns(3)
        metrics[0].metric("ARI", f"{km['ari']:.3f}",
                          help="Adjusted Rand index of the clusters against the digit labels: "
                               "0 for a random clustering, 1 for the labels themselves.")
        metrics[1].metric("NMI", f"{km['nmi']:.3f}",
                          help="Normalized mutual information of clusters and labels (0 to 1).")
        metrics[2].metric("Purity", f"{km['purity']:.1%}",
                          help="Share of the images whose cluster's most common digit is their "
                               "own.")
    with right:
        st.image(km["picture"], caption=(
            f"The {k} cluster centres as images (mean of their members). Most common digit in "
            f"each: {', '.join(str(d) for d in km['majority'])}; members: "
            f"{', '.join(str(n) for n in km['sizes'])}."))

    st.subheader("Principal component analysis (dimensionality reduction)")
    pca = lecture.pca_digits()
    left, right = st.columns([2, 3])
    with left:
        st.latex(formulas.PCA_RECONSTRUCTION)
        components = st.slider("Components k", 1, len(pca["ratio"]), 10, key="pca-k")
        recon = lecture.pca_reconstructions(components)
        metrics = st.columns(2)
        metrics[0].metric("Variance kept", f"{recon['kept']:.1%}")
        metrics[1].metric("Reconstruction error", f"{recon['mse']:.2f} levels²",
                          help="Mean squared error per pixel over the test split.")
        st.image(recon["picture"], caption=f"Top: test digits; bottom: the same from their "
                                           f"first {components} principal components.")
    with right:
        st.plotly_chart(lecture.variance_figure(pca["ratio"], components), key="pca-variance")
    st.plotly_chart(lecture.projection_figure(pca["frame"]), key="pca-projection")


# -- density estimation, the third task of unsupervised learning -------------------------------

if showing(1):
    header(1)
    st.caption("The third task of unsupervised learning, and the one generative models "
               "scale up: estimate p(x) from samples. Here with scikit-learn, in one and two "
               "dimensions, scored in the same unit as the models: held-out log-likelihood.")
    st.subheader("1-d density estimation")
    left, right = st.columns([2, 3])
    with left:
        st.latex(formulas.KDE_FORMULA)
        bandwidth = st.slider("Bandwidth h (levels)", 0.2, 10.0, 2.0, step=0.1, key="kde1-h")
        density = lecture.density_1d(bandwidth)
        metrics = st.columns(2)
        metrics[0].metric("Validation log-likelihood", f"{density['validation']:.3f} nats",
                          help="Mean log p̂(x) of the validation digits' first component: the "
                               "split a bandwidth is chosen on (the test split is only "
                               "reported, in the curve below).")
        metrics[1].metric("Silverman's rule", f"h ≈ {density['silverman']:.2f}")
        st.caption("K is the standard normal density; x is one number per digit, its first "
                   "principal component. Modeling p(x) from samples alone: a narrow kernel "
                   "memorizes the training values, a wide one blurs the modes away.")
    with right:
        st.plotly_chart(lecture.density_1d_figure(density), key="kde1-density")
    st.plotly_chart(lecture.bandwidth_figure(lecture.bandwidth_curve(), bandwidth),
                    key="kde1-bandwidth")

    st.subheader("2-d density estimation")
    toys = lecture.toy_names(reg)
    if not toys:
        st.info("No 2-d toy dataset is registered (they come with the genzoo.toy2d plugin).")
    else:
        controls = st.columns(3)
        toy = controls[0].selectbox("Points", toys, key="toy")
        toy_h = controls[1].slider("KDE bandwidth (grid cells)", 0.3, 4.0, 1.0, step=0.1,
                                   key="kde2-h")
        mixture = controls[2].slider("Mixture components M", 1, 16, 8, key="gmm-m")
        truth = density2d_data.truth(toy)
        kde, gmm = lecture.kde_2d(toy, toy_h), lecture.gmm_2d(toy, mixture)
        zmax = float(truth["density"].max())
        st.plotly_chart(lecture.density_maps_figure(
            [(f"True density: {toy}", truth["density"]), ("Kernel density estimate",
             kde["density"]), ("Gaussian mixture (EM)", gmm["density"])], zmax), key="toy-maps")
        columns = st.columns(3)
        columns[0].caption(f"No estimate can average below {truth['entropy'] / 2:.3f} bits/dim "
                           "(the true entropy per coordinate).")
        with columns[1]:
            st.latex(formulas.KDE_2D_FORMULA)
            st.metric("KDE, held-out", f"{kde['bits_per_dim']:.3f} bits/dim")
        with columns[2]:
            st.latex(formulas.GMM_FORMULA)
            st.metric("Gaussian mixture, held-out", f"{gmm['bits_per_dim']:.3f} bits/dim")
        st.caption("Each estimate is evaluated at every cell of the grid and normalized there, "
                   "so its held-out score is in the unit the models on this toy report (see the "
                   "2-d densities page).")

# -- generative models --------------------------------------------------------------------------

if showing(2):
    header(2)
    left, right = st.columns([2, 3])
    with left:
        st.markdown("Given training data, generate new samples from the same distribution. "
                    "Objectives: learn p_model(x) that approximates p_data(x), and sample new x "
                    "from it.")
        st.latex(formulas.P_MODEL)
    with right:
        st.markdown("Formulated as density estimation:\n"
                    "- **Explicit density**: define and solve for p_model(x), tractable (the "
                    "chain rule: AR, FVBN, PixelRNN/PixelCNN) or approximate (a bound: VAE, "
                    "VQ-VAE).\n"
                    "- **Implicit density**: learn a model that samples from p_model(x) without "
                    "defining it (GAN).")
    st.subheader("Taxonomy of the registered models")
    st.dataframe(overview_data.taxonomy_frame(reg), hide_index=True,
                 column_order=["branch", "model", "family", "density", "sampling", "data"])

# -- autoregressive models ----------------------------------------------------------------------

if showing(3):
    header(3)
    st.subheader("The AR(p) model of a time series")
    st.latex(formulas.AR_FORMULA)
    record = lecture.newest_run(reg, records, ("ar",), kind="series")
    bundle = None
    if record is not None:
        try:
            bundle = timeseries_data.forecast_bundle(record)
            st.latex(lecture.fitted_ar_latex(bundle["info"]))
            st.caption(f"Above: the lecture's model; below it, the same fitted to "
                       f"{data.dataset_label(record.dataset)} by run `{record.run_id}` "
                       "(least squares, closed form).")
        except GenzooError as exc:
            cannot_load(record, exc)
    left, right = st.columns([2, 3])
    with left:
        st.markdown("- X_t: the value at the current time point\n- c: a constant term\n"
                    "- φ₁ … φ_p: the model parameters\n- p: the order (how many past values)\n"
                    "- ε_t: the white noise error term")
        if record is not None:
            st.metric("Test negative log-likelihood", data.test_score(record),
                      help="Of each held-out value given the p before it: exact, by the chain "
                           "rule over time.")
    with right:
        if record is None:
            no_run("AR(p)", lecture.TRAIN_COMMANDS["ar"])
        elif bundle is not None:
            st.plotly_chart(timeseries_data.forecast_figure(
                bundle, title=f"AR({bundle['info'].get('p')}) on "
                              f"{data.dataset_label(record.dataset)}: forecast of the held-out "
                              "years",
                y_label=timeseries_data.series_unit(record.dataset)), key="ar-forecast")

    st.subheader("Fully visible belief network: the chain rule")
    record = lecture.newest_run(reg, records, completion_data.ar_image_models(reg))
    left, right = st.columns([2, 3])
    with left:
        st.latex(formulas.CHAIN_RULE)
        st.markdown("The likelihood of an image x is the product of 1-d distributions: the "
                    "probability of the i'th pixel value given all previous pixels, each a "
                    "neural network's output. Training maximizes the likelihood of the "
                    "training data; the common unit is")
        st.latex(formulas.BITS_PER_DIM)
    with right:
        if record is None:
            no_run("PixelCNN", lecture.TRAIN_COMMANDS["autoregressive"])
        else:
            try:
                n_test = len(data.dataset(record.dataset, record.dataset_options).test)
                index = int(st.columns(2)[0].number_input("Test image", 0, n_test - 1, 0,
                                                          key="chain-index"))
                bits = lecture.pixel_bits(record, index)
                picture, heat = st.columns([1, 2])
                picture.image(bits["picture"], caption=f"test image {index}"
                              + (f" (a {bits['label']})" if bits["label"] is not None else ""))
                heat.plotly_chart(lecture.pixel_bits_figure(bits), key="chain-bits")
                metrics = st.columns(3)
                metrics[0].metric("−log₂ p(x), bits", f"{bits['total_bits']:.2f}",
                                  help=f"log_prob gives {bits['log_prob_bits']:.2f} bits: the "
                                       "sum of the per-pixel terms.")
                metrics[1].metric("bits/dim, this image",
                                  f"{bits['total_bits'] / bits['dims']:.3f}",
                                  help=f"D = {bits['dims']} dimensions")
                test_bits = (record.metrics or {}).get("test_bits_per_dim")
                metrics[2].metric("bits/dim, test split",
                                  "—" if test_bits is None else f"{test_bits:.3f}")
                st.caption(f"{record.model} run `{record.run_id}` on "
                           f"{data.dataset_label(record.dataset)}: each cell is one factor "
                           "of the chain rule, in raster order.")
            except GenzooError as exc:
                cannot_load(record, exc)

    st.subheader("PixelRNN and PixelCNN: sequential generation")
    left, right = st.columns([2, 3])
    with left:
        st.latex(r"x_i \sim p(x_i \mid x_1, \dots, x_{i-1}), \quad i = 1, \dots, n")
        st.markdown("Generate image pixels starting from the corner, one at a time: training "
                    "is parallel (every context is known), generation is not — for a 32×32 "
                    "image, 1024 passes of the network.")
    with right:
        if record is not None:
            try:
                samples = samples_data.image_samples(record, 0, 16)
                st.image(samples["grid"], width=SAMPLES_PX, caption=(
                    f"16 samples of {record.model} ({samples['ms_per_image']:.1f} ms/image "
                    "here)"))
            except GenzooError as exc:
                cannot_load(record, exc)
    speed = lecture.sampling_frame(reg, records)
    if not speed.empty:
        st.dataframe(speed, hide_index=True)
        st.caption("Measured sampling time per image of each family's newest run: sequential "
                   "models pay one network pass per pixel (or per code).")
    claims(**lecture.LECTURE_CLAIMS["autoregressive"])

# -- variational autoencoders -------------------------------------------------------------------

if showing(4):
    header(4)
    vae = lecture.newest_lecture_vae(reg, records)
    vae_model = None
    if vae is None:
        no_run("VAE", lecture.TRAIN_COMMANDS["vae"])
    else:
        try:
            vae_model = data.loaded_run(vae).model
        except GenzooError as exc:
            cannot_load(vae, exc)
    vae_index, split = 0, None
    if vae_model is not None:
        n_vae = len(data.dataset(vae.dataset, vae.dataset_options).test)
        vae_index = int(st.columns(3)[0].number_input(
            "Test image (this part's live views)", 0, n_vae - 1, 0, key="vae-index"))
        try:
            split = lecture.elbo_split(vae, vae_index)
        except GenzooError as exc:
            cannot_load(vae, exc)

    st.subheader("An intractable density with latent z")
    left, right = st.columns([2, 3])
    with left:
        st.latex(formulas.LATENT_LIKELIHOOD)
        st.latex(formulas.POSTERIOR)
        st.markdown("A simple Gaussian prior p(z) and a decoder network p(x|z): no dependencies "
                    "among pixels given z, so all pixels are generated at once. But the "
                    "integral, and with it the posterior, is intractable. Sampling the prior "
                    "instead:")
    with right:
        if split is not None:
            estimates = lecture.prior_estimates(vae, vae_index)
            st.plotly_chart(lecture.prior_figure(estimates, split["elbo"]), key="vae-prior")
            fewest = estimates[estimates["k"] == estimates["k"].min()]["estimate"]
            st.caption(f"Each dot is one draw of k prior samples for test image {vae_index}: "
                       f"with k = {int(estimates['k'].min())} the estimates spread over "
                       f"{fewest.max() - fewest.min():.1f} nats. Monte Carlo estimation from "
                       "the prior is too high variance; the encoder's q(z|x) below fixes that.")
    st.latex(formulas.PRIOR_MONTE_CARLO)

    st.subheader("The evidence lower bound")
    st.latex(formulas.ELBO_DERIVATION)
    st.caption("The last KL involves the intractable posterior, but it is ≥ 0: the first two "
               "terms are a tractable lower bound we can take the gradient of and optimize.")
    st.latex(formulas.ELBO)
    left, right = st.columns([2, 3])
    with left:
        st.markdown("The decoder reconstructs the input (first term); the encoder makes the "
                    "approximate posterior close to the prior (second term).")
        if split is not None:
            metrics = st.columns(2)
            metrics[0].metric("E_z[log p(x|z)], nats", f"{split['recon']:.2f}")
            metrics[1].metric("D_KL(q(z|x) ‖ p(z)), nats", f"{split['kl']:.2f}")
            metrics = st.columns(2)
            metrics[0].metric("ELBO 𝓛, nats", f"{split['elbo']:.2f}")
            metrics[1].metric("−𝓛, bits/dim", f"{split['bits_per_dim']:.3f}",
                              help=f"test split (run): {data.test_score(vae)}")
            st.caption(f"Test image {vae_index} under run `{vae.run_id}`.")
    with right:
        if vae_model is not None:
            terms = lecture.loss_terms(vae.run_id, ("recon", "kl"))
            if terms.empty:
                st.caption(f"Run `{vae.run_id}` logged no recon/kl terms.")
            else:
                st.plotly_chart(lecture.terms_figure(
                    terms, f"The ELBO's two terms while {vae.run_id} trained",
                    "nats per image", total=("recon", "kl")), key="vae-terms")
                st.caption("recon = E_z[−log p(x|z)], kl = the closed-form KL, per image; "
                           "their sum is −𝓛, the loss minimized.")
    if vae_model is not None:
        try:
            recon = latent_data.reconstructions(vae, 8)
            st.image(recon["picture"], width=2 * SAMPLES_PX, caption=(
                "Top: test images; bottom: the decoder's mean given z = μ(x) (reconstruct "
                "the input data)."))
        except GenzooError as exc:
            cannot_load(vae, exc)

    st.subheader("The reparameterization trick")
    left, right = st.columns([2, 3])
    with left:
        st.latex(formulas.REPARAMETERIZATION)
        st.markdown("Sampling z ~ q(z|x) is not differentiable; sampling ε first (an input to "
                    "the graph) and computing z makes μ and σ part of the computation graph.")
        mu, sigma = mu_sigma_sliders("reparam")
        reparam = lecture.reparameterize(mu, sigma)
        metrics = st.columns(2)
        metrics[0].metric("mean of z", f"{reparam['mean']:.3f}")
        metrics[1].metric("std of z", f"{reparam['std']:.3f}")
        metrics = st.columns(2)
        metrics[0].metric("∂ mean(z) / ∂μ", f"{reparam['grad_mu']:.3f}",
                          help="autograd through the samples")
        metrics[1].metric("∂ mean(z) / ∂σ", f"{reparam['grad_sigma']:.3f}",
                          help=f"= mean(ε) = {reparam['mean_eps']:.3f}")
    with right:
        st.plotly_chart(lecture.reparameterization_figure(reparam, mu, sigma), key="reparam")

    st.subheader("The KL term in closed form")
    st.latex(formulas.GAUSSIAN_KL)
    left, right = st.columns([2, 3])
    with left:
        st.markdown("Between the encoder's Gaussian and the prior the KL has an analytical "
                    "solution. Monte Carlo (the mean of log q(z) − log p(z) over z ~ q) agrees:")
        kl_mu, kl_sigma = mu_sigma_sliders("kl")
        check = lecture.kl_check(kl_mu, kl_sigma)
        metrics = st.columns(2)
        metrics[0].metric("closed form, nats", f"{check['closed']:.4f}")
        metrics[1].metric("Monte Carlo, nats", f"{check['estimate']:.4f}",
                          help=f"±{check['error']:.4f} (one standard error), from 20,000 "
                               "samples")
        if split is not None:
            mc = split["kl_mc"]
            st.markdown(f"Run `{vae.run_id}`'s q(z|x) of test image {vae_index} (J = "
                        f"{len(split['mu'])}): closed form **{split['kl']:.3f} nats**, Monte "
                        f"Carlo **{mc['estimate']:.3f} ± {mc['error']:.3f} nats**.")
    with right:
        st.plotly_chart(lecture.kl_figure(check["frame"], kl_mu, kl_sigma), key="kl")

    st.subheader("Generating data")
    if vae_model is not None:
        try:
            samples = samples_data.image_samples(vae, 0, 16)
            st.image(samples["grid"], width=SAMPLES_PX, caption=(
                "z ~ N(0, I) from the prior, then the decoder network "
                f"({samples['ms_per_image']:.2f} ms/image: one pass for all)."))
        except GenzooError as exc:
            cannot_load(vae, exc)
    else:
        st.caption("Given a trained VAE: sample z from the prior, then use the decoder.")
    claims(**lecture.LECTURE_CLAIMS["vae"])

# -- VQ-VAE -------------------------------------------------------------------------------------

if showing(5):
    header(5)
    columns = st.columns(2)
    for column, (name, points) in zip(columns, lecture.GAUSSIAN_VS_VQ.items()):
        column.markdown(f"**{name}**" + "".join(f"\n- {point}" for point in points))
    st.latex(formulas.VQ_LOSS)
    left, right = st.columns([2, 3])
    with left:
        st.markdown("Discrete, with a codebook: each encoder output z_e(x) is replaced by its "
                    "nearest code e. Terms: reconstruction, codebook, commitment (van den Oord "
                    "et al. 2017, eq. 3); sg is the stop-gradient. The last two have the same "
                    "value, ‖z_e(x) − e‖²: they differ in which side the gradient moves.")
        st.caption(f"Limit (CodeFormer slides): {lecture.VQ_LIMIT}.")
    vq = lecture.newest_run(reg, records, ("vqvae",))
    with right:
        if vq is None:
            no_run("VQ-VAE", lecture.TRAIN_COMMANDS["vqvae"])
        else:
            terms = lecture.loss_terms(vq.run_id, ("codebook", "commitment"))
            if not terms.empty:
                st.plotly_chart(lecture.terms_figure(
                    terms, f"Codebook and commitment terms of {vq.run_id}",
                    "squared distance"), key="vq-terms")
    if vq is not None:
        try:
            codes = latent_data.encodings(vq, "pca")
            n_vq = len(data.dataset(vq.dataset, vq.dataset_options).test)
            usage, grid = st.columns(2)
            with usage:
                if codes["usage"] is not None:
                    st.plotly_chart(latent_data.usage_figure(codes["usage"]["counts"],
                                                             codes["usage"]["perplexity"]),
                                    key="vq-usage")
            with grid:
                index = int(st.number_input("Test image", 0, n_vq - 1, 0, key="vq-index"))
                st.plotly_chart(latent_data.codes_figure(latent_data.image_codes(vq, index),
                                                         index), key="vq-codes")
            recon = latent_data.reconstructions(vq, 8)
            st.image(recon["picture"], width=2 * SAMPLES_PX, caption=(
                "Ground truth (top) and reconstructions from the code grid (bottom)."))
            prior = lecture.child_run(records, vq, "vqvae-prior")
            if prior is None:
                st.info(f"Generations need a PixelCNN prior over the codes of `{vq.run_id}`:")
                st.code(f"genzoo train vqvae-prior --parent {shlex.quote(vq.run_id)} --seconds 60",
                        language="bash")
            else:
                samples = samples_data.image_samples(prior, 0, 16)
                st.image(samples["grid"], width=SAMPLES_PX, caption=(
                    f"Generations with PixelCNN (run `{prior.run_id}`): codes from the prior, "
                    f"then the decoder; bound {data.test_score(prior)}."))
        except GenzooError as exc:
            cannot_load(vq, exc)

# -- generative adversarial networks ------------------------------------------------------------

if showing(6):
    header(6)
    st.caption("This lecture's slides end with the VAE; the GAN part follows Goodfellow et al. "
               "2014 (eq. 1) and the gan plugin.")
    st.latex(formulas.GAN_MINIMAX)
    st.latex(formulas.GAN_LOSSES)
    gan = lecture.newest_run(reg, records, ("gan",))
    left, right = st.columns([2, 3])
    with left:
        st.markdown("A generator G(z) maps noise to images; a discriminator D(x) is the "
                    "probability that x is real. Training alternates the two players; G "
                    "minimizes the non-saturating L_G, whose gradient is strong early on "
                    "(log(1 − D(G(z))) saturates when D rejects every sample).")
    with right:
        if gan is None:
            no_run("GAN", lecture.TRAIN_COMMANDS["gan"])
        else:
            terms = lecture.loss_terms(gan.run_id, ("d_loss", "g_loss"))
            if not terms.empty:
                st.plotly_chart(lecture.terms_figure(
                    terms, f"The two players' losses while {gan.run_id} trained", "nats",
                    lines={"L_D at D = ½: 2 log 2": 2 * math.log(2),
                           "L_G at D = ½: log 2": math.log(2)}), key="gan-terms")
                st.caption("Neither loss measures sample quality; at the game's equilibrium D "
                           "cannot tell real from fake (D = ½ everywhere).")
    if gan is not None:
        try:
            left, right = st.columns([2, 3])
            with left:
                samples = samples_data.image_samples(gan, 0, 16)
                st.image(samples["grid"], width=SAMPLES_PX, caption=(
                    f"16 samples of run `{gan.run_id}`: one pass of G "
                    f"({samples['ms_per_image']:.2f} ms/image)."))
            with right:
                st.subheader("Why there is no likelihood")
                st.markdown("G defines p_model(x) only implicitly, as the distribution of "
                            "G(z): there is no formula for p(x) to evaluate, so no bits/dim "
                            "next to the other families. Asked for log p(x) of a test image, "
                            "the run answers:")
                st.info(lecture.no_density_reason(gan) or "(it returned a number)")
        except GenzooError as exc:
            cannot_load(gan, exc)
    claims(**lecture.gan_claims(reg))
    st.caption("Pros and cons as the gan plugin registers them; the Overview page sets each "
               "next to the number that tests it.")


# -- beyond this lecture: flows and diffusion ----------------------------------------------------


def beyond_family(what: str, models: tuple[str, ...], command: str, explain: str) -> None:
    """A family of the course's next chapters beside its newest run: samples and its bound."""
    record = lecture.newest_run(reg, records, models)
    left, right = st.columns([2, 3])
    right.markdown(explain)
    if record is None:
        with left:
            no_run(what, command)
    else:
        try:
            samples = samples_data.image_samples(record, 0, 16)
            left.image(samples["grid"], width=SAMPLES_PX, caption=(
                f"16 samples of run `{record.run_id}` ({record.model}, "
                f"{samples['ms_per_image']:.2f} ms/image); {data.test_score(record)}."))
        except GenzooError as exc:
            cannot_load(record, exc)
    for name in models:
        st.markdown(f"**{name}**")
        claims(**lecture.registered_claims(reg, name))


if showing(7):
    header(7)
    st.caption("The lecture's first slides name four families of modern generative models: VAE, "
               "GAN, flow-based models (\"invertible transform of distributions\") and diffusion "
               "models (\"gradually add Gaussian noise and then reverse\"). The last two, on the "
               "same data and in the same unit as the rest.")
    st.subheader("Flows: the change of variables")
    st.latex(formulas.CHANGE_OF_VARIABLES)
    st.latex(formulas.DEQUANTIZATION_BOUND)
    beyond_family("flow", lecture.models_of_kind(reg, FlowModel), lecture.TRAIN_COMMANDS["flow"],
                  "An invertible network f maps an image to a code z of the same size with a "
                  "simple density; the Jacobian's log-determinant accounts for how f stretches "
                  "space, so log p(x) is exact, and sampling is one pass of f⁻¹. On discrete "
                  "pixels the density is over dequantized values x + u: the number reported is "
                  "a bound (uniform noise u; a learned q(u | x) tightens it). Under the "
                  "taxonomy's change-of-variables branch of explicit density.")
    st.subheader("Diffusion: a VAE with T layers of latents and a fixed encoder")
    st.latex(formulas.DIFFUSION_FORWARD)
    st.latex(formulas.DIFFUSION_ELBO)
    beyond_family("diffusion", lecture.models_of_kind(reg, DiffusionModel),
                  lecture.TRAIN_COMMANDS["diffusion"],
                  "The encoder q(x_t | x_{t-1}) only adds noise; a network learns the reverse "
                  "steps. Its bound has one KL term per step, like a VAE's ELBO: tight only when "
                  "every term is counted. Sampling runs the chain backwards, T network passes "
                  "per image; DDIM skips steps at a cost in quality. The Diffusion page shows "
                  "the forward process, the reverse chain and where the bits go.")


# -- the VAE slide's "active areas of research", and the taxonomy's Markov-chain leaf ----------

if showing(8):
    header(8)
    st.markdown("The VAE slides end: *Active areas of research: more flexible approximations, "
                "e.g. richer approximate posterior instead of diagonal Gaussian, e.g., Gaussian "
                "Mixture Models (GMMs), Categorical Distributions. Learning disentangled "
                "representations.* Each line here, with a model that answers it and its number "
                "beside the plain VAE's, on the same data, in the same unit.")
    for line, models, command, explain in lecture.RESEARCH_LINES:
        st.subheader(f"“{line}”")
        st.markdown(explain)
        table = lecture.newest_numbers(reg, records, models)
        if not set(table["model"]) & set(models):
            no_run(" or ".join(models), command)
        else:
            st.dataframe(table, hide_index=True, column_config={
                "test bits/dim": st.column_config.NumberColumn(format="%.4f")})
        for name in models:
            if name in reg.models:
                st.markdown(f"**{name}**")
                claims(**lecture.registered_claims(reg, name))
    st.subheader("“Learning disentangled representations”")
    st.latex(formulas.BETA_VAE)
    st.latex(formulas.MIG_FORMULA)
    tradeoff = latent_data.beta_tradeoff(reg, records, "shapes")
    if tradeoff["beta"].nunique() > 1:
        st.plotly_chart(latent_data.tradeoff_figure(tradeoff), key="lecture-beta")
        st.caption("vae runs on shapes (known factors: shape, size, row, col) at several β: the "
                   "bound against the mutual information gap. The Latent explorer shows each "
                   "run's traversals beside its MIG.")
    else:
        no_run("β-VAE on shapes at two or more β", lecture.TRAIN_COMMANDS["beta"])
    st.subheader("The taxonomy's last leaf: a Markov-chain density")
    st.markdown("A restricted Boltzmann machine (Hinton 2002) defines p(x) through an energy, "
                "up to a partition function Z no one can sum; training follows persistent "
                "Gibbs chains (Tieleman 2008), sampling runs one, and log Z is *estimated* by "
                "annealed importance sampling (Salakhutdinov & Murray 2008): its number is an "
                "estimate with a spread, never a bound, and is kept apart from both.")
    rbm = lecture.newest_numbers(reg, records, ("rbm",), dataset="mnist-binary")
    if "rbm" in set(rbm["model"]):
        st.dataframe(rbm, hide_index=True)
        chain_run = lecture.newest_run(reg, records, ("rbm",))
        steps = st.select_slider("Gibbs sweeps", [8, 40, 200, 1000, 5000], value=200,
                                 key="gibbs-steps",
                                 help="the rbm's gibbs_steps setting: how long its sampler runs")
        try:
            chains = lecture.chain_frames(chain_run, steps)
            st.image(chains["grid"], caption=(
                f"{lecture.CHAINS} Gibbs chains of run `{chain_run.run_id}`, one a row, from the "
                f"data's base rates: after {', '.join(map(str, chains['steps']))} sweeps. "
                "Early frames are noise; the chain needs many sweeps to reach the model's "
                "distribution (the Markov chain's cost)."))
        except GenzooError as exc:
            cannot_load(chain_run, exc)
    else:
        no_run("rbm", lecture.TRAIN_COMMANDS["rbm"])
    if "rbm" in reg.models:
        claims(**lecture.registered_claims(reg, "rbm"))


# -- previous and next, as in a lecture ---------------------------------------------------------

if shown != ALL_PARTS:
    index = TITLES.index(shown)
    back, _, forward = st.columns([1, 3, 1])
    if index > 0:
        back.button(f"← {TITLES[index - 1]}", on_click=go_to, args=(TITLES[index - 1],),
                    key="lecture-back")
    if index < len(TITLES) - 1:
        forward.button(f"{TITLES[index + 1]} →", on_click=go_to, args=(TITLES[index + 1],),
                       key="lecture-next")
