"""Data containers shared by every model, and the CSV loader for user series.

Images are integer tensors ``(N, C, H, W)`` with values in ``[0, levels)``; series are float64
1-d tensors split in time (validation follows training, test follows validation).

Every dataset has three fixed splits. Whatever is *chosen* (a kernel width, a bandwidth, a
default config) is chosen on ``val``; ``test`` is only ever reported (docs/decisions.md,
"The comparison protocol"). A dataset whose loader gives no validation split gets one from
:func:`with_validation`: :data:`VAL_FRACTION` of its training split, stratified by label where
there are labels, the end of the training part for series. The test split is never touched,
so test numbers of runs trained before validation splits existed stay comparable.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .errors import BadConfig, BadData, NotFound
from .model import DataInfo


@dataclass
class ImageData:
    """An image dataset with fixed train/validation/test splits and a declared number of levels.

    ``val`` (with ``val_labels`` and ``val_factors``) may be left out by a loader: the registry
    then carves it from ``train`` (:func:`with_validation`).
    """

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
    val: torch.Tensor | None = None  # (N_val, C, H, W), chosen on; never trained on
    val_labels: torch.Tensor | None = None
    val_factors: dict[str, torch.Tensor] | None = None

    kind = "image"

    def __post_init__(self):
        splits = [("train", self.train), ("test", self.test)]
        if self.val is not None:
            splits.append(("validation", self.val))
        for split_name, split in splits:
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

    def split(self, name: str) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The images of split ``name`` (train | val | test) and their labels (or None)."""
        if name not in SPLITS:
            raise BadConfig(f"unknown split {name!r}; one of {', '.join(SPLITS)}")
        if name == "val" and self.val is None:
            raise BadData(f"dataset {self.name!r} has no validation split (load it through the "
                          "registry, which carves one from train)")
        return getattr(self, name), getattr(self, f"{name}_labels")

    def describe(self) -> dict:
        return {"name": self.name, "kind": "image", "shape": list(self.train.shape[1:]),
                "levels": self.levels, "n_train": len(self.train),
                "n_val": None if self.val is None else len(self.val), "n_test": len(self.test),
                "source": self.source, "points": self.points}


@dataclass
class SeriesData:
    """A univariate series split in time: ``train``, ``val``, then ``test``; float64, no NaNs.

    ``val`` may be left out by a loader: the registry then takes it from the end of ``train``.
    """

    name: str
    train: torch.Tensor  # (T_train,) float64
    test: torch.Tensor  # (T_test,) float64
    source: str = ""
    index: np.ndarray | None = None  # time stamps for plots (years, dates), or None
    true_params: dict | None = None  # known coefficients of a simulated series
    val: torch.Tensor | None = None  # (T_val,) float64, between train and test

    kind = "series"

    def __post_init__(self):
        splits = [("train", self.train), ("test", self.test)]
        if self.val is not None:
            splits.append(("validation", self.val))
        for split_name, split in splits:
            if split.dim() != 1:
                raise BadData(f"series {self.name!r}: {split_name} split must be 1-d")
            if not torch.isfinite(split).all():
                raise BadData(f"series {self.name!r}: {split_name} split has NaN or "
                              "infinite values")

    @property
    def info(self) -> DataInfo:
        return DataInfo(kind="series", shape=(1,), levels=None)

    @property
    def before_test(self) -> torch.Tensor:
        """Everything observed before the test split: training part, then validation part."""
        return self.train if self.val is None else torch.cat([self.train, self.val])

    @property
    def values(self) -> torch.Tensor:
        """The whole series in time order: train, validation, test."""
        return torch.cat([self.before_test, self.test])

    def describe(self) -> dict:
        n_val = 0 if self.val is None else len(self.val)
        return {"name": self.name, "kind": "series",
                "shape": [len(self.train) + n_val + len(self.test)], "levels": None,
                "n_train": len(self.train), "n_val": None if self.val is None else n_val,
                "n_test": len(self.test), "source": self.source}


SPLITS = ("train", "val", "test")
VAL_FRACTION = 0.1  # of the training split (with_validation) or of a whole series (split_series)
TEST_FRACTION = 0.2  # of a whole series; image datasets fix their own test split
VAL_SEED = 0


def split_series(name: str, values, *, test_fraction: float = TEST_FRACTION,
                 val_fraction: float = VAL_FRACTION, source: str = "", index=None,
                 true_params: dict | None = None) -> SeriesData:
    """Split a series in time: the last ``test_fraction`` of it is the test split, the
    ``val_fraction`` before that the validation split, the rest the training split.

    Each held-out part keeps at least one value while there are at least three.
    """
    values = torch.from_numpy(np.array(values, dtype=np.float64))
    n = len(values)
    n_test = max(1, int(round(n * test_fraction))) if n > 1 else 0
    n_val = max(1, int(round(n * val_fraction))) if n >= 3 else 0
    cut_val, cut_test = n - n_test - n_val, n - n_test
    return SeriesData(name=name, train=values[:cut_val], val=values[cut_val:cut_test],
                      test=values[cut_test:], source=source,
                      index=None if index is None else np.asarray(index), true_params=true_params)


