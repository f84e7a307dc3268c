"""Protocols as data: presets, overrides, the one resolution of a cell's protocol, and that
each field really switches behaviour."""

import numpy as np
import pytest
from metanmf_lab.core import GNMF
from metanmf_lab.core._meta import MetaNMF
from metanmf_lab.core._nmf import NMF
from metanmf_lab.core.protocols import (AUTHORS, FIELDS, GNMF_LAM, PRESETS, THESIS, Protocol,
                                        get_protocol)
from metanmf_lab.grid.cells import Settings
from metanmf_lab.grid.models import make_base

#: The presets' values, written out: the thesis (Table 4.2, Sec. 4.2; Cai et al.'s GNMF) and
#: the authors' code. A change here changes every stored result.
PRESET_VALUES = {
    "thesis": dict(task_size=50, disjoint_tasks=True, target="rest", transfer="average",
                   target_start="init", normalize_calls=False, nndsvd_override=False,
                   baseline_stopping="fixed", gnmf="cai", gnmf_lam=100.0, rbf_sigma=0.5,
                   n_neighbors=5, graph_weight="binary", stopping_tol=1e-3),
    "authors": dict(task_size=100, disjoint_tasks=False, target="all",
                    transfer="running_sum", target_start="zero", normalize_calls=True,
                    nndsvd_override=True, baseline_stopping="factors", gnmf="authors",
                    gnmf_lam=0.3, rbf_sigma=0.5, n_neighbors=5, graph_weight="binary",
                    stopping_tol=1e-3),
}


def test_presets_keep_their_values():
    for name, values in PRESET_VALUES.items():
        assert PRESETS[name].as_dict() == {"name": name, **values}
        assert set(values) == set(FIELDS)
    assert GNMF_LAM == {"cai": THESIS.gnmf_lam, "authors": AUTHORS.gnmf_lam}
    # what the two share: the parameters of the graph the other variant does not use
    shared = {f for f in FIELDS if getattr(THESIS, f) == getattr(AUTHORS, f)}
    assert shared == {"rbf_sigma", "n_neighbors", "graph_weight", "stopping_tol"}
    assert get_protocol("thesis") is THESIS and get_protocol("AUTHORS") is AUTHORS
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
    with pytest.raises(TypeError, match="preset name"):
        get_protocol(3)
    for field, bad in (("gnmf_lam", -1.0), ("rbf_sigma", 0.0), ("n_neighbors", 0),
                       ("graph_weight", "cosine"), ("stopping_tol", float("nan"))):
        with pytest.raises(ValueError, match=field):
            get_protocol("thesis", **{field: bad})


def fields_of(name):
    """The preset and the ``field=value`` pairs of a protocol name, as get_protocol takes them."""
    preset, *pairs = name.split("+")
    types = {f: type(getattr(THESIS, f)) for f in FIELDS}
    values = {}
    for pair in pairs:
        field, text = pair.split("=")
        kind = types[field]
        values[field] = (text == "True") if kind is bool else kind(text)
    return preset, values


@pytest.mark.parametrize("preset,overrides,name", [
    ("thesis", {}, "thesis"),
    ("thesis", dict(transfer="running_sum"), "thesis+transfer=running_sum"),
    ("thesis", dict(task_size=100), "thesis+task_size=100"),
    ("thesis", dict(gnmf_lam=1.0), "thesis+gnmf_lam=1"),
    ("thesis", dict(gnmf_lam=1), "thesis+gnmf_lam=1"),
    ("thesis", dict(gnmf_lam=0.25), "thesis+gnmf_lam=0.25"),
    ("thesis", dict(target="all", disjoint_tasks=False),
     "thesis+disjoint_tasks=False+target=all"),
    ("thesis", dict(gnmf="authors"), "thesis+gnmf=authors+gnmf_lam=0.3"),
    ("thesis", dict(gnmf="authors", gnmf_lam=100.0), "thesis+gnmf=authors+gnmf_lam=100"),
    ("thesis", dict(gnmf="cai", gnmf_lam=100.0), "thesis"),
    ("authors", dict(gnmf="cai"), "authors+gnmf=cai+gnmf_lam=100"),
    ("authors", dict(task_size=100, nndsvd_override=False), "authors+nndsvd_override=False"),
    ("thesis", dict(n_neighbors=10, graph_weight="heat"),
     "thesis+graph_weight=heat+n_neighbors=10"),
    ("thesis", dict(transfer="RUNNING_SUM"), "thesis+transfer=running_sum"),
])
def test_the_name_records_every_departure_in_one_form(preset, overrides, name):
    p = get_protocol(preset, **overrides)
    assert p.name == name
    # the name alone gives the protocol back
    again = get_protocol(*fields_of(name)[:1], **fields_of(name)[1])
    assert again == p
    assert get_protocol(preset, **dict(reversed(list(overrides.items())))) == p


def test_departures_made_in_steps_have_the_same_name():
    step = get_protocol(get_protocol("thesis", task_size=20), transfer="running_sum")
    assert step.name == "thesis+task_size=20+transfer=running_sum"
    assert step == get_protocol("thesis", transfer="running_sum", task_size=20)
    assert get_protocol(get_protocol("thesis", task_size=20), task_size=50) == THESIS
    assert get_protocol(get_protocol("thesis", task_size=20), task_size=50).name == "thesis"


def test_a_gnmf_switch_takes_the_variants_lambda_unless_given():
    assert get_protocol("thesis", gnmf="authors").gnmf_lam == 0.3
    assert get_protocol("authors", gnmf="cai").gnmf_lam == 100.0
    assert get_protocol("thesis", gnmf="authors", gnmf_lam=7.0).gnmf_lam == 7.0
    assert get_protocol("thesis", gnmf="cai").gnmf_lam == 100.0  # no switch


