"""The command line of moving runs out and in: ``export`` (a bundle zip, or TensorBoard event
files) and ``import`` (a bundle), registered on the ``genzoo`` group by
:mod:`genzoo.registry.cli`."""

from __future__ import annotations

import click

from .cli import _emit, _registry, _replaced, _store, cli
from .errors import BadConfig, StoreError


@cli.command(name="export")
@click.argument("run_ids", metavar="RUN_ID...", nargs=-1, required=True)
@click.option("--bundle", type=click.Path(dir_okay=False), default=None, metavar="FILE.zip",
              help="Write the runs (their records, curves and last checkpoint, and the parent "
                   "runs a second stage builds on) to one zip that `genzoo import` reads.")
@click.option("--tensorboard", "tensorboard_dir", type=click.Path(file_okay=False), default=None,
              metavar="DIR", help="Write each run as TensorBoard event files in DIR/RUN_ID "
                                  "(needs: pip install 'genzoo[tensorboard]').")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def export(run_ids, bundle, tensorboard_dir, as_json):
    """Export finished runs: a bundle another machine imports, or TensorBoard events.

    Example: genzoo export RUN_A RUN_B --bundle class.zip
    """
    if (bundle is None) == (tensorboard_dir is None):
        raise BadConfig("give exactly one of --bundle FILE.zip and --tensorboard DIR")
    store = _store()
    for run_id in dict.fromkeys(run_ids):  # every run is there before anything is written
        store.get(run_id)
    if bundle is not None:
        _export_bundle(store, list(run_ids), bundle, as_json)
    else:
        _export_tensorboard(store, list(dict.fromkeys(run_ids)), tensorboard_dir, as_json)


def _export_bundle(store, run_ids, path, as_json) -> None:
    from .bundles import export_bundle

    summary = export_bundle(store, run_ids, path)
    if as_json:
        _emit(summary)
        return
    for run in summary["runs"]:
        step = run["checkpoint_step"]
        line = (f"{run['run_id']}: {run['points']} logged points, "
                + (f"checkpoint of step {step}" if step is not None else "no checkpoint"))
        if run["parent_of"]:
            line += f" (added: the parent run {run['parent_of']} builds on)"
        click.echo("; ".join([line, *run["notes"]]))
    click.echo(f"wrote {summary['bundle']} ({len(summary['runs'])} runs, "
               f"{summary['bytes'] / 2**20:.1f} MB){_replaced(summary['replaced'])}; "
               f"open it elsewhere with: genzoo import {summary['bundle']}")


def _export_tensorboard(store, run_ids, log_dir, as_json) -> None:
    from .tensorboard_export import export_tensorboard, summary_writer

    summary_writer()  # a missing tensorboard is said before any run is loaded
    registry = _registry()
    rows = []
    for run_id in run_ids:
        said: list[str] = []
        folder = export_tensorboard(store, registry, run_id, log_dir, warn=said.append)
        rows.append({"run_id": run_id, "path": str(folder), "warnings": said})
        if not as_json:
            click.echo("; ".join([f"wrote {folder}", *said]))
    if as_json:
        _emit({"log_dir": str(log_dir), "runs": rows})
    else:
        click.echo(f"open them with: tensorboard --logdir {log_dir}")


@cli.command(name="import")
@click.argument("path", metavar="FILE.zip", type=click.Path(dir_okay=False))
@click.option("--on-collision", type=click.Choice(["rename", "refuse", "skip"]),
              default="rename", show_default=True,
              help="A run id this store already has: import the run as ID-imported (and point "
                   "second stages at the new id), refuse the bundle, or skip the run (when the "
                   "store's is the same training).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def import_(path, on_collision, as_json):
    """Import the runs of a bundle that `genzoo export --bundle` wrote, checked first: a bundle
    that is damaged, forged or newer than this genzoo is refused and nothing is imported."""
    from .bundles import import_bundle

    store = _store()
    if store.read_only:
        raise StoreError(f"the runs store {store.home} is read-only here: nothing can be "
                         "imported into it; set GENZOO_HOME to a folder you can write")
    rows = import_bundle(store, path, on_collision=on_collision, registry=_registry())
    if as_json:
        _emit(rows)
        return
    for row in rows:
        if row["status"] == "renamed":
            line = f"imported {row['run_id']} as {row['imported_as']} (its id was taken)"
        elif row["status"] == "skipped":
            line = f"skipped {row['run_id']} (this store has the same run)"
        else:
            line = f"imported {row['run_id']}"
        click.echo("; ".join([line, *row["notes"]]))
