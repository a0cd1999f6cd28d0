"""Data containers shared by every model, and the CSV loader for user series.

Images are integer tensors ``(N, C, H, W)`` with values in ``[0, levels)``; series are float64
1-d tensors split in time (the test split follows the training split).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .errors import BadData, NotFound
from .model import DataInfo


@dataclass
class ImageData:
    """An image dataset with a fixed train/test split and a declared number of levels."""

    name: str
    train: torch.Tensor  # (N, C, H, W) int64 in [0, levels)
    test: torch.Tensor
    levels: int
    train_labels: torch.Tensor | None = None
    test_labels: torch.Tensor | None = None
    source: str = ""
    # Known factors of variation, where the data were generated from them (shapes): one
    # tensor of length N per factor name, for each split.
    train_factors: dict[str, torch.Tensor] | None = None
    test_factors: dict[str, torch.Tensor] | None = None
    # Each item is one point of a 2-d grid, stored as a 1x2 image (x then y) with ``levels``
    # values per coordinate; ``true_density`` is then the generating distribution's probability
    # of every grid cell, a (levels, levels) array indexed [x, y] that sums to 1 (or None).
    points: bool = False
    true_density: np.ndarray | None = None

    kind = "image"

    def __post_init__(self):
        for split_name, split in (("train", self.train), ("test", self.test)):
            if split.dim() != 4:
                raise BadData(f"dataset {self.name!r}: {split_name} split must be (N, C, H, W), "
                              f"got shape {tuple(split.shape)}")
            if split.dtype != torch.int64:
                raise BadData(f"dataset {self.name!r}: {split_name} split must be int64")
            if len(split) and (int(split.min()) < 0 or int(split.max()) >= self.levels):
                raise BadData(f"dataset {self.name!r}: {split_name} values must lie in "
                              f"[0, {self.levels})")

    @property
    def info(self) -> DataInfo:
        n_classes = int(self.train_labels.max()) + 1 if self.train_labels is not None else None
        return DataInfo(kind="image", shape=tuple(self.train.shape[1:]), levels=self.levels,
                        n_classes=n_classes)

    def describe(self) -> dict:
        return {"name": self.name, "kind": "image", "shape": list(self.train.shape[1:]),
                "levels": self.levels, "n_train": len(self.train), "n_test": len(self.test),
                "source": self.source, "points": self.points}


@dataclass
class SeriesData:
    """A univariate series split in time: ``train`` then ``test``, float64, no NaNs."""

    name: str
    train: torch.Tensor  # (T_train,) float64
    test: torch.Tensor  # (T_test,) float64
    source: str = ""
    index: np.ndarray | None = None  # time stamps for plots (years, dates), or None
    true_params: dict | None = None  # known coefficients of a simulated series

    kind = "series"

    def __post_init__(self):
        for split_name, split in (("train", self.train), ("test", self.test)):
            if split.dim() != 1:
                raise BadData(f"series {self.name!r}: {split_name} split must be 1-d")
            if not torch.isfinite(split).all():
                raise BadData(f"series {self.name!r}: {split_name} split has NaN or "
                              "infinite values")

    @property
    def info(self) -> DataInfo:
        return DataInfo(kind="series", shape=(1,), levels=None)

    @property
    def values(self) -> torch.Tensor:
        """The whole series, training part first."""
        return torch.cat([self.train, self.test])

    def describe(self) -> dict:
        return {"name": self.name, "kind": "series", "shape": [len(self.train) + len(self.test)],
                "levels": None, "n_train": len(self.train), "n_test": len(self.test),
                "source": self.source}


def split_series(name: str, values, *, test_fraction: float = 0.2, source: str = "",
                 index=None, true_params: dict | None = None) -> SeriesData:
    """Split a series in time: the last ``test_fraction`` of it is the test split."""
    values = torch.from_numpy(np.array(values, dtype=np.float64))
    n_test = max(1, int(round(len(values) * test_fraction))) if len(values) > 1 else 0
    cut = len(values) - n_test
    return SeriesData(name=name, train=values[:cut], test=values[cut:], source=source,
                      index=None if index is None else np.asarray(index), true_params=true_params)


def numeric_columns(frame) -> list:
    """Columns of a data frame in which most cells parse as numbers.

    "Most", not "all": the few bad cells of such a column are then reported by line, rather
    than silently making the whole column "not numeric".
    """
    import pandas as pd

    return [c for c in frame.columns
            if pd.to_numeric(frame[c], errors="coerce").notna().mean() > 0.5]


def load_csv_series(path: str | Path, column: str | None = None) -> SeriesData:
    """Load one numeric column of a CSV file as a series (the first numeric column by default).

    Every failure is a :class:`BadData` or :class:`NotFound` that names the file and what is
    wrong with it: missing, empty, unreadable, no numeric column, an unknown column, NaNs.
    """
    import pandas as pd

    path = Path(path)
    if not path.is_file():
        raise NotFound(f"CSV file not found: {path}")
    try:
        frame = pd.read_csv(path)
    except pd.errors.EmptyDataError:
        raise BadData(f"CSV file {path} is empty") from None
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as exc:
        raise BadData(f"CSV file {path} could not be parsed: {str(exc).splitlines()[0]}") from None
    if frame.empty:
        raise BadData(f"CSV file {path} has a header but no rows")
    if column is not None:
        if column not in frame.columns:
            raise BadData(f"CSV file {path} has no column {column!r}; columns: "
                          f"{', '.join(map(str, frame.columns))}")
        series = pd.to_numeric(frame[column], errors="coerce")
        if series.isna().all():
            raise BadData(f"column {column!r} of {path} is not numeric")
    else:
        numeric = numeric_columns(frame)
        if not numeric:
            raise BadData(f"CSV file {path} has no numeric column (columns: "
                          f"{', '.join(map(str, frame.columns))})")
        column = numeric[0]
        series = pd.to_numeric(frame[column], errors="coerce")
    bad = np.flatnonzero(~np.isfinite(series.to_numpy(dtype=np.float64)))
    if len(bad):
        rows = ", ".join(str(int(r) + 2) for r in bad[:5])  # +2: 1-based, after the header
        raise BadData(f"column {column!r} of {path} has {len(bad)} missing or non-numeric "
                      f"value(s) (line {rows}{', ...' if len(bad) > 5 else ''}); clean them first")
    if len(series) < 3:
        raise BadData(f"column {column!r} of {path} has only {len(series)} value(s); "
                      "a series needs at least 3")
    return split_series(f"{path.name}:{column}", series.to_numpy(dtype=np.float64),
                        source=f"CSV file {path.resolve()}, column {column!r}")