def test_a_protocol_of_ones_own_is_named_after_its_departures():
    mine = Protocol(**{**THESIS.as_dict(), "name": "mine"})
    assert get_protocol(mine) is mine
    assert get_protocol(mine, task_size=20).name == "mine+task_size=20"


# -- the one resolution of a cell's protocol: Settings.protocol ------------------------------

def test_settings_resolve_the_cells_protocol():
    assert Settings().protocol("thesis") is THESIS
    assert Settings().protocol("authors") is AUTHORS
    s = Settings(task_size=100, gnmf_lam=1.0, n_neighbors=7, graph_weight="heat",
                 protocol_overrides=(("transfer", "running_sum"),))
    p = s.protocol("thesis")
    assert (p.task_size, p.gnmf_lam, p.n_neighbors, p.graph_weight, p.transfer) == \
        (100, 1.0, 7, "heat", "running_sum")
    assert p.name == ("thesis+gnmf_lam=1+graph_weight=heat+n_neighbors=7+task_size=100"
                      "+transfer=running_sum")
    assert s.protocol(p) is p  # an effective protocol comes back unchanged
    assert Settings(task_size=100).protocol("authors") is AUTHORS  # no departure
    assert Settings(gnmf_lam=10.0).protocol("authors").name == "authors+gnmf_lam=10"
    # the settings' lambda holds for the other variant too, as it always did
    both = Settings(gnmf_lam=10.0, protocol_overrides=(("gnmf", "authors"),))
    assert both.protocol("thesis").name == "thesis+gnmf=authors+gnmf_lam=10"
    # the settings' None means the preset's value; an override the settings contradict fails
    assert Settings(protocol_overrides=(("task_size", 20),)).protocol("thesis").task_size == 20
    with pytest.raises(ValueError, match="set the settings' n_neighbors instead"):
        Settings(protocol_overrides=(("n_neighbors", 3),)).protocol("thesis")
    with pytest.raises(ValueError, match="task_size"):
        Settings(task_size=30, protocol_overrides=(("task_size", 20),)).protocol("thesis")


# -- make_base reads every value from the Protocol -------------------------------------------

def test_make_base_reads_every_protocol_value_from_the_protocol():
    # settings whose own protocol values differ from the protocol's: make_base ignores them
    s = Settings(gnmf_lam=99.0, n_neighbors=9, graph_weight="binary", baseline_iter=17,
                 denominator_eps=1e-9)
    cai = get_protocol("thesis", gnmf_lam=7.0, n_neighbors=3, graph_weight="heat")
    g = make_base("gnmf", "nndsvd", cai, s, rank=4, seed=2)
    assert isinstance(g, GNMF)
    assert (g.lam, g.loss, g.graph, g.n_neighbors, g.weight, g.init, g.max_iter, g.tol,
            g.n_components, g.random_state) == (7.0, "frobenius", "knn", 3, "heat", "nndsvd",
                                                17, 0.0, 4, 2)
    rbf = get_protocol("authors", gnmf_lam=2.0, rbf_sigma=1.5, stopping_tol=0.01)
    r = make_base("gnmf", "random", rbf, s, rank=4, seed=2)
    assert (r.lam, r.loss, r.graph, r.sigma, r.kl_update, r.tol) == (2.0, "kl", "rbf", 1.5,
                                                                     "split", 0.0)
    n = make_base("nmf", "random", rbf, s, rank=4, seed=2)
    assert isinstance(n, NMF)
    assert (n.tol, n.stopping, n.normalize, n.max_iter, n.denominator_eps) == \
        (0.01, "factors", True, 17, 1e-9)
    t = make_base("nmf", "random", THESIS, s, rank=4, seed=2)
    assert (t.tol, t.normalize) == (0.0, False)
    # the presets give the thesis' and the code's values
    assert make_base("gnmf", "random", THESIS, Settings(), rank=4, seed=0).lam == 100.0
    ref = make_base("gnmf", "random", AUTHORS, Settings(), rank=4, seed=0)
    assert (ref.lam, ref.sigma) == (0.3, 0.5)
    assert make_base("nmf", "random", AUTHORS, Settings(), rank=4, seed=0).tol == 1e-3
    with pytest.raises(TypeError, match="effective Protocol"):
        make_base("nmf", "random", "thesis", Settings(), rank=4, seed=0)


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    X = rng.random((300, 20)) ** 2
    return X[:240], X[240:]


def fit(X, protocol, base=None, **kw):
    est = MetaNMF(3, base=base, n_tasks=3, task_size=kw.pop("task_size", 40), n_epochs=3,
                  inner_iter=6, protocol=protocol, random_state=0, **kw)
    return est.fit(X)


def test_thesis_with_every_authors_field_is_the_authors_protocol(data):
    X, X_eval = data
    for base in (NMF(), NMF(init="nndsvd")):
        mixed = get_protocol("thesis", **{f: getattr(AUTHORS, f) for f in FIELDS})
        a = fit(X, mixed, base, task_size=60).factorize(X_eval)[0]
        b = fit(X, "authors", base, task_size=60).factorize(X_eval)[0]
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("field", ["disjoint_tasks", "transfer", "target_start",
                                   "normalize_calls", "task_size"])
def test_each_field_changes_the_result(data, field):
    X, X_eval = data
    overrides = {field: 60 if field == "task_size" else getattr(AUTHORS, field)}
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
