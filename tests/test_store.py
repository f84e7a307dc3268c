"""The result store: exact round trip, skip of stored keys, atomic writes."""

import stat

import numpy as np
import pytest
from metanmf_lab.grid.store import (COLUMNS, KEY, ResultStore, key_of, replace_atomically,
                                    settings_hash)


def row(**kw):
    """A valid row; its settings hash follows its settings text unless given."""
    r = {c: "" for c in COLUMNS}
    r.update(dataset="digits", noise=0.1, model="NMF", rank=2, seed=0, protocol="thesis",
             effective_protocol="thesis", algorithm_version="1", nmi=0.1234567890123456789,
             recon_error=12.5, n_iter=100, train_iter=0, task_size="", seconds=0.5,
             package_version="0.1.0", environment="x", settings="{}",
             created_utc="2026-01-01T00:00:00Z")
    r.update(kw)
    if not r["settings_hash"]:
        r["settings_hash"] = settings_hash(r["settings"], r["algorithm_version"])
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
    assert store.add([row(settings='{"a": 2}'), row(algorithm_version="2")]) == 2


def test_incomplete_rows_are_refused_and_nothing_is_written(tmp_path):
    store = ResultStore(tmp_path / "r.csv")
    bad = row()
    del bad["nmi"]
    with pytest.raises(ValueError, match="missing"):
        store.add([row(seed=5), bad])
    assert not store.path.exists()
    assert list(tmp_path.iterdir()) == []  # refused before anything is written


# -- the effective protocol: written, validated, the name the settings give ----------------

def test_the_effective_protocol_is_written_after_the_preset_and_read_back(tmp_path):
    from metanmf_lab.grid.store import MEASURE_COLUMNS

    for columns in (COLUMNS, MEASURE_COLUMNS):
        i = columns.index("protocol")
        assert columns[i + 1] == "effective_protocol" and "effective_protocol" not in KEY
    store = ResultStore(tmp_path / "r.csv")
    name = "thesis+gnmf=authors+gnmf_lam=0.3"
    store.add([row(seed=0), row(seed=1, effective_protocol=name)])
    header = store.path.read_text().splitlines()[0].split(",")
    assert header[header.index("protocol") + 1] == "effective_protocol"
    assert list(store.load().effective_protocol) == ["thesis", name]
    # not part of the key: a row with the same key but another name is the stored row
    assert store.add([row(seed=1, effective_protocol="thesis")]) == 0


def test_a_row_without_an_effective_protocol_is_refused(tmp_path):
    store = ResultStore(tmp_path / "r.csv")
    lacking = row()
    del lacking["effective_protocol"]
    with pytest.raises(ValueError, match=r"missing \['effective_protocol'\]"):
        store.add([lacking])
    with pytest.raises(ValueError, match="effective_protocol '', which is empty"):
        store.add([row(effective_protocol="")])
    with pytest.raises(ValueError, match="is empty"):
        store.add([row(effective_protocol="  ")])
    assert not store.path.exists()
    store.add([row(seed=0), row(seed=1)])
    lines = store.path.read_text().splitlines(keepends=True)
    lines[2] = lines[2].replace(",thesis,thesis,", ",thesis,,", 1)
    store.path.write_text("".join(lines))
    assert store.problems() == [(3, "effective_protocol '' is empty")]
    # a file without the column (written before it) is not read as a result store
    store.path.write_text(store.path.read_text().replace(",effective_protocol", ""))
    with pytest.raises(ValueError, match=r"lacks the columns \['effective_protocol'\]"):
        store.load()


@pytest.mark.parametrize("kind", ["ResultStore", "MeasureStore"])
def test_every_stored_row_names_the_protocol_its_settings_give(kind):
    from metanmf_lab.grid import store as stores
    from metanmf_lab.grid.cells import Settings

    df = getattr(stores, kind)().load()
    assert len(df)
    resolved = {}
    for (text, preset), part in df.groupby(["settings", "protocol"]):
        resolved[text, preset] = Settings.from_json(text).protocol(preset).name
        assert set(part.effective_protocol) == {resolved[text, preset]}, (preset, text)
    # the preset is the start of the name; a row under the preset's own values names it alone
    assert all(name.split("+")[0] == preset for (_, preset), name in resolved.items())
    assert {n for n in resolved.values() if "+" not in n} <= {"thesis", "authors"}


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


