"""A model's sampler with the options some models offer: fewer steps (a diffusion model's DDIM,
``--steps``) or a temperature (a flow's, ``--temperature``). The CLI and the Samples page
both ask here, so an option a model does not have is refused in the same words."""

from __future__ import annotations

import functools
from collections.abc import Callable

from .diffusion import StepSampler, check_steps
from .errors import BadConfig
from .flow import FlowModel, check_temperature
from .model import GenerativeModel


def sampler(model: GenerativeModel, *, steps: int | None = None, eta: float = 0.0,
            temperature: float | None = None, what: str = "this model") -> Callable:
    """``model.sample``, or its few-step sampler (``steps``, ``eta``), or its tempered one
    (``temperature``), called as ``fn(n, generator=..., **context)``. ``what`` names the
    model in the refusals (a run id, a model name)."""
    if steps is None and eta != 0.0:
        raise BadConfig("--eta sets the noise of a few-step sampler: give --steps K with it")
    if temperature is not None and not isinstance(model, FlowModel):
        raise BadConfig(f"--temperature applies to normalizing flows (realnvp, glow); {what} "
                        "is not one")
    if steps is not None:
        if not isinstance(model, StepSampler):
            raise BadConfig(f"--steps applies to models that sample through a chain of steps "
                            f"(a diffusion model such as ddpm); {what} is not one")
        check_steps(model, steps, eta)
        return functools.partial(model.sample_steps, steps=steps, eta=eta)
    if temperature is not None:
        return functools.partial(model.sample, temperature=check_temperature(temperature))
    return model.sample
