"""Wall-clock timing for benchmarks and the speed numbers a run records.

The best of a few calls is reported (the least disturbed one: these machines are shared), a
call that is already slow is not repeated, and a CUDA device is synchronized before the clock
stops, since its kernels run after the Python call returns.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import torch


def best_of(fn: Callable[[], object], repeats: int, device: torch.device,
            quick_seconds: float | None = None) -> float:
    """Best-of-``repeats`` wall time of ``fn()`` in seconds; with ``quick_seconds``, once a
    call has taken that long it is not repeated."""
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        best = min(best, time.perf_counter() - started)
        if quick_seconds is not None and best >= quick_seconds:
            break
    return best
