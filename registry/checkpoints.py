"""Checkpoints that cannot run code: safetensors for tensors, JSON for everything else.

A checkpoint at step ``s`` is two files in the run's folder, ``ckpt-<s>.safetensors`` and
``ckpt-<s>.json``. Each is written to a temporary name, flushed to disk and renamed, and the JSON
goes last, naming the tensor file and its SHA-256: a checkpoint exists only once its JSON does,
so a crash mid-write never leaves a half checkpoint that looks whole. Loading reads tensors with
safetensors and never unpickles anything.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load, save

from .errors import CheckpointError

FORMAT_VERSION = 1
KEEP_LAST = 2
_NAME = re.compile(r"^ckpt-(\d{8})\.json$")


@dataclass
class Checkpoint:
    """A loaded checkpoint: model tensors, optimizer states, RNG states and the JSON metadata."""

    step: int
    model_state: dict[str, torch.Tensor]
    optimizer_states: list[dict]
    rng_states: dict[str, torch.Tensor]
    meta: dict
    path: Path


def atomic_write_bytes(path: Path, payload: bytes) -> None:
    """Write ``payload`` to ``path`` via a temporary file and a rename (all or nothing)."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
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
    return tensors, {"param_groups": state["param_groups"], "scalars": scalars}


def _unflatten_optimizer(index: int, tensors: dict, meta: dict) -> dict:
    state: dict[int, dict] = {}
    prefix = f"optim.{index}."
    for name, value in [*tensors.items(), *meta["scalars"].items()]:
        if name.startswith(prefix):
            param_id, key = name[len(prefix):].split(".", 1)
            state.setdefault(int(param_id), {})[key] = value
    return {"state": state, "param_groups": meta["param_groups"]}


def save_checkpoint(run_dir: Path, step: int, model: torch.nn.Module,
                    optimizers: list[torch.optim.Optimizer] = (), *,
                    rng_states: dict[str, torch.Tensor] | None = None,
                    meta: dict | None = None) -> Path:
    """Write the checkpoint for ``step`` atomically and prune all but the last ``KEEP_LAST``."""
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
    payload = save(tensors)  # safetensors bytes: hashed, then written atomically
    digest = hashlib.sha256(payload).hexdigest()
    atomic_write_bytes(tensor_path, payload)
    record = {"format": FORMAT_VERSION, "step": step, "tensors": tensor_path.name,
              "sha256": digest, "optimizers": optim_meta, **(meta or {})}
    json_path = run_dir / f"ckpt-{step:08d}.json"
    atomic_write_bytes(json_path, json.dumps(record, indent=1, default=_json_default).encode())
    _prune(run_dir)
    return json_path


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
    return sorted(found, key=lambda p: p.name, reverse=True)


def _prune(run_dir: Path) -> None:
    for old in list_checkpoints(run_dir)[KEEP_LAST:]:
        (old.with_suffix(".safetensors")).unlink(missing_ok=True)
        old.unlink(missing_ok=True)


def load_checkpoint(json_path: Path) -> Checkpoint:
    """Read one checkpoint; a :class:`CheckpointError` names the file if anything is wrong."""
    json_path = Path(json_path)
    try:
        meta = json.loads(json_path.read_text())
        tensor_path = json_path.parent / meta["tensors"]
        payload = tensor_path.read_bytes()
    except FileNotFoundError as exc:
        raise CheckpointError(f"checkpoint file missing: {exc.filename}") from None
    except (json.JSONDecodeError, KeyError, UnicodeDecodeError) as exc:
        raise CheckpointError(f"checkpoint metadata {json_path} is corrupt: {exc}") from None
    if meta.get("sha256") and hashlib.sha256(payload).hexdigest() != meta["sha256"]:
        raise CheckpointError(f"checkpoint {tensor_path} is corrupt or truncated "
                              "(its SHA-256 does not match the one recorded at save time)")
    try:
        tensors = load(payload)
    except (SafetensorError, OSError, ValueError) as exc:
        raise CheckpointError(f"checkpoint {tensor_path} is not a readable safetensors file: "
                              f"{exc}") from None
    model_state = {k[len("model."):]: v for k, v in tensors.items() if k.startswith("model.")}
    rng_states = {k[len("rng."):]: v for k, v in tensors.items() if k.startswith("rng.")}
    optimizer_states = [_unflatten_optimizer(i, tensors, m)
                        for i, m in enumerate(meta.get("optimizers", []))]
    return Checkpoint(step=int(meta["step"]), model_state=model_state,
                      optimizer_states=optimizer_states, rng_states=rng_states, meta=meta,
                      path=json_path)


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
