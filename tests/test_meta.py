"""Meta-NMF (thesis Algorithm 1): orchestration checked against an independent loop built from
the public NMF estimator, protocol differences, and input validation."""

import numpy as np
import pytest
from metanmf_lab.core._meta import MetaNMF
from metanmf_lab.core._nmf import GNMF, NMF
from metanmf_lab.core._solvers import solve_mu
from metanmf_lab.core.protocols import get_protocol
from metanmf_lab.core.splits import TaskSplitWarning, make_tasks
from sklearn.exceptions import NotFittedError
from sklearn.utils import check_random_state


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    # Three groups of samples with different non-negative profiles, plus noise.
    H_true = rng.random((3, 30)) ** 3
    labels = rng.integers(0, 3, 400)
    W_true = np.eye(3)[labels] + 0.05 * rng.random((400, 3))
    X = W_true @ H_true + 0.01 * rng.random((400, 30))
    return X[:300], X[300:]


def reference_loop(X, k, *, seed, protocol, n_tasks, task_size, n_epochs, inner, alpha=1.0,
                   init="random"):
    """Algorithm 1 written out with the public NMF estimator (init='custom').

    Same random stream order as MetaNMF: task split first, then the initial task bases, then
    the initial target basis.
    """
    rng = check_random_state(seed)
    split = make_tasks(X.shape[0], n_tasks=n_tasks, task_size=task_size, protocol=protocol,
                       random_state=rng, min_size=k)
    Xs = [X[i] for i in split.meta]
    Xt = X if protocol == "authors" else X[split.target]
    B_tasks = [rng.uniform(0, 1, (k, X.shape[1])) for _ in Xs]
    B_t = np.zeros((k, X.shape[1])) if protocol == "authors" else rng.uniform(
        0, 1, (k, X.shape[1]))
    normalize = protocol == "authors"
    alpha = np.broadcast_to(alpha, (n_tasks,))

    def call(Xd, B0):
        m = NMF(k, init="custom", max_iter=inner, tol=0, normalize=normalize)
        m.fit(Xd, W=Xd @ B0.T, H=B0.copy())
        return m.components_

    running = np.zeros_like(B_t)
    for _ in range(n_epochs):
        B_tasks = [call(Xi, B_t + Bi) for Xi, Bi in zip(Xs, B_tasks)]
        s = sum(a * B for a, B in zip(alpha, B_tasks))
        if protocol == "authors":
            running = running + s
            transfer = running / n_tasks
        else:
            transfer = s / n_tasks
        B_t = call(Xt, B_t + transfer)
    return B_t


def same_up_to_scale(a, b, rtol=1e-10):
    """Equal after dividing each by its maximum (MetaNMF rescales its bases by powers of 2)."""
    np.testing.assert_allclose(a / a.max(), b / b.max(), rtol=rtol, atol=1e-12)


@pytest.mark.parametrize("protocol,task_size", [("thesis", 40), ("authors", 60)])
def test_matches_algorithm_written_out(data, protocol, task_size):
    X, _ = data
    kw = dict(n_tasks=3, task_size=task_size, n_epochs=3)
    est = MetaNMF(4, inner_iter=7, protocol=protocol, random_state=5, **kw).fit(X)
    expected = reference_loop(X, 4, seed=5, protocol=protocol, inner=7, **kw)
    same_up_to_scale(est.components_, expected)


def test_alpha_weights_enter_the_transfer(data):
    X, _ = data
    kw = dict(n_tasks=3, task_size=40, n_epochs=2)
    alpha = [0.0, 2.0, 0.5]
    est = MetaNMF(3, inner_iter=5, alpha=alpha, random_state=1, **kw).fit(X)
    expected = reference_loop(X, 3, seed=1, protocol="thesis", inner=5, alpha=np.array(alpha),
                              **kw)
    same_up_to_scale(est.components_, expected)
    plain = MetaNMF(3, inner_iter=5, random_state=1, **kw).fit(X)
    assert not np.allclose(plain.components_ / plain.components_.max(),
                           est.components_ / est.components_.max())


