"""Train: queue a run from the browser, follow its place in line, progress and loss, cancel it.

The run trains in a worker's process (``genzoo train``), never in the dashboard's: this page
checks the form with the registry's own checks, queues the job for this browser session
(``train_jobs``), and reads its progress back from the runs store.
"""

import streamlit as st

from genzoo.dashboard import access, data, train_jobs
from genzoo.registry.errors import GenzooError

UPLOADED = "uploaded-dataset"  # the dataset an upload just kept, picked on the next run
REFRESH_SECONDS = 2.0  # how often the runs below redraw while one is queued or training
SHOWN = 8  # jobs of this session that stay listed
BADGES = {"queued": ":gray[queued]", "starting": ":blue[starting]", "running": ":blue[running]",
          "cancelling": ":orange[cancelling]", "completed": ":green[completed]",
          "failed": ":red[failed]", "cancelled": ":gray[cancelled]",
          "interrupted": ":orange[interrupted]", "created": ":gray[created]",
          "deleted": ":gray[deleted]"}

reg = data.registry()
store = data.store()
session = access.session_id()

st.title("Train")
st.caption("Queue a run from the browser. A worker trains it in a process of its own, exactly "
           "as `genzoo train` would, so it keeps going when you close this tab; its place in "
           "line, progress and loss curve come from the runs store, and Cancel stops it with a "
           "checkpoint that `genzoo resume` continues. Nothing trains inside the dashboard. "
           f"Each visitor holds at most {access.session_cap()} jobs at a time.")
if access.read_only():
    st.info(f"Training is off: {access.read_only_reason()}.")


def draw_fields(fields: list[train_jobs.FormField], prefix: str) -> dict:
    """One input per field, three to a row; returns ``{name: value}``."""
    values = {}
    columns = st.columns(3)
    for i, f in enumerate(fields):
        column, key = columns[i % 3], f"{prefix}-{f.name}"
        if f.kind == "bool":
            values[f.name] = column.checkbox(f.name, value=bool(f.default), key=key)
        elif f.kind == "choice":
            index = f.choices.index(f.default) if f.default in f.choices else 0
            values[f.name] = column.selectbox(f.name, f.choices, index=index, key=key)
        elif f.kind == "int":
            values[f.name] = column.number_input(
                f.name, value=f.default, step=1, key=key,
                min_value=None if f.low is None else int(f.low),
                max_value=None if f.high is None else int(f.high))
        elif f.kind == "float":
            values[f.name] = column.number_input(
                f.name, value=f.default, step=train_jobs.float_step(f.default), format="%g",
                key=key, min_value=None if f.low is None else float(f.low),
                max_value=None if f.high is None else float(f.high),
                help="leave empty for the model's own choice" if f.optional else None)
        else:
            values[f.name] = column.text_input(f.name, value=f.default or "", key=key)
    return values


# -- the form -----------------------------------------------------------------------------------

models = sorted(reg.models)
if not models:
    st.info("No model is registered: see `genzoo plugins` for plugins that failed to load.")
    st.stop()
top = st.columns([2, 2, 1, 1])
model = top[0].selectbox("Model", models, key="model", index=data.default_index(models, "pixelcnn"),
                         format_func=lambda n: f"{n} ({reg.models[n].family}, "
                                               f"{reg.models[n].data})")
spec = reg.models[model]
dataset = parent = None
if spec.parent:
    parents = train_jobs.parent_runs(store, spec)
    if parents:
        parent = top[1].selectbox("Parent run", parents, format_func=data.run_label,
                                  key="parent").run_id
    else:
        top[1].info(f"{model} learns from a trained {spec.parent} run: train one first.")
else:
    datasets = train_jobs.compatible_datasets(reg, spec, store)
    if UPLOADED in st.session_state:  # chosen once kept; set before the picker is drawn
        st.session_state["dataset"] = st.session_state.pop(UPLOADED)
    dataset = top[1].selectbox("Dataset", datasets, key="dataset", format_func=data.dataset_label,
                               help=f"{spec.data} datasets: the kind of data {model} models; "
                                    "your own images from a folder or an upload below")
budget = top[2].radio("Budget", ["steps", "seconds"], horizontal=True, key="budget")
device = top[3].selectbox("Device", train_jobs.device_choices(), key="device",
                          help="cuda is offered only where torch sees a GPU")

if dataset is not None and spec.data == "image":
    with st.expander("Your own images: upload an .npz array or a .zip of images"):
        st.caption("A .zip of a folder of images (PNG, JPEG, BMP; subfolders are classes) or an "
                   ".npz with an image array (and labels), at most "
                   f"{train_jobs.UPLOAD_MAX_MB} MB. It is checked, kept in the runs store and "
                   "offered under Dataset; on the command line, `genzoo train MODEL --dataset "
                   "PATH` takes any folder or file of images (docs/datasets.md).")
        if access.read_only():
            st.info(f"Uploads are off: {access.read_only_reason()}.")
        else:
            upload = st.file_uploader("Images", type=["npz", "zip"], key="own-images")
            if upload is not None and st.button("Keep it as a dataset", key="keep-upload"):
                try:
                    kept = train_jobs.upload_dataset(store, upload.name, upload.getvalue())
                except (GenzooError, access.ReadOnly) as exc:
                    st.error(f"Not kept: {train_jobs.form_message(exc)}")
                else:
                    st.session_state[UPLOADED] = kept
                    st.rerun()

