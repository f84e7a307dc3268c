"""Evaluation: clustering quality (NMI of k-means on the coefficients) and measures of the
learned bases (Hoyer sparsity, subspace distance, SIR); the reconstruction error is
:func:`metanmf_lab.core.reconstruction_error`."""

from __future__ import annotations

import numpy as np
from scipy.linalg import subspace_angles
from scipy.optimize import linear_sum_assignment
from sklearn.cluster import KMeans
from sklearn.metrics import normalized_mutual_info_score
from threadpoolctl import threadpool_limits

from .._validation import check_int

#: k-means restarts used everywhere (fixed, so that NMI differences come from the models).
KMEANS_N_INIT = 10


def cluster_nmi(coefficients, labels, *, n_clusters=None, random_state=0,
                n_init=KMEANS_N_INIT):
    """NMI between the true labels and k-means clusters of the coefficients.

    Parameters
    ----------
    coefficients : array-like of shape (n_samples, n_components)
        The representation to cluster (our W; the thesis' H transposed).
    labels : array-like of shape (n_samples,)
    n_clusters : int or None
        k of k-means; None uses the number of distinct labels (the thesis' choice).
    random_state : int
        Seed of k-means.
    n_init : int, default=10

    Returns
    -------
    float
        Normalised mutual information (arithmetic normalisation, scikit-learn's default).
    """
    coefficients = np.asarray(coefficients, dtype=np.float64)
    labels = np.asarray(labels)
    if coefficients.ndim != 2 or coefficients.shape[0] != labels.shape[0]:
        raise ValueError(f"coefficients must be (n_samples, n_components) with one row per "
                         f"label; got {coefficients.shape} and {labels.shape[0]} labels.")
    if not np.isfinite(coefficients).all():
        raise ValueError("coefficients contain NaN or infinite values.")
    k = len(np.unique(labels)) if n_clusters is None else check_int(n_clusters,
                                                                     name="n_clusters", low=1)
    km = KMeans(n_clusters=k, n_init=check_int(n_init, name="n_init", low=1),
                random_state=random_state)
    # One OpenMP thread: these problems are small, threads only add overhead (and contend
    # with the experiment grid's one-cell-per-core workers); the result does not depend on it.
    with threadpool_limits(limits=1, user_api="openmp"):
        pred = km.fit_predict(coefficients)
    # NMI lies in [0, 1]; scikit-learn's float sums can land an ulp outside it (1 + 2e-16
    # when k-means finds the classes exactly), which the result store rightly refuses.
    return float(np.clip(normalized_mutual_info_score(labels, pred), 0.0, 1.0))


def hoyer_sparsity(vectors, axis=-1):
    """Hoyer's sparsity of each vector: 1 for one non-zero entry, 0 for all entries equal.

    ``(sqrt(n) - ||v||_1 / ||v||_2) / (sqrt(n) - 1)`` (P. O. Hoyer, JMLR 5, 2004). All-zero
    vectors get NaN-free value 0.
    """
    v = np.abs(np.asarray(vectors, dtype=np.float64))
    n = v.shape[axis]
    if n < 2:
        raise ValueError("Hoyer sparsity needs vectors of at least 2 entries.")
    l1 = v.sum(axis=axis)
    l2 = np.sqrt((v * v).sum(axis=axis))
    ratio = np.divide(l1, l2, out=np.full_like(l1, np.sqrt(n)), where=l2 > 0)
    return (np.sqrt(n) - ratio) / (np.sqrt(n) - 1)


def subspace_distance(components_a, components_b):
    """Distance between the subspaces spanned by two sets of basis vectors, in [0, 1].

    Parameters
    ----------
    components_a, components_b : array-like of shape (n_components, n_features)
        Two bases (``components_``, one vector per row; the thesis' W transposed). The
        distance does not depend on the order, scale or sign of the vectors, so two
        factorisations that found the same parts in another order are at distance 0.

    Returns
    -------
    float
        ``sqrt(mean(sin(theta_i) ** 2))`` over the principal angles ``theta_i`` between the
        two row spaces (the chordal distance divided by its maximum): 0 for the same
        subspace, 1 for orthogonal ones.
    """

    a = np.asarray(components_a, dtype=np.float64)
    b = np.asarray(components_b, dtype=np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise ValueError(f"bases must be (n_components, n_features) with the same number of "
                         f"features; got {a.shape} and {b.shape}.")
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        raise ValueError("bases contain NaN or infinite values.")
    if np.linalg.matrix_rank(a) < a.shape[0] or np.linalg.matrix_rank(b) < b.shape[0]:
        raise ValueError("each basis must have linearly independent rows (a zero or "
                         "repeated basis vector spans a smaller subspace).")
    theta = subspace_angles(a.T, b.T)
    return float(np.sqrt(np.mean(np.sin(theta) ** 2)))


def match_components(true, estimate):
    """Pair each true component (row of ``true``) with one estimated component (row of
    ``estimate``), maximising the summed cosine similarity (Hungarian algorithm).

    Returns the index array ``j`` such that ``estimate[j[i]]`` is matched to ``true[i]``. NMF
    recovers components only up to order and scale; this removes the order.
    """

    t = np.asarray(true, dtype=np.float64)
    e = np.asarray(estimate, dtype=np.float64)
    if t.ndim != 2 or e.shape != t.shape:
        raise ValueError(f"true and estimate must be 2-D of the same shape, got {t.shape} and "
                         f"{e.shape}.")
    if not (np.isfinite(t).all() and np.isfinite(e).all()):
        raise ValueError("components contain NaN or infinite values.")
    nt = np.linalg.norm(t, axis=1, keepdims=True)
    ne = np.linalg.norm(e, axis=1, keepdims=True)
    cos = (t / np.where(nt > 0, nt, 1)) @ (e / np.where(ne > 0, ne, 1)).T
    rows, cols = linear_sum_assignment(-cos)
    return cols[np.argsort(rows)]


def sir(true, estimate):
    """Signal-to-interference ratio (dB) of each true component against its estimate.

    The rows of ``estimate`` are matched to those of ``true`` (:func:`match_components`) and
    each is scaled by least squares onto its true component ``s``; then
    ``SIR = 10 log10(||s||^2 / ||s - a s_hat||^2)``. Higher is better: 20 dB means the
    residual holds 1% of the component's energy. An exact recovery gives ``inf``.
    """
    t = np.asarray(true, dtype=np.float64)
    e = np.asarray(estimate, dtype=np.float64)[match_components(t, estimate)]
    ee = (e * e).sum(axis=1)
    a = np.divide((t * e).sum(axis=1), ee, out=np.zeros(len(t)), where=ee > 0)
    resid = ((t - a[:, None] * e) ** 2).sum(axis=1)
    signal = (t * t).sum(axis=1)
    with np.errstate(divide="ignore"):
        return 10 * np.log10(signal / resid)
