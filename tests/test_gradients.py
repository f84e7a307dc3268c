"""Analytic gradients of the objectives (metanmf_lab.core._losses): finite differences,
stationarity at an exact fit, the graph term's identities, and the multiplicative updates as
rescaled
gradient steps (thesis eqs. 2.28-2.33)."""

import numpy as np
import pytest
from metanmf_lab.core._graph import knn_graph, rbf_graph
from metanmf_lab.core._losses import (frobenius_gradients, graph_penalty, graph_penalty_gradient,
                                      kl_gradients, objective, objective_gradients)
from metanmf_lab.core._nmf import GNMF, NMF
from scipy.optimize import approx_fprime


def problem(n=12, m=7, k=3, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.random((n, m))
    W = rng.uniform(0.2, 1.0, (n, k))
    H = rng.uniform(0.2, 1.0, (k, m))
    return X, W, H


def numerical_gradients(f, W, H, step=1e-6):
    """Central differences of f(W, H) with respect to every entry of W and of H."""
    def grad(x, unflatten):
        return (approx_fprime(x, lambda v: f(*unflatten(v)), step)
                + approx_fprime(x, lambda v: f(*unflatten(v)), -step)) / 2

    gW = grad(W.ravel(), lambda v: (v.reshape(W.shape), H)).reshape(W.shape)
    gH = grad(H.ravel(), lambda v: (W, v.reshape(H.shape))).reshape(H.shape)
    return gW, gH


def rel_err(a, b):
    return np.linalg.norm(a - b) / np.linalg.norm(b)


@pytest.mark.parametrize("loss", ["frobenius", "kl"])
@pytest.mark.parametrize("graph", [None, "knn", "rbf"])
def test_gradients_match_finite_differences(loss, graph):
    X, W, H = problem()
    g = None if graph is None else (knn_graph(X, 3) if graph == "knn" else rbf_graph(X, 1.0))
    kw = dict(loss=loss, graph=g, lam=0.7)
    gW, gH = objective_gradients(X, W, H, **kw)
    nW, nH = numerical_gradients(lambda W_, H_: objective(X, W_, H_, **kw), W, H)
    assert gW.shape == W.shape and gH.shape == H.shape
    assert rel_err(gW, nW) < 1e-6 and rel_err(gH, nH) < 1e-6


def test_plain_gradients_are_the_objective_gradients_without_graph():
    X, W, H = problem(seed=1)
    for plain, loss in [(frobenius_gradients, "frobenius"), (kl_gradients, "kl")]:
        for a, b in zip(plain(X, W, H), objective_gradients(X, W, H, loss=loss)):
            np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("grads", [frobenius_gradients, kl_gradients])
def test_gradients_vanish_at_an_exact_fit(grads):
    _, W, H = problem(seed=2)
    for g in grads(W @ H, W, H):
        np.testing.assert_allclose(g, 0.0, atol=1e-12)


def test_graph_penalty_is_the_sum_over_edges():
    X, W, _ = problem(seed=3)
    g = knn_graph(X, 4, weight="heat")
    A = g.A.toarray()
    edges = 0.5 * sum(A[i, j] * np.sum((W[i] - W[j]) ** 2)
                      for i in range(len(W)) for j in range(len(W)))
    assert graph_penalty(W, g) == pytest.approx(edges, rel=1e-12)
    assert graph_penalty(W, g) == pytest.approx(g.quadratic(W), rel=1e-12)
    # Constant coefficients are not penalised, and the gradient there is zero.
    const = np.ones_like(W)
    assert graph_penalty(const, g) == pytest.approx(0.0, abs=1e-12)
    np.testing.assert_allclose(graph_penalty_gradient(const, g), 0.0, atol=1e-12)


@pytest.mark.parametrize("loss", ["frobenius", "kl"])
def test_objective_is_what_the_estimators_record(loss):
    X, W, H = problem(n=30, m=8, seed=4)
    g = knn_graph(X, 5)
    est = GNMF(3, lam=2.0, loss=loss, init="custom", max_iter=3, tol=0)
    W1 = est.fit_transform(X, W=W, H=H)
    assert est.objective_history_[0] == pytest.approx(
        objective(X, W, H, loss=loss, graph=g, lam=2.0), rel=1e-10)
    assert est.objective_history_[-1] == pytest.approx(
        objective(X, W1, est.components_, loss=loss, graph=g, lam=2.0), rel=1e-10)


def test_multiplicative_update_is_a_rescaled_gradient_step():
    """Thesis eqs. 2.28-2.33 in the package's orientation: W (coefficients) first, then H,
    each a gradient step with the element-wise step size factor / (2 * positive part)."""
    X, W, H = problem(seed=5)
    gW, _ = frobenius_gradients(X, W, H)
    W1 = W - W / (2 * W @ H @ H.T) * gW
    _, gH = frobenius_gradients(X, W1, H)
    H1 = H - H / (2 * W1.T @ W1 @ H) * gH
    est = NMF(3, init="custom", max_iter=1, tol=0)
    np.testing.assert_allclose(est.fit_transform(X, W=W, H=H), W1, rtol=1e-12)
    np.testing.assert_allclose(est.components_, H1, rtol=1e-12)


def test_kl_multiplicative_update_is_a_rescaled_gradient_step():
    X, W, H = problem(seed=6)
    gW, _ = kl_gradients(X, W, H)
    W1 = W - W / H.sum(axis=1)[None, :] * gW
    _, gH = kl_gradients(X, W1, H)
    H1 = H - H / W1.sum(axis=0)[:, None] * gH
    est = NMF(3, loss="kl", init="custom", max_iter=1, tol=0)
    np.testing.assert_allclose(est.fit_transform(X, W=W, H=H), W1, rtol=1e-12)
    np.testing.assert_allclose(est.components_, H1, rtol=1e-12)


def test_unknown_loss_is_rejected():
    X, W, H = problem()
    with pytest.raises(ValueError, match="loss must be one of"):
        objective_gradients(X, W, H, loss="itakura-saito")
    with pytest.raises(ValueError, match="loss must be one of"):
        objective(X, W, H, loss="l1")
