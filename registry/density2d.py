"""A model's density on a 2-d toy grid, next to the true one, and how far apart they are.

A points dataset (``ImageData.points``: ``8-gaussians``, ``moons``, ``ring``, ``checkerboard``)
stores a point of a G x G grid as a (1, 1, 2) image, so the whole space is just G^2 "images"
and a model's distribution over it can be drawn as a heatmap, cell by cell. What a model gives
depends on its branch of the taxonomy:

- exact (``independent``, ``pixelcnn``, ``gmm``, ...): q(c) = exp(log_prob(c)) for every cell c.
  It sums to 1; we check it (a model that claims exactness and fails is reported, not drawn).
- integrated (a normalizing flow, ``realnvp``, ``glow``): its density is exact on the
  continuous plane, so the probability of a cell is that density integrated over the cell
  (:func:`genzoo.registry.bounds.cell_log_probs`, a 16 x 16 midpoint rule per cell); the cells
  sum to 1 up to the rule's error, which we check. Its dequantization bound (its bits/dim) is
  below this, by Jensen.
- bound (``vae``, ``ddpm``): exp(ELBO(c)) for every cell: below the true model probability,
  so the map sums to less than 1. The missing mass is the bound's slack: -log2(mass) bits per
  point is a lower bound on what the looseness costs on average, the mean gap log2 p_model(c) -
  ELBO(c) / ln 2 under the model's own p_model (Jensen: E[-log2(exp(ELBO) / p_model)] >=
  -log2 E[exp(ELBO) / p_model] = -log2(mass)); the looseness costs at least that much.
- implicit (a GAN), or a bound model that cannot score on its own (a VQ-VAE without its prior):
  the normalized histogram of many samples.

Distances between the true density p and the model's q, both (G, G) arrays indexed [x, y]:

- KL(p || q) = sum_c p(c) log2(p(c) / q(c)), in bits per point (2 dimensions), over the cells
  where p > 0. For an exact model it is the excess of its expected cross-entropy over the true
  entropy, so expected test bits/dim = H(p)/2 + KL/2. A bound's q is used as it is (not
  renormalized), so there KL = bound's cross-entropy - H(p), what its bits/dim overstates.
  Where p > 0 but q = 0 (only a sample histogram has empty cells) the KL is infinite. Rather
  than infinity we report two finite numbers: ``missed_mass``, the true mass on those cells
  (for a GAN, the modes it dropped), and the KL on the cells the model covers, against the
  true density restricted to them and renormalized (a proper KL, >= 0; the plain sum over the
  covered cells is not one, and comes out small or even negative for a collapsed GAN). With
  nothing missed, this is the plain KL.
- total variation TV(p, q) = 1/2 sum_c |p(c) - q(c) / sum q|, in [0, 1]: the largest
  difference in the probability the two give any set of cells. q is normalized first, so for a
  bound TV compares shapes and ``mass`` tells the slack.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from .bounds import ContinuousDensityModel, cell_log_probs
from .data import ImageData
from .errors import BadData, GenzooError
from .model import GenerativeModel
from .spec import ModelSpec

DEFAULT_SAMPLES = 200_000  # histogram of an implicit model: about 200 draws per cell at G=32
MASS_TOLERANCE = 1e-3  # an exact model's cells must sum to 1 within this
# an integrated density's cells, by a 16 x 16 midpoint rule each: the rule's error on a smooth
# density is far below this
INTEGRATED_TOLERANCE = 2e-2
KINDS = {"exact": "exact density", "integrated": "continuous density integrated over each cell",
         "bound": "lower bound (exp ELBO)", "samples": "histogram of samples"}


def check_points(data) -> int:
    """The grid size G of a points dataset; BadData for anything else."""
    if not isinstance(data, ImageData) or not data.points:
        name = getattr(data, "name", type(data).__name__)
        raise BadData(f"dataset {name!r} is not a 2-d points dataset (8-gaussians, moons, ring, "
                      "checkerboard): there is no grid to draw a density on")
    if tuple(data.train.shape[1:]) != (1, 1, 2):
        raise BadData(f"points dataset {data.name!r} must store (1, 1, 2) images, got "
                      f"{tuple(data.train.shape[1:])}")
    return data.levels


def true_density(data) -> np.ndarray:
    """The dataset's true probability of every cell, (G, G) indexed [x, y], summing to 1."""
    grid = check_points(data)
    if data.true_density is None:
        raise BadData(f"points dataset {data.name!r} carries no true density")
    density = np.asarray(data.true_density, dtype=np.float64)
    if density.shape != (grid, grid):
        raise BadData(f"the true density of {data.name!r} has shape {density.shape}, expected "
                      f"({grid}, {grid})")
    return density


