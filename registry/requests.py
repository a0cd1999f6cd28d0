"""One training request, checked once, whoever asks: ``genzoo train``, the Train page, ``compare``.

A :class:`TrainRequest` is what ``genzoo train`` takes on its command line: a model, a dataset
(or the parent run a second stage learns from), a budget in steps or seconds, a seed, and
``--set`` pairs as text. :func:`check_request` refuses what the trainer would refuse, with a line
that names the field, before anything is queued or stored; :func:`check_budget` and
:func:`check_parent` are the two checks the trainer itself also runs, written here once.
"""

from __future__ import annotations

import json
import shlex
import sys
import typing
from dataclasses import asdict, dataclass, field

from .config import build_config
from .errors import BadConfig, GenzooError
from .plugins import Registry
from .spec import ModelSpec
from .store import RunRecord, RunStore

# The runs store keeps step counts and seeds as SQLite integers (signed 64-bit).
MAX_STEPS = 2**63 - 1
PARENT_FIELDS = ("parent_run", "parent_config")  # set by the trainer from --parent


def check_budget(steps: int | None, seconds: float | None) -> None:
    """A budget as ``train`` and ``resume`` take it: steps or seconds (or neither: the default),
    a step count the store can hold, a positive and finite number of seconds."""
    if steps is not None and seconds is not None:
        raise BadConfig("give --steps or --seconds, not both")
    if steps is not None and steps < 0:
        raise BadConfig(f"--steps must be 0 or more, got {steps}")
    if steps is not None and steps > MAX_STEPS:
        raise BadConfig(f"--steps {steps} is more than the runs store can count "
                        f"(at most {MAX_STEPS})")
    if seconds is not None and not 0 < seconds < float("inf"):
        raise BadConfig(f"--seconds must be positive, got {seconds}")


def check_parent(store: RunStore, spec: ModelSpec, parent: str | None, dataset: str | None,
                 registry: Registry | None = None) -> RunRecord | None:
    """The run a second-stage model learns from, checked (it exists, is completed, is of the
    model the stage needs, on the same data); None for a model that needs no parent."""
    if parent is None and spec.parent is None:
        return None
    if spec.parent is None:
        staged = sorted(n for n, s in (registry.models.items() if registry else ()) if s.parent)
        raise BadConfig(f"--parent applies to models trained on another run "
                        f"({', '.join(staged) or 'none installed'}), not to {spec.name!r}")
    if parent is None:
        raise BadConfig(f"{spec.name!r} learns from a trained {spec.parent!r} run: give "
                        f"--parent RUN_ID (see `genzoo runs --model {spec.parent}`)")
    record = store.get(parent)
    if record.model != spec.parent:
        raise BadConfig(f"run {parent!r} is a {record.model!r} run; {spec.name!r} needs a "
                        f"{spec.parent!r} run")
    if record.status != "completed":
        raise BadConfig(f"run {parent!r} is {record.status}, not completed: finish it first "
                        f"(`genzoo resume {shlex.quote(parent)}`)")
    if dataset is not None and dataset != record.dataset:
        raise BadConfig(f"run {parent!r} was trained on {record.dataset!r}; {spec.name!r} "
                        f"trains on the same data, not on {dataset!r} (leave out --dataset)")
    return record


@dataclass
class TrainRequest:
    """One ``genzoo train`` command, as data that a queue can store.

    ``config`` and ``dataset_options`` hold ``--set`` text (``{"hidden": "8"}``), parsed by the
    same code as the command line's. ``parent`` is a completed run id, or, for a job queued
    behind its parent's job, the id the parent's run will have.
    """

    model: str
    dataset: str | None
    steps: int | None = None
    seconds: float | None = None
    device: str = "auto"
    seed: int = 0
    config: dict[str, str] = field(default_factory=dict)
    dataset_options: dict[str, str] = field(default_factory=dict)
    parent: str | None = None
    tags: list[str] = field(default_factory=list)

    def to_json(self) -> dict:
        """The request as the job queue stores it."""
        return asdict(self)

    @classmethod
    def from_json(cls, values: dict) -> TrainRequest:
        """A stored request; unknown keys (a newer genzoo's) are an error, not a silent drop."""
        if not isinstance(values, dict):
            raise GenzooError(f"a training request must be a JSON object, got {values!r:.80}")
        try:
            return cls(**values)
        except TypeError as exc:
            raise GenzooError(f"not a training request: {exc}") from None

    def argv(self, run_id: str) -> list[str]:
        """The command that trains it as run ``run_id``, with the Python running this."""
        args = [sys.executable, "-m", "genzoo.registry.cli", "train", self.model]
        args += ["--parent", self.parent] if self.parent else ["--dataset", str(self.dataset)]
        if self.steps is not None:
            args += ["--steps", str(int(self.steps))]
        if self.seconds is not None:
            args += ["--seconds", repr(float(self.seconds))]
        args += ["--device", self.device, "--seed", str(int(self.seed))]
        from .runs import DATA_PREFIX

        settings = {**self.config, **{f"{DATA_PREFIX}{key}": value  # the dataset's, said so
                                      for key, value in self.dataset_options.items()}}
        for key, value in settings.items():
            args += ["--set", f"{key}={value}"]
        for tag in self.tags:
            args += ["--tag", tag]
        return args + ["--run-id", run_id, "--quiet"]

    def describe(self) -> str:
        """``pixelcnn on digits, 30 s, seed 0`` for lists and progress lines."""
        budget = (f"{self.seconds:g} s" if self.seconds is not None
                  else f"{self.steps} steps" if self.steps is not None else "default budget")
        on = f"on run {self.parent}" if self.parent else f"on {self.dataset}"
        return f"{self.model} {on}, {budget}, seed {self.seed}"


