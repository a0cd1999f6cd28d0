"""Completion and receptive fields: what an autoregressive image model conditions on.

Completion hides part of a test image and lets a trained model fill it in; the receptive
field shows, for one target pixel, which input pixels its conditional depends on (PixelCNN's
blind spot, the gated PixelCNN's fix, PixelRNN's row and diagonal fields).
"""

import streamlit as st

from genzoo.dashboard import completion_data, data, formulas, widgets
from genzoo.registry.errors import GenzooError
from genzoo.registry.masks import MASK_NAMES, MASKS

reg = data.registry()

st.title("Completion and receptive fields")
st.latex(formulas.CHAIN_RULE)
st.caption("An autoregressive model draws each pixel from p(x_i | x_<i) in raster order, so it "
           "can fill in the hidden part of an image: each hidden pixel is drawn given every "
           "pixel before it, known or already drawn.")

# -- completion -----------------------------------------------------------------------------

st.header("Completion")
runs = completion_data.completion_runs(reg, data.completed_runs())
if not runs:
    widgets.no_runs_yet("completed runs of autoregressive image models")
else:
    controls = st.columns([4, 2, 1, 1, 1])
    record = controls[0].selectbox("Run", runs, format_func=data.run_label)
    mask = controls[1].selectbox("Mask", MASK_NAMES,
                                 format_func=lambda m: f"{m}: {MASKS.get(m, MASKS['random:P'])}")
    seed = int(controls[2].number_input("Seed", min_value=0, value=0, step=1))
    n_test = len(data.dataset(record.dataset).test)
    index = int(controls[3].number_input("Test image", min_value=0, max_value=n_test - 1,
                                         value=0, step=1, key=f"index-{record.dataset}"))
    samples = int(controls[4].number_input("Samples", min_value=1, max_value=8, value=4,
                                           step=1))
    try:
        done = completion_data.completion(record, mask, seed, index, samples)
    except GenzooError as exc:  # a stale checkpoint or a mask too big for the image
        st.error(f"cannot complete with run {record.run_id}: {exc}")
    else:
        left, middle, right = st.columns([1, samples, 1])
        left.subheader("masked")
        left.image(done["masked"], width="stretch")
        middle.subheader(f"completed ({samples} samples)")
        middle.image(done["completed"], width="stretch")
        right.subheader("original")
        right.image(done["original"], width="stretch")
        label = f" (class {done['label']})" if done["label"] is not None else ""
        st.caption(f"Test image {index}{label} of {data.dataset_label(record.dataset)}: "
                   f"{done['hidden']} of "
                   f"{done['pixels']} pixels hidden (red), completed by `{record.run_id}` in "
                   f"{done['seconds']:.2f} s; known pixels kept: {'yes' if done['kept'] else 'NO'}."
                   " A raster-order model sees only the known pixels *before* each hidden one.")
        st.download_button("Download .npy (masked, completions, original)", done["npy"],
                           file_name=f"{record.run_id}-{mask.replace(':', '')}-{index}.npy",
                           mime="application/octet-stream", on_click="ignore")

# -- receptive fields -----------------------------------------------------------------------

st.header("Receptive fields")
st.markdown(completion_data.RF_EXPLANATION)
models = completion_data.ar_image_models(reg)
if not models:
    st.info("No autoregressive image model is registered.")
    st.stop()
datasets = completion_data.image_dataset_names(reg)
controls = st.columns([4, 2, 2, 2])
chosen = controls[0].multiselect("Models", models, default=models)
dataset_name = controls[1].selectbox("Image shape of", datasets,
                                     index=data.default_index(datasets, completion_data.RF_DATASET),
                                     format_func=data.dataset_label)
height, width = data.dataset(dataset_name).info.shape[-2:]
row = controls[2].slider("Row", 0, height - 1, height // 2, key=f"rf-row-{dataset_name}")
col = controls[3].slider("Column", 0, width - 1, width // 2, key=f"rf-col-{dataset_name}")
trained = st.toggle("Use a trained run's weights where one exists on this dataset",
                    value=False, help="Off: each model is built untrained with its default "
                    "config; masks and shifts alone decide what it can see.")
latest = data.image_models_with_runs(reg, data.completed_runs(), dataset_name) if trained else {}

if not chosen:
    st.info("Pick at least one model.")
    st.stop()
for start in range(0, len(chosen), 3):
    for column, name in zip(st.columns(3), chosen[start:start + 3]):
        with column:
            try:
                rf = completion_data.receptive_field(name, dataset_name, row, col, latest.get(name))
            except GenzooError as exc:
                st.error(f"{name}: {exc}")
                continue
            st.plotly_chart(completion_data.receptive_field_figure(rf["field"], row, col, name),
                            key=f"rf-{name}")
            later = ("none of the later ones" if rf["later"] == 0 else
                     f"and {rf['later']} later ones: it sees the future, a bug")
            st.caption(f"{rf['source']}: sees {rf['earlier'] - rf['unseen']} of the "
                       f"{rf['earlier']} pixels before ({row}, {col}) in raster order, {later}.")