fields = train_jobs.form_fields(spec)
options = train_jobs.dataset_fields(reg, dataset)
with st.form(f"train-{model}"):
    left, right = st.columns(2)
    if budget == "steps":
        amount = left.number_input("Steps", value=train_jobs.DEFAULT_STEPS, step=100, key="steps",
                                   help="optimization steps (0: a closed-form fit only)")
    else:
        amount = left.number_input("Seconds", value=train_jobs.DEFAULT_SECONDS, step=10.0,
                                   key="seconds",
                                   help="seconds of training time")
    seed = right.number_input("Seed", value=0, step=1, min_value=0, max_value=2**53 - 1,
                                key="seed")  # the largest integer a browser holds exactly
    st.markdown(f"**Config** of `{model}` (`{spec.config_class.__name__}`; defaults as "
                "registered)")
    values = draw_fields(fields, f"config-{model}")
    option_values = {}
    if options:
        st.markdown(f"**Options** of dataset `{data.dataset_label(dataset)}`")
        option_values = draw_fields(options, f"option-{dataset}")
    submitted = st.form_submit_button("Queue training", type="primary",
                                      disabled=bool(spec.parent and parent is None)
                                      or access.read_only())

if submitted:
    request = train_jobs.TrainRequest(
        model=model, dataset=dataset, parent=parent, device=device, seed=int(seed or 0),
        steps=int(amount) if budget == "steps" and amount is not None else None,
        seconds=float(amount) if budget == "seconds" and amount is not None else None,
        config=train_jobs.changed_settings(fields, values),
        dataset_options=train_jobs.changed_settings(options, option_values))
    try:
        job = train_jobs.submit(reg, store, request, session=session,
                                load=lambda _reg, name, opts: data.dataset(name, opts))
    except (GenzooError, access.ReadOnly) as exc:
        st.error(f"Not queued: {train_jobs.form_message(exc)}")
    else:
        st.success(f"Queued run `{job.run_id}` (job #{job.job_id}). Close the tab whenever you "
                   "like: it trains on, and shows up here (and on the other pages once it "
                   "completes).")

# -- runs in progress ---------------------------------------------------------------------------


def draw_activity(activity: train_jobs.Activity) -> None:
    """One run: its status, place or progress, note, loss curve, Cancel for this session's."""
    with st.container(border=True):
        head, button = st.columns([6, 1])
        head.markdown(f"**`{activity.run_id}`** · {activity.model} on {activity.dataset} · "
                      f"{BADGES.get(activity.status, activity.status)}")
        if activity.cancellable and not access.read_only():
            if button.button("Cancel", key=f"cancel-{activity.job.job_id}"):
                try:
                    st.info(train_jobs.cancel(store, activity.job.job_id, session=session))
                except (GenzooError, access.ReadOnly) as exc:
                    st.error(str(exc))
        if activity.status not in ("queued", "deleted"):
            fraction, text = train_jobs.progress(activity.record,
                                                 store.curves(activity.run_id))
            if fraction is not None:
                st.progress(fraction, text=text)
            else:
                st.caption(text)
        if activity.status == "failed":
            st.error(activity.note or "failed")
        elif activity.status in ("cancelled", "interrupted", "deleted"):
            st.warning(activity.note)
        elif activity.status == "completed" and activity.record is not None:
            st.caption(f"Held-out score: {data.test_score(activity.record)}")
        elif activity.note:
            st.caption(activity.note)
        curve = data.loss_curve(activity.run_id) if activity.record is not None else None
        if curve is not None and not curve.empty:
            spec = reg.models.get(activity.model)
            unit = train_jobs.loss_unit(spec) if spec else "nats/dim"
            st.plotly_chart(data.loss_figure({activity.run_id: curve}, unit),
                            key=f"loss-{activity.run_id}")
        if activity.job is not None:
            with st.expander("Command and output"):
                request = activity.job.request
                if request is not None:
                    st.code(" ".join(["genzoo", *request.argv(activity.run_id)[3:]]),
                            language="bash")
                st.code(train_jobs.log_tail(store, activity.job) or "(no output yet)",
                        language=None)


st.header("Your runs, and what trains now")
listed = train_jobs.activities(store, session, limit=SHOWN)
training = any(a.status in train_jobs.LIVE for a in listed)


@st.fragment(run_every=REFRESH_SECONDS if training else None)
def follow() -> None:
    """The runs below, redrawn every few seconds while one waits or trains (not the form)."""
    train_jobs.ensure_pool(store)
    now = train_jobs.activities(store, session, limit=SHOWN)
    st.button("Refresh", key="refresh")  # a click reruns this part of the page
    if not now:
        st.info(f"Nothing is training in the runs store `{data.store_home()}`, and this session "
                "has queued nothing yet: choose a model above and queue one.")
    for activity in now:
        draw_activity(activity)
    if training and not any(a.status in train_jobs.LIVE for a in now):
        st.rerun()  # all done: redraw the whole page once, which stops the timer


follow()
