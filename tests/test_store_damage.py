"""A damaged store is refused, never read in part; `repair` drops exactly the damaged rows.

Property tests: a sound store is damaged in each way a file gets damaged (cut short at any
byte, a value of the wrong type or not finite, a key cut short, a line written twice, a merge
conflict, an empty or binary file), and every damaged store must either load exactly the
rows it holds intact or be refused with a :class:`StoreError` naming the file and the line.
"""

import json
import os
import stat

import numpy as np
import pandas as pd
import pytest
from metanmf_lab.grid.store import (COLUMNS, MLAM_COLUMNS, ML100K_COLUMNS, ML100KStore, MLAMStore,
                                    ResultStore, StoreError, main, open_store, settings_hash)

SETTINGS = '{"n_epochs": 3}'


def row(**kw):
    r = dict(dataset="digits", noise=0.1, model="NMF", rank=2, seed=0, protocol="thesis",
             effective_protocol="thesis", algorithm_version="2", nmi=0.1234567890123456789,
             recon_error=12.5, n_iter=100, train_iter=0, task_size="", seconds=0.5,
             package_version="0.1.0", environment="python=3", settings=SETTINGS, created_utc="2026-01-01T00:00:00Z")
    r.update(kw)
    r.setdefault("settings_hash", settings_hash(r["settings"], r["algorithm_version"]))
    return r


N_ROWS = 6


@pytest.fixture
def sound(tmp_path):
    """A sound store of N_ROWS rows (lines 2..N_ROWS+1), and its rows as loaded."""
    store = ResultStore(tmp_path / "r.csv")
    values = np.random.default_rng(0).random(N_ROWS)
    store.add([row(seed=i, nmi=float(v), task_size=i + 1 if i % 2 else "")
               for i, v in enumerate(values)])
    return store, store.load()


def lines_of(store):
    return store.path.read_text().splitlines(keepends=True)


def write_lines(store, lines):
    store.path.write_text("".join(lines))


def same_rows(got, want):
    pd.testing.assert_frame_equal(got.reset_index(drop=True), want.reset_index(drop=True))


# -- cut short, anywhere --------------------------------------------------------------------

def test_a_store_cut_short_at_any_byte_loads_its_whole_rows_or_is_refused(sound):
    store, rows = sound
    text = store.path.read_bytes()
    header_end = text.index(b"\n") + 1
    for cut in range(header_end + 1, len(text)):
        store.path.write_bytes(text[:cut])
        kept = text[:cut].count(b"\n") - 1  # whole lines after the header
        try:
            got = store.load()
        except StoreError as exc:
            msg = str(exc)
            assert "r.csv" in msg and f"line {kept + 2}" in msg, (cut, msg)
            assert "repair" in msg and "git checkout" in msg
            continue
        # accepted only when the cut left whole rows (e.g. just the final newline lost)
        assert text[:cut].endswith(b"\n") or text[cut - 1:cut + 1] == b"Z\n", cut
        same_rows(got, rows.iloc[:len(got)])
        assert len(got) in (kept, kept + 1)


def test_the_issue_case_a_last_line_cut_inside_nmi_is_refused_not_read_as_zero(sound):
    store, _ = sound
    lines = lines_of(store)
    header = lines[0].strip().split(",")
    fields = lines[-1].split(",")
    cut = ",".join(fields[:header.index("nmi")]) + ",0."  # nmi "0.xxxx" cut after "0."
    write_lines(store, lines[:-1] + [cut])
    with pytest.raises(StoreError, match=rf"line {N_ROWS + 1}: 10 fields instead of 18"):
        store.load()
    assert store.repair() == [N_ROWS + 1]
    assert len(store.load()) == N_ROWS - 1


# -- one value of the wrong kind ------------------------------------------------------------

