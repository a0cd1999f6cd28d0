"""Choosing where to train: ``auto`` takes a CUDA GPU when there is one, else the CPU."""

from __future__ import annotations

import torch

from .errors import GenzooError


def resolve_device(name: str = "auto") -> torch.device:
    """``auto``, ``cpu``, ``cuda`` or ``cuda:N`` to a ``torch.device``; a clear error otherwise."""
    name = (name or "auto").strip().lower()
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cpu":
        return torch.device("cpu")
    if name == "cuda" or name.startswith("cuda:"):
        if not torch.cuda.is_available():
            raise GenzooError(f"--device {name}: no CUDA GPU is available on this machine "
                              "(torch.cuda.is_available() is False); use --device cpu or auto")
        device = torch.device(name)
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise GenzooError(f"--device {name}: only {torch.cuda.device_count()} GPU(s) here")
        return device
    raise GenzooError(f"unknown device {name!r}; choose one of: auto, cpu, cuda, cuda:N")


# A training split takes at most this share of the GPU's free memory to live there for the run;
# the rest is left to the model, its activations and the optimizer.
DEVICE_DATA_SHARE = 0.25


def keep_on_device(nbytes: int, device: torch.device, free_bytes: int | None = None) -> bool:
    """Whether a training split of ``nbytes`` is kept on ``device`` for the whole run (no
    per-batch host copies): always on a CPU, on a GPU while it takes at most
    ``DEVICE_DATA_SHARE`` of the free memory (``free_bytes``, default: what CUDA reports)."""
    if device.type != "cuda":
        return True
    if free_bytes is None:
        free_bytes, _ = torch.cuda.mem_get_info(device)
    return nbytes <= DEVICE_DATA_SHARE * free_bytes


def describe_device(device: torch.device) -> str:
    """A human name: ``cpu (2 threads)`` or the GPU's name."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"cpu ({torch.get_num_threads()} threads)"
