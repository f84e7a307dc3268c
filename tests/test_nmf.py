"""NMF estimator: monotone objective, agreement with independent solvers, planted recovery,
determinism, stopping rules, transform and the scikit-learn estimator API.

Everything that is compared against is written here from the definitions (or taken from
scikit-learn), not from the package.
"""

import numpy as np
import pytest
from metanmf_lab.core._init import random_factors
from metanmf_lab.core._nmf import NMF
from scipy.optimize import linear_sum_assignment
from sklearn.base import clone
from sklearn.decomposition import NMF as SkNMF
from sklearn.exceptions import NotFittedError

EPS32 = np.finfo(np.float32).eps


def guard(d):
    """The solver's rule: denominators that are exactly zero become float32 eps."""
    return np.where(d == 0, EPS32, d)


# -- independent definitions --------------------------------------------------------------------

def frob_obj(X, W, H):
    X, W, H = (np.asarray(a, dtype=np.float64) for a in (X, W, H))
    return float(((X - W @ H) ** 2).sum())


def kl_obj(X, W, H):
    X, W, H = (np.asarray(a, dtype=np.float64) for a in (X, W, H))
    WH = W @ H
    pos = X > 0
    return float((X[pos] * np.log(X[pos] / WH[pos])).sum() - X.sum() + WH.sum())


def lee_seung(X, W, H, n_iter, loss):
    """Textbook Lee-Seung updates (W first, then H), zero denominators replaced by eps."""
    W, H = W.copy(), H.copy()
    for _ in range(n_iter):
        if loss == "frobenius":
            W *= (X @ H.T) / guard(W @ H @ H.T)
            H *= (W.T @ X) / guard(W.T @ W @ H)
        else:
            W *= ((X / np.maximum(W @ H, EPS32)) @ H.T) / guard(np.ones_like(X) @ H.T)
            H *= (W.T @ (X / np.maximum(W @ H, EPS32))) / guard(W.T @ np.ones_like(X))
    return W, H


def data(shape, seed=0, dtype=np.float64):
    return np.random.default_rng(seed).random(shape).astype(dtype)


def custom_start(n, m, k, seed=1):
    rng = np.random.default_rng(seed)
    return rng.uniform(0.1, 1.0, (n, k)), rng.uniform(0.1, 1.0, (k, m))


# -- 1. monotone objective ------------------------------------------------------------------

@pytest.mark.parametrize("loss", ["frobenius", "kl"])
@pytest.mark.parametrize("n, m, k", [(30, 20, 3), (12, 45, 5), (40, 8, 1), (9, 7, 7)])
@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_objective_never_increases(loss, n, m, k, seed, dtype):
    X = data((n, m), seed, dtype)
    est = NMF(k, loss=loss, max_iter=150, tol=0, random_state=seed)
    est.fit(X)
    obj = est.objective_history_
    assert obj.shape == (151,) and obj.dtype == np.float64
    assert np.isfinite(obj).all()
    # float64: relative rounding slack; float32: the float32 products carry ~1e-7 relative
    # error of ||X||^2, so the slack is relative to the starting value too.
    if dtype == np.float64:
        slack = 1e-10 * obj[:-1] + 1e-13 * obj[0]
    else:
        slack = 1e-5 * obj[0]
    assert np.all(np.diff(obj) <= slack), np.diff(obj).max()
    assert obj[-1] < 0.5 * obj[0]


@pytest.mark.parametrize("loss, direct", [("frobenius", frob_obj), ("kl", kl_obj)])
@pytest.mark.parametrize("max_iter", [0, 1, 7, 60])
def test_objective_history_matches_direct_computation(loss, direct, max_iter):
    X = data((25, 18), 3)
    W0, H0 = custom_start(25, 18, 4)
    est = NMF(4, loss=loss, init="custom", max_iter=max_iter, tol=0)
    W = est.fit_transform(X, W=W0, H=H0)
    H = est.components_
    assert est.n_iter_ == max_iter
    assert len(est.objective_history_) == max_iter + 1
    assert est.objective_history_[0] == pytest.approx(direct(X, W0, H0), rel=1e-10)
    assert est.objective_history_[-1] == pytest.approx(direct(X, W, H), rel=1e-10)
    # scikit-learn's reconstruction_err_: ||X - WH||_F, or sqrt(2 KL) for KL.
    expected = np.sqrt(direct(X, W, H)) if loss == "frobenius" else np.sqrt(2 * direct(X, W, H))
    assert est.reconstruction_err_ == pytest.approx(expected, rel=1e-10)


