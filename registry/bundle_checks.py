"""What a run bundle may hold, checked before any of it lands in a runs store.

A bundle (``genzoo export RUN_ID... --bundle FILE.zip``) is a zip that a stranger may have
made: every entry name, size, kind and byte is checked here against a closed list of what
genzoo writes, and every parse is strict (JSON without NaN constants; tensors only through
safetensors, in :mod:`genzoo.registry.bundles`). A problem is one :class:`BadBundle` line that
names the bundle and the entry or run at fault. See docs/reliability.md, "Run bundles".
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import stat
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

from .errors import BadConfig, CheckpointError, GenzooError, NotFound
from .store import ACTIVE, STATUSES, RunRecord, check_run_id

FORMAT = "genzoo-bundle"
BUNDLE_VERSION = 1  # the version this genzoo writes
# The versions this genzoo reads. A version 2 adds its number here and a function to
# _AS_CURRENT that turns its manifest into the current shape; older bundles keep importing.
READABLE_VERSIONS = frozenset({1})

# Caps on what a bundle may unpack to, checked on the zip's headers and again on the bytes read
# (a header can lie): a class's checkpoints are megabytes, so these are far past honest use.
MAX_TOTAL_BYTES = 2 * 2**30
MAX_CHECKPOINT_BYTES = 2**30
MAX_JSON_BYTES = 64 * 2**20
MAX_ENTRIES = 10_000
_INT64 = 2**63

MANIFEST = "manifest.json"
CURVES = "curves.json"
_RUN_FILE = re.compile(r"curves\.json|ckpt-\d{8,}\.json|ckpt-\d{8,}\.safetensors")
_IN_RUN = re.compile(r"runs/([^/]+)/([^/]+)")
_SHA256 = re.compile(r"[0-9a-f]{64}")
_LAYOUT = ("manifest.json and runs/<run id>/ holding curves.json, ckpt-<step>.json and "
           "ckpt-<step>.safetensors")


class BadBundle(GenzooError):
    """A bundle that is not one genzoo wrote or can read: damaged, forged, too big or newer."""


@dataclass
class BundleRun:
    """One run as a bundle's manifest describes it, checked."""

    run_id: str
    record: dict  # the fields this genzoo knows, ready for a RunRecord
    files: dict[str, dict]  # {name in the run's folder: {"sha256", "size"}}
    notes: list[str] = field(default_factory=list)


def genzoo_version() -> str:
    """The installed genzoo's version ("unknown" in a source tree that is not installed)."""
    from importlib import metadata

    try:
        return metadata.version("genzoo")
    except metadata.PackageNotFoundError:
        return "unknown"


# -- the zip and its entries --------------------------------------------------------------------


def entry_cap(name: str) -> int:
    """The most bytes entry ``name`` may unpack to."""
    return MAX_CHECKPOINT_BYTES if name.endswith(".safetensors") else MAX_JSON_BYTES


def entry_problem(info: zipfile.ZipInfo) -> str | None:
    """Why a zip entry cannot be part of a bundle (zip slip, a link, a foreign file), or None."""
    name = info.filename
    if "\\" in name:
        return "has a backslash in its name"
    if name.startswith("/") or re.match(r"[A-Za-z]:", name):
        return "is an absolute path"
    if ".." in name.split("/"):
        return "climbs out of its folder (..)"
    kind = stat.S_IFMT(info.external_attr >> 16)
    if kind == stat.S_IFLNK:
        return "is a symbolic link"
    if info.is_dir() or kind not in (0, stat.S_IFREG):
        return "is not a regular file"
    if info.flag_bits & 0x1:
        return "is encrypted"
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        return f"is packed with zip method {info.compress_type} (a bundle uses stored or deflate)"
    if name == MANIFEST:
        return None
    match = _IN_RUN.fullmatch(name)
    if not match:
        return f"is not a file a bundle holds ({_LAYOUT})"
    try:
        check_run_id(match.group(1))
    except BadConfig:
        return "is in a folder whose name is not a run id"
    if not _RUN_FILE.fullmatch(match.group(2)):
        return f"has an unexpected name or extension ({_LAYOUT}; nothing else)"
    return None


