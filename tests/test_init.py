"""Initialisations: uniform random, NNDSVD (Boutsidis & Gallopoulos 2008) and its variants,
custom. The NNDSVD reference below is a loop-based transcription of the paper's algorithm."""

import numpy as np
import pytest
from metanmf_lab.core._init import INITS, initialize, nndsvd, random_factors, truncated_svd
from sklearn.decomposition._nmf import _initialize_nmf  # test-only reference


def nndsvd_reference(X, k, variant="nndsvd", eps=1e-6):
    """Boutsidis & Gallopoulos (2008), one singular triplet at a time, with np.linalg.svd."""
    U, S, Vt = np.linalg.svd(np.asarray(X, dtype=np.float64), full_matrices=False)
    n, m = X.shape
    W, H = np.zeros((n, k)), np.zeros((k, m))
    W[:, 0] = np.sqrt(S[0]) * np.abs(U[:, 0])
    H[0, :] = np.sqrt(S[0]) * np.abs(Vt[0, :])
    for j in range(1, k):
        x, y = U[:, j], Vt[j, :]
        xp, xn = np.maximum(x, 0), np.maximum(-x, 0)
        yp, yn = np.maximum(y, 0), np.maximum(-y, 0)
        mp = np.linalg.norm(xp) * np.linalg.norm(yp)
        mn = np.linalg.norm(xn) * np.linalg.norm(yn)
        if mp > mn:
            u, v, sigma = xp / np.linalg.norm(xp), yp / np.linalg.norm(yp), mp
        else:
            u, v, sigma = xn / np.linalg.norm(xn), yn / np.linalg.norm(yn), mn
        W[:, j] = np.sqrt(S[j] * sigma) * u
        H[j, :] = np.sqrt(S[j] * sigma) * v
    W[W < eps] = 0
    H[H < eps] = 0
    if variant == "nndsvda":
        W[W == 0] = X.mean()
        H[H == 0] = X.mean()
    return W, H


def data(shape, seed=0, dtype=np.float64):
    return np.random.default_rng(seed).random(shape).astype(dtype)


SHAPES = [(30, 20, 1), (30, 20, 4), (12, 40, 6), (25, 25, 25), (50, 7, 3)]


