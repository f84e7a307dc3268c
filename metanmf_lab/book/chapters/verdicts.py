"""The book's one verdict per comparison.

Every chapter that says whether a Meta model is better than another model on a dataset and
condition reads it from :func:`clustering_verdicts`: one set of store rows, one set of seeds,
one Holm family. :func:`rule` states the rule; the hypotheses chapter prints it once and every
other chapter links there.
"""

from __future__ import annotations

import pandas as pd

from ...grid.catalogue import HEADLINE_PAIRS
from ...grid.stats import ALPHA
from ...grid.verdicts import clustering_rows, compare_rows, replication_rows
from . import Prose


def rule(verdicts, alpha=None, negligible=0.01, level=0.95):
    """How the book decides, in one paragraph (Markdown), with the numbers of ``verdicts``
    (:func:`compare_rows`): the hypotheses chapter states it once, the others link there."""

    alpha = ALPHA if alpha is None else alpha
    heads = {m for pair in HEADLINE_PAIRS for m in pair}
    seeds_head = sorted(verdicts.loc[verdicts["model"].isin(heads), "n_seeds"].unique())
    seeds_other = sorted(verdicts.loc[~verdicts["model"].isin(heads), "n_seeds"].unique())
    measured = verdicts.get("split_source", pd.Series(dtype=str)) == "measured"
    n_measured = int(measured.sum())
    n_splits = sorted({int(d) + 1 for d in verdicts.loc[measured, "df"]}) if n_measured \
        else []

    def listing(values):
        return " or ".join(str(int(v)) for v in values) or "no"

    if n_measured:
        split_text = (
            "The standard error of the mean adds to the seeds' variance over their number the "
            "**split-to-split variance** of the comparison: the variance, over "
            f"{listing(n_splits)} learning/evaluation splits (each with its own noise draw and "
            "Fashion-MNIST subset), of a one-seed difference ({ref}`robustness`). It is "
            f"measured for the {n_measured} comparisons the splits replicate (the headline "
            "pairs and their strongest fair baselines) and borrowed for the others: the "
            "largest measured on the same dataset and condition. The test is Student's *t* on "
            "that standard error with the splits' degrees of freedom (one fewer than their "
            f"number), and the interval the {level:.0%} *t* interval, so both speak of the "
            "effect on another split, not only on ours. ")
    else:
        split_text = ("The test is Student's *t* on the per-seed differences and the interval "
                      f"the {level:.0%} *t* interval over seeds. ")
    return Prose(
        "A verdict compares a Meta model with one reference model (its thesis baseline or one "
        "of its three fair baselines) on one dataset and condition. The **replication** is a "
        "seed: everything random in a run (initialisation, meta-tasks, k-means) is drawn from "
        "it. Ranks are not replications (the ranks of one seed share all its randomness): "
        "each seed's difference is the Meta model's NMI minus the reference's, averaged over "
        "the ranks, the thesis' table statistic. " + split_text
        + "The seeds are all those both models have in the result store: "
        f"{listing(seeds_head)} for the two headline Meta models "
        f"({', '.join(meta for _, meta in HEADLINE_PAIRS)}) against their references, "
        f"{listing(seeds_other)} for the other two. The p-values of all {len(verdicts)} "
        "comparisons (every Meta model against each of its four references on every dataset "
        f"and condition) form **one** family for Holm's adjustment at α = {alpha:g}. A "
        "comparison is *better* or *worse* when its adjusted p-value is below α, *no "
        f"difference* when it is not and its interval lies within ±{negligible:g} NMI, and "
        "*undecided* otherwise. Every chapter reads its verdicts from this one computation "
        "(`metanmf_lab.grid.verdicts`); {ref}`robustness` counts what this rule changed "
        "from the book's former one (a signed-rank test over rank × seed pairs).")


def clustering_verdicts(params):
    """The book's verdicts, for a notebook's checked parameters ``params`` (any chapter's:
    parameters it does not declare take their profile's values). Returns
    ``(rows, verdicts)``: the store rows and :func:`compare_rows` of them."""
    profile = params.profile_

    def get(name, default):
        value = params.get(name)
        return list(value) if value else list(default)

    rows = clustering_rows(
        params.settings, params.store,
        datasets=get("datasets", profile.datasets),
        ranks=get("ranks", profile.ranks), seeds=get("seeds", profile.seeds),
        pair_seeds=get("pair_seeds", profile.pair_seeds),
        fair_datasets=get("fair_datasets", profile.fair_datasets),
        pair_datasets=get("pair_datasets", profile.pair_datasets),
        n_jobs=params.get("n_jobs", 1), progress=params.profile == "full")
    split_rows = replication_rows(
        params.settings, params.store, rows, profile.plan.splits, profile.plan.split_ranks,
        n_jobs=params.get("n_jobs", 1), progress=params.profile == "full")
    return rows, compare_rows(rows, split_rows)
