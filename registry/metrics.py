"""Every number genzoo itself stores with a run, declared once: its key, unit, direction, summary.

The trainer (``training.py``), ``genzoo eval`` (``--iwae``, ``--parzen``) and ``genzoo restore
--table`` write these keys; the dashboard and the CLI read each one's unit and direction from
the registry, where the ``genzoo.run_metrics`` plugin registers :data:`RUN_METRICS` as any
plugin registers its own (the sample-quality scores are ``genzoo.quality``'s). A claim that
names a key no plugin registers fails ``genzoo check-plugin``. Writers and readers use the
constants below, so they agree on the keys.
"""

from __future__ import annotations

from .spec import MetricSpec

TEST_BITS_PER_DIM = "test_bits_per_dim"
VAL_BITS_PER_DIM = "val_bits_per_dim"
TEST_BITS_GIVEN_LABEL = "test_bits_per_dim_given_label"
VAL_BITS_GIVEN_LABEL = "val_bits_per_dim_given_label"
TEST_NATS_PER_OBS = "test_nats_per_obs"
VAL_NATS_PER_OBS = "val_nats_per_obs"
TRAIN_SECONDS = "train_seconds"
TRAIN_EXAMPLES_PER_S = "train_examples_per_s"
PARAMETERS = "parameters"
STEP = "step"
SAMPLING_BATCHES = (1, 64)
PARZEN_BITS_PER_DIM = "parzen_bits_per_dim_estimate"
TEST_BITS_ESTIMATE = "test_bits_per_dim_estimate"
VAL_BITS_ESTIMATE = "val_bits_per_dim_estimate"
TEST_BITS_ESTIMATE_STD = "test_bits_per_dim_estimate_std"
VAL_BITS_ESTIMATE_STD = "val_bits_per_dim_estimate_std"
RESTORATION_PSNR_GAIN = "restoration_psnr_gain_db"
RESTORATION_ACCURACY_GAIN = "restoration_accuracy_gain"


def sample_ms_key(batch: int) -> str:
    """The key of the sampling speed at ``batch`` images per call."""
    return f"sample_ms_per_image_b{batch}"


def iwae_key(k: int) -> str:
    """The key of the test importance-weighted bound with ``k`` samples (``eval --iwae K``)."""
    return f"{TEST_BITS_PER_DIM}_iwae_{k}"


def _bits(name: str, split: str, extra: str = "") -> MetricSpec:
    return MetricSpec(name, unit="bits/dim" + extra, higher_is_better=False,
                      applies_to=("image",),
                      summary=f"-log2 p(x) per dimension on the {split} split (exact, or the "
                              "bound the run's bound kind names): the common unit")


RUN_METRICS = (
    _bits(TEST_BITS_PER_DIM, "test"),
    _bits(VAL_BITS_PER_DIM, "validation", " (validation)"),
    MetricSpec(TEST_BITS_GIVEN_LABEL, unit="bits/dim (given the label)", higher_is_better=False,
               summary="-log2 p(x | y) per dimension of a class-conditional model given the "
                       "true label: told part of the answer, so not comparable with p(x)"),
    MetricSpec(VAL_BITS_GIVEN_LABEL, unit="bits/dim (given the label, validation)",
               higher_is_better=False, summary="the same on the validation split"),
    MetricSpec(TEST_NATS_PER_OBS, unit="nats/obs", higher_is_better=False, applies_to=("series",),
               summary="-log p(x_t | x_<t) per observation of the test part of a series"),
    MetricSpec(VAL_NATS_PER_OBS, unit="nats/obs (validation)", higher_is_better=False,
               applies_to=("series",), summary="the same on the validation part"),
    MetricSpec(f"{TEST_BITS_PER_DIM}_iwae_K", unit="bits/dim (IWAE, K samples)",
               higher_is_better=False,
               summary="the importance-weighted bound with K samples of q(z|x) (Burda et al. "
                       "2016), from `genzoo eval --iwae K`: tighter than the ELBO as K grows"),
    MetricSpec(PARZEN_BITS_PER_DIM, unit="bits/dim (Parzen estimate)", higher_is_better=False,
               summary="a Parzen-window estimate from samples (`genzoo eval --parzen N`): not a "
                       "likelihood, and unreliable in high dimensions (Theis et al. 2016)"),
    *(MetricSpec(key, unit="bits/dim (AIS estimate" + extra + ")", higher_is_better=False,
                 summary=f"-log2 p(x) per dimension on the {split} split with log Z estimated "
                         "by annealed importance sampling (an RBM's): an estimate, optimistic "
                         "on average, never exact nor a bound")
      for key, split, extra in ((TEST_BITS_ESTIMATE, "test", ""),
                                (VAL_BITS_ESTIMATE, "validation", ", validation"))),
    *(MetricSpec(key, unit="bits/dim" + extra, higher_is_better=False,
                 summary=f"the spread of the {split} AIS estimate: the standard error of log Z^ "
                         "over the AIS runs, per dimension")
      for key, split, extra in ((TEST_BITS_ESTIMATE_STD, "test", ""),
                                (VAL_BITS_ESTIMATE_STD, "validation", " (validation)"))),
    MetricSpec("parzen_sigma", unit="levels", higher_is_better=None,
               summary="the Parzen window's width, chosen on the validation split"),
    MetricSpec("parzen_n_samples", unit="samples", higher_is_better=None,
               summary="how many samples the Parzen estimate used"),
    MetricSpec("test_mig", unit="MIG (0 to 1)", higher_is_better=True,
               summary="the mutual information gap of the code against the known factors "
                       "(Chen et al. 2018), from `genzoo eval --mig` on shapes: 1 when each "
                       "factor lives in one latent dimension alone"),
    MetricSpec(TRAIN_SECONDS, unit="s", higher_is_better=False, ratio=True,
               applies_to=("image", "series"), summary="time spent in training steps"),
    MetricSpec(TRAIN_EXAMPLES_PER_S, unit="examples/s", higher_is_better=True, ratio=True,
               applies_to=("image", "series"), summary="training throughput"),
    MetricSpec(PARAMETERS, unit="parameters", higher_is_better=False, ratio=True,
               applies_to=("image", "series"), summary="trainable and stored numbers"),
    MetricSpec(STEP, unit="steps", higher_is_better=None, applies_to=("image", "series"),
               summary="gradient steps taken"),
    *(MetricSpec(sample_ms_key(b), unit=f"ms/image (batch {b})", higher_is_better=False,
                 ratio=True, summary=f"wall time per sampled image, {b} at a time")
      for b in SAMPLING_BATCHES),
    MetricSpec(RESTORATION_PSNR_GAIN, unit="dB", higher_is_better=True,
               summary="mean PSNR gain of the restoration over the nearest-code lookup across "
                       "the standard degradations (`genzoo restore --table`)"),
    MetricSpec(RESTORATION_ACCURACY_GAIN, unit="share", higher_is_better=True,
               summary="mean gain in the reference classifier's accuracy on restored images "
                       "over the nearest-code lookup"),
)
