"""Sample quality for every image model, likelihood or not: scores computed from samples alone.

A likelihood (bits/dim) ranks the explicit-density models but says nothing about a GAN, and a
good likelihood does not guarantee good samples. These measurements need only ``model.sample``:

* A **reference classifier** per labelled dataset (a small CNN, trained once on the train split
  and cached in the runs store as safetensors + JSON) maps an image to features phi(x) (its
  penultimate layer) and to a predicted class. Every feature metric lives in that space, the
  way FID uses an Inception network (Heusel et al. 2017), but fitted to the data at hand.
* **Fréchet distance** (Heusel et al., "GANs Trained by a Two Time-Scale Update Rule Converge
  to a Local Nash Equilibrium", NeurIPS 2017) between Gaussians fitted to real (test split)
  and generated features:

      FD = |mu_r - mu_g|^2 + tr(S_r + S_g - 2 (S_r S_g)^{1/2})          lower is better

  computed as tr((S_r S_g)^{1/2}) = sum_i sqrt(lambda_i(S_r^{1/2} S_g S_r^{1/2})), which is real
  and symmetric by construction (no imaginary parts to discard).
* **Precision and recall** (Kynkäänniemi et al., "Improved Precision and Recall Metric for
  Assessing Generative Models", NeurIPS 2019): a set's manifold is the union of balls around
  its points, each with the radius of the k-th nearest neighbour in the same set;

      precision = share of generated samples inside the real manifold     (fidelity)
      recall    = share of real samples inside the generated manifold     (diversity)

  on the same number of real and generated points (the radii shrink as a set grows).
* **Class coverage** (mode collapse): the histogram of predicted classes of the samples, its
  entropy H divided by log K for K classes (1: every class equally often; 0: one class), and
  the number of classes drawn at least 1/(4K) of the time. (Not the "coverage" of Naeem et al.
  2020: here it is over classes.)
* **Memorization**: d(x) = the pixel-space distance (levels scaled to [0, 1]) from x to its
  nearest training image, over the samples (d_s, n_s of them) and over the test split (d_t,
  n_t: held-out data, what a model that draws fresh images from the data distribution matches).
  Images are integer levels, so d is computed exactly: 0 for a copy, at least one level step
  delta = 1/(levels - 1) otherwise. On data with repeated images the test split is full of
  exact copies of training images (all of shapes-8, about 80% of shapes-16, a quarter of
  shapes-32, none of digits or mnist), so every definition below is tie-aware: a quantile or
  the median of d_t may be 0.

      copy_rate      = share of samples with d_s = 0      (exact copies of a training image)
      copy_rate_real = share of test images with d_t = 0  (the copy rate of fresh data)

  A model that draws fresh data has copy_rate ~ copy_rate_real; one that replays its training
  set has copy_rate = 1.

      t    = the 5th percentile of d_t (an observed distance: the ceil(0.05 n_t)-th smallest)
      f_r  = share of test images with d_t <= t    (~0.05 without ties; copy_rate_real if t = 0)
      f    = share of samples with d_s <= t
      memorized_fraction = clip((f - f_r) / (1 - f_r), 0, 1)                  lower is better

  the estimate of m when the samples are a mixture of m copies of training images (d = 0, so
  within t) and 1 - m fresh draws (within t at the rate f_r): 0 for held-out data by
  construction, 1 for a model that copies, on every dataset where fresh data is told apart
  from copies. Where at least 95% of the test images lie within t (shapes-8: every test image
  is a training image) copying and generalizing give the same distances, so there is no such
  estimate: ``memorized_fraction`` is None and ``memorized_fraction_note`` says why (it is None
  when the fraction is defined). A model with fewer near copies than held-out data scores 0.

      nn_ratio = max(mean d_s, eps) / max(mean d_t, eps),   eps = delta / n_t

  the mean distance to the nearest training image relative to held-out data's: about 1 when
  the samples are as novel as held-out images, near 0 when the model copies training images,
  above 1 when the samples are farther from every training image than real images are (as
  noise is). The mean, not the median: the median of d_t is 0 when most test images are
  copies (shapes-16) and would not see a model that copies more often than fresh data does,
  while the mean counts every copy as a 0. eps is the smallest positive mean n_t test
  distances can have (one image one level step away), so the ratio is always finite and
  positive: 1 when neither set has a distance above 0 (shapes-8: no evidence either way).

``run_quality`` samples a stored run, computes the scores and keeps them with the run's metrics
(``quality_*``); ``real_data_scores`` is the floor those scores are read against.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import math
import re
import time
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .checkpoints import atomic_write_bytes
from .data import ImageData
from .errors import BadConfig, BadData

CACHE_FORMAT = 1
SAMPLE_BATCH = 250  # images drawn per model.sample call: bounds the memory of a large n
# The keys quality_scores returns; run_quality stores each as f"quality_{key}".
# memorized_fraction may be None (then its note says why); copy_rate_real and n_samples are
# what the others are read against, not scores of the model.
SCORE_KEYS = ("frechet_distance", "precision", "recall", "coverage", "classes_covered",
              "nn_ratio", "memorized_fraction", "copy_rate", "copy_rate_real", "n_samples")
# The reasons beside a score that can be None; also returned and stored as quality_<key>.
NOTE_KEYS = ("memorized_fraction_note",)
# Units and which way is better: the MetricSpecs of genzoo.plugins.quality, in the registry.


# -- the reference classifier -----------------------------------------------------------------


@dataclass(frozen=True)
class ReferenceSettings:
    """The reference CNN and its training: small enough to train in seconds on a CPU.

    Two 3x3 conv layers (``channels``), a 2x2 max-pool after each (the first only on images of
    16 pixels or more), an adaptive average pool to 4x4, then ``features`` units (the feature
    space) and the class logits. Trained with Adam on about ``examples`` images (whole epochs,
    at least 2): some 14 epochs of digits, 5 of mnist.
    """

    channels: tuple[int, int] = (16, 32)
    features: int = 64
    examples: int = 20_000
    batch_size: int = 32
    lr: float = 2e-3
    seed: int = 0

    def validate(self) -> None:
        if len(self.channels) != 2 or min(self.channels) < 1:
            raise BadConfig(f"reference channels must be two positive widths, got {self.channels}")
        for name in ("features", "examples", "batch_size"):
            if getattr(self, name) < 1:
                raise BadConfig(f"reference {name} must be >= 1, got {getattr(self, name)}")
        if not self.lr > 0:
            raise BadConfig(f"reference lr must be positive, got {self.lr}")

    def epochs(self, n_train: int) -> int:
        """Passes over a train split of ``n_train`` images."""
        return max(2, math.ceil(self.examples / max(n_train, 1)))


class ReferenceNet(nn.Module):
    """The classifier: ``(N, C, H, W)`` levels -> (features ``(N, F)``, logits ``(N, K)``)."""

    def __init__(self, shape: tuple[int, int, int], levels: int, n_classes: int,
                 settings: ReferenceSettings):
        super().__init__()
        channels, height, width = shape
        c1, c2 = settings.channels
        first_pool = nn.MaxPool2d(2) if min(height, width) >= 16 else nn.Identity()
        self.levels = levels
        self.body = nn.Sequential(
            nn.Conv2d(channels, c1, 3, padding=1), nn.ReLU(), first_pool,
            nn.Conv2d(c1, c2, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.AdaptiveAvgPool2d(4), nn.Flatten(),  # (N, c2 * 16)
            nn.Linear(c2 * 16, settings.features), nn.ReLU())  # (N, F): the feature space
        self.head = nn.Linear(settings.features, n_classes)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        scaled = x.float() / (self.levels - 1) - 0.5  # levels -> [-0.5, 0.5]
        features = self.body(scaled)
        return features, self.head(features)


class ReferenceClassifier:
    """A trained reference CNN for one dataset: features, predicted classes, test accuracy."""

    def __init__(self, net: ReferenceNet, meta: dict, *, trained_now: bool):
        self.net = net.eval()
        self.meta = meta
        self.trained_now = trained_now  # False when it was read from the cache

    @property
    def test_accuracy(self) -> float:
        """Share of the test split classified correctly."""
        return float(self.meta["test_accuracy"])

    @property
    def n_classes(self) -> int:
        return int(self.meta["n_classes"])

    @torch.no_grad()
    def embed(self, x, batch: int = 500) -> tuple[np.ndarray, np.ndarray]:
        """``(features (N, F) float64, predicted classes (N,) int64)`` of images ``x``."""
        x = torch.as_tensor(np.asarray(x)) if not torch.is_tensor(x) else x
        feats, preds = [], []
        for start in range(0, len(x), batch):
            f, logits = self.net(x[start:start + batch].cpu())
            feats.append(f.double().numpy())
            preds.append(logits.argmax(1).numpy())
        if not feats:
            return np.zeros((0, self.net.head.in_features)), np.zeros(0, dtype=np.int64)
        return np.concatenate(feats), np.concatenate(preds).astype(np.int64)

    def features(self, x) -> np.ndarray:
        """Penultimate-layer features ``(N, F)`` of images ``x`` (int levels, (N, C, H, W))."""
        return self.embed(x)[0]

    def predict(self, x) -> np.ndarray:
        """Predicted class ``(N,)`` of images ``x``."""
        return self.embed(x)[1]


def cache_key(dataset_name: str, options: dict | None = None) -> str:
    """The reference file stem for a dataset and its options: ``shapes`` or ``shapes-size=32``."""
    parts = [dataset_name] + [f"{k}={options[k]}" for k in sorted(options or {})]
    return re.sub(r"[^A-Za-z0-9_.=-]", "_", "-".join(parts))


def reference_paths(store, dataset_name: str) -> tuple[Path, Path]:
    """``(weights, metadata)`` of a dataset's cached reference classifier in the runs store."""
    folder = Path(store.home) / "reference"
    stem = cache_key(dataset_name)
    return folder / f"{stem}.safetensors", folder / f"{stem}.json"


