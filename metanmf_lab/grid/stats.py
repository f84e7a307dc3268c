"""Paired comparisons over replications: mean differences with intervals, t tests, Holm.

A comparison sets a model against a reference model (e.g. Meta-NMF against NMF) on one
dataset and noise condition. Both are evaluated on the same cells (rank, seed): the same
evaluation half, the same k-means seed. So the comparison is *paired*:

* the **replication** is a seed (everything random in a run is drawn from it) on a split (the
  learning/evaluation split, the noise draw and the Fashion-MNIST subset). Ranks are not
  replications: the ranks of one seed share all its randomness;
* the **difference** of a seed is the model's NMI minus the reference's, averaged over the
  ranks (the thesis' table statistic, per seed); its mean over seeds is the reported effect;
* its **standard error** adds the split-to-split variance (:func:`split_variance`, measured
  on extra splits) to the seeds' variance over their number, and the **test** is Student's
  t on it (:func:`compare`), so that interval and test speak of another split as well;
* the p-values of a family of comparisons (e.g. all cells of a table) are adjusted with
  Holm's step-down method, which controls the family-wise error rate; a verdict is "better"
  or "worse" when the adjusted p-value is below alpha.

:func:`compare_over_pairs` is the former rule (Wilcoxon over rank x seed pairs), kept to
count what the change of unit changes.

Reporting takes store rows (:func:`metanmf_lab.grid.reporting.select`), never models.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats as _st

from .._validation import check_real

#: Family-wise error rate of the verdicts.
ALPHA = 0.05

#: Verdicts of :func:`compare`, from the model's side.
VERDICTS = ("better", "worse", "no difference", "undecided")


def mean_interval(values, level=0.95):
    """Mean of ``values`` and its Student-t confidence interval ``(mean, low, high)``.

    With fewer than two values, or all values equal, the interval is the mean itself
    (zero width) for equal values and ``nan`` for a single value.
    """
    level = check_real(level, name="level", low=0, low_inclusive=False)
    if level >= 1:
        raise ValueError(f"level must be < 1, got {level}.")
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return np.nan, np.nan, np.nan
    m = float(v.mean())
    if v.size < 2:
        return m, np.nan, np.nan
    se = float(v.std(ddof=1)) / np.sqrt(v.size)
    if se == 0:
        return m, m, m
    half = float(_st.t.ppf(0.5 + level / 2, df=v.size - 1)) * se
    return m, m - half, m + half


def signed_rank_p(differences):
    """Two-sided p-value of Wilcoxon's signed-rank test of ``differences`` against 0.

    Zero differences are dropped (Wilcoxon's convention); when every difference is zero the
    p-value is 1 (no evidence of any difference); with no finite difference it is ``nan``.
    """
    d = np.asarray(differences, dtype=float)
    d = d[np.isfinite(d)]
    if d.size == 0:
        return np.nan
    if not np.any(d != 0):
        return 1.0
    return float(_st.wilcoxon(d, zero_method="wilcox", alternative="two-sided").pvalue)


def signed_rank_direction(differences):
    """The side Wilcoxon's signed-rank statistic leans to: +1 when the ranks of ``|d|`` of the
    positive differences outweigh those of the negative ones, -1 in the mirror case, 0 when
    they balance or no finite difference is non-zero (zeros dropped, ties given mean ranks,
    as in :func:`signed_rank_p`)."""
    d = np.asarray(differences, dtype=float)
    d = d[np.isfinite(d) & (d != 0)]
    if d.size == 0:
        return 0
    r = _st.rankdata(np.abs(d))
    return int(np.sign(r[d > 0].sum() - r[d < 0].sum()))


def significant_sign(p_holm, difference, direction, alpha=ALPHA):
    """+1 or -1 when a comparison is significant (``p_holm < alpha``) and its mean
    ``difference`` and its signed-rank ``direction`` (:func:`signed_rank_direction`) have that
    same sign; else 0: not significant, or the mean and most pairs point opposite ways."""
    if not (np.isfinite(p_holm) and p_holm < alpha):
        return 0
    s = int(np.sign(difference)) if np.isfinite(difference) else 0
    return s if s != 0 and s == int(direction) else 0


def holm(pvalues):
    """Holm's step-down adjustment of a family of p-values (``nan`` entries are left out).

    The i-th smallest of the m p-values is multiplied by (m - i + 1), the running maximum is
    taken so the order is kept, and the result is capped at 1.
    """
    p = np.asarray(pvalues, dtype=float)
    out = np.full(p.shape, np.nan)
    ok = np.flatnonzero(np.isfinite(p))
    if ok.size == 0:
        return out
    if np.any((p[ok] < 0) | (p[ok] > 1)):
        raise ValueError("p-values must lie in [0, 1].")
    order = ok[np.argsort(p[ok], kind="stable")]
    m = order.size
    adjusted = np.maximum.accumulate(p[order] * (m - np.arange(m)))
    out[order] = np.minimum(adjusted, 1.0)
    return out


def paired_differences(rows, reference, model, by=("dataset", "condition"), value="nmi"):
    """Per (``by``..., rank, seed): the reference's ``value``, the model's and their
    difference.

    Only cells present for both models are kept (a pair needs both halves).
    """
    keys = list(by) + ["rank", "seed"]
    a = rows[rows["model"] == reference].set_index(keys)[value].rename("reference")
    b = rows[rows["model"] == model].set_index(keys)[value].rename("model")
    both = pd.concat([a, b], axis=1, join="inner").reset_index()
    both["difference"] = both["model"] - both["reference"]
    return both


def seed_differences(rows, reference, model, by=("dataset", "condition"), value="nmi"):
    """Per (``by``..., seed): the model's ``value`` minus the reference's, averaged over the
    ranks both have (the thesis' table statistic, per seed): one number per replication."""
    d = paired_differences(rows, reference, model, by, value)
    return d.groupby(list(by) + ["seed"])["difference"].mean()


def split_variance(rows, pairs, by=("dataset", "condition"), value="nmi"):
    """The split-to-split variance of each comparison: ``rows`` hold one seed per
    ``replication`` (a column: the learning/evaluation split, noise draw and Fashion-MNIST
    subset), and each replication's difference is the mean over its ranks; the variance is
    taken over replications (ddof = 1). Returns one row per (``by``..., reference, model) with
    ``split_var``, ``n_splits`` and ``split_mean`` (the mean over replications)."""
    out = []
    for reference, model in pairs:
        d = paired_differences(rows, reference, model, list(by) + ["replication"], value)
        per = d.groupby(list(by) + ["replication"])["difference"].mean()
        for key, g in per.groupby(level=list(range(len(by)))):
            key = key if isinstance(key, tuple) else (key,)
            v = g.to_numpy()
            out.append(dict(zip(by, key), reference=reference, model=model,
                            split_var=float(v.var(ddof=1)) if v.size > 1 else np.nan,
                            n_splits=int(v.size), split_mean=float(v.mean())))
    return pd.DataFrame(out, columns=list(by) + ["reference", "model", "split_var",
                                                 "n_splits", "split_mean"])


def compare(rows, pairs, by=("dataset", "condition"), level=0.95, alpha=ALPHA,
            family=None, value="nmi", negligible=0.01, splits=None):
    """Paired comparisons of each ``(reference, model)`` in ``pairs``, per ``by`` group, over
    independent replications.

    The replication is the seed: everything random in a run (initialisation, meta-tasks,
    k-means) is drawn from it. A seed's difference is the model's ``value`` minus the
    reference's, averaged over the ranks (ranks of one seed share its randomness, so they are
    not replications). The effect is the mean over seeds; its variance is the seeds' variance
    over their number **plus**, with ``splits``, the split-to-split variance of the
    comparison (the variance over learning/evaluation splits, noise draws and Fashion-MNIST
    subsets of a one-seed replication: :func:`split_variance`), so that the interval and the
    test speak of the effect on another split too. The test is Student's t on that standard
    error, with the seeds' degrees of freedom, or the splits' (``n_splits - 1``) when the split
    term is included (Welch-Satterthwaite would give more; we take the smaller, conservative).

    Parameters
    ----------
    rows : DataFrame of store rows (with a ``condition`` column, see ``reporting.select``)
    pairs : sequence of (reference, model) names
    by : grouping columns; each group x pair is one comparison
    level : confidence level of the interval
    alpha : family-wise error rate of the verdicts
    family : columns defining a family for Holm's adjustment (default: all comparisons)
    value : the column compared (default: NMI)
    negligible : half-width of the "no difference" band
    splits : DataFrame of :func:`split_variance` (``by`` columns, reference, model,
        ``split_var``, ``n_splits``) or None. Comparisons it has no row for are taken with no
        split term; callers that want one for them pass a row (e.g. a borrowed variance).

    Returns
    -------
    DataFrame, one row per comparison: the ``by`` columns, ``reference``, ``model``,
    ``n_seeds``, ``n_pairs`` (rank x seed cells), ``reference_nmi`` and ``model_nmi`` (means
    over ranks and seeds), ``difference`` with ``low``/``high`` (the interval), ``se``,
    ``df``, ``split_var`` (0 without a split term), ``p`` (t test), ``direction`` (the sign of
    the difference), ``p_holm`` and ``verdict``: "better"/"worse" when ``p_holm < alpha``,
    "no difference" when not significant and the interval lies within +-``negligible``, else
    "undecided".
    """
    split_of = {}
    if splits is not None and len(splits):
        for r in splits.itertuples(index=False):
            k = tuple(getattr(r, c) for c in by) + (r.reference, r.model)
            split_of[k] = (float(r.split_var), int(r.n_splits))
    out = []
    for reference, model in pairs:
        d = paired_differences(rows, reference, model, by, value)
        for key, g in d.groupby(list(by), sort=True):
            key = key if isinstance(key, tuple) else (key,)
            per_seed = g.groupby("seed")["difference"].mean().to_numpy()
            n = per_seed.size
            mean = float(per_seed.mean()) if n else np.nan
            var = float(per_seed.var(ddof=1)) / n if n > 1 else np.nan
            df = n - 1
            sv, n_splits = split_of.get(key + (reference, model), (np.nan, 0))
            if np.isfinite(sv) and n_splits > 1:
                # one seed alone has no seed variance; the split term holds a seed's anyway
                var = (var if np.isfinite(var) else 0.0) + sv
                df = min(df, n_splits - 1) if df > 0 else n_splits - 1
            else:
                sv = 0.0
            se = float(np.sqrt(var)) if np.isfinite(var) else np.nan
            p, low, high = _t_test(mean, se, df, level)
            out.append(dict(zip(by, key), reference=reference, model=model, n_seeds=int(n),
                            n_pairs=len(g), reference_nmi=float(g["reference"].mean()),
                            model_nmi=float(g["model"].mean()), difference=mean, low=low,
                            high=high, se=se, df=int(df), split_var=sv, p=p,
                            direction=int(np.sign(mean)) if np.isfinite(mean) else 0))
    res = pd.DataFrame(out, columns=list(by) + [
        "reference", "model", "n_seeds", "n_pairs", "reference_nmi", "model_nmi",
        "difference", "low", "high", "se", "df", "split_var", "p", "direction"])
    return _adjust(res, family, alpha, negligible)


def _t_test(mean, se, df, level):
    """Two-sided p-value of ``mean / se`` on Student's t with ``df`` degrees of freedom, and
    the ``level`` interval. A zero standard error: p = 1 for a zero mean, 0 otherwise."""
    if not (np.isfinite(mean) and np.isfinite(se)) or df < 1:
        return np.nan, np.nan, np.nan
    if se == 0:
        return (1.0 if mean == 0 else 0.0), mean, mean
    half = float(_st.t.ppf(0.5 + level / 2, df)) * se
    return float(2 * _st.t.sf(abs(mean) / se, df)), mean - half, mean + half


def _adjust(res, family, alpha, negligible):
    if family:
        res["p_holm"] = np.nan
        for _, idx in res.groupby(list(family)).groups.items():
            res.loc[idx, "p_holm"] = holm(res.loc[idx, "p"].to_numpy())
    else:
        res["p_holm"] = holm(res["p"].to_numpy())
    res["verdict"] = [_verdict(r, alpha, negligible) for r in res.itertuples()]
    return res


def compare_over_pairs(rows, pairs, by=("dataset", "condition"), level=0.95, alpha=ALPHA,
                       family=None, value="nmi", negligible=0.01):
    """The book's former rule, kept to count the verdicts the current rule (:func:`compare`)
    changes: Wilcoxon's signed-rank test over the (rank, seed) *pairs*, as if ranks were
    independent replications (they are not: every rank of a seed shares its split, noise and
    k-means seed), and the t interval over seeds without the split-to-split variance.

    Parameters
    ----------
    rows : DataFrame of store rows (with a ``condition`` column, see ``reporting.select``)
    pairs : sequence of (reference, model) names
    by : grouping columns; each group x pair is one comparison
    level : confidence level of the interval over seeds
    alpha : family-wise error rate of the verdicts
    family : columns defining a family for Holm's adjustment (default: all comparisons)
    value : the column compared (default: NMI)
    negligible : half-width of the "no difference" band

    Returns
    -------
    DataFrame, one row per comparison: the ``by`` columns, ``reference``, ``model``,
    ``n_seeds``, ``n_pairs`` (rank x seed pairs), ``reference_nmi`` and ``model_nmi`` (means
    over ranks and seeds), ``difference`` with ``low``/``high`` (the interval over seeds),
    ``p`` (Wilcoxon), ``direction`` (the side the signed-rank statistic leans to), ``p_holm``
    and ``verdict``: "better"/"worse" when ``p_holm < alpha`` and the mean difference has the
    sign of ``direction`` (:func:`significant_sign`), "no difference" when not significant and
    the interval lies within +-``negligible``, else "undecided".
    """
    out = []
    for reference, model in pairs:
        d = paired_differences(rows, reference, model, by, value)
        for key, g in d.groupby(list(by), sort=True):
            key = key if isinstance(key, tuple) else (key,)
            per_seed = g.groupby("seed")["difference"].mean()
            mean, low, high = mean_interval(per_seed.to_numpy(), level)
            out.append(dict(zip(by, key), reference=reference, model=model,
                            n_seeds=int(per_seed.size), n_pairs=len(g),
                            reference_nmi=float(g["reference"].mean()),
                            model_nmi=float(g["model"].mean()), difference=mean, low=low,
                            high=high, p=signed_rank_p(g["difference"].to_numpy()),
                            direction=signed_rank_direction(g["difference"].to_numpy())))
    res = pd.DataFrame(out, columns=list(by) + [
        "reference", "model", "n_seeds", "n_pairs", "reference_nmi", "model_nmi",
        "difference", "low", "high", "p", "direction"])
    return _adjust(res, family, alpha, negligible)


def _verdict(r, alpha, negligible=0.01):
    sign = significant_sign(r.p_holm, r.difference, r.direction, alpha)
    if sign:
        return "better" if sign > 0 else "worse"
    if np.isfinite(r.p_holm) and r.p_holm < alpha:
        return "undecided"  # significant, but the mean and most pairs point opposite ways
    if np.isfinite(r.low) and -negligible <= r.low and r.high <= negligible:
        return "no difference"
    return "undecided"


def claims(comparison, thesis, alpha=ALPHA):
    """Does each thesis claim hold? One row per comparison with a thesis counterpart.

    ``thesis`` is :func:`metanmf_lab.grid.reporting.thesis_tables`. The thesis' claim for a
    (dataset, condition, pair) is the sign of its own difference (model minus reference).
    ``status`` is "holds" (our difference is significant in the same direction, with the mean
    and the signed-rank test agreeing, see :func:`significant_sign`),
    "contradicted" (significant in the opposite direction), "not reproduced" (not
    significant, and our interval excludes the thesis' difference) or "undecided". Where the
    thesis reports equal values (its Meta-NMF NNDSVD columns), the claim is "no difference":
    it holds when our verdict is "no difference" and is contradicted by any significant
    difference.
    """
    t = thesis.rename(columns={"noise": "condition"}).set_index(
        ["dataset", "condition", "model"])["thesis_nmi"]
    rows = []
    for r in comparison.itertuples():
        try:
            tm, tr = t[(r.dataset, r.condition, r.model)], t[(r.dataset, r.condition,
                                                              r.reference)]
        except KeyError:
            continue
        td = float(tm - tr)
        significant = significant_sign(r.p_holm, r.difference, r.direction, alpha) != 0
        if td == 0:  # the thesis reports equal values: its claim is "no difference"
            status = "contradicted" if significant else (
                "holds" if r.verdict == "no difference" else "undecided")
        elif significant and np.sign(r.difference) == np.sign(td):
            status = "holds"
        elif significant:
            status = "contradicted"
        elif np.isfinite(r.low) and not (r.low <= td <= r.high):
            status = "not reproduced"
        else:
            status = "undecided"
        rows.append(dict(dataset=r.dataset, condition=r.condition, reference=r.reference,
                         model=r.model, thesis_difference=td, our_difference=r.difference,
                         low=r.low, high=r.high, p_holm=r.p_holm, status=status))
    return pd.DataFrame(rows)


def noise_robustness(rows, pairs, low, high, level=0.95, alpha=ALPHA):
    """Does a model lose less NMI than its reference when the noise grows from ``low`` to
    ``high``? Per dataset and pair.

    The *drop* of a model in a (rank, seed) cell is its NMI at noise ``low`` minus its NMI at
    ``high``; the comparison is that of the drops, reference minus model (positive: the model
    is more robust), with :func:`compare`'s interval over seeds, Wilcoxon test, Holm
    adjustment and verdicts ("better" = more robust).
    """
    r = rows[np.isclose(rows["noise"].astype(float), low)
             | np.isclose(rows["noise"].astype(float), high)].copy()
    r["level"] = np.where(np.isclose(r["noise"].astype(float), low), "low", "high")
    wide = r.pivot_table(index=["dataset", "model", "rank", "seed"], columns="level",
                         values="nmi").dropna()
    # the negated drop, so that "model minus reference" is reference drop minus model drop
    drops = (wide["high"] - wide["low"]).rename("nmi").reset_index()
    drops["condition"] = f"{low:g} -> {high:g}"
    out = compare(drops, pairs, level=level, alpha=alpha)
    means = drops.groupby(["dataset", "model"])["nmi"].mean()
    out["reference_drop"] = [-means.get((d, m), np.nan) for d, m in
                             zip(out["dataset"], out["reference"])]
    out["model_drop"] = [-means.get((d, m), np.nan) for d, m in zip(out["dataset"],
                                                                   out["model"])]
    return out.drop(columns=["reference_nmi", "model_nmi"])


def spread_comparison(rows, pairs, by=("dataset", "condition"), alpha=ALPHA):
    """Is a model's NMI less spread over seeds than its reference's? Per ``by`` group and pair.

    Each seed's NMI is first averaged over the ranks (the thesis' table statistic, per seed);
    the two sets of per-seed values are compared with the Brown-Forsythe test (Levene's test
    centred on the median, robust to non-normal values), and the p-values are adjusted with
    Holm's method over all comparisons. Only seeds both models have are used.

    Returns
    -------
    DataFrame, one row per comparison: the ``by`` columns, ``reference``, ``model``,
    ``n_seeds``, ``reference_sd`` and ``model_sd`` (s.d. over seeds), ``ratio`` (model /
    reference), ``p``, ``p_holm`` and ``verdict``: "less spread"/"more spread" when
    ``p_holm < alpha``, else "undecided".
    """
    out = []
    for reference, model in pairs:
        d = paired_differences(rows, reference, model, by)
        for key, g in d.groupby(list(by), sort=True):
            key = key if isinstance(key, tuple) else (key,)
            per_seed = g.groupby("seed")[["reference", "model"]].mean()
            a, b = per_seed["reference"].to_numpy(), per_seed["model"].to_numpy()
            sa = float(a.std(ddof=1)) if a.size > 1 else np.nan
            sb = float(b.std(ddof=1)) if b.size > 1 else np.nan
            za, zb = np.abs(a - np.median(a)), np.abs(b - np.median(b))
            if a.size < 2 or (np.ptp(a) == 0 and np.ptp(b) == 0):
                p = np.nan if a.size < 2 else 1.0
            elif np.ptp(za) == 0 and np.ptp(zb) == 0:
                # constant absolute deviations within both groups (e.g. two seeds each): the
                # statistic divides by zero and would read as certainty; there is no test
                p = np.nan
            else:
                p = float(_st.levene(a, b, center="median").pvalue)
            out.append(dict(zip(by, key), reference=reference, model=model,
                            n_seeds=int(a.size), reference_sd=sa, model_sd=sb,
                            ratio=sb / sa if sa > 0 else np.nan, p=p))
    res = pd.DataFrame(out, columns=list(by) + ["reference", "model", "n_seeds",
                                                "reference_sd", "model_sd", "ratio", "p"])
    res["p_holm"] = holm(res["p"].to_numpy())
    res["verdict"] = [
        ("less spread" if r.model_sd < r.reference_sd else "more spread")
        if np.isfinite(r.p_holm) and r.p_holm < alpha else "undecided"
        for r in res.itertuples()]
    return res
