"""Descriptors that plugins hand to ``register``: cheap to build, no model is constructed.

A descriptor says what a thing is (its name, config, taxonomy place, the lecture's claims about
it) so that the CLI and the dashboard can list and explain it without training anything.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .model import DataKind, DensityKind, GenerativeModel, ModelConfig, SamplingKind

# The lecture's taxonomy: the branch each density kind belongs to.
# What a model or dataset may be called: a name goes into commands, file names, run ids, CSV
# cells and page headings, so nothing a shell, a spreadsheet (`=HYPERLINK(...)`) or Markdown
# would read as more than a name.
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,63}")


def check_name(what: str, name: object) -> None:
    """Refuse a model or dataset name outside :data:`_NAME`, saying what the rule is."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ValueError(f"{what} name {name!r}: use letters, digits and . _ + - (at most 64, "
                         "starting with a letter or digit)")


TAXONOMY = {
    "exact": "explicit density: tractable",
    "bound": "explicit density: approximate",
    # log p(x) with an estimated normalizer (an RBM's AIS log Z): approximate, but neither
    # exact nor a bound, so its number is kept apart from both
    "estimate": "explicit density: approximate",
    "implicit": "implicit density",
}

# The leaves of the lecture's tree (Goodfellow's taxonomy) and the branch each hangs from. A leaf
# decides the branch where it differs from the density kind: a flow's density is exact on
# dequantized values, so it hangs under "change of variables" (tractable) although on discrete
# data it reports a bound.
LEAVES = {
    "fully visible belief net": "exact",
    "change of variables": "exact",
    "variational": "bound",
    "Markov chain": "estimate",
    "direct": "implicit",
    "Markov chain sampler": "implicit",
}


@dataclass(frozen=True)
class Claim:
    """One of the lecture's pros or cons, and the metric that tests it (if a number can)."""

    text: str
    metric: str | None = None

    def to_json(self) -> dict:
        return {"text": self.text, "metric": self.metric}


def _claims(items) -> tuple[Claim, ...]:
    return tuple(c if isinstance(c, Claim) else Claim(str(c)) for c in items)


@dataclass(frozen=True)
class ModelSpec:
    """A registered model: how to build it and where it sits in the lecture's taxonomy."""

    name: str
    model_class: type[GenerativeModel]
    config_class: type[ModelConfig]
    family: str
    density: DensityKind
    sampling: SamplingKind
    data: DataKind
    paper: str = ""
    summary: str = ""
    pros: tuple[Claim, ...] = ()
    cons: tuple[Claim, ...] = ()
    # A second-stage model (a prior over another model's codes) names the model whose run it
    # builds on; it is trained with ``--parent RUN_ID`` and its config then gets ``parent_run``
    # and ``parent_config`` (the parent's config as JSON), so the run reloads on its own.
    parent: str | None = None
    # A baseline (independent pixels, a Gaussian mixture) is a yardstick, not one of the
    # lecture's models: the dashboard draws it as a reference line next to the models' bars.
    baseline: bool = False
    # The leaf of the lecture's tree the model hangs from (a key of LEAVES), "" for none (a
    # baseline): the Overview's tree draws branch -> leaf -> family -> model.
    leaf: str = ""

    def __post_init__(self):
        check_name("model", self.name)
        if self.density not in TAXONOMY:
            raise ValueError(f"model {self.name!r}: density must be one of {sorted(TAXONOMY)}, "
                             f"not {self.density!r}")
        if self.leaf and self.leaf not in LEAVES:
            raise ValueError(f"model {self.name!r}: leaf must be one of {sorted(LEAVES)} or "
                             f"empty, not {self.leaf!r}")
        if self.leaf and (LEAVES[self.leaf] == "implicit") != (self.density == "implicit"):
            raise ValueError(f"model {self.name!r}: leaf {self.leaf!r} and density "
                             f"{self.density!r} disagree on whether the density is implicit")
        if self.sampling not in ("parallel", "sequential"):
            raise ValueError(f"model {self.name!r}: sampling must be 'parallel' or 'sequential'")
        if self.data not in ("image", "series"):
            raise ValueError(f"model {self.name!r}: data must be 'image' or 'series'")
        if not (isinstance(self.model_class, type)
                and issubclass(self.model_class, GenerativeModel)):
            raise TypeError(f"model {self.name!r}: model_class must subclass GenerativeModel")
        if not (dataclasses.is_dataclass(self.config_class)
                and issubclass(self.config_class, ModelConfig)):
            raise TypeError(f"model {self.name!r}: config_class must be a dataclass "
                            "subclassing ModelConfig")
        object.__setattr__(self, "pros", _claims(self.pros))
        object.__setattr__(self, "cons", _claims(self.cons))

    @property
    def branch(self) -> str:
        """The lecture's taxonomy branch this model belongs to: its leaf's, else its density's."""
        return TAXONOMY[LEAVES[self.leaf] if self.leaf else self.density]

    def to_json(self, plugin: str | None = None) -> dict:
        return {"name": self.name, "family": self.family, "density": self.density,
                "sampling": self.sampling, "data": self.data, "plugin": plugin,
                "paper": self.paper, "summary": self.summary,
                "pros": [c.to_json() for c in self.pros],
                "cons": [c.to_json() for c in self.cons], "parent": self.parent,
                "baseline": self.baseline, "leaf": self.leaf}


