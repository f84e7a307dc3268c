"""Interrupts (issue 26, point 5): Ctrl-C, SIGTERM and SIGKILL of a parallel grid and of a
reader's ``pipeline run``.

A grid interrupted by Ctrl-C or SIGTERM keeps every row already returned to the parent, stops
its workers and says so in one line (exit code 130 or 143); a grid killed outright loses only
the rows not yet written, and its workers die with it (each asks the kernel to be killed with
its parent). Every stored row is valid and a rerun completes the grid. A notebook run
interrupted leaves no temporary file beside its output. The command lines run in
subprocesses with two workers; each test polls instead of sleeping and takes a few seconds.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest
from metanmf_lab import grid as ex
from metanmf_lab.grid import cli, runner
from metanmf_lab._config import PROJECT_ROOT
from metanmf_lab.book import pipeline
from metanmf_lab.grid.store import KEY, ResultStore

TINY = ex.Settings(n_epochs=2, inner_iter=5, baseline_iter=10)

#: A grid of 16 cheap cells (NMF on Blobs, about 0.2 s each): the first rows are written
#: after 4 cells, long before the end.
SEEDS = [str(s) for s in range(16)]
# The per-cell engine: every cell is a unit of work, so an interrupt falls between cells (the
# batched engine's unit is a block of cells; its resumption is tested in test_engine.py).
GRID = ["--engine", "per-cell", "--datasets", "blobs", "--models", "NMF", "--ranks", "2",
        "--noises", "none", "--seeds", *SEEDS]


def _env(**extra):
    env = dict(os.environ, PYTHONPATH=str(PROJECT_ROOT), **extra)
    env.pop("METANMF_BACKEND", None)
    return env


def _default_sigint():
    """Run in the child before it starts: SIGINT back to its default, so the child's Python
    turns Ctrl-C into KeyboardInterrupt even when this test runs in a background job of a
    non-interactive shell (which starts its jobs with SIGINT ignored, inherited by children),
    as a terminal's Ctrl-C would find it."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def descendants(pid):
    """Process ids of every descendant of ``pid`` (psutil if installed, else /proc)."""
    try:
        import psutil
    except ImportError:
        psutil = None
    if psutil is not None:
        return {p.pid for p in psutil.Process(pid).children(recursive=True)}
    parents = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = set(), [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def alive(pid):
    """Whether ``pid`` runs (a zombie does not)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def wait_for(condition, timeout, what):
    t0 = time.monotonic()
    while not condition():
        if time.monotonic() - t0 > timeout:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.02)


def start_grid(tmp_path):
    """The grid in a subprocess with two workers, in its own session (a terminal's Ctrl-C
    reaches the whole group); returns the process once the store holds its first rows, and
    the process ids of its workers then."""
    err = open(tmp_path / "err.txt", "w")
    proc = subprocess.Popen([sys.executable, "-m", "metanmf_lab.grid", *GRID,
                             "--jobs", "2", "--store", "r.csv"], cwd=tmp_path, env=_env(),
                            stdout=subprocess.DEVNULL, stderr=err, start_new_session=True,
                            preexec_fn=_default_sigint)
    store = tmp_path / "r.csv"
    try:
        wait_for(lambda: store.exists() or proc.poll() is not None, 120, "the first rows")
    except BaseException:
        proc.kill()
        raise
    assert proc.poll() is None, (tmp_path / "err.txt").read_text()
    return proc, descendants(proc.pid)


def check_store_and_rerun(tmp_path, kept=None):
    """Every stored row is whole and valid, none twice; ``kept`` (if known) of them; a rerun
    computes exactly the missing cells and completes the grid."""
    store = ResultStore(tmp_path / "r.csv")
    df = store.load()  # refuses a damaged row or a key stored twice
    assert not df.duplicated(list(KEY)).any()
    assert df["nmi"].between(0, 1).all() and (df["recon_error"] > 0).all()
    if kept is not None:
        assert len(df) == kept
    assert 1 <= len(df) < len(SEEDS), "the grid ended before the interrupt"
    done = set(df["seed"])
    computed = []
    real = ex.run_cell
    os.chdir(tmp_path)
    try:
        runner.run_cell = lambda c, s: computed.append(c.seed) or real(c, s)
        assert cli.main(GRID + ["--jobs", "1", "--store", "r.csv"]) == 0
    finally:
        runner.run_cell = real
        os.chdir(PROJECT_ROOT)
    assert sorted(computed) == sorted(set(range(len(SEEDS))) - done)
    assert sorted(store.load()["seed"]) == list(range(len(SEEDS)))


@pytest.mark.parametrize("signum, target, code", [
    (signal.SIGINT, "parent", 130), (signal.SIGINT, "group", 130),
    (signal.SIGTERM, "parent", 143)], ids=["SIGINT", "Ctrl-C (SIGINT to the group)", "SIGTERM"])
def test_interrupted_grid_keeps_its_rows_and_stops_its_workers(tmp_path, signum, target,
                                                               code):
    proc, workers = start_grid(tmp_path)
    assert workers, "no worker processes"
    if target == "group":
        os.killpg(proc.pid, signum)
    else:
        os.kill(proc.pid, signum)
    assert proc.wait(timeout=30) == code
    err = (tmp_path / "err.txt").read_text()
    assert "Traceback" not in err, err
    match = next(filter(None, (re.fullmatch(r"interrupted: (\d+) rows? kept in r\.csv; "
                                            r"rerun to resume", line)
                               for line in err.strip().splitlines())), None)
    assert match, err
    wait_for(lambda: not any(alive(w) for w in workers), 10, "the workers to end")
    check_store_and_rerun(tmp_path, kept=int(match.group(1)))


def test_killed_grid_takes_its_workers_with_it(tmp_path):
    """SIGKILL cannot be caught: the rows written so far stay valid, and the workers, which
    asked the kernel to kill them with their parent, end at once (without that they finish
    their cell and wait for loky's idle timeout, 5 minutes)."""
    proc, workers = start_grid(tmp_path)
    os.kill(proc.pid, signal.SIGKILL)
    assert proc.wait(timeout=30) == -signal.SIGKILL
    wait_for(lambda: not any(alive(w) for w in workers), 10, "the workers to end")
    check_store_and_rerun(tmp_path)


# ---- in-process: what run_grid keeps ------------------------------------------------------

def _failing_at(monkeypatch, seed, exc):
    real = ex.run_cell

    def run_cell(cell, settings):
        if cell.seed == seed:
            raise exc
        return real(cell, settings)

    monkeypatch.setattr(runner, "run_cell", run_cell)


@pytest.mark.parametrize("exc", [KeyboardInterrupt, RuntimeError("a cell failed")],
                         ids=["interrupt", "error"])
def test_rows_not_yet_flushed_are_kept(tmp_path, monkeypatch, exc):
    """Rows returned since the last write (fewer than ``flush_every``) are written when the
    run stops, whatever stops it."""
    store = ResultStore(tmp_path / "r.csv")
    cells = ex.make_grid(["blobs"], models=["NMF"], ranks=[2], seeds=range(4), noises=["none"])
    _failing_at(monkeypatch, 2, exc)
    with pytest.raises(exc if isinstance(exc, type) else type(exc)) as info:
        ex.run_grid(cells, TINY, store=store, progress=False, flush_every=4)
    assert sorted(store.load()["seed"]) == [0, 1]
    if exc is KeyboardInterrupt:
        assert isinstance(info.value, ex.GridInterrupted) and info.value.kept == 2


def test_command_line_says_what_an_interrupt_kept(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    _failing_at(monkeypatch, 2, KeyboardInterrupt)
    argv = GRID[:-len(SEEDS)] + ["0", "1", "2", "3", "--jobs", "1", "--store", "r.csv"]
    assert cli.main(argv) == 130
    err = capsys.readouterr().err
    assert err.strip().splitlines()[-1] == "interrupted: 2 rows kept in r.csv; rerun to resume"
    assert len(ResultStore(tmp_path / "r.csv").load()) == 2


def test_sigterm_becomes_an_interrupt_only_inside_the_block():
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(ex.Terminated) as info:
        with ex.sigterm_as_interrupt():
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)  # the handler raises at once
    assert isinstance(info.value, KeyboardInterrupt)
    assert ex.interrupt_exit_code(info.value) == 143
    assert ex.interrupt_exit_code(ex.GridInterrupted(0, None)) == 130
    try:
        raise ex.GridInterrupted(3, None) from info.value
    except ex.GridInterrupted as exc:
        assert ex.interrupt_exit_code(exc) == 143
    assert signal.getsignal(signal.SIGTERM) == before


# ---- pipeline run: no temporary file left beside the output --------------------------------

def _sleeping_notebook(path):
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell('profile: str = "smoke"')
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, nbformat.v4.new_code_cell("import time\ntime.sleep(120)")]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nbformat.write(nb, path)
    return path


def _start_run(tmp_path):
    """``pipeline run`` of a notebook that sleeps, with its own temporary folder; returns
    the process, the temporary folder and the output folder once the kernel executes."""
    source = _sleeping_notebook(tmp_path / "sleep.ipynb")
    tmp, out = tmp_path / "tmp", tmp_path / "out"
    tmp.mkdir()
    out.mkdir()
    proc = subprocess.Popen([sys.executable, "-m", "metanmf_lab.book.pipeline", "run",
                             str(source), str(out / "result.ipynb")], cwd=tmp_path,
                            env=_env(TMPDIR=str(tmp)), stdout=subprocess.DEVNULL,
                            stderr=open(tmp_path / "err.txt", "w"), start_new_session=True,
                            preexec_fn=_default_sigint)

    def executing():
        assert proc.poll() is None, (tmp_path / "err.txt").read_text()
        return any(tmp.glob(f"{pipeline.RUN_PREFIX}*.ipynb")) and descendants(proc.pid)

    try:
        wait_for(executing, 120, "the kernel to start")
        time.sleep(1)  # the kernel's first cell is running
    except BaseException:
        proc.kill()
        raise
    return proc, tmp, out


@pytest.mark.parametrize("signum, target, code", [
    (signal.SIGTERM, "parent", 143), (signal.SIGINT, "group", 130)],
    ids=["SIGTERM", "Ctrl-C"])
def test_interrupted_notebook_run_leaves_no_file(tmp_path, signum, target, code):
    proc, tmp, out = _start_run(tmp_path)
    kernels = descendants(proc.pid)
    if target == "group":
        os.killpg(proc.pid, signum)
    else:
        os.kill(proc.pid, signum)
    assert proc.wait(timeout=60) == code
    err = (tmp_path / "err.txt").read_text()
    assert "Traceback" not in err and "interrupted" in err, err
    assert list(out.iterdir()) == [] and list(tmp.glob(f"{pipeline.RUN_PREFIX}*")) == []
    wait_for(lambda: not any(alive(k) for k in kernels), 20, "the kernel to end")


def test_killed_notebook_run_leaves_nothing_beside_the_output(tmp_path):
    """SIGKILL: the file the notebook was executed into stays in the temporary folder, never
    in the output folder, and the next run removes it; the kernel notices its parent died."""
    proc, tmp, out = _start_run(tmp_path)
    kernels = descendants(proc.pid)
    os.kill(proc.pid, signal.SIGKILL)
    assert proc.wait(timeout=30) == -signal.SIGKILL
    assert list(out.iterdir()) == []
    stale = list(tmp.glob(f"{pipeline.RUN_PREFIX}{proc.pid}-*.ipynb"))
    assert len(stale) == 1
    assert pipeline.remove_stale_runs(tmp) == stale and not stale[0].exists()
    wait_for(lambda: not any(alive(k) for k in kernels), 20, "the kernel to end")


def test_remove_stale_runs_keeps_the_files_of_live_runs(tmp_path):
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    dead = int(done.stdout)
    stale = tmp_path / f"{pipeline.RUN_PREFIX}{dead}-results-abc.ipynb"
    live = tmp_path / f"{pipeline.RUN_PREFIX}{os.getpid()}-results-def.ipynb"
    other = tmp_path / "metanmf_lab-run-notapid.ipynb"
    for p in (stale, live, other):
        p.write_text("{}")
    assert pipeline.remove_stale_runs(tmp_path) == [stale]
    assert not stale.exists() and live.exists() and other.exists()