def test_evaluation_phase_starts_from_learned_basis(data):
    X, X_eval = data
    est = MetaNMF(4, n_tasks=3, task_size=40, n_epochs=2, inner_iter=6, random_state=0).fit(X)
    W, H = est.factorize(X_eval)
    m = NMF(4, init="custom", max_iter=6, tol=0)
    W_ref = m.fit_transform(X_eval, W=X_eval @ est.components_.T, H=est.components_.copy())
    np.testing.assert_allclose(W, W_ref, rtol=1e-12)
    np.testing.assert_allclose(H, m.components_, rtol=1e-12)
    assert W.shape == (X_eval.shape[0], 4) and (W >= 0).all()


def test_transform_holds_the_components_fixed(data):
    """transform: the coefficients on the learned components (W updates only, from
    X @ components_.T), per sample; factorize (Algorithm 1, line 14) refits both factors."""
    X, X_eval = data
    est = MetaNMF(4, n_tasks=3, task_size=40, n_epochs=2, inner_iter=6, random_state=0).fit(X)
    C = est.components_.copy()
    W = est.transform(X_eval)
    ref = solve_mu(X_eval, X_eval @ C.T, C.copy(), max_iter=6, tol=0.0, update_H=False).W
    np.testing.assert_array_equal(W, ref)
    np.testing.assert_array_equal(est.components_, C)
    assert not np.allclose(W, est.factorize(X_eval)[0])


def test_authors_nndsvd_override_reduces_to_plain_nndsvd(data):
    """The authors' code's NNDSVD override makes Meta-NMF NNDSVD equal NMF NNDSVD (the likely
    reason for the identical columns of thesis Tables 4.6 and 4.9)."""
    X, X_eval = data
    base = NMF(init="nndsvd")
    meta = MetaNMF(4, base=base, n_tasks=2, task_size=50, n_epochs=2, inner_iter=8,
                   protocol="authors", random_state=0).fit(X)
    W_meta = meta.factorize(X_eval)[0]
    W_plain = NMF(4, init="nndsvd", max_iter=8, tol=0, normalize=True).fit_transform(X_eval)
    np.testing.assert_array_equal(W_meta, W_plain)
    # Under the thesis protocol the transferred basis does matter.
    thesis = MetaNMF(4, base=base, n_tasks=2, task_size=50, n_epochs=2, inner_iter=8,
                     random_state=0).fit(X)
    assert not np.allclose(thesis.factorize(X_eval)[0], W_plain)


def test_history_and_basis_trace(data):
    X, _ = data
    est = MetaNMF(3, n_tasks=2, task_size=30, n_epochs=4, inner_iter=5,
                  keep_basis_history=True, random_state=0).fit(X)
    for key in ("target_objective", "meta_objective", "basis_change"):
        assert est.history_[key].shape == (4,)
        assert np.isfinite(est.history_[key]).all()
    assert est.basis_history_.shape == (5, 3, X.shape[1])
    np.testing.assert_array_equal(est.basis_history_[-1], est.components_)
    unit = est.basis_history_ / np.linalg.norm(est.basis_history_, axis=(1, 2))[:, None, None]
    change = np.linalg.norm(np.diff(unit, axis=0), axis=(1, 2))
    np.testing.assert_allclose(est.history_["basis_change"], change, rtol=1e-10)
    assert (est.history_["scale_growth"] > 0).all()
    assert est.n_base_iter_ == 4 * (2 + 1) * 5


def test_zero_epochs_keeps_initial_basis(data):
    X, _ = data
    est = MetaNMF(3, n_tasks=2, task_size=30, n_epochs=0, inner_iter=5,
                  keep_basis_history=True, random_state=0).fit(X)
    np.testing.assert_array_equal(est.basis_history_[0], est.components_)
    assert est.history_["target_objective"].shape == (0,)


def test_authors_protocol_task_layout(data):
    X, _ = data
    est = MetaNMF(3, n_tasks=4, n_epochs=1, inner_iter=2, protocol="authors",
                  random_state=0).fit(X)
    assert est.tasks_.task_size == 100
    assert all(t.size == 100 for t in est.tasks_.meta)
    np.testing.assert_array_equal(est.tasks_.target, np.arange(X.shape[0]))


