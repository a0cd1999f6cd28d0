"""Putting a run together: its dataset, its model built from the stored config, its weights."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch

from . import imagefiles
from .checkpoints import load_latest
from .config import build_config, config_fields, parse_value
from .data import ImageData, SeriesData, load_csv_series, with_validation
from .errors import BadConfig, BadData, CheckpointError, GenzooError, NotFound
from .model import DataInfo, GenerativeModel
from .plugins import Registry
from .spec import DatasetSpec, ModelSpec
from .store import RunRecord, RunStore


def is_csv_path(name: str) -> bool:
    """True for dataset names that are CSV file paths rather than registered names."""
    return name.lower().endswith(".csv") or Path(name).suffix.lower() == ".csv"


def dataset_label(name: str) -> str:
    """How a dataset reads on a page or in a table: a registered name as it is, a user's file or
    folder by its own name (``/home/ana/data/flowers`` is ``flowers``; ``co2.csv`` stays)."""
    return Path(name).name if "/" in name or is_csv_path(name) else name


def is_image_path(registry: Registry, name: str) -> bool:
    """True for dataset names that are a user's image files (a folder, ``.npy``/``.npz``, MNIST
    idx, CIFAR-10 binary) rather than registered names (:mod:`genzoo.registry.imagefiles`)."""
    return name not in registry.datasets and imagefiles.looks_like_image_files(name)


def dataset_kind(registry: Registry, name: str) -> str:
    """``image`` or ``series``: a registered dataset's kind, a CSV's (series) or a user's image
    files' (image); :class:`NotFound` for anything else, naming what is accepted."""
    if name in registry.datasets:
        return registry.datasets[name].kind
    if is_csv_path(name):
        return "series"
    if is_image_path(registry, name):
        return "image"
    raise NotFound(f"unknown dataset {name!r}; registered: {', '.join(sorted(registry.datasets))}"
                   "; or a path to a CSV file or to your own images (docs/datasets.md)")


def absolute_dataset(registry: Registry, name: str) -> str:
    """A registered name as it is; a path made absolute, so a worker started elsewhere finds the
    same files and runs on them group together."""
    if name in registry.datasets or not (is_csv_path(name) or is_image_path(registry, name)):
        return name
    return str(Path(name).expanduser().resolve())


def declared_options(registry: Registry, dataset: str | None) -> tuple[str, ...]:
    """The ``--set`` options a dataset takes: its spec's, or those of a user's image files."""
    if dataset is None:
        return ()
    if dataset in registry.datasets:
        return registry.datasets[dataset].options
    if is_csv_path(dataset):
        return ("column",)
    return imagefiles.IMAGE_OPTIONS if is_image_path(registry, dataset) else ()


def load_dataset(registry: Registry, name: str, options: dict | None = None):
    """A registered dataset by name, a CSV file (``options["column"]`` picks the column) or a
    user's image files (``channels``, ``size``, ``levels``, ``images``, ``labels``), always with
    train, validation and test splits (:func:`~genzoo.registry.data.with_validation` carves the
    validation split from train where the loader gives none).

    Other options go to the dataset's ``load`` (those its spec declares, parsed to the type of
    their default): ``{"size": "32"}`` for ``shapes``.
    """
    options = dict(options or {})
    if name not in registry.datasets and is_csv_path(name):
        return with_validation(load_csv_series(name, column=options.get("column")))
    if is_image_path(registry, name):
        unknown = sorted(set(options) - set(imagefiles.IMAGE_OPTIONS))
        if unknown:
            raise BadConfig(f"image files {name}: no option {unknown[0]!r}; their options: "
                            f"{', '.join(imagefiles.IMAGE_OPTIONS)}")
        return with_validation(imagefiles.load_image_files(name, **options))
    if options.get("column"):
        raise GenzooError(f"--column applies to CSV files only, not to dataset {name!r}")
    options.pop("column", None)
    spec = registry.dataset(name)
    data = spec.load(**dataset_options(spec, options))
    if not isinstance(data, (ImageData, SeriesData)):
        raise GenzooError(f"dataset {name!r} loaded a {type(data).__name__}, "
                          "not ImageData or SeriesData")
    return with_validation(data)


def dataset_options(spec: DatasetSpec, options: dict) -> dict:
    """``options`` checked against what the dataset declares and parsed to their types."""
    defaults = spec.option_defaults()
    parsed = {}
    for key, value in options.items():
        if key not in defaults:
            allowed = ", ".join(f"{k}={v!r}" for k, v in defaults.items()) or "none"
            raise BadConfig(f"dataset {spec.name!r} has no option {key!r}; its options: {allowed}")
        parsed[key] = (parse_value(key, value, type(defaults[key])) if isinstance(value, str)
                       else value)
    return parsed


DATA_PREFIX, MODEL_PREFIX = "data.", "model."  # --set data.channels=1: the dataset's, not vae's