# -- the settings sidecar: each settings text once per hash --------------------------------

def test_settings_are_kept_once_per_hash_in_the_sidecar(tmp_path):
    import json

    store = ResultStore(tmp_path / "r.csv")
    texts = {settings_hash(t, "1"): t for t in ('{"n_epochs": 50, "name": "x"}',
                                                '{"n_epochs": 3}')}
    store.add([row(seed=i, settings=texts[h]) for i in range(3) for h in texts])
    header = store.path.read_text().splitlines()[0].split(",")
    assert "settings" not in header and "settings_hash" in header
    assert json.loads(store.settings_path.read_text()) == texts
    assert store.settings_path.name == "r.settings.json"
    df = store.load()
    assert list(df.columns) == list(COLUMNS)
    assert (df["settings"] == df["settings_hash"].map(texts)).all()


def test_compact_rewrites_an_old_store_without_changing_a_value(tmp_path):
    import pandas as pd

    old = tmp_path / "r.csv"
    rows = [row(seed=i, nmi=float(v), settings='{"a": 1}')
            for i, v in enumerate(np.random.default_rng(1).random(5))]
    pd.DataFrame(rows, columns=list(COLUMNS)).to_csv(old, index=False)  # settings in the CSV
    store = ResultStore(old)
    before = store.load()
    assert store.compact() == 5
    assert "settings" not in old.read_text().splitlines()[0].split(",")
    pd.testing.assert_frame_equal(store.load(), before)


def test_two_settings_for_one_hash_are_refused(tmp_path):
    store = ResultStore(tmp_path / "r.csv")
    first = row(seed=0, settings='{"a": 1}')
    store.add([first])
    with pytest.raises(ValueError, match="not the hash of its settings"):
        store.add([row(seed=1, settings='{"a": 2}', settings_hash=first["settings_hash"])])
    assert len(store.load()) == 1


def test_missing_or_corrupted_sidecar_is_named(tmp_path):
    store = ResultStore(tmp_path / "r.csv")
    store.add([row()])
    store.settings_path.write_text("{not json")
    with pytest.raises(ValueError, match=r"r\.settings\.json is not a settings file"):
        store.load()
    store.settings_path.write_text("{}")
    with pytest.raises(ValueError, match=r"lacks the settings of 1 settings hash\(es\) of r\.csv"):
        store.load()
    store.settings_path.unlink()
    with pytest.raises(ValueError, match="restore both from git"):
        store.load()


def test_store_files_are_readable_by_all_as_ordinary_files_are(tmp_path):
    # the temporary files of an atomic write are private (mkstemp); the store is not
    store = ResultStore(tmp_path / "r.csv")
    store.add([row()])
    for p in (store.path, store.settings_path, store.environments_path):
        assert stat.S_IMODE(p.stat().st_mode) == 0o644, p.name


