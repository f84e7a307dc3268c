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
        zero. Integer and boolean input is converted to float64.
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
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number)
                                   or arr.dtype == np.bool_):
        raise TypeError(f"{name} must hold real numbers, got dtype {arr.dtype}.")
    if np.iscomplexobj(arr):
        raise TypeError(f"{name} must be real-valued, got complex dtype {arr.dtype}.")
    if arr.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array of shape (n_samples, n_features), "
                         f"got an array with {arr.ndim} dimension(s) and shape {arr.shape}.")
    n, m = arr.shape
    if n < min_samples or m < min_features:
        raise ValueError(f"{name} has shape {arr.shape}: at least {min_samples} sample(s) and "
                         f"{min_features} feature(s) are required.")
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
    if lo < 0:
        raise ValueError(f"{name} contains negative values (minimum {lo:.4g}); NMF needs "
                         f"non-negative data.")
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
