"""The Diffusion page's views, for any :class:`~genzoo.registry.diffusion.DiffusionModel`.

Each function takes a trained model and returns tensors or tables; the dashboard's Diffusion
page draws them and ``benchmarks/diffusion_steps.py`` prints them. Nothing here knows the
model's network: the forward process, the reverse chain and the bound's terms are the model's
own (``q_sample``, ``reverse_frames``, ``bound_terms``).
"""

from __future__ import annotations

import math
import time

import pandas as pd
import torch

from .diffusion import DiffusionModel, StepSampler, check_steps
from .errors import BadData


def require_diffusion(model, run_id: str = "") -> DiffusionModel:
    """The model itself, or one line saying it has no diffusion process to show."""
    if not isinstance(model, DiffusionModel):
        which = f"run {run_id!r} " if run_id else ""
        raise BadData(f"{which}is a {type(model).__name__}, which has no diffusion process to "
                      "show (diffusion models: ddpm)")
    return model


def timestep_grid(total: int, count: int) -> list[int]:
    """``count`` timesteps from 1 to ``total``, evenly spaced and distinct (1 and T included)."""
    count = max(2, min(count, total))
    return sorted({round(1 + i * (total - 1) / (count - 1)) for i in range(count)})


@torch.no_grad()
def forward_frames(model: DiffusionModel, image: torch.Tensor, timesteps: list[int],
                   seed: int = 0) -> torch.Tensor:
    """The image and x_t ~ q(x_t | x_0) at each of ``timesteps``, one noise draw per frame
    (seeded): (1 + len(timesteps), C, H, W) floats in level units, the clean image first."""
    model.eval()
    top = model.num_timesteps
    bad = [t for t in timesteps if not 1 <= int(t) <= top]
    if bad:
        raise BadData(f"timestep {bad[0]} does not exist: this model has t = 1..{top}")
    generator = torch.Generator(device=model.device).manual_seed(seed)
    x0 = image[None].to(model.device).expand(len(timesteps), *image.shape)
    t = torch.tensor([int(t) for t in timesteps], device=model.device)
    noisy = model.to_levels(model.q_sample(x0, t, generator=generator)).cpu()
    return torch.cat([image[None].float().cpu(), noisy])


@torch.no_grad()
def bound_by_timestep(model: DiffusionModel, images: torch.Tensor,
                      batch_size: int = 128) -> pd.DataFrame:
    """Where the bound's bits go: one row per term (t = 0 the decoder L_0, t = 1..T-1 the
    KL terms, t = T the prior L_T) with its mean over ``images`` in bits/dim, and the running
    share of the total. The rows' sum is the model's bound in bits/dim on these images."""
    model.eval()
    terms = torch.cat([model.bound_terms(images[i:i + batch_size].to(model.device)).double().cpu()
                       for i in range(0, len(images), batch_size)])  # (N, T + 1) nats
    bits = (terms.mean(0) / (model.data.dims * math.log(2))).numpy()
    top = model.num_timesteps
    names = ["L_0 (decoder)"] + [f"L_{t}" for t in range(1, top)] + [f"L_{top} (prior)"]
    frame = pd.DataFrame({"t": range(top + 1), "term": names, "bits_per_dim": bits})
    frame["cumulative_share"] = frame["bits_per_dim"].cumsum() / frame["bits_per_dim"].sum()
    return frame


@torch.no_grad()
def step_tradeoff(model: StepSampler, data, reference, steps: list[int], *, n: int = 500,
                  seed: int = 0, eta: float = 0.0, batch_size: int = 250) -> pd.DataFrame:
    """Fewer steps against quality and time: for each K in ``steps``, ``n`` samples of the
    K-step sampler (DDIM with ``eta``; K = T with eta = 1 is ancestral), their sampling time
    in ms per image (wall time of all ``n``, on the model's device) and their sample-quality
    scores against the test split (Fréchet distance, precision, recall), with ``reference`` a
    :class:`~genzoo.registry.quality.ReferenceClassifier` of the dataset."""
    from .quality import quality_scores

    model.eval()
    rows = []
    for k in steps:
        check_steps(model, int(k), eta)
        generator = torch.Generator(device=model.device).manual_seed(seed)
        started = time.perf_counter()
        samples = torch.cat([model.sample_steps(min(batch_size, n - i), int(k),
                                                generator=generator, eta=eta).cpu()
                             for i in range(0, n, batch_size)])
        if model.device.type == "cuda":
            torch.cuda.synchronize(model.device)
        seconds = time.perf_counter() - started
        scores = quality_scores(samples, data, reference)
        rows.append({"steps": int(k), "eta": eta, "ms_per_image": 1000.0 * seconds / n,
                     "frechet_distance": scores["frechet_distance"],
                     "precision": scores["precision"], "recall": scores["recall"], "n": n})
    return pd.DataFrame(rows)
