"""The built-in datasets: shapes, levels, fixed splits, and offline loading."""

from __future__ import annotations

import torch

from genzoo.plugins import datasets


def test_digits_is_8x8_with_17_levels_and_a_fixed_stratified_split():
    a, b = datasets.load_digits(), datasets.load_digits()
    assert a.train.shape == (1437, 1, 8, 8) and a.test.shape == (360, 1, 8, 8)
    assert a.levels == 17 and int(a.train.max()) == 16 and a.train.dtype == torch.int64
    assert torch.equal(a.test, b.test)  # the same held-out images every time
    assert torch.bincount(a.test_labels).min() >= 35  # every class is in the test split
    assert a.info.n_classes == 10


def test_series_are_split_in_time():
    sunspots = datasets.load_sunspots()  # 309 years: 70% / 10% / 20%, in this order in time
    assert (len(sunspots.train), len(sunspots.val), len(sunspots.test)) == (216, 31, 62)
    assert sunspots.index[0] == 1700 and sunspots.index[-1] == 2008
    assert torch.equal(sunspots.values, torch.cat([sunspots.train, sunspots.val, sunspots.test]))
    assert torch.equal(sunspots.before_test, sunspots.values[:216 + 31])
    nile = datasets.load_nile()
    assert (len(nile.train), len(nile.val), len(nile.test)) == (70, 10, 20)
    assert nile.train.dtype == nile.val.dtype == torch.float64


def test_ar_synthetic_is_reproducible_and_carries_its_true_parameters():
    a, b = datasets.load_ar_synthetic(), datasets.load_ar_synthetic()
    assert torch.equal(a.values, b.values) and len(a.values) == 600
    assert a.true_params == datasets.AR_SYNTHETIC
    # a stationary AR(3) with c=0.5: its mean is c / (1 - sum(phi)) = 0.5 / 0.5 = 1
    assert abs(float(a.values.mean()) - 1.0) < 0.3
