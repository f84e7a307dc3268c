"""Objective functions, computed directly from the factors.

Orientation (scikit-learn's, used everywhere in this package): ``X`` has shape
(n_samples, n_features) and ``X ~ W @ H`` with coefficients ``W`` (n_samples, n_components) and
components ``H`` (n_components, n_features). The thesis writes the transpose, X (features x
samples) = W H with the *basis* W; so the thesis' W is our ``H.T`` and its H is our ``W.T``.

The objectives are

- Frobenius: ``||X - W H||_F^2`` (no factor 1/2, as in Cai et al. 2011, so that the graph
  weight ``lam`` means what it means there);
- Kullback-Leibler (generalised I-divergence): ``sum(X log(X / WH) - X + WH)``;
- graph regularisation (GNMF) adds ``lam * tr(W^T L W)``, with L = D - A the graph Laplacian
  over samples, which penalises coefficients that differ between neighbouring samples.

These direct versions are the definitions; the solvers compute the same numbers faster from
products they already hold, and the tests check the two agree.
"""

from __future__ import annotations

import numpy as np
from scipy.special import xlogy

#: Float32 machine epsilon. It replaces denominators of a multiplicative update that are exactly
#: zero (scikit-learn's rule; the authors' code adds it to every denominator, which at
#: the scale of min-max scaled data changes nothing measurable but breaks scale equivariance on
#: tiny-valued data), and it floors the model W H inside the KL divergence.
EPS = float(np.finfo(np.float32).eps)

LOSSES = ("frobenius", "kl")


def frobenius_loss(X, W, H):
    """Squared Frobenius norm ``||X - W H||_F^2`` (float64)."""
    R = np.asarray(X, dtype=np.float64) - np.asarray(W, np.float64) @ np.asarray(H, np.float64)
    return float(np.vdot(R, R))


def kl_loss(X, W, H):
    """Generalised Kullback-Leibler divergence ``D(X || W H)`` (float64).

    Entries with ``X == 0`` contribute ``(W H)_ij``; the model is floored at ``EPS`` inside the
    logarithm so that a zero in ``W H`` where ``X > 0`` gives a large finite value, not inf.
    """
    X = np.asarray(X, dtype=np.float64)
    WH = np.asarray(W, np.float64) @ np.asarray(H, np.float64)
    return float(xlogy(X, X).sum() - xlogy(X, np.maximum(WH, EPS)).sum() - X.sum() + WH.sum())


def data_loss(X, W, H, loss="frobenius"):
    """The data-fit term for ``loss`` in ``("frobenius", "kl")``."""
    return frobenius_loss(X, W, H) if loss == "frobenius" else kl_loss(X, W, H)


def reconstruction_error(X, W, H, loss="frobenius"):
    """scikit-learn's ``reconstruction_err_``: ``sqrt(2 * beta_divergence)``.

    For the Frobenius loss this is ``||X - W H||_F``; for KL it is ``sqrt(2 D(X || W H))``.
    """
    value = frobenius_loss(X, W, H) if loss == "frobenius" else 2.0 * kl_loss(X, W, H)
    return float(np.sqrt(max(value, 0.0)))


# -- gradients (for the derivation chapter and its gradient checks) ---------------------------
#
# Same orientation as above: X (n_samples, n_features) ~ W H, W the coefficients, H the
# components. In the thesis' orientation (X features x samples = W_th H_th, so W_th = H.T and
# H_th = W.T) the gradient with respect to the thesis' H is ``grad_W.T`` and the gradient with
# respect to its basis W is ``grad_H.T``. The solvers never call these: the multiplicative
# updates use the positive and negative parts of the same expressions.


def frobenius_gradients(X, W, H):
    """Gradients of ``||X - W H||_F^2`` with respect to W and H (float64).

    With the residual ``E = W H - X``::

        grad_W = 2 E H^T        (n_samples, n_components)
        grad_H = 2 W^T E        (n_components, n_features)

    (thesis eqs. 2.21 and 2.25, transposed). The objective has no factor 1/2 (see the module
    docstring), hence the 2.

    Returns
    -------
    grad_W : ndarray of shape (n_samples, n_components)
    grad_H : ndarray of shape (n_components, n_features)
    """
    X, W, H = (np.asarray(a, dtype=np.float64) for a in (X, W, H))
    E = W @ H - X
    return 2.0 * (E @ H.T), 2.0 * (W.T @ E)


