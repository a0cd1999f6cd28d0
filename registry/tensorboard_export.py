"""A run as TensorBoard event files: ``genzoo export RUN_ID... --tensorboard DIR``.

For people who already read their experiments in TensorBoard: every logged point of the run
under ``train/<name>``, its final numbers under ``final/<metric>`` at its last step, its config
and dataset as text, and for an image model a grid of 16 samples. The events of a run go to
``DIR/<run id>/``, written in a hidden folder beside it and renamed into place, so an export
that fails leaves nothing and one done again replaces the earlier one.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path

import torch

from .errors import GenzooError
from .store import RunRecord, RunStore

GRID_SAMPLES, GRID_COLUMNS = 16, 4
GRID_MIN_SIDE = 32  # pixels per sample in the grid: an 8x8 digit is drawn 4x larger
_EVENTS = "events.out.tfevents."


def summary_writer():
    """torch's ``SummaryWriter``; a one-line error that says how to install TensorBoard."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise GenzooError("writing TensorBoard event files needs the tensorboard package: "
                          "pip install 'genzoo[tensorboard]'") from None
    return SummaryWriter


def export_tensorboard(store: RunStore, registry, run_id: str, log_dir: str | Path, *,
                       warn: Callable[[str], None] | None = None) -> Path:
    """Write run ``run_id`` as TensorBoard events into ``log_dir/<run_id>``; returns that
    folder. Why a run gets no sample grid (an image run whose model cannot be loaded) goes to
    ``warn`` (default: :func:`warnings.warn`), never an exception: its curves and numbers are
    written all the same."""
    writer_class = summary_writer()
    record = store.get(run_id)
    target = Path(log_dir) / run_id
    check_target(target)
    points = store.curves(run_id)
    grid, why = sample_grid(store, registry, record)
    if why is not None:
        (warn or _warn)(f"run {run_id}: no sample grid: {why}")
    log_dir = Path(log_dir)
    made = [p for p in (log_dir, *log_dir.parents) if not p.exists()][::-1]  # outermost first
    staging, done = None, False
    try:
        log_dir.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(dir=log_dir, prefix=f".{run_id}.", suffix=".tmp"))
        umask = os.umask(0)
        os.umask(umask)
        staging.chmod(0o777 & ~umask)  # the user's folder, not mkdtemp's private one
        writer = writer_class(log_dir=str(staging))
        try:
            _write(writer, record, points, grid)
        finally:
            writer.close()
        _replace(staging, target)
        done = True
    except OSError as exc:
        raise GenzooError(f"cannot write TensorBoard events to {target}: "
                          f"{exc.strerror or exc}") from None
    finally:
        if not done:  # leave nothing of a failed export
            if staging is not None:
                shutil.rmtree(staging, ignore_errors=True)
            for folder in reversed(made):
                _remove_if_empty(folder)
    return target


def _warn(message: str) -> None:
    warnings.warn(message, stacklevel=3)


def check_target(target: Path) -> None:
    """Refuse a run's folder that holds anything but TensorBoard events (never deleted)."""
    try:
        if target.is_symlink() or (target.exists() and not target.is_dir()):
            raise GenzooError(f"cannot write TensorBoard events to {target}: it exists and is "
                              "not a folder")
        if target.is_dir() and any(not p.name.startswith(_EVENTS) or not p.is_file()
                                   for p in target.iterdir()):
            raise GenzooError(f"cannot write TensorBoard events to {target}: it holds files "
                              "that are not TensorBoard events; choose another folder")
        for parent in target.parents:
            if parent.exists() and not parent.is_dir():
                raise GenzooError(f"cannot write TensorBoard events to {target}: {parent} is "
                                  "a file, not a folder")
    except OSError as exc:  # a name too long, a folder that cannot be read
        raise GenzooError(f"cannot write TensorBoard events to {target}: "
                          f"{exc.strerror or exc}") from None


def _remove_if_empty(folder: Path) -> None:
    try:
        folder.rmdir()
    except OSError:
        pass


