"""The restoration page's cached computations and figures (the page only draws them).

Everything goes through :mod:`genzoo.registry.restoration` and :mod:`genzoo.registry.degrade`,
so the page shows what ``genzoo restore`` writes and prints. The reference classifier's
accuracy appears only where the classifier is cached in the store: the page never trains it.
"""

from __future__ import annotations

import shlex

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from genzoo.dashboard import data
from genzoo.registry import restoration
from genzoo.registry.degrade import KINDS, Degradation
from genzoo.registry.errors import BadData
from genzoo.registry.plugins import Registry
from genzoo.registry.store import RunRecord

# Eq. 5 as in the paper's code: the decoder's features are scaled, the encoder's enter detached.
CFT = r"\hat F_d = F_d + w\,(\alpha \odot F_d + \beta), \qquad " \
      r"(\alpha, \beta) = \mathcal{P}\big(F_d \,\|\, \mathrm{sg}(F_e)\big)"
CODE_LOSSES = (r"L = \underbrace{\textstyle\sum_i -\log \hat s_i[s_i]}_{\text{code\_ce}}"
               r" + \underbrace{\| Z_l - \mathrm{sg}(Z_c) \|_2^2}_{\text{code\_feat}}"
               r" - \underbrace{\log p(x \mid \hat F_{w=1})}_{\text{cft\_recon}}")
# Where the strength slider starts, and its step, per degradation.
DEFAULT_STRENGTH = {"mask": 0.5, "noise": 3.0, "blur": 1.0, "down": 2.0}
STEP = {"mask": 0.05, "noise": 0.5, "blur": 0.25, "down": 1.0}
SWEEP = tuple(round(0.1 * i, 1) for i in range(11))  # the w values of the fidelity curve


def restoration_runs(reg: Registry, records: list[RunRecord]) -> list[RunRecord]:
    """Completed runs of registered restoration models on registered datasets, newest first."""
    return [r for r in records if r.status == "completed" and r.model in reg.models
            and issubclass(reg.models[r.model].model_class, restoration.RestorationModel)
            and r.dataset in reg.datasets]


def train_commands(reg: Registry, records: list[RunRecord]) -> str:
    """The commands that make a restoration run: on the newest completed run of the model it
    builds on (a vqvae) if there is one, else from scratch."""
    stages = [(name, spec.parent) for name, spec in reg.models.items() if spec.parent
              and issubclass(spec.model_class, restoration.RestorationModel)]
    if not stages:
        return ""
    name, parent = stages[0]
    done = [r for r in records if r.status == "completed" and r.model == parent]
    if done:
        return f"genzoo train {name} --parent {shlex.quote(done[0].run_id)} --seconds 90"
    return (f"genzoo train {parent} --dataset digits --seconds 60   # prints RUN_ID\n"
            f"genzoo train {name} --parent RUN_ID --seconds 90")


def degradation(name: str, strength: float) -> str:
    """The spec string of a choice on the page (``mask:0.5``), checked."""
    return str(Degradation(KINDS[name], float(strength)))


def _reference(record: RunRecord, loaded):
    return restoration.reference_or_none(data.store(), data.registry(), record,
                                         loaded.data, train=False)


@data.cached_by_run(show_spinner="Restoring…", max_entries=256)
def _example(loaded, index: int, spec: str, w: float, seed: int) -> dict:
    test = loaded.data.test
    if not 0 <= index < len(test):
        raise BadData(f"test image {index} does not exist: the {loaded.data.name} test "
                      f"split has images 0..{len(test) - 1}")
    clean = test[index:index + 1]
    out = restoration.restorations(loaded.model, clean, spec, ws=(w,), seed=seed)
    images = {"degraded": out["degraded"], loaded.model.baseline_name: out["baseline"],
              "restored": out["restored"][w], "clean": clean}
    levels = loaded.data.levels
    psnr = {k: float(restoration.psnr(v, clean, levels)[0]) for k, v in images.items()}
    reference = _reference(loaded.record, loaded)
    classes = ({k: int(reference.predict(v)[0]) for k, v in images.items()}
               if reference is not None else None)
    label = int(loaded.data.test_labels[index]) if loaded.data.test_labels is not None else None
    return {"images": {k: v[0].numpy() for k, v in images.items()}, "psnr": psnr,
            "classes": classes, "label": label, "levels": levels}


def example(record: RunRecord, index: int, spec: str, w: float, seed: int) -> dict:
    """Test image ``index`` degraded by ``spec`` (seeded) and restored at ``w``: ``images``
    (degraded, the baseline, restored, clean: (C, H, W) arrays), each one's ``psnr`` (dB)
    against the clean image, the reference classifier's ``classes`` (None when it is not
    cached), the image's ``label`` and ``levels`` (cached)."""
    return _example(record, int(index), str(spec), float(w), int(seed))