def test_a_failed_replace_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    p = tmp_path / "f.txt"
    replace_atomically(p, lambda fh: fh.write("old"), ".txt")

    def half_then_fail(fh):
        fh.write("half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        replace_atomically(p, half_then_fail, ".txt")
    assert p.read_text() == "old"
    assert [q.name for q in tmp_path.iterdir()] == ["f.txt"]


def mlam_row(**kw):
    from metanmf_lab.grid.store import MLAM_COLUMNS

    r = {c: "" for c in MLAM_COLUMNS}
    r.update(experiment="gmm", setting="dim=2", seed=0, method="EM", problem=0,
             measure="loss", t=0, algorithm_version="1",
             value=0.1234567890123456789, package_version="0.1.0", environment="x",
             settings="{}", created_utc="2026-01-01T00:00:00Z")
    r.update(kw)
    if not r["settings_hash"]:
        r["settings_hash"] = settings_hash(r["settings"], r["algorithm_version"], "mlam")
    return r


def test_mlam_store_keeps_each_cells_provenance_once_and_loads_it_back(tmp_path):
    import pandas as pd

    from metanmf_lab.grid.store import MLAM_COLUMNS, MLAMStore

    store = MLAMStore(tmp_path / "m.csv")
    values = np.random.default_rng(2).random(6)
    first = [mlam_row(setting="dim=4", t=t, value=float(v)) for t, v in enumerate(values)]
    assert store.add(first) == 6
    header = store.path.read_text().splitlines()[0].split(",")
    assert header == ["cell", "method", "problem", "measure", "t", "value"]
    assert len(pd.read_csv(store.cells_path)) == 1
    # a new cell that sorts before the stored one gets the next number; the old keeps its own
    store.add([mlam_row(setting="dim=2", t=t, created_utc="2026-02-01T00:00:00Z")
               for t in range(3)])
    cells = pd.read_csv(store.cells_path, dtype=str)
    assert dict(zip(cells.setting, cells.cell)) == {"dim=4": "0", "dim=2": "1"}
    df = store.load()
    assert list(df.columns) == list(MLAM_COLUMNS) and len(df) == 9
    four = df[df.setting == "dim=4"].sort_values("t")
    assert list(four.value) == [float(v) for v in values]  # bit-exact
    assert set(df[df.setting == "dim=2"].created_utc) == {"2026-02-01T00:00:00Z"}
    assert store.keys() == {store.key_of(r) for r in df.to_dict("records")}


def test_mlam_store_reads_and_compacts_the_one_row_per_value_layout(tmp_path):
    import pandas as pd

    from metanmf_lab.grid.store import MLAM_COLUMNS, MLAMStore

    path = tmp_path / "m.csv"
    rows = [mlam_row(seed=s, t=t, value=0.1 * t + s) for s in (0, 1) for t in range(4)]
    pd.DataFrame(rows, columns=list(MLAM_COLUMNS)).to_csv(path, index=False)
    store = MLAMStore(path)
    before = store.load()
    assert store.compact() == 8
    assert "created_utc" not in path.read_text().splitlines()[0]
    pd.testing.assert_frame_equal(store.load(), before)


def test_mlam_store_refuses_a_cell_with_two_provenances_and_names_a_lost_cells_file(tmp_path):
    from metanmf_lab.grid.store import MLAMStore

    store = MLAMStore(tmp_path / "m.csv")
    with pytest.raises(ValueError, match="disagree on"):
        store.add([mlam_row(t=0), mlam_row(t=1, environment="y")])
    assert not store.path.exists()
    store.add([mlam_row()])
    store.cells_path.write_text("cell,experiment\n0,gmm\n")
    with pytest.raises(ValueError, match=r"m\.cells\.csv is not the cells file"):
        store.load()
    store.cells_path.unlink()
    with pytest.raises(ValueError, match=r"m\.cells\.csv lacks 1 cell"):
        store.load()


def test_environment_texts_are_kept_once_and_named_by_their_hash(tmp_path):
    import hashlib
    import json

    import pandas as pd

    store = ResultStore(tmp_path / "r.csv")
    envs = ["python=3.11;blas=openblas/Haswell", "python=3.11;blas=openblas/SkylakeX"]
    store.add([row(seed=i, environment=envs[i % 2]) for i in range(6)])
    table = json.loads(store.environments_path.read_text())
    want = {"env-" + hashlib.sha1(e.encode()).hexdigest()[:10]: e for e in envs}
    assert table == want and store.environments_path.name == "r.environments.json"
    on_disk = pd.read_csv(store.path, dtype=str)
    assert set(on_disk.environment) == set(want)  # the rows name them
    df = store.load()
    assert list(df.environment) == [envs[i % 2] for i in range(6)]
    # a row written by an older writer, with the text itself, loads beside the named ones
    raw = on_disk.iloc[:1].assign(seed="9", environment="python=3.9")
    pd.concat([on_disk, raw]).to_csv(store.path, index=False)
    assert store.load().set_index("seed").environment.to_dict()[9] == "python=3.9"
    store.compact()
    assert len(json.loads(store.environments_path.read_text())) == 3


def test_missing_or_corrupted_environments_file_is_named_and_a_clashing_text_refused(tmp_path):
    store = ResultStore(tmp_path / "r.csv")
    store.add([row()])
    store.environments_path.write_text('{"env-0000000000": "x"}')  # a name that is not its hash
    with pytest.raises(ValueError, match=r"r\.environments\.json is not an environments file"):
        store.load()
    store.environments_path.unlink()
    with pytest.raises(ValueError, match=r"lacks 1 environment\(s\) that rows of r\.csv name"):
        store.load()
    with pytest.raises(ValueError, match="starts with 'env-'"):
        ResultStore(tmp_path / "s.csv").add([row(environment="env-abc")])