def reference_cached(store, dataset_name: str, options: dict | None = None) -> bool:
    """Whether a reference classifier is cached for the dataset (not checked against the data:
    :func:`reference_classifier` does that, and retrains a stale one)."""
    weights, meta = reference_paths(store, cache_key(dataset_name, options))
    return weights.is_file() and meta.is_file()


def require_images(data, dataset_name: str) -> None:
    """BadData unless ``data`` is a dataset of pictures (not series, not 2-d points)."""
    if not isinstance(data, ImageData):
        raise BadData(f"quality metrics apply to image datasets; {dataset_name!r} is a "
                      f"{getattr(data, 'kind', type(data).__name__)} dataset")
    if data.points:
        # 1x2 "images" are too small for the reference CNN, and a grid has better scores
        raise BadData(f"sample-quality scores need images; {dataset_name!r} is a 2-d points "
                      "dataset: compare its runs on the dashboard's 2-d densities page, by "
                      "KL(true || model) and missed mass")


def require_labelled(data, dataset_name: str) -> int:
    """The number of classes of a labelled image dataset; BadData otherwise."""
    require_images(data, dataset_name)
    if data.train_labels is None or data.test_labels is None:
        raise BadData(f"dataset {dataset_name!r} has no labels: quality metrics need a labelled "
                      "dataset to train the reference classifier")
    return int(max(data.train_labels.max(), data.test_labels.max())) + 1


