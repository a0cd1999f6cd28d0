"""Tables shared by every session: a frame converted to Arrow once, not on each page run.

``st.dataframe`` converts a pandas frame to Arrow on every call; with a class on the Overview
that conversion ran once per table per visitor. A :class:`SharedTable` built inside a
``st.cache_resource`` function is converted once and drawn from the same Arrow table by every
session (:func:`genzoo.dashboard.widgets.table` accepts either).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd
import pyarrow as pa


@dataclass(frozen=True)
class SharedTable:
    """A read-only table: ``frame`` for its CSV, ``arrow`` for drawing it."""

    frame: pd.DataFrame
    arrow: pa.Table = field(init=False, repr=False)

    def __post_init__(self):
        object.__setattr__(self, "arrow", _to_arrow(self.frame))


def _to_arrow(frame: pd.DataFrame) -> pa.Table:
    """Streamlit's own conversion (it fixes mixed-type columns); pyarrow's where it is absent."""
    try:
        from streamlit.dataframe_util import convert_pandas_df_to_arrow_table
    except ImportError:  # a Streamlit that moved it: the plain conversion
        return pa.Table.from_pandas(frame, preserve_index=False)
    return convert_pandas_df_to_arrow_table(frame.reset_index(drop=True), preserve_index=False)
