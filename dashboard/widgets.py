"""Small drawing pieces shared by several pages."""

from __future__ import annotations

import functools

import pandas as pd
import streamlit as st

from genzoo.dashboard import data
from genzoo.dashboard.tables import SharedTable


def no_runs_yet(what: str = "runs") -> None:
    """Say that the store has nothing of ``what`` yet, and show the command that fixes it."""
    st.info(data.no_runs_message(what))
    st.code(data.DEMO_COMMAND, language="bash")


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
