"""The result store: exact round trip, skip of stored keys, atomic writes."""

import numpy as np
import pytest

from metanmf_lab.store import COLUMNS, ResultStore, key_of


def row(**kw):
    r = {c: "" for c in COLUMNS}
    r.update(dataset="digits", noise=0.1, model="NMF", rank=2, seed=0, protocol="thesis",
             settings_hash="abc", algorithm_version="1", nmi=0.1234567890123456789,
             recon_error=12.5, n_iter=100, train_iter=0, task_size="", seconds=0.5,
             package_version="0.1.0", environment="x", settings="{}",
             created_utc="2026-01-01T00:00:00Z")
    r.update(kw)
    return r


def test_round_trip_is_exact(tmp_path):
    store = ResultStore(tmp_path / "r.csv")
    assert store.load().empty and store.keys() == set()
    values = np.random.default_rng(0).random(20)
    rows = [row(seed=i, nmi=float(v), noise=0.1 * 3) for i, v in enumerate(values)]
    assert store.add(rows) == 20
    df = store.load()
    assert list(df.columns) == list(COLUMNS)
    got = dict(zip(df["seed"], df["nmi"]))
    assert all(got[i] == float(v) for i, v in enumerate(values))  # bit-exact
    assert store.keys() == {key_of(r) for r in rows}


def test_existing_keys_are_not_duplicated(tmp_path):
    store = ResultStore(tmp_path / "r.csv")
    store.add([row(seed=0), row(seed=1)])
    assert store.add([row(seed=1, nmi=0.9), row(seed=2)]) == 1
    df = store.load()
    assert len(df) == 3
    assert df.loc[df.seed == 1, "nmi"].item() == pytest.approx(0.1234567890123456789)
    assert store.add([row(seed=2)]) == 0


def test_changed_settings_or_version_is_a_new_key(tmp_path):
    store = ResultStore(tmp_path / "r.csv")
    store.add([row()])
    assert store.add([row(settings_hash="def"), row(algorithm_version="2")]) == 2


def test_incomplete_rows_are_refused_and_nothing_is_written(tmp_path):
    store = ResultStore(tmp_path / "r.csv")
    bad = row()
    del bad["nmi"]
    with pytest.raises(ValueError, match="missing"):
        store.add([row(seed=5), bad])
    assert not store.path.exists()
    assert list(tmp_path.iterdir()) == []  # refused before anything is written


def test_not_a_store(tmp_path):
    p = tmp_path / "r.csv"
    p.write_text("a,b\n1,2\n")
    with pytest.raises(ValueError, match="not a result store"):
        ResultStore(p).load()


def _writer(path, start):
    ResultStore(path).add([row(seed=start + i) for i in range(20)])


def test_concurrent_writers_lose_nothing(tmp_path):
    from concurrent.futures import ProcessPoolExecutor

    path = tmp_path / "r.csv"
    with ProcessPoolExecutor(4) as ex:
        list(ex.map(_writer, [path] * 4, [0, 100, 200, 300]))
    assert len(ResultStore(path).load()) == 80