def check_request(registry: Registry, store: RunStore, request: TrainRequest, *,
                  load=None, parent_queued_on: str | None = None) -> None:
    """Refuse a request the trainer would refuse, naming the field, before it is queued.

    Checks the budget, the device, the model and dataset names, the dataset's kind against the
    model's, the parent run (unless ``parent_queued_on`` names the dataset of a parent whose job
    is ahead in the queue: then its settings are checked against the config's defaults), and the
    config through ``build_config`` (types, choices, declared ranges, the model's ``validate``).
    Where every number in the config declares its range, so the cost is bounded, the model is
    also built on the ``meta`` device (no memory, no weights) for its own complaints about the
    data; otherwise the trainer reports them as the job's error. ``load(registry, name,
    options)`` loads the dataset (the dashboard passes a cached loader).
    """
    from .devices import resolve_device
    from .runs import DATA_PREFIX, check_compatible, load_dataset, split_settings

    check_budget(request.steps, request.seconds)
    resolve_device(request.device)
    spec = registry.model(request.model)
    dataset, options = request.dataset, dict(request.dataset_options)
    overrides = dict(request.config)
    if parent_queued_on is not None:
        if not spec.parent:
            raise BadConfig(f"{spec.name!r} does not learn from another run")
        dataset = parent_queued_on
    else:
        record = check_parent(store, spec, request.parent, None, registry)
        if record is not None:
            dataset, options = record.dataset, {**record.dataset_options, **options}
            overrides.update(parent_run=record.run_id,
                             parent_config=json.dumps(record.config, sort_keys=True))
    if not dataset:
        raise BadConfig(f"choose a dataset to train {spec.name!r} on")
    overrides, data_settings = split_settings(
        registry, spec, dataset, {**overrides, **{f"{DATA_PREFIX}{key}": value for key, value
                                                  in request.dataset_options.items()}})
    try:
        data = (load or load_dataset)(registry, dataset, {**options, **data_settings})
        check_compatible(spec, data)
        if parent_queued_on is not None:  # no parent config yet: checked with the defaults
            overrides = {k: v for k, v in overrides.items() if k not in PARENT_FIELDS}
        config = build_config(spec.config_class, overrides)
        if parent_queued_on is None and _bounded(spec.config_class):
            _build_on_meta(spec, config, data)
    except GenzooError:
        raise
    except (ValueError, TypeError) as exc:  # a plugin's config that raises its own errors
        raise BadConfig(f"{request.model}: {exc}") from None



def _bounded(config_class) -> bool:
    """Whether every int field of a config (the sizes and counts) has a range or choices: only
    then is building the model on the meta device known to be cheap."""
    from .config import config_fields, field_choices, field_ranges

    ranges, choices = field_ranges(config_class), field_choices(config_class)
    for name, (hint, _) in config_fields(config_class).items():
        if int in {hint, *typing.get_args(hint)} and name not in ranges | choices:
            return False
    return True


def _build_on_meta(spec: ModelSpec, config, data) -> None:
    """The model's own complaints about its config and data, from a build that allocates
    nothing; a model that cannot be built on meta at all is left to the trainer."""
    import torch

    try:
        with torch.device("meta"):
            spec.model_class(config, data.info)
    except GenzooError:
        raise
    except Exception:  # noqa: BLE001 - not buildable on meta: the trainer judges
        pass