@dataclass(frozen=True)
class DatasetSpec:
    """A registered dataset: ``load(**options)`` returns an ``ImageData`` or ``SeriesData``.

    ``options`` names the keyword arguments of ``load`` a user may set on the command line
    (``genzoo train MODEL -d shapes --set size=32``); each is parsed to the type of its default.
    ``points`` declares 2-d point data (``ImageData.points``: a point as a 1x2 "image"), so a
    page or a comparison can tell without loading the data.
    """

    name: str
    kind: DataKind
    load: Callable[..., Any]
    source: str = ""
    summary: str = ""
    options: tuple[str, ...] = ()
    points: bool = False

    def option_defaults(self) -> dict[str, Any]:
        """``{option: default}`` read off ``load``'s signature."""
        import inspect

        params = inspect.signature(self.load).parameters
        return {name: params[name].default for name in self.options}

    def __post_init__(self):
        check_name("dataset", self.name)
        if self.kind not in ("image", "series"):
            raise ValueError(f"dataset {self.name!r}: kind must be 'image' or 'series'")
        if not callable(self.load):
            raise TypeError(f"dataset {self.name!r}: load must be callable")
        import inspect

        params = inspect.signature(self.load).parameters
        for name in self.options:
            if name not in params or params[name].default is inspect.Parameter.empty:
                raise ValueError(f"dataset {self.name!r}: option {name!r} must be a keyword "
                                 "argument of load() with a default")


@dataclass(frozen=True)
class MetricSpec:
    """A number a run can carry, under the key ``name`` its writer stores it with: its unit,
    which way is better and what it means. ``compute(model, data, **kw) -> float`` measures it
    on an in-memory model; it is None for a number the trainer or a command records itself
    (test bits/dim, sampling speed). A name ending in ``_K`` stands for a family keyed by a
    whole number (``test_bits_per_dim_iwae_K``: ``..._iwae_5000``)."""

    name: str
    compute: Callable[..., float] | None = None
    unit: str = ""
    #: True or False; None for a number with no better direction (a count, a seed).
    higher_is_better: bool | None = False
    applies_to: tuple[str, ...] = ("image",)
    summary: str = ""
    #: Which way is better in words, where higher or lower says too little ("near 1").
    better: str = ""
    #: Compared as "N x the best" (speeds, sizes) rather than by rank.
    ratio: bool = False

    @property
    def better_words(self) -> str:
        """``better``, or "higher" / "lower" from the direction ("" for none)."""
        if self.better:
            return self.better
        return {True: "higher", False: "lower"}.get(self.higher_is_better, "")
