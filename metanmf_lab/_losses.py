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
#: zero (scikit-learn's rule; the authors' reference code adds it to every denominator, which at
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
