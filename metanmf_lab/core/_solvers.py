"""Multiplicative-update (MU) solvers for NMF and graph-regularised NMF.

Pure functions on arrays: no validation (the estimators validate), no I/O. They update the
factors ``W`` (n_samples, k) and ``H`` (k, n_features) in place and return
:class:`MUResult`. Each iteration updates the coefficients ``W`` first, then the components
``H`` -- in the thesis' orientation that is "H first, then W", the order of Lee & Seung and
of the authors' code.

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
the authors' code uses; it is not guaranteed to be monotone.

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
from scipy.special import xlogy

from ._graph import block_diagonal
from ._losses import EPS


@dataclass
class MUResult:
    """What a solver run returns."""

    W: np.ndarray
    H: np.ndarray
    n_iter: int
    objective: np.ndarray
    """Objective after 0, 1, ..., n_iter iterations (float64; data term + graph term)."""
    loss: float = float("nan")
    """Data-fit term alone (no graph term) at the returned factors."""


def _f64dot(a, b):
    return float(np.vdot(a.astype(np.float64, copy=False), b.astype(np.float64, copy=False)))


def squared_norm(X, block=4096):
    """``||X||_F^2`` accumulated in float64 without a float64 copy of all of X."""
    flat = X.reshape(-1)
    return float(sum(_f64dot(flat[i:i + block * 64], flat[i:i + block * 64])
                     for i in range(0, flat.size, block * 64)))


def _guard(denom):
    """Replace exact zeros of a (non-negative) denominator by EPS, in place."""
    np.copyto(denom, EPS, where=denom == 0)
    return denom


def _denominator(denom, add_eps):
    """The Frobenius updates' denominator rule, in place: ``add_eps == 0`` guards exact zeros
    (:func:`_guard`); ``add_eps > 0`` adds it to every entry, as the authors' code does (with
    float32's machine epsilon). The two differ only where a denominator is as small as
    ``add_eps``: when the coefficients' scale collapses (see ``MetaNMF.rescale_bases``)."""
    if add_eps:
        denom += add_eps
        return denom
    return _guard(denom)


def _check_add_eps(add_eps, loss):
    if add_eps and loss != "frobenius":
        raise ValueError(f"add_eps (the authors' '+eps' denominators) is implemented for the "
                         f"Frobenius loss only, got loss={loss!r}.")


class _Coef:
    """The coefficient matrix W, held in the layout whose products with X are fastest.

    With OpenBLAS, ``X H^T`` for a tall X (n >= 1000 samples) with many features
    (m >= 256) is much faster computed as ``(H X^T)^T`` in float64 (1.5-2x; the benchmark
    prints the ratio), but not in float32, nor for narrow or short X. In that case W is held
    transposed, as a C-contiguous (k, n) array (the thesis' H); otherwise as a C-contiguous
    (n, k) array. The rule depends only on dtype and shape, so results are deterministic.
    Every method returns arrays in the same layout as ``C``.
    """

    def __init__(self, W, n_features):
        n = W.shape[0]
        self.t = W.dtype == np.float64 and n >= 1000 and n_features >= 256
        self.C = np.ascontiguousarray(W.T if self.t else W)

    def xht(self, A, H, out):
        """``A H^T`` (n, k) in this layout, for A of shape (n, m): X or the KL ratio."""
        return np.matmul(H, A.T, out=out) if self.t else np.matmul(A, H.T, out=out)

    def times_gram(self, G, out):
        """``W G`` for a symmetric (k, k) matrix G (e.g. ``H H^T``)."""
        return np.matmul(G, self.C, out=out) if self.t else np.matmul(self.C, G, out=out)

    def wtx(self, A):
        """``W^T A`` (k, m) for A of shape (n, m)."""
        return self.C @ A if self.t else self.C.T @ A

    def wtw(self):
        return self.C @ self.C.T if self.t else self.C.T @ self.C

    def wh(self, H, out=None):
        return np.matmul(self.C.T if self.t else self.C, H, out=out)

    def per_component(self, v):
        """Broadcast a length-k vector over the samples."""
        return v[:, None] if self.t else v[None, :]

    def per_sample(self, v):
        """Broadcast a length-n vector over the components."""
        return v[None, :] if self.t else v[:, None]

    def component_sums(self):
        """Column sums of W (length k): ``W^T 1``."""
        return self.C.sum(axis=1 if self.t else 0)

    def graph_times(self, graph):
        """``A W`` in this layout."""
        return graph.matmul_t(self.C) if self.t else graph.matmul(self.C)

    def graph_quadratic(self, graph, AC):
        return graph.quadratic_t(self.C, AC) if self.t else graph.quadratic(self.C, AC)

    def write_to(self, W):
        W[...] = self.C.T if self.t else self.C
        return W


