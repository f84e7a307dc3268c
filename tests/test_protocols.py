"""Protocols as data: presets, overrides, and that each field really switches behaviour."""

import numpy as np
import pytest

from metanmf_lab.core._meta import MetaNMF
from metanmf_lab.core._nmf import NMF
from metanmf_lab.core.protocols import FIELDS, REFERENCE, THESIS, Protocol, get_protocol


def test_presets_differ_in_every_field():
    assert all(getattr(THESIS, f) != getattr(REFERENCE, f) for f in FIELDS)
    assert get_protocol("thesis") is THESIS and get_protocol("REFERENCE") is REFERENCE
    assert get_protocol(THESIS) is THESIS


def test_overrides_make_a_named_mixture():
    p = get_protocol("thesis", transfer="running_sum", task_size=50)
    assert p.name == "thesis+transfer=running_sum" and p.transfer == "running_sum"
    assert p.task_size == 50 and p.target == "rest"
    with pytest.raises(ValueError, match="Unknown protocol field"):
        get_protocol("thesis", epochs=3)
    with pytest.raises(ValueError, match="target"):
        get_protocol("thesis", target="half")
    with pytest.raises(ValueError, match="disjoint"):
        get_protocol("thesis", disjoint_tasks=False)
    with pytest.raises(TypeError, match="normalize_calls"):
        Protocol(**{**THESIS.as_dict(), "normalize_calls": 1})
    with pytest.raises(ValueError, match="protocol"):
        get_protocol("paper")


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    X = rng.random((300, 20)) ** 2
    return X[:240], X[240:]


def fit(X, protocol, base=None, **kw):
    est = MetaNMF(3, base=base, n_tasks=3, task_size=kw.pop("task_size", 40), n_epochs=3,
                  inner_iter=6, protocol=protocol, random_state=0, **kw)
    return est.fit(X)


def test_thesis_with_every_reference_field_is_the_reference(data):
    X, X_eval = data
    for base in (NMF(), NMF(init="nndsvd")):
        mixed = get_protocol("thesis", **{f: getattr(REFERENCE, f) for f in FIELDS})
        a = fit(X, mixed, base, task_size=60).factorize(X_eval)[0]
        b = fit(X, "reference", base, task_size=60).factorize(X_eval)[0]
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("field", ["disjoint_tasks", "transfer", "target_start",
                                   "normalize_calls", "task_size"])
def test_each_field_changes_the_result(data, field):
    X, X_eval = data
    overrides = {field: 60 if field == "task_size" else getattr(REFERENCE, field)}
    if field == "disjoint_tasks":
        overrides["target"] = "all"
    size = None if field == "task_size" else 40  # None: the protocol's task size
    base = fit(X, "thesis", task_size=size).factorize(X_eval)[0]
    switched = fit(X, get_protocol("thesis", **overrides), task_size=size).factorize(X_eval)[0]
    assert not np.allclose(base / base.max(), switched / switched.max())


def test_nndsvd_override_field(data):
    X, X_eval = data
    base = NMF(init="nndsvd")
    plain = NMF(3, init="nndsvd", max_iter=6, tol=0).fit_transform(X_eval)
    on = fit(X, get_protocol("thesis", nndsvd_override=True), base).factorize(X_eval)[0]
    off = fit(X, "thesis", base).factorize(X_eval)[0]
    np.testing.assert_array_equal(on, plain)
    assert not np.allclose(off, plain)
