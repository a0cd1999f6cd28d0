"""Sample-quality metrics for every image model, likelihood or not (``genzoo.registry.quality``).

Each metric is registered under the key ``genzoo quality RUN_ID`` stores it with the run
(``quality_frechet_distance``, ...), so the dashboard finds its unit, direction and summary by
that key. Its ``compute(model, data, **kw)`` draws samples from an in-memory model and returns
the one number (keywords: ``store``, ``dataset_name``, ``n``, ``seed``, ``k``, as in
:func:`genzoo.registry.quality.model_quality`); to get all of them at once, and kept with a
run, use ``run_quality`` or ``genzoo quality RUN_ID``. Image data only: a 2-d points dataset
(1x2 "images") raises ``BadData`` pointing to the 2-d densities page's KL and missed mass.
"""

from __future__ import annotations

from genzoo.registry import MetricSpec, hookimpl

# (score key, unit, higher is better, summary a student can read, better in words where
# higher or lower says too little)
QUALITY_METRICS = (
    ("frechet_distance", "", False,
     "Fréchet distance between real and generated images in the reference classifier's feature "
     "space (like FID): 0 when both have the same mean and spread; lower is better", ""),
    ("precision", "fraction", True,
     "share of samples that look like some real image (fall inside the real data's k-NN "
     "manifold): fidelity", ""),
    ("recall", "fraction", True,
     "share of real images that the samples come close to (inside the samples' k-NN "
     "manifold): diversity; low when the model drops modes", ""),
    ("coverage", "normalized entropy", True,
     "entropy of the classes the reference classifier sees in the samples, over log(classes): "
     "1 = every class equally often, 0 = one class only (mode collapse)", ""),
    ("classes_covered", "classes", True,
     "number of classes drawn at least 1/(4 x classes) of the time", ""),
    # about 1 is held-out data's value; above 1 the samples are farther from every training
    # image than real images are, as noise is
    ("nn_ratio", "x held-out", True,
     "mean distance from a sample to its nearest training image, over the same for test "
     "images (both floored at one level step over the test size): about 1 = as novel as real "
     "held-out data, near 0 = copies training images", "near 1 (not << 1)"),
    ("memorized_fraction", "fraction", False,
     "estimated share of samples that are copies of training images rather than fresh draws, "
     "from how many lie within the test images' 5th-percentile distance (ties included): 0 "
     "for held-out data, 1 for a model that copies its training set; none (with a note) where "
     "nearly every test image is itself a training image", "lower (0: held-out data)"),
    ("copy_rate", "fraction", False,
     "share of samples that are exact copies of a training image; read against "
     "quality_copy_rate_real, the test split's own rate (what fresh data shows: 0 on digits, "
     "1 on shapes-8, where every image repeats)", "near copy_rate_real (not above)"),
)

# What the scores are read against, stored beside them: not scores of the model.
QUALITY_CONTEXT = (
    ("copy_rate_real", "fraction", "share of test images that are exact copies of a training "
                                   "image: what fresh data shows"),
    ("n_samples", "samples", "how many samples were scored"),
    ("seed", "", "the seed the samples were drawn with"),
    ("reference_accuracy", "share", "the reference classifier's accuracy on clean test images"),
)


def _compute(key: str):
    def compute(model, data, **kw) -> float | None:
        from genzoo.registry.quality import model_quality

        value = model_quality(model, data, **kw)[key]
        return None if value is None else float(value)

    compute.__doc__ = (f"``{key}`` of ``model``'s samples on ``data`` (see model_quality); None "
                       "where the data cannot define it (the note of model_quality says why).")
    return compute


@hookimpl
def register_metrics(register):
    """One MetricSpec per sample-quality score, named by its stored key."""
    for key, unit, higher, summary, better in QUALITY_METRICS:
        register(MetricSpec(name=f"quality_{key}", compute=_compute(key), unit=unit,
                            higher_is_better=higher, applies_to=("image",), summary=summary,
                            better=better))
    for key, unit, summary in QUALITY_CONTEXT:
        register(MetricSpec(name=f"quality_{key}", unit=unit, higher_is_better=None,
                            summary=summary))
