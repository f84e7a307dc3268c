"""Multiplicative-update (MU) solvers for NMF and graph-regularised NMF.

Pure functions on arrays: no validation (the estimators validate), no I/O. They update the
factors ``W`` (n_samples, k) and ``H`` (k, n_features) in place and return
:class:`MUResult`. Each iteration updates the coefficients ``W`` first, then the components
``H`` -- in the thesis' orientation that is "H first, then W", the order of Lee & Seung and
of the authors' reference code.

Frobenius (Lee & Seung 2001; thesis eqs. 2.32-2.33, transposed)::

    W <- W * (X H^T + lam A W) / (W (H H^T) + lam D W)
    H <- H * (W^T X) / ((W^T W) H)

Kullback-Leibler, with R = X / (W H)::

    W <- W * (R H^T) / (1 H^T)          [+ graph term, see below]
    H <- H * (W^T R) / (W^T 1)

For KL with a graph (GNMF), two W updates are offered. ``kl_update="mm"`` is the exact
minimiser of a majorising function built from Jensen's inequality for the KL term, the
identity for the degree term and ``z >= 1 + log z`` for the affinity term (the bound Cai et
al. use for their Frobenius proof). It is an element-wise closed form, so the objective
never increases and no linear system is solved::

    C = W * (R H^T) + 2 lam W * (A W)
    W <- 2 C / (a + sqrt(a^2 + 8 lam d C)),   a = 1 H^T (row sums of H), d = degrees

``kl_update="split"`` is the heuristic obtained by splitting the gradient into positive and
negative parts, ``W <- W * (R H^T + 2 lam A W) / (1 H^T + 2 lam D W)``, the kind of update
the authors' reference code uses; it is not guaranteed to be monotone.

Denominators that are exactly zero are replaced by ``EPS`` (scikit-learn's rule), which keeps
the updates scale-equivariant; zero rows and columns of X give zero factors, never NaN.

Speed: the two products with X (``X H^T`` and ``W^T X``) are the only O(n m k) work of a
Frobenius iteration; everything else uses the k x k Gram matrices ``H H^T`` and ``W^T W``,
row/column sums instead of products with matrices of ones, and preallocated buffers. The
Frobenius objective is obtained from the same products,
``||X||^2 - 2 <W^T X, H> + <W^T W, H H^T>``, at O(k m + k^2) extra cost; when the fit is so
close that this difference cancels (below ``10 sqrt(eps) ||X||^2``, which happens in float32 on
nearly exact data), it is recomputed from the residual.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._losses import EPS


@dataclass
class MUResult:
    """What a solver run returns."""

    W: np.ndarray
    H: np.ndarray
    n_iter: int
    objective: np.ndarray
    """Objective after 0, 1, ..., n_iter iterations (float64; data term + graph term)."""


def _f64dot(a, b):
    return float(np.vdot(a.astype(np.float64, copy=False), b.astype(np.float64, copy=False)))


def _guard(denom):
    """Replace exact zeros of a (non-negative) denominator by EPS, in place."""
    np.copyto(denom, EPS, where=denom == 0)
    return denom


def _converged(stopping, tol, obj, W, H, W_prev, H_prev):
    if tol <= 0:
        return False
    if stopping == "objective":
        prev, cur = obj[-2], obj[-1]
        return (prev - cur) <= tol * max(abs(prev), np.finfo(np.float64).tiny)
    # "factors": the reference code's rule, both factor changes below tol (Frobenius norms).
    return bool(np.linalg.norm(W - W_prev) < tol and np.linalg.norm(H - H_prev) < tol)


def normalize_components(W, H):
    """Rescale every component (row of H) to a maximum of 1, and W inversely, in place.

    This is the reference code's column max-normalisation of the basis (its W = our H^T).
    The product W H is unchanged. All-zero components are left alone.
    """
    s = H.max(axis=1)
    s[s <= 0] = 1.0
    H /= s[:, None]
    W *= s[None, :]
    return W, H


def mu_frobenius(X, W, H, *, max_iter, tol=0.0, stopping="objective", graph=None, lam=0.0,
                 update_W=True, update_H=True, normX2=None):
    """Frobenius MU, optionally graph-regularised on W. Updates W and H in place."""
    use_graph = graph is not None and lam > 0
    if normX2 is None:
        normX2 = _f64dot(X, X)
    n, k = W.shape
    numer_W = np.empty_like(W)
    denom_W = np.empty_like(W)
    denom_H = np.empty_like(H)
    HHt = H @ H.T
    AW = graph.matmul(W) if use_graph else None
    deg = graph.degree[:, None] if use_graph else None

    # The Gram form cancels when the fit is nearly exact; below this fraction of ||X||^2 its
    # rounding error (~ eps * ||X||^2) is no longer negligible and the residual is used instead.
    direct_below = normX2 * 10 * np.sqrt(np.finfo(X.dtype).eps)

    def objective(WtX, WtW, HHt, AW):
        # WtX = W^T X and WtW = W^T W for the current W; HHt for the current H.
        if WtX is None:
            WtX, WtW = W.T @ X, W.T @ W
        val = normX2 - 2.0 * _f64dot(WtX, H) + _f64dot(WtW, HHt)
        if val < direct_below:
            R = X - W @ H
            val = _f64dot(R, R)
        if use_graph:
            val += lam * graph.quadratic(W, AW)
        return max(val, 0.0)

    obj = [objective(None, None, HHt, AW)]
    W_prev = H_prev = None
    it = 0
    for it in range(1, max_iter + 1):
        if stopping == "factors" and tol > 0:
            W_prev, H_prev = W.copy(), H.copy()
        if update_W:
            np.matmul(X, H.T, out=numer_W)
            np.matmul(W, HHt, out=denom_W)
            if use_graph:
                numer_W += lam * AW
                denom_W += lam * deg * W
            numer_W /= _guard(denom_W)
            W *= numer_W
            if use_graph:
                AW = graph.matmul(W)
        WtX = W.T @ X
        WtW = W.T @ W
        if update_H:
            np.matmul(WtW, H, out=denom_H)
            H *= WtX / _guard(denom_H)
            HHt = H @ H.T
        obj.append(objective(WtX, WtW, HHt, AW))
        if _converged(stopping, tol, obj, W, H, W_prev, H_prev):
            break
    return MUResult(W, H, it, np.asarray(obj))


def mu_kl(X, W, H, *, max_iter, tol=0.0, stopping="objective", graph=None, lam=0.0,
          kl_update="mm", update_W=True, update_H=True, xlogx=None):
    """KL MU, optionally graph-regularised on W. Updates W and H in place."""
    from scipy.special import xlogy

    use_graph = graph is not None and lam > 0
    if xlogx is None:
        xlogx = float(xlogy(X, X).sum(dtype=np.float64))
    sumX = float(X.sum(dtype=np.float64))
    WH = np.empty_like(X)
    AW = graph.matmul(W) if use_graph else None
    deg = graph.degree[:, None] if use_graph else None

    def ratio():
        # WH <- X / max(W H, eps), in place; return the objective at the current (W, H).
        np.matmul(W, H, out=WH)
        model_sum = float(WH.sum(dtype=np.float64))
        np.maximum(WH, EPS, out=WH)
        val = xlogx - float(xlogy(X, WH).sum(dtype=np.float64)) - sumX + model_sum
        if use_graph:
            val += lam * graph.quadratic(W, AW)
        np.divide(X, WH, out=WH)
        return max(val, 0.0)

    obj = [ratio()]
    W_prev = H_prev = None
    it = 0
    for it in range(1, max_iter + 1):
        if stopping == "factors" and tol > 0:
            W_prev, H_prev = W.copy(), H.copy()
        if update_W:
            RHt = WH @ H.T
            a = _guard(H.sum(axis=1)[None, :])
            if not use_graph:
                RHt /= a
                W *= RHt
            elif kl_update == "split":
                W *= (RHt + 2 * lam * AW) / _guard(a + 2 * lam * deg * W)
            else:  # majorise-minimise closed form (monotone)
                C = W * RHt + 2 * lam * W * AW
                W[...] = 2 * C / _guard(a + np.sqrt(a * a + 8 * lam * deg * C))
            if use_graph:
                AW = graph.matmul(W)
            np.matmul(W, H, out=WH)
            np.maximum(WH, EPS, out=WH)
            np.divide(X, WH, out=WH)
        if update_H:
            WtR = W.T @ WH
            WtR /= _guard(W.sum(axis=0)[:, None])
            H *= WtR
        obj.append(ratio())
        if _converged(stopping, tol, obj, W, H, W_prev, H_prev):
            break
    return MUResult(W, H, it, np.asarray(obj))


def solve_mu(X, W, H, *, loss="frobenius", max_iter=200, tol=0.0, stopping="objective",
             graph=None, lam=0.0, kl_update="mm", update_W=True, update_H=True,
             normalize=False):
    """Run multiplicative updates on ``X ~ W H`` from the given factors (updated in place).

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features), validated, non-negative
    W : ndarray of shape (n_samples, n_components)
    H : ndarray of shape (n_components, n_features)
    loss : {"frobenius", "kl"}
    max_iter : int
        Maximum number of iterations (one iteration updates W, then H).
    tol : float
        Stopping tolerance; 0 runs exactly ``max_iter`` iterations.
    stopping : {"objective", "factors"}
        ``"objective"``: stop when the relative decrease of the objective falls to ``tol`` or
        below. ``"factors"``: the reference code's rule, stop when both ``||W - W_prev||_F``
        and ``||H - H_prev||_F`` fall below ``tol``.
    graph : Graph or None
        Affinity graph over the samples (rows of X); with ``lam > 0`` this is GNMF.
    lam : float
        Graph-regularisation weight.
    kl_update : {"mm", "split"}
        W update for KL with a graph (see module docstring).
    update_W, update_H : bool
        Whether each factor is updated (``transform`` keeps H fixed).
    normalize : bool
        Rescale the components to a maximum of 1 at the end (reference code).

    Returns
    -------
    MUResult
    """
    common = dict(max_iter=max_iter, tol=tol, stopping=stopping, graph=graph, lam=lam,
                  update_W=update_W, update_H=update_H)
    if loss == "frobenius":
        res = mu_frobenius(X, W, H, **common)
    else:
        res = mu_kl(X, W, H, kl_update=kl_update, **common)
    if normalize:
        normalize_components(res.W, res.H)
    return res
