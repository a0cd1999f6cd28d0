"""The demo runs the dashboard opens with: small models on the embedded default data.

``ensure_demo_runs`` trains only what is missing, so a second start of the dashboard is instant.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .errors import GenzooError
from .plugins import Registry
from .runs import load_run
from .store import RunRecord, RunStore
from .training import LoopSettings, start_run

DEMO_TAG = "demo"


@dataclass(frozen=True)
class DemoRun:
    """One model to train for the demo, on which data, for how long; a second stage names the
    model whose demo run it is trained on (``parent``)."""

    model: str
    dataset: str
    steps: int | None = None
    seconds: float | None = None
    overrides: dict = field(default_factory=dict)
    parent: str | None = None


DEMO_RUNS = (
    DemoRun("independent", "digits", steps=0),
    DemoRun("pixelcnn", "digits", seconds=60),
    DemoRun("vae", "digits", seconds=30),  # the latent explorer's first run
    DemoRun("vqvae", "digits", seconds=20),  # a code grid for the explorer and the lecture ...
    DemoRun("vqvae-prior", "digits", seconds=15, parent="vqvae"),  # ... and its bound
    DemoRun("codeformer", "digits", seconds=30, parent="vqvae"),  # restoration by code lookup
    DemoRun("gan", "digits", seconds=30),  # the implicit branch: samples, no likelihood
    DemoRun("gmm", "8-gaussians", steps=0),  # the 2-d densities page: a closed-form fit ...
    DemoRun("pixelcnn", "8-gaussians", seconds=10),  # ... and the chain rule over (x, y)
    DemoRun("ar", "sunspots", steps=0, overrides={"p": "9"}),
    DemoRun("neural-ar", "sunspots", steps=1500, overrides={"p": "9"}),
)


def ensure_demo_runs(registry: Registry, store: RunStore, *, scale: float = 1.0,
                     progress: bool = True, log=print) -> list[RunRecord]:
    """Train every demo run that has no completed run yet; ``scale`` shortens budgets (tests)."""
    done = []
    for demo in DEMO_RUNS:
        if demo.model not in registry.models:
            log(f"[demo] skipping {demo.model}: not registered")
            continue
        existing = [r for r in store.list_runs(model=demo.model, dataset=demo.dataset,
                                               status="completed") if DEMO_TAG in r.tags]
        if existing and _loads(existing[0], registry, store, log):
            done.append(existing[0])
            continue
        parent = None
        if demo.parent is not None:
            parent = next((r for r in done if r.model == demo.parent
                           and r.dataset == demo.dataset and r.status == "completed"), None)
            if parent is None:
                log(f"[demo] skipping {demo.model}: no completed {demo.parent} demo run")
                continue
        budget = (f"{demo.seconds * scale:.0f} s" if demo.seconds
                  else f"{int(demo.steps * scale)} steps")
        log(f"[demo] training {demo.model} on {demo.dataset} ({budget})")
        record = start_run(
            registry, store, demo.model, None if parent else demo.dataset,
            parent=parent.run_id if parent else None, overrides=demo.overrides,
            steps=None if demo.steps is None else int(demo.steps * scale),
            seconds=None if demo.seconds is None else demo.seconds * scale,
            device="auto", seed=0, tags=[DEMO_TAG], settings=LoopSettings(progress=progress))
        done.append(record)
    score_quality(registry, store, done, log=log)
    return done


def score_quality(registry: Registry, store: RunStore, records: list[RunRecord], *,
                  log=print) -> None:
    """Score the samples of every demo image run on a labelled dataset that is not scored yet,
    so the Sample quality page opens with numbers (it never samples or trains by itself)."""
    from .quality import run_quality

    for record in records:
        if record.status != "completed" or "quality_frechet_distance" in (record.metrics or {}):
            continue
        if record.dataset != "digits":  # the demo's image dataset; 2-d points have their page
            continue
        if any(spec.parent == record.model for spec in registry.models.values()):
            continue  # a first stage (a VQ-VAE): its samples are its second stage's to score
        log(f"[demo] scoring the samples of {record.model} on {record.dataset}")
        run_quality(store, registry, record.run_id)


def _loads(record: RunRecord, registry: Registry, store: RunStore, log) -> bool:
    """Whether a stored demo run still loads (a model changed since makes it stale)."""
    try:
        load_run(record.run_id, store, registry)
        return True
    except GenzooError as exc:
        log(f"[demo] {record.run_id} no longer loads, training it again: {exc}")
        store.update(record.run_id, tags=[t for t in record.tags if t != DEMO_TAG])
        return False