def check_entries(archive: zipfile.ZipFile, label: str) -> dict[str, zipfile.ZipInfo]:
    """The bundle's entries by name, once each name, kind and declared size is allowed."""
    infos = archive.infolist()
    if len(infos) > MAX_ENTRIES:
        raise BadBundle(f"bundle {label} holds {len(infos):,} entries, more than a bundle may "
                        f"({MAX_ENTRIES:,})")
    entries: dict[str, zipfile.ZipInfo] = {}
    total = 0
    for info in infos:
        problem = entry_problem(info)
        if problem:
            raise BadBundle(f"bundle {label}: entry {info.filename!r} {problem}; refused")
        if info.filename in entries:  # a second copy would shadow the first one checked
            raise BadBundle(f"bundle {label}: entry {info.filename!r} appears twice; refused")
        if info.file_size > entry_cap(info.filename):
            raise BadBundle(f"bundle {label}: entry {info.filename!r} unpacks to "
                            f"{info.file_size:,} bytes, more than such a file may hold "
                            f"({entry_cap(info.filename):,}); refused")
        total += info.file_size
        entries[info.filename] = info
    if total > MAX_TOTAL_BYTES:
        raise BadBundle(f"bundle {label} unpacks to {total:,} bytes, more than a bundle may "
                        f"hold ({MAX_TOTAL_BYTES:,}); refused")
    if MANIFEST not in entries:
        raise BadBundle(f"bundle {label} has no {MANIFEST}: it is not a genzoo bundle")
    return entries


def open_bundle(path, label: str) -> zipfile.ZipFile:
    """The bundle at ``path`` opened as a zip; one line naming it if it is none or is far
    bigger than a bundle may unpack to (before its central directory is read)."""
    try:
        if os.stat(path).st_size > MAX_TOTAL_BYTES + MAX_JSON_BYTES:
            raise BadBundle(f"bundle {label} is {os.stat(path).st_size:,} bytes, more than a "
                            f"bundle may hold ({MAX_TOTAL_BYTES:,}); refused")
        return zipfile.ZipFile(path)
    except FileNotFoundError:
        raise NotFound(f"no bundle {label}: the file does not exist") from None
    except IsADirectoryError:
        raise GenzooError(f"bundle {label} is a folder, not a zip file") from None
    except (zipfile.BadZipFile, EOFError, ValueError):
        raise BadBundle(f"bundle {label} is not a zip file (a bundle is the zip `genzoo "
                        "export --bundle` writes)") from None
    except OSError as exc:
        raise GenzooError(f"cannot read bundle {label}: {exc.strerror or exc}") from None


def read_manifest(archive: zipfile.ZipFile, entries: dict, label: str):
    """The bundle's ``manifest.json``, read within its cap and parsed strictly."""
    payload, _, _ = read_entry(archive, entries[MANIFEST], label)
    return strict_json(payload, f"bundle {label}: {MANIFEST}")


def read_entry(archive: zipfile.ZipFile, info: zipfile.ZipInfo, label: str,
               sink=None) -> tuple[bytes, str, int]:
    """Read one entry, counting its bytes against its header and its cap as they come (a lying
    header or a zip bomb stops here); returns ``(bytes, sha256, size)``, the bytes empty when
    they go to ``sink`` (a file) instead of memory."""
    limit = min(info.file_size, entry_cap(info.filename))
    digest, size, chunks = hashlib.sha256(), 0, []
    try:
        with archive.open(info) as handle:
            while True:
                chunk = handle.read(1 << 20)
                if not chunk:
                    break
                size += len(chunk)
                if size > limit:
                    raise BadBundle(f"bundle {label}: entry {info.filename!r} holds more bytes "
                                    f"than its zip header says ({info.file_size:,}) or than "
                                    f"such a file may hold; refused")
                digest.update(chunk)
                if sink is None:
                    chunks.append(chunk)
                else:
                    sink.write(chunk)
    except (zipfile.BadZipFile, zlib.error, EOFError, ValueError) as exc:
        raise BadBundle(f"bundle {label}: entry {info.filename!r} is damaged or its zip header "
                        f"lies ({exc}); refused") from None
    if size != info.file_size:
        raise BadBundle(f"bundle {label}: entry {info.filename!r} holds {size:,} bytes, not the "
                        f"{info.file_size:,} its zip header says; refused")
    return b"".join(chunks), digest.hexdigest(), size


