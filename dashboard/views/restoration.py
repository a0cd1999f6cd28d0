"""Restoration by codebook lookup (CodeFormer): degrade a test image, restore it, compare.

A codeformer run's transformer predicts the clean image's VQ-VAE codes from the degraded
image's features; decoding them restores it. Side by side: the degraded input, the VQ-VAE's
plain nearest-code lookup, the restoration at the chosen w, and the clean image; then how
fidelity moves with w, and the metrics table of every degradation on the test split.
"""

import shlex

import streamlit as st

from genzoo.dashboard import data, restoration_data, widgets
from genzoo.registry.degrade import KINDS
from genzoo.registry.errors import GenzooError

reg = data.registry()

st.title("Restoration by codebook lookup")
st.markdown("CodeFormer (Zhou et al., NeurIPS 2022) restores a degraded image *blindly* with a "
            "trained VQ-VAE: the nearest-code lookup of damaged features is unreliable, so a "
            "transformer reads the whole grid of the degraded image's features and predicts "
            "the clean image's code at every position. Trained with the paper's code-level "
            "losses and its controllable feature transformation (CFT):")
st.latex(restoration_data.CODE_LOSSES)  # one per line: side by side, the CFT ran off the page
st.latex(restoration_data.CFT)
st.caption("F_d: the looked-up codes the decoder reads, scaled and shifted; F_e: the degraded "
           "image's encoder features, detached (sg), as in the paper's code. w = 0: pure "
           "codebook lookup (quality); w = 1: the CFT adds all of its correction from the "
           "degraded input's features (fidelity).")

runs = restoration_data.restoration_runs(reg, data.completed_runs())
if not runs:
    st.info(f"No completed codeformer runs yet in the runs store `{data.store_home()}`. A "
            "codeformer run is the second stage of a vqvae run; train one with:")
    st.code(restoration_data.train_commands(reg, data.completed_runs()), language="bash")
    st.stop()

controls = st.columns([4, 1, 2, 2, 2, 1])
record = controls[0].selectbox("Run", runs, format_func=data.run_label)
n_test = len(data.dataset(record.dataset, record.dataset_options).test)
index = int(controls[1].number_input("Test image", min_value=0, max_value=n_test - 1, value=0,
                                     step=1, key=f"restore-index-{record.dataset}"))
kind = controls[2].selectbox("Degradation", list(KINDS),
                             format_func=lambda name: KINDS[name].describe())
spec_kind = KINDS[kind]
strength = controls[3].slider(f"Strength {spec_kind.symbol}", spec_kind.low, spec_kind.high,
                              restoration_data.DEFAULT_STRENGTH[kind],
                              restoration_data.STEP[kind], key=f"strength-{kind}")
w = controls[4].slider("w (fidelity)", 0.0, 1.0, 0.5, 0.05, key="restore-w")
seed = int(controls[5].number_input("Seed", min_value=0, value=0, step=1, key="restore-seed"))
spec = restoration_data.degradation(kind, strength)

try:
    shown = restoration_data.example(record, index, spec, w, seed)
except GenzooError as exc:  # a deleted run, a checkpoint that no longer loads
    st.error(f"cannot restore with run {record.run_id}: {exc}")
    st.stop()

titles = {"degraded": f"degraded ({spec})", "restored": f"restored (w={w:g})", "clean": "clean"}
for column, (name, image) in zip(st.columns(4), shown["images"].items()):
    column.plotly_chart(restoration_data.image_figure(image, shown["levels"],
                                                      titles.get(name, name)),
                        key=f"image-{name}")
    column.caption(restoration_data.image_caption(shown, name))
label = f" (class {shown['label']})" if shown["label"] is not None else ""
st.caption(f"Test image {index}{label} of {data.dataset_label(record.dataset)}, degraded by "
           f"{spec} (seed {seed}): "
           f"{spec_kind.what}. PSNR against the clean image, and the reference classifier's "
           "class where it is cached. The model is not told which degradation it sees.")

st.header("Fidelity against w")
curve = restoration_data.sweep(record, spec, seed)
st.plotly_chart(restoration_data.sweep_figure(curve, spec, w), key="sweep")

st.header("Every degradation, on the whole test split")
st.markdown(f"Mean PSNR (dB) against the clean images and the share the reference classifier "
            f"puts in the clean image's class, for the degraded input, the VQ-VAE's "
            f"nearest-code lookup (encode → quantize → decode) and codeformer at w = 0 and "
            f"w = {w:g}. The first row is the ceiling: what the VQ-VAE keeps of a clean image.")
if not restoration_data.has_reference(record):
    st.info(f"No reference classifier for {data.dataset_label(record.dataset)} in the store "
            "yet, so there is no "
            "accuracy column. Train it once (a few seconds) with:")
    st.code(f"genzoo restore {shlex.quote(record.run_id)} --table", language="bash")
try:
    frame = restoration_data.table(record, w, seed)
except GenzooError as exc:
    st.error(f"cannot measure run {record.run_id}: {exc}")
    st.stop()
widgets.table(frame, file_name=f"restoration-{record.run_id}-w{w:g}")
