"""The demo the dashboard opens with: comparisons queued in the background on the embedded data.

Three comparisons, each with one budget for all its runs: every registered image model on digits
(plugins' models included, second stages after their parents), the series models on sunspots,
and a few families on a 2-d toy density for the 2-d densities page. :func:`queue_demo` queues only
what is missing, so a second start of the dashboard queues nothing and serves at once; the worker
pool trains the rest while the pages fill in.
"""

from __future__ import annotations

from .compare import ComparisonSpec, applicable_models, get_spec, submit
from .errors import NotFound
from .jobs import Job
from .plugins import Registry
from .store import RunStore

DEMO_TAG = "demo"
DIGITS_SECONDS = 30.0  # every image model's budget on digits: equal, so the table is fair
SERIES_SECONDS = 5.0  # neural-ar overfits sunspots past ~1,500 steps (val 13.4 nats/obs at 4,467)
TOY_SECONDS = 10.0
TOY_MODELS = ("gmm", "pixelcnn", "vae", "gan")  # one per branch of the taxonomy that draws a map


def demo_specs(registry: Registry, scale: float = 1.0) -> dict[str, ComparisonSpec]:
    """``{name: spec}`` of the demo's comparisons for the models registered now."""
    specs = {}
    if "digits" in registry.datasets:
        specs["demo-digits"] = ComparisonSpec(
            models=tuple(applicable_models(registry, "digits")), datasets=("digits",),
            seconds=DIGITS_SECONDS * scale)
    if "sunspots" in registry.datasets:
        series = applicable_models(registry, "sunspots")
        specs["demo-sunspots"] = ComparisonSpec(
            models=tuple(series), datasets=("sunspots",), seconds=SERIES_SECONDS * scale,
            settings={m: {"p": "9"} for m in ("ar", "neural-ar") if m in series})
    toys = tuple(m for m in TOY_MODELS if m in registry.models)
    if "8-gaussians" in registry.datasets and toys:
        specs["demo-toys"] = ComparisonSpec(models=toys, datasets=("8-gaussians",),
                                            seconds=TOY_SECONDS * scale, quality=False)
    return specs


def queue_demo(registry: Registry, store: RunStore, *, scale: float = 1.0,
               log=lambda line: None) -> tuple[list[str], list[Job]]:
    """Queue every demo run that is not completed; ``(comparison names, jobs queued)``.

    A demo comparison stored with other models (a plugin installed since) takes the new spec:
    its runs keep their ids, so only the new models' runs are queued.
    """
    names, queued = [], []
    for name, spec in demo_specs(registry, scale).items():
        _replace_if_changed(store, name, spec)
        _drop_stale(registry, store, name, spec, log)
        _, jobs = submit(registry, store, spec, name, owner=DEMO_TAG, log=log)
        names.append(name)
        queued += jobs
    return names, queued


def _replace_if_changed(store: RunStore, name: str, spec: ComparisonSpec) -> None:
    try:
        stored = get_spec(store, name)
    except NotFound:
        return
    if stored != spec:
        with store.transaction() as db:
            db.execute("DELETE FROM comparisons WHERE name = ?", (name,))


def _drop_stale(registry: Registry, store: RunStore, name: str, spec: ComparisonSpec,
                log) -> None:
    """A completed demo run that no longer loads (its model changed since) is removed, so the
    demo trains it again under the same id."""
    from .compare import plan
    from .errors import GenzooError
    from .runs import load_run

    for cell in plan(registry, spec, name):
        try:
            record = store.get(cell.run_id)
        except NotFound:
            continue
        if record.status != "completed":
            continue
        try:
            load_run(cell.run_id, store, registry)
        except GenzooError as exc:
            log(f"[demo] {cell.run_id} no longer loads, training it again: {exc}")
            store.delete(cell.run_id)