def _fingerprint(data: ImageData) -> str:
    """SHA-256 of the splits and labels: a cached classifier fits exactly this data."""
    digest = hashlib.sha256()
    for tensor in (data.train, data.train_labels, data.test, data.test_labels):
        digest.update(tensor.contiguous().numpy().tobytes())
    return digest.hexdigest()


def _expected_meta(dataset_name: str, data: ImageData, n_classes: int,
                   settings: ReferenceSettings) -> dict:
    return {"format": CACHE_FORMAT, "dataset": dataset_name, "shape": list(data.train.shape[1:]),
            "levels": data.levels, "n_classes": n_classes,
            "architecture": json.loads(json.dumps(asdict(settings))),  # tuples as lists
            "data_sha256": _fingerprint(data)}


def _load_cached(weights: Path, meta_path: Path, expected: dict, net: ReferenceNet):
    """The cached metadata with ``net`` loaded, or the reason the cache cannot be used."""
    from safetensors.torch import load

    if not meta_path.is_file():
        return None, None  # never trained: nothing to warn about
    try:
        meta = json.loads(meta_path.read_text())
        payload = weights.read_bytes()
    except (OSError, ValueError) as exc:
        return None, f"unreadable ({type(exc).__name__}: {exc})"
    for key, value in expected.items():
        if meta.get(key) != value:
            return None, f"{key} is {meta.get(key)!r}, the data need {value!r}"
    if hashlib.sha256(payload).hexdigest() != meta.get("weights_sha256"):
        return None, f"{weights.name} does not match its SHA-256 (corrupt or replaced)"
    try:
        net.load_state_dict(load(payload))
    except Exception as exc:  # a truncated file, wrong tensors: retrain rather than fail
        return None, f"{weights.name} cannot be loaded ({type(exc).__name__})"
    return meta, None