def validation_size(n_train: int, fraction: float = VAL_FRACTION) -> int:
    """How many training items become the validation split: ``fraction`` of them, at least 1
    (none of a split of fewer than 2, which has nothing to spare)."""
    return max(1, int(round(n_train * fraction))) if n_train >= 2 else 0


def _stratify_by(labels: np.ndarray | None, n_val: int) -> np.ndarray | None:
    """The labels to stratify on, or None where stratifying cannot work (a class with a single
    image, or fewer validation images than classes)."""
    if labels is None:
        return None
    _, counts = np.unique(labels, return_counts=True)
    return labels if counts.min() >= 2 and n_val >= len(counts) else None


def with_validation(data, fraction: float = VAL_FRACTION, seed: int = VAL_SEED):
    """``data`` with a validation split carved from its training split, if it has none.

    Images: a fixed random ``fraction`` of the training images (``seed``), stratified by label
    when every class has at least two training images, with their labels and factors. Series:
    the end of the training part, so the order train, validation, test holds in time. The
    test split is left as it is. Data that already has a validation split is returned as is.
    """
    if data.val is not None:
        return data
    n_val = validation_size(len(data.train), fraction)
    if isinstance(data, SeriesData):
        cut = len(data.train) - n_val
        return dataclasses.replace(data, train=data.train[:cut], val=data.train[cut:])
    from sklearn.model_selection import train_test_split

    order = np.arange(len(data.train))
    if n_val == 0:
        keep, held = order, order[:0]
    else:
        labels = None if data.train_labels is None else data.train_labels.numpy()
        keep, held = train_test_split(order, test_size=n_val, random_state=seed,
                                      stratify=_stratify_by(labels, n_val))
        keep, held = np.sort(keep), np.sort(held)
    keep, held = torch.from_numpy(keep), torch.from_numpy(held)

    def part(tensor, index):
        return None if tensor is None else tensor[index]

    factors = data.train_factors
    return dataclasses.replace(
        data, train=data.train[keep], val=data.train[held],
        train_labels=part(data.train_labels, keep), val_labels=part(data.train_labels, held),
        train_factors=None if factors is None else {k: v[keep] for k, v in factors.items()},
        val_factors=None if factors is None else {k: v[held] for k, v in factors.items()})


def numeric_columns(frame) -> list:
    """Columns of a data frame in which most cells parse as numbers.

    "Most", not "all": the few bad cells of such a column are then reported by line, rather
    than silently making the whole column "not numeric".
    """
    import pandas as pd

    return [c for c in frame.columns
            if pd.to_numeric(frame[c], errors="coerce").notna().mean() > 0.5]


def is_regular_index(values) -> bool:
    """Whether a column is an index rather than a series: strictly increasing by one constant
    step (0, 1, 2, ...; 1700, 1701, ...; 0, 5, 10, ...)."""
    values = np.asarray(values, dtype=np.float64)
    if len(values) < 3 or not np.isfinite(values).all():
        return False
    steps = np.diff(values)
    return bool(steps[0] > 0 and np.allclose(steps, steps[0], rtol=1e-9, atol=1e-12))


def series_column(frame, numeric: list) -> str:
    """The column a CSV's series is read from when none is named: the first numeric one that
    is not a regular index (a year or time-step column), or the first numeric one if all are."""
    import pandas as pd

    for column in numeric:
        if not is_regular_index(pd.to_numeric(frame[column], errors="coerce")):
            return column
    return numeric[0]


def load_csv_series(path: str | Path, column: str | None = None) -> SeriesData:
    """Load one numeric column of a CSV file as a series (by default the first numeric column
    that is not a regular index such as a year column; see :func:`series_column`).

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
        column = series_column(frame, numeric)
        series = pd.to_numeric(frame[column], errors="coerce")
    bad = np.flatnonzero(~np.isfinite(series.to_numpy(dtype=np.float64)))
    if len(bad):
        rows = ", ".join(str(int(r) + 2) for r in bad[:5])  # +2: 1-based, after the header
        raise BadData(f"column {column!r} of {path} has {len(bad)} missing or non-numeric "
                      f"value(s) (line {rows}{', ...' if len(bad) > 5 else ''}); clean them "
                      "first or choose another column with --column NAME")
    if len(series) < 3:
        raise BadData(f"column {column!r} of {path} has only {len(series)} value(s); "
                      "a series needs at least 3 (choose another with --column NAME)")
    return split_series(f"{path.name}:{column}", series.to_numpy(dtype=np.float64),
                        source=f"CSV file {path.resolve()}, column {column!r}")