def _converged(stopping, tol, obj, Wt, H, Wt_prev, H_prev):
    if tol <= 0:
        return False
    if stopping == "objective":
        prev, cur = obj[-2], obj[-1]
        return (prev - cur) <= tol * max(abs(prev), np.finfo(np.float64).tiny)
    # "factors": the authors' code's rule, both factor changes below tol (Frobenius norms).
    return bool(np.linalg.norm(Wt - Wt_prev) < tol and np.linalg.norm(H - H_prev) < tol)


def normalize_components(W, H):
    """Rescale every component (row of H) to a maximum of 1, and W inversely, in place.

    This is the authors' code's column max-normalisation of the basis (its W = our H^T).
    The product W H is unchanged. All-zero components are left alone.
    """
    s = H.max(axis=1)
    s[s <= 0] = 1.0
    H /= s[:, None]
    W *= s[None, :]
    return W, H


def mu_frobenius(X, W, H, *, max_iter, tol=0.0, stopping="objective", graph=None, lam=0.0,
                 update_W=True, update_H=True, normX2=None, add_eps=0.0):
    """Frobenius MU, optionally graph-regularised on W. Updates W and H in place.
    ``add_eps``: see :func:`_denominator`."""
    use_graph = graph is not None and lam > 0
    if normX2 is None:
        normX2 = squared_norm(X)
    cw = _Coef(W, X.shape[1])
    C = cw.C
    numer = np.empty_like(C)
    denom = np.empty_like(C)
    denom_H = np.empty_like(H)
    HHt = H @ H.T
    AC = cw.graph_times(graph) if use_graph else None
    lam_deg = lam * cw.per_sample(graph.degree) if use_graph else None
    # The Gram form cancels when the fit is nearly exact; below this fraction of ||X||^2 its
    # rounding error (~ eps * ||X||^2) is no longer negligible and the residual is used instead.
    direct_below = normX2 * 10 * np.sqrt(np.finfo(X.dtype).eps)
    data = [0.0]

    def objective(WtX, WtW, HHt, AC):
        # WtX = W^T X and WtW = W^T W for the current W; HHt for the current H.
        if WtX is None:
            WtX, WtW = cw.wtx(X), cw.wtw()
        val = normX2 - 2.0 * _f64dot(WtX, H) + _f64dot(WtW, HHt)
        if val < direct_below:
            R = X - cw.wh(H)
            val = _f64dot(R, R)
        data[0] = val = max(val, 0.0)
        if use_graph:
            val += lam * cw.graph_quadratic(graph, AC)
        return val

    obj = [objective(None, None, HHt, AC)]
    C_prev = H_prev = None
    it = 0
    for it in range(1, max_iter + 1):
        if stopping == "factors" and tol > 0:
            C_prev, H_prev = C.copy(), H.copy()
        if update_W:
            cw.xht(X, H, numer)
            cw.times_gram(HHt, denom)
            if use_graph:
                numer += lam * AC
                denom += lam_deg * C
            np.divide(numer, _denominator(denom, add_eps), out=denom)
            C *= denom
            if use_graph:
                AC = cw.graph_times(graph)
        WtX = cw.wtx(X)
        WtW = cw.wtw()
        if update_H:
            np.matmul(WtW, H, out=denom_H)
            np.divide(WtX, _denominator(denom_H, add_eps), out=denom_H)
            H *= denom_H
            HHt = H @ H.T
        obj.append(objective(WtX, WtW, HHt, AC))
        if _converged(stopping, tol, obj, C, H, C_prev, H_prev):
            break
    cw.write_to(W)
    return MUResult(W, H, it, np.asarray(obj), data[0])


