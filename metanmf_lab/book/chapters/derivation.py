"""The derivation chapter: the NMF objective, its gradients and multiplicative updates, checked
numerically against the package; the Kullback–Leibler objective, GNMF and NNDSVD.

:func:`values` computes everything the chapter shows; :func:`check_problem` is the small
random problem its checks (and its teaching cells) run on.
"""

from __future__ import annotations

from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from scipy.optimize import approx_fprime

from ...core import (GNMF, NMF, frobenius_gradients, kl_gradients, knn_graph, nndsvd, objective,
                     objective_gradients)
from ...data.datasets import dataset_info, image_shape, load_dataset
from ..diagrams import image_table
from ..display import table
from . import Prose

__all__ = ["DerivationValues", "check_problem", "gradient_check", "sci", "values"]

#: Samples of the small problem of the numerical checks, per profile.
N_CHECK = {"smoke": 12, "full": 40}

#: Neighbours of the GNMF graph (Cai et al.'s p).
N_NEIGHBORS = 5

_SUPERSCRIPT = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


def sci(value, digits=1):
    """``value`` in scientific notation as the prose writes it: ``2.1e-06`` ->
    ``"2.1 × 10⁻⁶"`` (``"0"`` for zero)."""
    value = float(value)
    if value == 0:
        return "0"
    mantissa, exponent = f"{value:.{digits}e}".split("e")
    return f"{mantissa} × 10{str(int(exponent)).translate(_SUPERSCRIPT)}"


def check_problem(P):
    """The problem of the numerical checks: ``n`` samples of ``P.dataset`` (``N_CHECK`` of the
    profile) and random positive factors in the package's orientation.

    Returns
    -------
    Xc : ndarray of shape (n, n_features)
    coef : ndarray of shape (n, rank)
        The thesis' H, transposed.
    components : ndarray of shape (rank, n_features)
        The thesis' W, transposed.
    """

    X, _ = _data(P, load_dataset)
    rng = np.random.default_rng(P.seed)
    n = N_CHECK[P.profile]
    Xc = X[rng.choice(len(X), n, replace=False)]
    coef = rng.uniform(0.1, 1.0, (n, P.rank))
    components = rng.uniform(0.1, 1.0, (P.rank, X.shape[1]))
    return Xc, coef, components


def _data(P, load_dataset):
    X, y = load_dataset(P.dataset)
    if P.profile == "smoke":
        X, y = X[:300], y[:300]
    return X, y


def gradient_check(Xc, coef, components, objectives):
    """Relative difference between the package's analytic gradients and forward finite
    differences of the objective (SciPy's ``approx_fprime``), per objective (name -> keyword
    arguments of :func:`metanmf_lab.objective`) and factor: a DataFrame with columns
    ``objective``, ``H`` (the coefficients) and ``W`` (the basis), in the thesis' names."""


    def rel(analytic, numeric):
        return float(np.linalg.norm(analytic.ravel() - numeric) / np.linalg.norm(numeric))

    rows = []
    for name, kw in objectives.items():
        g_coef, g_components = objective_gradients(Xc, coef, components, **kw)
        fd_coef = approx_fprime(
            coef.ravel(), lambda v: objective(Xc, v.reshape(coef.shape), components, **kw))
        fd_components = approx_fprime(
            components.ravel(), lambda v: objective(Xc, coef, v.reshape(components.shape), **kw))
        rows.append({"objective": name, "H": rel(g_coef, fd_coef),
                     "W": rel(g_components, fd_components)})
    return pd.DataFrame(rows)