# -- strict JSON --------------------------------------------------------------------------------


def _no_constant(name: str):
    raise ValueError(f"{name} is not JSON (a bundle holds strict JSON)")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text} is not a finite number")
    return value


def _unique_keys(pairs):
    keys = [key for key, _ in pairs]
    if len(set(keys)) != len(keys):
        raise ValueError(f"key {next(k for k in keys if keys.count(k) > 1)!r} appears twice")
    return dict(pairs)


def strict_json(payload: bytes, where: str):
    """Parse UTF-8 JSON with no NaN or Infinity, no number beyond a float, no repeated key."""
    try:
        return json.loads(payload.decode("utf-8"), parse_constant=_no_constant,
                          parse_float=_finite_float, object_pairs_hook=_unique_keys)
    except UnicodeDecodeError:
        raise BadBundle(f"{where} is not UTF-8 text; refused") from None
    except RecursionError:
        raise BadBundle(f"{where} is nested too deeply to be genzoo's JSON; refused") from None
    except ValueError as exc:  # a JSONDecodeError is a ValueError
        raise BadBundle(f"{where} is not valid JSON ({exc}); refused") from None


# -- the manifest -------------------------------------------------------------------------------


def check_version(manifest: dict, label: str) -> None:
    """Refuse a bundle of a format or version this genzoo does not read, saying what to do."""
    found = manifest.get("format")
    if found != FORMAT:
        raise BadBundle(f"bundle {label} is not a genzoo bundle (its manifest's format is "
                        f"{found!r}, not {FORMAT!r}); refused")
    version = manifest.get("version")
    readable = ", ".join(str(v) for v in sorted(READABLE_VERSIONS))
    if isinstance(version, bool) or not isinstance(version, int):
        raise BadBundle(f"bundle {label}: its version {version!r} is not a number; refused")
    if version in READABLE_VERSIONS:
        return
    if version > max(READABLE_VERSIONS):
        raise BadBundle(f"bundle {label} is a {FORMAT} of version {version}, written by a newer "
                        f"genzoo; this genzoo ({genzoo_version()}) reads version {readable}: "
                        "upgrade genzoo (pip install -U genzoo) to import it")
    raise BadBundle(f"bundle {label} is a {FORMAT} of version {version}, which this genzoo "
                    f"({genzoo_version()}) does not read (it reads version {readable}); export "
                    "the runs again with a current genzoo")


def _as_current_v1(manifest: dict) -> dict:
    return manifest  # version 1 is the current shape


_AS_CURRENT = {1: _as_current_v1}  # version -> its manifest in the current shape


def check_manifest(manifest, entries: dict[str, zipfile.ZipInfo],
                   label: str) -> list[BundleRun]:
    """The runs a manifest lists, checked, and checked against the zip's entries: every file
    listed is there with the size the manifest says, and nothing else is."""
    if not isinstance(manifest, dict):
        raise BadBundle(f"bundle {label}: its {MANIFEST} is not a JSON object; refused")
    check_version(manifest, label)
    manifest = _AS_CURRENT[manifest["version"]](manifest)
    listed = manifest.get("runs")
    if not isinstance(listed, list) or not listed:
        raise BadBundle(f"bundle {label}: its manifest lists no runs; refused")
    runs, expected = [], {MANIFEST}
    for index, item in enumerate(listed):
        run = _check_run_entry(item, index, label)
        if any(run.run_id == other.run_id for other in runs):
            raise BadBundle(f"bundle {label}: run {run.run_id!r} is listed twice; refused")
        runs.append(run)
        for name, facts in run.files.items():
            entry = f"runs/{run.run_id}/{name}"
            expected.add(entry)
            if entry not in entries:
                raise BadBundle(f"bundle {label}: its manifest lists {entry!r}, which the zip "
                                "does not hold; refused")
            if entries[entry].file_size != facts["size"]:
                raise BadBundle(f"bundle {label}: entry {entry!r} is {entries[entry].file_size:,}"
                                f" bytes, not the {facts['size']:,} its manifest says; refused")
    unlisted = sorted(set(entries) - expected)
    if unlisted:
        raise BadBundle(f"bundle {label}: entry {unlisted[0]!r} is not listed in its manifest; "
                        "refused")
    return runs