def _train(net: ReferenceNet, data: ImageData, settings: ReferenceSettings) -> None:
    """Fit ``net`` to the train split with cross-entropy (seeded: the same data, the same net)."""
    generator = torch.Generator().manual_seed(settings.seed)
    optimizer = torch.optim.Adam(net.parameters(), lr=settings.lr)
    x, y = data.train, data.train_labels.long()
    net.train()
    for _ in range(settings.epochs(len(x))):
        order = torch.randperm(len(x), generator=generator)
        for start in range(0, len(x), settings.batch_size):
            idx = order[start:start + settings.batch_size]
            loss = nn.functional.cross_entropy(net(x[idx])[1], y[idx])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
    net.eval()


def _new_net(data: ImageData, n_classes: int, settings: ReferenceSettings) -> ReferenceNet:
    """A freshly initialized net, seeded without touching the caller's global torch RNG."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(settings.seed)
        return ReferenceNet(tuple(data.train.shape[1:]), data.levels, n_classes, settings)


def reference_classifier(store, dataset_name: str, data,
                         settings: ReferenceSettings | None = None) -> ReferenceClassifier:
    """The dataset's reference classifier: read from the runs store, or trained and cached there.

    The cache is ``store.home / "reference" / f"{dataset_name}.safetensors"`` (characters other
    than letters, digits and ``_.=-`` in the name replaced by ``_``) plus a JSON file
    with the dataset name, data shape, levels, classes, a SHA-256 of the data, the architecture,
    the test accuracy and the SHA-256 of the weights. A cache that does not match the data or
    whose weights fail their hash is retrained with a warning; nothing is ever unpickled.
    """
    from safetensors.torch import save

    settings = settings or ReferenceSettings()
    settings.validate()
    n_classes = require_labelled(data, dataset_name)
    weights, meta_path = reference_paths(store, dataset_name)
    expected = _expected_meta(dataset_name, data, n_classes, settings)
    net = _new_net(data, n_classes, settings)
    meta, problem = _load_cached(weights, meta_path, expected, net)
    if meta is not None:
        return ReferenceClassifier(net, meta, trained_now=False)
    if problem:
        warnings.warn(f"reference classifier for {dataset_name!r} in {meta_path.parent}: "
                      f"{problem}; retraining it", stacklevel=2)
        net = _new_net(data, n_classes, settings)  # fresh weights: the load may have written some
    started = time.perf_counter()
    _train(net, data, settings)
    seconds = time.perf_counter() - started
    classifier = ReferenceClassifier(net, {}, trained_now=True)
    accuracy = float((classifier.predict(data.test) == data.test_labels.numpy()).mean())
    payload = save({k: v.detach().cpu().contiguous() for k, v in net.state_dict().items()})
    meta = {**expected, "test_accuracy": accuracy, "train_seconds": round(seconds, 3),
            "weights_sha256": hashlib.sha256(payload).hexdigest(), "created_at": time.time()}
    weights.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(weights, payload)  # the weights first: the JSON vouches for them
    atomic_write_bytes(meta_path, json.dumps(meta, indent=1).encode())
    classifier.meta = meta
    return classifier


# -- the scores ----------------------------------------------------------------------------------


def frechet_distance(real: np.ndarray, generated: np.ndarray) -> float:
    """Fréchet distance between Gaussians fitted to two feature sets ``(N, F)`` and ``(M, F)``."""
    mu_r, mu_g = real.mean(0), generated.mean(0)
    s_r = np.atleast_2d(np.cov(real, rowvar=False))
    s_g = np.atleast_2d(np.cov(generated, rowvar=False))
    # tr((S_r S_g)^1/2) via the symmetric S_r^1/2 S_g S_r^1/2, which has the same eigenvalues
    w, v = np.linalg.eigh(s_r)
    root_r = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    cross = np.sqrt(np.clip(np.linalg.eigvalsh(root_r @ s_g @ root_r), 0, None)).sum()
    value = float(((mu_r - mu_g) ** 2).sum() + np.trace(s_r) + np.trace(s_g) - 2 * cross)
    return max(value, 0.0)  # rounding can leave -1e-12 for identical sets


def _manifold_radii(points: np.ndarray, k: int) -> np.ndarray:
    """Distance from each point to its k-th nearest other point of the same set."""
    from sklearn.neighbors import NearestNeighbors

    distances, _ = NearestNeighbors(n_neighbors=k + 1).fit(points).kneighbors(points)
    return distances[:, k]  # column 0 is the point itself


def _inside(points: np.ndarray, centres: np.ndarray, radii: np.ndarray) -> np.ndarray:
    """Whether each point lies in at least one ball (centre, radius)."""
    from sklearn.metrics import pairwise_distances

    return (pairwise_distances(points, centres) <= radii[None, :]).any(axis=1)


def precision_recall(real: np.ndarray, generated: np.ndarray, k: int = 3) -> tuple[float, float]:
    """Improved precision and recall with k-NN manifolds, on equally many real and generated."""
    if not 1 <= k < min(len(real), len(generated)):
        raise BadConfig(f"k={k} needs 1 <= k < the number of points "
                        f"({min(len(real), len(generated))})")
    precision = _inside(generated, real, _manifold_radii(real, k)).mean()
    recall = _inside(real, generated, _manifold_radii(generated, k)).mean()
    return float(precision), float(recall)


def class_coverage(predictions: np.ndarray, n_classes: int) -> dict:
    """Predicted-class histogram, its entropy over log K, and the classes seen >= 1/(4K)."""
    histogram = np.bincount(predictions, minlength=n_classes)
    p = histogram / max(len(predictions), 1)
    entropy = -(p[p > 0] * np.log(p[p > 0])).sum()
    # + 0.0: one class gives an entropy of -0.0, printed "-0"
    return {"coverage": float(entropy / math.log(n_classes)) + 0.0 if n_classes > 1 else 1.0,
            "classes_covered": int((p >= 1 / (4 * n_classes)).sum()),
            "class_histogram": [int(c) for c in histogram]}


def _pixels(images) -> np.ndarray:
    """Images as rows of floats in [0, 1] (the levels scaled)."""
    x = images.numpy() if torch.is_tensor(images) else np.asarray(images)
    return x.reshape(len(x), -1).astype(np.float64)


def nearest_train_distances(images, data: ImageData) -> np.ndarray:
    """Pixel-space distance (levels scaled to [0, 1]) from each image to its nearest train image.

    Found on the integer levels, whose squared distances float64 holds exactly, then scaled:
    a copy is at exactly 0 and equal distances are equal floats (ties stay ties).
    """
    from sklearn.neighbors import NearestNeighbors

    index = NearestNeighbors(n_neighbors=1).fit(_pixels(data.train))
    return index.kneighbors(_pixels(images))[0][:, 0] / (data.levels - 1)


MEMORIZATION_QUANTILE = 0.05  # t: this quantile of the test split's distances
UNDECIDED_SHARE = 0.95  # no memorized_fraction when this share of test images lies within t


def memorization_scores(d_samples: np.ndarray, d_test: np.ndarray, step: float) -> dict:
    """The memorization scores from nearest-training-image distances (see the module docstring).

    ``d_samples`` of the samples, ``d_test`` of the test split, ``step`` one level step in the
    same units (1 / (levels - 1)). Returns ``nn_ratio``, ``memorized_fraction`` (None where
    distances cannot tell copies from fresh data), ``memorized_fraction_note`` (why it is None;
    None otherwise), ``copy_rate`` and ``copy_rate_real``.
    """
    d_samples, d_test = np.asarray(d_samples, float), np.asarray(d_test, float)
    copy = step / 2  # every distance that is not 0 is at least one level step
    eps = step / len(d_test)  # the least positive mean of len(d_test) distances
    nn_ratio = max(d_samples.mean(), eps) / max(d_test.mean(), eps)
    t = np.quantile(d_test, MEMORIZATION_QUANTILE, method="inverted_cdf")
    within_real, within = (d_test <= t).mean(), (d_samples <= t).mean()
    copy_rate_real = float((d_test < copy).mean())
    if within_real >= UNDECIDED_SHARE:
        fraction = None
        note = (f"{100 * within_real:.0f}% of the test images are "
                + ("exact copies of training images" if t < copy else
                   f"within {t:.3g} of a training image")
                + ": copying the training set cannot be told apart from generalizing by the "
                  "distance to it; see copy_rate against copy_rate_real")
    else:
        fraction = float(np.clip((within - within_real) / (1 - within_real), 0.0, 1.0))
        note = None
    return {"nn_ratio": float(nn_ratio), "memorized_fraction": fraction,
            "memorized_fraction_note": note, "copy_rate": float((d_samples < copy).mean()),
            "copy_rate_real": copy_rate_real}


def memorization(samples, data: ImageData) -> dict:
    """The memorization scores of samples against the test split (see memorization_scores)."""
    return memorization_scores(nearest_train_distances(samples, data),
                               nearest_train_distances(data.test, data), 1.0 / (data.levels - 1))


def min_samples(k: int = 3) -> int:
    """The fewest samples the scores can be computed on: k-NN radii need k + 1 points."""
    return max(k, 1) + 1


def _too_few(n: int, k: int) -> str:
    return (f"quality metrics need at least {min_samples(k)} samples (the k={k} nearest "
            f"neighbours of a point, and the point), got {n}")


def _check_samples(samples, data: ImageData, k: int = 3) -> torch.Tensor:
    samples = torch.as_tensor(np.asarray(samples)) if not torch.is_tensor(samples) else samples
    samples = samples.detach().cpu()
    if tuple(samples.shape[1:]) != tuple(data.train.shape[1:]) or samples.dim() != 4:
        raise BadData(f"samples of shape {tuple(samples.shape)} do not fit dataset "
                      f"{data.name!r}, whose images are {tuple(data.train.shape[1:])}")
    if len(samples) < min_samples(k):
        raise BadData(_too_few(len(samples), k))
    if samples.is_floating_point() and not torch.equal(samples, samples.round()):
        raise BadData("samples must be integer levels, like the data")
    samples = samples.long()
    if int(samples.min()) < 0 or int(samples.max()) >= data.levels:
        raise BadData(f"sample values lie in [{int(samples.min())}, {int(samples.max())}], "
                      f"outside dataset {data.name!r}'s levels [0, {data.levels})")
    return samples


def quality_scores(samples, data: ImageData, reference: ReferenceClassifier, *,
                   k: int = 3, real=None) -> dict:
    """Every score of ``samples`` (int levels, ``(N, C, H, W)``) against the dataset.

    Fréchet distance uses all samples against all of ``real`` (default: the test split);
    precision and recall use the same number m = min(N, len(real)) of each (a seeded subset of
    the larger set); coverage and memorization use all samples.
    Returns the :data:`SCORE_KEYS` as floats (``classes_covered``, ``n_samples`` ints;
    ``memorized_fraction`` None where it is undefined), the :data:`NOTE_KEYS` (a reason, or
    None) and ``class_histogram``, a list of counts per class.
    """
    samples = _check_samples(samples, data, k)
    real = data.test if real is None else real
    real_features = reference.features(real)
    features, predictions = reference.embed(samples)
    m = min(len(features), len(real_features))
    rng = np.random.default_rng(0)
    real_m = real_features[np.sort(rng.permutation(len(real_features))[:m])]
    gen_m = features[np.sort(rng.permutation(len(features))[:m])]
    precision, recall = precision_recall(real_m, gen_m, k)
    return {"frechet_distance": frechet_distance(real_features, features),
            "precision": precision, "recall": recall,
            **class_coverage(predictions, reference.n_classes),
            **memorization(samples, data), "n_samples": len(samples)}


def real_data_scores(data: ImageData, reference: ReferenceClassifier, *, n: int = 1000,
                     k: int = 3, seed: int = 0) -> dict:
    """The floor: the scores of the data itself, read exactly like a model's.

    Feature scores (Fréchet, precision, recall, coverage): ``n`` training images (a seeded
    subset, at most the whole train split) play the samples and are scored against the test
    split like any model's n samples. That is the score of a model that draws exactly the
    data distribution, measured with the same numbers of images, so the finite-sample bias of
    the Fréchet distance and of the k-NN radii is the same as a model's. (Cutting the test split
    in halves would avoid images the classifier trained on, but on digits two halves of 180
    images double the Fréchet distance through that bias alone; the classifier's own
    train/test gap is smaller.)

    Memorization: training images are at distance 0 from themselves, so there the floor is the
    test split itself, ``nn_ratio`` = 1, ``memorized_fraction`` = 0 (None, with its note, where
    distances cannot tell copies from fresh data) and ``copy_rate`` = ``copy_rate_real`` by
    definition: the novelty of held-out real images, which an ideal model matches.
    """
    n = min(n, len(data.train))
    pick = np.sort(np.random.default_rng(seed).permutation(len(data.train))[:n])
    scores = quality_scores(data.train[pick], data, reference, k=k)
    scores.update(memorization(data.test, data))
    return scores


# -- runs ----------------------------------------------------------------------------------------


def draw_samples(model, n: int, seed: int = 0, n_classes: int | None = None) -> torch.Tensor:
    """``n`` samples from ``model`` with a seeded generator, in batches (int64, on the CPU).

    A class-conditional model gets balanced labels (0, 1, ..., K-1, 0, ...), so every class is
    asked for equally often and coverage measures the model, not the label draw.
    """
    if n < 2:  # no k here: the least any score needs; model_quality and run_quality ask k + 1
        raise BadConfig(f"quality metrics need n >= 2 samples, got {n}")
    generator = torch.Generator(device=model.device).manual_seed(seed)
    conditional = model.conditional and n_classes is not None
    if conditional and "labels" not in inspect.signature(model.sample).parameters:
        conditional = False
    batches, done = [], 0
    with torch.no_grad():
        while done < n:
            size = min(SAMPLE_BATCH, n - done)
            context = {}
            if conditional:
                labels = torch.arange(done, done + size) % n_classes
                context["labels"] = labels.to(model.device)
            batches.append(model.sample(size, generator=generator, **context).cpu())
            done += size
    return torch.cat(batches)


def model_quality(model, data, *, store=None, dataset_name: str | None = None, n: int = 1000,
                  seed: int = 0, k: int = 3) -> dict:
    """The scores of an in-memory model: ``n`` seeded samples against ``data``.

    The reference classifier comes from ``store`` (default: the runs store at ``GENZOO_HOME``)
    under ``dataset_name`` (default ``data.name``), trained there the first time.
    """
    from .store import RunStore

    require_images(data, dataset_name or data.name)  # before a store is opened or a net built
    if n < min_samples(k):
        raise BadConfig(_too_few(n, k))
    store = store if store is not None else RunStore()
    reference = reference_classifier(store, dataset_name or data.name, data)
    samples = draw_samples(model, n, seed, reference.n_classes)
    return quality_scores(samples, data, reference, k=k)


def reference_for_run(store, registry, record, data) -> ReferenceClassifier:
    """The reference classifier of a run's dataset (with its options), checking the data kind."""
    if getattr(data, "kind", None) != "image":
        raise BadData(f"quality metrics apply to image runs; run {record.run_id!r} "
                      f"({record.model} on {record.dataset}) is a {data.kind} run")
    require_images(data, record.dataset)
    return reference_classifier(store, cache_key(record.dataset, record.dataset_options), data)