def split_settings(registry: Registry, model_spec: ModelSpec, dataset: str | None,
                   settings: dict | None) -> tuple[dict, dict]:
    """``--set`` pairs split into model config overrides and dataset options.

    A key is the model's when its config has that field, the dataset's when the dataset
    declares that option. ``data.KEY`` and ``model.KEY`` say whose a key is; a bare key both
    claim (``channels`` of a VAE on a user's images) is an error that says so, never a guess.
    """
    fields = config_fields(model_spec.config_class)
    declared = declared_options(registry, dataset)
    model_part, data_part = {}, {}
    for key, value in (settings or {}).items():
        if key.startswith(DATA_PREFIX):
            name = key[len(DATA_PREFIX):]
            if name not in declared:
                raise BadConfig(f"--set {key}: dataset {dataset!r} has no option {name!r}; "
                                f"its options: {', '.join(declared) or 'none'}")
            data_part[name] = value
            continue
        if key.startswith(MODEL_PREFIX):
            model_part[key[len(MODEL_PREFIX):]] = value
            continue
        if key in fields and key in declared:
            raise BadConfig(f"--set {key}: both a config field of {model_spec.name!r} and an "
                            f"option of dataset {dataset!r}; write --set {DATA_PREFIX}{key}=... "
                            f"for the dataset's or --set {MODEL_PREFIX}{key}=... for the model's")
        (data_part if key in declared else model_part)[key] = value
    return model_part, data_part


def check_compatible(spec: ModelSpec, data) -> None:
    """A model for images cannot train on a series, and the other way round."""
    if spec.data != data.kind:
        raise BadData(f"model {spec.name!r} works on {spec.data} data, but dataset {data.name!r} "
                      f"is a {data.kind} dataset")


def build_model(spec: ModelSpec, config, data_info: DataInfo) -> GenerativeModel:
    """Instantiate ``spec.model_class``; a model's own complaint about its input stays readable."""
    try:
        return spec.model_class(config, data_info)
    except GenzooError:
        raise
    except (ValueError, TypeError) as exc:
        raise GenzooError(f"cannot build model {spec.name!r} with this config: {exc}") from None


@dataclass
class LoadedRun:
    """A stored run with its model rebuilt and its last good checkpoint loaded."""

    record: RunRecord
    spec: ModelSpec
    model: GenerativeModel
    data: ImageData | SeriesData
    step: int
    warnings: list[str]  # newer checkpoints that could not be read (an older one was used)
    # about the checkpoint that was used, and the data: changed since the run trained on it
    notes: list[str] = field(default_factory=list)


def load_run(run_id: str, store: RunStore, registry: Registry, *,
             device: torch.device | str = "cpu") -> LoadedRun:
    """Rebuild a run's model from its stored config and load its newest readable checkpoint."""
    record = store.get(run_id)
    spec = registry.model(record.model)
    data = load_run_dataset(registry, record)
    config = build_config(spec.config_class, record.config, stored=True)
    model = build_model(spec, config, DataInfo.from_json(record.data_info))
    checkpoint, errors = load_latest(store.run_dir(run_id))
    if checkpoint is None:
        detail = "; ".join(errors) if errors else "it has no checkpoint yet"
        raise CheckpointError(f"run {run_id!r} cannot be loaded: {detail}")
    try:
        model.load_state_dict(checkpoint.model_state)
    except RuntimeError:
        raise CheckpointError(checkpoint_mismatch(checkpoint, model, spec)) from None
    model.to(device).eval()
    return LoadedRun(record=record, spec=spec, model=model, data=data, step=checkpoint.step,
                     warnings=errors, notes=[*data_changed(record), *checkpoint.notes])


def load_run_dataset(registry: Registry, record: RunRecord):
    """The dataset a run trained on; for a user's files that are gone, an error that names the
    run and the path, not only the path."""
    try:
        return load_dataset(registry, record.dataset, record.dataset_options)
    except NotFound as exc:
        if not record.dataset_identity:
            raise
        raise NotFound(f"run {record.run_id!r} trained on {record.dataset}, which is not there "
                       f"any more ({exc}); its numbers show on every page, but its model needs "
                       "the data to load: put the files back at that path") from None


def data_changed(record: RunRecord) -> list[str]:
    """A warning when the user's files a run trained on hold other data now (their content
    hash differs from the one recorded when it trained); nothing for registered datasets."""
    recorded = (record.dataset_identity or {}).get("sha256")
    if not recorded:
        return []
    now = imagefiles.dataset_identity(record.dataset)["sha256"]
    if now == recorded:
        return []
    return [f"the data at {record.dataset} changed since run {record.run_id!r} trained on it "
            f"(content hash {recorded[:12]} then, {now[:12]} now): its stored numbers are of "
            "the old data, and evaluating it again measures it on the new"]


def checkpoint_mismatch(checkpoint, model: GenerativeModel, spec: ModelSpec) -> str:
    """Why a checkpoint does not fit a model: which tensors are missing, unexpected or resized."""
    expected = model.state_dict()
    found = checkpoint.model_state
    missing = sorted(set(expected) - set(found))
    unexpected = sorted(set(found) - set(expected))
    resized = sorted(k for k in set(expected) & set(found) if expected[k].shape != found[k].shape)
    parts = [f"{label}: {', '.join(keys[:4])}{', ...' if len(keys) > 4 else ''}"
             for label, keys in (("missing", missing), ("unexpected", unexpected),
                                 ("different shape", resized)) if keys]
    return (f"checkpoint {checkpoint.path} does not fit model {spec.name!r} as it is now "
            f"({'; '.join(parts)}); the model changed since the run was trained: train it again")
