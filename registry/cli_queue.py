"""The command line of comparisons and the job queue: ``compare``, ``comparisons``, ``jobs``,
``cancel`` and ``worker`` (registered on the ``genzoo`` group by :mod:`genzoo.registry.cli`)."""

from __future__ import annotations

import os
import signal

import click

from .cli import _budget_options, _check_budget, _emit, _registry, _store, _table, cli
from .errors import BadConfig, GenzooError, NotFound
from .runs import absolute_dataset


def _workers_option(f):
    return click.option("--workers", type=int, default=None,
                        help="Trainings at once (default: one per core, at most 4; each trainer "
                             "gets cores/workers threads).")(f)


def _model_settings(pairs) -> dict[str, dict[str, str]]:
    """``--set MODEL.KEY=VALUE`` pairs as ``{model: {key: value}}``."""
    out: dict[str, dict[str, str]] = {}
    for pair in pairs:
        target, sep, value = str(pair).partition("=")
        model, dot, key = target.partition(".")
        if not sep or not dot or not model.strip() or not key.strip():
            raise BadConfig(f"--set {pair!r}: a comparison takes MODEL.KEY=VALUE (pixelcnn."
                            "hidden=32), so each setting names the model it changes")
        out.setdefault(model.strip(), {})[key.strip()] = value.strip()
    return out


@cli.command()
@click.option("--models", default=None, metavar="LIST",
              help="Comma list of models (default: every registered model that applies to each "
                   "dataset, plugins' models included).")
@click.option("--dataset", "--datasets", "datasets", default="digits", show_default=True,
              metavar="LIST", help="Comma list of datasets: registered names, CSV files or "
                                   "your own images (docs/datasets.md).")
@click.option("--seeds", default="0", show_default=True, metavar="LIST",
              help="Comma list of seeds (or a range, 0-4); the table shows mean ± std over them.")
@_budget_options
@click.option("--set", "settings", multiple=True, metavar="MODEL.KEY=VALUE",
              help="A config field of one model (ar.p=9); repeat for several.")
@click.option("--name", default=None,
              help="Name the comparison (default: compare-<hash of the spec>); the same name "
                   "and spec again trains only what is missing.")
@click.option("--device", default="auto", show_default=True)
@click.option("--quality/--no-quality", default=True, show_default=True,
              help="Measure what training does not: score the samples of image runs on "
                   "labelled data (Fréchet distance, ...) and a restoration model's "
                   "restorations (PSNR gain).")
@_workers_option
@click.option("--detach", is_flag=True,
              help="Queue the runs and return; a background worker pool trains them.")
@click.option("--out", "out_dir", default=None, type=click.Path(file_okay=False),
              help="Folder for NAME.csv and NAME.json (default: $GENZOO_HOME/comparisons).")
@click.option("--json", "as_json", is_flag=True, help="Print the comparison's record as JSON.")
@click.option("--executor", type=click.Choice(["local", "submitit-local", "slurm"]),
              default="local", show_default=True,
              help="Where the runs train: the worker pool here (local), or one submitit job per "
                   "run on Slurm (slurm), or submitit's local executor (to try it); see "
                   "docs/scaling.md.")
@click.option("--slurm-partition", default=None, help="The Slurm partition (--executor slurm).")
@click.option("--slurm-time-min", type=int, default=None, metavar="MINUTES",
              help="Time limit of each cluster job (default: from the budget).")
@click.option("--slurm", "slurm_pairs", multiple=True, metavar="KEY=VALUE",
              help="A submitit or Slurm parameter (gpus_per_node=1, mem_gb=16, account=...); "
                   "repeat for several.")