def mu_kl(X, W, H, *, max_iter, tol=0.0, stopping="objective", graph=None, lam=0.0,
          kl_update="mm", update_W=True, update_H=True, xlogx=None, history=True):
    """KL MU, optionally graph-regularised on W. Updates W and H in place.

    The KL objective costs a logarithm per entry of X, more than an update; with
    ``history=False`` it is evaluated only where it is needed: at the end, or every
    iteration when the objective stopping rule is on. The factors are the same, bit for bit."""
    use_graph = graph is not None and lam > 0
    need = history or (tol > 0 and stopping == "objective")
    if xlogx is None:
        xlogx = float(xlogy(X, X).sum(dtype=np.float64))
    sumX = float(X.sum(dtype=np.float64))
    cw = _Coef(W, X.shape[1])
    C = cw.C
    WH = np.empty_like(X)
    numer = np.empty_like(C)
    AC = cw.graph_times(graph) if use_graph else None
    deg = cw.per_sample(graph.degree) if use_graph else None
    data = [0.0]

    def model_ratio(with_objective):
        # WH <- X / max(W H, eps), in place; return the objective at the current (W, H).
        cw.wh(H, out=WH)
        val = None
        if with_objective:
            model_sum = float(WH.sum(dtype=np.float64))
            np.maximum(WH, EPS, out=WH)
            data[0] = val = max(xlogx - float(xlogy(X, WH).sum(dtype=np.float64)) - sumX
                                + model_sum, 0.0)
            if use_graph:
                val += lam * cw.graph_quadratic(graph, AC)
        else:
            np.maximum(WH, EPS, out=WH)
        np.divide(X, WH, out=WH)
        return val

    at_start = need or max_iter == 0
    first = model_ratio(at_start)
    obj = [first] if at_start else []
    C_prev = H_prev = None
    it = 0
    for it in range(1, max_iter + 1):
        if stopping == "factors" and tol > 0:
            C_prev, H_prev = C.copy(), H.copy()
        if update_W:
            RHt = cw.xht(WH, H, numer)                           # R H^T
            a = _guard(cw.per_component(H.sum(axis=1)))         # 1 H^T: row sums of H
            if not use_graph:
                RHt /= a
                C *= RHt
            elif kl_update == "split":
                C *= (RHt + 2 * lam * AC) / _guard(a + 2 * lam * deg * C)
            else:  # majorise-minimise closed form (monotone)
                Cm = C * RHt + 2 * lam * C * AC
                C[...] = 2 * Cm / _guard(a + np.sqrt(a * a + 8 * lam * deg * Cm))
            if use_graph:
                AC = cw.graph_times(graph)
            model_ratio(False)
        if update_H:
            WtR = cw.wtx(WH)
            WtR /= _guard(cw.component_sums()[:, None])
            H *= WtR
        record = need or it == max_iter
        val = model_ratio(record)
        if record:
            obj.append(val)
        if _converged(stopping, tol, obj, C, H, C_prev, H_prev):
            break
    if not need and it < max_iter:  # stopped early on the factors' change
        obj.append(model_ratio(True))
    cw.write_to(W)
    return MUResult(W, H, it, np.asarray(obj), data[0])


