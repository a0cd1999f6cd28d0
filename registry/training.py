"""The training loop shared by every model: batches, steps, logging, checkpoints, resume.

One loop serves all families. A model that fits in closed form (``fit`` returns True) takes no
gradient steps. Otherwise the loop calls ``training_step`` until the step or time budget is
spent, logs every named loss part to the store, writes an atomic checkpoint every
``checkpoint_every`` steps or ``checkpoint_seconds`` seconds, and stops at the first NaN or
infinite loss with the last good checkpoint kept.

A run is trained by one process at a time (``process.own_run``). Stopped on request (SIGTERM,
turned into :class:`Cancelled` by :func:`cancel_on_sigterm`), the loop checkpoints where it is
and marks the run ``cancelled``; Ctrl-C marks it ``interrupted``; both resume.
"""

from __future__ import annotations

import json
import math
import shlex
import signal
import threading
import time
import warnings
from collections import defaultdict
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import torch

from . import distributed, imagefiles
from .checkpoints import load_latest, save_checkpoint
from .config import build_config, config_to_json
from .devices import keep_on_device, resolve_device
from .errors import BadConfig, BadData, Cancelled, CheckpointError, GenzooError, TrainingDiverged
from .evaluation import count_parameters, evaluate
from .metrics import (
    PARAMETERS,
    SAMPLING_BATCHES,
    STEP,
    TRAIN_EXAMPLES_PER_S,
    TRAIN_SECONDS,
    sample_ms_key,
)
from .model import DataInfo, GenerativeModel
from .plugins import Registry
from .precision import resolve_precision
from .process import own_run
from .requests import check_budget, check_parent
from .runs import (
    build_model,
    check_compatible,
    checkpoint_mismatch,
    data_changed,
    is_image_path,
    load_dataset,
    load_run,
    load_run_dataset,
    split_settings,
)
from .series import context_length
from .spec import ModelSpec
from .store import RunRecord, RunStore, check_run_id
from .timing import best_of

DEFAULT_STEPS = 500


