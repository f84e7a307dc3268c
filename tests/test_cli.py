"""Every command line checks its arguments before any work (issue 26, point 4).

A bad value ends with ``error: ...`` on stderr and exit code 2 -- no traceback, no folder of
the machine that the user did not give -- and nothing is computed or written. The same holds
for the user's mistakes found deeper down (a damaged or unwritable store, a data folder that
is a file, a missing data file), while a genuine bug keeps its traceback. The commands run
in-process (``main([...])``); nothing here computes more than one tiny cell.
"""

from __future__ import annotations

import os

import pytest
from metanmf_lab import grid as ex
from metanmf_lab.grid import cli, runner
from metanmf_lab._config import DATA_ENV, PROJECT_ROOT
from metanmf_lab.book import pipeline
from metanmf_lab.data import datasets
from metanmf_lab.grid import bench
from metanmf_lab.grid.store import ResultStore

ROOT = os.geteuid() == 0  # root writes into read-only files and folders
NOTEBOOKS = PROJECT_ROOT / "notebooks"

#: One cell of the grid, the cheapest (Blobs needs no data file).
ONE_CELL = ["--datasets", "blobs", "--models", "NMF", "--ranks", "2", "--seeds", "0",
            "--noises", "none", "--jobs", "1"]


@pytest.fixture
def nothing_computed(monkeypatch):
    """Fail the test if any cell is computed."""
    def refuse(*args, **kwargs):
        raise AssertionError("a cell was computed although the arguments are bad")

    monkeypatch.setattr(runner, "run_cell", refuse)  # the per-cell engine
    monkeypatch.setattr(runner, "run_block", refuse)  # the batched engine


@pytest.fixture
def no_network(monkeypatch):
    monkeypatch.setattr(datasets, "URLS", {k: f"file:///nonexistent-metanmf-test/{k}"
                                           for k in datasets.URLS})


def with_option(option, *values):
    """ONE_CELL with ``option`` set to ``values``."""
    argv = list(ONE_CELL)
    if option in argv:
        i = argv.index(option)
        j = i + 1
        while j < len(argv) and not argv[j].startswith("--"):
            j += 1
        del argv[i:j]
    return argv + [option, *values]


def assert_clean_error(err, *expected):
    """One ``error: ...`` message, no traceback, no machine folder, every ``expected`` in it."""
    assert "error: " in err and "Traceback" not in err, err
    assert str(PROJECT_ROOT) not in err, err
    for text in expected:
        assert text in err, err


# ---- experiments --------------------------------------------------------------------------

BAD_EXPERIMENT_ARGS = [
    (("--ranks", "0"), "argument --ranks: a rank must be an integer >= 1, got '0'"),
    (("--ranks", "-3"), "argument --ranks: a rank must be an integer >= 1, got '-3'"),
    (("--ranks", "2.5"), "argument --ranks: a rank must be an integer >= 1, got '2.5'"),
    (("--noises", "abc"), "argument --noises: a noise level must be \"none\", \"added\" or "
                          "a finite number >= 0, got 'abc'"),
    (("--noises", "default"), "a noise level must be \"none\", \"added\" or a finite number >= 0, "
                              "got 'default'"),
    (("--noises", "-1"), "got '-1'"),
    (("--noises", "inf"), "got 'inf'"),
    (("--noises", "nan"), "got 'nan'"),
    (("--seeds", "-1"), "argument --seeds: a seed must be an integer >= 0, got '-1'"),
    (("--jobs", "0"), "argument --jobs: --jobs must be an integer >= 1 or -1, got '0'"),
    (("--jobs", "-2"), "got '-2'"),
    (("--ranks", "600"), "Dataset Blobs (10000 samples, 5000 of them in the learning half; "
                         "500 features) is too small for rank 600"),
]


@pytest.mark.parametrize("args, message", BAD_EXPERIMENT_ARGS,
                         ids=[" ".join(a) for a, _ in BAD_EXPERIMENT_ARGS])
