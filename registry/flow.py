"""What a normalizing flow offers the rest of genzoo: an invertible code of the data's own size.

A flow is an invertible map z = f(v) from dequantized data v = x + u to a code with a simple
density p(z) = N(0, I); by the change of variables

    log p(v) = log p(z) + log |det df/dv|

its density is exact on v (a :class:`~genzoo.registry.bounds.ContinuousDensityModel`), and on
the discrete x it is a bound over the dequantization noise u, which importance sampling
tightens (a :class:`~genzoo.registry.bounds.ImportanceWeightedBound`). Its code is z = f(x) of
the data's own size (a :class:`~genzoo.registry.latent.LatentVariableModel`, so the latent
explorer walks it), and it samples in one pass: x = f^{-1}(z), z ~ N(0, T^2 I) with a
temperature T (Kingma & Dhariwal 2018: T < 1 trades diversity for quality).
"""

from __future__ import annotations

import abc
from typing import ClassVar

import torch

from .bounds import ContinuousDensityModel, ImportanceWeightedBound
from .errors import BadConfig
from .latent import LatentKind, LatentVariableModel


def check_temperature(temperature: float) -> float:
    """A sampling temperature must be a positive finite number; one line otherwise."""
    if not isinstance(temperature, int | float) or not 0.0 < float(temperature) < float("inf"):
        raise BadConfig(f"the sampling temperature must be a positive number, got "
                        f"{temperature!r}")
    return float(temperature)


class FlowModel(LatentVariableModel, ImportanceWeightedBound, ContinuousDensityModel):
    """Base of the normalizing flows (RealNVP, Glow): encode is f, decode is f^{-1}."""

    latent_kind: ClassVar[LatentKind] = "continuous"

    @abc.abstractmethod
    def sample(self, n: int, generator: torch.Generator | None = None,
               temperature: float = 1.0) -> torch.Tensor:
        """``n`` images in one inverse pass from z ~ N(0, temperature^2 I): int64 levels."""