@contextmanager
def cancel_on_sigterm():
    """While the block runs, SIGTERM raises :class:`Cancelled` in the main thread.

    After the first SIGTERM further ones are ignored, so the final checkpoint is written whole;
    the previous handler is restored on exit. Off the main thread (where Python cannot set
    signal handlers) the block runs unchanged.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        raise Cancelled("stopped by SIGTERM")

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@dataclass
class LoopSettings:
    """How often the loop logs and checkpoints, and whether it draws a progress bar."""

    checkpoint_every: int = 250
    checkpoint_seconds: float = 30.0
    log_seconds: float = 0.5
    # True: a bar on a terminal only; "always": in a notebook too (the Python API's)
    progress: bool | str = True


def sample_batch(model: GenerativeModel, train: torch.Tensor, batch_size: int,
                 generator: torch.Generator, labels: torch.Tensor | None = None
                 ) -> tuple[torch.Tensor, dict]:
    """A random batch and its context: images drawn from the split (with their ``labels`` for
    a conditional model), or windows of ``order + 1`` series values."""
    if model.data.kind == "image":
        index = torch.randint(len(train), (batch_size,), generator=generator,
                              device=generator.device)
        context = {"labels": labels[index]} if model.conditional else {}
        return train[index], context
    width = context_length(model) + 1
    starts = torch.randint(len(train) - width + 1, (batch_size,), generator=generator,
                           device=generator.device)
    return train[starts[:, None] + torch.arange(width, device=train.device)], {}


def _rng_states(batch_generator: torch.Generator) -> dict[str, torch.Tensor]:
    states = {"torch": torch.get_rng_state(), "batches": batch_generator.get_state()}
    if torch.cuda.is_available():
        states["cuda"] = torch.cuda.get_rng_state()
    return states


def start_run(registry: Registry, store: RunStore, model_name: str, dataset: str | None, *,
              overrides: dict | None = None, dataset_options: dict | None = None,
              steps: int | None = None, seconds: float | None = None, device: str = "auto",
              seed: int = 0, settings: LoopSettings | None = None,
              tags: list | None = None, parent: str | None = None,
              run_id: str | None = None, precision: str = "auto",
              compile: bool = False) -> RunRecord:
    """Create a run, train it to its budget and evaluate it; returns the final record.

    ``overrides`` are ``--set`` pairs: config fields of the model, or options the dataset
    declares (``size`` for shapes). ``parent`` is the run a second-stage model builds on (the
    VQ-VAE whose codes a prior learns); the dataset is then the parent's. ``run_id`` names the
    new run (default: a fresh ``MODEL-DATASET-xxxxxx``); it must not be taken. ``precision``
    (auto | fp32 | bf16) and ``compile`` say how the steps run (:mod:`genzoo.registry.precision`)
    and are stored with the run. Every input is checked before anything is written, so a bad
    name, config or file leaves no run behind.
    """
    if run_id is not None:
        check_run_id(run_id)
        if store.run_dir(run_id).exists():
            raise GenzooError(f"run id {run_id!r} is taken; choose another")
    spec = registry.model(model_name)
    overrides = dict(overrides or {})
    parent_run = None
    if parent is not None or spec.parent is not None:
        parent_run, dataset, dataset_options = _load_parent(registry, store, spec, parent,
                                                            dataset)
        overrides.update(parent_run=parent_run.record.run_id,
                         parent_config=json.dumps(parent_run.record.config, sort_keys=True))
    if dataset is None:
        raise GenzooError(f"give a dataset to train {model_name!r} on: --dataset NAME or a CSV")
    overrides, data_settings = split_settings(registry, spec, dataset, overrides)
    dataset_options = {**(dataset_options or {}), **data_settings}
    data = load_dataset(registry, dataset, dataset_options)
    check_compatible(spec, data)
    config = build_config(spec.config_class, overrides)
    torch_device = resolve_device(device)
    world = distributed.current_world()
    if world.distributed:  # one of the processes `genzoo train --nproc N` started
        if run_id is None:
            raise GenzooError("a distributed run needs --run-id (genzoo train --nproc names it)")
        torch_device = distributed.init_process_group(world, torch_device)
    settings_json = {"precision": resolve_precision(precision, torch_device),
                     "compile": bool(compile)}
    check_budget(steps, seconds)
    if steps is None and seconds is None:
        steps = DEFAULT_STEPS
    torch.manual_seed(seed)
    try:
        model = build_model(spec, config, data.info).to(torch_device)
    except BadConfig as exc:  # the model sees a DataInfo, not the dataset's name: add it
        raise BadConfig(f"dataset {data.name!r}: {exc}") from None
    if parent_run is not None:
        model.attach_parent(parent_run.model)
    if data.kind == "series":
        with _naming_the_column(data, dataset):
            _check_series_length(model, data)
    if world.distributed:
        distributed.check_distributable(model, config.batch_size, world, steps, seconds,
                                        compile=compile)
    # Fitted before the run is recorded: a series too short for the model fails here, and
    # leaves no run behind.
    with _naming_the_column(data, dataset):
        closed_form = model.fit(data.train.to(torch_device))
    stored_dataset, dataset_options = _canonical_dataset(registry, dataset, data,
                                                         dataset_options)
    identity = (imagefiles.dataset_identity(dataset)
                if is_image_path(registry, dataset) else None)
    run = dict(model=model_name, dataset=stored_dataset, config=config_to_json(config),
               dataset_identity=identity,
               seed=seed, device=str(torch_device), data_info=data.info.to_json(),
               dataset_options=dataset_options, target_steps=steps, target_seconds=seconds,
               tags=tags, run_id=run_id, settings={**settings_json, "nproc": world.size})
    if not world.leader:  # rank 0 records the run; the others train beside it
        record = RunRecord(status="running", **{**run, "tags": tags or []})
        return _train(distributed.FollowerStore(record), record, spec, model, data,
                      torch_device, settings or LoopSettings(), closed_form=closed_form,
                      world=world)
    record = store.create_run(**run)
    with own_run(store.run_dir(record.run_id), record.run_id):
        return _train(store, record, spec, model, data, torch_device, settings or LoopSettings(),
                      closed_form=closed_form, world=world)


@contextmanager
def _naming_the_column(data, dataset: str):
    """An error about a series read from a CSV says which column it came from, and how to
    choose another (the default column may not be the one the user meant)."""
    try:
        yield
    except BadData as exc:
        if data.kind != "series" or dataset in ("", None) or ":" not in data.name \
                or not str(dataset).lower().endswith(".csv"):
            raise
        column = data.name.rsplit(":", 1)[1]
        raise BadData(f"{exc} (the series is column {column!r} of {Path(dataset).name}; "
                      "choose another with --column NAME)") from None


def _canonical_dataset(registry: Registry, dataset: str, data, options: dict) -> tuple[str, dict]:
    """The name a run stores its dataset under, so that the same data is grouped as one.

    A CSV path or a user's image files are stored absolute (the run reloads from anywhere);
    options that select a registered variant are stored as its name (``shapes`` with
    ``size=32`` is ``shapes-32``).
    """
    if is_image_path(registry, dataset):
        return str(Path(dataset).resolve()), dict(options)
    if dataset not in registry.datasets:  # a CSV: the column used is stored, chosen or not
        column = data.name.rsplit(":", 1)[1] if ":" in data.name else options.get("column")
        return str(Path(dataset).resolve()), {**options, **({"column": column} if column
                                                             else {})}
    if data.name != dataset and data.name in registry.datasets:
        declared = registry.datasets[dataset].options
        return data.name, {k: v for k, v in options.items() if k not in declared}
    return dataset, options


def _load_parent(registry: Registry, store: RunStore, spec: ModelSpec, parent: str | None,
                 dataset: str | None):
    """The run a second-stage model builds on, checked: it exists, loads, and is of the model
    the stage needs; returns it with the dataset and options the new run must use."""
    record = check_parent(store, spec, parent, dataset, registry)
    loaded = load_run(parent, store, registry)
    return loaded, record.dataset, dict(record.dataset_options)


def resume_run(registry: Registry, store: RunStore, run_id: str, *, steps: int | None = None,
               seconds: float | None = None, device: str | None = None,
               settings: LoopSettings | None = None, precision: str | None = None,
               compile: bool | None = None) -> RunRecord:
    """Continue a run from its last good checkpoint, to its own budget or a new one.

    ``steps`` and ``seconds`` are totals for the run, not increments. ``precision`` and
    ``compile`` default to the run's own; given, they apply from here on and are stored.
    """
    record = store.get(run_id)
    spec = registry.model(record.model)
    data = load_run_dataset(registry, record)
    for changed in data_changed(record):  # a run is one training on one dataset
        raise BadData(f"{changed}; resuming would go on training it on other data: start a "
                      "new run instead")
    config = build_config(spec.config_class, record.config, stored=True)
    torch_device = resolve_device(device or record.device.split(":")[0])
    torch.manual_seed(record.seed)  # with no checkpoint yet, start from the seed's weights
    model = build_model(spec, config, DataInfo.from_json(record.data_info))
    updates = {}
    if steps is not None:
        updates.update(target_steps=steps, target_seconds=None)
    if seconds is not None:
        updates.update(target_seconds=seconds, target_steps=None)
    run_settings = dict(record.settings)
    if precision is not None or "precision" not in run_settings:
        run_settings["precision"] = resolve_precision(precision or "fp32", torch_device)
    elif run_settings["precision"] == "bf16":  # resumed on another device: still possible?
        resolve_precision("bf16", torch_device)
    if compile is not None:
        run_settings["compile"] = bool(compile)
    run_settings.pop("compile_error", None)
    if run_settings != record.settings:
        updates["settings"] = run_settings
    # owned before anything is changed: a run that another process trains is left alone
    with own_run(store.run_dir(run_id), run_id):
        if updates:
            store.update(run_id, **updates)
        record = store.get(run_id)  # as it is now that it is ours
        return _train(store, record, spec, model, data, torch_device,
                      settings or LoopSettings(), resume=True)


def _restore(checkpoint, model: GenerativeModel, optimizers: list, batch_generator,
             spec: ModelSpec) -> None:
    """Put a checkpoint's weights, optimizer states and random states back, or say in one
    :class:`CheckpointError` which of them does not fit the run's model as it is now (as
    ``genzoo eval`` does for the weights) instead of torch's traceback."""

    try:
        model.load_state_dict(checkpoint.model_state)
    except RuntimeError:
        raise CheckpointError(checkpoint_mismatch(checkpoint, model, spec)) from None
    if len(checkpoint.optimizer_states) != len(optimizers):
        raise CheckpointError(f"checkpoint {checkpoint.path} holds "
                              f"{len(checkpoint.optimizer_states)} optimizer states, but model "
                              f"{spec.name!r} trains with {len(optimizers)} optimizers now")
    for i, (optimizer, state) in enumerate(zip(optimizers, checkpoint.optimizer_states)):
        try:
            optimizer.load_state_dict(state)
        except (ValueError, KeyError, TypeError, RuntimeError) as exc:
            raise CheckpointError(f"checkpoint {checkpoint.path}: optimizer {i}'s state does not "
                                  f"fit model {spec.name!r}'s optimizer ({exc})") from None
    states = checkpoint.rng_states
    for name in ("torch", "batches"):
        state = states.get(name)
        if state is None or state.dtype != torch.uint8 or state.dim() != 1:
            what = "missing" if state is None else f"{state.dtype}, shape {tuple(state.shape)}"
            raise CheckpointError(f"checkpoint {checkpoint.path}: its {name!r} random state is "
                                  f"not a byte tensor ({what})")
    try:
        torch.set_rng_state(states["torch"])
        batch_generator.set_state(states["batches"])  # a CPU byte tensor
    except RuntimeError as exc:
        raise CheckpointError(f"checkpoint {checkpoint.path}: its random states cannot be "
                              f"restored ({exc})") from None