def _mu_checks(Xc, coef, components, rank, lam, graph):
    """One iteration of each update written out by hand (thesis orientation for the Frobenius
    updates, package orientation for KL and GNMF), against one iteration of the package; and
    the share of entries a common step size would make negative. Raises if a check fails."""

    X_th, W, H = Xc.T, components.T, coef.T
    H_mu = H * (W.T @ X_th) / (W.T @ W @ H)
    W_mu = W * (X_th @ H_mu.T) / (W @ H_mu @ H_mu.T)
    grad_H = frobenius_gradients(Xc, coef, components)[0].T
    H_gd = H - H / (2 * W.T @ W @ H) * grad_H
    grad_W = frobenius_gradients(Xc, H_gd.T, components)[1].T
    W_gd = W - W / (2 * W @ H_gd @ H_gd.T) * grad_W
    one = NMF(rank, init="custom", max_iter=1, tol=0)
    coef_1 = one.fit_transform(Xc, W=coef, H=components)
    for ours, other in [(H_mu, H_gd), (W_mu, W_gd), (H_mu, coef_1.T),
                        (W_mu, one.components_.T)]:
        np.testing.assert_allclose(ours, other, rtol=1e-10, atol=1e-12)
    eta = float(np.mean(H / (2 * W.T @ W @ H)))
    neg_fraction = float(np.mean(H - eta * grad_H < 0))

    g = kl_gradients(Xc, coef, components)[0]
    coef_gd = coef - coef / components.sum(axis=1) * g
    components_gd = components - (components / coef_gd.sum(axis=0)[:, None]
                                  * kl_gradients(Xc, coef_gd, components)[1])
    kl = NMF(rank, loss="kl", init="custom", max_iter=1, tol=0)
    coef_kl = kl.fit_transform(Xc, W=coef, H=components)
    np.testing.assert_allclose(coef_kl, coef_gd, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(kl.components_, components_gd, rtol=1e-10, atol=1e-12)

    g = objective_gradients(Xc, coef, components, graph=graph, lam=lam)[0]
    step = coef / (2 * (coef @ components @ components.T + lam * graph.degree[:, None] * coef))
    gnmf = GNMF(rank, lam=lam, init="custom", max_iter=1, tol=0)
    np.testing.assert_allclose(gnmf.fit_transform(Xc, W=coef, H=components), coef - step * g,
                               rtol=1e-10)
    return neg_fraction


@dataclass
class DerivationValues:
    """What the derivation chapter shows (glued by field name)."""

    dataset: str
    n_samples: int
    n_features: int
    rank: int
    budget: int
    lam: float
    n_check: int
    grad_max_relerr: str
    gradients_agree: bool
    updates_agree: bool
    neg_fraction: float
    n_edges: int
    mean_degree: float
    same_label: float
    drop_frobenius: float
    never_increases: bool
    nndsvd_zero_W: float
    nndsvd_zero_H: float
    nndsvd_zero_W_after: float
    n_seeds: int
    nndsvd_summary: Prose
    table_gradient_check: object
    table_nndsvd_error: object
    fig_knn_graph: object
    fig_objective_decrease: object
    fig_nndsvd_components: object


def nndsvd_summary(error, budget):
    """The sentence on the reconstruction errors of the four starts (``error``: init name ->
    relative errors at the marks, first the start, last after ``budget`` iterations)."""
    start = {k: v[0] for k, v in error.items()}
    end = {k: v[-1] for k, v in error.items()}
    ahead = "closer to" if start["nndsvd"] < start["random"] else "farther from"
    others = [(key, f"{name} ({end[key]:.3f})") for key, name in
              (("nndsvda", "NNDSVDa"), ("random", "the random start"))]
    behind = [text for key, text in others if end[key] < end["nndsvd"]]
    verdict = (f"but after {budget} iterations it is at {end['nndsvd']:.3f}, behind "
               f"{' and '.join(behind)}: its locked zeros are one reason" if behind else
               f"and after {budget} iterations it is still ahead ({end['nndsvd']:.3f}) of "
               f"{' and '.join(text for _, text in others)}")
    return Prose(
        f"NNDSVD starts much {ahead} the data than a uniform random start (relative error "
        f"{start['nndsvd']:.3f} against {start['random']:.3f}), {verdict}.")


def _objective_figure(history):

    fig, axes = plt.subplots(1, len(history), figsize=(6.6, 2.1), sharex=True)
    for ax, (name, h) in zip(np.atleast_1d(axes), history.items()):
        ax.plot(np.arange(len(h)), h)
        ax.set_yscale("log")
        ax.set_title(name, fontsize=10)
        ax.set_xlabel("iteration", fontsize=10)
        ax.tick_params(labelsize=9)
    np.atleast_1d(axes)[0].set_ylabel("objective", fontsize=10)
    fig.tight_layout(w_pad=0.6)
    return fig


def _graph_figure(graph, y):

    order = np.argsort(y, kind="stable")
    fig, ax = plt.subplots(figsize=(3.0, 3.0))
    ax.spy(graph.A[order][:, order], markersize=0.4, color="#0173b2")
    ax.set_xlabel("sample (sorted by class)", fontsize=10)
    ax.set_ylabel("sample (sorted by class)", fontsize=10)
    ax.tick_params(labelsize=9)
    ax.locator_params(nbins=4)
    ax.grid(False)
    fig.tight_layout()
    return fig


def values(P):
    """Everything the derivation chapter shows, for the checked parameters ``P`` (``dataset``,
    ``rank``, ``lam``, ``seed``, ``profile``). Raises if an update written out by hand differs
    from the package's."""

    X, y = _data(P, load_dataset)
    n, m = X.shape
    budget = P.settings.baseline_iter
    Xc, coef, components = check_problem(P)
    graph_c = knn_graph(Xc, N_NEIGHBORS)
    objectives = {"Frobenius": dict(loss="frobenius"), "Kullback–Leibler": dict(loss="kl"),
                  "GNMF": dict(loss="frobenius", graph=graph_c, lam=P.lam)}
    grad = gradient_check(Xc, coef, components, objectives)
    max_err = float(grad[["H", "W"]].to_numpy().max())
    neg_fraction = _mu_checks(Xc, coef, components, P.rank, P.lam, graph_c)
    shown = grad.assign(H=grad["H"].map(sci), W=grad["W"].map(sci))
    table_grad = table(shown, headers={"H": "gradient in H", "W": "gradient in W"})

    graph = knn_graph(X, N_NEIGHBORS)
    edges = graph.A.tocoo()

    common = dict(max_iter=budget, tol=0, random_state=P.seed)
    runs = {"NMF, Frobenius": NMF(P.rank, **common),
            "NMF, Kullback–Leibler": NMF(P.rank, loss="kl", **common),
            "GNMF, Frobenius": GNMF(P.rank, lam=P.lam, **common)}
    history = {name: est.fit(X).objective_history_ for name, est in runs.items()}
    never = all(bool(np.all(np.diff(h) <= 1e-12 * h[:-1])) for h in history.values())
    frob = history["NMF, Frobenius"]

    coef_nd, components_nd = nndsvd(X, P.rank)
    fits = {init: NMF(P.rank, init=init, **common).fit(X) for init in ("nndsvd", "random")}
    k = min(P.rank, 8)
    shape = image_shape(P.dataset) or (1, m)
    grid = [[c.reshape(shape) for c in rows[:k]]
            for rows in (components_nd, fits["nndsvd"].components_, fits["random"].components_)]
    labels = ["NNDSVD start", "NNDSVD start,\nthen updates", "random start,\nthen updates"]
    fig_bases = image_table(grid, width=5.6, row_labels=labels,
                            col_labels=[str(j + 1) for j in range(k)])

    marks = sorted({0, budget // 10, budget})
    seeds = range(P.seed, P.seed + len(P.profile_.seeds))
    error = {}
    for init in ("random", "nndsvd", "nndsvda", "nndsvdar"):
        starts = seeds if init in ("random", "nndsvdar") else [P.seed]
        hs = np.array([NMF(P.rank, init=init, max_iter=budget, tol=0, random_state=s)
                       .fit(X).objective_history_[marks] for s in starts])
        error[init] = np.sqrt(hs).mean(axis=0) / np.linalg.norm(X)
    names = {"random": "uniform random", "nndsvd": "NNDSVD", "nndsvda": "NNDSVDa",
             "nndsvdar": "NNDSVDar"}
    err = pd.DataFrame([{"initialisation": names[key], **{f"m{t}": e for t, e in zip(marks, v)}}
                        for key, v in error.items()])
    headers = {f"m{t}": ("at the start" if t == 0 else f"after {t} iterations") for t in marks}

    return DerivationValues(
        dataset=dataset_info(P.dataset).display_name,
        n_samples=n, n_features=m, rank=P.rank, budget=budget, lam=P.lam,
        n_check=len(Xc), grad_max_relerr=sci(max_err), gradients_agree=max_err < 1e-4,
        updates_agree=True, neg_fraction=neg_fraction,
        n_edges=int(edges.nnz // 2), mean_degree=float(graph.degree.mean()),
        same_label=float(np.mean(y[edges.row] == y[edges.col])),
        drop_frobenius=float(frob[0] / frob[-1]), never_increases=never,
        nndsvd_zero_W=float(np.mean(components_nd == 0)),
        nndsvd_zero_H=float(np.mean(coef_nd == 0)),
        nndsvd_zero_W_after=float(np.mean(fits["nndsvd"].components_ == 0)),
        n_seeds=len(seeds), nndsvd_summary=nndsvd_summary(error, budget),
        table_gradient_check=table_grad, table_nndsvd_error=table(err, headers=headers),
        fig_knn_graph=_graph_figure(graph, y), fig_objective_decrease=_objective_figure(history),
        fig_nndsvd_components=fig_bases)
