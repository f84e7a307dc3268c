"""Input validation common to every estimator and function of the package.

Every public entry point validates its inputs here, up front, so that bad input gives a clear
``ValueError`` or ``TypeError`` (saying what was given and what is allowed) instead of a silent
NaN deep inside a solver.
"""

from __future__ import annotations

import numbers

import numpy as np
import scipy.sparse as sp


def check_nonnegative_data(X, *, name="X", dtype=None, min_samples=1, min_features=1):
    """Validate a data matrix and return it as a C-contiguous float array.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Data matrix. Must be two-dimensional, non-empty, finite and non-negative, and not all
        zero. Integer, boolean and object (numbers held as Python objects) input is
        converted to float64.
    name : str, default="X"
        Name used in error messages.
    dtype : {None, numpy.float32, numpy.float64}, default=None
        Wanted floating dtype; ``None`` keeps float32/float64 input as it is.
    min_samples, min_features : int, default=1
        Smallest allowed shape.

    Returns
    -------
    X : ndarray of shape (n_samples, n_features)
    """
    if sp.issparse(X):
        raise TypeError(f"{name} is a sparse matrix; this package works on dense arrays. "
                        f"Use {name}.toarray() first.")
    if isinstance(X, (str, bytes)) or X is None:
        raise TypeError(f"{name} must be an array-like of numbers, got {type(X).__name__}.")
    try:
        arr = np.asarray(X)
    except Exception as exc:  # ragged lists and the like
        raise TypeError(f"{name} could not be converted to a numeric array: {exc}") from exc
    if arr.dtype == object:  # numbers held as Python objects: converted, as scikit-learn does
        try:
            arr = arr.astype(np.float64)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"{name} has dtype object and does not hold only real numbers: "
                            f"{exc}") from exc
    if not (np.issubdtype(arr.dtype, np.number) or arr.dtype == np.bool_):
        raise TypeError(f"{name} must hold real numbers, got dtype {arr.dtype}.")
    if np.iscomplexobj(arr):  # ValueError and this wording, as scikit-learn
        raise ValueError(f"Complex data not supported: {name} must be real-valued, got "
                         f"complex dtype {arr.dtype}.")
    if arr.ndim != 2:
        reshape = (" Reshape your data with array.reshape(-1, 1) if it has a single feature or "
                   "array.reshape(1, -1) if it is a single sample." if arr.ndim == 1 else "")
        raise ValueError(f"{name} must be a 2-D array of shape (n_samples, n_features), "
                         f"got an array with {arr.ndim} dimension(s) and shape "
                         f"{arr.shape}.{reshape}")
    n, m = arr.shape
    # scikit-learn's wording ("0 feature(s) (shape=(5, 0)) while a minimum of 1 is required")
    if n < min_samples:
        raise ValueError(f"{name} has {n} sample(s) (shape={arr.shape}) while a minimum of "
                         f"{min_samples} is required.")
    if m < min_features:
        raise ValueError(f"{name} has {m} feature(s) (shape={arr.shape}) while a minimum of "
                         f"{min_features} is required.")
    if dtype is None:
        dtype = arr.dtype if arr.dtype in (np.float32, np.float64) else np.float64
    dtype = check_dtype(dtype)
    arr = np.ascontiguousarray(arr, dtype=dtype)
    # min and max are NaN if any entry is NaN, and infinite if any entry is: two passes over X
    # tell everything (finite, non-negative, not all zero) without a temporary array.
    lo, hi = arr.min(), arr.max()
    if not (np.isfinite(lo) and np.isfinite(hi)):
        bad = int(arr.size - np.isfinite(arr).sum())
        raise ValueError(f"{name} contains {bad} NaN or infinite value(s); NMF needs finite data.")
    if lo < 0:  # the first words are scikit-learn's
        raise ValueError(f"Negative values in data passed to the estimator: {name} contains "
                         f"negative values (minimum {lo:.4g}); NMF needs non-negative data.")
    if hi == 0:
        raise ValueError(f"{name} is all zeros: there is nothing to factorise.")
    return arr


