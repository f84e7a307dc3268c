"""The book's one verdict per comparison.

Every chapter that says whether a Meta model is better than another model on a dataset and
condition reads it from :func:`clustering_verdicts`: one set of store rows, one set of seeds,
one Holm family. :func:`rule` states the rule; the hypotheses chapter prints it once and every
other chapter links there.
"""

from __future__ import annotations

import pandas as pd

from . import Prose


def rule(verdicts, alpha=None, negligible=0.01, level=0.95):
    """How the book decides, in one paragraph (Markdown), with the numbers of ``verdicts``
    (:func:`compare_rows`): the hypotheses chapter states it once, the others link there."""
    from ..experiments import HEADLINE_PAIRS
    from ..stats import ALPHA

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
        "(`metanmf_lab.chapters.verdicts`); {ref}`robustness` counts what this rule changed "
        "from the book's former one (a signed-rank test over rank × seed pairs).")


def clustering_rows(settings, store, datasets, ranks, seeds, pair_seeds, fair_datasets=None,
                    pair_datasets=None, protocol="thesis", n_jobs=1, progress=False):
    """The store rows every clustering verdict rests on: the eight models of the thesis on
    ``datasets`` x ``ranks`` x ``seeds`` (without and with each dataset's default noise), the
    eight fair baselines on those of ``fair_datasets`` (default: all), and the two headline
    pairs and their fair baselines on ``pair_seeds`` too, on those of ``pair_datasets``
    (default: all). Cells missing from ``store`` are computed."""
    from ..experiments import FAIR_MODELS, HEADLINE_PAIRS, MODELS, make_grid, run_grid
    from ..reporting import select

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
    (:func:`metanmf_lab.replication.strongest_fair` of ``rows``, the thesis grid's) with seed
    0, at ``ranks[dataset]``, on the thesis grid's split (replication 0) and on each of
    ``replications`` (:func:`metanmf_lab.replication.split_settings`), with a
    ``replication`` column. Cells missing from ``store`` are computed."""
    import pandas as pd

    from ..experiments import run_grid
    from ..replication import headline_cells, split_settings, strongest_fair
    from ..reporting import select

    fair = strongest_fair(rows)
    datasets = sorted(set(rows["dataset"])) if datasets is None else datasets
    datasets = [d for d in datasets if d in ranks]
    out = []
    for r in (0,) + tuple(replications):
        s = split_settings(r, settings)
        cells = headline_cells(fair, datasets, ("none", "default"), ranks, (0,), protocol)
        got = run_grid(cells, s, store=store, n_jobs=n_jobs, progress=progress)
        out.append(select(got, s, protocol).assign(replication=r))
    return pd.concat(out, ignore_index=True)


def split_table(split_rows, comparisons):
    """The split-to-split variance of every comparison in ``comparisons`` (a frame with
    dataset, condition, reference, model): measured (:func:`metanmf_lab.stats.split_variance`
    of ``split_rows``) where both models were replicated, else *borrowed*: the largest
    measured variance on the same dataset and condition (conservative). Column
    ``split_source``: "measured" or "borrowed"."""
    import numpy as np
    import pandas as pd

    from .. import stats

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
    from ..experiments import FAIR_BASELINES, PAIRS

    return [(ref, meta) for base, meta in PAIRS for ref in (base,) + FAIR_BASELINES[meta]]


def compare_rows(rows, split_rows=None):
    """The verdicts of ``rows`` (:func:`clustering_rows`): every Meta model against its thesis
    baseline and its three fair baselines, per dataset and condition, one Holm family
    (:func:`metanmf_lab.stats.compare`), with a ``kind`` column
    (:data:`metanmf_lab.analysis.REFERENCE_KINDS`). With ``split_rows``
    (:func:`replication_rows`), every standard error includes the split-to-split variance
    (:func:`split_table`; column ``split_source``)."""
    from .. import stats
    from ..analysis import reference_kind

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
    """The verdicts under the book's former rule (:func:`metanmf_lab.stats.compare_over_pairs`:
    Wilcoxon over rank x seed pairs, no split term), to count what the rule changes."""
    from .. import stats
    from ..analysis import reference_kind

    out = stats.compare_over_pairs(rows, _pairs())
    out["kind"] = [reference_kind(r, m) for r, m in zip(out["reference"], out["model"])]
    return out


def verdict_changes(former, current):
    """How the verdicts moved from the former rule to the current one: a table of counts
    (former verdict x current verdict) and the number that changed."""
    import pandas as pd

    key = ["dataset", "condition", "reference", "model"]
    both = former[key + ["verdict"]].merge(current[key + ["verdict"]], on=key,
                                           suffixes=("_former", "_now"))
    table = pd.crosstab(both["verdict_former"], both["verdict_now"])
    table.index.name, table.columns.name = "former rule ↓, current rule →", None
    return table, int((both["verdict_former"] != both["verdict_now"]).sum())


def clustering_verdicts(params):
    """The book's verdicts, for a notebook's checked parameters ``params`` (any chapter's:
    parameters it does not declare take their profile's values). Returns
    ``(rows, verdicts)``: the store rows and :func:`compare_rows` of them."""
    extra = params.profile_.extra

    def get(name, default):
        value = params.get(name)
        return list(value) if value else list(default)

    rows = clustering_rows(
        params.settings, params.store,
        datasets=get("datasets", params.profile_.datasets),
        ranks=get("ranks", params.profile_.ranks), seeds=get("seeds", params.profile_.seeds),
        pair_seeds=get("pair_seeds", extra["pair_seeds"]),
        fair_datasets=get("fair_datasets", extra["fair_datasets"]),
        pair_datasets=get("pair_datasets", extra["pair_datasets"]),
        n_jobs=params.get("n_jobs", 1), progress=params.profile == "full")
    split_rows = replication_rows(
        params.settings, params.store, rows, extra["plan"].splits, extra["plan"].split_ranks,
        n_jobs=params.get("n_jobs", 1), progress=params.profile == "full")
    return rows, compare_rows(rows, split_rows)
