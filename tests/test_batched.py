"""The batched solver used for Meta-NMF's meta-tasks equals N separate solver runs."""

import numpy as np
import pytest
from metanmf_lab.core._graph import block_diagonal, knn_graph, rbf_graph
from metanmf_lab.core._solvers import mu_batched, solve_mu


@pytest.mark.parametrize("loss,kl_update", [("frobenius", "mm"), ("kl", "mm"), ("kl", "split")])
@pytest.mark.parametrize("graph", [None, "knn", "rbf"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_batched_equals_separate_runs(loss, kl_update, graph, dtype):
    rng = np.random.default_rng(0)
    N, n, m, k = 4, 30, 12, 3
    Xs = rng.random((N, n, m)).astype(dtype)
    Ws = rng.random((N, n, k)).astype(dtype)
    Hs = rng.random((N, k, m)).astype(dtype)
    graphs = [None] * N
    if graph == "knn":
        graphs = [knn_graph(X, 4) for X in Xs]
    elif graph == "rbf":
        graphs = [rbf_graph(X, sigma=1.5) for X in Xs]
    lam = 0.0 if graph is None else 2.0
    sep = [solve_mu(Xs[i], Ws[i].copy(), Hs[i].copy(), loss=loss, max_iter=25, graph=graphs[i],
                    lam=lam, kl_update=kl_update) for i in range(N)]
    Wb, Hb = Ws.copy(), Hs.copy()
    obj = mu_batched(Xs, Wb, Hb, loss=loss, max_iter=25, lam=lam, kl_update=kl_update,
                     graph=None if graph is None else block_diagonal(graphs))
    rtol = 1e-9 if dtype == np.float64 else 2e-3
    for i, r in enumerate(sep):
        np.testing.assert_allclose(Wb[i], r.W, rtol=rtol, atol=1e-6 * r.W.max())
        np.testing.assert_allclose(Hb[i], r.H, rtol=rtol, atol=1e-6 * r.H.max())
        assert obj[i] == pytest.approx(r.objective[-1], rel=10 * rtol)
    assert obj.dtype == np.float64 and obj.shape == (N,)
