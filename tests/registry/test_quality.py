"""Sample-quality metrics on cases with known answers: real images score at the floor, noise far
from it, a one-digit generator collapses coverage and recall, copied training images are caught;
the reference classifier is cached and retrained when its cache is corrupt; the CLI stores the
scores with the run."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

from genzoo.registry import quality as q
from genzoo.registry.data import ImageData, split_series
from genzoo.registry.errors import BadConfig, BadData
from genzoo.registry.runs import load_dataset
from genzoo.registry.store import RunStore

from cli_helpers import last_json, run, train

TINY = q.ReferenceSettings(channels=(4, 8), features=8, examples=3000)  # ~1 s on digits


@pytest.fixture(autouse=True)
def builtins_only(monkeypatch):
    monkeypatch.setenv("GENZOO_PLUGINS", "")


@pytest.fixture(scope="module")
def digits(registry):
    return load_dataset(registry, "digits")


@pytest.fixture(scope="module")
def ref_store(tmp_path_factory):
    return RunStore(tmp_path_factory.mktemp("quality-home"))


@pytest.fixture(scope="module")
def reference(ref_store, digits):
    """The digits reference classifier, trained once for the whole module."""
    return q.reference_classifier(ref_store, "digits", digits)


@pytest.fixture(scope="module")
def floor(digits, reference):
    return q.real_data_scores(digits, reference, n=1000)


def noisy(images: torch.Tensor, levels: int, seed: int = 0) -> torch.Tensor:
    """Images with a tenth of the pixels moved one level up or down."""
    g = torch.Generator().manual_seed(seed)
    step = torch.randint(-1, 2, images.shape, generator=g) * (torch.rand(images.shape,
                                                                          generator=g) < 0.1)
    return (images + step).clamp(0, levels - 1)


# -- the pieces, with exact answers ---------------------------------------------------------------


def test_frechet_distance_of_a_shifted_set_is_the_squared_shift():
    x = np.random.default_rng(0).normal(size=(500, 6))
    shift = np.array([1.0, -2.0, 0, 0, 0.5, 0])
    assert q.frechet_distance(x, x) == pytest.approx(0, abs=1e-8)
    assert q.frechet_distance(x, x + shift) == pytest.approx((shift ** 2).sum(), rel=1e-6)
    # a scaled copy: same mean, covariance 4 S -> tr(S + 4S - 2 * 2S) = tr(S)
    trace = np.trace(np.cov(x, rowvar=False))
    assert q.frechet_distance(x, 2 * (x - x.mean(0)) + x.mean(0)) == pytest.approx(trace)


def test_precision_recall_and_coverage_on_known_sets():
    rng = np.random.default_rng(0)
    blob = rng.normal(size=(200, 3))
    assert q.precision_recall(blob, blob.copy(), k=3) == (1.0, 1.0)
    assert q.precision_recall(blob, blob + 100.0, k=3) == (0.0, 0.0)
    # samples from one corner of the real set: faithful (precision) but not diverse (recall)
    corner = blob[blob[:, 0] > 1.0]
    precision, recall = q.precision_recall(blob, corner, k=3)
    assert precision == 1.0 and recall < 0.5
    with pytest.raises(BadConfig, match="k=5"):
        q.precision_recall(blob[:5], blob[:5], k=5)
    assert q.class_coverage(np.arange(100) % 4, 4)["coverage"] == pytest.approx(1.0)
    one = q.class_coverage(np.full(50, 2), 4)
    assert one == {"coverage": 0.0, "classes_covered": 1, "class_histogram": [0, 0, 50, 0]}


# -- scores on digits ------------------------------------------------------------------------------


def test_reference_classifier_classifies_digits(reference, digits):
    assert reference.test_accuracy > 0.93
    assert reference.features(digits.test[:7]).shape == (7, q.ReferenceSettings().features)
    assert (reference.predict(digits.test) == digits.test_labels.numpy()).mean() == \
        pytest.approx(reference.test_accuracy)


def test_real_images_score_at_the_floor_and_noise_far_from_it(digits, reference, floor):
    assert floor["n_samples"] == 1000 and floor["precision"] > 0.85 and floor["recall"] > 0.85
    assert floor["coverage"] > 0.98 and floor["classes_covered"] == 10
    assert floor["nn_ratio"] == 1.0 and floor["memorized_fraction"] == 0.0
    assert floor["copy_rate"] == floor["copy_rate_real"] == 0.0  # no digit repeats a train one

    # other real images than the floor's (a different subset of the train split)
    other = digits.train[np.random.default_rng(1).permutation(len(digits.train))[:1000]]
    real = q.quality_scores(other, digits, reference)
    assert real["frechet_distance"] < 2 * floor["frechet_distance"]
    assert real["precision"] > 0.85 and real["recall"] > 0.85 and real["classes_covered"] == 10
    held_out = q.quality_scores(digits.test, digits, reference)
    assert held_out["nn_ratio"] == 1.0  # the test split is its own memorization reference

    noise = torch.randint(0, digits.levels, (1000, 1, 8, 8),
                          generator=torch.Generator().manual_seed(0))
    bad = q.quality_scores(noise, digits, reference)
    assert bad["frechet_distance"] > 20 * floor["frechet_distance"]
    assert bad["precision"] < 0.15 and bad["recall"] < 0.15
    assert bad["nn_ratio"] > 2 and bad["memorized_fraction"] == 0.0


def test_a_one_digit_generator_has_low_recall_and_coverage(digits, reference, floor):
    threes = noisy(digits.train[digits.train_labels == 3], digits.levels)
    scores = q.quality_scores(threes, digits, reference)
    assert scores["classes_covered"] == 1 and scores["coverage"] < 0.2
    assert scores["class_histogram"][3] > 0.9 * len(threes)
    assert scores["recall"] < 0.3 and scores["precision"] > 0.6  # faithful, not diverse
    assert scores["frechet_distance"] > 10 * floor["frechet_distance"]


def test_copied_training_images_are_memorization(digits, reference):
    scores = q.quality_scores(digits.train[:500], digits, reference)
    assert 0 < scores["nn_ratio"] < 0.01 and scores["memorized_fraction"] == 1.0
    assert scores["copy_rate"] == 1.0 and scores["copy_rate_real"] == 0.0
    assert scores["memorized_fraction_note"] is None


# -- memorization where test images repeat training images -----------------------------------------


def test_memorization_scores_on_distances_with_ties_have_exact_answers():
    step = 0.5
    # a test split where 30 of 100 images are copies (d = 0): t = 0 and f_r = 0.3
    d_test = np.r_[np.zeros(30), np.full(70, 2 * step)]
    held_out = q.memorization_scores(d_test, d_test, step)
    assert held_out == {"nn_ratio": 1.0, "memorized_fraction": 0.0,
                        "memorized_fraction_note": None, "copy_rate": 0.3, "copy_rate_real": 0.3}
    # half copies, half fresh draws: m = (0.65 - 0.3) / 0.7 = 0.5, the mean distance halves
    half = np.r_[np.zeros(50), d_test[::2]]
    scores = q.memorization_scores(half, d_test, step)
    assert scores["memorized_fraction"] == pytest.approx(0.5)
    assert scores["copy_rate"] == 0.65 and scores["nn_ratio"] == pytest.approx(0.5)
    copier = q.memorization_scores(np.zeros(40), d_test, step)
    assert copier["memorized_fraction"] == 1.0 and copier["copy_rate"] == 1.0
    assert copier["nn_ratio"] == pytest.approx((step / 100) / d_test.mean())  # floored, > 0
    far = q.memorization_scores(np.full(40, 3.0), d_test, step)  # fewer copies than held out
    assert far["memorized_fraction"] == 0.0 and far["nn_ratio"] > 1
    # every test image a copy: no estimate, said so, and a ratio of 1 rather than 0 / 0
    undecided = q.memorization_scores(np.zeros(40), np.zeros(100), step)
    assert undecided["memorized_fraction"] is None and undecided["nn_ratio"] == 1.0
    assert "100% of the test images are exact copies" in undecided["memorized_fraction_note"]
    assert "cannot be told apart" in undecided["memorized_fraction_note"]


def picture_datasets(registry):
    """Every registered labelled image dataset that is pictures (not 2-d points)."""
    for name, spec in registry.datasets.items():
        if spec.kind == "image":
            data = load_dataset(registry, name)
            if not data.points and data.train_labels is not None:
                yield name, data


def test_copying_the_training_set_is_caught_on_every_dataset(registry):
    """A "model" that returns training images, against held-out images, on every dataset: on
    digits no test image is a training image, on shapes-8 every one is (and there distances
    cannot tell copying from generalizing, which the scores say), on shapes-16 about 80%."""
    seen = {}
    for name, data in picture_datasets(registry):
        pick = np.sort(np.random.default_rng(0).permutation(len(data.train))[:300])
        copier, held_out = q.memorization(data.train[pick], data), q.memorization(data.test, data)
        noise = q.memorization(torch.randint(0, data.levels, (300, *data.train.shape[1:]),
                                             generator=torch.Generator().manual_seed(0)), data)
        for scores in (copier, held_out, noise):
            assert np.isfinite(scores["nn_ratio"]) and scores["nn_ratio"] > 0, name
        assert held_out["nn_ratio"] == 1.0 and noise["nn_ratio"] > 2, name
        assert copier["copy_rate"] == 1.0 and noise["copy_rate"] == 0.0, name
        assert held_out["copy_rate"] == copier["copy_rate_real"] == held_out["copy_rate_real"]
        seen[name] = held_out["copy_rate_real"]
        if held_out["memorized_fraction"] is None:  # nearly every test image repeats a train one
            assert held_out["copy_rate_real"] >= q.UNDECIDED_SHARE, name
            assert copier["memorized_fraction"] is None and copier["nn_ratio"] == 1.0, name
            assert "cannot be told apart" in copier["memorized_fraction_note"], name
            continue
        assert held_out["memorized_fraction"] == 0.0 and noise["memorized_fraction"] == 0.0, name
        assert copier["memorized_fraction"] == 1.0 and copier["nn_ratio"] < 0.3, name
    assert {"digits", "mnist", "shapes-8", "shapes", "shapes-32"} <= set(seen)
    assert seen["digits"] == seen["mnist"] == 0.0 and seen["shapes-8"] == 1.0
    assert 0.5 < seen["shapes"] < 0.95 and 0.1 < seen["shapes-32"] < 0.5  # ties that matter


def test_fresh_shapes_score_like_held_out_data_and_half_copies_half_memorized(registry):
    from genzoo.plugins.datasets import make_shapes

    data = load_dataset(registry, "shapes-32")
    fresh = torch.from_numpy(make_shapes(1000, 32, np.random.default_rng(101))[0])
    scores = q.memorization(fresh, data)  # new draws from the same factors: not copies
    assert scores["memorized_fraction"] < 0.05 and scores["nn_ratio"] == pytest.approx(1, abs=0.1)
    assert scores["copy_rate"] == pytest.approx(scores["copy_rate_real"], abs=0.05)
    pick = np.random.default_rng(1).permutation(len(data.train))[:500]
    half = q.memorization(torch.cat([fresh[:500], data.train[pick]]), data)
    assert half["memorized_fraction"] == pytest.approx(0.5, abs=0.1)
    assert half["nn_ratio"] == pytest.approx(0.5, abs=0.1)


def test_samples_that_do_not_fit_the_data_are_bad_data(digits, reference):
    with pytest.raises(BadData, match=r"do not fit dataset 'digits'"):
        q.quality_scores(torch.zeros(10, 1, 28, 28, dtype=torch.long), digits, reference)
    with pytest.raises(BadData, match=r"outside dataset 'digits'"):
        q.quality_scores(torch.full((10, 1, 8, 8), 17), digits, reference)


# -- the cache -------------------------------------------------------------------------------------


def test_the_cached_classifier_is_reused(ref_store, digits, reference):
    weights, meta = q.reference_paths(ref_store, "digits")
    before = (weights.stat().st_mtime_ns, json.loads(meta.read_text())["created_at"])
    again = q.reference_classifier(ref_store, "digits", digits)
    assert q.reference_cached(ref_store, "digits") and not q.reference_cached(ref_store, "mnist")
    assert reference.trained_now and not again.trained_now
    assert (weights.stat().st_mtime_ns, json.loads(meta.read_text())["created_at"]) == before
    assert again.test_accuracy == reference.test_accuracy
    x = digits.test[:20]
    assert np.array_equal(again.features(x), reference.features(x))


def test_a_corrupt_or_mismatched_cache_is_retrained_with_a_warning(tmp_path, digits):
    store = RunStore(tmp_path / "home")
    rng_state = torch.get_rng_state()
    first = q.reference_classifier(store, "digits", digits, TINY)
    assert torch.equal(torch.get_rng_state(), rng_state)  # seeded without touching the caller's
    weights, meta = q.reference_paths(store, "digits")
    payload = bytearray(weights.read_bytes())
    payload[-20:] = b"\x00" * 20  # corrupt the tensors, keep the length
    weights.write_bytes(bytes(payload))
    with pytest.warns(UserWarning, match="SHA-256.*retraining"):
        second = q.reference_classifier(store, "digits", digits, TINY)
    assert second.trained_now and second.test_accuracy == first.test_accuracy  # seeded
    assert not q.reference_classifier(store, "digits", digits, TINY).trained_now

    # a cache made for other data (same name, other shape) is not trusted either
    info = json.loads(meta.read_text())
    meta.write_text(json.dumps({**info, "shape": [1, 28, 28]}))
    with pytest.warns(UserWarning, match="shape is"):
        assert q.reference_classifier(store, "digits", digits, TINY).trained_now


def test_unlabelled_and_series_data_are_refused(tmp_path, digits):
    store = RunStore(tmp_path / "home")
    unlabelled = ImageData(name="blank", train=digits.train, test=digits.test, levels=17)
    with pytest.raises(BadData, match="dataset 'blank' has no labels: quality metrics need a "
                                      "labelled dataset to train the reference classifier"):
        q.reference_classifier(store, "blank", unlabelled)
    with pytest.raises(BadData, match="'sunspots' is a series dataset"):
        q.reference_classifier(store, "sunspots", split_series("sunspots", np.arange(30.0)))
    assert not (store.home / "reference").exists()


def test_point_datasets_are_refused_with_a_pointer_to_the_densities_page(tmp_path, registry):
    store = RunStore(tmp_path / "home")
    moons = load_dataset(registry, "moons")
    message = (r"sample-quality scores need images; 'moons' is a 2-d points dataset: compare "
               r"its runs on the dashboard's 2-d densities page, by KL\(true \|\| model\) and "
               r"missed mass")
    with pytest.raises(BadData, match=message):
        q.reference_classifier(store, "moons", moons)
    spec = registry.model("independent")
    model = spec.model_class(spec.config_class(), moons.info)
    model.fit(moons.train)
    with pytest.raises(BadData, match=message):  # what every quality_* metric computes
        registry.metrics["quality_frechet_distance"].compute(model, moons, store=store, n=50)
    assert not (store.home / "reference").exists()  # no reference net was trained


def test_too_few_samples_say_how_many_are_needed(registry, digits, reference, ref_store):
    with pytest.raises(BadData, match=r"need at least 4 samples \(the k=3 nearest neighbours "
                                      r"of a point, and the point\), got 1"):
        q.quality_scores(digits.test[:1], digits, reference)
    # 3 samples pass a covariance but not k=3 nearest neighbours; k=2 asks one fewer
    with pytest.raises(BadData, match="need at least 4 samples .*, got 3"):
        q.quality_scores(digits.test[:3], digits, reference)
    with pytest.raises(BadData, match="need at least 3 samples .*, got 2"):
        q.quality_scores(digits.test[:2], digits, reference, k=2)
    spec = registry.model("independent")
    model = spec.model_class(spec.config_class(), digits.info)
    model.fit(digits.train)
    with pytest.raises(BadConfig, match="quality metrics need n >= 2 samples, got 1"):
        q.draw_samples(model, 1)
    with pytest.raises(BadConfig, match="need at least 4 samples .*, got 3"):
        q.model_quality(model, digits, store=ref_store, n=3)  # refused before sampling


# -- models, the plugin and the CLI ----------------------------------------------------------------


def test_metric_specs_compute_their_score_on_a_model(registry, digits, ref_store):
    spec = registry.model("independent")
    model = spec.model_class(spec.config_class(), digits.info)
    model.fit(digits.train)
    assert torch.equal(q.draw_samples(model, 30, seed=3), q.draw_samples(model, 30, seed=3))
    scores = q.model_quality(model, digits, store=ref_store, n=300, seed=1)
    for key in ("frechet_distance", "precision", "recall", "coverage", "nn_ratio"):
        metric = registry.metrics[f"quality_{key}"]
        assert metric.applies_to == ("image",) and metric.summary
        value = metric.compute(model, digits, store=ref_store, n=300, seed=1)
        assert value == pytest.approx(scores[key])
    assert registry.metrics["quality_precision"].higher_is_better
    assert not registry.metrics["quality_frechet_distance"].higher_is_better


def test_cli_quality_scores_a_run_and_keeps_the_scores(ref_store, isolated_home, floor):
    shutil.copytree(ref_store.home / "reference", isolated_home / "reference")  # no retraining
    run_id = last_json(run("train", "independent", "-d", "digits", "--steps", 0, "--json",
                           "-q"))["run_id"]
    said = json.loads(run("quality", run_id, "-n", 400, "--json").stdout)
    scores, stored = said["scores"], RunStore().get(run_id).metrics
    assert said["n"] == scores["n_samples"] == stored["quality_n_samples"] == 400
    for key in q.SCORE_KEYS:
        assert stored[f"quality_{key}"] == pytest.approx(scores[key])
    assert sum(stored["quality_class_histogram"]) == 400
    # independent pixels: blurry averages, far from the floor but not pure noise
    assert scores["frechet_distance"] > 5 * said["real"]["frechet_distance"]
    assert 0.05 < scores["precision"] < said["real"]["precision"]
    assert scores["nn_ratio"] > 1.2

    text = run("quality", run_id, "-n", 400).stdout
    assert "frechet_distance" in text and "real data" in text and run_id in text
    real = json.loads(run("quality", "--real", "digits", "--json").stdout)["real"]
    assert real["frechet_distance"] == pytest.approx(floor["frechet_distance"])


def strict_json(text: str):
    """``text`` parsed as strict JSON: a NaN or Infinity token fails the test."""
    def refuse(token):
        raise AssertionError(f"{token} in --json output, which is not JSON")

    return json.loads(text, parse_constant=refuse)


def test_cli_json_has_no_nan_where_a_score_is_undefined(monkeypatch):
    monkeypatch.setattr(q, "ReferenceSettings", lambda: TINY)  # the classifier is not tested here
    real = strict_json(run("quality", "--real", "shapes-8", "--json").stdout)["real"]
    assert real["memorized_fraction"] is None and real["nn_ratio"] == 1.0
    assert "cannot be told apart" in real["memorized_fraction_note"]
    assert real["copy_rate"] == real["copy_rate_real"] == 1.0

    run_id = train("independent", "-d", "shapes-8", "--steps", 0)
    said = strict_json(run("quality", run_id, "-n", 100, "--json").stdout)
    scores, stored = said["scores"], RunStore().get(run_id).metrics
    assert scores["memorized_fraction"] is None and stored["quality_memorized_fraction"] is None
    assert stored["quality_memorized_fraction_note"] == scores["memorized_fraction_note"]
    assert np.isfinite(scores["nn_ratio"]) and scores["nn_ratio"] >= 1  # not closer than data
    text = run("quality", run_id, "-n", 100).stdout
    assert "memorized_fraction  n/a" in text and "cannot be told apart" in text

    # a number that is not finite, however it reached a run, is null with what it was
    RunStore().merge_metrics(run_id, {"test_bits_per_dim": float("nan"),
                                      "parzen_bits_per_dim_estimate": float("inf")})
    metrics = strict_json(run("runs", "--json").stdout)[0]["metrics"]
    assert metrics["test_bits_per_dim"] is None and metrics["parzen_bits_per_dim_estimate"] is None
    assert metrics["test_bits_per_dim_note"] == "not a finite number (nan)"
    assert metrics["parzen_bits_per_dim_estimate_note"] == "not a finite number (inf)"


def test_cli_quality_errors_are_one_line():
    cases = [(["nope"], "error: no run with id 'nope'"),
             ([], "give a RUN_ID, or --real DATASET"),
             (["--real", "sunspots"], "'sunspots' is a series dataset")]
    ar_run = last_json(run("train", "ar", "-d", "sunspots", "--json", "-q"))["run_id"]
    cases.append(([ar_run], "quality metrics apply to image datasets"))
    # 2-d points are 1x2 "images": too small for the reference CNN, scored on their own page
    points = "sample-quality scores need images; {!r} is a 2-d points dataset"
    cases.append((["--real", "moons"], points.format("moons")))
    toy_run = last_json(run("train", "independent", "-d", "8-gaussians", "--steps", 0, "--json",
                            "-q"))["run_id"]
    cases.append(([toy_run], points.format("8-gaussians")))
    for args, message in cases:
        result = run("quality", *args, ok=False)
        assert result.exit_code == 2, (args, result.output)
        assert message in result.output and "Traceback" not in result.output
        assert len(result.output.strip().splitlines()) == 1, result.output
        if "points dataset" in message:
            assert "2-d densities page" in result.output and "missed mass" in result.output

    # too few samples: click refuses the option and names the least it takes
    digits_run = last_json(run("train", "independent", "-d", "digits", "--steps", 0, "--json",
                               "-q"))["run_id"]
    result = run("quality", digits_run, "-n", 5, ok=False)
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "Invalid value for '-n': 5 is not in the range 10<=x" in result.output
    assert "quality_n_samples" not in RunStore().get(digits_run).metrics  # nothing was scored
