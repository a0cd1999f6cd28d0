"""Restoration: what a restoration model is, how it is measured, and its table.

A :class:`RestorationModel` restores a degraded image blindly (it is not told the degradation):
``restore(degraded, w)`` with a fidelity weight ``w`` in [0, 1], and ``baseline(degraded)``,
the same pipeline without its learned part (for CodeFormer: the nearest-code lookup of the
VQ-VAE, encode -> quantize -> decode), so the learned part's gain is measured, not assumed.

Against the clean image, for each degradation and strength (:mod:`genzoo.registry.degrade`):

* **PSNR** in dB over levels scaled to [0, 1]: 10 log10(1 / MSE) per image, averaged over the
  images (an exact copy, MSE 0, counts as :data:`PSNR_CAP` dB);
* **accuracy**: the share of images the dataset's reference classifier
  (:mod:`genzoo.registry.quality`) puts in the clean image's class: does the digit stay the
  same digit?

each for the degraded input itself, the baseline and the restoration at each ``w``.
"""

from __future__ import annotations

import abc

import numpy as np
import pandas as pd
import torch

from .degrade import parse_degradation
from .errors import BadConfig, GenzooError
from .metrics import RESTORATION_ACCURACY_GAIN, RESTORATION_PSNR_GAIN
from .model import GenerativeModel

PSNR_CAP = 100.0  # dB given to an exact copy (MSE 0), so that a mean stays finite
TABLE_DEGRADATIONS = ("mask:0.25", "mask:0.5", "mask:0.75", "noise:2", "noise:4", "blur:0.75",
                      "blur:1.25", "down:2", "down:4")
CLEAN = "none (clean input)"
BATCH = 512


class RestorationModel(GenerativeModel):
    """A model that restores degraded images: the contract the CLI, page and table rely on."""

    baseline_name = "baseline"  # what :meth:`baseline` is, in words
    restoration_label = "restored"  # how the table names the model's own restorations

    @abc.abstractmethod
    def restore(self, degraded: torch.Tensor, w: float = 0.0) -> torch.Tensor:
        """Restored images (N, C, H, W), int64 levels, from degraded ones of the same shape;
        ``w`` in [0, 1]: 0 trusts the learned prior most, 1 keeps most of the input."""

    @abc.abstractmethod
    def baseline(self, degraded: torch.Tensor) -> torch.Tensor:
        """The restoration without the learned part: int64 levels (N, C, H, W)."""


def check_w(w: float) -> float:
    """``w`` as a float in [0, 1], or a one-line error that names the range."""
    try:
        value = float(w)
    except (TypeError, ValueError):
        raise BadConfig(f"w must be a number in [0, 1], got {w!r}") from None
    if not 0.0 <= value <= 1.0:
        raise BadConfig(f"w must be in [0, 1] (0: pure codebook lookup, 1: keep most of the "
                        f"input), got {value:g}")
    return value


def require_restoration(registry, record) -> None:
    """A clear error unless ``record`` is a run of a restoration model; for a run of a model
    that a restoration model builds on (a vqvae), the command that trains one on it."""
    spec = registry.model(record.model)
    if issubclass(spec.model_class, RestorationModel):
        return
    stages = [name for name, s in registry.models.items() if s.parent == record.model
              and issubclass(s.model_class, RestorationModel)]
    if stages:
        raise GenzooError(f"run {record.run_id} is a {record.model} run, not a restoration "
                          f"model: train one on it first, `genzoo train {stages[0]} --parent "
                          f"{record.run_id}`")
    able = sorted(name for name, s in registry.models.items()
                  if issubclass(s.model_class, RestorationModel))
    raise GenzooError(f"run {record.run_id} ({record.model}) is not a restoration model; "
                      f"restoration models: {', '.join(able) or 'none is registered'}")


