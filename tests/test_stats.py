"""Statistics of paired comparisons, against independent computations."""

import itertools

import numpy as np
import pandas as pd
import pytest
from metanmf_lab.grid.stats import (claims, compare, compare_over_pairs, holm, mean_interval,
                                    significant_sign, signed_rank_direction, signed_rank_p,
                                    split_variance)
from scipy import stats as st


def holm_by_definition(p):
    """Holm adjusted p-values straight from the definition: the adjusted value of the
    k-th smallest is max over j <= k of min(1, (m - j + 1) p_(j))."""
    p = np.asarray(p, float)
    m = len(p)
    order = np.argsort(p, kind="stable")
    adj = np.empty(m)
    for k in range(m):
        adj[order[k]] = max(min(1.0, (m - j) * p[order[j]]) for j in range(k + 1))
    return adj


@pytest.mark.parametrize("seed", range(5))
def test_holm_matches_definition(seed):
    p = np.random.default_rng(seed).uniform(0, 0.2, size=12)
    np.testing.assert_allclose(holm(p), holm_by_definition(p))


def test_holm_small_example_and_nan():
    # m = 3: 0.01*3 = 0.03, 0.02*2 = 0.04, 0.04*1 = 0.04
    np.testing.assert_allclose(holm([0.04, 0.01, 0.02]), [0.04, 0.03, 0.04])
    out = holm([0.5, np.nan, 0.9])
    assert np.isnan(out[1]) and out[0] == 1.0 and out[2] == 1.0
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        holm([1.5])


def test_mean_interval_is_student_t():
    v = np.array([0.1, 0.3, -0.2, 0.05, 0.4])
    m, lo, hi = mean_interval(v)
    ref = st.t.interval(0.95, df=4, loc=v.mean(), scale=st.sem(v))
    assert m == pytest.approx(v.mean())
    assert (lo, hi) == pytest.approx(ref)
    assert mean_interval([0.2, 0.2]) == (0.2, 0.2, 0.2)
    assert np.isnan(mean_interval([0.2])[1])
    with pytest.raises(ValueError, match="level"):
        mean_interval(v, level=1.0)


def test_signed_rank_exact_value():
    # ten positive differences with distinct sizes: exact two-sided p = 2 / 2**10
    assert signed_rank_p(np.arange(1, 11) / 100) == pytest.approx(2 / 2 ** 10)
    assert signed_rank_p(np.zeros(6)) == 1.0
    assert np.isnan(signed_rank_p([np.nan]))


def test_signed_rank_direction_against_the_statistic():
    # scipy's one-sided tests lean the same way as the direction: the side with the
    # larger rank sum has the smaller one-sided p-value
    rng = np.random.default_rng(3)
    for _ in range(20):
        d = rng.standard_normal(15) + rng.uniform(-1, 1)
        greater = st.wilcoxon(d, alternative="greater").pvalue
        less = st.wilcoxon(d, alternative="less").pvalue
        assert signed_rank_direction(d) == (1 if greater < less else -1)
    assert signed_rank_direction([0.0, 0.0]) == 0
    assert signed_rank_direction([1.0, -1.0]) == 0  # equal ranks balance
    assert signed_rank_direction([np.nan, 0.0, -2.0]) == -1


def test_a_few_large_differences_against_most_pairs_give_no_verdict():
    # 45 pairs slightly up, 5 far down: the five have the largest ranks, yet the 45 small
    # ones outweigh them, so the test is significant and leans up while the mean points
    # down. Neither "better" nor "worse" can be said.
    d = np.r_[np.linspace(0.01, 0.05, 45), -np.linspace(1.0, 2.0, 5)]
    assert d.mean() < 0 and signed_rank_direction(d) == 1 and signed_rank_p(d) < 0.01
    assert significant_sign(signed_rank_p(d), d.mean(), signed_rank_direction(d)) == 0
    assert significant_sign(0.001, 0.2, 1) == 1 and significant_sign(0.001, -0.2, -1) == -1
    assert significant_sign(0.2, 0.2, 1) == 0 and significant_sign(np.nan, 0.2, 1) == 0
    rows = pd.DataFrame(
        [dict(dataset="digits", condition="none", rank=2, seed=s, model=m, nmi=v)
         for s, x in enumerate(d) for m, v in (("NMF", 0.5), ("Meta-NMF", 0.5 + x))])
    res = compare_over_pairs(rows, [("NMF", "Meta-NMF")])  # the former rule
    assert res.p_holm.iloc[0] < 0.05 and res.difference.iloc[0] < 0
    assert res.verdict.iloc[0] == "undecided"
    thesis = pd.DataFrame([dict(table="x", noise="none", dataset="digits", model=m,
                                thesis_nmi=v) for m, v in (("NMF", 0.5), ("Meta-NMF", 0.4))])
    assert claims(res, thesis).status.iloc[0] != "holds"


