"""Affinity graphs and graph-regularised NMF (GNMF, Cai et al. 2011).

The references here (brute-force kNN, dense Laplacian, dense update loops) are written from
the definitions in the test, independently of the package.
"""

import tracemalloc

import numpy as np
import pytest
import scipy.sparse as sp
from metanmf_lab.core._graph import Graph, build_graph, knn_graph, rbf_graph
from metanmf_lab.core._nmf import GNMF, NMF
from scipy.optimize import linear_sum_assignment
from sklearn.base import clone

EPS32 = np.finfo(np.float32).eps


def guard(d):
    """The solver's rule: denominators that are exactly zero become float32 eps."""
    return np.where(d == 0, EPS32, d)


# -- independent references -----------------------------------------------------------------

def sq_dists(X):
    X = np.asarray(X, dtype=np.float64)
    return ((X[:, None, :] - X[None, :, :]) ** 2).sum(-1)


def brute_knn(X, p, weight="binary", t=None):
    """Dense kNN affinity with Cai's symmetrisation: edge iff j in kNN(i) or i in kNN(j)."""
    D2 = sq_dists(X)
    n = len(D2)
    E = np.zeros((n, n), dtype=bool)
    for i in range(n):
        order = [j for j in np.argsort(D2[i], kind="stable") if j != i]
        E[i, order[:p]] = True
    E = E | E.T
    if weight == "binary":
        return E.astype(float)
    if t is None:
        t = D2[E].mean()
    return np.where(E, np.exp(-D2 / t), 0.0)


def dense_laplacian(A):
    A = np.asarray(A.toarray() if sp.issparse(A) else A, dtype=np.float64)
    return np.diag(A.sum(1)) - A


def gnmf_objective(X, W, H, A, lam, loss):
    X, W, H = (np.asarray(a, dtype=np.float64) for a in (X, W, H))
    WH = W @ H
    if loss == "frobenius":
        data = ((X - WH) ** 2).sum()
    else:
        pos = X > 0
        data = (X[pos] * np.log(X[pos] / WH[pos])).sum() - X.sum() + WH.sum()
    return float(data + lam * np.trace(W.T @ dense_laplacian(A) @ W))


def cai_dense(X, W, H, A, lam, n_iter):
    """Cai et al.'s GNMF Frobenius updates, dense, zero denominators replaced by eps."""
    W, H = W.copy(), H.copy()
    D = np.diag(A.sum(1))
    for _ in range(n_iter):
        W *= (X @ H.T + lam * A @ W) / guard(W @ H @ H.T + lam * D @ W)
        H *= (W.T @ X) / guard(W.T @ W @ H)
    return W, H


def gnmf_kl_dense(X, W, H, A, lam, n_iter, update):
    """GNMF-KL, dense: the documented MM closed form or the split-gradient heuristic."""
    W, H = W.copy(), H.copy()
    d = A.sum(1)[:, None]
    ones = np.ones_like(X)
    for _ in range(n_iter):
        R = X / np.maximum(W @ H, EPS32)
        a = ones @ H.T
        if update == "mm":
            C = W * (R @ H.T) + 2 * lam * W * (A @ W)
            W = 2 * C / guard(a + np.sqrt(a**2 + 8 * lam * d * C))
        else:
            W = W * (R @ H.T + 2 * lam * A @ W) / guard(a + 2 * lam * d * W)
        R = X / np.maximum(W @ H, EPS32)
        H = H * (W.T @ R) / guard(W.T @ ones)
    return W, H


def data(shape, seed=0, dtype=np.float64):
    return np.random.default_rng(seed).random(shape).astype(dtype)


def custom_start(n, m, k, seed=1):
    rng = np.random.default_rng(seed)
    return rng.uniform(0.1, 1.0, (n, k)), rng.uniform(0.1, 1.0, (k, m))


# -- 9. graphs ------------------------------------------------------------------------------