BAD_VALUES = {
    "dataset": [""], "noise": ["abc", "nan", "inf", "-0.5"], "model": [""],
    "rank": ["0", "2.5", "x"], "seed": ["-1", "1e3"], "protocol": [""],
    "effective_protocol": [""],
    "settings_hash": ["", "abc", "3c2e0d6ad76"], "algorithm_version": [""],
    "nmi": ["0.1.2", "nan", "-inf", "1.5", ""], "recon_error": ["-1", "nan"],
    "n_iter": ["-3", "ten"], "train_iter": ["1.0"], "task_size": ["0", "a"],
    "seconds": ["inf"], "package_version": [""], "environment": ["", "env-12"],
    "created_utc": ["2026-01-01", "2026-01-01T00:00:00", ""],
}


@pytest.mark.parametrize("column,bad", [(c, v) for c, vs in BAD_VALUES.items() for v in vs])
def test_an_ill_typed_value_is_refused_naming_line_and_column(sound, column, bad):
    store, rows = sound
    lines = lines_of(store)
    header = lines[0].strip().split(",")
    fields = lines[3].rstrip("\n").split(",")
    fields[header.index(column)] = bad
    lines[3] = ",".join(fields) + "\n"
    write_lines(store, lines)
    with pytest.raises(StoreError, match=rf"r\.csv has a damaged line.*line 4: "
                                         rf"{column} "):
        store.load()
    assert store.problems()[0][0] == 4
    assert store.repair() == [4]
    same_rows(store.load(), rows.drop(index=2))


def test_every_checked_column_is_tried():
    assert set(BAD_VALUES) == set(COLUMNS) - {"settings"}


# -- keys: cut short, unknown, twice ----------------------------------------------------------

def test_a_key_cut_short_is_a_damaged_line_not_a_lost_sidecar(sound):
    store, _ = sound
    lines = lines_of(store)
    lines[2] = lines[2].replace(row()["settings_hash"], row()["settings_hash"][:6])
    write_lines(store, lines)
    with pytest.raises(StoreError, match="line 3: settings_hash .* not 12 hex digits") as exc:
        store.load()
    assert "restore both from git" not in str(exc.value)


def test_a_sound_hash_that_does_not_fit_its_settings_is_refused(sound):
    store, _ = sound
    other = settings_hash('{"n_epochs": 4}', "2")
    store.settings_path.write_text(store.settings_path.read_text().replace(
        row()["settings_hash"], other))
    with pytest.raises(StoreError, match="lacks the settings"):
        store.load()
    store.settings_path.write_text(json.dumps({row()["settings_hash"]: '{"n": 1}'}))
    with pytest.raises(StoreError, match="is not the hash of its settings"):
        store.load()


def test_a_row_written_twice_is_refused_and_repair_keeps_the_first(sound):
    store, rows = sound
    lines = lines_of(store)
    write_lines(store, lines + [lines[2]])
    with pytest.raises(StoreError, match=rf"line {N_ROWS + 2}: the same key as line 3"):
        store.load()
    assert store.repair() == [N_ROWS + 2]
    same_rows(store.load(), rows)


def test_a_merge_conflict_is_refused(sound):
    store, _ = sound
    lines = lines_of(store)
    write_lines(store, lines[:3] + ["<<<<<<< HEAD\n", lines[3], "=======\n",
                                    lines[3].replace("2026-01-01", "2026-02-02"), ">>>>>>> other\n"]
                + lines[4:])
    with pytest.raises(StoreError, match="line 4: 1 fields instead of 18"):
        store.load()
    store.repair()
    assert len(store.load()) == N_ROWS  # the conflict lines dropped, one of the two versions
    # kept (the first of two lines with one key)


# -- not a store at all ----------------------------------------------------------------------

@pytest.mark.parametrize("content,message", [
    (b"", "is empty"), (b"\n\n  \n", "is empty"),
    (bytes(range(256)) * 4, "not text"), (b"dataset,noise\x00\x00,model\n", "NUL byte"),
    (b"a,b\n1,2\n", "lacks the columns"),
])
def test_a_file_that_is_no_store_is_refused_naming_it(tmp_path, content, message):
    p = tmp_path / "r.csv"
    p.write_bytes(content)
    with pytest.raises(StoreError, match=message) as exc:
        ResultStore(p).load()
    assert "r.csv" in str(exc.value) and "git checkout" in str(exc.value)


# -- adding: nothing damaged is ever written ---------------------------------------------------

