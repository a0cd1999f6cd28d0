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

navigation.run()
