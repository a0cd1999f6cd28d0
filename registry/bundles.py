"""Run bundles: finished runs in one zip, from one runs store to another.

A teacher trains on a GPU before class (``genzoo export RUN_ID... --bundle class.zip``) and
the class opens the runs on laptops (``genzoo import class.zip``, or the dashboard's Plugins
page). A bundle holds ``manifest.json`` (format, version, every run's record and the SHA-256
and size of each of its files), and per run ``runs/<run id>/curves.json`` (its logged points)
and its newest readable checkpoint (``ckpt-<step>.json`` + ``.safetensors``). The parent run a
second stage builds on (``config["parent_run"]``) comes along.

An import checks everything (:mod:`genzoo.registry.bundle_checks`) before anything lands: the
files are unpacked into one hidden folder of the store's ``runs`` folder and verified there,
then the records and curves go in one transaction and the folders are renamed into place; any
failure removes what was unpacked, so no run is ever half imported.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import math
import os
import shutil
import tempfile
import time
import zipfile
from pathlib import Path

from . import bundle_checks as checks
from .bundle_checks import CURVES, MANIFEST, BundleRun
from .checkpoints import load_latest
from .errors import BadConfig, GenzooError, StoreError
from .store import ACTIVE, RunRecord, RunStore

COLLISIONS = ("rename", "refuse", "skip")  # what to do with a run id the store already has
RENAMED = "imported"  # a taken id X comes in as X-imported, X-imported-2, ...


# -- export -------------------------------------------------------------------------------------


def export_bundle(store: RunStore, run_ids: list[str], path: str | Path) -> dict:
    """Write the runs ``run_ids`` (and the parent runs they build on) to the zip ``path``,
    atomically; returns a summary: ``{"bundle", "bytes", "replaced", "runs": [{run_id,
    checkpoint_step, points, parent_of, notes}]}``. A run still training, or one not in the
    store, is refused before anything is written."""
    from .outputs import check_output_file

    path = Path(path)
    if not path.parent.is_dir():
        raise GenzooError(f"cannot write {path}: folder {path.parent} does not exist")
    check_output_file(path)
    records, parent_of, notes = _with_parents(store, list(dict.fromkeys(run_ids)))
    runs, payloads, total = [], {}, 0
    for record in records:
        item, files = _run_files(store, record, notes.setdefault(record.run_id, []))
        runs.append(item)
        payloads[record.run_id] = files
        total += sum(facts["size"] for facts in item["files"].values())
    if total > checks.MAX_TOTAL_BYTES:
        raise GenzooError(f"the bundle would hold {total:,} bytes, more than a bundle may "
                          f"({checks.MAX_TOTAL_BYTES:,}): export fewer runs at a time")
    manifest = {"format": checks.FORMAT, "version": checks.BUNDLE_VERSION,
                "genzoo_version": checks.genzoo_version(), "created_at": time.time(),
                "runs": runs}
    replaced = path.exists() or path.is_symlink()
    _write_zip(path, manifest, payloads)
    summary = []
    for item in runs:
        ckpt = [n for n in item["files"] if n.endswith(".json") and n != CURVES]
        summary.append({"run_id": item["run_id"],
                        "checkpoint_step": int(ckpt[0][5:-5]) if ckpt else None,
                        "points": payloads[item["run_id"]]["points"],
                        "parent_of": parent_of.get(item["run_id"]),
                        "notes": notes[item["run_id"]]})
    return {"bundle": str(path), "bytes": path.stat().st_size, "replaced": replaced,
            "runs": summary}


def _with_parents(store: RunStore, run_ids: list[str]):
    """The records to export, each parent before the run that builds on it; which run each
    added parent serves; and notes (a parent no longer in the store)."""
    from .process import as_seen_now

    ordered, parent_of, notes, seen = [], {}, {}, set()

    def visit(run_id: str, child: str | None) -> None:
        if run_id in seen:
            return
        seen.add(run_id)
        record = as_seen_now(store, store.get(run_id))  # NotFound names a missing run
        if record.status in ACTIVE:
            raise GenzooError(f"run {run_id!r} is still training (status {record.status}): "
                              "export it once it has finished, or cancel it (genzoo cancel)")
        parent = (record.config or {}).get("parent_run")
        if isinstance(parent, str) and parent:
            try:
                store.get(parent)
            except GenzooError:
                notes.setdefault(run_id, []).append(
                    f"its parent run {parent!r} is not in this store: left out")
            else:
                visit(parent, run_id)
        if child is not None:
            parent_of[run_id] = child
        ordered.append(record)

    for run_id in run_ids:
        visit(run_id, None)
    return ordered, parent_of, notes


def _run_files(store: RunStore, record: RunRecord, notes: list[str]) -> tuple[dict, dict]:
    """A run's manifest item and what goes in its folder: curves JSON and the newest readable
    checkpoint (its two files, read from disk when the zip is written)."""
    points = [p for p in store.curves(record.run_id)
              if math.isfinite(p["value"]) and math.isfinite(p["wall_time"])]
    curves = json.dumps(points, allow_nan=False, separators=(",", ":")).encode()
    files = {CURVES: {"sha256": hashlib.sha256(curves).hexdigest(), "size": len(curves)}}
    payload = {CURVES: curves, "points": len(points)}
    checkpoint, errors = load_latest(store.run_dir(record.run_id))
    notes += [f"skipped an unreadable checkpoint: {error}" for error in errors]
    if checkpoint is None:
        notes.append("it has no readable checkpoint: its numbers travel, its model does not")
    else:
        for source in (checkpoint.path.parent / checkpoint.meta["tensors"], checkpoint.path):
            if source.stat().st_size > checks.entry_cap(source.name):
                raise GenzooError(f"checkpoint {source} is bigger than a bundle may hold "
                                  f"({checks.entry_cap(source.name):,} bytes)")
            files[source.name] = checks.file_facts(source)
            payload[source.name] = source
    record_json = _json_safe(dataclasses.asdict(record))
    return {"run_id": record.run_id, "record": record_json, "files": files}, payload


def _json_safe(value):
    """``value`` with NaN and infinite numbers made null: strict JSON has neither."""
    return json.loads(json.dumps(value), parse_constant=lambda _: None)


def _write_zip(path: Path, manifest: dict, payloads: dict) -> None:
    """The zip, written to a temporary name beside ``path`` and renamed over it."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.fchmod(fd, 0o666 & ~umask)  # the user's file, not a private checkpoint
        with os.fdopen(fd, "wb") as handle:
            with zipfile.ZipFile(handle, "w") as archive:
                _add(archive, MANIFEST, json.dumps(manifest, indent=1, allow_nan=False).encode())
                for run_id, files in payloads.items():
                    for name, source in files.items():
                        if name == "points":
                            continue
                        entry = f"runs/{run_id}/{name}"
                        if isinstance(source, bytes):
                            _add(archive, entry, source)
                        else:  # tensors: stored, not deflated (floats hardly shrink)
                            archive.write(source, entry, compress_type=zipfile.ZIP_STORED)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        raise GenzooError(f"cannot write {path}: {exc.strerror or exc}") from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _add(archive: zipfile.ZipFile, name: str, payload: bytes) -> None:
    info = zipfile.ZipInfo(name, time.localtime()[:6])
    info.external_attr = (0o100644 << 16)  # a regular file
    info.compress_type = zipfile.ZIP_DEFLATED
    archive.writestr(info, payload)


