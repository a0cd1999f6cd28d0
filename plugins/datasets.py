"""The built-in datasets: all offline, shipped inside scikit-learn and statsmodels or simulated.

- ``digits``: scikit-learn's 1,797 handwritten digits, 8x8, 17 grey levels (0..16), with labels.
- ``sunspots``: yearly sunspot numbers 1700-2008 (statsmodels).
- ``nile``: yearly flow of the Nile at Aswan 1871-1970 (statsmodels).
- ``ar-synthetic``: a simulated AR(3) with known constant, coefficients and noise variance.

Splits are fixed so that every run of every model sees the same held-out data.
"""

from __future__ import annotations

import numpy as np
import torch

from genzoo.registry import DatasetSpec, ImageData, hookimpl
from genzoo.registry.data import split_series

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
    register(DatasetSpec("sunspots", "series", load_sunspots, source="statsmodels",
                         summary="yearly sunspot numbers, 1700-2008"))
    register(DatasetSpec("nile", "series", load_nile, source="statsmodels",
                         summary="yearly Nile flow at Aswan, 1871-1970"))
    register(DatasetSpec("ar-synthetic", "series", load_ar_synthetic, source="simulated",
                         summary="AR(3) with known coefficients (c=0.5, phi=0.6, -0.3, 0.2)"))