def compare(models, datasets, seeds, steps, seconds, settings, name, device, quality, workers,
            detach, out_dir, as_json, executor, slurm_partition, slurm_time_min, slurm_pairs):
    """Train every model on every dataset with every seed on one budget, and tabulate them.

    Example: genzoo compare --models pixelcnn,vae,gan --dataset digits,mnist --seeds 0,1,2
    --seconds 120
    """
    from . import compare as cmp
    from .pool import check_workers

    _check_budget(steps, seconds)
    if steps is None and seconds is None:
        raise BadConfig("give every run of the comparison the same budget: --seconds S or "
                        "--steps N")
    workers = check_workers(workers)
    from .cluster import executor_options, require_slurm

    cluster_options = executor_options(executor, partition=slurm_partition,
                                       time_min=slurm_time_min, pairs=slurm_pairs)
    if executor == "slurm":
        require_slurm()
    if detach and executor != "local":
        raise BadConfig("--detach trains in a local pool; with --executor this command stays to "
                        "import the runs as their cluster jobs end (see docs/scaling.md)")
    registry, store = _registry(), _store()
    dataset_names = [absolute_dataset(registry, name)  # a user's files, found from anywhere
                     for name in cmp.parse_list(datasets, "dataset")]
    seed_list = cmp.parse_seeds(seeds)
    if models:
        model_names = cmp.parse_list(models, "models")
    else:  # an unknown dataset is refused here, naming it
        model_names = sorted({m for d in dataset_names for m in cmp.applicable_models(registry, d)})
    spec = cmp.ComparisonSpec(models=tuple(model_names), datasets=tuple(dataset_names),
                              seeds=tuple(seed_list), steps=steps, seconds=seconds,
                              settings=_model_settings(settings), device=device,
                              quality=quality)
    for model in spec.settings:
        if model not in model_names:
            raise BadConfig(f"--set {model}.…: {model!r} is not among the compared models")
    if out_dir is not None:  # before the training, not after it
        from .outputs import check_output_folder

        check_output_folder(out_dir)
    say = (lambda line: None) if as_json else (lambda line: click.echo(line, err=True))
    name, queued = cmp.submit(registry, store, spec, name, log=say)
    say(f"comparison {name}: {len(queued)} jobs queued ({spec.budget()} per run)")
    if detach:
        from .pool import start_pool_process

        start_pool_process(store, workers)
        say(f"training in the background; follow it with `genzoo jobs`, see the table with "
            f"`genzoo comparisons {name}`")
    elif executor != "local":
        from .cluster import run_on_executor

        done = run_on_executor(registry, store, name, executor, slurm_options=cluster_options,
                               workers=workers, log=say)
        say(f"comparison {name}: {done['submitted']} {executor} jobs submitted, "
            f"{done['completed']} completed, {done['failed']} failed")
    else:
        cmp.wait_for(store, name, workers, show=not as_json)
    _report_comparison(registry, store, name, out_dir, as_json)


def _report_comparison(registry, store, name: str, out_dir, as_json: bool) -> None:
    from . import compare as cmp

    rows = cmp.results(registry, store, name)
    csv_path, json_path = cmp.write_results(store, name, rows, out_dir)
    if as_json:
        state = cmp.progress(store, name)
        _emit({"name": name, "spec": cmp.get_spec(store, name).to_json(), "rows": rows,
               "csv": str(csv_path), "json": str(json_path),
               "jobs": {"done": state.done, "running": state.running, "queued": state.queued,
                        "failed": state.failed, "cancelled": state.cancelled}})
        return
    spec = cmp.get_spec(store, name)
    click.echo(f"comparison {name}: {len(spec.models)} models × {len(spec.datasets)} datasets × "
               f"{len(spec.seeds)} seeds, {spec.budget()} per run (mean ± std over seeds)")
    _table(cmp.table_rows(rows), ["model", "dataset", "seeds", "test", "frechet",
                                  "sample ms/img", "train ex/s", "status"])
    click.echo(f"wrote {csv_path} and {json_path}")


