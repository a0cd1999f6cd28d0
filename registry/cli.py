"""The ``genzoo`` command line.

Every command that fails on bad input prints one line, ``error: <what and where>``, and exits
with code 2; nothing is written half-way. ``--json`` output is one JSON document on stdout (for
``train``, the run record is the last line), progress goes to stderr.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import numbers
import os
import socket
import sys
from pathlib import Path

import click

from .errors import BadConfig, Cancelled, GenzooError


def _registry():
    from .plugins import get_registry

    return get_registry()


def _store():
    from .store import RunStore

    return RunStore()


def _finite(value):
    """``value`` with every NaN or infinite number made None (JSON has neither); in a mapping,
    ``<key>_note`` beside it says what the number was, unless the mapping has that note."""
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            out[key] = _finite(item)
            if _non_finite(item) and f"{key}_note" not in value:
                out[f"{key}_note"] = f"not a finite number ({float(item)!r})"
        return out
    if isinstance(value, (list, tuple)):
        return [_finite(item) for item in value]
    return None if _non_finite(value) else value


def _non_finite(value) -> bool:
    """Whether ``value`` is a float (Python's or numpy's) that is NaN or infinite."""
    return (isinstance(value, numbers.Real) and not isinstance(value, numbers.Integral)
            and not math.isfinite(value))


# While a command runs with --json, stdout is its JSON alone: anything else printed on the way
# (a plugin's print() at import or in its model's code) goes to stderr. This is the real stdout.
_JSON_OUT: list = []


def _emit(value) -> None:
    """One strict JSON document on stdout: no NaN or Infinity tokens (see :func:`_finite`)."""
    click.echo(json.dumps(_finite(value), default=str, allow_nan=False),
               file=_JSON_OUT[-1] if _JSON_OUT else None)


@contextlib.contextmanager
def _stdout_for_json(wanted: bool):
    """With ``wanted``, keep stdout for :func:`_emit` and send every other print to stderr."""
    if not wanted:
        yield
        return
    _JSON_OUT.append(sys.stdout)
    try:
        with contextlib.redirect_stdout(sys.stderr):
            yield
    finally:
        _JSON_OUT.pop()


def _replaced(replaced: bool) -> str:
    """The note on a line that says a file was written, when it took an existing file's place."""
    return " (replaced the file that was there)" if replaced else ""


@contextlib.contextmanager
def _writing(path):
    """What the OS says about writing ``path`` (a file where a folder should be, a name too
    long, no permission) as the one-line error of bad input, not a traceback."""
    try:
        yield
    except OSError as exc:
        raise GenzooError(f"cannot write {path}: {exc.strerror or exc}") from None