def _rows(effect, noise_sd=0.01, seeds=10, ranks=(2, 5, 10), seed=0):
    rng = np.random.default_rng(seed)
    recs = []
    for ds, cond, r, s in itertools.product(["digits", "faces"], ["none", "added"], ranks,
                                            range(seeds)):
        base = 0.5 + 0.05 * rng.standard_normal()
        recs.append(dict(dataset=ds, condition=cond, rank=r, seed=s, model="NMF", nmi=base))
        recs.append(dict(dataset=ds, condition=cond, rank=r, seed=s, model="Meta-NMF",
                         nmi=base + effect[ds] + noise_sd * rng.standard_normal()))
    return pd.DataFrame(recs)


def test_compare_verdicts_and_claims():
    rows = _rows({"digits": 0.05, "faces": -0.05})
    res = compare(rows, [("NMF", "Meta-NMF")])
    assert len(res) == 4 and set(res.n_pairs) == {30} and set(res.n_seeds) == {10}
    got = res.set_index(["dataset", "condition"])["verdict"]
    assert (got.loc["digits"] == "better").all() and (got.loc["faces"] == "worse").all()
    for r in res.itertuples():
        assert r.low < r.difference < r.high
        assert r.p_holm >= r.p
    thesis = pd.DataFrame([
        dict(table="x", noise=c, dataset=d, model=m, thesis_nmi=v)
        for d in ("digits", "faces") for c in ("none", "added")
        for m, v in (("NMF", 0.5), ("Meta-NMF", 0.6))])
    cl = claims(res, thesis).set_index(["dataset", "condition"])["status"]
    assert (cl.loc["digits"] == "holds").all()
    assert (cl.loc["faces"] == "contradicted").all()


def test_compare_no_difference_and_not_reproduced():
    rows = _rows({"digits": 0.0, "faces": 0.0}, noise_sd=0.001)
    res = compare(rows, [("NMF", "Meta-NMF")])
    assert set(res.verdict) == {"no difference"}
    thesis = pd.DataFrame([dict(table="x", noise="none", dataset="digits", model=m,
                                thesis_nmi=v) for m, v in (("NMF", 0.5), ("Meta-NMF", 0.6))])
    cl = claims(res, thesis)
    assert len(cl) == 1 and cl.status.iloc[0] == "not reproduced"


def test_compare_pairs_only_common_cells():
    rows = _rows({"digits": 0.02, "faces": 0.02})
    rows = rows[~((rows.model == "Meta-NMF") & (rows.seed == 0))]
    res = compare(rows, [("NMF", "Meta-NMF")])
    assert set(res.n_seeds) == {9}


def test_noise_robustness_detects_smaller_drop():
    from metanmf_lab.grid.stats import noise_robustness
    rng = np.random.default_rng(3)
    recs = []
    for r, s in itertools.product((5, 10), range(8)):
        for noise, drop_nmf, drop_meta in ((0.0, 0, 0), (0.6, 0.2, 0.05)):
            base = 0.6 + 0.02 * rng.standard_normal()
            recs.append(dict(dataset="digits", model="NMF", rank=r, seed=s, noise=noise,
                             nmi=base - drop_nmf))
            recs.append(dict(dataset="digits", model="Meta-NMF", rank=r, seed=s, noise=noise,
                             nmi=base - drop_meta + 0.005 * rng.standard_normal()))
    res = noise_robustness(pd.DataFrame(recs), [("NMF", "Meta-NMF")], 0.0, 0.6)
    assert len(res) == 1
    row = res.iloc[0]
    assert row.verdict == "better"
    assert row.difference == pytest.approx(0.15, abs=0.02)
    assert row.reference_drop == pytest.approx(0.2, abs=0.02)
    assert row.model_drop == pytest.approx(0.05, abs=0.02)


def test_compare_other_value_column():
    rows = _rows({"digits": 0.05, "faces": 0.05}).rename(columns={"nmi": "hoyer"})
    res = compare(rows, [("NMF", "Meta-NMF")], value="hoyer")
    assert set(res.verdict) == {"better"}


def test_claims_of_equal_thesis_values():
    same = _rows({"digits": 0.0, "faces": 0.05}, noise_sd=0.001)
    res = compare(same, [("NMF", "Meta-NMF")])
    thesis = pd.DataFrame([dict(table="x", noise=c, dataset=d, model=m, thesis_nmi=0.5)
                           for d in ("digits", "faces") for c in ("none", "added")
                           for m in ("NMF", "Meta-NMF")])
    cl = claims(res, thesis).set_index(["dataset", "condition"])["status"]
    assert (cl.loc["digits"] == "holds").all()  # equal in both: the claim holds
    assert (cl.loc["faces"] == "contradicted").all()  # we find a significant difference