def test_experiments_refuses_bad_arguments_before_any_work(args, message, tmp_path, capsys,
                                                           nothing_computed):
    store = tmp_path / "r.csv"
    with pytest.raises(SystemExit) as info:
        cli.main(with_option(*args) + ["--store", str(store)])
    assert info.value.code == 2
    assert_clean_error(capsys.readouterr().err, message)
    assert not store.exists()


def test_experiments_accepts_every_good_jobs_value():
    parse = cli.int_option("--jobs", 1, allowed=(-1,))
    assert [parse(v) for v in ("-1", "1", "2", "64")] == [-1, 1, 2, 64]


def test_experiments_store_under_a_file_fails_before_computing(tmp_path, monkeypatch, capsys,
                                                               nothing_computed):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "afile").write_text("not a folder")
    assert cli.main(ONE_CELL + ["--store", "afile/r.csv"]) == 2
    assert_clean_error(capsys.readouterr().err, "afile/r.csv", "afile is a file")


@pytest.mark.skipif(ROOT, reason="root can write into read-only files and folders")
def test_experiments_read_only_store_fails_before_computing(tmp_path, monkeypatch, capsys,
                                                            nothing_computed):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "ro").mkdir()
    (tmp_path / "ro").chmod(0o555)
    try:
        assert cli.main(ONE_CELL + ["--store", "ro/r.csv"]) == 2
        assert_clean_error(capsys.readouterr().err, "ro/r.csv", "read-only")
    finally:
        (tmp_path / "ro").chmod(0o755)
    (tmp_path / "r.csv").write_text("")
    (tmp_path / "r.csv").chmod(0o444)
    assert cli.main(ONE_CELL + ["--store", "r.csv"]) == 2
    assert "error: " in capsys.readouterr().err


def _one_row_store(tmp_path, capsys):
    """A store holding the one cell of ONE_CELL, computed by the command line."""
    store = tmp_path / "r.csv"
    assert cli.main(ONE_CELL + ["--store", "r.csv"]) == 0
    capsys.readouterr()
    assert len(ResultStore(store).load()) == 1
    return store


@pytest.mark.parametrize("content", [b"\xcc\x00\xff binary", b"", b"dataset,noise\nx,0.\n"],
                         ids=["binary", "empty", "not-a-store"])
def test_experiments_unusable_store_is_an_error_not_a_traceback(content, tmp_path, monkeypatch,
                                                                capsys, nothing_computed):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "r.csv").write_bytes(content)
    assert cli.main(ONE_CELL + ["--store", "r.csv"]) == 2
    assert_clean_error(capsys.readouterr().err, "r.csv")
    assert (tmp_path / "r.csv").read_bytes() == content  # left as it was


def test_experiments_damaged_store_is_named_and_repaired(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    store = _one_row_store(tmp_path, capsys)
    good = store.read_text()
    # a second row cut short, as a killed writer without atomic writes would leave it
    last = good.splitlines()[-1]
    store.write_text(good + last.replace(",0,thesis,", ",1,thesis,")[:40])
    argv = ONE_CELL + ["--seeds", "0", "1", "--store", "r.csv"]
    real = ex.run_cell
    real_block = runner.run_block
    for engine in ("run_cell", "run_block"):
        monkeypatch.setattr(runner, engine, lambda *a: pytest.fail("computed with a bad store"))
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert_clean_error(err, "r.csv", "line 3")
    monkeypatch.setattr(runner, "run_cell", real)
    monkeypatch.setattr(runner, "run_block", real_block)
    assert cli.main(argv + ["--repair"]) == 0
    out = capsys.readouterr().out
    assert "repaired r.csv: dropped line(s) 3" in out and "2 of 2 cells in r.csv" in out
    df = ResultStore(store).load()
    assert sorted(df["seed"]) == [0, 1]
    assert cli.main(argv + ["--repair"]) == 0
    assert "r.csv: nothing to repair" in capsys.readouterr().out


def test_experiments_data_folder_that_is_a_file(tmp_path, monkeypatch, capsys,
                                               nothing_computed):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "afile").write_text("not a folder")
    monkeypatch.setenv(DATA_ENV, "afile")
    argv = with_option("--datasets", "fmnist") + ["--store", "r.csv"]
    assert cli.main(argv) == 2
    assert_clean_error(capsys.readouterr().err, "METANMF_DATA='afile' is not a folder")
    assert not (tmp_path / "r.csv").exists()