def _table(rows: list[dict], columns: list[str]) -> None:
    """A plain aligned text table."""
    if not rows:
        click.echo("(none)")
        return
    cells = [[("" if row.get(c) is None else str(row.get(c))) for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    click.echo("  ".join(c.ljust(w) for c, w in zip(columns, widths)))
    for r in cells:
        click.echo("  ".join(v.ljust(w) for v, w in zip(r, widths)))


# What ends a line for str.splitlines() (a terminal moves on at \n, \r, \v and \f): a file or run
# name that carries one must not break the one-line error in two.
_LINE_BREAKS = {ord(c): repr(c)[1:-1] for c in "\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029"}


def _one_line(message: str) -> str:
    """``message`` with its line breaks written as escapes (``\\n``), so it stays one line."""
    return message.translate(_LINE_BREAKS)


class GenzooGroup(click.Group):
    """A click group that turns a :class:`GenzooError` into one line and its exit code."""

    def parse_args(self, ctx, args):
        # Bytes that are not UTF-8 reach Python as lone surrogates, which the runs store
        # (SQLite) and stdout cannot encode: refuse them up front, before anything is done.
        for arg in args:
            try:
                str(arg).encode("utf-8")
            except UnicodeEncodeError:
                raise click.UsageError(f"argument {arg!r} is not valid UTF-8 text", ctx) from None
        return super().parse_args(ctx, args)

    def invoke(self, ctx):
        wants_json = "--json" in ctx.args  # the subcommand's own arguments
        try:
            with _stdout_for_json(wants_json):
                return super().invoke(ctx)
        except GenzooError as exc:
            click.echo(f"error: {_one_line(str(exc))}", err=True)
            ctx.exit(exc.exit_code)
        except Cancelled:
            click.echo("cancelled; the run keeps its last checkpoint (genzoo resume RUN_ID)",
                       err=True)
            ctx.exit(143)  # 128 + SIGTERM, as if the signal had ended the process
        except KeyboardInterrupt:
            click.echo("interrupted; the run keeps its last checkpoint (genzoo resume RUN_ID)",
                       err=True)
            ctx.exit(130)


@click.group(cls=GenzooGroup)
@click.version_option(package_name="genzoo")
def cli():
    """genzoo: train, sample and compare generative models on one footing."""


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def plugins(as_json):
    """List the loaded plugins, what each registered, and the errors of broken ones."""
    registry = _registry()
    infos = list(registry.plugins.values())
    rows = [info.to_json() for info in infos]
    if as_json:
        _emit(rows)
        return
    for row, info in zip(rows, infos):
        row["registered"] = ", ".join(row["models"] + row["datasets"] + row["metrics"])
        row["api"] = info.api_note  # the plugin API it was built for, or "none declared"
    _table(rows, ["name", "version", "api", "registered", "error"])


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def models(as_json):
    """List the registered models with their place in the lecture's taxonomy."""
    registry = _registry()
    rows = [spec.to_json(plugin=registry.plugin_of("models", name))
            for name, spec in sorted(registry.models.items())]
    if as_json:
        _emit(rows)
        return
    _table(rows, ["name", "leaf", "family", "density", "sampling", "data", "plugin"])


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def datasets(as_json):
    """List the registered datasets with their shape, levels and split sizes."""
    from .runs import load_dataset

    registry = _registry()
    rows = []
    for name, spec in sorted(registry.datasets.items()):
        try:
            rows.append(load_dataset(registry, name).describe())
        except Exception as exc:  # one broken dataset must not hide the others
            rows.append({"name": name, "kind": spec.kind, "shape": None, "levels": None,
                         "n_train": None, "n_val": None, "n_test": None, "source": spec.source,
                         "error": f"{type(exc).__name__}: {exc}"})
    if as_json:
        _emit(rows)
        return
    _table(rows, ["name", "kind", "shape", "levels", "n_train", "n_val", "n_test", "source"])


def _speed_options(f, resuming: bool = False):
    """``--precision`` and ``--compile``; on resume both default to the run's own."""
    from .precision import PRECISION_CHOICES

    f = click.option("--compile/--no-compile", "compile_", default=None if resuming else False,
                     help="Run the training step through torch.compile (falls back to eager, "
                          "with a warning, where compiling fails)"
                          + ("; default: as the run did." if resuming else "."))(f)
    return click.option("--precision", type=click.Choice(PRECISION_CHOICES),
                        default=None if resuming else "auto",
                        show_default=not resuming,
                        help="bf16: autocast in bfloat16 (likelihoods are still evaluated in "
                             "fp32); auto: bf16 on a GPU that has it, fp32 elsewhere"
                             + ("; default: the run's own." if resuming else "."))(f)


def _resume_speed_options(f):
    return _speed_options(f, resuming=True)


# A seed that torch's generators and the store (a signed 64-bit integer) both take; numpy's
# generators (quality's choice of real images) also refuse a negative one.
SEED = click.IntRange(-(2**63), 2**63 - 1)
NUMPY_SEED = click.IntRange(0, 2**63 - 1)


def _check_budget(steps: int | None, seconds: float | None) -> None:
    """--steps and --seconds as train, resume and compare take them (checked before anything is
    stored): :func:`genzoo.registry.requests.check_budget`."""
    from .requests import check_budget

    check_budget(steps, seconds)


def _budget_options(f):
    f = click.option("--seconds", type=float, default=None,
                     help="Train for this many seconds of training time.")(f)
    f = click.option("--steps", type=int, default=None,
                     help="Train for this many optimization steps (default 500).")(f)
    return f


@cli.command()
@click.argument("model")
@click.option("--dataset", "-d", default=None,
              help="A registered dataset name, a CSV file (series), or your own images: a "
                   "folder, .npy/.npz, MNIST idx or CIFAR-10 binary (docs/datasets.md); with "
                   "--parent, the parent run's.")
@click.option("--column", default=None, help="CSV column to use (default: first numeric).")
@click.option("--parent", default=None, metavar="RUN_ID",
              help="The run a second-stage model learns from (vqvae-prior: a vqvae run).")
@_budget_options
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda or cuda:N.")
@click.option("--seed", type=SEED, default=0, show_default=True)
@click.option("--set", "settings", multiple=True, metavar="KEY=VALUE",
              help="Override a config field, or set a dataset option (shapes: size=32); "
                   "repeat for several.")
@click.option("--run-id", default=None, metavar="ID",
              help="Name the new run (default: MODEL-DATASET-xxxxxx); must not be taken. The "
                   "dashboard uses it to follow the run it started.")
@click.option("--tag", "tags", multiple=True, metavar="TAG",
              help="Label the run (repeat for several); a comparison tags its runs with its name.")
@_speed_options
@click.option("--nproc", type=click.IntRange(min=1), default=1, show_default=True,
              help="Train data-parallel in N processes on this machine (torchrun; gloo on CPU, "
                   "NCCL on GPUs); batch_size is the global batch. Needs --steps.")
@click.option("--json", "as_json", is_flag=True, help="Print the run record as JSON (last line).")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
def train(model, dataset, column, parent, steps, seconds, device, seed, settings, run_id,
          tags, precision, compile_, nproc, as_json, quiet):
    """Train MODEL on a dataset, checkpoint it and evaluate it on the test split.

    SIGTERM stops it cleanly: a checkpoint where it is, status cancelled (genzoo resume).
    """
    from .config import parse_overrides
    from .training import LoopSettings, cancel_on_sigterm, start_run

    _check_budget(steps, seconds)
    if nproc > 1:
        _train_distributed(model, dataset, column, parent, steps, seconds, device, seed, settings,
                           run_id, precision, compile_, nproc, as_json, quiet)
        return
    with cancel_on_sigterm():
        record = start_run(_registry(), _store(), model, dataset,
                           overrides=parse_overrides(settings),
                           dataset_options={"column": column} if column else None, steps=steps,
                           seconds=seconds, device=device, seed=seed, parent=parent,
                           run_id=run_id, tags=list(tags) or None,
                           settings=LoopSettings(progress=not quiet,
                                                 log_seconds=_log_seconds()),
                           precision=precision, compile=compile_)
    from .distributed import current_world

    if not current_world().distributed:  # under --nproc, the launching command reports
        _report_run(record, as_json)


def _log_seconds() -> float:
    """How often a training run logs its averaged loss parts: ``GENZOO_LOG_SECONDS`` (0 logs
    every step, for curves to compare step by step), 0.5 s by default."""
    text = os.environ.get("GENZOO_LOG_SECONDS", "0.5")
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value >= 0:
        raise BadConfig(f"GENZOO_LOG_SECONDS={text!r}: give a number of seconds, 0 or more")
    return value


def _train_distributed(model, dataset, column, parent, steps, seconds, device, seed, settings,
                       run_id, precision, compile_, nproc, as_json, quiet):
    """``genzoo train ... --nproc N``: check what can be checked here, name the run, start N
    copies of this command through torchrun, then report the run rank 0 recorded."""
    from .config import build_config, parse_overrides
    from .distributed import check_model_class, launch
    from .store import check_run_id, new_run_id

    if seconds is not None or steps is None:
        raise BadConfig("--nproc needs --steps (every process must take the same number of "
                        "steps)")
    if compile_:
        raise BadConfig("--compile with --nproc is not supported: the processes train eagerly")
    spec = _registry().model(model)
    check_model_class(spec.model_class)
    fields = {k: v for k, v in parse_overrides(settings).items()
              if k in {f.name for f in dataclasses.fields(spec.config_class)}}
    batch_size = build_config(spec.config_class, fields).batch_size
    if batch_size % nproc:
        raise BadConfig(f"batch_size={batch_size} does not split over --nproc {nproc} "
                        f"processes: use a multiple of {nproc}")
    run_id = check_run_id(run_id) if run_id else new_run_id(model, dataset or model)
    argv = ["train", model, "--steps", str(steps), "--device", device, "--seed", str(seed),
            "--precision", precision, "--run-id", run_id]
    for flag, value in (("--dataset", dataset), ("--column", column), ("--parent", parent)):
        if value is not None:
            argv += [flag, value]
    for pair in settings:
        argv += ["--set", pair]
    if quiet:
        argv.append("--quiet")
    code = launch(argv, nproc)
    if code != 0:
        raise GenzooError(f"distributed training in {nproc} processes failed (exit code {code}; "
                          "the error of rank 0 is above)")
    _report_run(_store().get(run_id), as_json)


@cli.command()
@click.argument("run_id")
@_budget_options
@click.option("--device", default=None, help="Device to continue on (default: the run's own).")
@_resume_speed_options
@click.option("--json", "as_json", is_flag=True, help="Print the run record as JSON (last line).")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
def resume(run_id, steps, seconds, device, precision, compile_, as_json, quiet):
    """Continue RUN_ID from its last good checkpoint (--steps/--seconds are new totals)."""
    from .training import LoopSettings, cancel_on_sigterm, resume_run

    _check_budget(steps, seconds)  # resume_run stores the new totals before training
    with cancel_on_sigterm():
        record = resume_run(_registry(), _store(), run_id, steps=steps, seconds=seconds,
                            device=device, settings=LoopSettings(progress=not quiet),
                            precision=precision, compile=compile_)
    _report_run(record, as_json)


def _report_run(record, as_json):
    if as_json:
        _emit(record.to_json())
        return
    metrics = record.metrics
    score = (f"test bits/dim {metrics['test_bits_per_dim']:.4f} ({metrics.get('bound')})"
             if "test_bits_per_dim" in metrics else
             f"test nats/obs {metrics['test_nats_per_obs']:.4f}" if "test_nats_per_obs" in metrics
             else f"test bits/dim {metrics['test_bits_per_dim_estimate']:.4f} +- "
                  f"{metrics.get('test_bits_per_dim_estimate_std') or 0:.4f} (an AIS estimate: "
                  "not exact, not a bound)" if "test_bits_per_dim_estimate" in metrics
             else "no likelihood (implicit model)")
    if metrics.get("test_bits_per_dim_given_label") is not None:
        score += (f", marginal p(x); p(x | y) given the label "
                  f"{metrics['test_bits_per_dim_given_label']:.4f}")
    for key, unit in (("val_bits_per_dim", "bits/dim"), ("val_nats_per_obs", "nats/obs")):
        if metrics.get(key) is not None:
            score += f"; validation {unit} {metrics[key]:.4f}"
    how = record.settings.get("precision", "fp32")
    if record.settings.get("compile"):
        how += ", eager (compile failed)" if record.settings.get("compile_error") else ", compiled"
    click.echo(f"{record.run_id}: {record.status} after {record.step} steps "
               f"({record.train_seconds:.1f} s, {how}); {score}")


@cli.command(name="eval")
@click.argument("run_id")
@click.option("--split", type=click.Choice(["test", "val", "train"]), default="test",
              show_default=True, help="test: the reported number; val: what choices are made on.")
@click.option("--iwae", type=int, default=None, metavar="K",
              help="Report the importance-weighted bound with K samples (models with an "
                   "encoder, like vae) instead of the ELBO.")
@click.option("--parzen", type=int, default=None, metavar="N",
              help="Also report a Parzen-window estimate from N samples (any image model, the "
                   "GAN included): an estimate, never a likelihood or a bound.")
@click.option("--mig", is_flag=True,
              help="Also the mutual information gap of the code against the known factors "
                   "(shapes; Chen et al. 2018), stored with the run for the test split.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def evaluate_run(run_id, split, iwae, parzen, mig, as_json):
    """Held-out likelihood of RUN_ID: bits/dim (images) or nats/observation (series)."""
    from .evaluation import check_iwae, evaluate
    from .metrics import TEST_BITS_GIVEN_LABEL, TEST_BITS_PER_DIM, iwae_key
    from .runs import load_run

    if parzen is not None and split != "test":
        raise BadConfig("--parzen scores the test split (sigma is chosen on the validation "
                        f"split); drop --split {split}")
    loaded = load_run(run_id, _store(), _registry())
    if iwae is not None:
        check_iwae(loaded.spec, loaded.model, iwae)
    for warning in loaded.warnings:
        click.echo(f"warning: {warning}; used an older checkpoint", err=True)
    for note in loaded.notes:
        click.echo(f"warning: {note}", err=True)
    result = evaluate(loaded.model, loaded.spec, loaded.data, split, iwae=iwae)
    estimate = _parzen(run_id, loaded, parzen) if parzen is not None else None
    gap = _mig(run_id, loaded, split) if mig else None
    if iwae is not None and split == "test" and result.get("bits_per_dim") is not None:
        # kept with the run, so the dashboard shows the tighter bound without recomputing it
        _store().merge_metrics(run_id, {iwae_key(iwae): result["bits_per_dim"]})
    if split == "test" and result.get("bits_per_dim_given_label") is not None:
        # a conditional run stored with p(x | y) alone gets its p(x) (the same numbers as a
        # finished run's own evaluation, so storing them again changes nothing for newer runs)
        _store().merge_metrics(run_id, {
            TEST_BITS_PER_DIM: result["bits_per_dim"],
            TEST_BITS_GIVEN_LABEL: result["bits_per_dim_given_label"],
            "conditional_note": result["conditional_note"]})
    out = {"run_id": run_id, "model": loaded.record.model, "dataset": loaded.record.dataset,
           "split": split, "bound": result["bound"], "step": loaded.step,
           "model_info": loaded.model.info()}
    for key in ("bits_per_dim", "bits_per_dim_given_label", "conditional_note", "nats_per_obs",
                "bits_per_dim_estimate", "bits_per_dim_estimate_std", "note"):
        if key in result:
            out[key] = result[key]
    if estimate is not None:
        out["parzen_estimate"] = estimate
    if gap is not None:
        out["mig"] = gap
    if as_json:
        _emit(out)
        return
    value = (f"{out['bits_per_dim']:.4f} bits/dim" if out.get("bits_per_dim") is not None
             else f"{out['nats_per_obs']:.4f} nats/obs" if "nats_per_obs" in out
             else f"{out['bits_per_dim_estimate']:.4f} +- "
                  f"{out['bits_per_dim_estimate_std'] or 0:.4f} bits/dim, an estimate: "
                  f"{out['note']}" if "bits_per_dim_estimate" in out
             else out.get("note", "no likelihood"))
    click.echo(f"{run_id} ({out['model']} on {out['dataset']}, {split}): {value} [{out['bound']}]")
    if out.get("bits_per_dim_given_label") is not None:
        click.echo(f"  that is the marginal p(x), averaged over the classes; given the true label, "
                   f"p(x | y): {out['bits_per_dim_given_label']:.4f} bits/dim (not comparable "
                   "with p(x))")
    if gap is not None:
        parts = ", ".join(f"{k} {v:.3f}" for k, v in gap["gaps"].items())
        click.echo(f"mutual information gap {gap['mig']:.3f} on {gap['n']:,} {split} images "
                   f"(per factor: {parts}; 0 = entangled, 1 = one dimension per factor)")
    if estimate is not None:
        click.echo(f"Parzen-window estimate (not a likelihood): "
                   f"{estimate['parzen_bits_per_dim']:.4f} bits/dim from "
                   f"{estimate['n_samples']:,} samples, sigma {estimate['sigma']:.3g} levels. "
                   f"{estimate['note']}")


def _mig(run_id: str, loaded, split: str) -> dict:
    """The MIG of the run's code on ``split``; the test split's is stored with the run."""
    from .disentangle import TEST_MIG, model_mig

    result = model_mig(loaded.model, loaded.data, split)
    if split == "test":
        _store().merge_metrics(run_id, {TEST_MIG: result.score})
    return {"mig": result.score, "gaps": result.gaps, "n": result.n}


def _parzen(run_id: str, loaded, n_samples: int) -> dict:
    """The Parzen-window estimate of a loaded run, kept with the run under its own key."""
    from .metrics import PARZEN_BITS_PER_DIM
    from .parzen import parzen_estimate

    estimate = parzen_estimate(loaded.model, loaded.data, n_samples=n_samples)
    _store().merge_metrics(run_id, {PARZEN_BITS_PER_DIM: estimate["parzen_bits_per_dim"],
                                    "parzen_sigma": estimate["sigma"],
                                    "parzen_n_samples": estimate["n_samples"]})
    return {key: estimate[key] for key in ("parzen_bits_per_dim", "sigma", "n_samples", "note")}


@cli.command()
@click.argument("run_id", required=False)
@click.option("--real", "real_dataset", default=None, metavar="DATASET",
              help="Print the real-data floor of DATASET alone (no run).")
@click.option("-n", "count", type=click.IntRange(10, 100_000), default=1000, show_default=True,
              help="Number of samples (and of training images in the floor).")
@click.option("--seed", type=NUMPY_SEED, default=0, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def quality(run_id, real_dataset, count, seed, as_json):
    """Sample quality of RUN_ID next to the real-data floor, for any image model.

    Fréchet distance, precision and recall in a reference classifier's feature space, class
    coverage (mode collapse) and nearest-training-image distance (memorization); the scores
    are kept with the run. The classifier is trained once per dataset and cached.
    """
    import warnings

    from . import quality as q
    from .runs import load_dataset

    # an empty RUN_ID or --real ('') names nothing: the same as leaving it out
    run_id, real_dataset = run_id or None, real_dataset or None
    if (run_id is None) == (real_dataset is None):
        raise GenzooError("give a RUN_ID, or --real DATASET for the real-data floor alone")
    store, registry = _store(), _registry()
    record = store.get(run_id) if run_id else None
    name = real_dataset or q.cache_key(record.dataset, record.dataset_options)
    data = (load_dataset(registry, real_dataset) if real_dataset
            else load_dataset(registry, record.dataset, record.dataset_options))
    q.require_labelled(data, real_dataset or record.dataset)
    if not as_json and not q.reference_paths(store, name)[1].is_file():
        click.echo(f"training the reference classifier for {name} (once; cached in "
                   f"{store.home / 'reference'})", err=True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        scores = q.run_quality(store, registry, run_id, n=count, seed=seed) if run_id else None
        reference = q.reference_classifier(store, name, data)
        floor = q.real_data_scores(data, reference, n=count, seed=seed)
    for warning in caught:
        click.echo(f"warning: {warning.message}", err=True)
    out = {"dataset": real_dataset or record.dataset, "reference_accuracy":
           reference.test_accuracy, "real": floor}
    if run_id:
        out = {"run_id": run_id, "model": record.model, "n": count, "seed": seed, **out,
               "scores": {key: scores[f"quality_{key}"] for key in
                          (*q.SCORE_KEYS, *q.NOTE_KEYS, "class_histogram")}}
    if as_json:
        _emit(out)
        return
    what = (f"{run_id} ({record.model} on {record.dataset}, {count} samples, seed {seed})"
            if run_id else f"real {real_dataset} data")
    click.echo(f"sample quality of {what}; reference classifier: "
               f"{100 * reference.test_accuracy:.1f}% test accuracy")
    rows = []
    for key in q.SCORE_KEYS:
        spec = registry.metric(f"quality_{key}")  # its direction, as the dashboard reads it
        row = {"metric": key, "real data": _score(floor[key]),
               "better": spec.better_words if spec else ""}
        if run_id:
            row["model"] = _score(out["scores"][key])
        rows.append(row)
    _table(rows, ["metric", *(["model"] if run_id else []), "real data", "better"])
    for label, values in ((("model", out["scores"]),) if run_id else ()) + (("real", floor),):
        counts = " ".join(f"{c}:{v}" for c, v in enumerate(values["class_histogram"]))
        click.echo(f"classes ({label}): {counts}")
    for key in q.NOTE_KEYS:  # why a score is "n/a" (the same for the model and the floor)
        note = floor.get(key) or (out["scores"].get(key) if run_id else None)
        if note:
            click.echo(f"{key.removesuffix('_note')}: n/a: {note}")


def _score(value) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    return str(value) if isinstance(value, int) else f"{value:.4g}"


@cli.command()
@click.argument("run_id")
@click.option("-n", "count", type=click.IntRange(1, 10_000), default=16, show_default=True,
              help="Number of samples.")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False),
              help=".png grid or .npy for images; .csv or .npy for series.")
@click.option("--seed", type=SEED, default=0, show_default=True)
@click.option("--label", type=int, default=None,
              help="Class to draw (a model trained with --set conditional=true).")
@click.option("--steps", type=int, default=None, metavar="K",
              help="A diffusion model's sampler with K of its T steps (DDIM); default: all T, "
                   "ancestral.")
@click.option("--eta", type=float, default=0.0, show_default=True,
              help="With --steps: the noise of each DDIM step (0 deterministic, 1 ancestral).")
@click.option("--temperature", type=float, default=None, metavar="T",
              help="A flow's sampling temperature: z ~ N(0, T^2 I) (Glow; T < 1 trades "
                   "diversity for quality).")
def sample(run_id, count, output, seed, label, steps, eta, temperature):
    """Draw samples from RUN_ID and write them to a file."""
    import torch

    from .outputs import check_samples, write_samples
    from .runs import load_run
    from .samplers import sampler

    loaded = load_run(run_id, _store(), _registry())
    context = {}
    if label is not None:
        _check_conditional(loaded, run_id)
        context["labels"] = label
    draw = sampler(loaded.model, steps=steps, eta=eta, temperature=temperature,
                   what=f"run {run_id} ({loaded.spec.name})")
    generator = torch.Generator(device=loaded.model.device).manual_seed(seed)
    samples = check_samples(loaded.spec.name, draw(count, generator=generator, **context),
                            count, loaded.data.info)
    replaced = write_samples(samples, output, kind=loaded.data.kind,
                             levels=loaded.data.info.levels)
    which = f" of class {label}" if label is not None else ""
    how = f" with {steps} DDIM steps (eta {eta:g})" if steps is not None else ""
    click.echo(f"wrote {count} samples{which} from {run_id}{how} to {output}"
               f"{_replaced(replaced)}")


def _check_conditional(loaded, run_id: str) -> None:
    """--label needs a model that was trained on class labels and whose sample() takes them."""
    import inspect

    name = loaded.spec.name
    if not loaded.model.conditional:
        how = (f"train one with `genzoo train {name} --dataset {loaded.record.dataset} "
               "--set conditional=true`" if hasattr(loaded.model.config, "conditional")
               else f"model {name!r} has no class-conditional form")
        raise GenzooError(f"--label needs a class-conditional model, but run {run_id} "
                          f"({name}) was trained without labels; {how}")
    parameters = inspect.signature(loaded.model.sample).parameters
    if "labels" not in parameters and not any(p.kind is p.VAR_KEYWORD
                                              for p in parameters.values()):
        raise GenzooError(f"model {name!r} is conditional but its sample() takes no labels")


@cli.command()
@click.argument("run_id")
@click.option("--mask", "mask_name", default="top-half", show_default=True,
              help="Which pixels are known: top-half, bottom-half, left-half, right-half "
                   "(the half kept), center (a hidden centred square), random:P (a fraction P "
                   "hidden), or FILE.npy (any H x W mask, true where known).")
@click.option("-n", "count", type=click.IntRange(1, 1000), default=8, show_default=True,
              help="Number of images, the first N of the split.")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False),
              help=".png (rows: masked, completed, original) or .npy (3, N, C, H, W): the "
                   "masked images (hidden = -1), the completions, the originals.")
@click.option("--seed", type=SEED, default=0, show_default=True,
              help="Seed of the completion draws (and of a random:P mask).")
@click.option("--split", type=click.Choice(["test", "val", "train"]), default="test",
              show_default=True)
def complete(run_id, mask_name, count, output, seed, split):
    """Hide part of N images and let RUN_ID's autoregressive model fill it in."""
    import torch

    from .masks import complete_images, require_completer
    from .outputs import IMAGE_SUFFIXES, check_output_path, grid_scale, write_pictures
    from .runs import load_run

    path = check_output_path(output, IMAGE_SUFFIXES, "a completion")
    registry = _registry()
    loaded = load_run(run_id, _store(), registry)
    model = require_completer(loaded, registry)
    images, labels = loaded.data.split(split)
    if count > len(images):
        raise GenzooError(f"-n {count} is more than the {len(images)} images of the "
                          f"{loaded.data.name} {split} split")
    done = complete_images(model, images[:count], mask_name, seed=seed,
                           labels=labels[:count] if labels is not None else None)
    scale = grid_scale(*images.shape[-2:], least=2)  # small images drawn larger
    replaced = write_pictures(
        path, array=lambda: torch.stack([done.masked, done.completed, done.original]),
        picture=lambda: done.grid(loaded.data.levels, scale=scale))
    click.echo(f"wrote {count} completions ({mask_name}: {done.hidden} of {done.known.numel()} "
               f"pixels hidden) from {run_id} to {path}{_replaced(replaced)}")


@cli.command()
@click.argument("run_id")
@click.option("--view", type=click.Choice(["reconstruct", "traverse", "interpolate", "manifold",
                                           "factors", "codes"]),
              default="reconstruct", show_default=True,
              help="reconstruct: N test images over their reconstructions; traverse: each "
                   "latent dimension of test image --index walked over +-3 sigma; interpolate: "
                   "from test image --index to --to; manifold: the decoded 2-d latent space; "
                   "factors: |correlation| of latent dimensions with known factors (CSV); "
                   "codes: the test set's codes (.npy).")
@click.option("-n", "count", type=click.IntRange(1, 1000), default=8, show_default=True,
              help="Images (reconstruct) or steps (traverse, interpolate).")
@click.option("--index", type=int, default=0, show_default=True, help="A test image.")
@click.option("--to", "second", type=int, default=1, show_default=True,
              help="The other test image (interpolate).")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False),
              help=".png for pictures, .csv for factors, .npy for codes.")