def mu_batched(Xs, Ws, Hs, *, loss="frobenius", max_iter, graph=None, lam=0.0,
               kl_update="mm", add_eps=0.0):
    """N independent factorisations of equal shape, updated together (no stopping rule).

    The meta-tasks of Meta-NMF are small and equally sized, so one stacked product per step
    replaces N separate ones: the per-call overhead, not the arithmetic, dominates at that
    size. The updates are exactly those of :func:`mu_frobenius` / :func:`mu_kl`.

    Parameters
    ----------
    Xs : ndarray of shape (N, n, m)
    Ws : ndarray of shape (N, n, k), updated in place
    Hs : ndarray of shape (N, k, m), updated in place
    loss : {"frobenius", "kl"}
    max_iter : int
    graph : Graph or None
        Block-diagonal graph over the N * n stacked samples (task i is rows i n .. (i+1) n).
    lam : float
    kl_update : {"mm", "split"}
    add_eps : float
        Frobenius only: see :func:`_denominator`.

    Returns
    -------
    objective : ndarray of shape (N,)
        Each task's objective (data term + graph term) at the returned factors.
    """
    _check_add_eps(add_eps, loss)
    N, n, k = Ws.shape
    use_graph = graph is not None and lam > 0
    HsT = Hs.transpose(0, 2, 1)

    def graph_times():
        return graph.matmul(Ws.reshape(N * n, k)).reshape(N, n, k)

    def graph_quad(AW):
        d = graph.degree.reshape(N, n, 1).astype(np.float64)
        W64 = Ws.astype(np.float64)
        return (d * W64 * W64).sum(axis=(1, 2)) - (W64 * AW).sum(axis=(1, 2))

    AW = graph_times() if use_graph else None
    deg = graph.degree.reshape(N, n, 1) if use_graph else None
    if loss == "frobenius":
        HHt = Hs @ HsT
        for _ in range(max_iter):
            numer = Xs @ HsT
            denom = Ws @ HHt
            if use_graph:
                numer += lam * AW
                denom += lam * deg * Ws
            np.divide(numer, _denominator(denom, add_eps), out=denom)
            Ws *= denom
            if use_graph:
                AW = graph_times()
            WtX = Ws.transpose(0, 2, 1) @ Xs
            WtW = Ws.transpose(0, 2, 1) @ Ws
            Hs *= WtX / _denominator(WtW @ Hs, add_eps)
            HHt = Hs @ HsT
        R = Xs - Ws @ Hs
        obj = np.einsum("ijk,ijk->i", R, R, dtype=np.float64)
    else:
        for _ in range(max_iter):
            R = Xs / np.maximum(Ws @ Hs, EPS)
            RHt = R @ HsT
            a = _guard(Hs.sum(axis=2)[:, None, :])
            if not use_graph:
                Ws *= RHt / a
            elif kl_update == "split":
                Ws *= (RHt + 2 * lam * AW) / _guard(a + 2 * lam * deg * Ws)
            else:
                Cm = Ws * RHt + 2 * lam * Ws * AW
                Ws[...] = 2 * Cm / _guard(a + np.sqrt(a * a + 8 * lam * deg * Cm))
            if use_graph:
                AW = graph_times()
            R = Xs / np.maximum(Ws @ Hs, EPS)
            Hs *= (Ws.transpose(0, 2, 1) @ R) / _guard(Ws.sum(axis=1)[:, :, None])
        WH = Ws @ Hs
        obj = (xlogy(Xs, Xs).sum(axis=(1, 2), dtype=np.float64)
               - xlogy(Xs, np.maximum(WH, EPS)).sum(axis=(1, 2), dtype=np.float64)
               - Xs.sum(axis=(1, 2), dtype=np.float64) + WH.sum(axis=(1, 2), dtype=np.float64))
    obj = np.maximum(obj, 0.0)
    if use_graph:
        obj = obj + lam * graph_quad(graph_times())
    return obj