def _replace(staging: Path, target: Path) -> None:
    """Rename the written events into place; an earlier export of the run (events only, as
    :func:`check_target` made sure) is moved aside first and removed."""
    old = None
    if target.exists():
        old = target.with_name(f".{target.name}.replaced.tmp")
        shutil.rmtree(old, ignore_errors=True)
        target.rename(old)
    staging.rename(target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _write(writer, record: RunRecord, points: list[dict], grid: torch.Tensor | None) -> None:
    for point in points:
        writer.add_scalar(f"train/{point['name']}", point["value"], point["step"],
                          walltime=point["wall_time"])
    step, when = int(record.step), record.updated_at or None
    for name, value in sorted(final_numbers(record.metrics).items()):
        writer.add_scalar(f"final/{name}", value, step, walltime=when)
    writer.add_text("run/config", _code(record.config), step, walltime=when)
    writer.add_text("run/dataset", _code({"dataset": record.dataset,
                                          "options": record.dataset_options,
                                          "identity": record.dataset_identity,
                                          "data": record.data_info}), step, walltime=when)
    writer.add_text("run/model", f"{record.model}, seed {record.seed}, status {record.status}",
                    step, walltime=when)
    if grid is not None:
        writer.add_image("samples", grid, step, walltime=when, dataformats="CHW")


def _code(value) -> str:
    """JSON as a Markdown code block (TensorBoard's text plugin renders Markdown)."""
    return "```\n" + json.dumps(value, indent=2, sort_keys=True, default=str) + "\n```"


def final_numbers(metrics: dict) -> dict[str, float]:
    """A run's final metrics that are finite numbers (text and booleans left out)."""
    return {name: float(value) for name, value in metrics.items()
            if isinstance(value, (int, float)) and not isinstance(value, bool)
            and math.isfinite(value)}


def sample_grid(store: RunStore, registry, record: RunRecord
                ) -> tuple[torch.Tensor | None, str | None]:
    """16 samples of an image run (seed 0) as one (C, H', W') picture in [0, 1], and why there
    is none: ``(None, None)`` for a series run, ``(None, reason)`` when its model cannot load
    or sample."""
    info = record.data_info or {}
    if info.get("kind") != "image":
        return None, None
    from .runs import load_run

    try:
        loaded = load_run(record.run_id, store, registry)
        with torch.no_grad():
            samples = loaded.model.sample(GRID_SAMPLES,
                                          generator=torch.Generator().manual_seed(0))
    except GenzooError as exc:
        return None, str(exc)
    except Exception as exc:  # a plugin's model: its bug must not stop the export
        return None, f"its model failed to sample ({type(exc).__name__}: {exc})"
    levels = int(info.get("levels") or 2)
    if samples.dim() != 4 or samples.shape[1] not in (1, 3):
        return None, f"its samples have shape {tuple(samples.shape)}, not (N, 1 or 3, H, W)"
    return image_grid(samples.float().cpu() / max(levels - 1, 1)), None


def image_grid(images: torch.Tensor, columns: int = GRID_COLUMNS, pad: int = 1) -> torch.Tensor:
    """(N, C, H, W) values in [0, 1] tiled into one (C, H', W') picture, rows of ``columns``,
    each image scaled up (nearest) to at least :data:`GRID_MIN_SIDE` pixels, grey between."""
    n, channels, height, width = images.shape
    scale = max(1, GRID_MIN_SIDE // max(height, width))
    images = images.clamp(0, 1).repeat_interleave(scale, 2).repeat_interleave(scale, 3)
    height, width = height * scale, width * scale
    rows = math.ceil(n / columns)
    grid = torch.full((channels, rows * (height + pad) + pad, columns * (width + pad) + pad), 0.5)
    for index in range(n):
        row, col = divmod(index, columns)
        top, left = pad + row * (height + pad), pad + col * (width + pad)
        grid[:, top:top + height, left:left + width] = images[index]
    return grid