@pytest.mark.parametrize("n, m, k", SHAPES)
@pytest.mark.parametrize("variant", ["nndsvd", "nndsvda"])
@pytest.mark.parametrize("seed", [0, 1])
def test_nndsvd_matches_loop_reference(n, m, k, variant, seed):
    X = data((n, m), seed)
    W, H = nndsvd(X, k, variant)
    W_ref, H_ref = nndsvd_reference(X, k, variant)
    assert W.shape == (n, k) and H.shape == (k, m)
    np.testing.assert_allclose(W, W_ref, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(H, H_ref, rtol=1e-9, atol=1e-12)
    # initialize() dispatches to the same thing.
    W2, H2 = initialize(X, k, variant)
    np.testing.assert_array_equal(W2, W)
    np.testing.assert_array_equal(H2, H)


@pytest.mark.parametrize("n, m, k", SHAPES)
@pytest.mark.parametrize("variant", ["nndsvd", "nndsvda", "nndsvdar"])
def test_nndsvd_nonnegative_and_leading_pair(n, m, k, variant):
    X = data((n, m), 3)
    W, H = nndsvd(X, k, variant, random_state=0)
    assert (W >= 0).all() and (H >= 0).all()
    assert np.isfinite(W).all() and np.isfinite(H).all()
    U, S, Vt = np.linalg.svd(X)
    w1, h1 = np.sqrt(S[0]) * np.abs(U[:, 0]), np.sqrt(S[0]) * np.abs(Vt[0])
    # The leading pair of a positive matrix is one-signed, so nothing falls under 1e-6.
    np.testing.assert_allclose(W[:, 0], w1, rtol=1e-10)
    np.testing.assert_allclose(H[0], h1, rtol=1e-10)
    if variant == "nndsvd":
        assert (W == 0).any() or k == 1  # plain NNDSVD leaves zeros after component 1
    else:
        assert (W > 0).all() and (H > 0).all()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_nndsvdar_fills_zeros_with_small_seeded_values(seed):
    X = data((30, 20), seed)
    W0, H0 = nndsvd(X, 5, "nndsvd")
    W, H = nndsvd(X, 5, "nndsvdar", random_state=seed)
    for A0, A in [(W0, W), (H0, H)]:
        zero = A0 == 0
        assert zero.any()
        np.testing.assert_array_equal(A[~zero], A0[~zero])  # the rest is untouched
        filled = A[zero]
        assert (filled >= 0).all() and (filled > 0).any()
        # |mean(X) * N(0, 1)| / 100: tiny next to the data scale.
        assert filled.max() < 0.1 * X.mean()
        assert filled.mean() == pytest.approx(X.mean() / 100 * np.sqrt(2 / np.pi), rel=0.5)
    Wb, Hb = nndsvd(X, 5, "nndsvdar", random_state=seed)
    np.testing.assert_array_equal(W, Wb)
    np.testing.assert_array_equal(H, Hb)
    Wc, _ = nndsvd(X, 5, "nndsvdar", random_state=seed + 10)
    assert not np.array_equal(W, Wc)


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("k", [1, 2, 3, 5])
def test_nndsvd_error_close_to_truncated_svd(seed, k):
    X = data((40, 25), seed)
    W, H = nndsvd(X, k)
    s = np.linalg.svd(X, compute_uv=False)
    svd_err = np.sqrt((s[k:] ** 2).sum())
    err = np.linalg.norm(X - W @ H)
    if k == 1:
        assert err == pytest.approx(svd_err, rel=1e-10)  # the best rank-1 approximation
    assert svd_err * (1 - 1e-12) <= err <= 1.5 * svd_err


@pytest.mark.parametrize("variant", ["nndsvd", "nndsvda"])
@pytest.mark.parametrize("seed", [0, 1])
def test_nndsvd_matches_sklearn(variant, seed):
    rng = np.random.default_rng(seed)
    # Well-separated singular values (rank 4 plus a little noise).
    X = (rng.random((50, 4)) * [8.0, 4.0, 2.0, 1.0]) @ rng.random((4, 30))
    X += 0.01 * rng.random(X.shape)
    s = np.linalg.svd(X, compute_uv=False)
    assert np.all(s[:4] / s[1:5] > 1.2)
    W, H = nndsvd(X, 4, variant)
    W_sk, H_sk = _initialize_nmf(X, 4, init=variant, random_state=0)
    np.testing.assert_allclose(W, W_sk, rtol=1e-6, atol=1e-6 * W.max())
    np.testing.assert_allclose(H, H_sk, rtol=1e-6, atol=1e-6 * H.max())


@pytest.mark.parametrize("flip", [[1, 1, 1, 1], [-1, 1, -1, 1], [1, -1, -1, -1]])
def test_nndsvd_invariant_to_singular_vector_signs(monkeypatch, flip):
    import metanmf_lab.core._init as init_mod

    X = data((20, 15), 4)
    W, H = nndsvd(X, 4)
    svd = init_mod.truncated_svd
    signs = np.array(flip, dtype=float)
    monkeypatch.setattr(init_mod, "truncated_svd",
                        lambda X, k: (lambda U, S, Vt: (U * signs, S, Vt * signs[:, None]))(
                            *svd(X, k)))
    Wf, Hf = nndsvd(X, 4)
    np.testing.assert_allclose(Wf, W, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(Hf, H, rtol=1e-12, atol=1e-15)


def test_nndsvd_commutes_with_permutations():
    X = data((20, 15), 4)
    pr, pc = np.random.default_rng(0).permutation(20), np.random.default_rng(1).permutation(15)
    W, H = nndsvd(X, 4)
    Wp, Hp = nndsvd(X[pr][:, pc], 4)
    np.testing.assert_allclose(Wp, W[pr], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(Hp, H[:, pc], rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("variant", ["nndsvd", "nndsvda", "nndsvdar"])
def test_nndsvd_float32(variant):
    X64 = data((20, 12), 0)
    X32 = X64.astype(np.float32)
    W, H = nndsvd(X32, 3, variant, random_state=0)
    assert W.dtype == np.float32 and H.dtype == np.float32
    assert W.flags.c_contiguous and H.flags.c_contiguous
    W64, H64 = nndsvd(X64, 3, variant, random_state=0)
    np.testing.assert_allclose(W, W64, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(H, H64, rtol=1e-4, atol=1e-5)


def test_nndsvd_integer_input_gives_float_factors():
    Xi = np.array([[1, 2, 3], [4, 5, 6], [7, 8, 10]])
    W, H = nndsvd(Xi, 2)
    W_ref, H_ref = nndsvd_reference(Xi.astype(float), 2)
    np.testing.assert_allclose(W, W_ref, rtol=1e-9)
    np.testing.assert_allclose(H, H_ref, rtol=1e-9)


def test_nndsvd_unknown_variant():
    with pytest.raises(ValueError, match="Unknown NNDSVD variant 'svd'"):
        nndsvd(data((5, 4)), 2, "svd")
    W, _ = nndsvd(data((5, 4)), 2, "NNDSVDA")  # case-insensitive
    assert (W > 0).all()


def test_truncated_svd_exact():
    X = data((30, 12), 5)
    U, S, Vt = truncated_svd(X, 4)
    assert U.shape == (30, 4) and S.shape == (4,) and Vt.shape == (4, 12)
    np.testing.assert_allclose(S, np.linalg.svd(X, compute_uv=False)[:4], rtol=1e-12)
    np.testing.assert_allclose(U.T @ U, np.eye(4), atol=1e-12)
    np.testing.assert_allclose((U * S) @ Vt, U @ U.T @ X, atol=1e-10)


# -- random and custom ----------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_random_factors_uniform_w_first(dtype):
    W, H = random_factors(40, 3, 25, random_state=7, dtype=dtype)
    rs = np.random.RandomState(7)
    np.testing.assert_array_equal(W, rs.uniform(0, 1, (40, 3)).astype(dtype))
    np.testing.assert_array_equal(H, rs.uniform(0, 1, (3, 25)).astype(dtype))
    assert W.dtype == dtype and H.dtype == dtype
    assert (W >= 0).all() and (W < 1).all() and (H >= 0).all() and (H < 1).all()
    W2, _ = random_factors(40, 3, 25, random_state=8, dtype=dtype)
    assert not np.array_equal(W, W2)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_initialize_custom_copies_and_casts(dtype):
    X = data((6, 5), 0, dtype)
    W0, H0 = np.ones((6, 2)), np.ones((2, 5)).tolist()
    W, H = initialize(X, 2, "custom", W=W0, H=H0)
    assert W.dtype == dtype and H.dtype == dtype
    assert not np.shares_memory(W, W0)
    W[0, 0] = 5.0
    assert W0[0, 0] == 1.0


@pytest.mark.parametrize("init", [i for i in INITS if i != "custom"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_initialize_shapes_and_dtype(init, dtype):
    X = data((9, 7), 1, dtype)
    W, H = initialize(X, 3, init, random_state=0)
    assert W.shape == (9, 3) and H.shape == (3, 7)
    assert W.dtype == dtype and H.dtype == dtype
    assert (W >= 0).all() and (H >= 0).all()