def psnr(images: torch.Tensor, clean: torch.Tensor, levels: int) -> torch.Tensor:
    """PSNR in dB of each image against its clean one, levels scaled to [0, 1]: (N,)."""
    scale = 1.0 / max(levels - 1, 1)
    mse = ((images.double() - clean.double()) * scale).pow(2).flatten(1).mean(1)
    return (10 * torch.log10(1.0 / mse.clamp_min(10 ** (-PSNR_CAP / 10)))).float()


def _batched(fn, x: torch.Tensor) -> torch.Tensor:
    return torch.cat([fn(x[i:i + BATCH]) for i in range(0, len(x), BATCH)])


@torch.no_grad()
def restorations(model: RestorationModel, images: torch.Tensor, degradation, *,
                 ws=(0.0,), seed: int = 0) -> dict:
    """``images`` degraded (seeded; ``None``: left clean) and restored: ``{degraded, baseline,
    restored: {w: ...}}``, every entry int64 levels on the CPU, in the images' order."""
    if isinstance(degradation, str):
        degradation = parse_degradation(degradation)
    model.eval()
    device = model.device
    generator = torch.Generator(device=device).manual_seed(seed)
    degraded = (images.long().to(device) if degradation is None else _batched(
        lambda b: degradation.apply(b.to(device), model.data.levels, generator), images))
    return {"degraded": degraded.cpu(),
            "baseline": _batched(model.baseline, degraded).cpu(),
            "restored": {float(w): _batched(lambda b, w=w: model.restore(b, check_w(w)),
                                            degraded).cpu() for w in ws}}


def method_names(model: RestorationModel, ws) -> list[str]:
    """The table's methods in order: the degraded input, the baseline, the model at each w."""
    return ["degraded input", model.baseline_name,
            *(f"{model.restoration_label} w={float(w):g}" for w in ws)]


def restoration_table(model: RestorationModel, images: torch.Tensor, labels=None,
                      reference=None, specs=TABLE_DEGRADATIONS, *, ws=(0.0,),
                      seed: int = 0) -> pd.DataFrame:
    """One row per degradation (first the clean input itself), with the mean PSNR (dB) of
    every method and, given a reference classifier and the images' ``labels``, the share of
    images it classifies as their clean class. Columns: ``degradation``, then ``PSNR <method>
    (dB)`` for each method, then ``accuracy <method>``."""
    levels = model.data.levels
    methods = method_names(model, ws)
    truth = None if labels is None or reference is None else np.asarray(labels)
    rows = []
    for spec in (None, *specs):
        out = restorations(model, images, spec, ws=ws, seed=seed)
        outputs = [out["degraded"], out["baseline"], *out["restored"].values()]
        row = {"degradation": CLEAN if spec is None else str(parse_degradation(spec))}
        for method, restored in zip(methods, outputs):
            row[f"PSNR {method} (dB)"] = float(psnr(restored, images, levels).mean())
        if truth is not None:
            for method, restored in zip(methods, outputs):
                row[f"accuracy {method}"] = float((reference.predict(restored) == truth).mean())
        rows.append(row)
    return pd.DataFrame(rows)


def check_specs(specs) -> list[str]:
    """Degradation specs checked and normalized (``MASK:.5`` -> ``mask:0.5``)."""
    return [str(parse_degradation(spec)) for spec in specs]


def reference_or_none(store, registry, record, data, *, train: bool):
    """The run's dataset's reference classifier; ``None`` where the data has no labels, or
    where it is not cached yet and ``train`` is false (the dashboard never trains it)."""
    from . import quality

    if getattr(data, "train_labels", None) is None or getattr(data, "points", False):
        return None
    if not train and not quality.reference_cached(store, record.dataset, record.dataset_options):
        return None
    return quality.reference_for_run(store, registry, record, data)


