"""Samples: every model's samples side by side, drawn with the same seed, next to real images."""

import streamlit as st

from genzoo.dashboard import data, samples_data, widgets
from genzoo.registry.errors import GenzooError

reg = data.registry()
records = data.completed_runs()

st.title("Samples")
st.markdown("Each model draws the same number of samples from the same seed; the last grid "
            "shows real test images for reference.")

datasets = data.picture_datasets(reg, records)
if not datasets:
    widgets.no_runs_yet("completed image runs")
    st.stop()

controls = st.columns([2, 4, 1, 1])
dataset_name = controls[0].selectbox("Dataset", datasets,
                                     index=data.default_index(datasets, "digits"),
                                     format_func=data.dataset_label)
latest = data.image_models_with_runs(reg, records, dataset_name)
for note in data.data_changed_notes(records, dataset_name):
    st.warning(note)
models = controls[1].multiselect("Models", list(latest), default=list(latest))
seed = int(controls[2].number_input("Seed", min_value=0, value=0, step=1))
count = int(controls[3].number_input("Samples", min_value=1, max_value=64, value=16, step=1))

if not models:
    st.info("Pick at least one model.")
    st.stop()

PER_ROW = 5  # more to a row leaves each grid too small to see (12 models: 50 px each)
REAL = None  # the cell of real test images, after the models'


def sampler_controls(model: str, record) -> dict:
    """A diffusion model's step count (DDIM below T) or a flow's temperature, in its cell."""
    options = samples_data.sampler_options(record)
    if "max_steps" in options:
        top = options["max_steps"]
        steps = int(st.number_input(f"Steps (of T = {top})", 1, top, top, key=f"steps-{model}",
                                    help="T: ancestral sampling; fewer: DDIM (η = 0), faster "
                                         "at a cost in quality"))
        return {"steps": None if steps == top else steps}
    if options.get("temperature"):
        temperature = st.slider("Temperature", 0.1, 1.5, 1.0, step=0.05, key=f"temp-{model}",
                                help="z ~ N(0, T² I): below 1, less diverse and cleaner (Glow)")
        return {"temperature": None if temperature == 1.0 else temperature}
    return {}


def draw_model(model: str) -> None:
    record = latest[model]
    st.subheader(model)
    try:
        chosen = sampler_controls(model, record)
        drawn = samples_data.image_samples(record, seed, count, **chosen)
    except GenzooError as exc:  # a stale checkpoint must not take the other models down
        st.error(f"cannot sample run {record.run_id}: {exc}; {data.retrain_hint(record)}")
        return
    st.image(drawn["png"], width="stretch")  # encoded once, when sampled
    how = (f", {chosen['steps']} DDIM steps" if chosen.get("steps") else
           f", temperature {chosen['temperature']:g}" if chosen.get("temperature") else "")
    st.caption(f"run `{record.run_id}` · {data.test_score(record)} · "
               f"{reg.model(model).sampling} sampling{how}, "
               f"{drawn['ms_per_image']:.2f} ms/image (batch {count})")
    widgets.png_download(drawn["png"], f"{record.run_id}-seed{seed}-n{count}.png",
                         key=f"png-{model}")


def draw_real() -> None:
    st.subheader("real test images")
    real = samples_data.real_images(dataset_name, seed, count)
    st.image(real["png"], width="stretch")
    st.caption(f"{count} images of the {dataset_name} test split, picked with seed {seed}")
    widgets.png_download(real["png"], f"{dataset_name}-test-seed{seed}-n{count}.png",
                         key="png-real")


cells = [*models, REAL]
per_row = min(PER_ROW, len(cells))  # every row as wide as the first, so grids match in size
for start in range(0, len(cells), per_row):
    for column, cell in zip(st.columns(per_row), cells[start:start + per_row]):
        with column:
            if cell is REAL:
                draw_real()
            else:
                draw_model(cell)