# -- import -------------------------------------------------------------------------------------


def read_bundle(path: str | Path, *, name: str | None = None) -> dict:
    """The checked manifest of bundle ``path`` (its entries and their sizes checked too, their
    bytes not yet); ``name`` is how messages call the file (default: its path)."""
    label = name or str(path)
    with checks.open_bundle(path, label) as archive:
        entries = checks.check_entries(archive, label)
        manifest = checks.read_manifest(archive, entries, label)
        checks.check_manifest(manifest, entries, label)
    return manifest


def import_bundle(store: RunStore, path: str | Path, *, on_collision: str = "rename",
                  name: str | None = None, registry=None) -> list[dict]:
    """Bring the runs of bundle ``path`` into ``store``; one row per run: ``{"run_id",
    "imported_as", "status": "imported" | "renamed" | "skipped", "notes"}``.

    ``on_collision`` says what to do with a run id the store has: ``rename`` (import it as
    ``ID-imported``, the bundle's references to it from second stages rewritten), ``refuse``
    (an error naming the id), or ``skip`` (the store's run is the same training: kept). With
    ``registry``, a run of a model not installed here gets a note. Everything is checked before
    anything lands; a failure leaves the store as it was.
    """
    if on_collision not in COLLISIONS:
        raise BadConfig(f"on_collision {on_collision!r}: use one of {', '.join(COLLISIONS)}")
    if store.read_only:
        raise StoreError(f"the runs store {store.home} is read-only here: nothing can be "
                         "imported into it; set GENZOO_HOME to a folder you can write")
    label = name or str(path)
    with checks.open_bundle(path, label) as archive:
        entries = checks.check_entries(archive, label)
        runs = checks.check_manifest(checks.read_manifest(archive, entries, label), entries,
                                     label)
        plans = _plan(store, runs, on_collision)
        root, made_runs = _staging_root(store)
        try:
            for run in runs:
                checks.unpack_run(archive, entries, run, root / run.run_id, label)
            rows = {run.run_id: checks.check_unpacked(root / run.run_id, run, label)
                    for run in runs}
            _land(store, runs, plans, rows, root)
        finally:
            shutil.rmtree(root, ignore_errors=True)
            if made_runs:
                with contextlib.suppress(OSError):  # only if empty: a run may be there now
                    root.parent.rmdir()
    return [_result(run, plans[run.run_id], registry) for run in runs]