def run_restoration_table(store, registry, run_id: str, specs=TABLE_DEGRADATIONS, *,
                          ws=(0.0,), n: int | None = None, seed: int = 0,
                          train_reference: bool = True) -> tuple[pd.DataFrame, object]:
    """:func:`restoration_table` of a stored run on the first ``n`` test images (all by
    default): ``(table, reference classifier or None)``."""
    from .runs import load_run

    record = store.get(run_id)
    require_restoration(registry, record)
    specs = check_specs(specs)
    for w in ws:
        check_w(w)
    loaded = load_run(run_id, store, registry)
    data = loaded.data
    count = len(data.test) if n is None else int(n)
    if not 1 <= count <= len(data.test):
        raise BadConfig(f"-n {count}: the {data.name} test split has {len(data.test)} images")
    reference = reference_or_none(store, registry, record, data, train=train_reference)
    labels = data.test_labels[:count] if data.test_labels is not None else None
    table = restoration_table(loaded.model, data.test[:count], labels, reference, specs, ws=ws,
                              seed=seed)
    return table, reference


def format_table(table: pd.DataFrame) -> pd.DataFrame:
    """The table rounded for reading: PSNR to 0.01 dB, accuracies to 0.1%."""
    out = table.copy()
    for column in out.columns:
        if column.startswith("PSNR"):
            out[column] = out[column].map(lambda v: f"{v:.2f}")
        elif column.startswith("accuracy"):
            out[column] = out[column].map(lambda v: f"{100 * v:.1f}%")
    return out


def markdown_table(table: pd.DataFrame) -> str:
    """The table as GitHub Markdown (no extra dependency)."""
    shown = format_table(table)
    header = "| " + " | ".join(shown.columns) + " |"
    rule = "| " + " | ".join("---" for _ in shown.columns) + " |"
    lines = ["| " + " | ".join(str(v) for v in row) + " |" for row in shown.itertuples(index=False)]
    return "\n".join([header, rule, *lines])


def long_table(table: pd.DataFrame) -> pd.DataFrame:
    """The wide table as one row per (degradation, method): ``degradation, method, PSNR (dB),
    accuracy`` (accuracy missing without a reference classifier)."""
    methods = [c[len("PSNR "):-len(" (dB)")] for c in table.columns if c.startswith("PSNR ")]
    rows = [{"degradation": row["degradation"], "method": method,
             "PSNR (dB)": row[f"PSNR {method} (dB)"],
             "accuracy": row.get(f"accuracy {method}")}
            for _, row in table.iterrows() for method in methods]
    return pd.DataFrame(rows, columns=["degradation", "method", "PSNR (dB)", "accuracy"])


def gains(table: pd.DataFrame, model, w: float = 0.0) -> dict[str, float]:
    """The restoration's mean gain over the baseline across the degraded rows of the table (the
    clean row left out): ``restoration_psnr_gain_db`` and, with accuracies,
    ``restoration_accuracy_gain`` (a share). What the run stores and its claims name. ``model``:
    the restoration model or its class (only its names are read)."""
    _, baseline, restored = method_names(model, (w,))
    degraded = table[table["degradation"] != CLEAN]
    out = {RESTORATION_PSNR_GAIN: float((degraded[f"PSNR {restored} (dB)"]
                                              - degraded[f"PSNR {baseline} (dB)"]).mean())}
    if f"accuracy {restored}" in degraded:
        out[RESTORATION_ACCURACY_GAIN] = float((degraded[f"accuracy {restored}"]
                                                  - degraded[f"accuracy {baseline}"]).mean())
    return out


def restoration_grid(rows, levels: int, *, scale: int = 4, pad: int = 1) -> np.ndarray:
    """Rows of ``N`` images each (degraded, restored, clean, ...) as one grey uint8 picture,
    separated by white bands."""
    from .outputs import image_grid

    pictures = [image_grid(images.cpu(), levels, columns=len(images), scale=scale, pad=pad)
                for images in rows]
    band = np.full((pad * 2, *pictures[0].shape[1:]), 255, dtype=np.uint8)
    parts = [part for picture in pictures for part in (picture, band)][:-1]
    return np.concatenate(parts, axis=0)
