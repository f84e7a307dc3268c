"""Initialisation of the factors: uniform random, NNDSVD and its two variants, custom.

NNDSVD follows Boutsidis & Gallopoulos (2008): each of the leading singular triplets of X is
split into its positive and negative parts and the dominant part (by norm product) is kept, so
the initial factors are non-negative and the first one is the leading singular pair. Variants
fill the zeros it leaves: ``nndsvda`` with the mean of X, ``nndsvdar`` with small random
values (mean / 100 times |N(0, 1)|), as in scikit-learn.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg
from sklearn.utils import check_random_state
from sklearn.utils.extmath import randomized_svd

from .._validation import check_choice, check_factor, check_nonnegative_data, check_rank
from ._shared import shared

INITS = ("random", "nndsvd", "nndsvda", "nndsvdar", "custom")

#: Above this size of min(n_samples, n_features) the SVD is randomised (seeded, deterministic).
_EXACT_SVD_LIMIT = 2000

#: NNDSVD sets entries below this to exactly zero (Boutsidis & Gallopoulos; scikit-learn).
_NNDSVD_EPS = 1e-6


def random_factors(n_samples, n_components, n_features, random_state=None, dtype=np.float64):
    """Uniform U(0, 1) factors, as in thesis Algorithm 1 line 1. Draws W first, then H."""
    rng = check_random_state(random_state)
    W = rng.uniform(0.0, 1.0, size=(n_samples, n_components)).astype(dtype, copy=False)
    H = rng.uniform(0.0, 1.0, size=(n_components, n_features)).astype(dtype, copy=False)
    return np.ascontiguousarray(W), np.ascontiguousarray(H)


def truncated_svd(X, n_components):
    """Leading ``n_components`` singular triplets ``(U, S, Vt)`` of X, computed in float64.

    Exact (LAPACK gesdd) when ``min(X.shape) <= 2000``, else randomised with a fixed seed.
    """
    X64 = np.asarray(X, dtype=np.float64)
    if min(X64.shape) <= _EXACT_SVD_LIMIT:
        U, S, Vt = shared(X64, "svd", lambda: scipy.linalg.svd(
            X64, full_matrices=False, lapack_driver="gesdd", check_finite=False))
        return U[:, :n_components], S[:n_components], Vt[:n_components]
    return randomized_svd(X64, n_components, n_iter=7, random_state=0)


def nndsvd(X, n_components, variant="nndsvd", random_state=None):
    """NNDSVD initialisation (Boutsidis & Gallopoulos 2008).

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features), non-negative
    n_components : int
    variant : {"nndsvd", "nndsvda", "nndsvdar"}
        How the zeros of plain NNDSVD are filled (not at all / with ``X.mean()`` / with small
        random values).
    random_state : int, RandomState or None
        Used by ``nndsvdar`` only.

    Returns
    -------
    W : ndarray of shape (n_samples, n_components)
    H : ndarray of shape (n_components, n_features)
        Same dtype as X.
    """
    variant = check_choice(variant, ("nndsvd", "nndsvda", "nndsvdar"), name="NNDSVD variant")
    X = check_nonnegative_data(X)
    n_components = check_rank(n_components, X.shape)
    U, S, Vt = truncated_svd(X, n_components)
    # Split every singular pair into positive and negative parts (vectorised over components).
    Up, Un = np.maximum(U, 0), np.maximum(-U, 0)
    Vp, Vn = np.maximum(Vt, 0), np.maximum(-Vt, 0)
    nup, nun = np.linalg.norm(Up, axis=0), np.linalg.norm(Un, axis=0)
    nvp, nvn = np.linalg.norm(Vp, axis=1), np.linalg.norm(Vn, axis=1)
    mp, mn = nup * nvp, nun * nvn
    use_pos = mp > mn
    u = np.where(use_pos, Up / np.where(nup > 0, nup, 1), Un / np.where(nun > 0, nun, 1))
    v = np.where(use_pos[:, None], Vp / np.where(nvp > 0, nvp, 1)[:, None],
                 Vn / np.where(nvn > 0, nvn, 1)[:, None])
    scale = np.sqrt(S * np.where(use_pos, mp, mn))
    # The leading pair of a non-negative matrix is one-signed: take it whole (Perron-Frobenius).
    u[:, 0], v[0], scale[0] = np.abs(U[:, 0]), np.abs(Vt[0]), np.sqrt(S[0])
    W = u * scale
    H = v * scale[:, None]
    W[W < _NNDSVD_EPS] = 0.0
    H[H < _NNDSVD_EPS] = 0.0
    if variant == "nndsvda":
        avg = float(np.mean(X))
        W[W == 0] = avg
        H[H == 0] = avg
    elif variant == "nndsvdar":
        rng = check_random_state(random_state)
        avg = float(np.mean(X))
        W[W == 0] = np.abs(avg * rng.standard_normal(int((W == 0).sum())) / 100)
        H[H == 0] = np.abs(avg * rng.standard_normal(int((H == 0).sum())) / 100)
    dtype = X.dtype
    return np.ascontiguousarray(W, dtype=dtype), np.ascontiguousarray(H, dtype=dtype)


def initialize(X, n_components, init="random", *, random_state=None, W=None, H=None):
    """Initial factors ``(W, H)`` for X by the method ``init`` (one of :data:`INITS`).

    ``init="custom"`` validates and copies the given ``W`` and ``H``; the other methods ignore
    them. Returned arrays are fresh, C-contiguous and of X's dtype.
    """
    init = check_choice(init, INITS, name="init")
    X = check_nonnegative_data(X)
    n_components = check_rank(n_components, X.shape)
    n, m = X.shape
    if init == "custom":
        return (check_factor(W, (n, n_components), name="W", dtype=X.dtype),
                check_factor(H, (n_components, m), name="H", dtype=X.dtype))
    if init == "random":
        return random_factors(n, n_components, m, random_state, X.dtype)
    return nndsvd(X, n_components, variant=init, random_state=random_state)