def explore(run_id, view, count, index, second, output):
    """Look into RUN_ID's latent code (vae, gumbel-vae, vqvae, a flow), as the Latent explorer."""
    import torch

    from . import explore as views
    from .outputs import (
        check_output_path,
        grid_scale,
        image_grid,
        npy_bytes,
        png_bytes,
        write_output,
    )
    from .runs import load_run

    wanted = {"factors": ".csv", "codes": ".npy"}.get(view, ".png")
    if Path(output).suffix.lower() != wanted:  # one file type per view: say which
        raise GenzooError(f"--view {view} writes a {wanted} file, not {Path(output).name!r}")
    path = check_output_path(output, (wanted,), f"the {view} view")
    loaded = load_run(run_id, _store(), _registry())
    model = views.require_latent(loaded.model, run_id)
    data = loaded.data
    for name, value in (("--index", index), ("--to", second)):
        if not 0 <= value < len(data.test):
            raise GenzooError(f"{name} {value}: the {data.name} test split has images "
                              f"0..{len(data.test) - 1}")
    if view == "factors":
        if not data.test_factors:
            raise GenzooError(f"dataset {data.name!r} has no known factors of variation "
                              "(shapes has: shape, size, row, col)")
        codes = views.encode_all(model, data.test)
        table = views.factor_table(model, codes, data.test_factors)
        replaced = write_output(path, table.to_csv().encode())
    elif view == "codes":
        replaced = write_output(path, npy_bytes(views.encode_all(model, data.test)))
    else:
        columns = None
        if view == "reconstruct":
            images = data.test[:count]
            pictures = torch.cat([images.float(), views.reconstructions(model, images)])
            columns = len(images)
        elif view == "traverse":
            grid = views.traversal(model, data.test[index], steps=max(count, 2))
            pictures, columns = grid.flatten(0, 1), grid.shape[1]
        elif view == "interpolate":
            pictures = views.interpolation(model, data.test[index], data.test[second],
                                           max(count, 2))
        else:  # manifold
            pictures, columns = views.manifold(model), 12
        scale = grid_scale(*pictures.shape[-2:], least=2)
        replaced = write_output(path, png_bytes(image_grid(pictures, data.levels,
                                                           columns=columns, scale=scale)))
    click.echo(f"wrote the {view} view of {run_id} to {path}{_replaced(replaced)}")


