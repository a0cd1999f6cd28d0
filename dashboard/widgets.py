"""Small drawing pieces shared by several pages."""

from __future__ import annotations

import streamlit as st

from genzoo.dashboard import data


def no_runs_yet(what: str = "runs") -> None:
    """Say that the store has nothing of ``what`` yet, and show the command that fixes it."""
    st.info(data.no_runs_message(what))
    st.code(data.DEMO_COMMAND, language="bash")