def out_of_memory(exc: BaseException) -> str | None:
    """``"GPU"`` or ``"CPU"`` if ``exc`` says the device ran out of memory, else None. A CPU
    allocation failure is a plain RuntimeError from torch's allocator, or Python's MemoryError;
    met like the GPU's, it leaves the run interrupted and resumable instead of a traceback and a
    run left ``running`` for ever."""
    if isinstance(exc, torch.cuda.OutOfMemoryError):
        return "GPU"
    if isinstance(exc, MemoryError) or "DefaultCPUAllocator: can't allocate memory" in str(exc):
        return "CPU"
    return None


def _check_series_length(model: GenerativeModel, data) -> None:
    order = context_length(model)
    if len(data.train) < order + 2:
        raise GenzooError(f"series {data.name!r} has {len(data.train)} training values, too short "
                          f"for a model of order p={order}: it needs at least p+2 = {order + 2}")


def _train(store: RunStore, record: RunRecord, spec: ModelSpec, model: GenerativeModel, data,
           device: torch.device, settings: LoopSettings, resume: bool = False,
           closed_form: bool | None = None,
           world: distributed.World = distributed.ALONE) -> RunRecord:
    run_id = record.run_id
    run_dir = store.run_dir(run_id) if world.leader else None
    model.to(device)
    model.precision = record.settings.get("precision", "fp32")
    compiled = model.compile_for_training() if record.settings.get("compile") else []
    if world.distributed:
        distributed.wrap(model, device)  # gradients averaged over the processes in backward
    # Small data sets (all the built-ins) live on the device for the whole run; a split too
    # large for the GPU stays in pinned host memory and each batch is copied over.
    labels = getattr(data, "train_labels", None)
    on_device = keep_on_device(data.train.element_size() * data.train.nelement(), device)
    where = device if on_device else torch.device("cpu")
    train = data.train.to(where)
    labels = labels.to(where) if labels is not None else None
    if not on_device and torch.cuda.is_available():  # pinned: copies overlap the compute
        train, labels = train.pin_memory(), (labels.pin_memory() if labels is not None
                                             else None)
    batch_generator = torch.Generator(device=where).manual_seed(record.seed + 1)
    step, train_seconds = 0, 0.0

    if closed_form is None:
        closed_form = model.fit(train)
    optimizers = [] if closed_form else model.configure_optimizers()
    if resume:
        checkpoint, errors = load_latest(run_dir)
        if checkpoint is not None:
            _restore(checkpoint, model, optimizers, batch_generator, spec)
            step = checkpoint.step
            train_seconds = float(checkpoint.meta.get("train_seconds", 0.0))
            store.truncate_metrics(run_id, step)
            if errors:  # a newer checkpoint could not be read: say which, and what was used
                warnings.warn(f"{'; '.join(errors)}; resuming from the checkpoint of step "
                              f"{step}", RuntimeWarning, stacklevel=2)
        elif errors:
            raise CheckpointError(f"cannot resume run {run_id!r}: {'; '.join(errors)}")

    def checkpoint_now():
        if not world.leader:
            return
        try:
            save_checkpoint(run_dir, step, model, optimizers,
                            rng_states=_rng_states(batch_generator),
                            meta={"run_id": run_id, "model": spec.name, "config": record.config,
                                  "data_info": record.data_info, "train_seconds": train_seconds})
        except CheckpointError as exc:  # a full disk: the run stops, not left 'running'
            message = (f"run {run_id!r} stopped: {exc}; resume with "
                       f"`genzoo resume {shlex.quote(run_id)}`")
            store.update(run_id, status="interrupted", error=message)
            raise CheckpointError(message) from None
        store.update(run_id, step=step, train_seconds=train_seconds)

    store.update(run_id, status="running", error=None)
    target_steps = 0 if closed_form else record.target_steps
    target_seconds = None if closed_form else record.target_seconds
    bar = _progress_bar(settings.progress, target_steps, target_seconds, step, train_seconds,
                        f"{spec.name} on {data.name}")
    sums: dict[str, float] = defaultdict(float)
    count, last_ckpt_step = 0, step
    last_log = last_ckpt_time = time.perf_counter()
    batch_size = model.config.batch_size
    model.train()
    try:
        while not _done(step, train_seconds, target_steps, target_seconds):
            started = time.perf_counter()
            batch, context = sample_batch(model, train, batch_size, batch_generator, labels)
            batch, context = distributed.shard(batch, context, world)  # this process's slice
            if not on_device:
                batch = batch.to(device, non_blocking=True)
                context = {k: v.to(device, non_blocking=True) for k, v in context.items()}
            values = distributed.average(model.training_step(batch, optimizers, **context),
                                         world, device)
            if not all(math.isfinite(v) for v in values.values()):
                bad = ", ".join(f"{k}={v}" for k, v in values.items() if not math.isfinite(v))
                raise TrainingDiverged(f"training diverged at step {step + 1}: {bad}")
            step += 1
            train_seconds += time.perf_counter() - started
            for name, value in values.items():
                sums[name] += value
            count += 1
            if bar is not None:
                bar.update(1) if target_steps else bar.update(0)
                bar.set_postfix(loss=f"{values['loss']:.4f}", refresh=False)
            now = time.perf_counter()
            if now - last_log >= settings.log_seconds or _done(step, train_seconds, target_steps,
                                                              target_seconds):
                point = {name: total / count for name, total in sums.items()}
                point["examples_per_s"] = count * batch_size / max(now - last_log, 1e-9)
                store.log_metrics(run_id, step, point)
                sums.clear()
                count, last_log = 0, now
                if target_seconds and bar is not None:
                    bar.n = round(min(train_seconds, target_seconds), 1)
                    bar.refresh()
            if (step - last_ckpt_step >= settings.checkpoint_every
                    or now - last_ckpt_time >= settings.checkpoint_seconds):
                checkpoint_now()
                last_ckpt_step, last_ckpt_time = step, time.perf_counter()
    except TrainingDiverged as exc:
        kept = load_latest(run_dir)[0]
        message = (f"{exc}; kept the last good checkpoint (step {kept.step})" if kept
                   else f"{exc}; no checkpoint had been written yet")
        store.update(run_id, status="failed", error=message)
        raise TrainingDiverged(message) from None
    except Cancelled:
        checkpoint_now()
        store.update(run_id, status="cancelled", error=f"cancelled at step {step}; resume with "
                                                       f"`genzoo resume {shlex.quote(run_id)}`")
        raise
    except (MemoryError, RuntimeError) as exc:
        where = out_of_memory(exc)
        if where is None:
            raise
        store.update(run_id, status="interrupted", error=f"out of {where} memory")
        raise GenzooError(f"out of {where} memory at step {step + 1} with batch_size="
                          f"{batch_size}; try --set batch_size={max(1, batch_size // 2)} (resume "
                          f"with `genzoo resume {shlex.quote(run_id)}`)") from None
    except KeyboardInterrupt:
        checkpoint_now()
        store.update(run_id, status="interrupted", error=f"interrupted at step {step}")
        raise
    except Exception as exc:  # a bug in a model's code: the run says so, never 'running' on
        # (unless a handler above already gave it its status: a full disk's 'interrupted')
        store.update(run_id, when_status=("created", "running"), status="failed",
                     error=f"{type(exc).__name__} at step {step + 1}: {exc}"[:2000])
        raise
    finally:
        if bar is not None:
            bar.close()
        _note_compile_failure(store, record, compiled)

    distributed.finish(world)  # every process is done training; rank 0 goes on alone
    if not world.leader:
        return record
    checkpoint_now()
    try:
        metrics = _final_metrics(model, spec, data, record, step, train_seconds, batch_size)
    except Cancelled:
        store.update(run_id, status="cancelled",
                     error=f"cancelled while evaluating after step {step} (training is done): "
                           f"`genzoo resume {shlex.quote(run_id)}` evaluates it")
        raise
    store.merge_metrics(run_id, metrics)
    store.update(run_id, status="completed", step=step, train_seconds=train_seconds)
    return store.get(run_id)