def check_dtype(dtype):
    """Return ``numpy.float32`` or ``numpy.float64`` from a dtype-like, or raise."""
    try:
        dt = np.dtype(dtype)
    except TypeError as exc:
        raise TypeError(f"dtype must be float32 or float64, got {dtype!r}.") from exc
    if dt not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise ValueError(f"dtype must be float32 or float64, got {dt}.")
    return dt.type


def check_rank(n_components, shape=None, *, name="n_components"):
    """Validate the factorisation rank against the data shape.

    The rank must be an integer with ``1 <= n_components <= min(n_samples, n_features)``.
    """
    if isinstance(n_components, bool) or not isinstance(n_components, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {n_components!r} "
                        f"({type(n_components).__name__}).")
    if n_components < 1:
        raise ValueError(f"{name} must be >= 1, got {n_components}.")
    if shape is not None and n_components > min(shape):
        raise ValueError(f"{name}={n_components} is larger than min(n_samples, n_features) = "
                         f"{min(shape)} for data of shape {tuple(shape)}.")
    return int(n_components)


def check_choice(value, allowed, *, name):
    """Check that ``value`` is one of ``allowed`` (strings are compared case-insensitively)."""
    if isinstance(value, str):
        low = value.lower()
        for a in allowed:
            if isinstance(a, str) and a.lower() == low:
                return a
    elif value in allowed:
        return value
    raise ValueError(f"Unknown {name} {value!r}; allowed values are "
                     f"{', '.join(repr(a) for a in allowed)}.")


def check_int(value, *, name, low=None, high=None):
    """Check an integer parameter within optional inclusive bounds."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, got {value!r} ({type(value).__name__}).")
    if low is not None and value < low:
        raise ValueError(f"{name} must be >= {low}, got {value}.")
    if high is not None and value > high:
        raise ValueError(f"{name} must be <= {high}, got {value}.")
    return int(value)


def check_real(value, *, name, low=None, high=None, low_inclusive=True):
    """Check a finite real parameter within optional bounds."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {value!r} ({type(value).__name__}).")
    value = float(value)
    if not np.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}.")
    if low is not None:
        if (value < low) if low_inclusive else (value <= low):
            op = ">=" if low_inclusive else ">"
            raise ValueError(f"{name} must be {op} {low}, got {value}.")
    if high is not None and value > high:
        raise ValueError(f"{name} must be <= {high}, got {value}.")
    return value


def check_factor(A, shape, *, name, dtype):
    """Validate a user-supplied initial factor (``init="custom"``)."""
    if A is None:
        raise ValueError(f"init='custom' needs {name}; it was not given.")
    arr = np.asarray(A)
    if arr.shape != tuple(shape):
        raise ValueError(f"Initial {name} must have shape {tuple(shape)}, got {arr.shape}.")
    if not np.issubdtype(arr.dtype, np.number):
        raise TypeError(f"Initial {name} must be numeric, got dtype {arr.dtype}.")
    arr = np.array(arr, dtype=dtype, order="C", copy=True)
    if not np.isfinite(arr).all():
        raise ValueError(f"Initial {name} contains NaN or infinite values.")
    if arr.min() < 0:
        raise ValueError(f"Initial {name} contains negative values.")
    if not arr.any():
        raise ValueError(f"Initial {name} is all zeros; multiplicative updates could never "
                         f"leave zero.")
    return arr