def kl_gradients(X, W, H):
    """Gradients of the generalised KL divergence ``D(X || W H)`` with respect to W and H.

    With the ratio ``R = X / (W H)``::

        grad_W = (1 - R) H^T,   grad_H = W^T (1 - R)

    where 1 is the all-ones matrix. The model is floored at ``EPS`` in R, as in
    :func:`kl_loss`; the formulas are the derivatives of :func:`kl_loss` wherever
    ``W H >= EPS``.

    Returns
    -------
    grad_W : ndarray of shape (n_samples, n_components)
    grad_H : ndarray of shape (n_components, n_features)
    """
    X, W, H = (np.asarray(a, dtype=np.float64) for a in (X, W, H))
    G = 1.0 - X / np.maximum(W @ H, EPS)
    return G @ H.T, W.T @ G


def _check_loss(loss):
    if loss not in LOSSES:
        raise ValueError(f"loss must be one of {', '.join(map(repr, LOSSES))}; got {loss!r}.")
    return loss


def _laplacian_times(W, graph):
    """``L W = D W - A W`` for a graph with symmetric affinity ``graph.A``, degrees
    ``graph.degree`` (a :class:`metanmf_lab.Graph`)."""
    W = np.asarray(W, dtype=np.float64)
    AW = np.asarray(graph.A @ W, dtype=np.float64)
    return np.asarray(graph.degree, dtype=np.float64)[:, None] * W - AW


def graph_penalty(W, graph):
    """The GNMF graph term ``tr(W^T L W)`` for coefficients W (n_samples, n_components).

    Equal to ``(1/2) sum_ij A_ij ||w_i - w_j||^2``: it is small when samples that are
    neighbours in the graph have similar coefficients (thesis eq. 2.34 writes it
    ``Tr(H L H^T)`` with the thesis' H = our W^T).
    """
    W = np.asarray(W, dtype=np.float64)
    return float(np.vdot(W, _laplacian_times(W, graph)))


def graph_penalty_gradient(W, graph):
    """Gradient of :func:`graph_penalty` with respect to W: ``2 L W`` (L is symmetric)."""
    return 2.0 * _laplacian_times(W, graph)


def objective(X, W, H, *, loss="frobenius", graph=None, lam=0.0):
    """The objective the solvers minimise: data term plus ``lam * tr(W^T L W)``.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
    W : array-like of shape (n_samples, n_components)
    H : array-like of shape (n_components, n_features)
    loss : {"frobenius", "kl"}, default="frobenius"
    graph : Graph or None, default=None
        Affinity graph over the samples (GNMF); None or ``lam == 0`` gives plain NMF.
    lam : float, default=0.0

    Returns
    -------
    float
        What ``objective_history_`` of :class:`metanmf_lab.NMF` / :class:`~metanmf_lab.GNMF`
        records.
    """
    value = data_loss(X, W, H, _check_loss(loss))
    if graph is not None and lam:
        value += lam * graph_penalty(W, graph)
    return value


def objective_gradients(X, W, H, *, loss="frobenius", graph=None, lam=0.0):
    """Gradients of :func:`objective` with respect to W and H (float64).

    The graph term adds ``2 lam L W`` to the gradient with respect to W (Cai et al. 2011);
    H's gradient is the data term's.

    Returns
    -------
    grad_W : ndarray of shape (n_samples, n_components)
    grad_H : ndarray of shape (n_components, n_features)
    """
    gradients = frobenius_gradients if _check_loss(loss) == "frobenius" else kl_gradients
    gW, gH = gradients(X, W, H)
    if graph is not None and lam:
        gW = gW + lam * graph_penalty_gradient(W, graph)
    return gW, gH
