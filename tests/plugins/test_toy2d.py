"""The 2-d toy datasets: points on a grid as 1x2 images, with their true density."""

from __future__ import annotations

import numpy as np
import pytest

from genzoo.plugins.toy2d import TOYS, discretize, load_toy, true_density
from genzoo.registry.errors import BadConfig
from genzoo.registry.plugins import get_registry
from genzoo.registry.runs import load_dataset

NAMES = ["8-gaussians", "moons", "ring", "checkerboard"]


def histogram(cells: np.ndarray, grid: int) -> np.ndarray:
    counts = np.zeros((grid, grid))
    np.add.at(counts, (cells[:, 0], cells[:, 1]), 1.0)
    return counts / len(cells)


def tv_bound(density: np.ndarray, n: int, slack: float) -> float:
    """A bound on the TV between ``density`` and the histogram of n draws from it.

    E|count_c/n - p_c| <= sqrt(p_c (1 - p_c) / n) (Jensen), so E[TV] <= 1/2 sum of those; and
    TV changes by at most 1/n when one draw changes, so by McDiarmid's inequality
    P(TV > E[TV] + slack) <= exp(-2 n slack^2): below 1e-4 for the slacks used here.
    """
    return 0.5 * float(np.sqrt(density * (1 - density) / n).sum()) + slack


@pytest.mark.parametrize("name", NAMES)
def test_registered_with_splits_levels_labels_and_a_normalized_true_density(name):
    data = load_dataset(get_registry(), name)
    assert data.points and data.describe()["points"] is True
    assert data.levels == 32 and data.describe()["shape"] == [1, 1, 2]
    # 5,000 generated for training, of which the registry keeps 500 for validation
    assert data.train.shape == (4500, 1, 1, 2) and data.test.shape == (2000, 1, 1, 2)
    assert data.val.shape == (500, 1, 1, 2)
    assert int(data.train.min()) >= 0 and int(data.train.max()) <= 31
    assert not np.array_equal(data.train[:2000].numpy(), data.test.numpy())
    n_labels = 2 if name == "moons" else 8
    assert set(data.train_labels.tolist()) == set(range(n_labels))
    assert data.true_density.shape == (32, 32)
    assert data.true_density.min() >= 0
    assert data.true_density.sum() == pytest.approx(1.0, abs=1e-12)
    again = load_dataset(get_registry(), name)  # fixed seeds: the same points every time
    assert np.array_equal(data.train.numpy(), again.train.numpy())


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("grid", [32, 8])
def test_the_training_points_follow_the_true_density(name, grid):
    data = load_toy(name, grid)
    empirical = histogram(data.train.view(-1, 2).numpy(), grid)
    tv = 0.5 * np.abs(empirical - data.true_density).sum()
    assert tv <= tv_bound(data.true_density, 5000, slack=0.04)
    # ...and the check can fail: the same density one cell to the right is far off
    shifted = np.roll(data.true_density, 1, axis=0)
    assert 0.5 * np.abs(empirical - shifted).sum() > tv_bound(shifted, 5000, slack=0.04)


@pytest.mark.parametrize("name", NAMES)
def test_true_density_matches_many_fresh_draws_closely(name):
    # 400,000 draws from the sampler: the bound is then about 0.02 at G=32, so a density wrong
    # by a few percent anywhere (a wrong radius, a transposed axis) fails
    toy, n = TOYS[name], 400_000
    points, _ = toy.sample(n, np.random.default_rng(7))
    empirical = histogram(discretize(points, toy.box, 32), 32)
    density = true_density(name, 32)
    assert 0.5 * np.abs(empirical - density).sum() <= tv_bound(density, n, slack=0.007)


def test_moons_density_is_not_symmetric_in_x_and_y_so_the_axes_are_checked():
    density = true_density("moons", 32)
    assert 0.5 * np.abs(density - density.T).sum() > 0.3


def test_labels_mean_what_they_say():
    data = load_toy("8-gaussians", 32)
    cells = data.train.view(-1, 2).numpy().astype(float)
    centre = cells - 15.5  # the circle is centred on the grid
    angle = np.degrees(np.arctan2(centre[:, 1], centre[:, 0])) % 360
    expected = np.round(angle / 45).astype(int) % 8  # mode k sits at 45 k degrees
    assert (expected == data.train_labels.numpy()).mean() > 0.97
    board = load_toy("checkerboard", 8)  # 8 cells per axis: each square is 2x2 cells
    squares = {tuple(c) for c in (board.train.view(-1, 2).numpy() // 2)}
    assert len(squares) == 8 and all((x + y) % 2 == 0 for x, y in squares)


def test_grid_option_through_the_registry():
    data = load_dataset(get_registry(), "ring", {"grid": "16"})
    assert data.levels == 16 and data.true_density.shape == (16, 16)
    assert int(data.train.max()) <= 15


@pytest.mark.parametrize("grid, message", [(3, "between 4 and 256"), (257, "got 257"),
                                           (16.5, "16.5"), ("32", "'32'"), (True, "True")])
def test_bad_grid_is_a_bad_config_naming_the_value(grid, message):
    with pytest.raises(BadConfig, match="grid") as error:
        load_toy("moons", grid)
    assert message in str(error.value)


def test_bad_grid_from_the_command_line():
    with pytest.raises(BadConfig, match="grid"):
        load_dataset(get_registry(), "moons", {"grid": "abc"})
    with pytest.raises(BadConfig, match="got 2"):
        load_dataset(get_registry(), "moons", {"grid": "2"})