def _note_compile_failure(store: RunStore, record: RunRecord, compiled: list) -> None:
    """Store why ``--compile`` fell back to eager, so the run says how it really trained."""
    errors = [part.error for part in compiled if part.error]
    if errors:
        store.update(record.run_id, settings={**record.settings, "compile_error": errors[0]})


def _final_metrics(model: GenerativeModel, spec: ModelSpec, data, record: RunRecord, step: int,
                   train_seconds: float, batch_size: int) -> dict:
    """The held-out likelihoods, throughput and sampling speed stored with a finished run.

    Both held-out splits are scored: ``val_*`` is what choices (defaults, a kernel width) are
    made on, ``test_*`` is only reported. A conditional model's ``*_bits_per_dim`` is the
    marginal p(x); p(x | y) is kept apart as ``*_bits_per_dim_given_label``. An estimate
    model's number (an AIS estimate of log Z) is ``*_bits_per_dim_estimate`` with its ``_std``,
    never ``*_bits_per_dim``.
    """
    metrics = {STEP: step, TRAIN_SECONDS: round(train_seconds, 3),
               PARAMETERS: count_parameters(model)}
    for split in ("val", "test"):
        if split == "val" and data.val is None:
            continue
        result = evaluate(model, spec, data, split)
        metrics["bound"] = result["bound"]
        for key in ("bits_per_dim", "bits_per_dim_given_label", "nats_per_obs",
                    "bits_per_dim_estimate", "bits_per_dim_estimate_std"):  # an estimate's own
            if result.get(key) is not None:
                metrics[f"{split}_{key}"] = result[key]
        if result.get("conditional_note"):
            metrics["conditional_note"] = result["conditional_note"]
    if step and train_seconds:
        metrics[TRAIN_EXAMPLES_PER_S] = step * batch_size / train_seconds
    if data.kind == "image":
        metrics.update(sampling_speed(model, seed=record.seed))
    return metrics