def _check_run_entry(item, index: int, label: str) -> BundleRun:
    """One item of the manifest's ``runs``: its id, its files, its record."""
    if not isinstance(item, dict):
        raise BadBundle(f"bundle {label}: run {index} of its manifest is not an object; refused")
    run_id = item.get("run_id")
    try:
        check_run_id(run_id)
    except BadConfig:
        raise BadBundle(f"bundle {label}: run {index} has no valid run id ({run_id!r}); "
                        "refused") from None
    files = item.get("files")
    if not isinstance(files, dict) or CURVES not in files:
        raise BadBundle(f"bundle {label}: run {run_id!r} lists no {CURVES}; refused")
    for name, facts in files.items():
        size = facts.get("size") if isinstance(facts, dict) else None
        if not _RUN_FILE.fullmatch(name):
            raise BadBundle(f"bundle {label}: run {run_id!r} lists a file {name!r} that a "
                            "bundle does not hold; refused")
        if (not isinstance(facts, dict) or not isinstance(facts.get("sha256"), str)
                or not _SHA256.fullmatch(facts["sha256"]) or isinstance(size, bool)
                or not isinstance(size, int) or size < 0):
            raise BadBundle(f"bundle {label}: file {name!r} of run {run_id!r} has no valid "
                            "sha256 and size in the manifest; refused")
    record, notes = check_record(item.get("record"), run_id, label)
    return BundleRun(run_id=run_id, record=record, files=files, notes=notes)


# -- a run's record -----------------------------------------------------------------------------

_NUMBER = (int, float)
# The type of each field this genzoo's records have (None: may be null).
_FIELD_TYPES = {
    "run_id": str, "model": str, "dataset": str, "config": dict, "seed": int, "device": str,
    "status": str, "step": int, "target_steps": (int, None), "target_seconds": (_NUMBER, None),
    "train_seconds": _NUMBER, "metrics": dict, "dataset_options": dict, "data_info": dict,
    "error": (str, None), "tags": list, "settings": dict, "dataset_identity": dict,
    "created_at": _NUMBER, "updated_at": _NUMBER,
}
_SCALARS = (str, int, float, bool, type(None))  # a field added later than this table


def required_fields() -> list[str]:
    """The fields a record must carry: those of :class:`RunRecord` with no default."""
    from dataclasses import MISSING

    return [name for name, f in RunRecord.__dataclass_fields__.items()
            if f.default is MISSING and f.default_factory is MISSING]


def _fits(value, kinds) -> bool:
    kinds = kinds if isinstance(kinds, tuple) else (kinds,)
    if value is None:
        return None in kinds
    flat = tuple(k for kind in kinds if kind is not None
                 for k in (kind if isinstance(kind, tuple) else (kind,)))
    if isinstance(value, bool):
        return bool in flat
    if isinstance(value, int) and not -_INT64 <= value < _INT64:
        return False  # SQLite's integers are 64-bit
    if isinstance(value, int) and int not in flat and float in flat:
        return True
    return isinstance(value, flat)


def check_record(record, run_id: str, label: str) -> tuple[dict, list[str]]:
    """A bundle's run record as the fields this genzoo knows, each of its type; fields of a
    newer genzoo are dropped with a note. Refuses a record that lacks a required field, names
    another run, or is still training."""
    if not isinstance(record, dict):
        raise BadBundle(f"bundle {label}: run {run_id!r} has no record; refused")
    missing = [name for name in required_fields() if name not in record]
    if missing:
        raise BadBundle(f"bundle {label}: the record of run {run_id!r} lacks "
                        f"{', '.join(missing)}; refused")
    known = RunRecord.__dataclass_fields__
    kept = {key: value for key, value in record.items() if key in known}
    for key, value in kept.items():
        kinds = _FIELD_TYPES.get(key, _SCALARS)
        if not _fits(value, kinds):
            raise BadBundle(f"bundle {label}: the record of run {run_id!r} has a {key} of the "
                            f"wrong type ({type(value).__name__}); refused")
    if kept["run_id"] != run_id:
        raise BadBundle(f"bundle {label}: the record of run {run_id!r} names run "
                        f"{kept['run_id']!r}; refused")
    if kept["status"] not in STATUSES or kept["status"] in ACTIVE:
        raise BadBundle(f"bundle {label}: run {run_id!r} has status {kept['status']!r}, not "
                        "one of a finished run; refused")
    dropped = sorted(set(record) - set(known))
    notes = ([f"fields this genzoo does not know were dropped: {', '.join(dropped)}"]
             if dropped else [])
    return kept, notes