def solve_mu(X, W, H, *, loss="frobenius", max_iter=200, tol=0.0, stopping="objective",
             graph=None, lam=0.0, kl_update="mm", update_W=True, update_H=True,
             normalize=False, history=True, add_eps=0.0):
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
        below. ``"factors"``: the authors' code's rule, stop when both ``||W - W_prev||_F``
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
        Rescale the components to a maximum of 1 at the end (the authors' code).
    history : bool
        Record the objective after every iteration. False (KL only; Frobenius records it
        anyway, at little cost): ``objective`` holds the final value alone, unless the
        objective stopping rule needs every one. The factors do not depend on it.
    add_eps : float
        0 (default): exact zeros of a denominator are replaced by a tiny EPS; > 0: added to
        every denominator, as the authors' code does. Frobenius only.

    Returns
    -------
    MUResult
    """
    _check_add_eps(add_eps, loss)
    common = dict(max_iter=max_iter, tol=tol, stopping=stopping, graph=graph, lam=lam,
                  update_W=update_W, update_H=update_H)
    if loss == "frobenius":
        res = mu_frobenius(X, W, H, add_eps=add_eps, **common)
    else:
        res = mu_kl(X, W, H, kl_update=kl_update, history=history, **common)
    if normalize:
        normalize_components(res.W, res.H)
    return res


# -- solver calls as values: one estimator's code, two engines ------------------------------
@dataclass
class MUCall:
    """One :func:`solve_mu` call, as a value. The estimators' fitting code *yields* these
    (``res = yield MUCall(...)``) instead of calling the solver, so that the same code runs
    one model at a time (:func:`run_steps`) or many models in lockstep, their compatible
    calls solved together (:mod:`metanmf_lab.core.engine`)."""

    X: np.ndarray
    W: np.ndarray
    H: np.ndarray
    options: dict
    """The keyword arguments of :func:`solve_mu` (loss, max_iter, tol, ..., add_eps)."""

    def solve(self):
        return solve_mu(self.X, self.W, self.H, **self.options)


@dataclass
class MUBatchCall:
    """One :func:`mu_batched` call (equally shaped meta-tasks), as a value (see
    :class:`MUCall`). ``graphs`` are the tasks' own graphs (None without a graph)."""

    Xs: np.ndarray
    Ws: np.ndarray
    Hs: np.ndarray
    graphs: list
    options: dict
    """The keyword arguments of :func:`mu_batched` but the graph (loss, max_iter, lam, ...)."""

    def solve(self):
        graph = None if self.graphs[0] is None else block_diagonal(self.graphs)
        return mu_batched(self.Xs, self.Ws, self.Hs, graph=graph, **self.options)


def run_steps(steps):
    """Drive a generator of solver calls (:class:`MUCall`, :class:`MUBatchCall`) one call at
    a time, the reference engine; return the generator's return value."""
    try:
        call = next(steps)
        while True:
            call = steps.send(call.solve())
    except StopIteration as done:
        return done.value


def mu_frobenius_blocks(Xs, Ws, Hs, blocks, *, max_iter, tol=0.0, stopping="objective",
                        graph=None, lam=0.0, add_eps=0.0):
    """Frobenius MU for many factorisations at once: G data matrices, each fitted at several
    ranks side by side, one pass over X per product.

    The factorisations of one data matrix ``Xs[g]`` are stacked along the rank axis: the
    columns ``a:b`` of ``Ws[g]`` and rows ``a:b`` of ``Hs[g]`` are one factorisation (a
    *unit*), for each ``(a, b)`` of ``blocks``. An iteration computes ``X H_all^T`` and
    ``W_all^T X`` once for all units (the O(n m K) work, which reads X once), then each unit's
    k x k Gram matrices and its own update, exactly the arithmetic of :func:`mu_frobenius`
    (the sums of the stacked products are ordered differently by BLAS, so results agree to
    rounding, not bit for bit). Units never mix: a unit's update reads only its own columns.

    Parameters
    ----------
    Xs : ndarray of shape (G, n, m)
    Ws : ndarray of shape (G, n, K), updated in place
    Hs : ndarray of shape (G, K, m), updated in place
    blocks : list of (a, b)
        The units' slices of the rank axis, covering ``0:K`` without overlap.
    max_iter, tol, stopping, lam, add_eps
        As in :func:`mu_frobenius`; the stopping rule is applied to each unit on its own
        (a unit that has stopped keeps its factors: its updates are multiplied by 1).
    graph : Graph or None
        Block-diagonal graph over the G * n stacked samples (group g is rows g n ..).

    Returns
    -------
    n_iter : ndarray of shape (G, len(blocks))
    objective : ndarray of shape (G, len(blocks))
        Each unit's objective (data term + graph term) at the returned factors (float64).
    loss : ndarray of shape (G, len(blocks))
        The data term alone.
    """
    G, n, m = Xs.shape
    K = Ws.shape[2]
    B = len(blocks)
    use_graph = graph is not None and lam > 0
    normX2 = np.array([squared_norm(X) for X in Xs])
    direct_below = normX2 * 10 * np.sqrt(np.finfo(Xs.dtype).eps)
    HsT = Hs.transpose(0, 2, 1)
    numer, denom, denom_H = np.empty_like(Ws), np.empty_like(Ws), np.empty_like(Hs)
    deg = graph.degree.reshape(G, n, 1) if use_graph else None

    def graph_times():
        return graph.matmul(Ws.reshape(G * n, K)).reshape(G, n, K)

    def h_grams():
        return [Hs[:, a:b] @ HsT[:, :, a:b] for a, b in blocks]

    def w_grams():
        return [Ws[:, :, a:b].transpose(0, 2, 1) @ Ws[:, :, a:b] for a, b in blocks]

    def objective(WtX, WtW, HHt, AW):
        """Per unit (G, B): data term + graph term, and the data term."""
        data = np.empty((G, B))
        total = np.empty((G, B))
        f64 = np.float64
        for j, (a, b) in enumerate(blocks):
            val = (normX2 - 2.0 * np.einsum("gkm,gkm->g", WtX[:, a:b], Hs[:, a:b], dtype=f64)
                   + np.einsum("gkl,gkl->g", WtW[j], HHt[j], dtype=f64))
            for g in np.flatnonzero(val < direct_below):  # nearly exact fit: the residual
                R = Xs[g] - Ws[g, :, a:b] @ Hs[g, a:b]
                val[g] = _f64dot(R, R)
            data[:, j] = val = np.maximum(val, 0.0)
            if use_graph:
                Wb = Ws[:, :, a:b]
                val = val + lam * (
                    np.einsum("gn,gnk,gnk->g", deg[:, :, 0], Wb, Wb, dtype=f64)
                    - np.einsum("gnk,gnk->g", Wb, AW[:, :, a:b], dtype=f64))
            total[:, j] = val
        return total, data

    track_obj = tol > 0 and stopping == "objective"
    track_factors = tol > 0 and stopping == "factors"
    active = np.ones((G, B), dtype=bool)
    n_iter = np.full((G, B), max_iter, dtype=np.int64)
    HHt = h_grams()
    AW = graph_times() if use_graph else None
    prev = objective(np.matmul(Ws.transpose(0, 2, 1), Xs), w_grams(), HHt, AW)[0] \
        if track_obj else None
    Ws_prev = Hs_prev = None

    def freeze(ratio_W, ratio_H):
        # a unit that has stopped is multiplied by 1 (exact): its factors stay as they are
        for g, j in zip(*np.nonzero(~active)):
            a, b = blocks[j]
            ratio_W[g, :, a:b] = 1
            ratio_H[g, a:b] = 1

    for it in range(1, max_iter + 1):
        if track_factors:
            Ws_prev, Hs_prev = Ws.copy(), Hs.copy()
        np.matmul(Xs, HsT, out=numer)                       # X H^T for every unit: X read once
        for (a, b), HHt_j in zip(blocks, HHt):
            denom[:, :, a:b] = Ws[:, :, a:b] @ HHt_j
        if use_graph:
            numer += lam * AW
            denom += lam * deg * Ws
        np.divide(numer, _denominator(denom, add_eps), out=denom)
        if not active.all():
            freeze(denom, denom_H)
        Ws *= denom
        if use_graph:
            AW = graph_times()
        WtX = np.matmul(Ws.transpose(0, 2, 1), Xs)           # W^T X for every unit
        WtW = w_grams()
        for (a, b), WtW_j in zip(blocks, WtW):
            denom_H[:, a:b] = WtW_j @ Hs[:, a:b]
        np.divide(WtX, _denominator(denom_H, add_eps), out=denom_H)
        if not active.all():
            freeze(denom, denom_H)
        Hs *= denom_H
        HHt = h_grams()
        if track_obj or track_factors:
            if track_obj:
                cur = objective(WtX, WtW, HHt, AW)[0]
                done = (prev - cur) <= tol * np.maximum(np.abs(prev), np.finfo(np.float64).tiny)
                prev = cur
            else:
                done = np.empty((G, B), dtype=bool)
                for j, (a, b) in enumerate(blocks):
                    dW = np.linalg.norm((Ws[:, :, a:b] - Ws_prev[:, :, a:b]).reshape(G, -1),
                                        axis=1)
                    dH = np.linalg.norm((Hs[:, a:b] - Hs_prev[:, a:b]).reshape(G, -1), axis=1)
                    done[:, j] = (dW < tol) & (dH < tol)
            stop = done & active
            n_iter[stop] = it
            active &= ~stop
            if not active.any():
                break
    AW = graph_times() if use_graph else None
    total, data = objective(np.matmul(Ws.transpose(0, 2, 1), Xs), w_grams(), h_grams(), AW)
    return n_iter, total, data
