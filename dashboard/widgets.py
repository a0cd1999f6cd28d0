"""Small drawing pieces shared by several pages."""

from __future__ import annotations

import functools

import pandas as pd
import streamlit as st

from genzoo.dashboard import data
from genzoo.dashboard.tables import SharedTable
from genzoo.registry.errors import GenzooError


def no_runs_yet(what: str = "runs") -> None:
    """Say that the store has nothing of ``what`` yet, and show the command that fixes it."""
    st.info(data.no_runs_message(what))
    st.code(data.DEMO_COMMAND, language="bash")


def pick_run(runs: list, what: str, command: str):
    """A run picker over ``runs`` and its loaded model: ``(record, model)``. With no runs, says
    so (``what``) with the ``command`` that trains one; a run that no longer loads is named in
    one line. Either way the page stops there."""
    if not runs:
        no_runs_yet(what)
        st.code(command, language="bash")
        st.stop()
    record = st.selectbox("Run", runs, format_func=data.run_label)
    try:
        return record, data.loaded_run(record).model
    except GenzooError as exc:
        st.error(f"cannot load run {record.run_id}: {exc}; {data.retrain_hint(record)}")
        st.stop()


def table(frame: pd.DataFrame | SharedTable, file_name: str, **dataframe_options) -> None:
    """``st.dataframe`` with a "Download CSV" button under it (``file_name`` without .csv);
    a :class:`SharedTable` is drawn from its Arrow table, converted once for every session."""
    if isinstance(frame, SharedTable):
        st.dataframe(frame.arrow, hide_index=True, **dataframe_options)
        frame = frame.frame
    else:
        st.dataframe(frame, hide_index=True, **dataframe_options)
    csv_download(frame, f"{file_name}.csv", key=f"csv-{file_name}")


def csv_download(frame: pd.DataFrame, file_name: str, *, key: str | None = None,
                 label: str = "Download CSV", index: bool = False) -> None:
    """A button that downloads ``frame`` as CSV. The file is written when it is clicked, not
    on each run of the page: writing every table's CSV for every visitor was a third of the
    Overview's time with a class on it (docs/benchmarks.md)."""
    st.download_button(label, functools.partial(data.csv_bytes, frame, index=index),
                       file_name=file_name, mime="text/csv", key=key, on_click="ignore")


def png_download(png: bytes, file_name: str, *, key: str | None = None) -> None:
    """A "Download PNG" button for an encoded picture, handed over when it is clicked (a file
    registered on each page run for each visitor cost the Samples page under load)."""
    st.download_button("Download PNG", functools.partial(bytes, png), file_name=file_name,
                       mime="image/png", key=key, on_click="ignore")
