"""Disentanglement: the mutual information gap (Chen, Li, Grosse & Duvenaud, "Isolating Sources
of Disentanglement in Variational Autoencoders", NeurIPS 2018).

On data generated from known factors v_1..v_K (``shapes``: shape, size, row, col), a code z is
disentangled when each factor is captured by one latent dimension and by no other. The MIG
scores exactly that: for each factor, the mutual information of its most informative latent
dimension minus that of the runner-up, normalized by the factor's entropy,

    MIG = 1/K sum_k ( I(z_{j(k)}; v_k) - max_{j != j(k)} I(z_j; v_k) ) / H(v_k),
    j(k) = argmax_j I(z_j; v_k),

between 0 (every factor spread over several dimensions, or none) and 1 (each factor in one
dimension alone). I(z_j; v_k) is estimated, as in disentanglement_lib, from the posterior means
binned into equal-width bins (``bins``), with scikit-learn's ``mutual_info_score`` (nats).

β-VAE (Higgins et al. 2017) trades the ELBO for this: a larger KL weight β presses q(z|x)
towards the factorized prior, which tends to raise the MIG and lowers the bound.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from .errors import BadData
from .latent import LatentVariableModel

TEST_MIG = "test_mig"  # stored by `genzoo eval RUN --mig`
BINS = 20  # disentanglement_lib's default for discretizing the codes
MAX_IMAGES = 2000  # test images encoded: enough for the MI of 4 factors, quick on a CPU


@dataclass
class MIG:
    """The mutual information gap and what it is made of."""

    score: float  # mean over factors of the normalized gap, in [0, 1]
    gaps: dict[str, float]  # per factor: (I_first - I_second) / H(v)
    information: pd.DataFrame  # I(z_j; v_k) / H(v_k): rows latent dimensions, columns factors
    n: int  # images it was measured on


def discretize(codes: np.ndarray, bins: int = BINS) -> np.ndarray:
    """Each column of ``codes`` (N, L) cut into ``bins`` equal-width bins: int (N, L)."""
    out = np.zeros(codes.shape, dtype=np.int64)
    for j in range(codes.shape[1]):
        column = codes[:, j]
        edges = np.histogram_bin_edges(column, bins=bins)
        out[:, j] = np.digitize(column, edges[1:-1])
    return out


def mutual_information_gap(codes: np.ndarray, factors: dict[str, np.ndarray],
                           bins: int = BINS) -> MIG:
    """MIG of codes (N, L) against factors (each (N,), discrete); needs two latent dimensions
    (a gap needs a runner-up) and factors that vary."""
    from sklearn.metrics import mutual_info_score

    codes = np.asarray(codes, dtype=np.float64)
    if codes.ndim != 2 or codes.shape[1] < 2:
        raise BadData(f"the MIG compares latent dimensions: it needs codes of at least 2 "
                      f"dimensions, got shape {codes.shape}")
    binned = discretize(codes, bins)
    columns, gaps = {}, {}
    for name, values in factors.items():
        values = np.asarray(values)[:len(codes)]
        entropy = mutual_info_score(values, values)  # I(v; v) = H(v)
        if entropy <= 0:
            continue  # a factor that does not vary tells nothing
        information = np.array([mutual_info_score(values, binned[:, j])
                                for j in range(binned.shape[1])]) / entropy
        first, second = np.sort(information)[::-1][:2]
        columns[name], gaps[name] = information, float(first - second)
    if not gaps:
        raise BadData("the MIG needs factors of variation that vary over the images")
    table = pd.DataFrame(columns, index=[f"z{j}" for j in range(codes.shape[1])])
    return MIG(score=float(np.mean(list(gaps.values()))), gaps=gaps, information=table,
               n=len(codes))


@torch.no_grad()
def model_mig(model, data, split: str = "test", limit: int = MAX_IMAGES) -> MIG:
    """The MIG of a model's posterior means on ``split`` of a dataset with known factors."""
    if not isinstance(model, LatentVariableModel) or model.latent_kind != "continuous":
        raise BadData(f"the MIG scores a continuous code: {type(model).__name__} has "
                      "none (train a vae, or a beta-VAE with --set beta=4)")
    factors = getattr(data, f"{split}_factors", None)
    if not factors:
        raise BadData(f"the MIG needs known factors of variation: dataset {data.name!r} has "
                      "none (train on shapes, shapes-8, shapes-28 or shapes-32)")
    images = data.split(split)[0][:limit]
    codes = torch.cat([model.encode(images[i:i + 256].to(model.device)).flatten(1).cpu()
                       for i in range(0, len(images), 256)])
    return mutual_information_gap(codes.numpy(), {k: v[:len(images)].numpy()
                                                  for k, v in factors.items()})
