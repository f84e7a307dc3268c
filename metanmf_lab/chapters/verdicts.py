"""The book's one verdict per comparison.

Every chapter that says whether a Meta model is better than another model on a dataset and
condition reads it from :func:`clustering_verdicts`: one set of store rows, one set of seeds,
one Holm family. :func:`rule` states the rule; the hypotheses chapter prints it once and every
other chapter links there.
"""

from __future__ import annotations

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

    def listing(values):
        return " or ".join(str(int(v)) for v in values) or "no"

    return Prose(
        "A verdict compares a Meta model with one reference model (its thesis baseline or one "
        "of its three fair baselines) on one dataset and condition. The two are paired on the "
        "same rank and seed; the test is Wilcoxon's signed-rank test over these pairs and the "
        f"interval is the {level:.0%} *t* interval over seeds of each seed's mean difference. "
        "The seeds are all those both models have in the result store: "
        f"{listing(seeds_head)} for the two headline Meta models "
        f"({', '.join(meta for _, meta in HEADLINE_PAIRS)}) against their references, "
        f"{listing(seeds_other)} for the other two. The p-values of all {len(verdicts)} "
        "comparisons (every Meta model against each of its four references on every dataset "
        f"and condition) form **one** family for Holm's adjustment at α = {alpha:g}. A "
        "comparison is *better* or *worse* when its adjusted p-value is below α and the mean "
        "difference and the signed ranks point the same way, *no difference* when it is not "
        f"significant and its interval lies within ±{negligible:g} NMI, and *undecided* "
        "otherwise. Every chapter reads its verdicts from this one computation "
        "(`metanmf_lab.chapters.verdicts`).")


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


def compare_rows(rows):
    """The verdicts of ``rows`` (:func:`clustering_rows`): every Meta model against its thesis
    baseline and its three fair baselines, per dataset and condition, one Holm family
    (:func:`metanmf_lab.stats.compare`), with a ``kind`` column
    (:data:`metanmf_lab.analysis.REFERENCE_KINDS`)."""
    from .. import stats
    from ..analysis import reference_kind
    from ..experiments import FAIR_BASELINES, PAIRS

    pairs = [(ref, meta) for base, meta in PAIRS for ref in (base,) + FAIR_BASELINES[meta]]
    out = stats.compare(rows, pairs)
    out["kind"] = [reference_kind(r, m) for r, m in zip(out["reference"], out["model"])]
    return out


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
    return rows, compare_rows(rows)