def test_thesis_protocol_task_layout(data):
    X, _ = data
    est = MetaNMF(3, n_tasks=5, n_epochs=1, inner_iter=2, random_state=0).fit(X)
    meta = np.concatenate(est.tasks_.meta)
    assert est.tasks_.task_size == 50 and meta.size == 250
    assert np.unique(meta).size == 250  # disjoint
    assert np.intersect1d(meta, est.tasks_.target).size == 0
    assert np.union1d(meta, est.tasks_.target).size == X.shape[0]


def test_task_size_none_is_the_protocols(data):
    X, _ = data
    proto = get_protocol("thesis", task_size=30)
    est = MetaNMF(3, n_tasks=4, n_epochs=1, inner_iter=2, protocol=proto, random_state=0).fit(X)
    assert est.tasks_.task_size == 30 and est.tasks_.protocol == "thesis+task_size=30"
    given = MetaNMF(3, n_tasks=4, task_size=20, n_epochs=1, inner_iter=2, protocol=proto,
                    random_state=0).fit(X)
    assert given.tasks_.task_size == 20


def test_infeasible_thesis_split_falls_back_loudly():
    X = np.random.default_rng(0).random((200, 16))  # like Faces: 200 learning samples
    with pytest.warns(TaskSplitWarning, match="only 200 samples"):
        est = MetaNMF(5, n_epochs=1, inner_iter=2, random_state=0).fit(X)
    assert est.tasks_.task_size == 20 and est.tasks_.fallback
    with pytest.raises(ValueError, match="only 200 samples"):
        MetaNMF(5, n_epochs=1, inner_iter=2, on_infeasible="error").fit(X)


@pytest.mark.parametrize("base", [GNMF(lam=1.0), GNMF(lam=0.5, loss="kl"),
                                  NMF(loss="kl"), NMF(init="nndsvda"),
                                  GNMF(lam=1.0, init="nndsvd"),
                                  GNMF(lam=0.3, loss="kl", graph="rbf", kl_update="split")])
@pytest.mark.parametrize("protocol", ["thesis", "authors"])
def test_all_bases_run(data, base, protocol):
    X, X_eval = data
    est = MetaNMF(3, base=base, n_tasks=2, task_size=40, n_epochs=2, inner_iter=4,
                  protocol=protocol, random_state=0).fit(X)
    W = est.transform(X_eval)
    assert np.isfinite(W).all() and (W >= 0).all() and W.shape == (X_eval.shape[0], 3)
    assert np.isfinite(est.components_).all()


def test_determinism_and_float32(data):
    X, X_eval = data
    kw = dict(n_tasks=2, task_size=40, n_epochs=2, inner_iter=5)
    a = MetaNMF(3, random_state=3, **kw).fit(X).transform(X_eval)
    b = MetaNMF(3, random_state=3, **kw).fit(X).transform(X_eval)
    c = MetaNMF(3, random_state=4, **kw).fit(X).transform(X_eval)
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)
    W32 = MetaNMF(3, random_state=3, **kw).fit(X.astype(np.float32)).transform(
        X_eval.astype(np.float32))
    assert W32.dtype == np.float32
    np.testing.assert_allclose(W32, a, rtol=1e-2, atol=1e-3)


@pytest.mark.parametrize("params,err,match", [
    (dict(protocol="paper"), ValueError, "Unknown protocol"),
    (dict(protocol=3), TypeError, "preset name"),
    (dict(base="nmf"), TypeError, "base must be"),
    (dict(base=NMF(init="custom")), ValueError, "custom"),
    (dict(n_tasks=0), ValueError, "n_tasks"),
    (dict(inner_iter=0), ValueError, "inner_iter"),
    (dict(n_epochs=-1), ValueError, "n_epochs"),
    (dict(alpha=-1.0), ValueError, "alpha"),
    (dict(alpha=[1.0, np.nan]), ValueError, "alpha"),
    (dict(n_components=0), ValueError, "n_components"),
    (dict(n_components=2.0), TypeError, "n_components"),
    (dict(n_components=45), ValueError, "n_components"),
    (dict(task_size=3, n_components=4), ValueError, "rank"),
    (dict(base=NMF(loss="l1")), ValueError, "loss"),
])
def test_bad_parameters(data, params, err, match):
    X, _ = data
    kw = dict(n_components=3, n_tasks=2, task_size=40, n_epochs=1, inner_iter=2)
    kw.update(params)
    with pytest.raises(err, match=match):
        MetaNMF(**kw).fit(X)


