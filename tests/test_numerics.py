"""Issue 26, numerics and API: the estimators scale data outside the safe range by a power of
two (results for X and c X agree up to c), never return NaN or all-zero factors silently, take
the rank from one place, and use only fitted attributes after fit."""

import warnings

import numpy as np
import pytest
from metanmf_lab._validation import (DegenerateFitError, check_coefficients_sound,
                                     check_factors_sound, scale_exponent)
from metanmf_lab.core._graph import knn_graph, rbf_graph
from metanmf_lab.core._meta import MetaNMF
from metanmf_lab.core._meta import WarmStartNMF
from metanmf_lab.core._nmf import GNMF, NMF
from sklearn.exceptions import NotFittedError

pytestmark = pytest.mark.filterwarnings("ignore::metanmf_lab.core.splits.TaskSplitWarning")

# Out of the safe range [2^-50, 2^50] (KL: [2^-10, 2^50]), and inside it.
SCALES = [1e-200, 1e-60, 1e150, 1e155, 1e300, 1e-5, 1e3]


@pytest.fixture(scope="module")
def X():
    X = np.random.default_rng(0).random((40, 12))
    return X / X.max() * 0.75  # maximum in [0.5, 1): X * 2^j is scaled back to X exactly


def meta(**kw):
    return MetaNMF(3, n_tasks=2, task_size=10, n_epochs=3, inner_iter=10, random_state=0, **kw)


# -- scale -------------------------------------------------------------------------------------

def test_scale_exponent_leaves_the_ordinary_range_alone():
    assert scale_exponent(np.array([[1.0, 0.0]])) == 0
    assert scale_exponent(np.array([[2.0 ** 50]])) == 0
    assert scale_exponent(np.array([[2.0 ** -50]])) == 0
    assert scale_exponent(np.array([[2.0 ** -50]]), "kl") == -49
    assert scale_exponent(np.array([[1e155]])) == np.frexp(1e155)[1]
    assert 0.5 <= np.ldexp(1e-200, -scale_exponent(np.array([[1e-200]]))) < 1


@pytest.mark.parametrize("loss", ["frobenius", "kl"])
@pytest.mark.parametrize("c", SCALES)
def test_nmf_is_scale_equivariant(X, loss, c):
    """From a random start, fit(c X) is c times fit(X) on the coefficients, the components
    are the same, and the error is in the data's units (rtol 1e-12; before: NaN at 1e155,
    all-zero factors and error 0 at 1e-200)."""
    kw = dict(n_components=3, loss=loss, random_state=0, max_iter=100, tol=0)
    ref, est = NMF(**kw), NMF(**kw)
    W_ref, W = ref.fit_transform(X), est.fit_transform(c * X)
    np.testing.assert_allclose(W / c, W_ref, rtol=1e-12, atol=1e-12 * W_ref.max())
    np.testing.assert_allclose(est.components_, ref.components_, rtol=1e-12,
                               atol=1e-12 * ref.components_.max())
    p = 1.0 if loss == "frobenius" else 0.5  # sqrt(2 KL) scales by sqrt(c)
    assert np.log(est.reconstruction_err_) == pytest.approx(
        np.log(ref.reconstruction_err_) + p * np.log(c), abs=1e-12)
    assert np.isfinite(est.reconstruction_err_) and est.reconstruction_err_ > 0
    # transform of new data at the same scale, and inverse_transform, in the data's units
    np.testing.assert_allclose(est.transform(c * X[:5]) / c, ref.transform(X[:5]), rtol=1e-10,
                               atol=1e-12)


@pytest.mark.parametrize("j", [-700, -80, 70, 600])
def test_power_of_two_scaling_is_exact(X, j):
    c = 2.0 ** j
    ref, est = NMF(3, random_state=0, max_iter=50), NMF(3, random_state=0, max_iter=50)
    W_ref, W = ref.fit_transform(X), est.fit_transform(c * X)
    np.testing.assert_array_equal(np.ldexp(W, -j), W_ref)
    np.testing.assert_array_equal(est.components_, ref.components_)
    assert est.n_iter_ == ref.n_iter_
    if abs(j) < 300:  # squared errors of 2^600 X overflow float64 (documented: inf)
        np.testing.assert_array_equal(np.ldexp(est.objective_history_, -2 * j),
                                      ref.objective_history_)