def test_experiments_missing_data_file_is_an_error_before_computing(tmp_path, monkeypatch,
                                                                    capsys, no_network,
                                                                    nothing_computed):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(DATA_ENV, "nodata")
    argv = with_option("--datasets", "faces") + ["--store", "r.csv"]
    assert cli.main(argv) == 2
    assert_clean_error(capsys.readouterr().err, "olivettifaces.mat", "nodata")
    assert not (tmp_path / "nodata").exists()  # the failed download left no folder


def test_experiments_genuine_bugs_keep_their_traceback(tmp_path, monkeypatch):
    """Only the package's own error types of the user's mistakes are turned into messages."""
    def bug(*args):
        raise ValueError("a bug deep inside, not the user's mistake")

    monkeypatch.setattr(runner, "run_cell", bug)
    monkeypatch.setattr(runner, "run_block", bug)
    for engine in ("batched", "per-cell"):
        with pytest.raises(ValueError, match="a bug deep inside"):
            cli.main(ONE_CELL + ["--store", str(tmp_path / "r.csv"), "--engine", engine])


# ---- pipeline -----------------------------------------------------------------------------

@pytest.fixture
def no_kernel(monkeypatch):
    """Fail the test if a notebook would be executed."""
    def refuse(*args, **kwargs):
        raise AssertionError("a notebook was executed although the arguments are bad")

    monkeypatch.setattr(pipeline, "execute_notebook", refuse)


BAD_RUN_PARAMETERS = [
    ("results", ["-p", "noise", "1e999"], "Parameter noise must be finite, got inf"),
    ("results", ["-p", "noise", "nan"], 'noise must be "none", "added" or a number >= 0'),
    ("results", ["-p", "noise", "-1"], 'noise must be "none", "added" or a number >= 0'),
    ("results", ["-p", "noise", "default"], 'noise must be "none", "added" or a number >= 0'),
    ("results", ["-p", "nosuch", "1"], "Unknown parameter(s) nosuch"),
    ("results", ["-p", "ranks", "abc"], "Parameter ranks must be of type list"),
    ("results", ["-p", "ranks", "[0]"], "ranks must be a list of integers >= 1"),
    ("results", ["-p", "n_jobs", "0"], "n_jobs must be -1 or >= 1"),
    ("derivation", ["-p", "lam", "1e999"], "Parameter lam must be finite, got inf"),
    ("derivation", ["-p", "lam", "-1.0"], "lam must be >= 0"),
    ("algorithm", ["-p", "rank", "0"], "rank must be a list of integers >= 1"),
    ("algorithm", ["-p", "seed", "-1"], "seed must be a list of integers >= 0"),
    ("data", ["-p", "n_examples", "0"], "n_examples must be a list of integers >= 1"),
]


@pytest.mark.parametrize("notebook, args, message", BAD_RUN_PARAMETERS,
                         ids=[f"{n} {' '.join(a[1:])}" for n, a, _ in BAD_RUN_PARAMETERS])
def test_pipeline_run_refuses_bad_parameters_before_a_kernel_starts(
        notebook, args, message, tmp_path, capsys, no_kernel):
    out = tmp_path / "out.ipynb"
    code = pipeline.main(["run", str(NOTEBOOKS / f"{notebook}.ipynb"), str(out),
                          "-p", "profile", "smoke", *args])
    assert code == 2
    assert_clean_error(capsys.readouterr().err, message)
    assert not out.exists()


def test_pipeline_run_missing_notebook(tmp_path, monkeypatch, capsys, no_kernel):
    monkeypatch.chdir(tmp_path)
    assert pipeline.main(["run", "nosuch.ipynb", "out.ipynb"]) == 2
    assert_clean_error(capsys.readouterr().err, "No notebook nosuch.ipynb")