@pytest.mark.parametrize("n, m, p", [(30, 5, 5), (50, 3, 1), (12, 20, 4), (40, 2, 10)])
@pytest.mark.parametrize("weight", ["binary", "heat"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_knn_graph_matches_brute_force(n, m, p, weight, dtype):
    X = data((n, m), n + p, dtype)
    g = knn_graph(X, n_neighbors=p, weight=weight)
    assert isinstance(g, Graph) and not g.is_dense and g.n_samples == n
    assert sp.issparse(g.A) and g.A.shape == (n, n)
    assert g.A.dtype == dtype and g.degree.dtype == dtype
    A = g.A.toarray()
    np.testing.assert_array_equal(A, A.T)
    np.testing.assert_array_equal(np.diag(A), 0)
    assert ((A > 0).sum(axis=1) >= p).all()
    ref = brute_knn(X, p, weight)
    np.testing.assert_array_equal(A > 0, ref > 0)
    np.testing.assert_allclose(A, ref, rtol=1e-5 if dtype == np.float32 else 1e-12)
    np.testing.assert_allclose(g.degree, ref.sum(1), rtol=1e-5 if dtype == np.float32 else 1e-12)
    assert g.A.nnz == (ref > 0).sum()  # no stored zeros
    if weight == "binary":
        assert set(np.unique(A)) <= {0.0, 1.0}


@pytest.mark.parametrize("t", [0.05, 1.0, 7.5])
def test_knn_heat_weights_with_given_bandwidth(t):
    X = data((25, 4), 3)
    g = knn_graph(X, n_neighbors=4, weight="heat", heat_t=t)
    E = brute_knn(X, 4) > 0
    expected = np.where(E, np.exp(-sq_dists(X) / t), 0.0)
    np.testing.assert_allclose(g.A.toarray(), expected, rtol=1e-12, atol=1e-300)


def test_knn_graph_clips_neighbors_to_n_minus_one():
    X = data((4, 3), 0)
    g = knn_graph(X, n_neighbors=10)
    np.testing.assert_array_equal(g.A.toarray(), 1 - np.eye(4))
    with pytest.raises(ValueError, match="at least 2 samples, got 1"):
        knn_graph(X[:1])


@pytest.mark.parametrize("sigma", [0.3, 1.0, 4.0])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_rbf_graph_matches_definition(sigma, dtype):
    X = data((20, 3), 1, dtype)
    g = rbf_graph(X, sigma=sigma)
    assert g.is_dense and g.A.dtype == dtype
    expected = np.exp(-sq_dists(X) / sigma**2)
    np.testing.assert_allclose(g.A, expected, rtol=1e-5 if dtype == np.float32 else 1e-10)
    np.testing.assert_allclose(g.degree, expected.sum(1), rtol=1e-5 if dtype == np.float32
                               else 1e-10)
    np.testing.assert_array_equal(g.A, g.A.T)


@pytest.mark.parametrize("kind", ["knn-binary", "knn-heat", "rbf"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_graph_quadratic_and_matmul_match_dense(kind, dtype):
    X = data((35, 6), 4, dtype)
    g = build_graph(X, "rbf", sigma=1.0) if kind == "rbf" else \
        build_graph(X, "knn", n_neighbors=5, weight=kind.split("-")[1])
    W = data((35, 3), 5, dtype)
    A = g.A.toarray() if sp.issparse(g.A) else g.A
    W64 = W.astype(np.float64)
    expected = np.trace(W64.T @ dense_laplacian(A) @ W64)
    rtol = 1e-5 if dtype == np.float32 else 1e-12
    assert g.quadratic(W) == pytest.approx(expected, rel=rtol)
    assert g.quadratic(W, g.matmul(W)) == pytest.approx(expected, rel=rtol)
    AW = g.matmul(W)
    assert AW.dtype == dtype and isinstance(AW, np.ndarray)
    np.testing.assert_allclose(AW, A.astype(np.float64) @ W64, rtol=rtol)
    # tr(W^T L W) = 1/2 sum_ij A_ij ||w_i - w_j||^2 >= 0, and 0 for constant rows.
    half = 0.5 * (A * sq_dists(W64)).sum()
    assert g.quadratic(W) == pytest.approx(half, rel=max(rtol, 1e-10))
    tiny = 10 * np.finfo(dtype).eps * float(A.sum()) * 3
    assert abs(g.quadratic(np.ones((35, 3), dtype))) < tiny


def test_build_graph_dispatch():
    X = data((15, 3), 0)
    assert not build_graph(X, "knn").is_dense
    assert build_graph(X, "RBF").is_dense
    with pytest.raises(ValueError, match="Unknown graph 'grid'"):
        build_graph(X, "grid")


def test_knn_heat_keeps_edges_between_duplicate_samples():
    X = np.array([[0.0, 0.0], [0.0, 0.0], [1.0, 0.0], [3.0, 1.0], [4.0, 2.0]])
    binary = knn_graph(X, n_neighbors=1, weight="binary").A.toarray()
    heat = knn_graph(X, n_neighbors=1, weight="heat").A.toarray()
    np.testing.assert_array_equal(heat > 0, binary > 0)
    assert heat[0, 1] == 1.0  # exp(-0 / t)


@pytest.mark.parametrize("make", [lambda X: knn_graph(X, n_neighbors=1, weight="heat"),
                                  lambda X: rbf_graph(X, sigma=2.0)], ids=["knn-heat", "rbf"])
def test_graph_weights_of_integer_data(make):
    Xi = np.array([[0, 1], [1, 3], [3, 1], [5, 2]])
    g_int, g_float = make(Xi), make(Xi.astype(np.float64))
    A_int = g_int.A.toarray() if sp.issparse(g_int.A) else g_int.A
    A_float = g_float.A.toarray() if sp.issparse(g_float.A) else g_float.A
    np.testing.assert_allclose(A_int, A_float)


# -- 1. GNMF monotone objective --------------------------------------------------------------

GNMF_CASES = [
    pytest.param(dict(loss="frobenius", graph="knn", weight="binary"), id="frob-knn-binary"),
    pytest.param(dict(loss="frobenius", graph="knn", weight="heat"), id="frob-knn-heat"),
    pytest.param(dict(loss="frobenius", graph="rbf", sigma=1.0), id="frob-rbf"),
    pytest.param(dict(loss="kl", kl_update="mm", graph="knn", weight="binary"), id="kl-mm-knn"),
    pytest.param(dict(loss="kl", kl_update="mm", graph="knn", weight="heat"), id="kl-mm-heat"),
    pytest.param(dict(loss="kl", kl_update="mm", graph="rbf", sigma=1.0), id="kl-mm-rbf"),
]


@pytest.mark.parametrize("case", GNMF_CASES)
@pytest.mark.parametrize("n, m, k, lam", [(30, 12, 3, 1.0), (20, 40, 4, 100.0),
                                          (45, 6, 2, 10.0)])
@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_gnmf_objective_never_increases(case, n, m, k, lam, seed, dtype):
    X = data((n, m), seed, dtype)
    est = GNMF(k, lam=lam, max_iter=100, tol=0, random_state=seed, **case).fit(X)
    obj = est.objective_history_
    assert obj.shape == (101,) and np.isfinite(obj).all()
    slack = 1e-10 * obj[:-1] + 1e-13 * obj[0] if dtype == np.float64 else 1e-5 * obj[0]
    assert np.all(np.diff(obj) <= slack), np.diff(obj).max()
    assert obj[-1] < obj[0]


@pytest.mark.parametrize("case", GNMF_CASES)
@pytest.mark.parametrize("max_iter", [0, 1, 40])
def test_gnmf_objective_matches_direct_computation(case, max_iter):
    X = data((30, 10), 2)
    lam = 5.0
    W0, H0 = custom_start(30, 10, 3)
    est = GNMF(3, lam=lam, init="custom", max_iter=max_iter, tol=0, **case)
    W = est.fit_transform(X, W=W0, H=H0)
    if case.get("graph") == "rbf":
        A = np.exp(-sq_dists(X) / case["sigma"] ** 2)
    else:
        A = brute_knn(X, 5, case["weight"])
    loss = case["loss"]
    obj = est.objective_history_
    assert obj[0] == pytest.approx(gnmf_objective(X, W0, H0, A, lam, loss), rel=1e-10)
    assert obj[-1] == pytest.approx(gnmf_objective(X, W, est.components_, A, lam, loss),
                                    rel=1e-10)
    # reconstruction_err_ is the data term only.
    data_term = gnmf_objective(X, W, est.components_, A, 0.0, loss)
    expected = np.sqrt(data_term if loss == "frobenius" else 2 * data_term)
    assert est.reconstruction_err_ == pytest.approx(expected, rel=1e-10)


@pytest.mark.parametrize("graph", ["knn", "rbf"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_kl_split_update_runs_and_decreases(graph, seed):
    X = data((30, 15), seed)
    est = GNMF(3, lam=10.0, loss="kl", kl_update="split", graph=graph, sigma=1.0,
               max_iter=150, tol=0, random_state=seed)
    W = est.fit_transform(X)
    obj = est.objective_history_
    assert np.isfinite(W).all() and np.isfinite(est.components_).all()
    assert (W >= 0).all() and (est.components_ >= 0).all()
    assert np.isfinite(obj).all() and obj[-1] < 0.7 * obj[0]


# -- 2. agreement with dense references ------------------------------------------------------

@pytest.mark.parametrize("graph, weight", [("knn", "binary"), ("knn", "heat"), ("rbf", None)])
@pytest.mark.parametrize("lam", [0.5, 100.0])
def test_gnmf_frobenius_matches_cai_dense(graph, weight, lam):
    X = data((25, 14), 6)
    W0, H0 = custom_start(25, 14, 3, 7)
    A = np.exp(-sq_dists(X) / 1.0) if graph == "rbf" else brute_knn(X, 5, weight)
    est = GNMF(3, lam=lam, graph=graph, weight=weight or "binary", sigma=1.0, init="custom",
               max_iter=60, tol=0)
    W = est.fit_transform(X, W=W0, H=H0)
    W_ref, H_ref = cai_dense(X, W0, H0, A, lam, 60)
    np.testing.assert_allclose(W, W_ref, rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(est.components_, H_ref, rtol=1e-8, atol=1e-12)


@pytest.mark.parametrize("update", ["mm", "split"])
@pytest.mark.parametrize("graph", ["knn", "rbf"])
def test_gnmf_kl_matches_dense_formula(update, graph):
    X = data((25, 14), 8)
    W0, H0 = custom_start(25, 14, 3, 9)
    A = np.exp(-sq_dists(X) / 1.0) if graph == "rbf" else brute_knn(X, 5)
    est = GNMF(3, lam=3.0, loss="kl", kl_update=update, graph=graph, sigma=1.0,
               init="custom", max_iter=40, tol=0)
    W = est.fit_transform(X, W=W0, H=H0)
    W_ref, H_ref = gnmf_kl_dense(X, W0, H0, A, 3.0, 40, update)
    np.testing.assert_allclose(W, W_ref, rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(est.components_, H_ref, rtol=1e-8, atol=1e-12)


def test_kl_mm_w_step_never_increases_objective():
    # One MM step on W (H fixed) never increases the objective, from many random starts,
    # including large lam where the graph term dominates.
    X = data((20, 8), 1)
    A = brute_knn(X, 4)
    for seed in range(10):
        W0, H0 = custom_start(20, 8, 3, seed)
        for lam in (0.1, 10.0, 1e3):
            W1, _ = gnmf_kl_dense(X, W0, H0, A, lam, 1, "mm")  # also moves H; check W alone:
            R = X / np.maximum(W0 @ H0, EPS32)
            a = np.ones_like(X) @ H0.T
            C = W0 * (R @ H0.T) + 2 * lam * W0 * (A @ W0)
            W_mm = 2 * C / guard(a + np.sqrt(a**2 + 8 * lam * A.sum(1)[:, None] * C))
            f0 = gnmf_objective(X, W0, H0, A, lam, "kl")
            f1 = gnmf_objective(X, W_mm, H0, A, lam, "kl")
            assert f1 <= f0 * (1 + 1e-12)
            est = GNMF(3, lam=lam, loss="kl", kl_update="mm", n_neighbors=4, init="custom",
                       max_iter=1, tol=0)
            W = est.fit_transform(X, W=W0, H=H0)
            np.testing.assert_allclose(W, W1, rtol=1e-9)


# -- lam = 0 is NMF; the kNN graph stays sparse ----------------------------------------------

@pytest.mark.parametrize("loss", ["frobenius", "kl"])
@pytest.mark.parametrize("graph", ["knn", "rbf"])
@pytest.mark.parametrize("init", ["random", "nndsvda"])
def test_lam_zero_equals_nmf_exactly(loss, graph, init):
    X = data((25, 10), 3)
    g = GNMF(3, lam=0, loss=loss, graph=graph, init=init, max_iter=30, random_state=7)
    n = NMF(3, loss=loss, init=init, max_iter=30, random_state=7)
    np.testing.assert_array_equal(g.fit_transform(X), n.fit_transform(X))
    np.testing.assert_array_equal(g.components_, n.components_)
    np.testing.assert_array_equal(g.objective_history_, n.objective_history_)
    assert g.n_iter_ == n.n_iter_


def test_positive_lam_changes_the_result():
    X = data((25, 10), 3)
    a = GNMF(3, lam=0.0, max_iter=30, random_state=0).fit(X)
    b = GNMF(3, lam=1.0, max_iter=30, random_state=0).fit(X)
    assert not np.allclose(a.components_, b.components_)


@pytest.mark.parametrize("loss", ["frobenius", "kl"])
@pytest.mark.parametrize("weight", ["binary", "heat"])
def test_knn_gnmf_never_builds_dense_n_by_n(loss, weight):
    n = 2000
    X = data((n, 6), 0)
    g = GNMF(2, lam=1.0, weight=weight)._graph_for(X)
    assert sp.issparse(g.A) and g.A.nnz <= 2 * 5 * n
    dense_bytes = n * n * 8
    tracemalloc.start()
    try:
        GNMF(2, lam=1.0, loss=loss, weight=weight, max_iter=2, random_state=0).fit(X)
        knn_peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.reset_peak()
        GNMF(2, lam=1.0, loss=loss, graph="rbf", max_iter=1, random_state=0).fit(X)
        rbf_peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert rbf_peak >= dense_bytes  # the measurement sees an n x n array when there is one
    assert knn_peak < dense_bytes / 8


# -- 4. planted problem with a small graph weight ----------------------------------------------

@pytest.mark.parametrize("loss, max_rel_err", [("frobenius", 3e-3), ("kl", 1e-3)])
@pytest.mark.parametrize("seed", [0, 1])
def test_gnmf_small_lam_recovers_planted_factors(loss, max_rel_err, seed):
    rng = np.random.default_rng(seed)
    H_true = np.zeros((3, 30))
    for j, cols in enumerate(np.array_split(rng.permutation(30), 3)):
        H_true[j, cols] = rng.uniform(0.5, 1.5, len(cols))
    W_true = rng.uniform(0, 1, (60, 3))
    W_true[rng.random((60, 3)) < 0.3] = 0
    W_true[np.arange(3), np.arange(3)] = 1.0
    X = W_true @ H_true
    est = GNMF(3, lam=1e-3, loss=loss, init="nndsvda", max_iter=1000, tol=0)
    W = est.fit_transform(X)
    assert np.linalg.norm(X - W @ est.components_) / np.linalg.norm(X) < max_rel_err
    for A, B in [(est.components_, H_true), (W.T, W_true.T)]:
        A = A / np.linalg.norm(A, axis=1, keepdims=True)
        B = B / np.linalg.norm(B, axis=1, keepdims=True)
        C = A @ B.T
        r, c = linear_sum_assignment(-C)
        assert C[r, c].min() > 0.999


# -- estimator behaviour ------------------------------------------------------------------------

@pytest.mark.parametrize("loss", ["frobenius", "kl"])
def test_gnmf_float32_and_determinism(loss):
    X = data((30, 12), 4)
    kw = dict(n_components=3, lam=2.0, loss=loss, max_iter=40, tol=0, random_state=1)
    a, b, c = GNMF(**kw), GNMF(**kw), GNMF(**{**kw, "random_state": 2})
    Wa, Wb, Wc = a.fit_transform(X), b.fit_transform(X), c.fit_transform(X)
    np.testing.assert_array_equal(Wa, Wb)
    assert not np.array_equal(Wa, Wc)
    e32 = GNMF(**kw)
    W32 = e32.fit_transform(X.astype(np.float32))
    assert W32.dtype == np.float32 and e32.components_.dtype == np.float32
    np.testing.assert_allclose(W32, Wa, rtol=2e-3, atol=1e-5)


@pytest.mark.parametrize("loss", ["frobenius", "kl"])
def test_gnmf_normalize_keeps_product(loss):
    X = data((25, 10), 5)
    kw = dict(n_components=3, lam=5.0, loss=loss, max_iter=30, tol=0, random_state=0)
    plain, norm = GNMF(**kw), GNMF(normalize=True, **kw)
    Wp, Wn = plain.fit_transform(X), norm.fit_transform(X)
    np.testing.assert_array_equal(norm.components_.max(axis=1), 1.0)
    np.testing.assert_allclose(Wn @ norm.components_, Wp @ plain.components_, rtol=1e-12)


def test_gnmf_transform_and_api():
    X = data((30, 8), 0)
    est = GNMF(3, lam=2.0, n_neighbors=3, weight="heat", max_iter=50, random_state=0)
    W = est.fit_transform(X)
    H = est.components_.copy()
    Wt = est.transform(X)
    np.testing.assert_array_equal(est.components_, H)
    assert Wt.shape == W.shape and (Wt >= 0).all() and np.isfinite(Wt).all()
    assert np.linalg.norm(X - Wt @ H) <= 1.1 * np.linalg.norm(X - W @ H)
    with pytest.raises(ValueError, match="X has 7 features, but GNMF is expecting 8 features"):
        est.transform(X[:, :7])
    params = est.get_params()
    assert params["lam"] == 2.0 and params["n_neighbors"] == 3 and params["weight"] == "heat"
    c = clone(est)
    assert c.get_params() == params
    np.testing.assert_array_equal(c.fit_transform(X), W)


def test_gnmf_transform_single_sample():
    X = data((30, 8), 0)
    est = GNMF(3, lam=2.0, max_iter=20, random_state=0).fit(X)
    W1 = est.transform(X[:1])
    assert W1.shape == (1, 3) and (W1 >= 0).all()


def test_gnmf_needs_two_samples():
    with pytest.raises(ValueError, match="at least 2 samples"):
        GNMF(1, lam=1.0).fit(np.ones((1, 4)))
    # ...but not without a graph.
    assert GNMF(1, lam=0.0, max_iter=5).fit(np.ones((1, 4))).components_.shape == (1, 4)


def test_kl_update_is_case_insensitive():
    X = data((20, 8), 0)

    def fit(update):
        return GNMF(2, lam=5.0, loss="kl", kl_update=update, max_iter=20, tol=0,
                    random_state=0).fit(X).components_

    assert not np.array_equal(fit("split"), fit("mm"))
    np.testing.assert_array_equal(fit("SPLIT"), fit("split"))


def test_rbf_graph_drops_only_negligible_weights():
    """Well-separated data: the RBF graph is stored sparse, and GNMF with it matches GNMF with
    the exact dense affinity to rounding."""
    import scipy.sparse as sp_

    from metanmf_lab.core._graph import Graph, rbf_graph
    from metanmf_lab.core._solvers import solve_mu

    rng = np.random.default_rng(0)
    X = np.vstack([2 * rng.random((20, 30)) + 4 * c for c in range(3)])
    X[1] = X[0] + 1e-3  # one close pair keeps a real edge
    g = rbf_graph(X, sigma=0.5)
    assert sp_.issparse(g.A) and g.A.nnz < X.shape[0] ** 2 / 4
    assert g.A[0, 1] > 0.9
    D2 = ((X[:, None, :] - X[None, :, :]) ** 2).sum(-1)
    A = np.exp(-D2 / 0.25)
    exact = Graph(A, A.sum(1))
    W0, H0 = rng.random((60, 3)), rng.random((3, 30))
    for loss in ("frobenius", "kl"):
        a = solve_mu(X, W0.copy(), H0.copy(), loss=loss, max_iter=50, graph=g, lam=0.3,
                     kl_update="split")
        b = solve_mu(X, W0.copy(), H0.copy(), loss=loss, max_iter=50, graph=exact, lam=0.3,
                     kl_update="split")
        np.testing.assert_allclose(a.W, b.W, rtol=1e-10)
        np.testing.assert_allclose(a.H, b.H, rtol=1e-10)


@pytest.mark.parametrize("graph", [None, "knn", "rbf"])
@pytest.mark.parametrize("kl_update", ["mm", "split"])
@pytest.mark.parametrize("stopping, tol, max_iter", [("objective", 0.0, 25), ("objective", 0.0, 0),
                                                     ("objective", 1e-3, 200),
                                                     ("factors", 0.2, 200)])
def test_kl_without_history_gives_the_same_factors_and_final_objective(graph, kl_update,
                                                                       stopping, tol, max_iter):
    """Meta-learning's base calls skip the per-iteration KL objective (a log per entry)."""
    from metanmf_lab.core._solvers import solve_mu

    rng = np.random.default_rng(5)
    X = rng.random((40, 15)) * (rng.random((40, 15)) > 0.3)  # zeros, as in images
    G = None if graph is None else build_graph(X, graph=graph, n_neighbors=5, sigma=0.5)
    W0, H0 = rng.random((40, 4)) + 0.1, rng.random((4, 15)) + 0.1
    kw = dict(loss="kl", max_iter=max_iter, tol=tol, stopping=stopping, graph=G,
              lam=0.0 if G is None else 0.3, kl_update=kl_update)
    full = solve_mu(X, W0.copy(), H0.copy(), **kw)
    lean = solve_mu(X, W0.copy(), H0.copy(), history=False, **kw)
    np.testing.assert_array_equal(lean.W, full.W)
    np.testing.assert_array_equal(lean.H, full.H)
    assert lean.n_iter == full.n_iter and lean.loss == full.loss
    assert lean.objective[-1] == full.objective[-1]
    needs_every = stopping == "objective" and tol > 0
    assert len(lean.objective) == (len(full.objective) if needs_every else 1)
    if stopping == "factors":
        assert 0 < full.n_iter < max_iter  # the early stop was exercised