def image_caption(shown: dict, name: str) -> str:
    """What is measured of one of :func:`example`'s images: PSNR against the clean image and
    the reference classifier's class (where it is cached)."""
    parts = [] if name == "clean" else [f"PSNR {shown['psnr'][name]:.1f} dB"]
    if shown["classes"] is not None:
        parts.append(f"classified as {shown['classes'][name]}")
    return " · ".join(parts) or "the target"


def image_figure(image: np.ndarray, levels: int, title: str) -> go.Figure:
    """One image as a grey heatmap of its levels, rows down, with titled axes."""
    fig = go.Figure(go.Heatmap(z=image.mean(0), zmin=0, zmax=levels - 1, colorscale="gray",
                               showscale=False,
                               hovertemplate="row %{y}, column %{x}<br>level %{z:.0f}"
                                             "<extra></extra>"))
    fig.update_layout(title=title, xaxis_title="column", yaxis_title="row", height=260,
                      margin=dict(t=50, b=40, l=40, r=10))
    fig.update_yaxes(autorange="reversed", scaleanchor="x", constrain="domain")
    fig.update_xaxes(constrain="domain")
    return fig


@data.cached_by_run(show_spinner="Sweeping w over the test split…", max_entries=64)
def _sweep(loaded, spec: str, seed: int) -> pd.DataFrame:
    clean, levels = loaded.data.test, loaded.data.levels
    out = restoration.restorations(loaded.model, clean, spec, ws=SWEEP, seed=seed)
    reference = _reference(loaded.record, loaded)
    truth = loaded.data.test_labels.numpy() if reference is not None else None
    rows = []
    for method, images in [("degraded input", out["degraded"]),
                           (loaded.model.baseline_name, out["baseline"]),
                           *((f"w={w:g}", out["restored"][w]) for w in SWEEP)]:
        rows.append({"method": method, "w": None if method[:2] != "w=" else float(method[2:]),
                     "PSNR (dB)": float(restoration.psnr(images, clean, levels).mean()),
                     "accuracy": (float((reference.predict(images) == truth).mean())
                                  if reference is not None else None)})
    return pd.DataFrame(rows)


def sweep(record: RunRecord, spec: str, seed: int) -> pd.DataFrame:
    """Mean PSNR (and accuracy, where the classifier is cached) over the test split for the
    degraded input, the baseline and the restoration at each w of :data:`SWEEP` (cached)."""
    return _sweep(record, str(spec), int(seed))


def sweep_figure(frame: pd.DataFrame, spec: str, w: float) -> go.Figure:
    """PSNR against w: the restoration's curve, the baseline and the degraded input as lines."""
    curve = frame[frame["w"].notna()]
    fig = go.Figure()
    fig.add_scatter(x=curve["w"], y=curve["PSNR (dB)"], mode="lines+markers", name="restored",
                    hovertemplate="w %{x:.1f}<br>%{y:.2f} dB<extra>restored</extra>")
    for (_, row), dash in zip(frame[frame["w"].isna()].iterrows(), ("dot", "dash")):
        fig.add_hline(y=row["PSNR (dB)"], line_dash=dash, annotation_text=row["method"],
                      annotation_position="top left")
    fig.add_vline(x=w, line_color="#e45756", opacity=0.5)
    fig.update_layout(title=f"Fidelity against w ({spec}, every test image)",
                      xaxis_title="CFT weight w (0: pure lookup, 1: most of the input)",
                      yaxis_title="mean PSNR against the clean image (dB)", height=380,
                      margin=dict(t=60, b=40), showlegend=False)
    return fig


@data.cached_by_run(show_spinner="Measuring every degradation on the test split…", max_entries=32)
def _table(loaded, w: float, seed: int) -> pd.DataFrame:
    reference = _reference(loaded.record, loaded)
    return restoration.restoration_table(
        loaded.model, loaded.data.test, loaded.data.test_labels, reference,
        ws=(0.0,) if w == 0 else (0.0, w), seed=seed)


def table(record: RunRecord, w: float, seed: int) -> pd.DataFrame:
    """:func:`genzoo.registry.restoration.restoration_table` of the run on its whole test split,
    at w = 0 and ``w``, rounded for reading (PSNR to 0.01 dB, accuracy to 0.001) (cached)."""
    frame = _table(record, float(w), int(seed))
    return frame.round({c: 2 if c.startswith("PSNR") else 3 for c in frame.columns[1:]})


def has_reference(record: RunRecord) -> bool:
    """Whether the run's dataset has a cached reference classifier (accuracy can be shown)."""
    from genzoo.registry import quality

    return quality.reference_cached(data.store(), record.dataset, record.dataset_options)
