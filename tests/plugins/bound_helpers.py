"""What the tests of the latent-variable models share: a model trained briefly on digits (a
posterior worth importance-weighting) and the mean of a sample of differences with its standard
error, to compare bounds by what holds for every seed rather than by one draw."""

from __future__ import annotations

import math

import torch


def trained_on_digits(model, steps: int = 400, batch: int = 64, seed: int = 0):
    """``model`` after ``steps`` training steps on digits (seeded batches), in eval mode, with
    64 test images."""
    from genzoo.plugins.datasets import load_digits

    data = load_digits()
    optimizers = model.configure_optimizers()
    generator = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        model.training_step(data.train[torch.randint(len(data.train), (batch,),
                                                     generator=generator)], optimizers)
    return model.eval(), data.test[:64]


def mean_and_stderr(values: torch.Tensor) -> tuple[float, float]:
    """The mean of ``values`` and its standard error."""
    return float(values.mean()), float(values.std() / math.sqrt(len(values)))
