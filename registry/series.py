"""What a model of a univariate series adds to the contract: its order, its horizon, forecasts.

A series model reads float64 windows ``(N, L)`` of one series and scores
``log p(x_order, ..., x_{L-1} | x_0, ..., x_{order-1})``: by the chain rule, each value given
the ``order`` before it (lecture 2, "Autoregressive Models"). The trainer cuts windows of
``order + 1`` values, the evaluator scores a held-out split given the ``order`` values before
it, and the Time series page and ``genzoo sample`` draw the ``horizon`` values that follow the
training series. The AR(p) family (``genzoo.plugins.ar``) is the built-in example.
"""

from __future__ import annotations

import abc

from .model import DataInfo, GenerativeModel, ModelConfig


def context_length(model: GenerativeModel) -> int:
    """How many past values each value of a series is conditioned on: a :class:`SeriesModel`'s
    ``order`` (windows of ``order + 1`` values are trained on; a held-out split is scored given
    the ``order`` values before it), 0 for any other model."""
    return int(model.order) if isinstance(model, SeriesModel) else 0


class SeriesModel(GenerativeModel):
    """Base of the series models: ``order`` past values condition each next one, ``sample(n)``
    continues the training series for ``horizon`` steps, and :meth:`forecast` gives the mean
    and central intervals of the next ``h`` values."""

    def __init__(self, config: ModelConfig, data: DataInfo, order: int, horizon: int):
        super().__init__(config, data)
        self.order = order  # read by the trainer (windows of order + 1) and the evaluator
        self.horizon = horizon

    @abc.abstractmethod
    def forecast(self, h: int, levels=(0.8, 0.95)) -> dict:
        """The ``h`` values after the training series: ``{"mean": (h,), "lower": {level: (h,)},
        "upper": {level: (h,)}}``, arrays of floats, one central interval per level."""
