"""The comparison protocol's splits: every dataset has a fixed validation split carved from
train (stratified by label, in time for series), the test split is untouched, and every run
scores both held-out splits."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from genzoo.registry import ImageData
from genzoo.registry.data import split_series, with_validation
from genzoo.registry.runs import load_dataset
from genzoo.registry.store import RunStore
from genzoo.registry.training import LoopSettings, start_run

IMAGE_DATASETS = ("digits", "mnist", "mnist-binary", "shapes", "shapes-8", "8-gaussians")


def rows(images: torch.Tensor) -> set[bytes]:
    return {bytes(row.numpy().astype(np.int16)) for row in images.flatten(1)}


@pytest.mark.parametrize("name", IMAGE_DATASETS)
def test_validation_is_carved_from_train_stratified_and_the_test_split_is_untouched(registry,
                                                                                     name):
    spec = registry.dataset(name)
    raw = spec.load()  # what the loader gives: train and test only
    data = load_dataset(registry, name)
    assert raw.val is None and data.val is not None
    assert len(data.val) == round(0.1 * len(raw.train))
    assert len(data.train) + len(data.val) == len(raw.train)
    assert torch.equal(data.test, raw.test) and torch.equal(data.test_labels, raw.test_labels)
    # train and validation partition the loader's training split (as multisets of images)
    together = torch.cat([data.train, data.val])
    assert sorted(map(bytes, together.flatten(1).numpy().astype(np.int16))) == \
        sorted(map(bytes, raw.train.flatten(1).numpy().astype(np.int16)))
    # stratified: each class's share of the validation split is its share of train (+-1 image)
    classes = int(raw.train_labels.max()) + 1
    expected = np.bincount(raw.train_labels.numpy(), minlength=classes) * len(data.val) \
        / len(raw.train)
    assert np.abs(np.bincount(data.val_labels.numpy(), minlength=classes) - expected).max() <= 1
    # fixed: the same split at every load
    assert torch.equal(load_dataset(registry, name).val, data.val)


def test_factors_follow_their_images_into_the_validation_split(registry):
    raw, data = registry.dataset("shapes").load(), load_dataset(registry, "shapes")
    assert set(data.val_factors) == set(raw.train_factors)
    # each validation image is the training image that its factors draw
    index = {bytes(row.numpy().astype(np.int8)): k for k, row in enumerate(raw.train.flatten(1))}
    for k in range(0, len(data.val), 37):
        source = index[bytes(data.val[k].flatten().numpy().astype(np.int8))]
        assert int(data.val_labels[k]) == int(raw.train_labels[source])
        assert int(data.val_factors["size"][k]) == int(raw.train_factors["size"][source])


def test_a_plugin_dataset_without_a_validation_split_gets_one_and_one_with_it_keeps_its_own():
    g = torch.Generator().manual_seed(0)
    train, test = torch.randint(4, (50, 1, 2, 2), generator=g), torch.randint(4, (9, 1, 2, 2))
    carved = with_validation(ImageData(name="plain", train=train, test=test, levels=4))
    assert (len(carved.train), len(carved.val)) == (45, 5) and carved.val_labels is None
    given = ImageData(name="own", train=train, test=test, val=test[:3], levels=4)
    assert with_validation(given) is given


def test_a_series_is_split_train_validation_test_in_time():
    values = np.arange(100.0)
    series = split_series("line", values)
    assert (series.train.numpy() == values[:70]).all()
    assert (series.val.numpy() == values[70:80]).all()
    assert (series.test.numpy() == values[80:]).all()
    # a series loader that gives no validation split: the end of its training part
    plain = with_validation(type(series)(name="plain", train=series.before_test,
                                         test=series.test))
    assert len(plain.val) == 8 and float(plain.val[-1]) == 79.0 and len(plain.test) == 20


def test_bad_split_names_are_refused(registry):
    from genzoo.registry.errors import BadConfig, BadData

    data = load_dataset(registry, "digits")
    with pytest.raises(BadConfig, match="unknown split 'validation'"):
        data.split("validation")
    plain = ImageData(name="plain", train=data.train, test=data.test, levels=17)
    with pytest.raises(BadData, match="no validation split"):
        plain.split("val")


@pytest.mark.parametrize("model, dataset, unit", [("pixelcnn", "digits", "bits_per_dim"),
                                                   ("ar", "sunspots", "nats_per_obs")])
def test_every_run_scores_the_validation_split_beside_the_test_split(registry, model, dataset,
                                                                     unit):
    from genzoo.registry.evaluation import evaluate, series_context
    from genzoo.registry.runs import load_run

    overrides = {"hidden": "8", "layers": "1"} if model == "pixelcnn" else {"p": "3"}
    record = start_run(registry, RunStore(), model, dataset, steps=5, overrides=overrides,
                       settings=LoopSettings(progress=False))
    metrics = record.metrics
    assert metrics[f"val_{unit}"] != metrics[f"test_{unit}"]
    loaded = load_run(record.run_id, RunStore(), registry)
    again = evaluate(loaded.model, loaded.spec, loaded.data, "val")
    assert again[unit] == pytest.approx(metrics[f"val_{unit}"], rel=1e-9)
    if model == "ar":  # each held-out split is predicted from the values just before it
        data = loaded.data
        val_series, n_val = series_context(loaded.model, data, "val")
        test_series, n_test = series_context(loaded.model, data, "test")
        assert (n_val, n_test) == (len(data.val), len(data.test))
        assert torch.equal(val_series[:3], data.train[-3:])
        assert torch.equal(test_series[:3], data.val[-3:])
