"""Checkpoints that cannot run code: safetensors for tensors, JSON for everything else.

A checkpoint at step ``s`` is two files in the run's folder, ``ckpt-<s>.safetensors`` and
``ckpt-<s>.json``. Each is written to a temporary name, flushed to disk and renamed, and the JSON
goes last, naming the tensor file and its SHA-256: a checkpoint exists only once its JSON does,
so a crash mid-write never leaves a half checkpoint that looks whole. The JSON also records the
SHA-256 of its own content (``meta_sha256``), so a flipped byte in the optimizer settings or the
step is caught like one in the tensors. Loading reads tensors with safetensors and never
unpickles anything; a checkpoint that cannot be read or written is a :class:`CheckpointError`
that names the file (or the run's folder, for a full disk).
"""

from __future__ import annotations

import errno
import hashlib
import json
import math
import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load, save

from .errors import CheckpointError

FORMAT_VERSION = 2  # 2: meta_sha256 is required (1 may lack it: read with a warning)
KEEP_LAST = 2
_NAME = re.compile(r"^ckpt-(\d{8,})\.json$")
_TENSORS = re.compile(r"^ckpt-(\d{8,})\.safetensors$")
# what atomic_write_bytes leaves of a checkpoint when the process is killed mid-write
_PARTIAL = re.compile(r"^\.ckpt-\d{8,}\.(safetensors|json)\..*\.tmp$")
_DISK_FULL = (errno.ENOSPC, errno.EDQUOT)


@dataclass
class Checkpoint:
    """A loaded checkpoint: model tensors, optimizer states, RNG states and the JSON metadata."""

    step: int
    model_state: dict[str, torch.Tensor]
    optimizer_states: list[dict]
    rng_states: dict[str, torch.Tensor]
    meta: dict
    path: Path
    notes: list[str] = field(default_factory=list)  # read, but not as fully checked as new ones


def atomic_write_bytes(path: Path, payload: bytes, *, mode: int | None = None) -> None:
    """Write ``payload`` to ``path`` via a temporary file and a rename (all or nothing); the
    file is private (0600, the temporary file's) unless ``mode`` is given."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        if mode is not None:
            os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _flatten_optimizer(index: int, optimizer: torch.optim.Optimizer):
    """Split an optimizer's state dict into tensors (for safetensors) and JSON-able scalars."""
    state = optimizer.state_dict()
    tensors, scalars = {}, {}
    for param_id, param_state in state["state"].items():
        for key, value in param_state.items():
            name = f"optim.{index}.{param_id}.{key}"
            if torch.is_tensor(value):
                tensors[name] = value.detach().cpu().contiguous()
            else:
                scalars[name] = value
    # which parameters had state, and under which keys: a tensor lost from the file is then
    # named on load, not met as a parameter that never took a step (Adam starts it afresh)
    keys = {str(param_id): sorted(param_state) for param_id, param_state in state["state"].items()}
    return tensors, {"param_groups": state["param_groups"], "scalars": scalars,
                     "state_keys": keys}


def _unflatten_optimizer(index: int, tensors: dict, meta: dict) -> dict:
    state: dict[int, dict] = {}
    prefix = f"optim.{index}."
    for name, value in [*tensors.items(), *meta["scalars"].items()]:
        if name.startswith(prefix):
            param_id, key = name[len(prefix):].split(".", 1)
            state.setdefault(int(param_id), {})[key] = value
    problem = _missing_state(state, meta.get("state_keys"))
    if problem:
        raise ValueError(f"optimizer {index}: {problem}")
    return {"state": state, "param_groups": meta["param_groups"]}


def _missing_state(state: dict[int, dict], recorded: dict | None) -> str | None:
    """What the optimizer state lacks: against the keys recorded at save time where the JSON has
    them (this version writes them), and in any case against its own other parameters, since one
    optimizer keeps the same entries (Adam: step, exp_avg, exp_avg_sq) for every parameter it
    has stepped. A parameter with no state at all is legitimate only where none was recorded:
    it never had a gradient."""
    if recorded is not None:
        if not isinstance(recorded, dict):
            return "its recorded state keys are not an object"
        for param_id, keys in recorded.items():
            lost = sorted(set(keys) - set(state.get(int(param_id), {})))
            if lost:
                return f"parameter {param_id}'s state lacks {', '.join(lost)}"
    if state:
        every = set().union(*state.values())
        for param_id, param_state in sorted(state.items()):
            if set(param_state) != every:
                return (f"parameter {param_id}'s state lacks "
                        f"{', '.join(sorted(every - set(param_state)))}")
    return None


