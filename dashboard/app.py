"""genzoo's dashboard: ``streamlit run dashboard/app.py`` (or ``genzoo dashboard``).

It reads the runs store (``$GENZOO_HOME``, default ``~/.genzoo``); nothing trains in the
dashboard's own process: the Train page starts ``genzoo train`` processes, and ``genzoo demo``
or ``genzoo train`` fill the store from a terminal. Pages are loaded by file path relative to this
file, so the app runs from a checkout and from an installed package alike.
"""

from pathlib import Path

import streamlit as st

# Not "pages/": Streamlit runs a folder of that name beside the entry script as an old-style
# multipage app (its own file-list sidebar, without this script) for a link to a page opened
# before anyone opened the root on a fresh server.
PAGES = Path(__file__).resolve().parent / "views"

st.set_page_config(page_title="genzoo", page_icon=":material/science:", layout="wide")

navigation = st.navigation({
    "Compare": [
        st.Page(PAGES / "overview.py", title="Overview", icon=":material/account_tree:",
                default=True),
        st.Page(PAGES / "samples.py", title="Samples", icon=":material/grid_view:"),
        st.Page(PAGES / "likelihood.py", title="Likelihood", icon=":material/bar_chart:"),
        st.Page(PAGES / "quality.py", title="Sample quality", icon=":material/verified:"),
        st.Page(PAGES / "speed.py", title="Speed", icon=":material/speed:"),
    ],
    "Explore": [
        st.Page(PAGES / "lecture.py", title="Lecture mode", icon=":material/school:"),
        st.Page(PAGES / "latent.py", title="Latent explorer", icon=":material/scatter_plot:"),
        st.Page(PAGES / "completion.py", title="Completion and receptive fields",
                icon=":material/blur_on:"),
        st.Page(PAGES / "restoration.py", title="Restoration", icon=":material/healing:"),
        st.Page(PAGES / "diffusion.py", title="Diffusion", icon=":material/grain:"),
        st.Page(PAGES / "density2d.py", title="2-d densities", icon=":material/blur_circular:"),
        st.Page(PAGES / "timeseries.py", title="Time series", icon=":material/show_chart:"),
    ],
    "Run": [
        st.Page(PAGES / "train.py", title="Train", icon=":material/model_training:"),
        st.Page(PAGES / "plugins.py", title="Plugins", icon=":material/extension:"),
    ],
}, expanded=True)  # every page in view: past twelve, Streamlit would hide some behind "more"

# Imported after st.navigation: on a cold server the navigation reaches the browser before the
# heavy imports (torch, plotly) behind the data module are done.
from genzoo.dashboard import data  # noqa: E402

with st.sidebar:
    st.markdown("**genzoo** — generative models side by side: every model trains on the same "
                "data and reports its likelihood in the same unit, arranged by the lecture's "
                "taxonomy.")
    st.caption(f"Runs store: `{data.store_home()}`  \n(set `GENZOO_HOME` to read another)")

from genzoo.dashboard import compare_data  # noqa: E402
from genzoo.registry.errors import StoreError  # noqa: E402


def store_unusable(exc: StoreError) -> None:
    """A store that cannot be read (a damaged file, another version's schema, a home that is
    a file): one line that says what to do, in place of every page."""
    st.error(f"The runs store cannot be used: {exc}")
    st.stop()


try:
    _pending = compare_data.status().open_jobs > 0
except StoreError as exc:
    store_unusable(exc)


@st.fragment(run_every=compare_data.POLL_SECONDS if _pending else None)
def queue_progress() -> None:
    """The demo's and every comparison's progress, on every page; when a run completes, the
    page redraws with it (no reload), and when all are done the polling stops."""
    try:
        now = compare_data.status()
    except StoreError:  # said once, in place of the page
        return
    if now.open_jobs:
        from genzoo.dashboard.train_jobs import ensure_pool

        ensure_pool(data.store())  # a pool that died or ended: the queue's jobs still train
    for item in now.active:
        st.progress(item.done / max(1, item.total),
                    text=f"**{item.name}**: {item.done} of {item.total} jobs done")
        parts = [f"training {', '.join(item.training)}" if item.training else "waiting for a "
                 "worker", f"{item.queued} queued"]
        if item.seconds_left:
            parts.append(f"about {item.seconds_left / 60:.0f} min of training left"
                         if item.seconds_left >= 90 else
                         f"about {item.seconds_left:.0f} s of training left")
        if item.failed:
            parts.append(f"{item.failed} failed")
        st.caption("; ".join(parts))
    seen = st.session_state.get("_completed_runs")
    st.session_state["_completed_runs"] = now.completed_runs
    if (seen is not None and seen != now.completed_runs) or (_pending and not now.open_jobs):
        st.rerun(scope="app")


with st.sidebar:
    queue_progress()

try:
    navigation.run()
except StoreError as exc:  # the store broke while the page was drawn
    store_unusable(exc)