def test_spread_comparison_detects_a_tighter_model_and_pairs_seeds():
    import pandas as pd
    from scipy import stats as st

    from metanmf_lab.grid import stats

    rng = np.random.default_rng(0)
    rows = []
    for seed in range(12):
        for rank in (2, 5):
            rows.append(dict(dataset="d", condition="none", model="A", rank=rank, seed=seed,
                             nmi=0.5 + rng.normal(0, 0.05)))
            rows.append(dict(dataset="d", condition="none", model="B", rank=rank, seed=seed,
                             nmi=0.6 + rng.normal(0, 0.002)))
    rows.append(dict(dataset="d", condition="none", model="A", rank=2, seed=99, nmi=0.0))
    rows = pd.DataFrame(rows)
    res = stats.spread_comparison(rows, [("A", "B")])
    r = res.iloc[0]
    assert r.n_seeds == 12  # seed 99 has no partner
    per_seed = rows[rows.seed < 12].groupby(["model", "seed"])["nmi"].mean()
    assert r.reference_sd == pytest.approx(per_seed["A"].std(ddof=1))
    assert r.model_sd == pytest.approx(per_seed["B"].std(ddof=1))
    assert r.p == pytest.approx(st.levene(per_seed["A"], per_seed["B"], center="median").pvalue)
    assert r.verdict == "less spread" and r.ratio < 0.2
    flipped = stats.spread_comparison(rows, [("B", "A")]).iloc[0]
    assert flipped.verdict == "more spread"


def test_spread_comparison_of_identical_constant_models_is_undecided():
    import pandas as pd

    from metanmf_lab.grid import stats

    rows = pd.DataFrame([dict(dataset="d", condition="none", model=m, rank=2, seed=s, nmi=0.4)
                         for m in ("A", "B") for s in range(4)])
    r = stats.spread_comparison(rows, [("A", "B")]).iloc[0]
    assert r.p == 1.0 and r.verdict == "undecided" and np.isnan(r.ratio)


def test_spread_comparison_without_a_defined_statistic_gives_nan_not_a_warning():
    import warnings

    import pandas as pd

    from metanmf_lab.grid import stats

    # two seeds each: the absolute deviations from the median are equal within each group
    rows = pd.DataFrame([dict(dataset="d", condition="none", model=m, rank=2, seed=s, nmi=v)
                         for m, vals in (("A", (0.4, 0.5)), ("B", (0.45, 0.46)))
                         for s, v in enumerate(vals)])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        r = stats.spread_comparison(rows, [("A", "B")]).iloc[0]
    assert np.isnan(r.p) and r.verdict == "undecided"


def test_compare_is_a_t_test_over_seed_means():
    """The test is one-sample t on each seed's mean over ranks (scipy's ttest_1samp), not on
    the rank x seed pairs: repeating every rank value changes nothing."""
    rows = _rows({"digits": 0.01, "faces": -0.004}, noise_sd=0.02, seeds=6)
    res = compare(rows, [("NMF", "Meta-NMF")]).set_index(["dataset", "condition"])
    for (ds, cond), r in res.iterrows():
        g = rows[(rows.dataset == ds) & (rows.condition == cond)]
        w = g.pivot_table(index=["seed", "rank"], columns="model", values="nmi")
        per_seed = (w["Meta-NMF"] - w["NMF"]).groupby("seed").mean()
        ref = st.ttest_1samp(per_seed, 0.0)
        assert r.p == pytest.approx(ref.pvalue) and r.df == 5
        lo, hi = st.t.interval(0.95, 5, loc=per_seed.mean(), scale=st.sem(per_seed))
        assert (r.low, r.high) == pytest.approx((lo, hi))
    more = pd.concat([rows.assign(rank=rows["rank"] + 100 * k) for k in range(3)])
    np.testing.assert_allclose(compare(more, [("NMF", "Meta-NMF")]).p, res.p)


def test_split_variance_widens_the_interval_and_sets_the_degrees_of_freedom():
    rows = _rows({"digits": 0.03, "faces": 0.03}, noise_sd=0.005, seeds=10)
    # five one-seed replications whose differences spread by split
    rep = []
    for k, shift in enumerate((0.0, 0.04, -0.03, 0.05, -0.02)):
        r = rows[rows.seed == 0].copy()
        r.loc[r.model == "Meta-NMF", "nmi"] += shift
        rep.append(r.assign(replication=k))
    sv = split_variance(pd.concat(rep), [("NMF", "Meta-NMF")])
    assert set(sv.n_splits) == {5}
    per = [d + 0.0 for d in (0.0, 0.04, -0.03, 0.05, -0.02)]
    base = compare(rows, [("NMF", "Meta-NMF")])
    wide = compare(rows, [("NMF", "Meta-NMF")], splits=sv)
    for b, w, v in zip(base.itertuples(), wide.itertuples(), sv.itertuples()):
        assert w.se == pytest.approx(np.sqrt(b.se ** 2 + v.split_var))
        assert w.df == 4 and w.split_var == pytest.approx(v.split_var)
        assert w.high - w.low > b.high - b.low
        assert w.p > b.p
    # the spread of the shifts is the split variance, up to the seed-0 differences' own
    assert sv.split_var.iloc[0] == pytest.approx(np.var(per, ddof=1), rel=0.3)
    assert set(base.verdict) == {"better"} and set(wide.verdict) == {"undecided"}


def test_compare_zero_spread():
    rows = _rows({"digits": 0.0, "faces": 0.0}, noise_sd=0.0)
    res = compare(rows, [("NMF", "Meta-NMF")])
    assert set(res.p) == {1.0} and set(res.verdict) == {"no difference"}
