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

# (score key, unit, higher is better, summary a student can read)
QUALITY_METRICS = (
    ("frechet_distance", "", False,
     "Fréchet distance between real and generated images in the reference classifier's feature "
     "space (like FID): 0 when both have the same mean and spread; lower is better"),
    ("precision", "fraction", True,
     "share of samples that look like some real image (fall inside the real data's k-NN "
     "manifold): fidelity"),
    ("recall", "fraction", True,
     "share of real images that the samples come close to (inside the samples' k-NN "
     "manifold): diversity; low when the model drops modes"),
    ("coverage", "normalized entropy", True,
     "entropy of the classes the reference classifier sees in the samples, over log(classes): "
     "1 = every class equally often, 0 = one class only (mode collapse)"),
    ("classes_covered", "classes", True,
     "number of classes drawn at least 1/(4 x classes) of the time"),
    ("nn_ratio", "x held-out", True,
     "median distance from a sample to its nearest training image, over the same for test "
     "images: about 1 = as novel as real held-out data, near 0 = copies training images"),
    ("memorized_fraction", "fraction", False,
     "share of samples closer to a training image than 95% of test images are: 0.05 for "
     "held-out data, near 1 for a model that copies its training set"),
)


def _compute(key: str):
    def compute(model, data, **kw) -> float:
        from genzoo.registry.quality import model_quality

        return float(model_quality(model, data, **kw)[key])

    compute.__doc__ = f"``{key}`` of ``model``'s samples on ``data`` (see model_quality)."
    return compute


@hookimpl
def register_metrics(register):
    """One MetricSpec per sample-quality score, named by its stored key."""
    for key, unit, higher, summary in QUALITY_METRICS:
        register(MetricSpec(name=f"quality_{key}", compute=_compute(key), unit=unit,
                            higher_is_better=higher, applies_to=("image",), summary=summary))