@pytest.mark.parametrize("change", [dict(nmi=float("nan")), dict(nmi=float("inf")),
                                    dict(recon_error=-1.0), dict(rank=0),
                                    dict(settings_hash="0123456789ab"),
                                    dict(created_utc="yesterday")])
def test_add_refuses_a_damaged_row_and_writes_nothing(sound, change):
    store, rows = sound
    before = store.path.read_bytes()
    with pytest.raises(ValueError, match="nothing was written"):
        store.add([row(seed=99, **change)])
    assert store.path.read_bytes() == before


# -- writable before computing -----------------------------------------------------------------

def test_check_writable(tmp_path):
    store = ResultStore(tmp_path / "new" / "deeper" / "r.csv")
    store.check_writable()  # a folder that does not exist yet is fine
    assert not (tmp_path / "new").exists()  # and is not created by the check
    (tmp_path / "file").write_text("x")
    with pytest.raises(StoreError, match="is a file, not a folder"):
        ResultStore(tmp_path / "file" / "r.csv").check_writable()
    with pytest.raises(StoreError, match="is a folder"):
        ResultStore(tmp_path).check_writable()
    store = ResultStore(tmp_path / "r.csv")
    store.add([row()])
    store.check_writable()
    os.chmod(store.path, 0o444)
    with pytest.raises(StoreError, match="r.csv is read-only"):
        store.check_writable()
    os.chmod(store.path, 0o644)
    os.chmod(tmp_path, 0o555)
    try:
        with pytest.raises(StoreError, match="folder .* is read-only"):
            store.check_writable()
    finally:
        os.chmod(tmp_path, 0o755)


# -- the other stores: a unit computed whole is dropped whole --------------------------------

def ml_row(**kw):
    r = dict.fromkeys(ML100K_COLUMNS, "")
    r.update(split=0, method="MF", n_steps=-1, algorithm_version="1", mse=0.9, n_matrices=10,
             detail="", seconds=1.0, package_version="0.1.0", environment="py",
             settings="{}", created_utc="2026-01-01T00:00:00Z")
    r.update(kw)
    r["settings_hash"] = settings_hash(r["settings"], r["algorithm_version"], "metaprior")
    return r


def test_movielens_store_repair_drops_the_whole_split_of_a_damaged_row(tmp_path):
    store = ML100KStore(tmp_path / "m.csv")
    store.add([ml_row(split=s, method=m) for s in (0, 1) for m in ("MF", "Mean", "MAML")])
    lines = lines_of(store)
    assert lines[2].startswith("0,MF")
    lines[2] = lines[2][:20]  # a row of split 0 cut short, joined with the next line
    write_lines(store, lines)
    with pytest.raises(StoreError, match="line 3"):
        store.load()
    store.repair()
    assert set(store.load().split) == {1}  # split 0 is missing whole, so it is recomputed


def mlam_row(**kw):
    r = dict.fromkeys(MLAM_COLUMNS, "")
    r.update(experiment="gmm", setting="dim=2", seed=0, method="EM", problem=0,
             measure="loss", t=0, algorithm_version="1", value=0.5, package_version="0.1.0",
             environment="x", settings="{}", created_utc="2026-01-01T00:00:00Z")
    r.update(kw)
    r["settings_hash"] = settings_hash(r["settings"], r["algorithm_version"], "mlam")
    return r


def test_mlam_store_refuses_damaged_rows_and_cells_and_repair_drops_whole_cells(tmp_path):
    store = MLAMStore(tmp_path / "m.csv")
    store.add([mlam_row(seed=s, t=t) for s in (0, 1) for t in range(3)])
    lines = lines_of(store)
    lines[2] = lines[2].replace("0.5", "nan")
    write_lines(store, lines)
    with pytest.raises(StoreError, match="line 3: value 'nan' is not a finite number"):
        store.load()
    cell = lines[2].split(",")[0]
    store.repair()
    df = store.load()
    assert len(df) == 3 and cell not in set(pd.read_csv(store.path, dtype=str).cell)
    cells = store.cells_path.read_text().splitlines()
    store.cells_path.write_text("\n".join(cells[:-1] + [cells[-1][:-5]]) + "\n")
    with pytest.raises(StoreError, match=r"m\.cells\.csv is damaged.*Restore it"):
        store.load()


