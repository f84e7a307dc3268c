"""Penalised NMF with per-row penalty weights: fixed (MU-P) or learned bi-level (AltBi;
Selicato's poster, Del Buono et al. 2023).

The problem of Selicato's AltBi (Del Buono et al. 2023), in our orientation -- which here is
also the source's: its X (n x m) = W (n x r) H (r x m) with one penalty weight per *row* of W,
and our X (n_samples, n_features) ~ W H with the coefficients W (n_samples, r), so a row of W
is a sample's coefficients::

    min_{W >= 0, H >= 0}  D(X, W H) + sum_i lam_i P(W_i)

``D`` is half the squared Frobenius norm (``loss="frobenius"``) or the generalised
Kullback-Leibler divergence (``"kl"``); ``P`` is the L1 norm (``penalty="l1"``, sparsity) or
half the squared L2 norm (``"l2"``).

**MU-P** (``solver="mu"``) alternates Lee & Seung's multiplicative updates with the weights
fixed; with ``lam = 0`` it is plain MU::

    H <- H * (W^T X) / (W^T W H)            KL: H * (W^T R) / (W^T 1),   R = X / (W H)
    W <- W * N / (M + lam * P'(W))          N = X H^T, M = W H H^T;  KL: N = R H^T, M = 1 H^T

with ``P'(W) = 1`` (L1) or ``W`` (L2). Each update does not increase the objective.

**AltBi** (``solver="altbi"``, Del Buono et al. 2023, Algorithm 1) learns the weights inside
the algorithm. Each outer iteration makes one H update, then a *bunch* of ``inner_iter`` = T W
updates with the current weights, then one projected gradient step on the weights::

    lam <- max(0, lam - lam_lr * g),   g_i = d E(W^(T)) / d lam_i

where the *response* ``E`` is the data term ``D`` alone (the source's error function) evaluated
after the bunch, as a function of the weights through the T updates. The hypergradient ``g``
is exact for the bunch: forward-mode differentiation carries ``Z = dW/dlam`` through the T
updates (rows are independent given H, so ``Z_i = dW_i / dlam_i`` is one r-vector per row;
it starts at 0 at the beginning of each bunch, the truncation the bunch defines). For the
update ``W' = W * N / Dn`` with ``Dn = M + lam P'(W)``::

    Z' = (Z * N + W * dN) / Dn - W * N * dDn / Dn^2
    Frobenius: dN = 0,                      dDn = Z H H^T + dP
    KL:        dN = -(X * (Z H) / (W H)^2) H^T,   dDn = dP
    dP = 1 (L1) or lam * Z + W (L2)

and ``g_i = <grad_W E(W^(T))_i, Z_i>`` with ``grad_W E = W H H^T - X H^T`` (Frobenius) or
``(1 - X / (W H)) H^T`` (KL). :func:`bunch` exposes one bunch; the tests check ``g`` against
finite differences of the response.
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted
from threadpoolctl import threadpool_limits

from .._validation import check_choice, check_int, check_nonnegative_data, check_rank, check_real
from ..core import EPS, initialize, kl_loss
from ..core.evaluation import hoyer_sparsity, sir
from ..data.synthetic import make_benchmark
from ..grid.stats import (ALPHA, holm, mean_interval, signed_rank_direction, signed_rank_p,
                          significant_sign)

LOSSES = ("frobenius", "kl")
PENALTIES = ("l1", "l2")
SOLVERS = ("mu", "altbi")


def _guarded(den):
    """A copy of a non-negative denominator with exact zeros replaced by EPS."""
    return np.where(den == 0, EPS, den)


def data_term(X, W, H, loss="frobenius"):
    """The data term D(X, W H): half the squared Frobenius norm, or the KL divergence."""
    if loss == "frobenius":
        R = X - W @ H
        return 0.5 * float(np.vdot(R, R))
    return kl_loss(X, W, H)


def penalty_term(W, lam, penalty="l1"):
    """``sum_i lam_i P(W_i)`` with P the L1 norm or half the squared L2 norm."""
    per_row = W.sum(axis=1) if penalty == "l1" else 0.5 * (W * W).sum(axis=1)
    return float(np.dot(lam, per_row))


def _h_update(X, W, H, loss):
    if loss == "frobenius":
        return H * (W.T @ X) / _guarded((W.T @ W) @ H)
    R = X / np.maximum(W @ H, EPS)
    return H * (W.T @ R) / _guarded(W.sum(axis=0))[:, None]


def bunch(X, W, H, lam, n_steps, *, loss="frobenius", penalty="l1", tangent=True):
    """T multiplicative W updates with H and the weights fixed (one AltBi bunch).

    Parameters
    ----------
    X : ndarray (n, m), non-negative
    W : ndarray (n, r), the starting coefficients (not modified)
    H : ndarray (r, m)
    lam : ndarray (n,), the penalty weight of each row of W
    n_steps : int, the number T of updates
    tangent : also return the hypergradient

    Returns
    -------
    W : ndarray (n, r) after the T updates
    grad : ndarray (n,) with ``d E(W) / d lam_i`` (E the data term), or None
    """
    lam = np.asarray(lam, dtype=np.float64)[:, None]
    if loss == "frobenius":
        G, XHt = H @ H.T, X @ H.T
    else:
        Hsum = H.sum(axis=1)[None, :]
    Z = np.zeros_like(W) if tangent else None
    for _ in range(n_steps):
        if loss == "frobenius":
            N, M = XHt, W @ G
        else:
            Y = np.maximum(W @ H, EPS)
            N, M = (X / Y) @ H.T, Hsum
        Dn = _guarded(M + (lam if penalty == "l1" else lam * W))
        if tangent:
            dP = 1.0 if penalty == "l1" else lam * Z + W
            if loss == "frobenius":
                dN, dDn = 0.0, Z @ G + dP
            else:
                dN, dDn = -((X * (Z @ H) / (Y * Y)) @ H.T), dP
            Z = (Z * N + W * dN) / Dn - W * N * dDn / (Dn * Dn)
        W = W * N / Dn
    if not tangent:
        return W, None
    if loss == "frobenius":
        grad_E = W @ G - XHt
    else:
        grad_E = Hsum - (X / np.maximum(W @ H, EPS)) @ H.T
    return W, (grad_E * Z).sum(axis=1)


class PenalizedNMF(TransformerMixin, BaseEstimator):
    """NMF with a penalty on each row of W, its weights fixed (MU-P) or learned (AltBi).

    Parameters
    ----------
    n_components : int
        Rank r.
    loss : {"frobenius", "kl"}, default="frobenius"
        Data term: half the squared Frobenius norm, or the generalised KL divergence.
    penalty : {"l1", "l2"}, default="l1"
        ``P(w) = ||w||_1`` or ``||w||_2^2 / 2``.
    lam : float, default=0.0
        Penalty weight of every row: fixed for ``solver="mu"`` (0 gives plain MU), the
        starting value for ``solver="altbi"``.
    solver : {"mu", "altbi"}, default="mu"
    inner_iter : int, default=1
        W updates per outer iteration: AltBi's bunch length T (the source uses several); MU-P
        with ``inner_iter > 1`` is the same bunched path with the weights held fixed.
    lam_lr : float, default=1e-3
        AltBi's step size on the weights.
    max_iter : int, default=200
        Outer iterations (one H update and ``inner_iter`` W updates each).
    tol : float, default=0.0
        Stop when the relative decrease of the objective over an outer iteration is below
        ``tol`` (0: run ``max_iter`` iterations).
    init : {"random", "nndsvd", "nndsvda", "nndsvdar"}, default="random"
    random_state : int, RandomState or None

    Attributes
    ----------
    components_ : ndarray (n_components, n_features), H
    lam_ : ndarray (n_samples,), the weights at the end (constant for MU-P)
    n_iter_ : int
    history_ : dict of ndarrays, per outer iteration (0 = the start): ``objective`` (data term +
        penalty with the weights of that iteration), ``response`` (data term), ``lam_mean``,
        ``seconds`` (elapsed)
    """

    def __init__(self, n_components, *, loss="frobenius", penalty="l1", lam=0.0, solver="mu",
                 inner_iter=1, lam_lr=1e-3, max_iter=200, tol=0.0, init="random",
                 random_state=None):
        self.n_components = n_components
        self.loss = loss
        self.penalty = penalty
        self.lam = lam
        self.solver = solver
        self.inner_iter = inner_iter
        self.lam_lr = lam_lr
        self.max_iter = max_iter
        self.tol = tol
        self.init = init
        self.random_state = random_state

    def _check_params(self, X):
        k = check_rank(self.n_components, X.shape)
        check_choice(self.loss, LOSSES, name="loss")
        check_choice(self.penalty, PENALTIES, name="penalty")
        check_choice(self.solver, SOLVERS, name="solver")
        check_real(self.lam, name="lam", low=0)
        check_int(self.inner_iter, name="inner_iter", low=1)
        check_real(self.lam_lr, name="lam_lr", low=0, low_inclusive=False)
        check_int(self.max_iter, name="max_iter", low=1)
        check_real(self.tol, name="tol", low=0)
        return k

    def _run(self, X, W, H, update_H):
        n = X.shape[0]
        lam = np.full(n, float(self.lam))
        T = int(self.inner_iter)
        hist = {"objective": [], "response": [], "lam_mean": [], "seconds": []}
        t0 = time.perf_counter()

        def record():
            resp = data_term(X, W, H, self.loss)
            hist["response"].append(resp)
            hist["objective"].append(resp + penalty_term(W, lam, self.penalty))
            hist["lam_mean"].append(float(lam.mean()))
            hist["seconds"].append(time.perf_counter() - t0)

        record()
        it = 0
        for it in range(1, int(self.max_iter) + 1):
            with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
                if update_H:
                    H = _h_update(X, W, H, self.loss)
                W, grad = bunch(X, W, H, lam, T, loss=self.loss, penalty=self.penalty,
                                tangent=self.solver == "altbi")
                if grad is not None:
                    lam = np.maximum(lam - self.lam_lr * grad, 0.0)
            if not (np.isfinite(W).all() and np.isfinite(H).all() and np.isfinite(lam).all()):
                raise FloatingPointError(
                    f"PenalizedNMF diverged at iteration {it} (non-finite factors or weights); "
                    f"lower lam_lr (now {self.lam_lr}).")
            record()
            prev, cur = hist["objective"][-2], hist["objective"][-1]
            if self.tol > 0 and prev - cur <= self.tol * max(abs(prev), EPS):
                break
        return W, H, lam, it, {k: np.asarray(v) for k, v in hist.items()}

    def fit_transform(self, X, y=None):
        """Fit the factorisation of X; return W (n_samples, n_components)."""
        X = check_nonnegative_data(X, dtype=np.float64)
        k = self._check_params(X)
        W, H = initialize(X, k, self.init, random_state=self.random_state)
        W, H, lam, n_iter, hist = self._run(X, W, H, update_H=True)
        self.components_, self.lam_, self.n_iter_, self.history_ = H, lam, n_iter, hist
        self.n_components_ = k
        return W

    def fit(self, X, y=None):
        """Fit the factorisation of X."""
        self.fit_transform(X)
        return self

    def transform(self, X):
        """Coefficients of new samples with the components fixed: the same W updates (and,
        for AltBi, the same learning of each new row's weight), ``max_iter`` times."""
        check_is_fitted(self, "components_")
        X = check_nonnegative_data(X, dtype=np.float64)
        if X.shape[1] != self.components_.shape[1]:
            raise ValueError(f"X has {X.shape[1]} features; the model was fitted with "
                             f"{self.components_.shape[1]}.")
        W, _ = initialize(X, self.n_components_, "random", random_state=self.random_state)
        W, _, _, _, _ = self._run(X, W, self.components_, update_H=False)
        return W


# -- the source's synthetic comparison (the AltBi chapter) --------------------------------------


def _one_run(benchmark, seed, method, lam, params):


    data_seed, init_seed = np.random.SeedSequence(seed).generate_state(2)
    X, W_true, H_true = make_benchmark(benchmark, random_state=int(data_seed))
    solver = "altbi" if method == "AltBi" else "mu"
    model = PenalizedNMF(W_true.shape[1], solver=solver, lam=lam, random_state=int(init_seed),
                         **params)
    if method in ("MU", "MU-P"):
        model.set_params(inner_iter=1)
    with threadpool_limits(limits=1):
        t0 = time.perf_counter()
        W = model.fit_transform(X)
        seconds = time.perf_counter() - t0
    H = model.components_
    hist = model.history_
    row = dict(benchmark=benchmark, seed=seed, method=method, lam=lam,
               sir_W=float(np.mean(sir(W_true.T, W.T))), sir_H=float(np.mean(sir(H_true, H))),
               response=float(hist["response"][-1]), objective=float(hist["objective"][-1]),
               hoyer_W=float(np.mean(hoyer_sparsity(W.T))),
               hoyer_W_true=float(np.mean(hoyer_sparsity(W_true.T))),
               lam_final=float(model.lam_.mean()), n_iter=model.n_iter_, seconds=seconds)
    curve = dict(benchmark=benchmark, seed=seed, method=method, lam=lam,
                 iteration=np.arange(len(hist["response"])), response=hist["response"],
                 objective=hist["objective"], lam_mean=hist["lam_mean"])
    return row, curve


def run_benchmark(benchmark, seeds, lam_grid, *, lam0=1.0, lam_lr=1e-3, inner_iter=5,
                  max_iter=500, loss="frobenius", penalty="l1", n_jobs=1):
    """MU, MU-P at every weight of ``lam_grid``, AltBi (from ``lam0``) and its control on one
    benchmark.

    Every method runs ``max_iter`` outer iterations (one H update each; MU and MU-P one W
    update, AltBi ``inner_iter``) from the same random start per seed, on the benchmark drawn
    for that seed (:func:`metanmf_lab.data.synthetic.make_benchmark`). The data and the start come
    from two independent streams of the seed (``numpy.random.SeedSequence``): drawn from one
    stream, a uniform random start would *be* Benchmark A's true factors. The control,
    ``"MU-P (bunched)"``, is MU-P at ``lam0`` with AltBi's ``inner_iter`` W updates per outer
    iteration: AltBi minus it is the effect of learning the weights alone.

    Returns
    -------
    results : DataFrame, one row per (seed, method, weight): mean SIR (dB) of the columns of W
        and of the rows of H after matching, final response and objective, mean Hoyer sparsity
        of W's columns (and of the true W's), final mean weight, iterations and seconds
    curves : DataFrame, one row per (seed, method, weight, iteration): response, objective and
        mean weight
    """

    params = dict(loss=loss, penalty=penalty, inner_iter=inner_iter, lam_lr=lam_lr,
                  max_iter=max_iter)
    jobs = [(s, "MU", 0.0) for s in seeds]
    jobs += [(s, "MU-P", float(v)) for s in seeds for v in lam_grid]
    jobs += [(s, "MU-P (bunched)", float(lam0)) for s in seeds]
    jobs += [(s, "AltBi", float(lam0)) for s in seeds]
    out = Parallel(n_jobs=n_jobs)(delayed(_one_run)(benchmark, s, m, v, params)
                                  for s, m, v in jobs)
    results = pd.DataFrame([r for r, _ in out])
    curves = pd.concat([pd.DataFrame(c) for _, c in out], ignore_index=True)
    return results, curves


def hypergradient_check(n=8, m=6, r=3, n_steps=5, *, loss="frobenius", penalty="l1",
                        step=1e-6, random_state=0):
    """The largest relative difference between the forward-mode hypergradient of one bunch
    and central finite differences of the response, on a random small problem."""
    rng = np.random.default_rng(random_state)
    X, W = rng.uniform(size=(n, m)), rng.uniform(0.1, 1, size=(n, r))
    H, lam = rng.uniform(0.1, 1, size=(r, m)), rng.uniform(0.05, 1, size=n)
    _, grad = bunch(X, W, H, lam, n_steps, loss=loss, penalty=penalty)

    def response(v):
        W_T, _ = bunch(X, W, H, v, n_steps, loss=loss, penalty=penalty, tangent=False)
        return data_term(X, W_T, H, loss)

    fd = np.array([(response(lam + step * e) - response(lam - step * e)) / (2 * step)
                   for e in np.eye(n)])
    return float(np.max(np.abs(grad - fd)) / np.max(np.abs(fd)))


def method_labels(results):
    """A display label per row: ``MU``, ``MU-P (λ=...)``, ``MU-P, bunches (λ=...)`` or
    ``AltBi (from λ=...)``."""
    names = {"MU-P": "MU-P (λ={:g})", "MU-P (bunched)": "MU-P, bunches (λ={:g})",
             "AltBi": "AltBi (from λ={:g})"}
    return [m if m == "MU" else names[m].format(v)
            for m, v in zip(results["method"], results["lam"])]


def best_grid_weight(results, measure="sir_W"):
    """Per benchmark, the MU-P weight of the grid with the highest mean ``measure`` over
    seeds. Choosing by SIR uses the true factors: an oracle choice, an upper bound on what a
    grid search without the truth would reach."""
    mup = results[results.method == "MU-P"]
    means = mup.groupby(["benchmark", "lam"])[measure].mean().reset_index()
    return means.loc[means.groupby("benchmark")[measure].idxmax()].set_index(
        "benchmark")["lam"]


def summary_table(results, measures=("sir_W", "sir_H", "hoyer_W", "response", "seconds"),
                  level=0.95):
    """Mean and ``level`` interval over seeds of each measure, per benchmark and method
    (MU, MU-P at the grid's best weight -- :func:`best_grid_weight` -- and AltBi), as
    ``"mean [low, high]"`` strings; rows (benchmark, method)."""


    best = best_grid_weight(results)
    keep = (results.method != "MU-P") | (results.lam == results.benchmark.map(best))
    part = results[keep].assign(label=lambda d: method_labels(d))
    part["label"] = [f"{lab}, best of grid" if m == "MU-P" else lab
                     for lab, m in zip(part["label"], part["method"])]
    rows = {}
    for (bench, label), g in part.groupby(["benchmark", "label"], sort=False):
        cells = {}
        for name in measures:
            mean, lo, hi = mean_interval(g[name])
            digits = 1 if name.startswith("sir") else 3
            cells[name] = (f"{mean:.{digits}f} [{lo:.{digits}f}, {hi:.{digits}f}]"
                           if np.isfinite(lo) else f"{mean:.{digits}f}")
        rows[(bench, label)] = cells
    out = pd.DataFrame.from_dict(rows, orient="index")
    out.index = pd.MultiIndex.from_tuples(out.index, names=["benchmark", "method"])
    return out


def comparisons(results, measures=("sir_W", "sir_H"), level=0.95, alpha=None):
    """AltBi against MU, against MU-P at the grid's best weight and against its control (MU-P
    with the same bunches at AltBi's starting weight), per benchmark and measure:
    the mean paired difference over seeds (AltBi minus the reference) with its ``level``
    interval, Wilcoxon's signed-rank p-value over the seeds and its Holm adjustment over all
    the comparisons, and a verdict ("better"/"worse" if significant with the mean and the test
    pointing the same way, :func:`metanmf_lab.grid.stats.significant_sign`, else "undecided")."""


    alpha = ALPHA if alpha is None else alpha
    best = best_grid_weight(results)
    out = []
    for bench, g in results.groupby("benchmark", sort=False):
        alt = g[g.method == "AltBi"].set_index("seed")
        refs = {"MU": g[g.method == "MU"].set_index("seed"),
                f"MU-P (λ={best[bench]:g})": g[(g.method == "MU-P")
                                               & (g.lam == best[bench])].set_index("seed"),
                "MU-P, bunches": g[g.method == "MU-P (bunched)"].set_index("seed")}
        for ref_name, ref in refs.items():
            for name in measures:
                d = (alt[name] - ref[name]).dropna()
                mean, lo, hi = mean_interval(d, level)
                out.append(dict(benchmark=bench, measure=name, reference=ref_name,
                                difference=mean, low=lo, high=hi, n_seeds=len(d),
                                p=signed_rank_p(d), direction=signed_rank_direction(d)))
    out = pd.DataFrame(out)
    out["p_holm"] = holm(out["p"])
    verdict = {1: "better", -1: "worse", 0: "undecided"}
    out["verdict"] = [verdict[significant_sign(r.p_holm, r.difference, r.direction, alpha)]
                      for r in out.itertuples()]
    return out