def run_quality(store, registry, run_id: str, n: int = 1000, seed: int = 0, k: int = 3) -> dict:
    """Sample ``n`` images from a stored run, score them, keep the scores with the run.

    Stored with ``store.merge_metrics`` as ``quality_<key>`` for each of :data:`SCORE_KEYS` and
    :data:`NOTE_KEYS`, plus ``quality_class_histogram``, ``quality_seed`` and
    ``quality_reference_accuracy``.
    Returns those stored values.
    """
    from .runs import load_run

    record = store.get(run_id)
    if n < min_samples(k):  # before the model is loaded and sampled
        raise BadConfig(_too_few(n, k))
    if record.data_info.get("kind") == "series":
        raise BadData(f"quality metrics apply to image runs; run {run_id!r} ({record.model} on "
                      f"{record.dataset}) is a series run")
    loaded = load_run(run_id, store, registry)
    reference = reference_for_run(store, registry, record, loaded.data)
    samples = draw_samples(loaded.model, n, seed, reference.n_classes)
    scores = quality_scores(samples, loaded.data, reference, k=k)
    stored = {f"quality_{key}": value for key, value in scores.items()}
    stored.update(quality_seed=seed, quality_reference_accuracy=reference.test_accuracy)
    store.merge_metrics(run_id, stored)
    return stored
