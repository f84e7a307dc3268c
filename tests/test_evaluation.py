"""NMI of k-means on coefficients, and Hoyer sparsity."""

import numpy as np
import pytest
from metanmf_lab.core.evaluation import cluster_nmi, hoyer_sparsity
from sklearn.metrics import normalized_mutual_info_score


def test_nmi_perfect_and_random():
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(4), 50)
    separated = np.eye(4)[y] * 10 + 0.01 * rng.random((200, 4))
    assert cluster_nmi(separated, y) == pytest.approx(1.0)
    noise = rng.random((200, 4))
    assert cluster_nmi(noise, y) < 0.2


def test_nmi_never_leaves_the_unit_interval():
    # classes of these sizes, found exactly, make scikit-learn's NMI 1 + 2e-16
    y = np.repeat(np.arange(10), [2, 2, 3, 4, 2, 1, 4, 4, 8, 2])
    assert normalized_mutual_info_score(y, y) > 1.0
    separated = np.eye(10)[y] * 10
    assert cluster_nmi(separated, y) == 1.0


def test_nmi_uses_number_of_classes_and_is_seeded():
    rng = np.random.default_rng(1)
    y = np.repeat(np.arange(3), 30)
    Z = rng.random((90, 5)) + np.eye(3)[y] @ rng.random((3, 5))
    a, b = cluster_nmi(Z, y, random_state=3), cluster_nmi(Z, y, random_state=3)
    assert a == b
    from sklearn.cluster import KMeans
    pred = KMeans(3, n_init=10, random_state=3).fit_predict(Z)
    assert a == pytest.approx(normalized_mutual_info_score(y, pred))


def test_nmi_errors():
    with pytest.raises(ValueError, match="one row per label"):
        cluster_nmi(np.ones((5, 2)), np.arange(4))
    with pytest.raises(ValueError, match="NaN"):
        cluster_nmi(np.full((4, 2), np.nan), np.arange(4))


def test_hoyer_extremes_and_scale_invariance():
    assert hoyer_sparsity(np.eye(5)[0]) == pytest.approx(1.0)
    assert hoyer_sparsity(np.ones(5)) == pytest.approx(0.0)
    v = np.random.default_rng(0).random((3, 10))
    np.testing.assert_allclose(hoyer_sparsity(v), hoyer_sparsity(7 * v))
    np.testing.assert_allclose(hoyer_sparsity(v.T, axis=0), hoyer_sparsity(v))
    s = hoyer_sparsity(np.zeros((2, 4)))
    assert np.isfinite(s).all()
    with pytest.raises(ValueError, match="at least 2"):
        hoyer_sparsity(np.ones((3, 1)))


# -- subspace distance ---------------------------------------------------------------------

from metanmf_lab.core.evaluation import subspace_distance  # noqa: E402


def _projection(a):
    q, _ = np.linalg.qr(np.asarray(a, float).T)
    return q @ q.T


@pytest.mark.parametrize("seed", range(4))
def test_subspace_distance_matches_projection_formula(seed):
    # independent computation: ||P_a - P_b||_F^2 = 2 * sum sin^2(theta) for equal dimensions
    rng = np.random.default_rng(seed)
    a, b = rng.random((4, 30)), rng.random((4, 30))
    expect = np.linalg.norm(_projection(a) - _projection(b)) / np.sqrt(2 * 4)
    assert subspace_distance(a, b) == pytest.approx(expect, rel=1e-10)


def test_subspace_distance_invariances_and_extremes():
    rng = np.random.default_rng(0)
    a = rng.random((3, 12))
    perm_scaled = a[[2, 0, 1]] * np.array([[3.0], [0.1], [7.0]])
    assert subspace_distance(a, perm_scaled) == pytest.approx(0, abs=1e-7)
    e = np.eye(6)
    assert subspace_distance(e[:3], e[3:]) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="same number of features"):
        subspace_distance(a, a[:, :5])
    with pytest.raises(ValueError, match="independent"):
        subspace_distance(np.vstack([a[:2], np.zeros(12)]), a)
    with pytest.raises(ValueError, match="NaN"):
        subspace_distance(np.full((2, 3), np.nan), a[:2, :3])
