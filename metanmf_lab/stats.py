"""Paired comparisons over seeds: mean differences with intervals, signed-rank tests, Holm.

A comparison sets a model against a reference model (e.g. Meta-NMF against NMF) on one
dataset and noise condition. Both are evaluated on the same cells (rank, seed): the same
evaluation half, the same k-means seed. So the comparison is *paired*:

* the **difference** of a seed is the model's NMI minus the reference's, averaged over the
  ranks (the thesis' table statistic, per seed); its mean over seeds is the reported effect
  and the 95% interval is Student's t interval over seeds (seeds are the independent
  replications: everything random in a cell is drawn from its seed);
* the **test** is Wilcoxon's signed-rank test on the (rank, seed) pairs of differences,
  two-sided, which does not assume the differences are normal;
* a **verdict** ("better"/"worse") needs a significant test *and* the test and the mean to
  point the same way: the signed-rank test weighs how many pairs lean each way, the mean how
  far, so a few large differences can pull the mean against most pairs. Where they disagree
  the verdict is "undecided" (:func:`significant_sign`);
* the p-values of a family of comparisons (e.g. all cells of a table) are adjusted with
  Holm's step-down method, which controls the family-wise error rate.

Reporting takes store rows (:func:`metanmf_lab.reporting.select`), never models.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats as _st

from ._validation import check_real

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


def compare(rows, pairs, by=("dataset", "condition"), level=0.95, alpha=ALPHA,
            family=None, value="nmi", negligible=0.01):
    """Paired comparisons of each ``(reference, model)`` in ``pairs``, per ``by`` group.

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
    if family:
        res["p_holm"] = np.nan
        for _, idx in res.groupby(list(family)).groups.items():
            res.loc[idx, "p_holm"] = holm(res.loc[idx, "p"].to_numpy())
    else:
        res["p_holm"] = holm(res["p"].to_numpy())
    res["verdict"] = [_verdict(r, alpha, negligible) for r in res.itertuples()]
    return res


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

    ``thesis`` is :func:`metanmf_lab.reporting.thesis_tables`. The thesis' claim for a
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