def test_objective_history_agrees_between_steps():
    # Running 10 then inspecting the history must be the prefix of running 20.
    X = data((20, 15), 4)
    h10 = NMF(3, max_iter=10, tol=0, random_state=0).fit(X).objective_history_
    h20 = NMF(3, max_iter=20, tol=0, random_state=0).fit(X).objective_history_
    np.testing.assert_array_equal(h10, h20[:11])


# -- 2. agreement with independent solvers --------------------------------------------------

@pytest.mark.parametrize("loss, beta", [("frobenius", "frobenius"), ("kl", "kullback-leibler")])
@pytest.mark.parametrize("n, m, k, n_iter", [(30, 20, 4, 40), (15, 35, 2, 100)])
def test_matches_sklearn_mu(loss, beta, n, m, k, n_iter):
    X = data((n, m), 7) + 0.05
    W0, H0 = custom_start(n, m, k, 8)
    ours = NMF(k, loss=loss, init="custom", max_iter=n_iter, tol=0)
    W = ours.fit_transform(X, W=W0.copy(), H=H0.copy())
    sk = SkNMF(k, solver="mu", beta_loss=beta, init="custom", max_iter=n_iter, tol=0)
    W_sk = sk.fit_transform(X, W=W0.copy(), H=H0.copy())
    assert sk.n_iter_ == ours.n_iter_ == n_iter
    # Same zero-denominator rule as scikit-learn: equal up to floating-point reassociation.
    np.testing.assert_allclose(W, W_sk, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(ours.components_, sk.components_, rtol=1e-9, atol=1e-12)
    assert ours.reconstruction_err_ == pytest.approx(sk.reconstruction_err_, rel=1e-6)


@pytest.mark.parametrize("loss", ["frobenius", "kl"])
@pytest.mark.parametrize("n, m, k", [(30, 20, 4), (8, 50, 3), (16, 16, 16)])
def test_matches_textbook_lee_seung(loss, n, m, k):
    X = data((n, m), 11)
    W0, H0 = custom_start(n, m, k, 12)
    est = NMF(k, loss=loss, init="custom", max_iter=50, tol=0)
    W = est.fit_transform(X, W=W0, H=H0)
    W_ref, H_ref = lee_seung(X, W0, H0, 50, loss)
    np.testing.assert_allclose(W, W_ref, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(est.components_, H_ref, rtol=1e-9, atol=1e-12)


def test_custom_init_arrays_are_not_modified():
    X = data((10, 8), 0)
    W0, H0 = custom_start(10, 8, 2)
    W0c, H0c = W0.copy(), H0.copy()
    W = NMF(2, init="custom", max_iter=20, tol=0).fit_transform(X, W=W0, H=H0)
    np.testing.assert_array_equal(W0, W0c)
    np.testing.assert_array_equal(H0, H0c)
    assert not np.shares_memory(W, W0)


# -- 4. planted problem ---------------------------------------------------------------------

def planted(seed, n=60, m=30, k=3):
    """X = W* H* with H* rows of disjoint supports and W* sparse-ish (an identifiable NMF)."""
    rng = np.random.default_rng(seed)
    H = np.zeros((k, m))
    for j, cols in enumerate(np.array_split(rng.permutation(m), k)):
        H[j, cols] = rng.uniform(0.5, 1.5, len(cols))
    W = rng.uniform(0, 1, (n, k))
    W[rng.random((n, k)) < 0.3] = 0
    W[np.arange(k), np.arange(k)] = 1.0
    return W, H, W @ H


def matched_cosines(A, B):
    """Cosine similarities of the rows of A and B after the best (Hungarian) matching."""
    A = A / np.linalg.norm(A, axis=1, keepdims=True)
    B = B / np.linalg.norm(B, axis=1, keepdims=True)
    C = A @ B.T
    rows, cols = linear_sum_assignment(-C)
    return C[rows, cols]


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("loss, init, max_iter, max_rel_err", [
    ("frobenius", "nndsvda", 1500, 2e-3),
    ("frobenius", "random", 2000, 2e-3),
    ("kl", "nndsvda", 800, 1e-5),
])
def test_planted_factors_are_recovered(seed, loss, init, max_iter, max_rel_err):
    W_true, H_true, X = planted(seed)
    est = NMF(3, loss=loss, init=init, max_iter=max_iter, tol=0, random_state=seed)
    W = est.fit_transform(X)
    rel = np.linalg.norm(X - W @ est.components_) / np.linalg.norm(X)
    assert rel < max_rel_err
    assert matched_cosines(est.components_, H_true).min() > 0.999
    assert matched_cosines(W.T, W_true.T).min() > 0.999


# -- 5. determinism, dtypes ----------------------------------------------------------------

@pytest.mark.parametrize("loss", ["frobenius", "kl"])
@pytest.mark.parametrize("init", ["random", "nndsvdar"])
def test_same_seed_same_result_different_seed_different(loss, init):
    X = data((20, 12), 5)
    fit = lambda rs: NMF(3, loss=loss, init=init, max_iter=30, random_state=rs).fit(X)
    a, b, c = fit(0), fit(0), fit(1)
    np.testing.assert_array_equal(a.components_, b.components_)
    np.testing.assert_array_equal(a.objective_history_, b.objective_history_)
    assert a.n_iter_ == b.n_iter_
    assert not np.array_equal(a.components_, c.components_)


def test_random_state_instance_and_default_init():
    X = data((10, 6), 0)
    W = NMF(2, max_iter=0, random_state=np.random.RandomState(3)).fit_transform(X)
    W_expected, _ = random_factors(10, 2, 6, random_state=3)
    np.testing.assert_array_equal(W, W_expected)


@pytest.mark.parametrize("loss", ["frobenius", "kl"])
@pytest.mark.parametrize("init", ["random", "nndsvda"])
def test_float32_in_float32_out_and_close_to_float64(loss, init):
    X64 = data((30, 20), 6) + 0.01
    X32 = X64.astype(np.float32)
    e32 = NMF(4, loss=loss, init=init, max_iter=30, tol=0, random_state=0)
    e64 = clone(e32)
    W32, W64 = e32.fit_transform(X32), e64.fit_transform(X64)
    assert W32.dtype == np.float32 and e32.components_.dtype == np.float32
    assert W64.dtype == np.float64 and e64.components_.dtype == np.float64
    assert e32.transform(X32).dtype == np.float32
    np.testing.assert_allclose(W32, W64, rtol=2e-3, atol=1e-5)
    np.testing.assert_allclose(e32.components_, e64.components_, rtol=2e-3, atol=1e-5)
    assert e32.reconstruction_err_ == pytest.approx(e64.reconstruction_err_, rel=1e-4)


@pytest.mark.parametrize("loss", ["frobenius", "kl"])
def test_integer_and_list_input_accepted(loss):
    Xi = np.random.default_rng(0).integers(0, 5, (15, 10))
    Xi[0, 0] = 1  # not all zero
    W_int = NMF(3, loss=loss, max_iter=20, random_state=0).fit_transform(Xi)
    W_float = NMF(3, loss=loss, max_iter=20, random_state=0).fit_transform(Xi.astype(float))
    W_list = NMF(3, loss=loss, max_iter=20, random_state=0).fit_transform(Xi.tolist())
    assert W_int.dtype == np.float64
    np.testing.assert_array_equal(W_int, W_float)
    np.testing.assert_array_equal(W_list, W_float)


def test_n_components_none_uses_full_rank_and_case_insensitive_options():
    X = data((7, 5), 0)
    est = NMF(max_iter=5).fit(X)
    assert est.components_.shape == (5, 5) and est.n_components_ == 5
    a = NMF(2, loss="KL", init="NNDSVDA", stopping="Objective", max_iter=10).fit(X)
    b = NMF(2, loss="kl", init="nndsvda", stopping="objective", max_iter=10).fit(X)
    np.testing.assert_array_equal(a.components_, b.components_)
    assert a.reconstruction_err_ == b.reconstruction_err_


# -- 6. stopping, max_iter, normalisation ----------------------------------------------------

@pytest.mark.parametrize("loss", ["frobenius", "kl"])
@pytest.mark.parametrize("tol", [1e-3, 1e-5])
def test_objective_stopping_rule(loss, tol):
    _, _, X = planted(0, n=30, m=15, k=2)
    X = X + 0.01 * data(X.shape, 0)  # a noise floor: the objective levels off
    est = NMF(2, loss=loss, init="nndsvda", max_iter=5000, tol=tol, stopping="objective")
    est.fit(X)
    obj = est.objective_history_
    assert 1 <= est.n_iter_ < 5000
    assert len(obj) == est.n_iter_ + 1
    rel_decrease = (obj[:-1] - obj[1:]) / obj[:-1]
    assert rel_decrease[-1] <= tol          # stopped because of the rule...
    assert np.all(rel_decrease[:-1] > tol)  # ...and at the first iteration it held


@pytest.mark.parametrize("loss", ["frobenius", "kl"])
@pytest.mark.parametrize("tol", [1e-2, 1e-3])
def test_factors_stopping_rule(loss, tol):
    X = data((25, 15), 2)
    est = NMF(3, loss=loss, max_iter=3000, tol=tol, stopping="factors", random_state=0)
    est.fit(X)
    n = est.n_iter_
    assert 2 <= n < 3000

    def factors(it):
        e = NMF(3, loss=loss, max_iter=it, tol=0, random_state=0)
        return e.fit_transform(X), e.components_

    (W2, H2), (W1, H1), (W0, H0) = factors(n - 2), factors(n - 1), factors(n)
    np.testing.assert_array_equal(H0, est.components_)
    # Both changes below tol at the stopping iteration, not both the iteration before.
    assert np.linalg.norm(W0 - W1) < tol and np.linalg.norm(H0 - H1) < tol
    assert not (np.linalg.norm(W1 - W2) < tol and np.linalg.norm(H1 - H2) < tol)


@pytest.mark.parametrize("stopping", ["objective", "factors"])
@pytest.mark.parametrize("max_iter", [1, 13, 200])
def test_tol_zero_runs_exactly_max_iter(stopping, max_iter):
    _, _, X = planted(1, n=20, m=12, k=2)
    est = NMF(2, max_iter=max_iter, tol=0, stopping=stopping, random_state=0).fit(X)
    assert est.n_iter_ == max_iter
    assert len(est.objective_history_) == max_iter + 1


@pytest.mark.parametrize("loss", ["frobenius", "kl"])
@pytest.mark.parametrize("init", ["random", "nndsvd", "custom"])
def test_max_iter_zero_returns_init(loss, init):
    from metanmf_lab.core._init import initialize

    X = data((12, 9), 3)
    W0, H0 = custom_start(12, 9, 3)
    est = NMF(3, loss=loss, init=init, max_iter=0, random_state=4)
    W = est.fit_transform(X, W=W0, H=H0)
    W_exp, H_exp = initialize(X, 3, init, random_state=4, W=W0, H=H0)
    if init == "custom":
        np.testing.assert_array_equal(W_exp, W0)
    np.testing.assert_array_equal(W, W_exp)
    np.testing.assert_array_equal(est.components_, H_exp)
    assert est.n_iter_ == 0 and len(est.objective_history_) == 1


@pytest.mark.parametrize("loss", ["frobenius", "kl"])
@pytest.mark.parametrize("init", ["random", "nndsvd"])
def test_normalize_components(loss, init):
    X = data((20, 14), 9)
    kw = dict(n_components=4, loss=loss, init=init, max_iter=40, tol=0, random_state=0)
    plain = NMF(**kw)
    Wp = plain.fit_transform(X)
    norm = NMF(normalize=True, **kw)
    Wn = norm.fit_transform(X)
    H = norm.components_
    nonzero = H.max(axis=1) > 0
    assert nonzero.any()
    np.testing.assert_array_equal(H.max(axis=1)[nonzero], 1.0)
    np.testing.assert_allclose(Wn @ H, Wp @ plain.components_, rtol=1e-12, atol=1e-14)
    # Same run: the unnormalised factors are a per-component rescaling of the normalised ones.
    scale = plain.components_.max(axis=1)
    np.testing.assert_allclose(Wn[:, nonzero], Wp[:, nonzero] * scale[nonzero], rtol=1e-12)
    np.testing.assert_array_equal(norm.objective_history_, plain.objective_history_)
    assert norm.reconstruction_err_ == pytest.approx(plain.reconstruction_err_, rel=1e-12)


# -- 7. transform, inverse_transform, estimator API -----------------------------------------

@pytest.mark.parametrize("loss", ["frobenius", "kl"])
def test_transform_keeps_components_and_reconstructs_like_fit(loss):
    _, _, X = planted(2, n=40, m=24, k=3)
    X = X + 0.01 * data(X.shape, 1)
    est = NMF(3, loss=loss, init="nndsvda", max_iter=400, tol=1e-8)
    W_fit = est.fit_transform(X)
    H = est.components_.copy()
    W_tr = est.transform(X)
    np.testing.assert_array_equal(est.components_, H)
    assert W_tr.shape == W_fit.shape and (W_tr >= 0).all()
    err_fit = np.linalg.norm(X - W_fit @ H)
    err_tr = np.linalg.norm(X - W_tr @ H)
    assert err_tr <= 1.05 * err_fit
    # With the components fixed, transform on the training data finds (about) the same codes.
    np.testing.assert_allclose(W_tr, W_fit, rtol=0.05, atol=0.02 * W_fit.max())
    np.testing.assert_allclose(est.inverse_transform(W_tr), W_tr @ H)


def test_transform_on_new_data_and_errors():
    X = data((20, 10), 0)
    est = NMF(3, max_iter=50, random_state=0).fit(X)
    assert est.transform(data((5, 10), 1)).shape == (5, 3)
    assert est.transform(X[:1]).shape == (1, 3)
    with pytest.raises(ValueError, match="X has 9 features, but NMF is expecting 10 features"):
        est.transform(X[:, :9])
    with pytest.raises(ValueError, match="negative values"):
        est.transform(-X)
    with pytest.raises(NotFittedError):
        NMF(3).transform(X)
    with pytest.raises(NotFittedError):
        NMF(3).inverse_transform(np.ones((2, 3)))


def test_get_set_params_and_clone():
    est = NMF(3, loss="kl", init="nndsvda", max_iter=17, tol=1e-6, stopping="factors",
              normalize=True, random_state=5)
    params = est.get_params()
    assert params == dict(n_components=3, loss="kl", init="nndsvda", max_iter=17, tol=1e-6,
                          stopping="factors", normalize=True, denominator_eps=0.0,
                          random_state=5)
    other = NMF().set_params(**params)
    assert other.get_params() == params
    X = data((15, 8), 0)
    est.fit(X)
    c = clone(est)
    assert c.get_params() == params
    assert not hasattr(c, "components_")
    np.testing.assert_array_equal(c.fit(X).components_, est.components_)
    assert est.set_params(max_iter=3) is est and est.max_iter == 3
    with pytest.raises(ValueError, match="Invalid parameter"):
        est.set_params(bogus=1)


def test_fit_returns_self_and_attributes():
    X = data((15, 8), 0)
    est = NMF(2, max_iter=10, tol=0, random_state=0)
    assert est.fit(X) is est
    assert est.n_features_in_ == 8 and est.n_components_ == 2 and est.n_iter_ == 10
    assert est.components_.shape == (2, 8) and (est.components_ >= 0).all()
    assert est.components_.flags.c_contiguous
    W = est.fit_transform(X)
    assert W.shape == (15, 2) and (W >= 0).all()


# -- numerical robustness (bugs found while writing these tests) ---------------------------------

@pytest.mark.parametrize("loss, c", [
    ("frobenius", 1e3),
    ("kl", 1e3),
    ("kl", 1e-4),
    pytest.param("frobenius", 1e-6),
])
def test_scale_equivariance(loss, c):
    # fit(c X) from (sqrt(c) W0, sqrt(c) H0) is sqrt(c) times fit(X) from (W0, H0).
    X = data((30, 20), 0)
    W0, H0 = custom_start(30, 20, 3, 1)
    kw = dict(n_components=3, loss=loss, init="custom", max_iter=100, tol=0)
    W = NMF(**kw).fit_transform(X, W=W0, H=H0)
    est = NMF(**kw)
    Wc = est.fit_transform(c * X, W=np.sqrt(c) * W0, H=np.sqrt(c) * H0)
    np.testing.assert_allclose(Wc / np.sqrt(c), W, rtol=1e-4, atol=1e-8)
    assert est.reconstruction_err_ == pytest.approx(
        np.sqrt(c) ** (2 if loss == "frobenius" else 1)
        * NMF(**kw).fit(X, W=W0, H=H0).reconstruction_err_, rel=1e-4)


# Regression: the Gram form ||X||^2 - 2<W^T X, H> + <W^T W, H H^T> from float32 products
# has rounding error ~1e-7 ||X||^2, which swamped the objective near a good fit (6-12 % off
# after 1000 iterations, spurious increases that stopped fits early).
@pytest.mark.parametrize("seed", [0, 2])
def test_float32_frobenius_objective_is_accurate(seed):
    _, _, X = planted(seed)
    X32 = X.astype(np.float32)
    est = NMF(3, init="nndsvda", max_iter=1000, tol=0)
    W = est.fit_transform(X32)
    assert est.objective_history_[-1] == pytest.approx(frob_obj(X32, W, est.components_),
                                                       rel=1e-2)


def test_float32_objective_stopping_is_not_premature():
    _, _, X = planted(0)
    kw = dict(n_components=3, init="nndsvda", max_iter=3000, tol=1e-4)
    e64, e32 = NMF(**kw), NMF(**kw)
    W64 = e64.fit_transform(X)
    W32 = e32.fit_transform(X.astype(np.float32))
    assert frob_obj(X, W32, e32.components_) <= 4 * frob_obj(X, W64, e64.components_)


def test_kl_objective_history_matches_definition_with_zero_column():
    X = data((20, 10), 0)
    X[:, 0] = 0
    est = NMF(3, loss="kl", max_iter=300, tol=0, random_state=0)
    W = est.fit_transform(X)
    assert est.objective_history_[-1] == pytest.approx(kl_obj(X, W, est.components_), rel=1e-9)
