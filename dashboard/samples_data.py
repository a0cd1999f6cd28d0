"""What the Samples page shows: a run's samples drawn with a seed (checked against the model
contract where they are used) and real images beside them, as grids; cached for every session.
Lecture mode draws its sample grids from here too.
"""

from __future__ import annotations

import math
import time

import streamlit as st
import torch

from genzoo.dashboard.data import cached_by_run, dataset, loaded_run
from genzoo.registry import outputs
from genzoo.registry.diffusion import StepSampler
from genzoo.registry.flow import FlowModel
from genzoo.registry.outputs import check_samples, image_grid, png_bytes
from genzoo.registry.samplers import sampler
from genzoo.registry.store import RunRecord


def grid_scale(n: int, height: int, width: int, target_px: int = 320) -> int:
    """Pixel repeat factor that makes a square grid of ``n`` images about ``target_px`` wide."""
    return outputs.grid_scale(height, width, columns=math.ceil(math.sqrt(n)),
                              target_px=target_px)


def _grid(images: torch.Tensor, levels: int) -> dict:
    _, _, height, width = images.shape
    array = image_grid(images, levels, scale=grid_scale(len(images), height, width))
    return {"grid": array, "png": png_bytes(array)}


@cached_by_run(show_spinner="Sampling…", max_entries=256)
def _image_samples(loaded, seed: int, n: int, steps: int | None,
                   temperature: float | None) -> dict:
    draw = sampler(loaded.model, steps=steps, temperature=temperature,
                   what=f"run {loaded.record.run_id}")
    generator = torch.Generator().manual_seed(seed)
    started = time.perf_counter()
    with torch.no_grad():
        images = draw(n, generator=generator)
    seconds = time.perf_counter() - started
    images = check_samples(loaded.spec.name, images, n, loaded.data.info).cpu()
    return {**_grid(images, loaded.data.levels), "ms_per_image": 1000 * seconds / max(n, 1)}


def image_samples(record: RunRecord, seed: int, n: int, *, steps: int | None = None,
                  temperature: float | None = None) -> dict:
    """``n`` samples of a run drawn with ``seed``: ``{grid, png, ms_per_image}`` (cached);
    ``steps`` for a diffusion model's few-step sampler, ``temperature`` for a flow's."""
    return _image_samples(record, int(seed), int(n), None if steps is None else int(steps),
                          None if temperature is None else float(temperature))


def sampler_options(record: RunRecord) -> dict:
    """What the run's sampler can be asked besides a seed: ``{"max_steps": T}`` for a model
    that samples through a chain of steps (a diffusion model), ``{"temperature": True}`` for a
    flow, ``{}`` otherwise."""
    model = loaded_run(record).model
    if isinstance(model, StepSampler):
        return {"max_steps": int(model.max_sampling_steps)}
    if isinstance(model, FlowModel):
        return {"temperature": True}
    return {}


@st.cache_data(show_spinner=False, max_entries=64)
def real_images(dataset_name: str, seed: int, n: int) -> dict:
    """``n`` test images of a dataset, chosen with ``seed``: ``{grid, png}``."""
    data = dataset(dataset_name)
    pick = torch.randperm(len(data.test), generator=torch.Generator().manual_seed(seed))[:n]
    return _grid(data.test[pick], data.levels)