@pytest.mark.parametrize("command", ["execute", "golden"])
def test_pipeline_unknown_chapter_is_a_usage_error(command, capsys, no_kernel):
    assert pipeline.main([command, "--only", "nosuch", "--no-progress"]) == 2
    assert_clean_error(capsys.readouterr().err, "Unknown chapter(s) nosuch; the plan has: intro")


@pytest.mark.parametrize("jobs", ["0", "-1", "two"])
@pytest.mark.parametrize("command", ["execute", "golden"])
def test_pipeline_jobs_must_be_positive(command, jobs, capsys, no_kernel):
    with pytest.raises(SystemExit) as info:
        pipeline.main([command, "--only", "status", "--jobs", jobs])
    assert info.value.code == 2
    assert_clean_error(capsys.readouterr().err, f"--jobs must be an integer >= 1, got {jobs!r}")


@pytest.mark.parametrize("command", [["data", "fmnist"], ["data", "--check"],
                                     ["execute", "--only", "intro", "--no-progress"]],
                         ids=["data", "data --check", "execute"])
def test_pipeline_data_folder_that_is_a_file(command, tmp_path, monkeypatch, capsys,
                                             no_kernel):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "afile").write_text("not a folder")
    monkeypatch.setenv(DATA_ENV, "afile")
    if command[0] == "execute":
        command = command + ["--book-root", str(tmp_path)]
    assert pipeline.main(command) == 2
    assert_clean_error(capsys.readouterr().err, "METANMF_DATA='afile' is not a folder but a file")


def test_pipeline_data_missing_folder_is_not_created(tmp_path, monkeypatch, capsys,
                                                     no_network):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(DATA_ENV, "new/data")
    assert pipeline.main(["data", "faces"]) == 1
    err = capsys.readouterr().err
    assert "olivettifaces.mat" in err and "is not in new/data" in err
    assert not (tmp_path / "new").exists()


# ---- bench --------------------------------------------------------------------------------

@pytest.fixture
def no_benchmark(monkeypatch):
    monkeypatch.setattr(bench, "_run", lambda args: pytest.fail("the benchmarks started"))


@pytest.mark.parametrize("jobs", ["0", "-2", "x"])
def test_bench_jobs(jobs, tmp_path, capsys, no_benchmark):
    with pytest.raises(SystemExit) as info:
        bench.main(["--jobs", jobs, "--out", str(tmp_path)])
    assert info.value.code == 2
    assert_clean_error(capsys.readouterr().err, f"--jobs must be an integer >= 1 or -1, "
                                                f"got {jobs!r}")


def test_bench_out_must_be_a_writable_folder(tmp_path, monkeypatch, capsys, no_benchmark):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "afile").write_text("not a folder")
    for out in ("afile", "afile/sub"):
        with pytest.raises(SystemExit) as info:
            bench.main(["--out", out])
        assert info.value.code == 2
        assert_clean_error(capsys.readouterr().err, f"cannot write the CSV files into {out}: "
                                                    f"afile is a file, not a folder")


def test_bench_damaged_grid_store_fails_before_the_benchmarks(tmp_path, monkeypatch, capsys,
                                                              no_benchmark):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "grid.csv").write_bytes(b"\xcc\xff")
    assert bench.main(["--full", "--out", "out", "--grid-store", "grid.csv"]) == 2
    assert_clean_error(capsys.readouterr().err, "grid.csv")
    assert not (tmp_path / "out").exists()


def test_bench_good_arguments_reach_the_benchmarks(tmp_path, monkeypatch):
    seen = []
    monkeypatch.setattr(bench, "_run", lambda args: seen.append(args) or 0)
    assert bench.main(["--jobs", "-1", "--out", str(tmp_path / "new" / "out")]) == 0
    assert seen[0].jobs == (os.cpu_count() or 1)
    assert not (tmp_path / "new").exists()  # checked without creating anything
