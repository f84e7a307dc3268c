"""Sample-affinity graphs for graph-regularised NMF (GNMF).

Two constructions:

- :func:`knn_graph` -- Cai et al. (2011): a symmetric p-nearest-neighbour graph, with 0-1
  ("binary") or heat-kernel weights, stored as a sparse matrix. Never builds an n x n array.
- :func:`rbf_graph` -- what the authors' code uses: a dense RBF affinity over all
  pairs, ``A_ij = exp(-||x_i - x_j||^2 / sigma^2)``. Memory is n^2; use it only to reproduce
  the authors' code.

Both return a :class:`Graph` holding the affinity ``A`` and the degree vector ``d``
(L = diag(d) - A), and the one operation the solvers need, ``A @ W``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from sklearn.metrics import pairwise_distances
from sklearn.neighbors import kneighbors_graph

from .._validation import check_choice, check_int, check_real
from ._shared import shared


def _as_float_data(X):
    """A finite 2-D float array (float32 kept, anything else as float64)."""
    X = np.asarray(X)
    if X.ndim != 2 or not np.issubdtype(X.dtype, np.number) or np.iscomplexobj(X):
        raise ValueError(f"X must be a real 2-D array (n_samples, n_features), got shape "
                         f"{X.shape} and dtype {X.dtype}.")
    X = X.astype(X.dtype if X.dtype in (np.float32, np.float64) else np.float64, copy=False)
    if not np.isfinite(X).all():
        raise ValueError("X contains NaN or infinite values.")
    return X

GRAPHS = ("knn", "rbf")
WEIGHTS = ("binary", "heat")


@dataclass(frozen=True)
class Graph:
    """An affinity graph over samples: ``A`` (sparse or dense, symmetric) and degrees ``d``."""

    A: object
    degree: np.ndarray

    @property
    def n_samples(self):
        return self.degree.shape[0]

    @property
    def is_dense(self):
        return not sp.issparse(self.A)

    def matmul(self, W):
        """Return ``A @ W`` as a dense array of W's dtype."""
        out = self.A @ W
        return np.asarray(out, dtype=W.dtype)

    def matmul_t(self, Wt):
        """Return ``(A W)^T = Wt A`` (A is symmetric) for coefficients held as (k, n).

        For a sparse A this is a transposed view of ``A @ Wt.T`` (no copy).
        """
        if sp.issparse(self.A):
            return np.asarray(self.A @ Wt.T, dtype=Wt.dtype).T
        return np.asarray(Wt @ self.A, dtype=Wt.dtype)

    def quadratic_t(self, Wt, AWt=None):
        """``tr(W^T L W)`` for coefficients held transposed, ``Wt`` of shape (k, n)."""
        return self.quadratic(Wt.T, None if AWt is None else AWt.T)

    def quadratic(self, W, AW=None):
        """Return ``tr(W^T L W) = sum_i d_i ||w_i||^2 - tr(W^T A W)`` in float64."""
        if AW is None:
            AW = self.matmul(W)
        sq = np.einsum("ij,ij->i", W, W, dtype=np.float64)   # ||w_i||^2 per sample
        return float(sq @ self.degree.astype(np.float64)
                     - np.einsum("ij,ij->", W, AW, dtype=np.float64))

    def astype(self, dtype):
        """The same graph with values of ``dtype`` (float32 fast path)."""
        return Graph(self.A.astype(dtype), self.degree.astype(dtype))


def knn_graph(X, n_neighbors=5, weight="binary", heat_t=None, *, scale_exp=0):
    """Symmetric p-nearest-neighbour graph of Cai et al. (2011), sparse.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
    n_neighbors : int, default=5
        p in Cai et al. Clipped to ``n_samples - 1`` for very small inputs.
    weight : {"binary", "heat"}, default="binary"
        0-1 weights, or heat-kernel weights ``exp(-||x_i - x_j||^2 / t)`` on the edges.
    heat_t : float or None, default=None
        Heat-kernel bandwidth t; ``None`` uses the mean squared distance over the edges.
    scale_exp : int, default=0
        X is the data divided by ``2**scale_exp`` (the estimators' internal scaling of data
        outside the safe range): the graph is that of the data, ``X * 2**scale_exp``, computed
        without forming it. Neighbours do not depend on the scale; heat weights with a given
        ``heat_t`` do, and are computed as ``exp(-d^2 / (t / 4**scale_exp))`` with d the
        distances in X.

    Returns
    -------
    Graph
        ``A`` is a CSR matrix with ``A_ij > 0`` iff j is among the p nearest neighbours of i
        or i among those of j (Cai et al.'s symmetrisation), zero diagonal.
    """
    X = _as_float_data(X)
    n = X.shape[0]
    if n < 2:
        raise ValueError(f"A neighbour graph needs at least 2 samples, got {n} sample.")
    p = min(check_int(n_neighbors, name="n_neighbors", low=1), n - 1)
    weight = check_choice(weight, WEIGHTS, name="weight")
    if heat_t is not None:
        heat_t = check_real(heat_t, name="heat_t", low=0, low_inclusive=False)
    mode = "connectivity" if weight == "binary" else "distance"
    A = kneighbors_graph(X, n_neighbors=p, mode=mode, include_self=False).tocsr()
    if weight == "heat":
        # Symmetrise squared distances shifted by 1: an edge between duplicate samples has
        # distance 0, which as an explicit zero would be dropped by the symmetrisation.
        A.data = A.data.astype(np.float64) ** 2 + 1.0
        A = A.maximum(A.T).tocsr()
        sq = A.data - 1.0
        t = float(sq.mean()) if heat_t is None else heat_t
        if t <= 0:  # every neighbour coincides with its sample: all weights are 1
            t = 1.0
        if heat_t is None or scale_exp == 0:  # the mean is scale-free
            A.data = np.exp(-sq / t)
        else:  # t in the units of the scaled data; 0 or inf are the right limits
            with np.errstate(divide="ignore", invalid="ignore", over="ignore", under="ignore"):
                q = sq / np.ldexp(t, -2 * scale_exp)
            q[sq == 0] = 0.0
            A.data = np.exp(-q)
    else:
        A = A.maximum(A.T).tocsr()
    A = A.astype(X.dtype)
    degree = np.asarray(A.sum(axis=1), dtype=X.dtype).ravel()
    return Graph(A, degree)


