"""The demo the dashboard opens with: comparisons queued in the background on the embedded data.

Comparisons, each with one budget for all its runs: every registered image model on digits
(plugins' models included, second stages after their parents, those that cannot model digits
left out), the series models on sunspots, the RBM beside a VAE on binary MNIST, a VAE on shapes
at three β (the disentanglement trade-off), and a few families on a 2-d toy density for the
2-d densities page. :func:`queue_demo` queues only
what is missing, so a second start of the dashboard queues nothing and serves at once; the worker
pool trains the rest while the pages fill in.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import sys
from pathlib import Path

from .compare import ComparisonSpec, applicable_models, get_spec, submit
from .errors import NotFound
from .jobs import Job
from .plugins import Registry
from .store import RunStore

DEMO_TAG = "demo"
DIGITS_SECONDS = 30.0  # every image model's budget on digits: equal, so the table is fair
SERIES_SECONDS = 5.0  # neural-ar overfits sunspots past ~1,500 steps (val 13.4 nats/obs at 4,467)
TOY_SECONDS = 10.0
# one per branch of the taxonomy that draws a map, and a flow (its density integrated per cell)
TOY_MODELS = ("gmm", "pixelcnn", "vae", "gan", "realnvp")
CHECKED_FILE = "comparisons/demo-loadable.json"  # runs found loadable, by code fingerprint
# The taxonomy's Markov-chain leaf beside a bound, on the same binary images
BINARY_MODELS = ("rbm", "vae")
# β-VAE on shapes (known factors) at three β: the Latent explorer's trade-off of bound and MIG
BETAS = (1, 4, 10)


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
    binary = tuple(m for m in BINARY_MODELS if m in registry.models)
    if "mnist-binary" in registry.datasets and "rbm" in binary:
        specs["demo-binary"] = ComparisonSpec(models=binary, datasets=("mnist-binary",),
                                              seconds=DIGITS_SECONDS * scale, quality=False)
    if "shapes" in registry.datasets and "vae" in registry.models:
        for beta in BETAS:  # one comparison each: a comparison holds one config per model
            specs[f"demo-beta-{beta}"] = ComparisonSpec(
                models=("vae",), datasets=("shapes",), seconds=DIGITS_SECONDS * scale,
                settings={"vae": {"beta": str(beta)}}, quality=False)
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
    demo trains it again under the same id.

    Loading every run costs seconds on each start, so a run found loadable is noted with the
    fingerprint of its model's code (:func:`code_fingerprint`) and its files; it is loaded again
    only once one of them has changed.
    """
    from .compare import plan
    from .errors import GenzooError
    from .runs import load_run

    checked_path = store.home / CHECKED_FILE
    checked = _read_checked(checked_path)
    before = dict(checked)
    for cell in plan(registry, spec, name):
        try:
            record = store.get(cell.run_id)
        except NotFound:
            continue
        if record.status != "completed":
            continue
        fingerprint = _run_fingerprint(store, registry, record)
        if checked.get(cell.run_id) == fingerprint:
            continue
        try:
            load_run(cell.run_id, store, registry)
            checked[cell.run_id] = fingerprint
        except GenzooError as exc:
            log(f"[demo] {cell.run_id} no longer loads, training it again: {exc}")
            store.delete(cell.run_id)
            checked.pop(cell.run_id, None)
    if checked != before:
        from .checkpoints import atomic_write_bytes

        checked_path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(checked_path, json.dumps(checked, indent=1, sort_keys=True).encode())


def _read_checked(path: Path) -> dict[str, str]:
    """The noted ``{run_id: fingerprint}``; an unreadable file is as good as none (every run is
    loaded once more)."""
    try:
        values = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    if not isinstance(values, dict):
        return {}
    return {k: v for k, v in values.items() if isinstance(k, str) and isinstance(v, str)}


def _run_fingerprint(store: RunStore, registry: Registry, record) -> str:
    """What decides whether a run loads: its model's code and its own files (name, size and
    time of each, so a checkpoint rewritten since is loaded again)."""
    files = sorted((p.name, p.stat().st_size, p.stat().st_mtime_ns)
                   for p in store.run_dir(record.run_id).iterdir() if p.is_file())
    digest = hashlib.sha256(code_fingerprint(registry, record.model).encode())
    digest.update(json.dumps(files).encode())
    return digest.hexdigest()


def code_fingerprint(registry: Registry, model: str) -> str:
    """SHA-256 of the source that decides whether a run of ``model`` loads: genzoo's own
    registry and plugins, and the files of the modules of the model's class, its bases and its
    config class (a third-party plugin's included)."""
    spec = registry.model(model)
    package = Path(__file__).resolve().parent.parent  # genzoo: registry/ and plugins/
    files = set(package.glob("registry/*.py")) | set(package.glob("plugins/*.py"))
    for cls in (*spec.model_class.__mro__, spec.config_class):
        module = sys.modules.get(cls.__module__)
        source = getattr(module, "__file__", None)
        if source:
            files.add(Path(source).resolve())
    digest = hashlib.sha256()
    for path in sorted(files):
        with contextlib.suppress(OSError):
            digest.update(str(path).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()
