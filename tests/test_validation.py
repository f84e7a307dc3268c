"""Bad input gives a clear ValueError/TypeError up front; awkward-but-valid input works."""

import numpy as np
import pytest
import scipy.sparse as sp
from metanmf_lab._validation import (check_choice, check_dtype, check_factor, check_int,
                                     check_nonnegative_data, check_rank, check_real)
from metanmf_lab.core._nmf import GNMF, NMF

ESTIMATORS = [NMF, GNMF]


def good_X(n=10, m=6, seed=0):
    return np.random.default_rng(seed).random((n, m))


def with_entry(value):
    X = good_X()
    X[2, 3] = value
    return X


# -- 8. bad data ----------------------------------------------------------------------------

BAD_X = [
    pytest.param(with_entry(-0.5), ValueError,
                 r"Negative values in data.*X contains negative values \(minimum -0\.5\)",
                 id="negative"),
    pytest.param(with_entry(np.nan), ValueError, "X contains 1 NaN or infinite", id="nan"),
    pytest.param(with_entry(np.inf), ValueError, "X contains 1 NaN or infinite", id="inf"),
    pytest.param(with_entry(-np.inf), ValueError, "X contains 1 NaN or infinite", id="-inf"),
    pytest.param(np.zeros((0, 5)), ValueError,
                 r"X has 0 sample\(s\) \(shape=\(0, 5\)\) while a minimum of 1 is required",
                 id="no-rows"),
    pytest.param(np.zeros((5, 0)), ValueError,
                 r"X has 0 feature\(s\) \(shape=\(5, 0\)\) while a minimum of 1 is required",
                 id="no-columns"),
    pytest.param(np.array([]), ValueError, "must be a 2-D array.*1 dimension", id="empty-1d"),
    pytest.param(np.ones(5), ValueError, r"must be a 2-D array.*shape \(5,\).*Reshape your data",
                 id="1-D"),
    pytest.param(np.ones((3, 4, 2)), ValueError, "must be a 2-D array.*3 dimension", id="3-D"),
    pytest.param(np.float64(2.0), ValueError, "must be a 2-D array.*0 dimension", id="scalar"),
    pytest.param(np.ones((4, 3), dtype=complex), ValueError,
                 "Complex data not supported: X must be real-valued.*complex",
                 id="complex"),
    pytest.param("X.csv", TypeError, "must be an array-like of numbers, got str", id="str"),
    pytest.param(b"abc", TypeError, "got bytes", id="bytes"),
    pytest.param(None, TypeError, "got NoneType", id="none"),
    pytest.param(np.array([["1", "2"], ["3", "4"]]), TypeError, "must hold real numbers",
                 id="string-array"),
    pytest.param(np.array([[1.0, "a"], [object(), 2.0]], dtype=object), TypeError,
                 "dtype object and does not hold only real numbers", id="object-not-numbers"),
    pytest.param([[1.0, 2.0], [3.0]], TypeError, "could not be converted", id="ragged"),
    pytest.param(sp.csr_matrix(np.eye(4)), TypeError, r"sparse matrix.*toarray", id="csr"),
    pytest.param(sp.csc_array(np.eye(4)), TypeError, "sparse matrix", id="csc-array"),
    pytest.param(np.zeros((6, 4)), ValueError, "X is all zeros", id="all-zero"),
    pytest.param(np.array([[0.0, -0.0]]), ValueError, "X is all zeros", id="signed-zero"),
]


@pytest.mark.parametrize("Est", ESTIMATORS)
@pytest.mark.parametrize("X, exc, match", BAD_X)
def test_bad_data_rejected(Est, X, exc, match):
    est = Est(1, max_iter=5)
    with pytest.raises(exc, match=match):
        est.fit(X)
    assert not hasattr(est, "components_")


@pytest.mark.parametrize("X, exc, match", BAD_X)
def test_bad_data_rejected_by_transform(X, exc, match):
    est = NMF(1, max_iter=5).fit(good_X(m=4))
    with pytest.raises(exc, match=match):
        est.transform(X)


def test_fit_does_not_modify_X():
    X = good_X()
    X0 = X.copy()
    NMF(3, max_iter=10).fit(X)
    GNMF(3, loss="kl", max_iter=10).fit(X)
    np.testing.assert_array_equal(X, X0)


# -- 8. bad rank ----------------------------------------------------------------------------