# -- the command line --------------------------------------------------------------------------

def test_store_command_line_checks_and_repairs_without_machine_paths(sound, monkeypatch,
                                                                    capsys):
    store, rows = sound
    monkeypatch.chdir(store.path.parent)
    assert main(["check", "r.csv"]) == 0
    assert "r.csv: sound" in capsys.readouterr().out
    write_lines(store, lines_of(store)[:-1] + [lines_of(store)[-1][:30]])
    assert main(["check", "r.csv"]) == 1
    out = capsys.readouterr().out
    assert f"r.csv, line {N_ROWS + 1}:" in out
    assert main(["repair", "r.csv"]) == 0
    out = capsys.readouterr().out
    assert f"dropped 1 damaged line(s) ({N_ROWS + 1})" in out
    assert str(store.path.parent) not in out
    same_rows(store.load(), rows.iloc[:-1])
    (store.path.parent / "x.csv").write_bytes(b"\xff\xfe")
    assert main(["check", "x.csv"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: x.csv") and str(store.path.parent) not in err
    assert isinstance(open_store("r.csv"), ResultStore)


def test_messages_name_the_store_relative_to_the_current_folder(sound, monkeypatch):
    store, _ = sound
    monkeypatch.chdir(store.path.parent.parent)
    write_lines(store, lines_of(store) + ["digits,0.1\n"])
    with pytest.raises(StoreError) as exc:
        store.load()
    where = f"{store.path.parent.name}/r.csv"
    assert str(exc.value).startswith(where) and str(store.path.parent.parent) not in str(exc.value)


def test_store_files_are_created_readable_as_before(sound):
    store, _ = sound
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o644


def test_a_cut_line_that_swallowed_the_next_units_row_drops_that_unit_too(tmp_path):
    store = ML100KStore(tmp_path / "m.csv")
    store.add([ml_row(split=s, method=m) for s in (0, 1, 2) for m in ("MF", "Mean", "MAML")])
    lines = lines_of(store)
    assert lines[3].startswith("0,") and lines[4].startswith("1,")
    lines[3] = lines[3][:12]  # the last row of split 0 cut short; the first of split 1 joins it
    write_lines(store, lines)
    with pytest.raises(StoreError, match="line 4"):
        store.load()
    store.repair()
    assert set(store.load().split) == {2}  # 0 lost a row, 1 lost one to the join: both redone


# -- end to end: a grid run on a damaged store ------------------------------------------------

def test_a_grid_run_refuses_a_damaged_store_and_recomputes_only_the_repaired_rows(
        tmp_path, monkeypatch):
    from metanmf_lab import grid as ex

    tiny = ex.Settings(n_epochs=2, inner_iter=5, baseline_iter=10)
    cells = ex.make_grid(["digits"], models=["NMF", "Meta-NMF"], ranks=[2], seeds=[0, 1],
                         noises=["none"])
    store = ResultStore(tmp_path / "results.csv")
    first = ex.run_grid(cells, tiny, store=store, progress=False)
    lines = lines_of(store)
    write_lines(store, lines + [lines[1]])  # the issue's case: a row stored twice
    with pytest.raises(StoreError, match="the same key as line 2"):
        ex.run_grid(cells, tiny, store=store, progress=False)  # not 5 rows for 4 cells
    write_lines(store, lines[:-1] + [lines[-1][:60]])  # the last line cut short
    calls = []
    real = ex.run_cell
    monkeypatch.setattr(ex.runner, "run_cell", lambda c, s: calls.append(c) or real(c, s))
    with pytest.raises(StoreError, match=f"line {len(lines)}"):
        ex.run_grid(cells, tiny, store=store, progress=False)
    assert calls == []  # refused before computing anything
    assert store.repair() == [len(lines)]
    again = ex.run_grid(cells, tiny, store=store, progress=False)
    assert len(calls) == 1  # only the dropped cell
    run = ["seconds", "created_utc"]
    same_rows(again.drop(columns=run), first.drop(columns=run))