def _plan(store: RunStore, runs: list[BundleRun], on_collision: str) -> dict[str, str | None]:
    """``{bundle run id: id to import it as, or None to skip it}``; parent references of the
    bundle's runs rewritten to the new ids."""
    recorded = _taken(store)
    used = {run.run_id for run in runs}

    def taken(run_id: str) -> bool:  # a folder also counts: a file system may ignore case
        return run_id in recorded or store.run_dir(run_id).exists()

    plans: dict[str, str | None] = {}
    for run in runs:
        if not taken(run.run_id):
            plans[run.run_id] = run.run_id
        elif on_collision == "refuse":
            raise GenzooError(f"run {run.run_id!r} is already in the runs store {store.home}: "
                              "use --on-collision rename (import a copy beside it) or skip "
                              "(keep the run that is here)")
        elif on_collision == "skip":
            if not _same_training(store, run):
                raise GenzooError(f"run {run.run_id!r} is in the runs store {store.home} but "
                                  "is not the bundle's training (another config, seed, step "
                                  "or checkpoint): use --on-collision rename")
            plans[run.run_id] = None
        else:
            plans[run.run_id] = _free_id(run.run_id, lambda i: taken(i) or i in used)
            used.add(plans[run.run_id])
    for run in runs:
        parent = run.record["config"].get("parent_run")
        if isinstance(parent, str) and plans.get(parent) not in (None, parent):
            run.record["config"]["parent_run"] = plans[parent]
            run.notes.append(f"its parent_run now names {plans[parent]!r} (the bundle's "
                             f"{parent!r}, renamed)")
    return plans


def _taken(store: RunStore) -> set[str]:
    """Run ids in the store's records."""
    with store._connect() as db:
        return {row["run_id"] for row in db.execute("SELECT run_id FROM runs")}


def _free_id(run_id: str, taken) -> str:
    """``ID-imported``, or ``ID-imported-2``, ... : the first that ``taken`` says is free (cut
    to fit a run id)."""
    n = 1
    while True:
        suffix = f"-{RENAMED}" + (f"-{n}" if n > 1 else "")
        candidate = checks.check_run_id(run_id[:128 - len(suffix)].rstrip(".-") + suffix)
        if not taken(candidate):
            return candidate
        n += 1