def test_bad_data_and_unfitted(data):
    X, X_eval = data
    with pytest.raises(NotFittedError):
        MetaNMF(3).transform(X_eval)
    with pytest.raises(ValueError, match="negative"):
        MetaNMF(3, n_tasks=2, task_size=40).fit(-X)
    est = MetaNMF(3, n_tasks=2, task_size=40, n_epochs=1, inner_iter=2).fit(X)
    with pytest.raises(ValueError, match="features"):
        est.transform(X_eval[:, :10])
    with pytest.raises(ValueError, match="NaN"):
        est.transform(np.full_like(X_eval, np.nan))


def test_get_set_params_and_clone():
    from sklearn.base import clone

    est = MetaNMF(4, base=GNMF(lam=2.0), n_epochs=3, protocol="authors")
    params = est.get_params()
    assert params["n_epochs"] == 3 and params["base__lam"] == 2.0
    est2 = clone(est).set_params(base__lam=5.0, n_tasks=7)
    assert est2.base.lam == 5.0 and est2.n_tasks == 7 and est.base.lam == 2.0


@pytest.mark.parametrize("base", [NMF(), NMF(loss="kl"), NMF(init="nndsvda")])
def test_power_of_two_rescaling_is_exact_for_nmf_bases(data, base):
    """The per-epoch rescaling changes the bases only by a power of two, bit for bit."""
    X, X_eval = data
    kw = dict(base=base, n_tasks=2, task_size=40, n_epochs=6, inner_iter=5, random_state=0)
    scaled = MetaNMF(3, **kw).fit(X)
    raw = MetaNMF(3, rescale_bases=False, **kw).fit(X)
    assert raw.components_.max() > 50 * scaled.components_.max()  # the raw scale grows
    shift = np.frexp(raw.components_.max())[1] - np.frexp(scaled.components_.max())[1]
    np.testing.assert_array_equal(np.ldexp(raw.components_, -shift), scaled.components_)
    np.testing.assert_array_equal(raw.history_["target_objective"],
                                  scaled.history_["target_objective"])
    W_raw, W_scaled = raw.transform(X_eval), scaled.transform(X_eval)
    np.testing.assert_array_equal(np.ldexp(W_raw, shift), W_scaled)
    assert (scaled.history_["scale_growth"] > 1.5).all()


def test_gnmf_bases_are_never_rescaled(data):
    """For GNMF bases a rescaling would change the algorithm (the graph term is not
    scale-invariant), so rescale_bases has no effect on them."""
    X, _ = data
    kw = dict(base=GNMF(lam=5.0), n_tasks=2, task_size=40, n_epochs=6, inner_iter=5,
              random_state=0)
    a = MetaNMF(3, **kw).fit(X)
    b = MetaNMF(3, rescale_bases=False, **kw).fit(X)
    np.testing.assert_array_equal(a.components_, b.components_)


def test_float32_meta_nmf_does_not_overflow(data):
    X, X_eval = data
    kw = dict(n_tasks=2, task_size=40, n_epochs=50, inner_iter=3, random_state=0)
    W32 = MetaNMF(3, **kw).fit(X.astype(np.float32)).transform(X_eval.astype(np.float32))
    W64 = MetaNMF(3, **kw).fit(X).transform(X_eval)
    assert np.isfinite(W32).all() and W32.max() > 0
    np.testing.assert_allclose(W32, W64, rtol=0.05, atol=1e-3 * W64.max())