def save_checkpoint(run_dir: Path, step: int, model: torch.nn.Module,
                    optimizers: list[torch.optim.Optimizer] = (), *,
                    rng_states: dict[str, torch.Tensor] | None = None,
                    meta: dict | None = None) -> Path:
    """Write the checkpoint for ``step`` atomically and prune all but the last ``KEEP_LAST``.

    A write that fails (a full disk, most often) leaves the earlier checkpoints as they were and
    nothing of this one, and raises a :class:`CheckpointError` naming the folder and the step
    of the checkpoint that is kept.
    """
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    tensors = {f"model.{k}": v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    optim_meta = []
    for i, optimizer in enumerate(optimizers):
        opt_tensors, opt_meta = _flatten_optimizer(i, optimizer)
        tensors.update(opt_tensors)
        optim_meta.append(opt_meta)
    for name, value in (rng_states or {}).items():
        tensors[f"rng.{name}"] = value.detach().cpu().contiguous()

    tensor_path = run_dir / f"ckpt-{step:08d}.safetensors"
    json_path = run_dir / f"ckpt-{step:08d}.json"
    payload = save(tensors)  # safetensors bytes: hashed, then written atomically
    record = {"format": FORMAT_VERSION, "step": step, "tensors": tensor_path.name,
              "sha256": hashlib.sha256(payload).hexdigest(), "optimizers": optim_meta,
              **(meta or {})}
    record["meta_sha256"] = meta_digest(record)
    text = json.dumps(record, indent=1, default=_json_default).encode()
    rewrite = json_path.exists()  # the same step again (a final save right after a periodic one)
    try:
        atomic_write_bytes(tensor_path, payload)
        try:
            atomic_write_bytes(json_path, text)
        except OSError:
            if not rewrite:  # tensors that no JSON vouches for: not a checkpoint, only space
                tensor_path.unlink(missing_ok=True)
            raise
    except OSError as exc:
        raise CheckpointError(_write_failure(run_dir, step, exc)) from None
    _prune(run_dir, step)
    return json_path


def meta_digest(record: dict) -> str:
    """SHA-256 of a checkpoint's JSON record without its ``meta_sha256``, keys sorted.

    Computed on the record as a reader parses it back (tuples as lists), so the writer and the
    reader hash the same text.
    """
    body = {key: value for key, value in record.items() if key != "meta_sha256"}
    parsed = json.loads(json.dumps(body, default=_json_default))
    return hashlib.sha256(json.dumps(parsed, sort_keys=True).encode()).hexdigest()


def _write_failure(run_dir: Path, step: int, exc: OSError) -> str:
    """One line: which checkpoint could not be written where, why, and what is kept."""
    full = exc.errno in _DISK_FULL
    why = f"the disk is full ({exc.strerror})" if full else f"{exc.strerror or exc}"
    kept = list_checkpoints(run_dir)
    kept = (f"the previous checkpoint (step {_step(kept[0])}) is kept" if kept
            else "no earlier checkpoint exists (a resume starts from step 0)")
    return (f"cannot write the checkpoint of step {step} in {run_dir}: {why}; {kept}"
            + ("; free some space" if full else ""))


def _json_default(value):
    if isinstance(value, (set, tuple)):
        return list(value)
    if torch.is_tensor(value):
        return value.tolist()
    raise TypeError(f"not JSON-serializable in a checkpoint: {type(value).__name__}")


def list_checkpoints(run_dir: Path) -> list[Path]:
    """Complete checkpoints (their JSON exists), newest first."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        return []
    found = [p for p in run_dir.iterdir() if _NAME.match(p.name)]
    return sorted(found, key=_step, reverse=True)


def _step(json_path: Path) -> int:
    return int(_NAME.match(json_path.name).group(1))


def _prune(run_dir: Path, step: int) -> None:
    """Keep the newest ``KEEP_LAST`` checkpoints up to ``step``; drop the rest, and the files of
    writes that never finished.

    A checkpoint newer than ``step`` belongs to a past the run has left: it could not be read
    when the run resumed from an older one, and the run's curves were cut back to that older
    step, so it would not match them were it readable later. One process trains a run
    (``process.own_run``) and it is the one calling this, so a temporary file, or a tensor file
    that no JSON names, is left over from a process killed mid-write, never a write in progress.
    """
    complete = list_checkpoints(run_dir)
    newer = [p for p in complete if _step(p) > step]
    for old in newer + [p for p in complete if _step(p) <= step][KEEP_LAST:]:
        (old.with_suffix(".safetensors")).unlink(missing_ok=True)
        old.unlink(missing_ok=True)
    named = {p.with_suffix(".safetensors").name for p in list_checkpoints(run_dir)}
    for path in run_dir.iterdir():
        if _PARTIAL.match(path.name) or (_TENSORS.match(path.name) and path.name not in named):
            path.unlink(missing_ok=True)


def load_checkpoint(json_path: Path) -> Checkpoint:
    """Read one checkpoint; a :class:`CheckpointError` names the file if anything is wrong."""
    json_path = Path(json_path)
    try:
        meta = json.loads(json_path.read_text())
    except FileNotFoundError:
        raise CheckpointError(f"checkpoint file missing: {json_path}") from None
    except (ValueError, UnicodeDecodeError) as exc:  # a JSONDecodeError is a ValueError
        raise CheckpointError(f"checkpoint metadata {json_path} is corrupt: {exc}") from None
    except RecursionError:  # JSON nested deeper than Python parses
        raise CheckpointError(f"checkpoint metadata {json_path} is corrupt: nested too "
                              "deeply to be a checkpoint") from None
    except OSError as exc:
        raise CheckpointError(f"cannot read checkpoint {json_path}: {exc.strerror}") from None
    tensor_path = json_path.parent / _check_meta(json_path, meta)
    try:
        payload = tensor_path.read_bytes()
    except FileNotFoundError:
        raise CheckpointError(f"checkpoint file missing: {tensor_path}") from None
    except OSError as exc:
        raise CheckpointError(f"cannot read checkpoint {tensor_path}: {exc.strerror}") from None
    if hashlib.sha256(payload).hexdigest() != meta["sha256"]:
        raise CheckpointError(f"checkpoint {tensor_path} is corrupt or truncated "
                              "(its SHA-256 does not match the one recorded at save time)")
    try:
        tensors = load(payload)
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"checkpoint {tensor_path} is not a readable safetensors file: "
                              f"{exc}") from None
    model_state = {k[len("model."):]: v for k, v in tensors.items() if k.startswith("model.")}
    rng_states = {k[len("rng."):]: v for k, v in tensors.items() if k.startswith("rng.")}
    try:
        optimizer_states = [_unflatten_optimizer(i, tensors, m)
                            for i, m in enumerate(meta.get("optimizers", []))]
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise CheckpointError(f"checkpoint metadata {json_path} is corrupt: its optimizer "
                              f"states do not fit its tensors ({exc})") from None
    notes = [] if "meta_sha256" in meta else [
        f"checkpoint {json_path} was written by an older genzoo, without a SHA-256 of its "
        "metadata: its metadata is read unchecked"]
    return Checkpoint(step=meta["step"], model_state=model_state,
                      optimizer_states=optimizer_states, rng_states=rng_states, meta=meta,
                      path=json_path, notes=notes)


def _check_meta(json_path: Path, meta) -> str:
    """The tensor file a checkpoint's JSON names, once the JSON is shown to be whole."""
    problem = None
    if not isinstance(meta, dict):
        problem = f"a JSON {type(meta).__name__}, not an object"
    elif meta.get("format") not in (1, FORMAT_VERSION):
        problem = f"format {meta.get('format')!r} is not one this genzoo reads (1 or 2)"
    elif "meta_sha256" not in meta and meta["format"] >= 2:
        problem = "it records no SHA-256 of itself (meta_sha256), which this format requires"
    elif "meta_sha256" in meta and meta["meta_sha256"] != _digest_or_none(meta):
        problem = "its SHA-256 does not match the one recorded at save time"
    elif not isinstance(meta.get("sha256"), str) or len(meta["sha256"]) != 64:
        problem = "it records no SHA-256 of its tensors"
    elif (not isinstance(meta.get("tensors"), str)
          or not _TENSORS.match(meta["tensors"])):  # a file name of this folder, nothing else
        problem = f"it names no tensor file of its folder ({meta.get('tensors')!r})"
    elif not isinstance(meta.get("step"), int) or meta["step"] < 0 or (
            _NAME.match(json_path.name) and meta["step"] != _step(json_path)):
        problem = f"its step ({meta.get('step')!r}) is not the one in its name"
    elif "train_seconds" in meta and not (
            isinstance(meta["train_seconds"], (int, float)) and not isinstance(
                meta["train_seconds"], bool) and 0 <= meta["train_seconds"] < math.inf):
        problem = f"its train_seconds ({meta['train_seconds']!r}) is not a duration"
    elif not isinstance(meta.get("optimizers", []), list):
        problem = "its optimizers are not a list"
    if problem:
        raise CheckpointError(f"checkpoint metadata {json_path} is corrupt: {problem}")
    return meta["tensors"]


def _digest_or_none(meta: dict) -> str | None:
    try:
        return meta_digest(meta)
    except (TypeError, ValueError, RecursionError):
        return None


def load_latest(run_dir: Path) -> tuple[Checkpoint | None, list[str]]:
    """The newest readable checkpoint, falling back to older ones; also the errors met on the way.

    Returns ``(None, errors)`` when no checkpoint could be read.
    """
    errors = []
    for json_path in list_checkpoints(run_dir):
        try:
            return load_checkpoint(json_path), errors
        except CheckpointError as exc:
            errors.append(str(exc))
    return None, errors
