"""Penalised NMF (MU-P) and AltBi: the hypergradient, the updates, the estimator, the errors."""

import numpy as np
import pytest
from metanmf_lab.core.evaluation import match_components, sir
from metanmf_lab.data.synthetic import BENCHMARKS, make_benchmark
from metanmf_lab.related.altbi import PenalizedNMF, bunch, data_term, penalty_term, run_benchmark


def _small(seed=0, n=7, m=6, r=3):
    rng = np.random.default_rng(seed)
    return (rng.uniform(size=(n, m)), rng.uniform(0.1, 1, size=(n, r)),
            rng.uniform(0.1, 1, size=(r, m)), rng.uniform(0.05, 1.0, size=n))


@pytest.mark.parametrize("loss", ["frobenius", "kl"])
@pytest.mark.parametrize("penalty", ["l1", "l2"])
@pytest.mark.parametrize("steps", [1, 6])
def test_hypergradient_matches_finite_differences(loss, penalty, steps):
    X, W, H, lam = _small()
    _, grad = bunch(X, W, H, lam, steps, loss=loss, penalty=penalty)

    def response(lam_):
        W_T, _ = bunch(X, W, H, lam_, steps, loss=loss, penalty=penalty, tangent=False)
        return data_term(X, W_T, H, loss)

    h = 1e-6
    fd = np.array([(response(lam + h * e) - response(lam - h * e)) / (2 * h)
                   for e in np.eye(len(lam))])
    assert np.abs(grad).max() > 1e-3  # not trivially zero
    np.testing.assert_allclose(grad, fd, rtol=1e-5, atol=1e-8)


def test_bunch_without_tangent_gives_the_same_factors():
    X, W, H, lam = _small(1)
    a, _ = bunch(X, W, H, lam, 5)
    b, none = bunch(X, W, H, lam, 5, tangent=False)
    assert none is None
    np.testing.assert_array_equal(a, b)


def test_frobenius_data_term_and_penalty():
    X, W, H, lam = _small(2)
    assert data_term(X, W, H) == pytest.approx(0.5 * np.sum((X - W @ H) ** 2))
    assert penalty_term(W, lam, "l1") == pytest.approx(np.sum(lam[:, None] * W))
    assert penalty_term(W, lam, "l2") == pytest.approx(0.5 * np.sum(lam[:, None] * W * W))


@pytest.mark.parametrize("loss", ["frobenius", "kl"])
@pytest.mark.parametrize("penalty", ["l1", "l2"])
def test_mu_p_objective_never_increases(loss, penalty):
    X, _, _ = make_benchmark("B", random_state=0)
    model = PenalizedNMF(4, loss=loss, penalty=penalty, lam=0.5, max_iter=60, random_state=0)
    model.fit(X)
    obj = model.history_["objective"]
    assert len(obj) == 61 and model.n_iter_ == 60
    assert np.all(np.diff(obj) <= 1e-9 * obj[:-1])
    assert (model.lam_ == 0.5).all()


def test_altbi_behaves_as_the_sources_figure_1():
    """Response and objective fall over the iterations (Del Buono et al. 2023, Fig. 1), the
    weights move and stay non-negative, and a large step drives some weights to exactly zero
    (projection)."""
    X, _, _ = make_benchmark("B", random_state=0)
    model = PenalizedNMF(4, solver="altbi", lam=1.0, lam_lr=100.0, inner_iter=5, max_iter=100,
                         random_state=0).fit(X)
    h = model.history_
    assert h["response"][-1] < 0.01 * h["response"][0]
    assert h["objective"][-1] < 0.01 * h["objective"][0]
    # mostly decreasing: the response falls over at least 90% of the outer iterations
    assert np.mean(np.diff(h["response"]) <= 0) >= 0.9
    assert (model.lam_ >= 0).all() and (model.lam_ == 0).any()
    assert not np.allclose(model.lam_, 1.0)
    assert h["lam_mean"][0] == 1.0 and h["lam_mean"][-1] < 1.0