def check_curves(points, where: str) -> list[tuple]:
    """A run's logged points, ``[{step, name, value, wall_time}]``, as rows of the metrics
    table; refuses anything else."""
    if not isinstance(points, list):
        raise BadBundle(f"{where} is not a list of points; refused")
    rows = []
    for point in points:
        if (not isinstance(point, dict) or set(point) != {"step", "name", "value", "wall_time"}
                or not _fits(point["step"], int) or point["step"] < 0
                or not isinstance(point["name"], str) or not point["name"]
                or not _fits(point["value"], _NUMBER) or not _fits(point["wall_time"], _NUMBER)):
            raise BadBundle(f"{where}: {str(point)[:80]} is not a logged point (step, name, "
                            "value, wall_time); refused")
        rows.append((point["step"], point["name"], float(point["value"]),
                     float(point["wall_time"])))
    return rows


# -- unpacking and what was unpacked ---------------------------------------------------------------


def unpack_run(archive: zipfile.ZipFile, entries: dict, run: BundleRun, folder: Path,
               label: str) -> None:
    """Unpack a run's files into ``folder``, each counted, hashed and checked against the
    manifest as it is read."""
    folder.mkdir()
    for name, facts in run.files.items():
        entry = f"runs/{run.run_id}/{name}"
        try:
            fd = os.open(folder / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as sink:
                _, digest, size = read_entry(archive, entries[entry], label, sink)
                sink.flush()
                os.fsync(sink.fileno())
        except OSError as exc:
            raise GenzooError(f"cannot unpack bundle {label} into the runs store: "
                              f"{exc.strerror or exc}") from None
        if digest != facts["sha256"] or size != facts["size"]:
            raise BadBundle(f"bundle {label}: entry {entry!r} does not match the SHA-256 and "
                            "size its manifest records (damaged or altered); refused")


def check_unpacked(folder: Path, run: BundleRun, label: str) -> list[tuple]:
    """Parse a run's unpacked files: its curves, and each checkpoint as genzoo loads one (its
    JSON, the tensors' SHA-256, safetensors, never a pickle); no tensor file may be left that
    no checkpoint names. Returns the curves as rows of the metrics table."""
    from .checkpoints import load_checkpoint

    where = f"bundle {label}: runs/{run.run_id}/{CURVES}"
    rows = check_curves(strict_json((folder / CURVES).read_bytes(), where), where)
    named = set()
    for name in sorted(n for n in run.files if n.endswith(".json") and n != CURVES):
        strict_json((folder / name).read_bytes(), f"bundle {label}: runs/{run.run_id}/{name}")
        try:
            checkpoint = load_checkpoint(folder / name)
        except CheckpointError as exc:  # named by its place in the bundle, not the staging's
            problem = " ".join(str(exc).replace(str(folder), f"runs/{run.run_id}").split())
            raise BadBundle(f"bundle {label}: {problem}; refused") from None
        named.add(checkpoint.meta["tensors"])
    orphans = sorted(n for n in run.files if n.endswith(".safetensors") and n not in named)
    if orphans:
        raise BadBundle(f"bundle {label}: runs/{run.run_id}/{orphans[0]} is named by no "
                        "checkpoint JSON; refused")
    return rows


def file_facts(path: Path) -> dict:
    """``{"sha256", "size"}`` of a file, read in chunks."""
    digest, size = hashlib.sha256(), 0
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
            size += len(chunk)
    return {"sha256": digest.hexdigest(), "size": size}