def _same_training(store: RunStore, run: BundleRun) -> bool:
    """Whether the store's run of this id is the bundle's: the same model, data, config, seed,
    step and creation time, and the bundle's checkpoint files with the same bytes."""
    try:
        here = store.get(run.run_id)
    except GenzooError:
        return False
    for key in ("model", "dataset", "config", "seed", "step", "created_at"):
        if getattr(here, key) != run.record.get(key):
            return False
    folder = store.run_dir(run.run_id)
    for name, facts in run.files.items():
        if name != CURVES and (not (folder / name).is_file()
                               or checks.file_facts(folder / name)["sha256"] != facts["sha256"]):
            return False
    return True


def _staging_root(store: RunStore) -> tuple[Path, bool]:
    """A hidden folder in the store's ``runs`` folder (the same file system as the runs, so a
    rename lands them), and whether ``runs`` had to be made."""
    runs = store.home / "runs"
    made = not runs.exists()
    runs.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(dir=runs, prefix=".bundle-import-")), made


def _land(store: RunStore, runs: list[BundleRun], plans: dict, rows: dict, root: Path) -> None:
    """The records and curves in one transaction, the folders renamed into place inside it: a
    failure anywhere rolls the records back and moves the folders back out."""
    from .store import _JSON_COLUMNS

    moved: list[tuple[Path, Path]] = []
    try:
        with store.transaction() as db:
            for run in runs:
                new_id = plans[run.run_id]
                if new_id is None:
                    continue
                if (db.execute("SELECT 1 FROM runs WHERE run_id = ?", (new_id,)).fetchone()
                        or store.run_dir(new_id).exists()):
                    raise GenzooError(f"run id {new_id!r} was taken while the bundle was being "
                                      "imported; import it again")
                record = RunRecord(**{**run.record, "run_id": new_id}).__dict__.copy()
                for key in _JSON_COLUMNS:
                    record[key] = json.dumps(record[key])
                db.execute(f"INSERT INTO runs ({', '.join(record)}) VALUES "
                           f"({', '.join('?' for _ in record)})", list(record.values()))
                db.executemany("INSERT INTO metrics VALUES (?, ?, ?, ?, ?)",
                               [(new_id, *row) for row in rows[run.run_id]])
            for run in runs:
                if plans[run.run_id] is not None:
                    source, target = root / run.run_id, store.run_dir(plans[run.run_id])
                    (source / CURVES).unlink()  # the curves live in the store's table
                    source.rename(target)
                    moved.append((target, source))
    except BaseException as exc:
        for target, source in reversed(moved):
            target.rename(source)
        if isinstance(exc, OSError):
            raise GenzooError(f"cannot move the imported runs into the runs store "
                              f"{store.home}: {exc.strerror or exc}; nothing was "
                              "imported") from None
        raise


def _result(run: BundleRun, new_id: str | None, registry) -> dict:
    """One row of the import's result, with what the user should know about the run."""
    notes = list(run.notes)
    record = run.record
    identity = record.get("dataset_identity") or {}
    path = identity.get("path") if isinstance(identity.get("path"), str) else record["dataset"]
    if (identity or os.path.isabs(record["dataset"])) and not os.path.exists(path):
        notes.append(f"trained on {path}, which is not on this machine: its numbers show, "
                     "loading its model needs the file")
    if not any(name.endswith(".safetensors") for name in run.files):
        notes.append("it has no checkpoint: its numbers show, its model cannot be loaded")
    if registry is not None and record["model"] not in registry.models:
        notes.append(f"model {record['model']!r} is not installed here: its numbers show, "
                     "loading its model needs the plugin that provides it")
    status = ("skipped" if new_id is None else "imported" if new_id == run.run_id
              else "renamed")
    return {"run_id": run.run_id, "imported_as": new_id or run.run_id, "status": status,
            "notes": notes}