def test_altbi_with_a_vanishing_step_is_mu_p_with_bunches():
    X, _, _ = make_benchmark("A", random_state=1)
    kw = dict(lam=0.3, max_iter=20, random_state=3)
    a = PenalizedNMF(4, solver="altbi", lam_lr=1e-300, inner_iter=3, **kw)
    b = PenalizedNMF(4, solver="mu", inner_iter=3, **kw)
    np.testing.assert_allclose(a.fit_transform(X), b.fit_transform(X), rtol=1e-12)
    np.testing.assert_allclose(a.components_, b.components_, rtol=1e-12)


def test_estimator_conventions_and_transform():
    from sklearn.base import clone

    X, _, _ = make_benchmark("A", random_state=0)
    model = PenalizedNMF(4, solver="altbi", lam=0.1, lam_lr=1.0, max_iter=30, random_state=1)
    W = model.fit_transform(X)
    assert W.shape == (1000, 4) and model.components_.shape == (4, 50)
    assert model.lam_.shape == (1000,)
    assert clone(model).get_params() == model.get_params()
    again = PenalizedNMF(**model.get_params()).fit_transform(X)
    np.testing.assert_array_equal(W, again)  # deterministic with a seed
    W_new = model.transform(X[:50])
    assert W_new.shape == (50, 4) and (W_new >= 0).all()
    H = model.components_
    rel_new = np.linalg.norm(X[:50] - W_new @ H) / np.linalg.norm(X[:50])
    rel_fit = np.linalg.norm(X[:50] - W[:50] @ H) / np.linalg.norm(X[:50])
    assert rel_new <= 1.1 * rel_fit  # as good as the fit itself on those rows


@pytest.mark.parametrize("kwargs, match", [
    (dict(lam=-1.0), "lam"), (dict(lam=np.nan), "lam"), (dict(solver="bfgs"), "solver"),
    (dict(penalty="l0"), "penalty"), (dict(loss="is"), "loss"), (dict(inner_iter=0), "inner_iter"),
    (dict(lam_lr=0.0), "lam_lr"), (dict(max_iter=0), "max_iter"), (dict(tol=-1.0), "tol"),
])
def test_bad_parameters_are_named(kwargs, match):
    X, _, _ = make_benchmark("A", random_state=0)
    with pytest.raises((ValueError, TypeError), match=match):
        PenalizedNMF(4, **kwargs).fit(X)


