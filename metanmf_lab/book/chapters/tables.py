"""The chapter "The objective tables, recomputed": the thesis' Tables 4.3-4.10 beside ours,
each with the book's verdict of its pair, and the thesis' claims tested (:func:`values`).

The means are the thesis' statistic (the tables' seeds, mean over ranks); the verdicts are
:func:`metanmf_lab.book.chapters.verdicts.clustering_verdicts` (its comparisons of a Meta model
with its thesis baseline), as in every chapter. Under the authors' code (protocol
"authors") the book has no fair baselines: the verdicts are then those of this run's rows
alone (:func:`~metanmf_lab.grid.verdicts.compare_rows`), and the chapter says so.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from ...data.datasets import DATASETS
from ...grid import published, reporting, stats
from ...grid.catalogue import MODELS
from ...grid.cells import equal_compute_iterations, make_grid
from ...grid.reporting import THESIS_TABLES, display_table
from ...grid.runner import run_grid
from ...grid.verdicts import compare_rows
from .. import display, plotting
from . import Prose
from .statistics import claim_counts, claims_by_pair, count, seeds_sentence
from .verdicts import clustering_verdicts

#: The thesis' tables in its order.
TABLES = ("4.3", "4.4", "4.5", "4.6", "4.7", "4.8", "4.9", "4.10")


def thesis_table(sbs, table, verdicts):
    """One thesis table as the chapter shows it: a row per dataset, for the baseline and the
    Meta model the thesis' number, ours (mean ± s.d. over seeds) and ours minus the thesis',
    then the verdict of the Meta model against the baseline (from ``verdicts``, the
    comparisons of a Meta model with its thesis baseline; "–" where there is none).

    Returns a DataFrame with two header rows (model; thesis / ours / Δ, ours minus the
    thesis')."""

    cond, (base, meta) = THESIS_TABLES[table]
    shown = display_table(sbs, table)
    mine = verdicts[(verdicts["model"] == meta) & (verdicts["reference"] == base)
                    & (verdicts["condition"] == cond)].set_index("dataset")["verdict"]
    out = pd.DataFrame({("", "dataset"): list(shown.index)})
    for model, what in shown.columns:
        out[(model, "Δ" if what == "difference" else what)] = shown[(model, what)].to_numpy()
    out[("", "verdict")] = [mine.get(d, float("nan")) for d in DATASETS]
    out.columns = pd.MultiIndex.from_tuples(out.columns)
    return out


def shown_table(frame):
    """:func:`thesis_table` as the book shows it (:func:`metanmf_lab.book.display.table`), "mean ±
    s.d." on one line (a row per dataset stays one line high)."""

    styled = display.table(frame)
    ours = [c for c in styled.data.columns if c[1] == "ours"]
    return styled.set_properties(subset=ours, **{"white-space": "nowrap"})


def verdict_source(verdicts, family, protocol):
    """Where the chapter's verdicts come from, in one sentence: the book's (one Holm family
    of ``family`` comparisons with the fair baselines) under the thesis protocol, this run's
    alone otherwise."""
    seeds = seeds_sentence(verdicts)
    if protocol == "thesis":
        return Prose(f"The verdicts are the book's: {seeds}, their p-values adjusted in one Holm "
                     f"family of {family} comparisons that also holds the fair baselines.")
    return Prose(f"Under the authors' code (protocol \"{protocol}\") the book has no fair "
                 f"baselines, so these verdicts are of this run only: {seeds}, in a Holm family "
                 f"of this chapter's {family} comparisons. They are not the book's verdicts, "
                 "which are measured under the thesis protocol.")


@dataclass
class TablesChapter:
    """What the tables chapter shows (:func:`values`)."""

    n_cells: int
    n_seeds: int
    n_entries: int
    thesis_status: str
    table_4_3: object
    table_4_4: object
    table_4_5: object
    table_4_6: object
    table_4_7: object
    table_4_8: object
    table_4_9: object
    table_4_10: object
    verdict_source: Prose
    n_comparisons: int
    n_better: int
    n_worse: int
    n_no_difference: int
    n_undecided: int
    n_claims: int
    n_claims_holds: int
    n_claims_contradicted: int
    n_claims_not_reproduced: int
    n_claims_undecided: int
    table_claims: object
    threshold: float
    n_beyond: int
    n_compared: int
    baseline_iter: int
    equal_iter: int
    fig_meta_none: object
    fig_meta_added: object
    _verdicts: pd.DataFrame = None
    _claims: pd.DataFrame = None


def values(params):
    """Everything the tables chapter shows, for its checked parameters ``params``."""

    datasets = params.datasets or list(params.profile_.datasets)
    cells = make_grid(datasets, models=MODELS, ranks=params.ranks, seeds=params.seeds,
                      protocols=[params.protocol])
    rows = reporting.select(run_grid(cells, params.settings, store=params.store,
                                     n_jobs=params.n_jobs, progress=params.profile == "full"),
                            params.settings, params.protocol)
    thesis = reporting.thesis_tables()
    sbs = reporting.side_by_side(reporting.mean_over_ranks(rows), thesis)
    sbs = sbs[sbs["dataset"].isin(datasets)]
    if params.protocol == "thesis":
        _, every = clustering_verdicts(params)
    else:
        every = compare_rows(rows)
    verdicts = every[every["kind"] == "thesis baseline"].reset_index(drop=True)
    claims = stats.claims(verdicts, thesis)
    cc = claim_counts(claims)
    real = [d for d in ("coil20", "digits", "faces", "fmnist") if d in datasets]
    summary = reporting.nmi_by_rank(rows)
    return TablesChapter(
        n_cells=len(rows), n_seeds=int(rows["seed"].nunique()), n_entries=len(sbs),
        thesis_status=published.where("thesis_nmi_tables"),
        **{f"table_{t.replace('.', '_')}": shown_table(thesis_table(sbs, t, verdicts))
           for t in TABLES},
        verdict_source=verdict_source(verdicts, len(every), params.protocol),
        n_comparisons=len(verdicts), n_better=count(verdicts, "better"),
        n_worse=count(verdicts, "worse"), n_no_difference=count(verdicts, "no difference"),
        n_undecided=count(verdicts, "undecided"),
        n_claims=len(claims), n_claims_holds=cc["holds"],
        n_claims_contradicted=cc["contradicted"], n_claims_not_reproduced=cc["not reproduced"],
        n_claims_undecided=cc["undecided"],
        table_claims=display.table(claims_by_pair(claims)),
        threshold=reporting.DIFFERENCE_THRESHOLD, n_beyond=int(sbs["beyond"].sum()),
        n_compared=int(sbs[["thesis", "ours"]].notna().all(axis=1).sum()),
        baseline_iter=params.settings.baseline_iter,
        equal_iter=equal_compute_iterations(params.settings, params.protocol, 1000, 1000, 10),
        fig_meta_none=plotting.meta_models_by_dataset(summary, real, "none"),
        fig_meta_added=plotting.meta_models_by_dataset(summary, real, "added"),
        _verdicts=verdicts, _claims=claims)
