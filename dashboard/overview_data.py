"""The Overview's tables, built once per state of the store and shared by every session.

Each model's claims (with the numbers that test them) and runs depend only on the registry and
the run records, so with a class on the page they are computed and converted to Arrow once,
not once per visitor (docs/benchmarks.md, "Load").
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from genzoo.dashboard import data
from genzoo.dashboard.data import dataset_label, format_metric, higher_is_better, metric_unit
from genzoo.dashboard.tables import SharedTable
from genzoo.registry.metrics import PARAMETERS
from genzoo.registry.plugins import Registry
from genzoo.registry.spec import TAXONOMY, ModelSpec
from genzoo.registry.store import RunRecord


@dataclass(frozen=True)
class OverviewTables:
    """The taxonomy of the registered models (a tree and a table), ``claims[model]`` for every
    registered model, ``runs[model]`` for those with runs, and the runs of models no loaded
    plugin provides."""

    taxonomy_figure: go.Figure
    taxonomy: SharedTable
    claims: dict[str, SharedTable]
    runs: dict[str, SharedTable]
    orphans: SharedTable | None


def overview_tables(reg: Registry, records: list[RunRecord]) -> OverviewTables:
    """The tables for ``records`` (newest first), shared while the records stay the same."""
    return _overview_tables(data.store_home(), tuple(sorted(reg.models)),
                            data.records_state(records), reg, records)


@st.cache_resource(show_spinner=False, max_entries=4)
def _overview_tables(home: str, models: tuple[str, ...], state: tuple, _reg: Registry,
                     _records: list[RunRecord]) -> OverviewTables:
    by_model: dict[str, list[RunRecord]] = {}
    for record in _records:
        by_model.setdefault(record.model, []).append(record)
    claims = {name: SharedTable(claims_frame(_reg, _reg.model(name), by_model.get(name, []),
                                                  _records)) for name in models}
    runs = {name: SharedTable(data.runs_frame(found)) for name, found in by_model.items()}
    orphans = orphan_runs(_reg, _records)
    return OverviewTables(taxonomy_figure(_reg), SharedTable(taxonomy_frame(_reg)),
                          claims, runs, SharedTable(data.runs_frame(orphans)) if orphans
                          else None)


# The lecture's examples for each branch of the taxonomy (slide "Taxonomy of Generative Models").
LECTURE_EXAMPLES = {TAXONOMY["exact"]: "AR, FVBN, PixelRNN, PixelCNN; change of variables "
                                       "(flows: exact on dequantized values, a bound on "
                                       "discrete data)",
                    TAXONOMY["bound"]: "VAE, VQ-VAE; diffusion (a hierarchical VAE whose "
                                       "encoder is fixed noise); Boltzmann machines (Markov "
                                       "chain: an estimated normalizer)",
                    TAXONOMY["implicit"]: "GAN"}


def branch_order() -> list[str]:
    """The taxonomy's branches in the lecture's order (tractable, approximate, implicit): a
    branch holds several kinds of density (a bound and an estimate are both approximate)."""
    return list(dict.fromkeys(TAXONOMY.values()))


def taxonomy_frame(reg: Registry) -> pd.DataFrame:
    """One row per registered model with its place in the taxonomy, grouped by branch."""
    rows = [{"branch": spec.branch, "leaf": spec.leaf, "model": spec.name,
             "family": spec.family,
             "density": spec.density, "sampling": spec.sampling, "data": spec.data,
             "paper": spec.paper, "plugin": reg.plugin_of("models", spec.name) or "—"}
            for spec in reg.models.values()]
    columns = ["branch", "leaf", "model", "family", "density", "sampling", "data", "paper",
               "plugin"]
    frame = pd.DataFrame(rows, columns=columns)
    rank = {branch: i for i, branch in enumerate(branch_order())}
    frame["_rank"] = frame["branch"].map(rank)
    return frame.sort_values(["_rank", "model"]).drop(columns="_rank").reset_index(drop=True)


def taxonomy_figure(reg: Registry) -> go.Figure:
    """The lecture's tree, generative models -> branch -> leaf -> family -> model, drawn from
    the registry (a plugin's model appears in its branch by being installed); a model with no
    leaf (a baseline) hangs its family from the branch."""
    root = "generative models"
    ids, labels, parents, hover = [root], [root], [""], [""]
    for branch in branch_order():
        ids.append(branch)
        labels.append(branch)
        parents.append(root)
        hover.append(LECTURE_EXAMPLES[branch])
    for spec in sorted(reg.models.values(), key=lambda s: (s.leaf, s.family, s.name)):
        parent = spec.branch
        if spec.leaf:
            parent = f"{spec.branch}/{spec.leaf}"
            if parent not in ids:
                ids.append(parent)
                labels.append(spec.leaf)
                parents.append(spec.branch)
                hover.append("")
        family = f"{parent}/{spec.family}"
        if family not in ids:
            ids.append(family)
            labels.append(spec.family)
            parents.append(parent)
            hover.append("")
        ids.append(f"{family}/{spec.name}")
        labels.append(spec.name)
        parents.append(family)
        hover.append(f"{spec.paper}<br>sampling: {spec.sampling} · data: {spec.data}")
    fig = go.Figure(go.Treemap(ids=ids, labels=labels, parents=parents, customdata=hover,
                               hovertemplate="<b>%{label}</b><br>%{customdata}<extra></extra>",
                               root_color="lightgrey", tiling=dict(pad=3),
                               maxdepth=5))
    fig.update_layout(title="The lecture's taxonomy, from the registered models", height=420,
                      margin=dict(t=50, b=10, l=10, r=10))
    return fig


def models_in_branch(reg: Registry, branch: str) -> list[ModelSpec]:
    """The models under ``branch`` in the tree (a flow's leaf puts it under the tractable
    branch although it reports a bound)."""
    return sorted((s for s in reg.models.values() if s.branch == branch), key=lambda s: s.name)


def measured(records: list[RunRecord], metric: str) -> RunRecord | None:
    """The newest completed run that has a number for ``metric``, preferring runs on pictures
    to runs on 2-d points (sampling two "pixels" says little about sequential sampling)."""
    having = [r for r in records if r.status == "completed"
              and (r.metrics or {}).get(metric) is not None]
    pictures = [r for r in having if not data.is_points(r.dataset)]
    return next(iter(pictures or having), None)


def compare_to_others(reg: Registry, metric: str, record: RunRecord,
                      all_records: list[RunRecord]) -> str:
    """How ``record``'s number ranks among every model's newest run on the same dataset: the
    ratio to the best for speeds and sizes, otherwise its rank and the best model's number."""
    higher = higher_is_better(reg, metric)
    if higher is None:
        return ""
    newest: dict[str, float] = {}
    for r in all_records:  # newest first
        value = (r.metrics or {}).get(metric)
        if (r.status == "completed" and r.dataset == record.dataset and r.model not in newest
                and isinstance(value, (int, float)) and math.isfinite(value)):
            newest[r.model] = float(value)
    if len(newest) < 2 or record.model not in newest:
        return ""
    ranked = sorted(newest.items(), key=lambda kv: -kv[1] if higher else kv[1])
    best_model, best = ranked[0]
    own = newest[record.model]
    rank = [m for m, _ in ranked].index(record.model) + 1
    if best_model == record.model:
        return f"best of {len(ranked)} models on {dataset_label(record.dataset)}"
    if reg.metric(metric).ratio and best > 0 and own > 0:
        ratio = best / own if higher else own / best
        word = "larger" if metric == PARAMETERS else "slower"
        return f"{ratio:,.1f}x {word} than the best, {best_model}"
    unit = metric_unit(reg, metric)
    return (f"{rank} of {len(ranked)} on {dataset_label(record.dataset)}; best: {best_model} "
            f"{format_metric(best, unit)}")


def claims_frame(reg: Registry, spec: ModelSpec, records: list[RunRecord],
                 all_records: list[RunRecord] | None = None) -> pd.DataFrame:
    """The model's pros and cons, each next to the measured number that tests it (if any), and
    how that number compares with the other models' on the same dataset.

    ``records`` are this model's runs, newest first; the newest completed run with the metric
    gives the number. ``all_records`` (every model's runs) gives the comparison.
    """
    rows = []
    for kind, claims in (("pro", spec.pros), ("con", spec.cons)):
        for claim in claims:
            compared = ""
            if claim.metric is None:
                value, run = "qualitative", ""
            else:
                record = measured(records, claim.metric)
                if record is None:
                    value, run = "not measured yet", ""
                else:
                    value = format_metric(record.metrics[claim.metric],
                                          metric_unit(reg, claim.metric))
                    run = f"{record.run_id} ({dataset_label(record.dataset)})"
                    compared = compare_to_others(reg, claim.metric, record, all_records or [])
            rows.append({"": kind, "claim": claim.text, "measured": value,
                         "against the others": compared, "tested by": claim.metric or "—",
                         "run": run})
    return pd.DataFrame(rows, columns=["", "claim", "measured", "against the others",
                                       "tested by", "run"])


def orphan_runs(reg: Registry, records: list[RunRecord]) -> list[RunRecord]:
    """Runs of models that no loaded plugin provides (uninstalled or broken)."""
    return [r for r in records if r.model not in reg.models]