def test_bad_data_and_rank_are_refused():
    X, _, _ = make_benchmark("A", random_state=0)
    with pytest.raises(ValueError, match="negative"):
        PenalizedNMF(2).fit(X - 1.0)
    Xn = X.copy()
    Xn[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN|finite"):
        PenalizedNMF(2).fit(Xn)
    with pytest.raises(ValueError, match="n_components"):
        PenalizedNMF(0).fit(X)
    model = PenalizedNMF(2, max_iter=2).fit(X)
    with pytest.raises(ValueError, match="features"):
        model.transform(X[:, :10])


def test_a_huge_step_stays_finite_and_non_negative():
    X, _, _ = make_benchmark("A", random_state=0)
    model = PenalizedNMF(4, solver="altbi", lam=1.0, lam_lr=1e300, max_iter=50, random_state=1)
    W = model.fit_transform(X)
    for a in (W, model.components_, model.lam_, model.history_["objective"]):
        assert np.isfinite(a).all() and (a >= 0).all()


def test_sir_and_matching():
    rng = np.random.default_rng(0)
    S = rng.uniform(size=(4, 30))
    perm = [2, 0, 3, 1]
    est = 3.0 * S[perm]
    np.testing.assert_array_equal(match_components(S, est), np.argsort(perm))
    assert np.all(sir(S, est) > 250)  # exact up to order and scale
    noisy = S + 0.01 * rng.standard_normal(S.shape)
    v = sir(S, noisy)
    expect = 10 * np.log10((S ** 2).sum(1) / ((S - noisy * ((S * noisy).sum(1) / (noisy ** 2)
                                                               .sum(1))[:, None]) ** 2).sum(1))
    np.testing.assert_allclose(v, expect)
    with pytest.raises(ValueError, match="same shape"):
        sir(S, S[:3])


@pytest.mark.parametrize("name", BENCHMARKS)
def test_benchmarks_have_known_exact_factors(name):
    X, W, H = make_benchmark(name, random_state=4)
    np.testing.assert_array_equal(X, W @ H)
    assert (W >= 0).all() and (H >= 0).all()
    assert np.linalg.matrix_rank(W) == W.shape[1] == H.shape[0]
    assert np.linalg.matrix_rank(H) == H.shape[0]
    if name in ("B", "C"):
        assert 0.03 < np.mean(H > 0) < 0.2  # density alpha_H = 0.1
    if name == "D-synthetic":
        assert X.shape == (224, 3025)
        np.testing.assert_allclose(H.sum(axis=0), 1.0)  # abundances sum to one
    X2, _, _ = make_benchmark(name, random_state=4)
    np.testing.assert_array_equal(X, X2)
    with pytest.raises(ValueError, match="benchmark"):
        make_benchmark("E")


def test_run_benchmark_rows_and_curves():
    res, curves = run_benchmark("A", [0, 1], [0.01, 0.1], max_iter=10, lam_lr=1.0)
    assert len(res) == 2 * (1 + 2 + 1 + 1)
    assert set(res.method) == {"MU", "MU-P", "MU-P (bunched)", "AltBi"}
    assert len(curves) == len(res) * 11
    mu = res[res.method == "MU"]
    assert (mu.lam == 0).all() and (mu.lam_final == 0).all()
    assert res.sir_W.notna().all() and (res.seconds > 0).all()
    assert (res[res.method == "MU-P (bunched)"].lam_final == 1.0).all()
    from metanmf_lab.related.altbi import comparisons, summary_table
    cmp = comparisons(res)
    assert len(cmp) == 3 * 2 and set(cmp.verdict) <= {"better", "worse", "undecided"}
    table = summary_table(res)
    assert len(table) == 4  # MU, the best MU-P, the bunched MU-P, AltBi


# -- the chapter's parameters -------------------------------------------------------------------

def _params(**kw):
    from metanmf_lab.book import notebook as nb

    ann = {"profile": str, "benchmarks": list, "bench_seeds": list, "lam_grid": list,
           "lam0": float, "lam_lr": float, "inner_iter": int, "max_iter": int}
    ns = {"__annotations__": ann, "profile": "smoke", "benchmarks": [], "bench_seeds": [],
          "lam_grid": [0.01, 0.1], "lam0": 1.0, "lam_lr": 1.0, "inner_iter": 5, "max_iter": 0}
    ns.update(kw)
    return nb.check_parameters(ns)


def test_chapter_parameters_take_the_profile():
    p = _params()
    assert p.benchmarks == ["A", "B"] and p.bench_seeds == [0, 1] and p.max_iter == 30
    full = _params(profile="full")
    assert full.benchmarks == list(BENCHMARKS) and full.max_iter == 500
    assert len(full.bench_seeds) == 10
    assert _params(max_iter=7).max_iter == 7


@pytest.mark.parametrize("kw, match", [
    (dict(benchmarks=["E"]), "benchmarks"), (dict(lam_grid=[0.1, -1]), "lam_grid"),
    (dict(lam0=-0.5), "lam0"), (dict(lam_lr=0.0), "lam_lr"), (dict(inner_iter=0), "inner_iter"),
    (dict(max_iter=-3), "max_iter"), (dict(bench_seeds=[-1]), "bench_seeds"),
])
def test_bad_chapter_parameters_are_named(kw, match):
    with pytest.raises(ValueError, match=match):
        _params(**kw)