BAD_RANK = [
    pytest.param(0, ValueError, "n_components must be >= 1, got 0", id="zero"),
    pytest.param(-2, ValueError, "n_components must be >= 1, got -2", id="negative"),
    pytest.param(7, ValueError, r"n_components=7 is larger than min\(n_samples, n_features\) "
                 r"= 6 for data of shape \(10, 6\)", id="too-large"),
    pytest.param(2.5, TypeError, r"n_components must be an integer, got 2\.5 \(float\)",
                 id="float"),
    pytest.param(3.0, TypeError, "n_components must be an integer", id="integral-float"),
    pytest.param("3", TypeError, r"n_components must be an integer, got '3' \(str\)",
                 id="str"),
    pytest.param(True, TypeError, r"got True \(bool\)", id="bool"),
    pytest.param(np.bool_(True), TypeError, "n_components must be an integer", id="np-bool"),
]


@pytest.mark.parametrize("Est", ESTIMATORS)
@pytest.mark.parametrize("k, exc, match", BAD_RANK)
def test_bad_rank_rejected(Est, k, exc, match):
    with pytest.raises(exc, match=match):
        Est(k, max_iter=5).fit(good_X())


@pytest.mark.parametrize("k", [1, 6, np.int64(3), np.int32(2), None])
def test_valid_ranks(k):
    est = NMF(k, max_iter=3).fit(good_X())
    assert est.n_components_ == (6 if k is None else int(k))
    assert type(est.n_components_) is int


# -- 8. bad parameters ----------------------------------------------------------------------

BAD_PARAMS = [
    pytest.param(NMF, dict(loss="l2"), ValueError, "Unknown loss 'l2'; allowed values are "
                 "'frobenius', 'kl'", id="loss"),
    pytest.param(NMF, dict(loss=None), ValueError, "Unknown loss None", id="loss-none"),
    pytest.param(NMF, dict(init="svd"), ValueError, "Unknown init 'svd'", id="init"),
    pytest.param(NMF, dict(stopping="never"), ValueError, "Unknown stopping 'never'",
                 id="stopping"),
    pytest.param(NMF, dict(tol=-1e-4), ValueError, "tol must be >= 0", id="tol-negative"),
    pytest.param(NMF, dict(tol=np.nan), ValueError, "tol must be finite", id="tol-nan"),
    pytest.param(NMF, dict(tol="0.1"), TypeError, "tol must be a real number", id="tol-str"),
    pytest.param(NMF, dict(max_iter=-1), ValueError, "max_iter must be >= 0, got -1",
                 id="max_iter-negative"),
    pytest.param(NMF, dict(max_iter=10.0), TypeError, "max_iter must be an integer",
                 id="max_iter-float"),
    pytest.param(NMF, dict(max_iter=None), TypeError, "max_iter must be an integer",
                 id="max_iter-none"),
    pytest.param(NMF, dict(normalize="yes"), TypeError, "normalize must be True or False",
                 id="normalize"),
    pytest.param(NMF, dict(random_state="seed"), ValueError, "cannot be used to seed",
                 id="random_state"),
    pytest.param(GNMF, dict(lam=-1.0), ValueError, "lam must be >= 0", id="lam-negative"),
    pytest.param(GNMF, dict(lam=np.inf), ValueError, "lam must be finite", id="lam-inf"),
    pytest.param(GNMF, dict(lam="big"), TypeError, "lam must be a real number", id="lam-str"),
    pytest.param(GNMF, dict(graph="grid"), ValueError, "Unknown graph 'grid'; allowed values "
                 "are 'knn', 'rbf'", id="graph"),
    pytest.param(GNMF, dict(weight="cosine"), ValueError, "Unknown weight 'cosine'",
                 id="weight"),
    pytest.param(GNMF, dict(kl_update="newton"), ValueError, "Unknown kl_update 'newton'",
                 id="kl_update"),
    pytest.param(GNMF, dict(sigma=0), ValueError, "sigma must be > 0", id="sigma-zero"),
    pytest.param(GNMF, dict(sigma=-1.0), ValueError, "sigma must be > 0", id="sigma-neg"),
    pytest.param(GNMF, dict(heat_t=0.0), ValueError, "heat_t must be > 0", id="heat_t-zero"),
    pytest.param(GNMF, dict(heat_t=-2.0), ValueError, "heat_t must be > 0", id="heat_t-neg"),
    pytest.param(GNMF, dict(n_neighbors=0), ValueError, "n_neighbors must be >= 1",
                 id="n_neighbors-zero"),
    pytest.param(GNMF, dict(n_neighbors=2.5), TypeError, "n_neighbors must be an integer",
                 id="n_neighbors-float"),
]