# -- the data's scale -------------------------------------------------------------------------
#
# The multiplicative updates are products of the data with the factors: with the coefficients
# carrying the data's scale c (the components stay of order 1), the Frobenius updates and
# ||X||^2 hold terms of order n m c^2, and KL's model W H is floored at EPS = 2^-23. So c^2 must
# stay far inside the floating-point range, with room for the sizes n m (up to ~2^40) and for
# the factors' own dynamic range (MU drives entries geometrically towards zero): float64 has
# exponents -1022..1023, float32 -126..127. Data whose largest value lies in
# [2^-50, 2^50] keeps c^2 within 2^-100..2^100, which leaves ample room in float64 and even in
# float32; for KL the largest value must also stay far above the floor EPS, hence
# [2^-10, 2^50] (a margin of 2^13 between the data's maximum and the floor). Data in these
# ranges -- every min-max scaled data set, counts, pixel values -- is factorised as given,
# bit for bit as before; other data is first divided by the power of two that brings its
# maximum into [0.5, 1) (exact in floating point), and the results are mapped back.

#: log2 of the largest value of the data that is factorised without internal scaling.
SAFE_MAX_EXP = 50
#: log2 of the smallest such largest value, per loss (the KL model is floored at 2^-23).
SAFE_MIN_EXP = {"frobenius": -50, "kl": -10}


def scale_exponent(A, loss="frobenius"):
    """The power of two e by which ``A / 2**e`` is factorised instead of A (0: as given).

    0 when the largest value of A lies in ``[2**SAFE_MIN_EXP[loss], 2**SAFE_MAX_EXP]``
    (see the comment above); otherwise the e that brings it into [0.5, 1). A must be finite,
    non-negative and not all zero (validated data or factors).
    """
    hi = float(np.max(A))
    if 2.0 ** SAFE_MIN_EXP[loss] <= hi <= 2.0 ** SAFE_MAX_EXP or not hi > 0:
        return 0
    return int(np.frexp(hi)[1])


def ldexp_as(A, e):
    """``A * 2**e`` in A's dtype (exact unless it under- or overflows); A itself if e == 0."""
    if e == 0:
        return A
    return np.ldexp(A, e).astype(A.dtype, copy=False)


# -- degenerate results -----------------------------------------------------------------------


class DegenerateFitError(FloatingPointError):
    """A fit, transform or evaluation ended with NaN/infinite or all-zero factors.

    A subclass of :class:`FloatingPointError`: the multiplicative updates overflowed or
    underflowed. The message names the estimator, the factor, the likely cause and what to try.
    """


def check_factors_sound(owner, factors, *, hint=""):
    """Raise :class:`DegenerateFitError` if a factor is non-finite or entirely zero.

    Parameters
    ----------
    owner : str
        What produced the factors, e.g. ``"NMF.fit"``.
    factors : dict of {str: ndarray}
        The factors by name (e.g. ``{"coefficients W": W, "components_": H}``); the data they
        factorise is never all zero (validated), so an all-zero factor is an underflow.
    hint : str
        The likely causes among the caller's parameters, in a sentence.
    """
    for name, A in factors.items():
        finite = np.isfinite(A)
        if not finite.all():
            bad = int(A.size - finite.sum())
            raise DegenerateFitError(
                f"{owner} ended with {bad} NaN or infinite value(s) in {name} (of {A.size}): "
                f"the multiplicative updates overflowed. {hint}Try float64 data, smaller "
                f"weights, or data scaled to [0, 1] (e.g. sklearn.preprocessing.MinMaxScaler).")
        if not A.any():
            raise DegenerateFitError(
                f"{owner} ended with {name} all zero although the data is not: the "
                f"multiplicative updates underflowed, or overflowed into zeros (the "
                f"reconstruction would be 0). {hint}"
                f"Try float64 data, other weights, or data scaled to [0, 1] (e.g. "
                f"sklearn.preprocessing.MinMaxScaler).")


def check_coefficients_sound(owner, W, X, H, *, hint=""):
    """Like :func:`check_factors_sound` for coefficients W solved with components H fixed.

    All-zero coefficients are right when X has nothing in common with the components
    (``X @ H.T == 0``); otherwise they are an underflow and raise.
    """
    if not np.isfinite(W).all() or (not W.any() and (X @ H.T).any()):
        check_factors_sound(owner, {"the coefficients W": W}, hint=hint)
