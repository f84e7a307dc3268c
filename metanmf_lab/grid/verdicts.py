"""The computation behind the book's one verdict per comparison: the store rows every clustering
verdict rests on, the split-to-split variance and the comparisons (:func:`compare_rows`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from . import stats
from .catalogue import FAIR_BASELINES, FAIR_MODELS, HEADLINE_PAIRS, MODELS, PAIRS, reference_kind
from .cells import CONDITIONS, make_grid
from .replication import headline_cells, split_settings, strongest_fair
from .reporting import select
from .runner import run_grid


def clustering_rows(settings, store, datasets, ranks, seeds, pair_seeds, fair_datasets=None,
                    pair_datasets=None, protocol="thesis", n_jobs=1, progress=False):
    """The store rows every clustering verdict rests on: the eight models of the thesis on
    ``datasets`` x ``ranks`` x ``seeds`` (without and with each dataset's default noise), the
    eight fair baselines on those of ``fair_datasets`` (default: all), and the two headline
    pairs and their fair baselines on ``pair_seeds`` too, on those of ``pair_datasets``
    (default: all). Cells missing from ``store`` are computed."""

    heads = [m for pair in HEADLINE_PAIRS for m in pair]
    fair_on = [d for d in datasets if fair_datasets is None or d in fair_datasets]
    pairs_on = [d for d in datasets if pair_datasets is None or d in pair_datasets]
    cells = (make_grid(datasets, MODELS, ranks, seeds, protocols=[protocol])
             + make_grid(fair_on, FAIR_MODELS, ranks, seeds, protocols=[protocol])
             + make_grid(pairs_on, heads, ranks, pair_seeds, protocols=[protocol]))
    got = run_grid(cells, settings, store=store, n_jobs=n_jobs, progress=progress)
    return select(got, settings, protocol)


def replication_rows(settings, store, rows, replications, ranks, datasets=None,
                     protocol="thesis", n_jobs=1, progress=False):
    """The rows that measure the split-to-split variance: the two headline pairs and the
    strongest fair baseline of each headline Meta model
    (:func:`metanmf_lab.grid.replication.strongest_fair` of ``rows``, the thesis grid's) with seed
    0, at ``ranks[dataset]``, on the thesis grid's split (replication 0) and on each of
    ``replications`` (:func:`metanmf_lab.grid.replication.split_settings`), with a
    ``replication`` column. Cells missing from ``store`` are computed."""


    fair = strongest_fair(rows)
    datasets = sorted(set(rows["dataset"])) if datasets is None else datasets
    datasets = [d for d in datasets if d in ranks]
    out = []
    for r in (0,) + tuple(replications):
        s = split_settings(r, settings)
        cells = headline_cells(fair, datasets, tuple(CONDITIONS), ranks, (0,), protocol)
        got = run_grid(cells, s, store=store, n_jobs=n_jobs, progress=progress)
        out.append(select(got, s, protocol).assign(replication=r))
    return pd.concat(out, ignore_index=True)


def split_table(split_rows, comparisons):
    """The split-to-split variance of every comparison in ``comparisons`` (a frame with
    dataset, condition, reference, model): measured (:func:`metanmf_lab.grid.stats.split_variance`
    of ``split_rows``) where both models were replicated, else *borrowed*: the largest
    measured variance on the same dataset and condition (conservative). Column
    ``split_source``: "measured" or "borrowed"."""


    models = set(split_rows["model"])
    pairs = [(r, m) for r, m in sorted(set(zip(comparisons["reference"],
                                                 comparisons["model"])))
             if r in models and m in models]
    measured = stats.split_variance(split_rows, pairs)
    measured = measured[measured["n_splits"] > 1].assign(split_source="measured")
    key = ["dataset", "condition", "reference", "model"]
    have = set(map(tuple, measured[key].to_numpy()))
    worst = measured.groupby(["dataset", "condition"]).agg(
        split_var=("split_var", "max"), n_splits=("n_splits", "min"))
    borrowed = []
    for r in comparisons[key].drop_duplicates().itertuples(index=False):
        if tuple(r) in have or (r.dataset, r.condition) not in worst.index:
            continue
        w = worst.loc[(r.dataset, r.condition)]
        borrowed.append(dict(zip(key, r), split_var=float(w["split_var"]),
                             n_splits=int(w["n_splits"]), split_mean=np.nan,
                             split_source="borrowed"))
    return pd.concat([measured, pd.DataFrame(borrowed, columns=measured.columns)],
                     ignore_index=True)


def _pairs():

    return [(ref, meta) for base, meta in PAIRS for ref in (base,) + FAIR_BASELINES[meta]]


def compare_rows(rows, split_rows=None):
    """The verdicts of ``rows`` (:func:`clustering_rows`): every Meta model against its thesis
    baseline and its three fair baselines, per dataset and condition, one Holm family
    (:func:`metanmf_lab.grid.stats.compare`), with a ``kind`` column
    (:data:`metanmf_lab.grid.catalogue.REFERENCE_KINDS`). With ``split_rows``
    (:func:`replication_rows`), every standard error includes the split-to-split variance
    (:func:`split_table`; column ``split_source``)."""

    pairs = _pairs()
    splits = None
    if split_rows is not None and len(split_rows):
        bare = stats.compare(rows, pairs)
        splits = split_table(split_rows, bare)
    out = stats.compare(rows, pairs, splits=splits)
    out["kind"] = [reference_kind(r, m) for r, m in zip(out["reference"], out["model"])]
    if splits is not None:
        src = splits.set_index(["dataset", "condition", "reference", "model"])["split_source"]
        out["split_source"] = [src.get(tuple(k), "none") for k in out[
            ["dataset", "condition", "reference", "model"]].to_numpy()]
    else:
        out["split_source"] = "none"
    return out


def former_verdicts(rows):
    """The verdicts under the book's former rule
    (:func:`metanmf_lab.grid.stats.compare_over_pairs`:
    Wilcoxon over rank x seed pairs, no split term), to count what the rule changes."""

    out = stats.compare_over_pairs(rows, _pairs())
    out["kind"] = [reference_kind(r, m) for r, m in zip(out["reference"], out["model"])]
    return out


def verdict_changes(former, current):
    """How the verdicts moved from the former rule to the current one: a table of counts
    (former verdict x current verdict) and the number that changed."""

    key = ["dataset", "condition", "reference", "model"]
    both = former[key + ["verdict"]].merge(current[key + ["verdict"]], on=key,
                                           suffixes=("_former", "_now"))
    table = pd.crosstab(both["verdict_former"], both["verdict_now"])
    table.index.name, table.columns.name = "former rule ↓, current rule →", None
    return table, int((both["verdict_former"] != both["verdict_now"]).sum())