@pytest.mark.parametrize("j", [-300, 200])  # 4^j t must stay representable
@pytest.mark.parametrize("kw", [dict(), dict(weight="heat"), dict(weight="heat", heat_t=0.5)],
                         ids=["binary", "heat", "heat-t"])
def test_gnmf_knn_power_of_two(X, j, kw):
    """A kNN graph does not depend on the scale (heat weights with a given heat_t are computed
    for the unscaled data): GNMF on 2^j X is 2^j times GNMF on X, with t scaled by 4^j.
    Before: "cannot reshape array of size 295 into shape (60,5)" on huge values."""
    kw_c = dict(kw, heat_t=kw["heat_t"] * 4.0 ** j) if "heat_t" in kw else kw
    ref = GNMF(3, random_state=0, max_iter=50, **kw)
    est = GNMF(3, random_state=0, max_iter=50, **kw_c)
    W_ref, W = ref.fit_transform(X), est.fit_transform(2.0 ** j * X)
    np.testing.assert_allclose(np.ldexp(W, -j), W_ref, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(est.components_, ref.components_, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("c", [1e-200, 1e155, 1e300])
def test_gnmf_huge_and_tiny_values_give_finite_factors(X, c):
    for kw in (dict(), dict(graph="rbf"),
               dict(loss="kl", graph="rbf", lam=0.3, kl_update="split")):  # the authors' code's
        est = GNMF(3, random_state=0, max_iter=30, **kw)
        W = est.fit_transform(c * X)
        assert np.isfinite(W).all() and W.any() and np.isfinite(est.components_).all()
        assert np.isfinite(est.reconstruction_err_) and est.reconstruction_err_ > 0


@pytest.mark.parametrize("j", [-700, 600])
def test_rbf_graph_is_built_for_the_unscaled_data(X, j):
    """GNMF(sigma=2^j s) on 2^j X equals GNMF(sigma=s) on X: the RBF graph of scaled data is
    that of the data (computed without squaring sigma / 2^e)."""
    g = rbf_graph(X, sigma=0.7)
    g_scaled = rbf_graph(X, sigma=0.7 * 2.0 ** j, scale_exp=j)
    np.testing.assert_allclose(np.asarray(g_scaled.A.todense() if hasattr(g_scaled.A, "todense")
                                          else g_scaled.A),
                               np.asarray(g.A.todense() if hasattr(g.A, "todense") else g.A),
                               rtol=1e-13)
    ref = GNMF(3, graph="rbf", sigma=0.7, random_state=0, max_iter=30).fit(X)
    est = GNMF(3, graph="rbf", sigma=0.7 * 2.0 ** j, random_state=0, max_iter=30).fit(
        2.0 ** j * X)
    np.testing.assert_allclose(est.components_, ref.components_, rtol=1e-10, atol=1e-13)


def test_heat_weights_with_given_t_follow_the_scale(X):
    g = knn_graph(X, 4, weight="heat", heat_t=0.3)
    g2 = knn_graph(X, 4, weight="heat", heat_t=0.3 * 4.0 ** -300, scale_exp=-300)
    np.testing.assert_allclose(g2.A.toarray(), g.A.toarray(), rtol=1e-13)


@pytest.mark.parametrize("j", [-40, 60])
def test_gnmf_kl_scales_lam_with_the_data(X, j):
    """KL's data term scales with c, the graph term with c^2 (the coefficients carry c): GNMF-KL
    on 2^j X (outside KL's safe range) is GNMF-KL with lam 2^j on X, times 2^j."""
    kw = dict(loss="kl", random_state=0, max_iter=40)
    ref = GNMF(3, lam=5.0 * 2.0 ** j, **kw)
    est = GNMF(3, lam=5.0, **kw)
    W_ref, W = ref.fit_transform(X), est.fit_transform(2.0 ** j * X)
    np.testing.assert_allclose(np.ldexp(W, -j), W_ref, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(est.components_, ref.components_, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("c", [1e-200, 1e-60, 1e150, 1e155, 1e300])
def test_meta_and_warm_start_are_scale_equivariant(X, c):
    """Meta-tasks, target and evaluation all see the scaled data: the bases are the same,
    the coefficients c times (rtol 1e-10; before: NaN at 1e155, zeros at 1e-200)."""
    ref, est = meta().fit(X), meta().fit(c * X)
    np.testing.assert_allclose(est.components_, ref.components_, rtol=1e-10,
                               atol=1e-12 * ref.components_.max())
    (W_ref, H_ref), (W, H) = ref.factorize(X), est.factorize(c * X)
    np.testing.assert_allclose(W / c, W_ref, rtol=1e-10, atol=1e-12 * W_ref.max())
    np.testing.assert_allclose(H, H_ref, rtol=1e-10, atol=1e-12 * H_ref.max())
    np.testing.assert_allclose(est.transform(c * X) / c, ref.transform(X), rtol=1e-10,
                               atol=1e-12)
    if 1e-150 < c < 1e150:  # beyond, the squared errors leave float64 (0 or inf, documented)
        assert np.log(est.history_["target_objective"][-1]) == pytest.approx(
            np.log(ref.history_["target_objective"][-1]) + 2 * np.log(c), abs=1e-9)
    kw = dict(learn_iter=30, inner_iter=10, random_state=0)
    w_ref, w = WarmStartNMF(3, **kw).fit(X), WarmStartNMF(3, **kw).fit(c * X)
    np.testing.assert_allclose(w.factorize(c * X)[0] / c, w_ref.factorize(X)[0], rtol=1e-10,
                               atol=1e-12)


def test_meta_kl_gnmf_base_huge_values_are_finite(X):
    base = GNMF(lam=0.3, loss="kl", graph="rbf", kl_update="split")
    W, H = meta(base=base, protocol="authors").fit(1e200 * X).factorize(1e200 * X)
    assert np.isfinite(W).all() and W.any() and np.isfinite(H).all() and H.any()


# -- no silent degenerate fit ------------------------------------------------------------------

def test_alpha_1e300_raises_a_clear_error(X):
    """Before: all-zero factors, silently."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        with pytest.raises(DegenerateFitError, match=r"MetaNMF\.fit.*alpha.*order 1"):
            meta(alpha=1e300).fit(X)
    assert issubclass(DegenerateFitError, FloatingPointError)
    assert np.isfinite(meta(alpha=1e10).fit(X).components_).all()  # large but fine


def test_sigma_1e300_gives_an_empty_graph_not_nan(X):
    """Before: NaN factors (sigma**2 underflows to 0, and 0 / 0 on the diagonal). Now the
    documented behaviour: the off-diagonal weights vanish, the graph term is zero."""
    g = rbf_graph(X, sigma=1e-300)
    A = g.A.toarray() if hasattr(g.A, "toarray") else g.A
    np.testing.assert_array_equal(A, np.eye(len(X)))
    for loss in ("frobenius", "kl"):
        est = GNMF(3, graph="rbf", sigma=1e-300, loss=loss, random_state=0, max_iter=30)
        W = est.fit_transform(X)
        assert np.isfinite(W).all() and np.isfinite(est.reconstruction_err_)


def test_overflowing_lam_raises(X):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        with pytest.raises(DegenerateFitError, match=r"GNMF\.fit.*lam"):
            GNMF(3, lam=1e308, random_state=0, max_iter=30).fit(X)


def test_kl_graph_term_overflow_raises(X):
    """KL's data term grows like the data, the graph term like its square: on data ~1e155 the
    graph term of a KL GNMF dominates by ~1e155 and the monotone update overflows. A clear
    error, not zero coefficients."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        with pytest.raises(DegenerateFitError, match=r"GNMF\.fit ended .*KL loss"):
            GNMF(3, loss="kl", lam=0.3, random_state=0, max_iter=30).fit(1e155 * X)


def test_non_finite_and_zero_factors_raise(X):
    W0, H0 = np.full((40, 3), 1e200), np.full((3, 12), 1e200)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        with pytest.raises(DegenerateFitError, match=r"NMF\.fit ended with .*(NaN|all zero)"):
            NMF(3, init="custom", max_iter=5).fit(X, W=W0, H=H0)
        with pytest.raises(DegenerateFitError, match=r"NMF\.fit ended with .* all zero"):
            NMF(3, init="custom", max_iter=5).fit(X, W=W0 * 1e-500 + 1e-300, H=H0 * 0 + 1e-300)
    with pytest.raises(DegenerateFitError, match="components_ all zero"):
        check_factors_sound("X.fit", {"components_": np.zeros((2, 3))})
    with pytest.raises(DegenerateFitError, match=r"X\.fit ended with 1 NaN or infinite value\(s\) "
                                                 r"in W \(of 6\): the multiplicative updates "
                                                 r"overflowed"):
        check_factors_sound("X.fit", {"W": np.array([[1.0, np.nan, 1], [1, 1, 1]])})


def test_transform_zero_coefficients_are_fine_when_x_misses_the_components():
    H = np.array([[1.0, 0.0]])
    check_coefficients_sound("t", np.zeros((1, 1)), np.array([[0.0, 1.0]]), H)  # correct zero
    with pytest.raises(DegenerateFitError):
        check_coefficients_sound("t", np.zeros((1, 1)), np.array([[1.0, 1.0]]), H)


# -- rank from one place -----------------------------------------------------------------------

def test_conflicting_base_rank_raises(X):
    """Before: MetaNMF(base=NMF(n_components=5)) fitted rank 10 silently."""
    with pytest.raises(ValueError, match=r"MetaNMF\(n_components=10\).*NMF\(n_components=5\)"):
        MetaNMF(base=NMF(n_components=5), n_tasks=2, task_size=12, n_epochs=1).fit(X)
    with pytest.raises(ValueError, match=r"WarmStartNMF\(n_components=3\).*GNMF\(n_comp"):
        WarmStartNMF(3, base=GNMF(4), learn_iter=2).fit(X)
    for base in (NMF(), NMF(n_components=3), GNMF(3)):
        assert meta(base=base).fit(X).components_.shape == (3, 12)


# -- fitted attributes only --------------------------------------------------------------------

@pytest.mark.parametrize("make", [lambda: NMF(3, random_state=0, max_iter=30),
                                  lambda: GNMF(3, random_state=0, max_iter=30),
                                  lambda: meta(), lambda: WarmStartNMF(3, learn_iter=10)],
                         ids=["NMF", "GNMF", "MetaNMF", "WarmStartNMF"])
def test_set_params_after_fit_takes_effect_at_the_next_fit(X, make):
    """As in scikit-learn: transform uses the fitted attributes; the new rank applies at the
    next fit. Before: MetaNMF's transform reset n_components_ to the new value while
    components_ kept the old rank."""
    est = make().fit(X)
    before = est.transform(X)
    est.set_params(n_components=4)
    after = est.transform(X)
    assert est.n_components_ == 3 and est.components_.shape[0] == 3
    np.testing.assert_array_equal(after, before)
    est.fit(X)
    assert est.n_components_ == 4 and est.transform(X).shape == (40, 4)


def test_meta_transform_is_per_sample_and_leaves_the_estimator_alone(X):
    """Before: a sample's coefficients depended on the batch (max diff 0.64)."""
    est = meta().fit(X)
    state = {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in vars(est).items()}
    W = est.transform(X)
    np.testing.assert_allclose(est.transform(X[:5]), W[:5], rtol=1e-12)
    np.testing.assert_allclose(est.transform(X[7:8]), W[7:8], rtol=1e-12)
    assert vars(est).keys() == state.keys()
    for k, v in state.items():
        assert np.array_equal(vars(est)[k], v) if isinstance(v, np.ndarray) else True
    est.factorize(X)
    assert vars(est).keys() == state.keys()
    with pytest.raises(NotFittedError):
        meta().transform(X)


# -- validation --------------------------------------------------------------------------------

@pytest.mark.parametrize("params, exc, match", [
    (dict(alpha=[1, 2, 3]), ValueError, r"alpha must be one number or 2 weights.*shape \(3,\)"),
    (dict(alpha=[[1, 1]]), ValueError, r"alpha must be one number or 2 weights"),
    (dict(alpha="abc"), TypeError, r"alpha must be a non-negative number or a sequence of 2"),
    (dict(alpha=None), TypeError, "alpha"),
    (dict(alpha=True), TypeError, "alpha"),
    (dict(alpha=[1.0, -1.0]), ValueError, "non-negative finite"),
    (dict(rescale_bases="no"), TypeError, "rescale_bases must be True or False, got 'no'"),
    (dict(keep_basis_history=1), TypeError, "keep_basis_history must be True or False"),
])
def test_meta_parameters_are_validated(X, params, exc, match):
    with pytest.raises(exc, match=match):
        meta(**params).fit(X)


def test_object_dtype_numbers_are_accepted(X):
    a = NMF(3, random_state=0, max_iter=20).fit_transform(X)
    b = NMF(3, random_state=0, max_iter=20).fit_transform(X.astype(object))
    np.testing.assert_array_equal(a, b)
    with pytest.raises(TypeError, match="dtype object and does not hold only real numbers"):
        NMF(3).fit(np.array([["a", 1.0]], dtype=object))