@pytest.mark.parametrize("Est, params, exc, match", BAD_PARAMS)
def test_bad_parameters_rejected(Est, params, exc, match):
    est = Est(2, **{"max_iter": 5, **params})
    with pytest.raises(exc, match=match):
        est.fit(good_X())
    assert not hasattr(est, "components_")


@pytest.mark.parametrize("params, exc, match", [
    (dict(graph="grid"), ValueError, "Unknown graph"),
    (dict(kl_update="newton"), ValueError, "Unknown kl_update"),
    (dict(lam=-1.0), ValueError, "lam must be >= 0"),
    (dict(sigma=0.0), ValueError, "sigma must be > 0"),
])
def test_gnmf_parameters_checked_even_when_unused(params, exc, match):
    # lam=0 / Frobenius / kNN make these unused, but a typo must still be reported.
    base = dict(lam=0.0, loss="frobenius", graph="knn")
    with pytest.raises(exc, match=match):
        GNMF(2, max_iter=5, **{**base, **params}).fit(good_X())


# -- 8. custom initialisation ---------------------------------------------------------------

def _custom(W="ok", H="ok"):
    W0, H0 = np.full((10, 3), 0.5), np.full((3, 6), 0.5)
    return dict(W=W0 if isinstance(W, str) else W, H=H0 if isinstance(H, str) else H)


BAD_CUSTOM = [
    pytest.param(dict(_custom(), W=None), ValueError, "init='custom' needs W", id="no-W"),
    pytest.param(dict(_custom(), H=None), ValueError, "init='custom' needs H", id="no-H"),
    pytest.param(_custom(W=np.ones((10, 2))), ValueError,
                 r"Initial W must have shape \(10, 3\), got \(10, 2\)", id="W-shape"),
    pytest.param(_custom(W=np.ones((3, 10))), ValueError, "Initial W must have shape",
                 id="W-transposed"),
    pytest.param(_custom(H=np.ones((3, 5))), ValueError,
                 r"Initial H must have shape \(3, 6\), got \(3, 5\)", id="H-shape"),
    pytest.param(_custom(W=-np.ones((10, 3))), ValueError, "Initial W contains negative",
                 id="W-negative"),
    pytest.param(_custom(H=np.full((3, 6), np.nan)), ValueError, "Initial H contains NaN",
                 id="H-nan"),
    pytest.param(_custom(H=np.full((3, 6), np.inf)), ValueError, "Initial H contains NaN or "
                 "infinite", id="H-inf"),
    pytest.param(_custom(W=np.zeros((10, 3))), ValueError, "Initial W is all zeros",
                 id="W-zero"),
    pytest.param(_custom(W=np.full((10, 3), "a")), TypeError, "Initial W must be numeric",
                 id="W-str"),
]


@pytest.mark.parametrize("Est", ESTIMATORS)
@pytest.mark.parametrize("factors, exc, match", BAD_CUSTOM)
def test_bad_custom_init_rejected(Est, factors, exc, match):
    with pytest.raises(exc, match=match):
        Est(3, init="custom", max_iter=5).fit(good_X(), **factors)


def test_custom_factors_ignored_by_other_inits():
    X = good_X()
    a = NMF(3, init="random", max_iter=5, random_state=0).fit(X, W=np.ones((2, 2)))
    b = NMF(3, init="random", max_iter=5, random_state=0).fit(X)
    np.testing.assert_array_equal(a.components_, b.components_)


# -- 8. zero rows and columns inside valid data -------------------------------------------------

