"""Plugins: what is installed, with versions and hooks, what each registered, the errors of
broken ones, the contract's conformance results (run on request, cached in the store), and the
import of a run bundle."""

import streamlit as st

from genzoo.dashboard import access, data, plugins_data, widgets
from genzoo.registry import GENZOO_API_VERSION
from genzoo.registry.errors import GenzooError

reg = data.registry()

st.title("Plugins")
st.caption("Every model, dataset and metric comes from a plugin: the built-in modules of "
           "`genzoo.plugins` and any installed package with an entry point in group `genzoo` "
           "load the same way, so a third-party model shows up on every page by being "
           "installed. `GENZOO_PLUGINS` limits which entry points load (empty: built-ins only); "
           "`genzoo plugins --json` prints this table. This genzoo provides plugin API "
           f"**{GENZOO_API_VERSION}**: a plugin declaring another major version in `GENZOO_API` "
           "is refused, one declaring none is assumed compatible.")

for name, error in data.broken_plugins(reg):
    st.warning(f"Plugin **{name}** is broken and was skipped: {error}. The other plugins work "
               "without it.")

st.subheader("Installed plugins")
table = plugins_data.plugins_frame(reg)
st.dataframe(table, hide_index=True)
widgets.csv_download(table, "genzoo-plugins.csv", key="plugins-csv")

st.subheader("What each plugin registered")
registered = plugins_data.registered_frame(reg)
st.dataframe(registered, hide_index=True)
widgets.csv_download(registered, "genzoo-registered.csv", key="registered-csv")

st.subheader("Conformance with the model contract")
st.caption("Each check builds a model from its default config on small synthetic data and tests "
           "one promise of `GenerativeModel`; a failure says what to fix. The test suite runs the "
           "same checks on every registered model, and a plugin author can run them on theirs. A "
           "check that does not apply to a model is shown n/a with the reason, never as a pass "
           "(normalization applies to exact densities only, log_prob not to an implicit "
           "model).")
st.dataframe(plugins_data.checks_frame(), hide_index=True)

running = plugins_data.checks_running()
if access.read_only():
    st.info(f"Running the checks is off: {access.read_only_reason()}.")
elif st.button("Run conformance checks", type="primary", disabled=running is not None,
               help=f"Every check on each of the {len(reg.models)} registered models, in a "
                    "process of its own with a time and memory limit (builds and fits tiny "
                    "models: seconds to a minute); the results are cached in the runs store."):
    try:
        st.info(plugins_data.start_conformance())
    except access.ReadOnly as exc:
        st.error(str(exc))
    running = plugins_data.checks_running()


@st.fragment(run_every=2.0 if running is not None else None)
def checks_status() -> None:
    """While the checks run: their progress; when they end, the page redraws with the results."""
    now = plugins_data.checks_running()
    outcome = plugins_data.checks_outcome()
    if outcome:  # the last run's time or memory limit, or its error: one line, for every tab
        st.error(outcome[:1].upper() + outcome[1:])
    if now is not None:
        st.progress(0.0, text=f"Running the checks in process {now['pid']}: "
                              f"{plugins_data.checks_progress() or 'starting'}")
    elif running is not None:
        st.rerun()  # done: draw the fresh results


checks_status()

document = plugins_data.cached_conformance()
if document is None:
    st.info("The checks have not been run on this runs store yet: press **Run conformance "
            f"checks** (results are cached in `{data.store_home()}`).")
else:
    if document.get("error"):
        st.warning(document["error"])
    results = plugins_data.conformance_frame(document, reg)
    matrix = plugins_data.conformance_matrix(results)
    st.caption(f"Cached results, last run {document.get('time', '?')} with genzoo "
               f"{document.get('genzoo_version') or '?'}.")
    stale = matrix[matrix["stale"] != ""]
    if not stale.empty:
        st.warning("Stale results (run the checks again): " + "; ".join(
            f"{row['model']}: {row['stale']}" for row in stale.to_dict("records")))
    unchecked = plugins_data.unchecked(document, reg)
    if unchecked:
        st.info(f"Not checked yet: {', '.join(unchecked)}.")
    st.dataframe(matrix, hide_index=True)
    failed = plugins_data.failures(results)
    if failed.empty and not results.empty:
        applied, skipped = plugins_data.applied_and_not(results)
        st.success(f"Every cached check that applies passed ({applied} checks on {len(matrix)} "
                   f"models" + (f"; {skipped} n/a: they do not apply to the model" if skipped
                                else "") + ").")
    for row in failed.to_dict("records"):
        st.error(f"**{row['model']}** failed `{row['check']}`: {row['message']}")
    widgets.csv_download(results, "genzoo-conformance.csv", key="conformance-csv")

st.subheader("Import a bundle")
st.caption("Runs trained elsewhere (a teacher's GPU before class) travel as one zip that "
           "`genzoo export RUN_ID... --bundle class.zip` writes: each run's record, logged "
           "curves and last checkpoint, and the parent runs a second stage builds on. Every "
           "entry is checked before anything is stored (its name, size, SHA-256, strict JSON, "
           "tensors through safetensors only), so a damaged, forged or newer bundle is refused "
           "whole. `genzoo import class.zip` does the same on the command line.")
if access.read_only():
    st.info(f"Importing is off: {access.read_only_reason()}.")
else:
    bundle = st.file_uploader("Bundle (.zip)", type=["zip"], key="bundle-upload",
                              help=f"at most {plugins_data.BUNDLE_UPLOAD_MAX_BYTES // 2**20} MB")
    collision = st.radio("A run id this store already has", list(plugins_data.COLLISION_CHOICES),
                         format_func=lambda c: f"{c}: {plugins_data.COLLISION_CHOICES[c]}",
                         key="bundle-collision")
    # a button, not the upload itself: every rerun of the page would import it again
    if st.button("Import the bundle", disabled=bundle is None, key="bundle-import"):
        try:
            plugins_data.check_bundle_upload(bundle.size, bundle.name)  # before reading it
            imported = plugins_data.import_uploaded_bundle(bundle.getvalue(), bundle.name,
                                                           collision)
        except (GenzooError, access.ReadOnly) as exc:
            st.error(str(exc))
        else:
            done = int((imported["status"] != "skipped").sum())
            st.success(f"Imported {done} of {len(imported)} runs: they show on every page.")
            st.dataframe(imported, hide_index=True)