@cli.command()
@click.option("--model", default=None, help="Only runs of this model.")
@click.option("--dataset", default=None, help="Only runs on this dataset.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def runs(model, dataset, as_json):
    """List the runs in the store ($GENZOO_HOME, default ~/.genzoo), newest first."""
    from .process import as_seen_now

    store = _store()
    records = [as_seen_now(store, r) for r in store.list_runs(model=model, dataset=dataset)]
    if as_json:
        _emit([r.to_json() for r in records])
        return
    rows = []
    for r in records:
        m = r.metrics
        score = (f"{m['test_bits_per_dim']:.4f} bits/dim" if "test_bits_per_dim" in m
                 else f"{m['test_nats_per_obs']:.4f} nats/obs" if "test_nats_per_obs" in m
                 else f"{m['test_bits_per_dim_estimate']:.4f} bits/dim (estimate)"
                 if "test_bits_per_dim_estimate" in m else "")
        rows.append({"run_id": r.run_id, "model": r.model, "dataset": r.dataset,
                     "status": r.status, "step": r.step, "test": score})
    _table(rows, ["run_id", "model", "dataset", "status", "step", "test"])


@cli.command()
@click.option("--scale", type=float, default=1.0, show_default=True,
              help="Multiply every demo training budget (0.1 for a quick look).")
@click.option("--workers", type=int, default=None,
              help="Trainings at once (default: one per core, at most 4).")
def demo(scale, workers):
    """Train the demo comparisons the dashboard opens with (only runs not trained yet)."""
    from . import compare as cmp
    from .cli_queue import _report_comparison
    from .demo import queue_demo
    from .pool import check_workers

    # checked before anything is queued: 0 or less, NaN or infinity make no budget
    if not 0 < scale < float("inf"):
        raise BadConfig(f"--scale {scale}: give a positive number, like 0.1")
    workers = check_workers(workers)
    registry, store = _registry(), _store()
    names, queued = queue_demo(registry, store, scale=scale,
                               log=lambda m: click.echo(m, err=True))
    click.echo(f"[demo] {len(queued)} jobs queued in {', '.join(names)}", err=True)
    cmp.wait_for(store, names, workers)
    for name in names:
        _report_comparison(registry, store, name, None, as_json=False)


@cli.command()
@click.option("--port", type=int, default=8501, show_default=True)
@click.option("--host", default="localhost", show_default=True,
              help="The address to listen on: localhost serves this machine only; 0.0.0.0 "
                   "serves a class (students open the address printed).")
@click.option("--read-only", is_flag=True,
              help="Serve every page but refuse to train, cancel or upload (a shared screen).")
@click.option("--demo/--no-demo", "with_demo", default=True, show_default=True,
              help="Queue the missing demo runs; a background worker pool trains them while "
                   "the dashboard serves.")
@click.option("--workers", type=int, default=None,
              help="Trainings at once in the background pool (default: one per core, at most 4).")
@click.option("--headless/--browser", default=True, show_default=True,
              help="Headless: do not try to open a browser.")
def dashboard(port, host, read_only, with_demo, workers, headless):
    """Serve the Streamlit dashboard on the runs store."""
    from .pool import check_workers, start_pool_process

    workers = check_workers(workers)
    store = _store()
    if with_demo and not read_only:
        from .jobs import JOBS_FOLDER

        # the pool queues the demo's missing runs itself, so the pages serve at once; they
        # show the demo's progress and fill in as its runs complete
        start_pool_process(store, workers, idle_exit=300.0, queue_demo=True)
        click.echo("[demo] the demo's missing runs train in the background (log: "
                   f"{store.home / JOBS_FOLDER / 'pool.log'})", err=True)
    elif not read_only:
        from .jobs import JobQueue

        if JobQueue(store).list(statuses=("queued", "running"), limit=1):
            start_pool_process(store, workers, idle_exit=300.0)
    app = Path(__file__).resolve().parent.parent / "dashboard" / "app.py"
    if not app.is_file():
        import genzoo.dashboard

        app = Path(genzoo.dashboard.__file__).with_name("app.py")
    shown = socket.gethostname() if host in ("0.0.0.0", "::", "") else host
    click.echo(f"genzoo dashboard: http://{shown}:{port}"
               + (" (read-only)" if read_only else ""), err=True)
    env = {**os.environ, "GENZOO_HOME": str(store.home),
           "GENZOO_READ_ONLY": "1" if read_only else "", "GENZOO_WORKERS": str(workers)}
    os.execvpe(sys.executable, [sys.executable, "-m", "streamlit", "run", str(app),
                                "--server.port", str(port), "--server.address", host,
                                "--server.headless", "true" if headless else "false",
                                "--browser.gatherUsageStats", "false",
                                # no file watcher: polling the sources for edits cost a third
                                # of a core while serving
                                "--server.fileWatcherType", "none",
                                # no full garbage collection after every page run: in a process
                                # holding torch and the loaded runs it was two thirds of the
                                # server's time with ten sessions (docs/benchmarks.md)
                                "--runner.postScriptGC", "false"], env)


@cli.command()
@click.option("--models", "model_names", default=None,
              help="Comma list of models (default: every image model).")
@click.option("--dataset", "-d", default="digits", show_default=True)
@click.option("--steps", type=int, default=30, show_default=True,
              help="Training steps timed per model.")
@click.option("--device", default="auto", show_default=True)
@click.option("--sizes", default="8,16", show_default=True,
              help="Image sides (comma list) to time sampling at, for how it grows with the "
                   "image; empty for none.")
@click.option("--out", "out_dir", default="benchmarks/results", show_default=True,
              type=click.Path(file_okay=False))
@click.option("--store/--no-store", "to_store", default=True, show_default=True,
              help="Also save the result in the runs store ($GENZOO_HOME/bench), where the "
                   "dashboard's Speed page reads it.")
@click.option("--precisions", default=None, metavar="LIST",
              help="fp32 and/or bf16 (comma list; default fp32,bf16 on a GPU, fp32 on a CPU).")
@click.option("--modes", default=None, metavar="LIST",
              help="eager and/or compiled (torch.compile of the training step; default both on "
                   "a GPU, eager on a CPU).")
@click.option("--batch-size", type=click.IntRange(min=1), default=None,
              help="Every model's training batch size (default: each config's).")
def bench(model_names, dataset, steps, device, sizes, out_dir, to_store, precisions, modes,
          batch_size):
    """Time training and sampling of every image model, and its sampling at other image sizes;
    write JSON and a Markdown table, and save the result in the runs store for the dashboard."""
    from .bench import run_benchmarks
    from .outputs import check_output_folder

    names = [n.strip() for n in model_names.split(",")] if model_names else None
    result = run_benchmarks(_registry(), names, dataset=dataset, steps=steps, device=device,
                            sizes=_sizes(sizes), out_dir=check_output_folder(out_dir),
                            precisions=_words(precisions), modes=_words(modes),
                            batch_size=batch_size,
                            home=_store().home if to_store else None,
                            log=lambda m: click.echo(m, err=True))
    click.echo(result["markdown"])
    if to_store:
        click.echo(f"saved in the runs store: {result['saved']}", err=True)


def _words(text: str | None) -> tuple[str, ...] | None:
    """A comma list as a tuple of words (None when not given)."""
    if text is None:
        return None
    words = tuple(word.strip().lower() for word in text.split(",") if word.strip())
    if not words:
        raise BadConfig(f"{text!r}: give a comma list, like fp32,bf16")
    return words


def _sizes(text: str) -> list[int]:
    """``--sizes 8,16,28`` as integers; a clear error for anything else."""
    try:
        sizes = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise BadConfig(f"--sizes {text!r}: give image sides as a comma list, like 8,16,28"
                        ) from None
    if any(size < 1 for size in sizes):
        raise BadConfig(f"--sizes {text!r}: image sides must be at least 1")
    return sizes


@cli.command(name="check-plugin")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print the results as JSON.")
@click.pass_context
def check_plugin_command(ctx, name, as_json):
    """Run every contract check on every model that plugin NAME registers.

    NAME is a plugin as `genzoo plugins` lists it (a built-in like genzoo.pixelcnn, or an
    installed package's entry-point name like genzoo-made), or a single model. Exits 1 when a
    check fails or the plugin failed to load, 2 for an unknown name.
    """
    from .conformance import check_plugin, plugin_models, registry_including

    registry = registry_including([name])
    plugin, names = plugin_models(registry, name)
    if name not in registry.plugins:
        click.echo(f"note: {name!r} is a model, not a plugin; checking it alone (its plugin, "
                   f"{plugin}, registers: {', '.join(registry.plugins[plugin].models)})", err=True)
    elif not names:
        click.echo(f"note: plugin {name!r} registers no models, so there is nothing to check "
                   "(the contract checks are for models)", err=True)

    def progress(done, total, model):
        click.echo(f"checking {model} ({done + 1}/{total})", err=True)

    report = check_plugin(registry, name, progress=progress)
    if as_json:
        _emit(report)
    else:
        _print_check_report(report)
    if not report["passed"]:
        ctx.exit(1)


def _print_check_report(report: dict) -> None:
    """The table of every (model, check) result, then each failure with what to fix."""
    version = f" {report['version']}" if report["version"] else ""
    click.echo(f"plugin {report['plugin']}{version}: {len(report['models'])} model(s), "
               f"{report['total']} checks")
    words = {True: "pass", False: "FAIL", None: "n/a"}
    rows = [{"model": model, "check": r["check"], "result": words[r["passed"]],
             "seconds": f"{r['seconds']:.2f}" if r["passed"] is not None else ""}
            for model, results in report["models"].items() for r in results]
    _table(rows, ["model", "check", "result", "seconds"])
    failures = [(model, r) for model, results in report["models"].items() for r in results
                if r["passed"] is False]
    if failures:
        click.echo("\nfailed checks, and what to fix:")
        for model, r in failures:
            click.echo(f"  {model} / {r['check']}: {r['message']}")
    skipped = report.get("not_applicable", 0)
    click.echo(f"\n{report['total'] - report['failed']} of {report['total']} checks passed"
               + (f" ({skipped} did not apply: n/a)" if skipped else ""))
    if report.get("problem"):
        click.echo(f"FAIL: {report['problem']}")


@cli.command(name="new-plugin")
@click.argument("name")
@click.option("--dir", "folder", default=".", show_default=True,
              type=click.Path(file_okay=False), help="Where to create genzoo-NAME/.")
def new_plugin_command(name, folder):
    """Write a working plugin package genzoo-NAME/ with a model named NAME.

    The package has its entry point, a small model that passes every contract check (replace
    it with yours), a test file that runs those checks, and a README with the next steps.
    NAME: lowercase letters, digits and dashes.
    """
    import shutil

    from .scaffold import new_plugin

    target = Path(folder)
    package = target / f"genzoo-{name}"
    # What a failed write must not leave behind: the package and the folders made on the way.
    fresh = [p for p in (package, target, *target.parents) if not os.path.lexists(p)]
    try:
        with _writing(folder):  # --dir under a file, a name too long for the file system
            path = new_plugin(name, target, taken=_registry().models)
    except GenzooError:
        for made in fresh:  # innermost first; a folder only while it is empty
            if made == package:
                shutil.rmtree(made, ignore_errors=True)
            else:
                with contextlib.suppress(OSError):
                    made.rmdir()
        raise
    click.echo(f"wrote {path}")
    for step in (f"cd {path}", "pip install -e .", f"genzoo check-plugin genzoo-{name}",
                 "pytest tests", f"genzoo train {name} --dataset digits"):
        click.echo(f"  {step}")


@cli.command()
@click.argument("run_id")
@click.option("--degrade", "degradations", multiple=True, metavar="NAME:STRENGTH",
              help="mask:P (hide a fraction P of the pixels, set to 0; 0..1), noise:S "
                   "(Gaussian, std S levels; 0..255), blur:S (Gaussian, std S pixels; 0..4), "
                   "down:F (down- and upsample by a whole F; 1..8). Default mask:0.5; with "
                   "--table, repeat for several (default: a standard set).")
@click.option("--w", "w", default="0.5", show_default=True,
              help="CFT weight in [0, 1]: 0 is pure codebook lookup (quality), 1 keeps most "
                   "of the input's features (fidelity).")
@click.option("-n", "count", type=click.IntRange(1, 1000), default=8, show_default=True,
              help="Number of images, the first N of the test split (--table: all of them "
                   "unless given).")
@click.option("-o", "--output", default=None, type=click.Path(dir_okay=False),
              help=".png (rows: degraded, restored, clean) or .npy (3, N, C, H, W); with "
                   "--table, an optional .csv of the table.")
@click.option("--seed", type=SEED, default=0, show_default=True,
              help="Seed of the degradation's random draws.")
@click.option("--table", "as_table", is_flag=True,
              help="Print the metrics table instead: PSNR and the reference classifier's "
                   "accuracy for the degraded input, the nearest-code lookup and the model "
                   "(at w=0 and --w), per degradation; kept with the run.")
@click.option("--json", "as_json", is_flag=True, help="With --table: print JSON.")
@click.pass_context
def restore(ctx, run_id, degradations, w, count, output, seed, as_table, as_json):
    """Degrade test images and restore them with RUN_ID's restoration model (codeformer)."""
    import warnings

    import torch

    from . import restoration as r
    from .outputs import (
        IMAGE_SUFFIXES,
        check_output_path,
        grid_scale,
        spreadsheet_safe,
        write_output,
        write_pictures,
    )
    from .runs import load_run

    specs = r.check_specs(degradations or (() if as_table else ("mask:0.5",)))
    w = r.check_w(w)
    if output is None and not as_table:
        raise GenzooError("give -o FILE (.png or .npy) for the pictures, or --table for the "
                          "metrics")
    path = None if output is None else check_output_path(
        output, (".csv",) if as_table else IMAGE_SUFFIXES,
        "a table" if as_table else "restorations")
    if not as_table and len(specs) > 1:
        raise GenzooError("give one --degrade for pictures (several only with --table)")
    store, registry = _store(), _registry()
    r.require_restoration(registry, store.get(run_id))
    if as_table:
        n = count if ctx.get_parameter_source("count").name != "DEFAULT" else None
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            table, reference = r.run_restoration_table(
                store, registry, run_id, specs or r.TABLE_DEGRADATIONS,
                ws=(0.0,) if w == 0 else (0.0, w), n=n, seed=seed)
        for warning in caught:
            click.echo(f"warning: {warning.message}", err=True)
        if not specs:  # the standard set: the gains the run's claims name
            model_class = registry.model(store.get(run_id).model).model_class
            store.merge_metrics(run_id, r.gains(table, model_class))
        if path is not None:
            replaced = write_output(path, spreadsheet_safe(table).to_csv(index=False).encode())
        if as_json:
            _emit({"run_id": run_id, "seed": seed, "reference_accuracy": getattr(
                reference, "test_accuracy", None), "rows": table.to_dict(orient="records")})
            return
        note = (f"reference classifier: {100 * reference.test_accuracy:.1f}% on clean test "
                "images" if reference is not None else "no reference classifier (unlabelled "
                "data): PSNR only")
        click.echo(f"restoration by {run_id} (seed {seed}); {note}")
        shown = r.format_table(r.long_table(table)).fillna("")
        _table(shown.to_dict(orient="records"), list(shown.columns))
        if path is not None:
            click.echo(f"wrote the table to {path}{_replaced(replaced)}", err=True)
        return
    loaded = load_run(run_id, store, registry)
    clean = loaded.data.test[:count]
    if count > len(loaded.data.test):
        raise GenzooError(f"-n {count} is more than the {len(loaded.data.test)} images of the "
                          f"{loaded.data.name} test split")
    out = r.restorations(loaded.model, clean, specs[0], ws=(w,), seed=seed)
    restored = out["restored"][w]
    rows = [out["degraded"], restored, clean]
    scale = grid_scale(*clean.shape[-2:], least=2)  # small images drawn larger
    replaced = write_pictures(path, array=lambda: torch.stack(rows), picture=lambda: (
        r.restoration_grid(rows, loaded.data.levels, scale=scale)))
    levels = loaded.data.levels
    scores = [float(r.psnr(images, clean, levels).mean())
              for images in (out["degraded"], out["baseline"], restored)]
    click.echo(f"wrote {count} restorations ({specs[0]}, w={w:g}) from {run_id} to "
               f"{path}{_replaced(replaced)}; "
               f"PSNR {scores[0]:.2f} dB degraded, {scores[1]:.2f} dB {loaded.model.baseline_name}"
               f", {scores[2]:.2f} dB restored")


def _one_line_warning(message, category, filename, lineno, file=None, line=None):
    """Warnings as ``warning: <message>`` on stderr, without the source line that Python adds
    (a user of the command line did not write it)."""
    click.echo(f"warning: {message}", err=True)


from . import (  # noqa: E402,F401  - register their commands on the group above
    cli_export,  # export, import
    cli_queue,  # compare, comparisons, jobs, cancel, worker
)


def main():
    """Console-script entry point."""
    import warnings

    warnings.showwarning = _one_line_warning
    cli(prog_name="genzoo")


if __name__ == "__main__":
    # `python -m genzoo.registry.cli` (how the pool starts trainers): run the imported module's
    # group, on which cli_queue registered its commands, not this __main__ copy's
    from genzoo.registry.cli import main as _main

    _main()