def grid_cells(grid: int) -> torch.Tensor:
    """Every cell of the grid as a (1, 1, 2) image, x-major: (G*G, 1, 1, 2) int64, so that
    values computed on it reshape to (G, G) indexed [x, y]."""
    return torch.cartesian_prod(torch.arange(grid), torch.arange(grid)).view(-1, 1, 1, 2)


def empirical_density(points: torch.Tensor, grid: int) -> np.ndarray:
    """Normalized histogram of (N, 1, 1, 2) points on the grid: (G, G) indexed [x, y]."""
    flat = points.reshape(-1, 2).cpu().numpy()
    counts = np.zeros((grid, grid), dtype=np.float64)
    np.add.at(counts, (flat[:, 0], flat[:, 1]), 1.0)
    return counts / max(len(flat), 1)


def density_kind(model: GenerativeModel, spec: ModelSpec) -> str:
    """``exact``, ``integrated``, ``bound`` or ``samples``: what :func:`model_density` will
    compute."""
    if spec.density == "implicit" or not model.bound_available:
        return "samples"
    if isinstance(model, ContinuousDensityModel):
        return "integrated"
    return spec.density


@torch.no_grad()
def model_density(model: GenerativeModel, spec: ModelSpec, data, *,
                  n_samples: int = DEFAULT_SAMPLES, seed: int = 0,
                  batch_size: int = 4096) -> tuple[np.ndarray, str]:
    """A model's distribution on the data's grid, (G, G) indexed [x, y], and its kind.

    Kinds: ``exact`` (exp log_prob, checked to sum to 1), ``integrated`` (a continuous density
    integrated over each cell, checked to sum to 1), ``bound`` (exp ELBO, sums to less than 1)
    or ``samples`` (histogram of ``n_samples`` draws with ``seed``).
    """
    grid = check_points(data)
    if tuple(model.data.shape) != (1, 1, 2) or model.data.levels != grid:
        raise BadData(f"the model was built for {tuple(model.data.shape)} images with "
                      f"{model.data.levels} levels, not the {grid}x{grid} grid of {data.name!r}")
    model.eval()
    kind = density_kind(model, spec)
    if kind == "samples":
        generator = torch.Generator(device=model.device).manual_seed(seed)
        draws = [model.sample(min(batch_size * 16, n_samples - start), generator=generator)
                 for start in range(0, n_samples, batch_size * 16)]
        return empirical_density(torch.cat(draws), grid), kind
    cells = grid_cells(grid)
    if kind == "integrated":
        log_q = cell_log_probs(model, cells).cpu()
    else:
        log_q = torch.cat([model.log_prob(cells[i:i + batch_size].to(model.device)).double().cpu()
                           for i in range(0, len(cells), batch_size)])
    density = log_q.exp().numpy().reshape(grid, grid)
    mass = float(density.sum())
    tolerance = {"exact": MASS_TOLERANCE, "integrated": INTEGRATED_TOLERANCE}.get(kind)
    if tolerance is not None and abs(mass - 1.0) > tolerance:
        raise GenzooError(f"model {spec.name!r} declares a density that sums to 1 ({KINDS[kind]}),"
                          f" but its probabilities over the {grid}x{grid} grid sum to "
                          f"{mass:.6f}")
    return density, kind


def compare(true: np.ndarray, model: np.ndarray) -> dict:
    """KL(true || model) in bits per point, TV, the model's mass and the missed true mass.

    See the module docstring for what each number means and how empty model cells are treated.
    """
    true = np.asarray(true, dtype=np.float64)
    model = np.asarray(model, dtype=np.float64)
    if true.shape != model.shape:
        raise BadData(f"densities of different grids: {true.shape} and {model.shape}")
    mass = float(model.sum())
    if not (true[model > 0] > 0).any():
        raise BadData("the model puts no mass on any cell where the true density is positive")
    covered = (true > 0) & (model > 0)
    missed = float(true[(true > 0) & (model <= 0)].sum())
    kept = true[covered] / true[covered].sum()  # the truth on the covered cells, renormalized
    kl = float(np.sum(kept * (np.log2(kept) - np.log2(model[covered]))))
    tv = 0.5 * float(np.abs(true - model / mass).sum())
    return {"kl_bits": kl, "tv": tv, "mass": mass, "missed_mass": missed,
            "slack_bits": -math.log2(mass)}


def entropy_bits(density: np.ndarray) -> float:
    """H(p) = -sum p log2 p in bits per point: the best expected -log2 q any model can reach."""
    p = np.asarray(density, dtype=np.float64)
    p = p[p > 0]
    return float(-(p * np.log2(p)).sum())