@torch.no_grad()
def sampling_speed(model: GenerativeModel, batches=SAMPLING_BATCHES, seed: int = 0,
                   quick_seconds: float = 0.5) -> dict[str, float]:
    """Milliseconds per sampled image at each batch size, measured after training.

    One untimed call first (lazy initialization, allocator warm-up would otherwise be charged
    to batch 1); then the best of three calls where a call is quicker than ``quick_seconds``,
    one call otherwise. Recorded with the run so that a claim like "sequential generation is
    slow" sits next to its number on the dashboard.
    """
    model.eval()
    generator = torch.Generator(device=model.device).manual_seed(seed)

    def timed(batch: int, repeats: int) -> float:
        return best_of(lambda: model.sample(batch, generator=generator), repeats,
                       model.device, quick_seconds)

    timed(1, 1)
    return {sample_ms_key(batch): 1000 * timed(batch, 3) / batch for batch in batches}


def _done(step, seconds, target_steps, target_seconds) -> bool:
    if target_seconds is not None:
        return seconds >= target_seconds
    return step >= (target_steps or 0)


def _progress_bar(enabled, target_steps, target_seconds, step, seconds, description):
    if not enabled:
        return None
    from tqdm.auto import tqdm

    # disable=None: a bar on a terminal only, never a flood of redraws in a log file; a
    # notebook's output is no terminal, so the API asks for its widget outright
    common = {"desc": description, "leave": False, "mininterval": 0.5,
              "disable": False if enabled == "always" else None}
    if target_seconds:
        return tqdm(total=target_seconds, initial=round(seconds, 1), unit="s",
                    bar_format="{l_bar}{bar}| {n:.0f}/{total:.0f}s {postfix}", **common)
    if target_steps:
        return tqdm(total=target_steps, initial=step, unit="step", **common)
    return None