@pytest.mark.parametrize("Est", ESTIMATORS)
@pytest.mark.parametrize("loss", ["frobenius", "kl"])
@pytest.mark.parametrize("init", ["random", "nndsvd", "nndsvda"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_zero_rows_and_columns_are_handled(Est, loss, init, dtype):
    X = good_X(20, 12, 3).astype(dtype)
    X[[0, 7]] = 0.0
    X[:, [2, 11]] = 0.0
    est = Est(3, loss=loss, init=init, max_iter=60, tol=0, random_state=0)
    W = est.fit_transform(X)
    H = est.components_
    for A in (W, H, est.objective_history_):
        assert np.isfinite(A).all()
    assert (W >= 0).all() and (H >= 0).all()
    assert np.isfinite(est.reconstruction_err_)
    assert est.objective_history_[-1] < est.objective_history_[0] or init == "nndsvd"
    # The zero features get (about) zero weight in every component.
    assert H[:, [2, 11]].max() < 1e-6 * H.max()
    if Est is NMF:
        # Without a graph, nothing pulls the codes of the zero samples away from 0.
        assert W[[0, 7]].max() < 1e-6 * W.max()
    Wt = est.transform(X)
    assert np.isfinite(Wt).all() and (Wt >= 0).all()


@pytest.mark.parametrize("loss", ["frobenius", "kl"])
def test_single_nonzero_entry(loss):
    X = np.zeros((5, 4))
    X[1, 2] = 3.0
    est = NMF(1, loss=loss, max_iter=200, tol=0, random_state=0)
    W = est.fit_transform(X)
    np.testing.assert_allclose(W @ est.components_, X, atol=1e-3)


# -- the validators themselves ----------------------------------------------------------------

@pytest.mark.parametrize("X, dtype, expected", [
    (np.ones((2, 2), dtype=np.int64), None, np.float64),
    (np.ones((2, 2), dtype=bool), None, np.float64),
    (np.ones((2, 2), dtype=np.float16), None, np.float64),
    (np.ones((2, 2), dtype=np.float32), None, np.float32),
    (np.ones((2, 2), dtype=np.float64), np.float32, np.float32),
    ([[1, 2], [3, 4]], "float32", np.float32),
])
def test_check_nonnegative_data_dtype(X, dtype, expected):
    out = check_nonnegative_data(X, dtype=dtype)
    assert out.dtype == expected and out.flags.c_contiguous
    np.testing.assert_array_equal(out, np.asarray(X, dtype=expected))


def test_check_nonnegative_data_min_shape_and_name():
    with pytest.raises(ValueError, match=r"Y has 2 sample\(s\) \(shape=\(2, 3\)\) while a minimum "
                                         r"of 3 is required"):
        check_nonnegative_data(np.ones((2, 3)), name="Y", min_samples=3)
    with pytest.raises(ValueError, match="Y contains negative"):
        check_nonnegative_data(-np.ones((2, 3)), name="Y")
    out = check_nonnegative_data(np.asfortranarray(np.ones((3, 2))))
    assert out.flags.c_contiguous


@pytest.mark.parametrize("dtype, exc, match", [
    (np.int32, ValueError, "dtype must be float32 or float64, got int32"),
    (np.float16, ValueError, "got float16"),
    ("banana", TypeError, "dtype must be float32 or float64, got 'banana'"),
])
def test_check_dtype_errors(dtype, exc, match):
    with pytest.raises(exc, match=match):
        check_dtype(dtype)
    assert check_dtype("float32") is np.float32 and check_dtype(np.float64) is np.float64


def test_check_rank_int_real_choice():
    assert check_rank(np.int64(4), (4, 9)) == 4
    with pytest.raises(ValueError, match=r"k=5 is larger"):
        check_rank(5, (4, 9), name="k")
    assert check_int(3, name="p", low=1, high=3) == 3
    with pytest.raises(ValueError, match="p must be <= 3, got 4"):
        check_int(4, name="p", high=3)
    assert check_real(np.float32(0.5), name="a", low=0, high=1) == 0.5
    assert check_real(0, name="a", low=0) == 0.0
    with pytest.raises(ValueError, match="a must be > 0, got 0.0"):
        check_real(0, name="a", low=0, low_inclusive=False)
    with pytest.raises(ValueError, match="a must be <= 1, got 2.0"):
        check_real(2, name="a", high=1)
    with pytest.raises(TypeError, match="a must be a real number, got 1j"):
        check_real(1j, name="a")
    assert check_choice("KL", ("frobenius", "kl"), name="loss") == "kl"
    assert check_choice(None, (None, 3), name="x") is None
    with pytest.raises(ValueError, match=r"Unknown loss \['kl'\]"):
        check_choice(["kl"], ("frobenius", "kl"), name="loss")


def test_check_factor():
    out = check_factor([[1, 2]], (1, 2), name="W", dtype=np.float32)
    assert out.dtype == np.float32 and out.flags.c_contiguous
    src = np.ones((2, 2))
    assert not np.shares_memory(check_factor(src, (2, 2), name="W", dtype=np.float64), src)
    with pytest.raises(ValueError, match=r"Initial H must have shape \(2, 2\), got \(\)"):
        check_factor(3.0, (2, 2), name="H", dtype=np.float64)
