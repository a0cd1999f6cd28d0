"""Toy 2-d densities, the ones GAN Lab and the flow papers draw: every model's density (or its
samples) can be seen as a heatmap next to the true one.

- ``8-gaussians``: eight isotropic Gaussians (std 0.354) equally spaced on a circle of radius
  2.83, equal weights (the FFJORD toy set); label = the mode (0..7, counter-clockwise from +x).
- ``moons``: two interleaved half circles with Gaussian noise (std 0.1); label = the moon.
- ``ring``: one circle of radius 2.5 with Gaussian noise (std 0.2); label = the angle sector
  (0..7, each 45 degrees, counter-clockwise from +x), so the coverage of the ring can be seen.
- ``checkerboard``: uniform on the 8 dark squares of a 4x4 board (the FFJORD toy set); label =
  the square (0..7, row by row from the bottom).

A point (x, y) of the plane is discretized on a G x G grid (option ``grid``, default 32) over a
fixed square box: coordinate v falls in cell ``floor((v - lo) / w)`` with ``w = (hi - lo) / G``,
the points outside the box in the nearest edge cell. It is stored as an image of shape
(1, 1, 2) (one row, two "pixels": x then y) with ``levels = G``, so every image model applies
and every likelihood is in bits per dimension of the same discrete data.

The **true density** of each data set is the probability of every cell under the continuous
generating distribution, a (G, G) array indexed [x, y] that sums to 1 (the edge cells reach to
+-infinity, as the data do). It is computed, never estimated from samples:

- 8-gaussians: exactly, from normal CDFs (each component is a product of two 1-d Gaussians, so
  a cell's probability is a product of two CDF differences).
- checkerboard: exactly, as the area of each cell inside the dark squares over their total area.
- moons and ring: a point is ``c(t) + noise`` with t uniform on an arc and isotropic Gaussian
  noise, so given t a cell's probability is again a product of CDF differences; the integral
  over t is taken by quadrature on 4,096 evenly spaced t (the midpoint rule, an error far below
  1e-6 per cell; on the ring the integrand is periodic and the rule converges exponentially).

The same samplers draw the training (5,000 points) and test (2,000 points) splits from a fixed
seed per data set, so every run sees the same points.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from scipy.special import ndtr

from genzoo.registry import DatasetSpec, ImageData, hookimpl
from genzoo.registry.errors import BadConfig

N_TRAIN, N_TEST = 5000, 2000
DEFAULT_GRID = 32
GRID_RANGE = (4, 256)
QUADRATURE = 4096  # arc positions t for the moons and ring densities

# 8-gaussians (FFJORD): unit directions scaled by 4 and noise 0.5, all divided by 1.414.
EIGHT_RADIUS, EIGHT_STD = 4 / 1.414, 0.5 / 1.414
MOONS_STD = 0.1
RING_RADIUS, RING_STD = 2.5, 0.2


@dataclass(frozen=True)
class Toy:
    """One toy density: its sampler, its exact cell probabilities, its box and what labels mean.

    ``sample(n, rng) -> (points (n, 2) float, labels (n,) int)``; ``cells(edges) -> (G, G)``
    probabilities given the G + 1 cell edges per axis (the outer ones at +-inf).
    """

    name: str
    box: tuple[float, float]  # the same interval on both axes, so grid cells are square
    sample: Callable[[int, np.random.Generator], tuple[np.ndarray, np.ndarray]]
    cells: Callable[[np.ndarray], np.ndarray]
    labels: str
    summary: str


def _cdf_diffs(edges: np.ndarray, means: np.ndarray, std: float) -> np.ndarray:
    """P(cell i) of a 1-d N(mean, std^2) for every mean: (M, G), rows sum to 1."""
    cdf = ndtr((edges[None, :] - means[:, None]) / std)  # (M, G + 1)
    return np.diff(cdf, axis=1)


def _mixture_cells(edges: np.ndarray, centres: np.ndarray, std: float) -> np.ndarray:
    """Cell probabilities of an equal-weight mixture of isotropic Gaussians at ``centres``
    (M, 2): the mean over components of an outer product of two CDF differences."""
    px = _cdf_diffs(edges, centres[:, 0], std)  # (M, G)
    py = _cdf_diffs(edges, centres[:, 1], std)
    return px.T @ py / len(centres)  # (G, G), [x, y]


# -- 8-gaussians ----------------------------------------------------------------------------------

EIGHT_CENTRES = EIGHT_RADIUS * np.stack([np.cos(np.arange(8) * np.pi / 4),
                                         np.sin(np.arange(8) * np.pi / 4)], axis=1)


def _sample_eight(n, rng):
    mode = rng.integers(8, size=n)
    return EIGHT_CENTRES[mode] + EIGHT_STD * rng.standard_normal((n, 2)), mode


def _eight_cells(edges):
    return _mixture_cells(edges, EIGHT_CENTRES, EIGHT_STD)


# -- moons --------------------------------------------------------------------------------------


def _moon_arcs(t: np.ndarray) -> np.ndarray:
    """The two half circles at arc positions t in [0, pi]: (2, len(t), 2), as in scikit-learn's
    ``make_moons`` (which spaces its points evenly instead of drawing them, hence our own)."""
    upper = np.stack([np.cos(t), np.sin(t)], axis=1)
    lower = np.stack([1 - np.cos(t), 0.5 - np.sin(t)], axis=1)
    return np.stack([upper, lower])


def _sample_moons(n, rng):
    moon, t = rng.integers(2, size=n), rng.uniform(0, np.pi, size=n)
    arcs = _moon_arcs(t)  # (2, n, 2)
    centre = arcs[moon, np.arange(n)]
    return centre + MOONS_STD * rng.standard_normal((n, 2)), moon


def _moons_cells(edges):
    t = (np.arange(QUADRATURE) + 0.5) * np.pi / QUADRATURE  # midpoint rule on [0, pi]
    return _mixture_cells(edges, _moon_arcs(t).reshape(-1, 2), MOONS_STD)


# -- ring ---------------------------------------------------------------------------------------


def _circle(t: np.ndarray) -> np.ndarray:
    return RING_RADIUS * np.stack([np.cos(t), np.sin(t)], axis=1)


def _sample_ring(n, rng):
    t = rng.uniform(0, 2 * np.pi, size=n)
    sector = np.minimum((t / (np.pi / 4)).astype(np.int64), 7)
    return _circle(t) + RING_STD * rng.standard_normal((n, 2)), sector


def _ring_cells(edges):
    t = np.arange(QUADRATURE) * 2 * np.pi / QUADRATURE  # periodic: the trapezoid rule
    return _mixture_cells(edges, _circle(t), RING_STD)


# -- checkerboard -------------------------------------------------------------------------------

# Lower-left corners of the 8 dark 2x2 squares of a 4x4 board on [-4, 4]^2, row by row.
SQUARES = np.array([(x, y) for y in (-4, -2, 0, 2) for x in (-4, -2, 0, 2)
                    if (x // 2 + y // 2) % 2 == 0], dtype=float)


def _sample_checkerboard(n, rng):
    square = rng.integers(len(SQUARES), size=n)
    return SQUARES[square] + 2 * rng.random((n, 2)), square


def _overlap(edges: np.ndarray, start: float) -> np.ndarray:
    """Length of each cell [e_i, e_{i+1}] inside [start, start + 2]: (G,)."""
    return np.clip(np.minimum(edges[1:], start + 2) - np.maximum(edges[:-1], start), 0, None)


def _checkerboard_cells(edges):
    total = np.zeros((len(edges) - 1,) * 2)
    for x, y in SQUARES:
        total += np.outer(_overlap(edges, x), _overlap(edges, y))
    return total / (4.0 * len(SQUARES))  # each square has area 4


TOYS = {toy.name: toy for toy in (
    Toy("8-gaussians", (-4.0, 4.0), _sample_eight, _eight_cells, "the mode (0-7)",
        "eight Gaussians on a circle, the classic test of mode coverage"),
    Toy("moons", (-1.5, 2.5), _sample_moons, _moons_cells, "the moon (0-1)",
        "two interleaved half circles with Gaussian noise"),
    Toy("ring", (-4.0, 4.0), _sample_ring, _ring_cells, "the 45-degree angle sector (0-7)",
        "a noisy circle: one connected mode with a hole in the middle"),
    Toy("checkerboard", (-4.0, 4.0), _sample_checkerboard, _checkerboard_cells,
        "the dark square (0-7)", "uniform on the 8 dark squares of a 4x4 board: sharp edges"),
)}
SEEDS = {name: 100 + i for i, name in enumerate(TOYS)}  # a fixed seed per data set


def check_grid(grid) -> int:
    """The grid option as an int in [4, 256]; a BadConfig that names the value otherwise."""
    if isinstance(grid, bool) or not isinstance(grid, (int, np.integer)):
        raise BadConfig(f"grid must be an int (cells per axis), got {grid!r}")
    low, high = GRID_RANGE
    if not low <= grid <= high:
        raise BadConfig(f"grid must be between {low} and {high} cells per axis, got {grid}")
    return int(grid)


def cell_edges(box: tuple[float, float], grid: int) -> np.ndarray:
    """The G + 1 cell edges of one axis, the outer two at -inf and +inf (edge cells take the
    points outside the box)."""
    edges = np.linspace(box[0], box[1], grid + 1)
    edges[0], edges[-1] = -np.inf, np.inf
    return edges


def discretize(points: np.ndarray, box: tuple[float, float], grid: int) -> np.ndarray:
    """Cell indices of points (n, 2) -> (n, 2) int64 in [0, grid)."""
    low, high = box
    cells = np.floor((points - low) / ((high - low) / grid)).astype(np.int64)
    return np.clip(cells, 0, grid - 1)


@functools.lru_cache(maxsize=32)
def true_density(name: str, grid: int) -> np.ndarray:
    """The probability of every cell of the G x G grid under ``name``'s generating
    distribution, (G, G) indexed [x, y], summing to 1 (read-only, cached)."""
    toy = TOYS[name]
    density = toy.cells(cell_edges(toy.box, grid))
    density = density / density.sum()  # exact up to rounding; remove that too
    density.flags.writeable = False
    return density


def load_toy(name: str, grid: int = DEFAULT_GRID) -> ImageData:
    """Draw a toy data set's fixed train and test splits on a ``grid`` x ``grid`` grid."""
    grid = check_grid(grid)
    toy = TOYS[name]
    rng = np.random.default_rng(SEEDS[name])
    splits = []
    for n in (N_TRAIN, N_TEST):  # one generator: the test points differ from the train ones
        points, labels = toy.sample(n, rng)
        cells = discretize(points, toy.box, grid)
        splits.append((torch.from_numpy(cells).view(n, 1, 1, 2),
                       torch.from_numpy(labels.astype(np.int64))))
    (x_train, y_train), (x_test, y_test) = splits
    low, high = toy.box
    return ImageData(name=name, train=x_train, test=x_test, levels=grid,
                     train_labels=y_train, test_labels=y_test, points=True,
                     true_density=true_density(name, grid),
                     source=f"generated: {toy.summary}; [{low:g}, {high:g}]^2 on a {grid}x{grid} "
                            f"grid, stored as a 1x2 image (x, y); label = {toy.labels}; "
                            f"seed {SEEDS[name]}")


@hookimpl
def register_datasets(register):
    """The four toy 2-d densities."""
    for name, toy in TOYS.items():
        register(DatasetSpec(name, "image", functools.partial(load_toy, name),
                             source="generated", options=("grid",), points=True,
                             summary=f"2-d toy: {toy.summary}; a point on a 32x32 grid as a 1x2 "
                                     "image; --set grid=G (4-256)"))