#: Keep the RBF affinity dense if more than this fraction of its weights survive.
_RBF_DENSE_ABOVE = 0.25


def rbf_graph(X, sigma=0.5, *, scale_exp=0):
    """RBF affinity over all pairs, as in the authors' code.

    ``A_ij = exp(-||x_i - x_j||^2 / sigma^2)`` for all i, j (diagonal included: it cancels in
    L = D - A). Weights below ``eps / n`` are set to zero: together they change a row of
    ``A W`` by less than one rounding error of its diagonal term. On min-max scaled data with
    hundreds of features the squared distances are in the tens or hundreds, so with
    ``sigma = 0.5`` almost every off-diagonal weight is that small (the graph term all but
    vanishes; the book measures this), and the graph is then stored sparse. Building it takes
    n^2 memory for the distances.

    A ``sigma`` so small that every off-diagonal weight underflows (e.g. ``sigma=1e-300``, or
    ``sigma=0.5`` on data whose samples are far apart) gives an empty graph: only the
    diagonal (distance 0, weight 1) and exact duplicates remain, the graph term is zero and
    GNMF's W update becomes ``W * (X H^T + lam W) / (W H H^T + lam W)``, with the fixed
    points of plain NMF. ``scale_exp``: as in :func:`knn_graph` (the weights are
    ``exp(-d^2 / s / s)`` with ``s = sigma / 2**scale_exp`` and d the distances in X).
    """
    X = _as_float_data(X)
    sigma = check_real(sigma, name="sigma", low=0, low_inclusive=False)
    n = X.shape[0]
    D2 = pairwise_distances(X, metric="sqeuclidean")
    with np.errstate(divide="ignore", invalid="ignore", over="ignore", under="ignore"):
        if scale_exp == 0:
            Q = D2 / sigma**2
        else:  # sigma in the units of X, divided twice: its square may under- or overflow
            s = np.ldexp(sigma, -scale_exp)
            Q = D2 / s / s
    # distance 0 has weight 1 for every sigma, also when sigma**2 underflows to 0 (0 / 0)
    Q[D2 == 0] = 0.0
    A = np.exp(-Q)
    A[A < np.finfo(X.dtype).eps / n] = 0.0
    A = A.astype(X.dtype)
    degree = A.sum(axis=1)
    if np.count_nonzero(A) <= _RBF_DENSE_ABOVE * n * n:
        A = sp.csr_matrix(A)
    return Graph(A, degree)


def block_diagonal(graphs):
    """One graph over the stacked samples of several graphs (task i's samples after task
    i-1's), for :func:`metanmf_lab.core._solvers.mu_batched`. Always sparse."""
    A = sp.block_diag([g.A if sp.issparse(g.A) else sp.csr_matrix(g.A) for g in graphs],
                      format="csr")
    return Graph(A, np.concatenate([g.degree for g in graphs]))


def build_graph(X, graph="knn", *, n_neighbors=5, weight="binary", heat_t=None, sigma=0.5,
                scale_exp=0):
    """Build the graph named by ``graph`` (``"knn"`` or ``"rbf"``) over the rows of X
    (``scale_exp``: X is the data divided by ``2**scale_exp``, see :func:`knn_graph`)."""
    return shared(X, ("graph", graph, n_neighbors, weight, heat_t, sigma, scale_exp),
                  lambda: _build_graph(X, graph, n_neighbors, weight, heat_t, sigma,
                                       scale_exp))


def _build_graph(X, graph, n_neighbors, weight, heat_t, sigma, scale_exp):
    graph = check_choice(graph, GRAPHS, name="graph")
    if graph == "knn":
        return knn_graph(X, n_neighbors=n_neighbors, weight=weight, heat_t=heat_t,
                         scale_exp=scale_exp)
    return rbf_graph(X, sigma=sigma, scale_exp=scale_exp)