@cli.command()
@click.argument("name", required=False)
@click.option("--out", "out_dir", default=None, type=click.Path(file_okay=False),
              help="Folder for NAME.csv and NAME.json (default: $GENZOO_HOME/comparisons).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def comparisons(name, out_dir, as_json):
    """List the stored comparisons, or show the table of comparison NAME."""
    from . import compare as cmp

    registry, store = _registry(), _store()
    if name:
        cmp.get_spec(store, name)  # NotFound, one line, before anything is written
        _report_comparison(registry, store, name, out_dir, as_json)
        return
    rows = []
    for item in cmp.list_comparisons(store):
        spec, state = cmp.get_spec(store, item), cmp.progress(store, item)
        rows.append({"name": item, "models": len(spec.models), "datasets": ",".join(
            spec.datasets), "seeds": len(spec.seeds), "budget": spec.budget(),
            "jobs": f"{state.done}/{state.total} done", "running": state.running,
            "queued": state.queued, "failed": state.failed})
    if as_json:
        _emit(rows)
        return
    _table(rows, ["name", "models", "datasets", "seeds", "budget", "jobs", "running", "queued",
                  "failed"])


@cli.command()
@click.option("--all", "show_all", is_flag=True, help="Every job, not only the last 20 finished.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def jobs(show_all, as_json):
    """List the job queue: what trains now, what waits (with its place), what finished."""
    from .jobs import OPEN, JobQueue
    from .pool import pool_info, pool_running

    queue = JobQueue(_store())
    open_jobs = queue.list(statuses=OPEN)
    finished = [j for j in queue.list(newest_first=True, limit=None if show_all else 20 +
                                      len(open_jobs)) if not j.open]
    if not show_all:
        finished = finished[:20]
    listed = open_jobs + finished
    if as_json:
        _emit([{**j.to_json(), "place": queue.position(j)} for j in listed])
        return
    info = pool_info(queue.store) if pool_running(queue.store) else None
    click.echo(f"worker pool: process {info['pid']}, {info['workers']} at once" if info else
               "worker pool: none running (`genzoo worker` starts one; the dashboard and "
               "`genzoo compare` start their own)")
    rows = [{"job": f"#{j.job_id}", "kind": j.kind, "run_id": j.run_id, "status": j.status,
             "place": queue.position(j), "owner": j.owner, "what": j.request.describe()
             if j.request else "", "message": (j.message or "")[:80]} for j in listed]
    _table(rows, ["job", "kind", "run_id", "status", "place", "owner", "what", "message"])


@cli.command()
@click.argument("target", metavar="JOB_OR_RUN")
def cancel(target):
    """Cancel a queued job, or stop a running one (it checkpoints first; `genzoo resume`).

    JOB_OR_RUN is a job number (12 or #12) or a run id; a run trained from a terminal (not
    through the queue) is sent SIGTERM and keeps its checkpoint.
    """
    from .jobs import JobQueue
    from .process import read_owner

    store = _store()
    queue = JobQueue(store)
    try:
        click.echo(queue.cancel(target))
        return
    except NotFound:
        if str(target).lstrip("#").isdigit():
            raise
    store.get(target)  # NotFound names the run
    owner = read_owner(store.run_dir(target))
    if owner is None or owner.alive() is False:
        raise GenzooError(f"run {target!r} is not training (no live trainer); nothing to cancel")
    if owner.alive() is None:
        raise GenzooError(f"run {target!r} trains on host {owner.host!r}; cancel it there")
    os.kill(owner.pid, signal.SIGTERM)
    click.echo(f"asked process {owner.pid} to stop (run {target}): it saves a checkpoint and "
               "marks the run cancelled")


@cli.command()
@_workers_option
@click.option("--idle-exit", type=float, default=None, metavar="SECONDS",
              help="Stop after this long with nothing queued (default: keep serving).")
@click.option("--queue-demo", is_flag=True,
              help="First queue the demo's missing runs (what `genzoo dashboard` starts).")
def worker(workers, idle_exit, queue_demo):
    """Run the worker pool in the foreground: take queued jobs in order, at most --workers at
    once, until Ctrl-C (running trainers checkpoint and go back in line)."""
    from .jobs import JobQueue
    from .pool import WorkerPool, check_workers

    if idle_exit is not None and not idle_exit >= 0:
        raise BadConfig(f"--idle-exit {idle_exit}: give seconds, 0 or more")
    workers = check_workers(workers)
    say = lambda m: click.echo(m, err=True)  # noqa: E731
    store = _store()
    if queue_demo:
        from .demo import queue_demo as queue

        names, queued = queue(_registry(), store, log=say)
        say(f"[demo] {len(queued)} jobs queued in {', '.join(names)}")
        if not JobQueue(store).list(statuses=("queued", "running"), limit=1):
            return  # nothing to train: a page that queues a job starts a pool again
    pool = WorkerPool(store, workers, log=say)
    click.echo(f"worker pool on {pool.store.home}: {pool.workers} at once, {pool.threads} "
               "thread(s) each", err=True)
    pool.run(idle_exit=idle_exit)
