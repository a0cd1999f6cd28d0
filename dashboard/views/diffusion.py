"""Diffusion: a test image through the forward process, the reverse chain from noise, where the
bound's bits go, and what fewer sampling steps cost (DDIM)."""

import streamlit as st

from genzoo.dashboard import data, diffusion_data, formulas, widgets
from genzoo.registry.errors import GenzooError

reg = data.registry()

st.title("Diffusion")
st.markdown("A diffusion model (Ho et al. 2020) adds Gaussian noise to an image over T steps "
            "and learns to reverse each one. It is a latent-variable model whose latents "
            "x₁ … x_T have the data's size and whose encoder is fixed noise, so its likelihood "
            "is bounded like a VAE's, one KL term per step:")
st.latex(formulas.DIFFUSION_ELBO)

record, model = widgets.pick_run(diffusion_data.diffusion_runs(reg, data.completed_runs()),
                                 "completed runs of diffusion models (ddpm)",
                                 "genzoo train ddpm --dataset digits --seconds 120")
total = model.num_timesteps
n_test = len(data.dataset(record.dataset).test)
st.caption(f"{record.model} on {data.dataset_label(record.dataset)}: T = {total} steps; "
           f"{data.test_score(record)}.")

st.header("The forward process")
left, right = st.columns([2, 3])
with left:
    index = int(st.number_input("Test image", 0, n_test - 1, 0, key="diff-index"))
    forward = diffusion_data.forward(record, index, frames=11)
    position = st.select_slider("t", options=list(range(len(forward["timesteps"]) + 1)),
                                value=len(forward["timesteps"]) // 2,
                                format_func=lambda i: "0" if i == 0
                                else str(forward["timesteps"][i - 1]), key="diff-t")
    st.image(forward["frames"][position],
             caption="x₀, the test image" if position == 0 else
             f"x_t ~ q(x_t | x₀) at t = {forward['timesteps'][position - 1]}")
with right:
    st.latex(formulas.DIFFUSION_FORWARD)
    st.markdown("Any x_t is one Gaussian draw away from x₀, so training picks a random t, "
                "noises the image in one step and asks the network for the noise ε:")
    st.latex(formulas.L_SIMPLE)
st.image(forward["strip"], caption="The whole forward process, t from 0 to T: the image "
         "dissolves into N(0, I).")

st.header("The reverse chain, frame by frame")
controls = st.columns(4)
n = int(controls[0].number_input("Images", 1, 16, 8, key="rev-n"))
steps = int(controls[1].number_input("Steps K", 1, total, total, key="rev-steps",
                                     help="K = T with η = 1 is ancestral sampling; fewer "
                                          "steps run DDIM"))
eta = float(controls[2].slider("η (noise per step)", 0.0, 1.0, 1.0 if steps == total else 0.0,
                               key="rev-eta"))
seed = int(controls[3].number_input("Seed", 0, 2**31 - 1, 0, key="rev-seed"))
chain = diffusion_data.reverse(record, n, steps, eta, frames=10, seed=seed)
frame = st.select_slider("Frame", options=list(range(len(chain["t"]))),
                         format_func=lambda i: f"t = {chain['t'][i]}", key="rev-frame")
st.image(chain["pictures"][frame], caption=f"t = {chain['t'][frame]}: top, x_t; bottom, the "
         "model's prediction x̂₀ of the clean image from it")
st.image(chain["samples"], caption="The samples at the end of the chain (x₀, rounded to levels)")
st.latex(formulas.DDIM_STEP)

st.header("Where the bound's bits go")
terms = diffusion_data.bound_terms(record)
st.plotly_chart(diffusion_data.bound_terms_figure(terms), key="diff-terms")
st.caption(f"Each term averaged over the first {diffusion_data.BOUND_IMAGES} test images; their "
           "sum is the bound in bits/dim. The bound is tight only when every term is counted: "
           "the steps near t = 0 (fine detail) and the decoder L₀ carry most of it.")
widgets.table(terms, f"genzoo-diffusion-terms-{record.run_id}")

st.header("Fewer steps: DDIM's trade-off")
options = sorted({k for k in (5, 10, 20, 50, 100, 250, total) if k <= total})
chosen = st.multiselect("Step counts K", options, default=[k for k in options if k <= 50][:4]
                        + [total], key="ddim-steps")
st.caption(f"{diffusion_data.TRADEOFF_SAMPLES} samples at each K (η = 0; K = T too), scored "
           "against the test split by the dataset's reference classifier.")
if chosen and st.button("Measure", key="ddim-measure"):
    try:
        frame_ = diffusion_data.tradeoff(record, chosen)
    except GenzooError as exc:
        st.error(str(exc))
    else:
        st.plotly_chart(diffusion_data.tradeoff_figure(frame_, total), key="ddim-plot")
        widgets.table(frame_, f"genzoo-ddim-tradeoff-{record.run_id}")
