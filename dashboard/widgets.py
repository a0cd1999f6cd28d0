"""Small drawing pieces shared by several pages."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from genzoo.dashboard import data


def no_runs_yet(what: str = "runs") -> None:
    """Say that the store has nothing of ``what`` yet, and show the command that fixes it."""
    st.info(data.no_runs_message(what))
    st.code(data.DEMO_COMMAND, language="bash")


def table(frame: pd.DataFrame, file_name: str, **dataframe_options) -> None:
    """``st.dataframe`` with a "Download CSV" button under it (``file_name`` without .csv)."""
    st.dataframe(frame, hide_index=True, **dataframe_options)
    st.download_button("Download CSV", data.csv_bytes(frame), file_name=f"{file_name}.csv",
                       mime="text/csv", key=f"csv-{file_name}", on_click="ignore")
