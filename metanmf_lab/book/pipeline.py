"""The book pipeline: execute the notebooks with papermill, build the HTML with Jupyter Book.

``python -m metanmf_lab.book.pipeline --help``. The :data:`PLAN` lists every chapter of the book
that is an executed notebook: its source in ``notebooks/``, its output name in
``book/_executed/`` (where ``_toc.yml`` points) and the parameters papermill injects. The
results notebook is executed once per dataset, into five chapters.

Subcommands

``execute``
    Execute the planned notebooks (all, or ``--only NAME ...``) in a ``--profile``
    (``full``, the default, or ``smoke``), ``--jobs`` at a time (threads, each driving one
    papermill run with its own kernel), with a progress bar. Each notebook runs with the
    working directory ``notebooks/`` into a temporary file beside its output, renamed into
    place only on success: a failure never leaves a half-written output, and stops the run
    with exit code 1, naming the notebook and the cell. The seconds and parameters of every
    executed notebook, the versions and the store's row count go to
    ``book/_executed/_timings.json``, which the status chapter shows.
``build``
    ``jupyter-book build --all -W -n --keep-going`` of the book; fails on any warning.
``run``
    A reader's batch run of one notebook with other parameters
    (``run notebooks/results.ipynb out.ipynb -p dataset faces -p ranks "[2, 5]"``). Values
    are Python literals (anything else is a string); names, types and values are checked
    against the notebook's parameters cell before anything runs (exit code 2 if wrong).
    ``-p dataset path/to/file.npz`` (or ``.csv``) runs the results chapter on a reader's own
    data: the path, relative to the folder the command runs in, is made absolute for the
    kernel (which runs in ``notebooks/``), the file is checked with the parameters (a bad
    file exits with code 2 before a kernel starts), and the executed notebook shows the
    file's name, never a folder of the machine.
``golden``
    Regenerate the nbval golden files ``tests/golden/<name>.ipynb``: smoke-profile
    executions keeping only the outputs of cells tagged ``nbval-check-output``.
``data``
    Download the data files missing from the data folder (``make data``; internet needed)
    and verify every one; ``--check`` only checks. ``execute`` runs the same check first and
    stops, naming each missing file and how to get it, before any notebook starts.
``plan``
    Print the plan.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import copy
import json
import logging
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
import typing
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

import nbformat
import papermill as pm
import yaml
from papermill.translators import PythonTranslator

from .._config import ALGORITHM_VERSION, DATA_ENV, PROJECT_ROOT, __version__, data_dir
from ..data.datasets import (DATA_FILES, DATASETS, FILE_SHA256, DataFolderError,
                             MissingDataError, dataset_info, fetch, is_user_file)
from ..grid.spine import interrupt_exit_code, progress_bar, sigterm_as_interrupt
from ..grid.store import (ML100KStore, MLAMStore, MeasureStore, NMFPriorStore, ResultStore,
                          replace_atomically)
from .display import DOWNLOADS_ENV
from .notebook import OWN_STORE_ENV, check_parameters
from .profiles import PROFILES

#: Folder of the source notebooks (stored without outputs).
NOTEBOOKS_DIR = PROJECT_ROOT / "notebooks"

#: Where the executed notebooks go, relative to the book's root (``_toc.yml`` points there).
EXECUTED = Path("book") / "_executed"

#: The pipeline's record of a run, in the executed folder.
RECORD_NAME = "_timings.json"

#: Environment variable naming the executed folder of the running pipeline (for the status
#: chapter, which reads the record; unset: the project's own ``book/_executed``).
EXECUTED_ENV = "METANMF_EXECUTED"

#: Where ``make golden`` writes the nbval golden files.
GOLDEN_DIR = PROJECT_ROOT / "tests" / "golden"

#: Tag of the cells whose outputs nbval compares with the golden files.
CHECK_TAG = "nbval-check-output"

#: Tags a golden file keeps (the cells nbval compares, and papermill's parameter cells).
GOLDEN_TAGS = (CHECK_TAG, "parameters", "injected-parameters")

#: Tag of a code cell whose source teaches (how to call the package, how a figure is made):
#: the page shows it. Every other code cell is folded (``hide-input``), and the cells of
#: :data:`PLUMBING_TAGS` are removed from the page (:func:`page_view`).
TEACH_TAG = "teach"

#: Tags of the cells a page never shows: parameters, papermill's injected cell, nbval's
#: checkpoints (they stay in the notebook, which nbval and JupyterLab read).
PLUMBING_TAGS = ("parameters", "injected-parameters", CHECK_TAG)

#: Jupyter Book's tags that already say how a page shows a cell.
DISPLAY_TAGS = ("remove-cell", "remove-input", "remove-output", "hide-cell", "hide-input",
                "hide-output")

#: Libraries whose versions the record (and so the status chapter) lists.
LIBRARIES = ("numpy", "scipy", "scikit-learn", "pandas", "matplotlib", "seaborn", "joblib",
             "papermill", "ipykernel", "jupyter-book", "sphinx", "myst-nb",
             "sphinxcontrib-bibtex", "sphinx-mathjax-offline")


@dataclass(frozen=True)
class Chapter:
    """One executed notebook of the book.

    Parameters
    ----------
    name : str
        Output name: ``book/_executed/<name>.ipynb``.
    source : str
        Source notebook, a file name in ``notebooks/``.
    parameters : dict
        Parameters injected by papermill besides ``profile``.
    substitutions : dict
        MyST substitutions of the chapter: ``{{ key }}`` in the notebook's Markdown becomes
        the value (written into the executed notebook's metadata), so that chapters executed
        from one source can differ in their text, e.g. the title of a results chapter.
    last : bool
        Execute after every other chapter (the status chapter reads their record).
    data : tuple of str
        Datasets whose files the chapter may read (:data:`metanmf_lab.data.datasets.DATA_FILES`;
        ``"movielens"``: the meta-learned priors' ratings, which the full profile reads from
        the committed store instead); checked before anything is executed (:func:`check_data`).
    """

    name: str
    source: str
    parameters: dict = field(default_factory=dict)
    substitutions: dict = field(default_factory=dict)
    last: bool = False
    data: tuple = ("fmnist", "faces", "coil20")


#: Datasets of the per-dataset results chapters, in the book's order.
RESULT_DATASETS = tuple(DATASETS)

#: Every executed chapter of the book, in the order of ``_toc.yml``. A source executed into
#: several chapters (results) must not declare labels in its Markdown (``(name)=``,
#: ``:name:``): the book would define each of them once per chapter, a build warning.
PLAN = (
    Chapter("intro", "intro.ipynb"),
    Chapter("derivation", "derivation.ipynb"),
    Chapter("algorithm", "algorithm.ipynb"),
    Chapter("data", "data.ipynb"),
    *(Chapter(f"results_{d}", "results.ipynb", {"dataset": d},
              {"dataset_name": DATASETS[d].display_name}) for d in RESULT_DATASETS),
    Chapter("tables", "tables.ipynb"),
    Chapter("faces", "faces.ipynb"),
    Chapter("notes", "notes.ipynb"),
    Chapter("hypotheses", "hypotheses.ipynb"),
    Chapter("robustness", "robustness.ipynb"),
    Chapter("altbi", "altbi.ipynb", data=()),
    Chapter("metaprior", "metaprior.ipynb", data=("fmnist", "faces", "coil20", "movielens")),
    Chapter("mlam", "mlam.ipynb", data=()),
    Chapter("conclusions", "conclusions.ipynb"),
    Chapter("performance", "performance.ipynb"),
    Chapter("status", "status.ipynb", last=True, data=()),
    Chapter("statistics", "statistics.ipynb"),
)

PROFILE_NAMES = tuple(PROFILES)

#: Command-line options of every kernel: its own log (a plain-TCP notice on every start) off;
#: errors in the notebook still reach papermill through the cells' outputs.
KERNEL_ARGUMENTS = ("--IPKernelApp.log_level=CRITICAL",)


class PipelineError(Exception):
    """A problem the pipeline reports in one message, without a traceback (exit code 1)."""


class UsageError(PipelineError):
    """A bad argument or environment (unknown chapter, missing notebook, data folder that is
    a file): reported like :class:`PipelineError`, with exit code 2, before any work."""


#: Prefix of the file a notebook executes into, in the system's temporary folder, with the
#: executing process's id: a leftover of a killed run is there, never beside the outputs,
#: and the next run removes it (:func:`remove_stale_runs`).
RUN_PREFIX = "metanmf_lab-run-"


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def remove_stale_runs(folder=None):
    """Remove the files notebooks were executed into by runs that no longer exist (killed
    outright, e.g. by SIGKILL, so that their own clean-up never ran); return their paths."""
    folder = Path(tempfile.gettempdir() if folder is None else folder)
    removed = []
    for path in folder.glob(f"{RUN_PREFIX}*.ipynb"):
        pid = path.name[len(RUN_PREFIX):].split("-", 1)[0]
        if pid.isdigit() and not _pid_alive(int(pid)):
            path.unlink(missing_ok=True)
            removed.append(path)
    return removed


# ------------------------------------------------------------------------------------------
# Paths and the record
# ------------------------------------------------------------------------------------------


def _display(path):
    """``path`` relative to the project if inside it, else its name (no machine paths)."""
    path = Path(path).resolve()
    try:
        return path.relative_to(PROJECT_ROOT).as_posix()
    except ValueError:
        return path.name


def select(names=None, plan=PLAN):
    """The chapters named (all if ``names`` is empty), in plan order."""
    if not names:
        return list(plan)
    known = {c.name for c in plan}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise UsageError(f"Unknown chapter(s) {', '.join(unknown)}; the plan has: "
                         f"{', '.join(c.name for c in plan)}.")
    return [c for c in plan if c.name in names]


def missing_sources(chapters, notebooks_dir=NOTEBOOKS_DIR):
    """Source notebooks of ``chapters`` that do not exist (each named once)."""
    missing = []
    for c in chapters:
        path = Path(notebooks_dir) / c.source
        if not path.exists() and path not in missing:
            missing.append(path)
    return missing


def record_path(executed_dir=None):
    """The record of the pipeline's runs: in ``executed_dir``, else ``$METANMF_EXECUTED``,
    else the project's ``book/_executed``."""
    if executed_dir is None:
        executed_dir = os.environ.get(EXECUTED_ENV) or PROJECT_ROOT / EXECUTED
    return Path(executed_dir) / RECORD_NAME


def read_record(executed_dir=None):
    """The pipeline's record (see :func:`execute`), as written to ``_timings.json``.

    Raises
    ------
    FileNotFoundError
        No pipeline run wrote a record there yet.
    """
    path = record_path(executed_dir)
    if not path.exists():
        raise FileNotFoundError(f"No pipeline record {_display(path)}: run `python -m "
                                f"metanmf_lab.book.pipeline execute` (or `make book`) first.")
    return json.loads(path.read_text())


def versions():
    """Versions of Python, this package, its algorithms and the :data:`LIBRARIES`."""

    out = {"python": platform.python_version(), "metanmf_lab": __version__,
           "algorithm": ALGORITHM_VERSION}
    for lib in LIBRARIES:
        try:
            out[lib] = metadata.version(lib)
        except metadata.PackageNotFoundError:
            out[lib] = "not installed"
    return out


def store_summary(profile):
    """Paths (project-relative) and row counts of a profile's stores: the result store, the
    basis-measure store and the stores of the related methods' experiments."""

    prof = PROFILES[profile]
    store = ResultStore(prof.store)
    out = {"path": _display(store.path), "rows": int(len(store.load()))}
    for label, cls, path in (("basis measures", MeasureStore, prof.measure_store),
                             ("MovieLens (priors)", ML100KStore, prof.ml100k_store),
                             ("NMF version (priors)", NMFPriorStore, prof.nmf_prior_store),
                             ("MLAM", MLAMStore, prof.mlam_store)):
        other = cls(path)
        out[label] = _display(other.path)
        out[f"{label}, rows"] = int(len(other.load()))
    return out


def _update_record(executed_dir, profile, done):
    """Merge the notebooks just executed into the record (atomically)."""
    path = record_path(executed_dir)
    record = json.loads(path.read_text()) if path.exists() else {}
    notebooks = record.get("notebooks", {})
    notebooks.update(done)
    order = {c.name: i for i, c in enumerate(PLAN)}
    record.update(
        date=datetime.now(timezone.utc).strftime("%Y-%m-%d"),
        notebooks=dict(sorted(notebooks.items(), key=lambda kv: order.get(kv[0], 99))),
        versions=versions(),
        stores={**record.get("stores", {}), profile: store_summary(profile)},
    )
    text = json.dumps(record, indent=1, sort_keys=False) + "\n"
    replace_atomically(path, lambda fh: fh.write(text), ".json")
    return record


# ------------------------------------------------------------------------------------------
# Executing one notebook
# ------------------------------------------------------------------------------------------


def _clean_metadata(nb, source, output):
    """Machine paths out of papermill's metadata: project-relative names instead."""
    pm = nb.metadata.get("papermill", {})
    pm["input_path"] = _display(source)
    pm["output_path"] = _display(output)
    pm.pop("environment_variables", None)
    return nb


def _show_parameters(nb, shown):
    """Show ``shown`` values (e.g. a data file's name) instead of the injected ones (its
    absolute path) in the injected-parameters cell and papermill's metadata."""

    pm = nb.metadata.get("papermill", {})
    injected = pm.get("parameters", {})
    for name, value in shown.items():
        if name not in injected:
            continue
        old = PythonTranslator.assign(name, PythonTranslator.translate(injected[name]))
        new = PythonTranslator.assign(name, PythonTranslator.translate(value))
        for cell in nb.cells:
            if "injected-parameters" in cell.metadata.get("tags", []):
                cell.source = cell.source.replace(old, new)
        injected[name] = value
    return nb


def execute_notebook(source, output, parameters, *, cwd=None, substitutions=None,
                     shown_parameters=None, reveal=False, page_note=None):
    """Execute ``source`` into ``output`` with papermill, atomically.

    The notebook runs into a temporary file in the system's temporary folder (named with this
    process's id, :data:`RUN_PREFIX`), whose final form replaces ``output`` atomically only on
    success; on any failure or interrupt it is removed and ``output`` is untouched. A run
    killed outright (SIGKILL) leaves its file there, never beside the outputs, and the next
    run removes it (:func:`remove_stale_runs`).

    Parameters
    ----------
    source, output : str or Path
    parameters : dict
        Injected by papermill after the cell tagged ``parameters``.
    cwd : str or Path, default=the source's folder
        Working directory of the kernel.
    substitutions : dict, optional
        MyST substitutions written into the executed notebook's metadata (``myst`` key).
    shown_parameters : dict, optional
        Values the executed notebook shows for some parameters instead of those injected
        (a data file's name instead of its absolute path).
    page_note : str, optional
        For a chapter of the book: the output is shown as a page (:func:`page_view`), with
        this note after the title.
    reveal : bool, default=False
        Give each glued figure and table a visible copy (:func:`reveal_glued`): a reader's
        run, opened in JupyterLab; never the book's chapters.

    Returns
    -------
    float
        Wall-clock seconds of the execution.

    Raises
    ------
    papermill.PapermillExecutionError
        A cell raised; the error names the cell.
    """

    source, output = Path(source), Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_runs()
    fd, tmp = tempfile.mkstemp(prefix=f"{RUN_PREFIX}{os.getpid()}-{output.stem}-",
                               suffix=".ipynb")
    os.close(fd)
    try:
        t0 = time.perf_counter()
        pm.execute_notebook(str(source), tmp, parameters=dict(parameters),
                            cwd=str(cwd or source.parent), kernel_name="python3",
                            progress_bar=False, log_output=False,
                            extra_arguments=list(KERNEL_ARGUMENTS))
        seconds = time.perf_counter() - t0
        nb = _clean_metadata(nbformat.read(tmp, as_version=4), source, output)
        if shown_parameters:
            nb = _show_parameters(nb, shown_parameters)
        if reveal:
            nb = reveal_glued(nb)
        if page_note is not None:
            nb = page_view(nb, page_note)
        if substitutions:
            nb.metadata.setdefault("myst", {})["substitutions"] = dict(substitutions)
        nbformat.write(nb, tmp)
        os.chmod(tmp, 0o644)  # mkstemp's files are private; the book's are not
        # the finished notebook is copied beside the output (the same file system) and
        # renamed over it: a reader sees the old output or the new one, never part of one
        replace_atomically(output, lambda fh: fh.write(Path(tmp).read_text(encoding="utf-8")),
                           ".ipynb")
    finally:
        Path(tmp).unlink(missing_ok=True)
    return seconds


def rerun_note(source, parameters):
    """A folded note, for the top of a page: how to rerun the chapter in JupyterLab and with
    papermill (through the pipeline), with the parameters it was executed with."""
    shown = {k: v for k, v in parameters.items() if k != "profile"}
    args = "".join(f" \\\n    -p {k} {v!r}" if not isinstance(v, str) else f" \\\n    -p {k} {v}"
                   for k, v in shown.items())
    out = f"{Path(source).stem}{'-' + '-'.join(map(str, shown.values())) if shown else ''}"
    settings = ", ".join(f"`{k} = {json.dumps(v)}`" for k, v in shown.items())
    steps = f", set {settings} in its first cell," if shown else ""
    return (f":::{{admonition}} Rerun this chapter\n:class: dropdown\n\n"
            f"In JupyterLab (`make lab`), open `notebooks/{Path(source).name}`{steps} and run all cells. "
            f"From the command line, with other "
            f"parameters if you like (`--html` also renders the page):\n\n"
            f"```bash\n.venv/bin/python -m metanmf_lab.book.pipeline run \\\n    "
            f"notebooks/{Path(source).name} {out}.ipynb{args} --html\n```\n\n"
            f"The first code cell lists the parameters "
            f"(`.venv/bin/papermill --help-notebook notebooks/{Path(source).name}`).\n:::")


def page_view(nb, note=None):
    """How a page shows an executed notebook: the cells of :data:`PLUMBING_TAGS` removed, every
    other code cell without a display tag folded (``hide-input``) unless tagged
    :data:`TEACH_TAG`; ``note`` (Markdown, e.g. :func:`rerun_note`) inserted after the first
    cell (the title). The notebook's code and outputs are unchanged."""

    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        tags = list(cell.metadata.get("tags", []))
        if any(t in PLUMBING_TAGS for t in tags):
            tags.append("remove-cell")
        elif TEACH_TAG not in tags and not any(t in DISPLAY_TAGS for t in tags):
            tags.append("hide-input")
        cell.metadata["tags"] = tags
    if note:
        at = 1 if nb.cells and nb.cells[0].cell_type == "markdown" else 0
        nb.cells.insert(at, nbformat.v4.new_markdown_cell(note))
    return nb


def describe_failure(chapter, parameters, exc):
    """One readable paragraph: which notebook, which cell, what error."""

    head = f"{chapter.name} ({chapter.source}, parameters {parameters}) failed"
    if isinstance(exc, pm.PapermillExecutionError):
        src = "\n".join("    " + line for line in exc.source.splitlines())
        return (f"{head} in cell {exc.cell_index} (In [{exc.exec_count}]):\n{src}\n"
                f"  {exc.ename}: {exc.evalue}")
    return f"{head}: {type(exc).__name__}: {exc}"


@contextlib.contextmanager
def _environ(**values):
    old = {k: os.environ.get(k) for k in values}
    os.environ.update({k: str(v) for k, v in values.items()})
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def needed_data(chapters, profile):
    """The datasets whose files executing ``chapters`` in ``profile`` needs (their
    :attr:`Chapter.data`; MovieLens 100K in every profile but the full one, which reads the
    meta-learned priors' results from the committed store), in a fixed order."""

    wanted = {d for c in chapters for d in c.data}
    if profile == "full":
        wanted.discard("movielens")
    return [n for n in DATA_FILES if n in wanted]


def check_data(chapters, profile, download=True):
    """Before anything is executed: the data files that ``chapters`` need in ``profile`` are in
    the data folder (downloaded if missing, where there is internet) and verified; else one
    :class:`PipelineError` naming every missing file and how to get it."""

    try:
        fetch(needed_data(chapters, profile), download=download)
    except DataFolderError as exc:
        raise UsageError(f"{exc}\nNothing was executed.") from None
    except MissingDataError as exc:
        raise PipelineError(f"{exc}\nNothing was executed.") from None


def execute(chapters=None, *, profile="full", jobs=2, book_root=PROJECT_ROOT,
            notebooks_dir=NOTEBOOKS_DIR, progress=True):
    """Execute chapters of the plan into ``<book_root>/book/_executed``.

    Parameters
    ----------
    chapters : list of Chapter, default=the whole :data:`PLAN`
    profile : {"full", "smoke"}, default="full"
        Injected as the ``profile`` parameter of every notebook.
    jobs : int, default=2
        Notebooks executed at a time (each in its own kernel).
    book_root : str or Path, default=the project
        Root of the book (the folder of ``_toc.yml``).
    notebooks_dir : str or Path, default=``notebooks/``
        Folder of the source notebooks, also the kernels' working directory.
    progress : bool, default=True
        Show a progress bar.

    Returns
    -------
    list of str
        Failure descriptions (empty: everything succeeded). After a failure, notebooks not
        yet started are not started.

    Raises
    ------
    PipelineError
        Some source notebooks or data files (:func:`check_data`) are missing (nothing is
        executed).
    """

    if profile not in PROFILE_NAMES:
        raise PipelineError(f"profile must be one of {PROFILE_NAMES}, got {profile!r}.")
    chapters = list(PLAN) if chapters is None else list(chapters)
    notebooks_dir = Path(notebooks_dir).resolve()
    missing = missing_sources(chapters, notebooks_dir)
    if missing:
        names = []
        for path in missing:
            users = ", ".join(c.name for c in chapters if c.source == path.name)
            names.append(f"{_display(path)} (for {users})")
        raise PipelineError(f"Missing source notebook(s): {'; '.join(names)}.")
    check_data(chapters, profile)
    out_dir = (Path(book_root) / EXECUTED).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    logging.getLogger("papermill").setLevel(logging.WARNING)

    def run(chapter):
        params = {"profile": profile, **chapter.parameters}
        seconds = execute_notebook(notebooks_dir / chapter.source,
                                   out_dir / f"{chapter.name}.ipynb", params,
                                   cwd=notebooks_dir,
                                   substitutions=chapter.substitutions,
                                   page_note=rerun_note(chapter.source, chapter.parameters))
        return {"source": _display(notebooks_dir / chapter.source), "parameters": params,
                "seconds": round(seconds, 1)}

    _update_record(out_dir, profile, {})  # versions of this run, even if a notebook fails
    failures = []
    bar = progress_bar(len(chapters), f"notebooks ({profile})", "nb", disable=not progress)
    env = {EXECUTED_ENV: out_dir}
    if os.environ.get(DATA_ENV, "").strip():
        # The kernels run in the notebooks' folder: a relative data folder is meant relative
        # to where the pipeline was started, so hand them the absolute one.
        env[DATA_ENV] = data_dir()
    with _environ(**env):
        for stage in ([c for c in chapters if not c.last], [c for c in chapters if c.last]):
            if failures or not stage:
                continue
            with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
                futures = {pool.submit(run, c): c for c in stage}
                pending = set(futures)
                try:
                    _wait_all(futures, pending, bar, out_dir, profile, failures)
                except BaseException:  # Ctrl-C or SIGTERM: start no queued notebook
                    pool.shutdown(wait=False, cancel_futures=True)
                    raise
    bar.close()
    return failures


def _wait_all(futures, pending, bar, out_dir, profile, failures):
    """:func:`execute`'s loop over the notebooks of a stage as they finish."""
    while pending:
        bar.set_postfix_str(", ".join(futures[f].name for f in pending
                                      if f.running()))
        finished, pending = wait(pending, return_when=FIRST_COMPLETED)
        for f in finished:
            chapter = futures[f]
            if f.cancelled():
                continue
            exc = f.exception()
            if exc is None:
                _update_record(out_dir, profile, {chapter.name: f.result()})
                bar.update(1)
            else:
                failures.append(describe_failure(
                    chapter, {"profile": profile, **chapter.parameters}, exc))
                for other in pending:  # start nothing new after a failure
                    other.cancel()


# ------------------------------------------------------------------------------------------
# Building the book
# ------------------------------------------------------------------------------------------


def toc_files(book_root=PROJECT_ROOT):
    """Every file ``_toc.yml`` lists (as written there, without suffix), root first."""

    toc = yaml.safe_load((Path(book_root) / "_toc.yml").read_text())
    files = []

    def walk(node):
        if isinstance(node, dict):
            if "file" in node:
                files.append(node["file"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    files.append(toc["root"])
    walk({k: v for k, v in toc.items() if k != "root"})
    return files


def build(book_root=PROJECT_ROOT, path_output=None):
    """Build the HTML book with warnings as errors; return the exit code (0: no warning).

    Parameters
    ----------
    book_root : str or Path, default=the project
    path_output : str or Path, optional
        Parent of ``_build`` (Jupyter Book's ``--path-output``); default ``book_root``.
    """
    book_root = Path(book_root)
    absent = [f for f in toc_files(book_root)
              if not any((book_root / f).with_suffix(s).exists() for s in (".md", ".ipynb"))]
    if absent:
        raise PipelineError(f"The table of contents lists files that do not exist: "
                            f"{', '.join(absent)}. Execute the notebooks first (`python -m "
                            f"metanmf_lab.book.pipeline execute`).")
    cmd = [sys.executable, "-c", "from jupyter_book.cli.main import main; main()",
           "build", "--all", "-W", "-n", "--keep-going", str(book_root)]
    if path_output is not None:
        cmd += ["--path-output", str(path_output)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    warnings = []
    for line in proc.stdout:
        sys.stdout.write(line)
        if "WARNING" in line or "ERROR" in line:
            warnings.append(line.rstrip())
    code = proc.wait()
    if warnings:
        print(f"\nThe build had {len(warnings)} warning(s):", *warnings, sep="\n",
              file=sys.stderr)
    return code or (1 if warnings else 0)


# ------------------------------------------------------------------------------------------
# A reader's batch run
# ------------------------------------------------------------------------------------------


def parse_value(text):
    """A ``-p`` value: a Python literal if it is one (``0.6``, ``[2, 5]``), else the text."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def _annotation(type_name):
    """The type a parameters cell declares (papermill's ``inferred_type_name``)."""
    if type_name in (None, "None"):
        return typing.Any
    try:
        return eval(type_name, {"typing": typing, **vars(typing)}, {})  # noqa: S307
    except Exception:  # an annotation we cannot evaluate: accept any value
        return typing.Any


#: Prefix of the MIME types under which myst-nb keeps a glued value (never displayed).
GLUE_PREFIX = "application/papermill.record/"

#: Metadata key of the visible copies :func:`reveal_glued` adds.
REVEALED = "metanmf_lab_revealed"


def reveal_glued(nb):
    """Make a reader's executed notebook show its figures and tables in JupyterLab.

    The notebooks glue their figures and tables (``glue(..., display=False)``) for the book's
    ``{glue:figure}`` directives, and JupyterLab does not display glued outputs: after each
    glued image or HTML table this adds a visible copy (metadata :data:`REVEALED`, the glued
    name), so the figures and tables appear under the cells that made them. Glued numbers and
    texts stay hidden (the prose names them). :func:`render_page` drops the copies again.
    """
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        outputs = []
        for out in cell.get("outputs", []):
            outputs.append(out)
            data = out.get("data", {})
            visible = {k[len(GLUE_PREFIX):]: v for k, v in data.items()
                       if k.startswith(GLUE_PREFIX) and k[len(GLUE_PREFIX):] in
                       ("image/png", "text/html")}
            if visible:
                name = out.get("metadata", {}).get("scrapbook", {}).get("name", "")
                visible["text/plain"] = f"<{name}>"
                outputs.append(nbformat_output(visible, {REVEALED: name}))
        cell.outputs = outputs
    return nb


def nbformat_output(data, metadata):
    """A ``display_data`` output (nbformat's, imported only when needed)."""

    return nbformat.v4.new_output("display_data", data=data, metadata=metadata)


def render_page(notebook, dest, book_root=PROJECT_ROOT):
    """Render one executed notebook as a web page like the book's chapters, into ``dest``.

    The page is built by Jupyter Book from the notebook alone, with the book's configuration
    and bibliography, and never executed again; links to other chapters of the book cannot
    resolve there and show as plain text (Sphinx says so on the console). Returns the path of
    the page's HTML file.

    Raises
    ------
    PipelineError
        The build failed (its output is shown).
    """


    notebook, dest = Path(notebook), Path(dest)
    nb = nbformat.read(notebook, as_version=4)
    for cell in nb.cells:  # the visible copies of reveal_glued: the page has the directives
        if cell.cell_type == "code":
            cell.outputs = [o for o in cell.outputs if REVEALED not in o.get("metadata", {})]
    nb = page_view(nb)
    config = yaml.safe_load((Path(book_root) / "_config.yml").read_text())
    if config.get("bibtex_bibfiles"):  # the page's citations resolve on the page itself
        nb.cells.append(nbformat.v4.new_markdown_cell(
            "## References\n\n```{bibliography}\n:filter: docname in docnames\n```"))
    config.pop("exclude_patterns", None)
    config.pop("only_build_toc_files", None)
    config["sphinx"]["config"]["nitpicky"] = False
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        shutil.copytree(Path(book_root) / "book" / "_static", tmp / "book" / "_static")
        for bib in config.get("bibtex_bibfiles", []):
            shutil.copy(Path(book_root) / bib, tmp / bib)
        (tmp / "_config.yml").write_text(yaml.safe_dump(config))
        page = tmp / f"{notebook.stem}.ipynb"
        nbformat.write(nb, page)
        for cell in nb.cells:  # the files the page offers for download, written beside it
            if cell.cell_type == "markdown":
                for name in re.findall(r"\{download\}`(?:[^`<]*<)?([^`>]+)>?`", cell.source):
                    if (notebook.parent / name).is_file():
                        shutil.copy(notebook.parent / name, tmp / name)
        proc = subprocess.run([sys.executable, "-c",
                               "from jupyter_book.cli.main import main; main()", "build",
                               str(page), "--config", str(tmp / "_config.yml")],
                              capture_output=True, text=True, cwd=tmp)
        built = tmp / "_build" / "_page" / notebook.stem / "html"
        if proc.returncode or not (built / f"{notebook.stem}.html").exists():
            raise PipelineError(f"Rendering {notebook.name} failed:\n{proc.stdout}{proc.stderr}")
        if dest.exists():
            shutil.rmtree(dest)
        shutil.copytree(built, dest)
    return dest / f"{notebook.stem}.html"


def resolve_data_files(given):
    """A reader's run: the ``dataset`` parameter, if it names a file
    (:func:`metanmf_lab.data.datasets.is_user_file`), made absolute against the working directory
    (the kernel runs in ``notebooks/``). Returns the parameters to inject and the values the
    executed notebook shows instead (the file's project-relative path, or its name)."""

    given, shown = dict(given), {}
    value = given.get("dataset")
    if isinstance(value, str) and is_user_file(value) and Path(value).expanduser().is_file():
        path = Path(value).expanduser().resolve()  # (a missing file is named as given)
        given["dataset"], shown["dataset"] = str(path), _display(path)
    return given, shown


def run_substitutions(params):
    """MyST substitutions of a reader's run, as the book's chapter of the same notebook has
    them: ``dataset_name``, the display name of the ``dataset`` parameter (built-in or own)."""

    if "dataset" not in params:
        return {}
    return {"dataset_name": dataset_info(params["dataset"]).display_name}


def _kernel_environment():
    """Environment variables naming folders or files, made absolute for a kernel that runs in
    another folder than the command (the data folder, the own-data store)."""

    return {name: Path(os.environ[name].strip()).expanduser().resolve()
            for name in (DATA_ENV, OWN_STORE_ENV) if os.environ.get(name, "").strip()}


def check_run_parameters(notebook, given):
    """Check parameters for ``notebook`` the way the notebook itself will.

    The notebook's parameters cell is read with :func:`papermill.inspect_notebook`; its
    defaults overridden by ``given`` go through :func:`metanmf_lab.book.notebook.check_parameters`
    (the same check the notebook's second cell runs), so an unknown name, a wrong type or a
    bad value fails here, before a kernel starts.

    Raises
    ------
    ValueError, TypeError
        With the message :func:`~metanmf_lab.book.notebook.check_parameters` gives.
    """


    declared = pm.inspect_notebook(str(notebook))
    if not declared:
        raise ValueError(f"{_display(notebook)} has no cell tagged `parameters`.")
    namespace = {"__annotations__": {}}
    for name, info in declared.items():
        namespace["__annotations__"][name] = _annotation(info["inferred_type_name"])
        namespace[name] = parse_value(info["default"])
    namespace.update(given)
    return check_parameters(namespace)


# ------------------------------------------------------------------------------------------
# Golden files for nbval
# ------------------------------------------------------------------------------------------


def is_image(mime):
    """Whether an output's MIME type is an image (also as glued: ``.../record/image/png``)."""
    return mime.startswith("image/") or "/image/" in mime


def golden_copy(nb):
    """An executed notebook reduced to what nbval compares.

    Only code cells stay (nbval executes them), with only the tags of :data:`GOLDEN_TAGS`;
    only cells tagged ``nbval-check-output`` keep outputs (and execution counts), never
    images; papermill's metadata (timings, paths) goes.
    """

    nb = copy.deepcopy(nb)
    nb.metadata = {k: v for k, v in nb.metadata.items() if k in ("kernelspec", "language_info")}
    # code only: nbval executes the code cells, and an edit of the prose or of how a page
    # shows a cell (its display tags) leaves the golden file as it is
    nb.cells = [c for c in nb.cells if c.cell_type == "code"]
    for cell in nb.cells:
        tags = [t for t in cell.metadata.get("tags", []) if t in GOLDEN_TAGS]
        cell.metadata = {"tags": tags} if tags else {}
        cell.pop("id", None)
        if CHECK_TAG not in tags:
            cell.outputs, cell.execution_count = [], None
            continue
        kept = []  # execution counts stay: nbval ignores the outputs of cells never run
        for out in cell.outputs:
            if "data" in out:
                out["data"] = {k: v for k, v in out["data"].items() if not is_image(k)}
                out["metadata"] = {}
                if not out["data"]:
                    continue
            kept.append(out)
        cell.outputs = kept
    nb.nbformat_minor = 4  # no cell ids: papermill draws them at random
    return nb


def make_golden(chapters=None, *, golden_dir=GOLDEN_DIR, notebooks_dir=NOTEBOOKS_DIR, jobs=2,
                progress=True):
    """Execute chapters in the smoke profile and write their golden files.

    Returns
    -------
    list of str
        Failure descriptions, as :func:`execute`.
    """

    chapters = list(PLAN) if chapters is None else list(chapters)
    golden_dir = Path(golden_dir)
    with tempfile.TemporaryDirectory() as tmp:
        failures = execute(chapters, profile="smoke", jobs=jobs, book_root=tmp,
                           notebooks_dir=notebooks_dir, progress=progress)
        if failures:
            return failures
        golden_dir.mkdir(parents=True, exist_ok=True)
        for c in chapters:
            nb = nbformat.read(Path(tmp) / EXECUTED / f"{c.name}.ipynb", as_version=4)
            text = nbformat.writes(golden_copy(nb)) + "\n"
            replace_atomically(golden_dir / f"{c.name}.ipynb", lambda fh: fh.write(text),
                               ".ipynb")
    return []


# ------------------------------------------------------------------------------------------
# Command line
# ------------------------------------------------------------------------------------------


def _jobs(text):
    """An argparse type: a number of notebooks at a time, an integer >= 1."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"--jobs must be an integer >= 1, got {text!r}")
    return value


def _parser():
    ap = argparse.ArgumentParser(
        prog="python -m metanmf_lab.book.pipeline",
        description="Execute the book's notebooks with papermill and build the book.")
    sub = ap.add_subparsers(dest="command", required=True)

    def chapters_args(p):
        p.add_argument("--only", nargs="+", metavar="NAME",
                       help="chapters to execute (default: all; see the `plan` command)")
        p.add_argument("--jobs", type=_jobs, default=2,
                       help="notebooks at a time (default 2)")
        p.add_argument("--notebooks", type=Path, default=NOTEBOOKS_DIR, metavar="DIR",
                       help="folder of the source notebooks (default notebooks/)")
        p.add_argument("--no-progress", action="store_true", help="no progress bar")

    p = sub.add_parser("execute", help="execute the planned notebooks into book/_executed")
    chapters_args(p)
    p.add_argument("--profile", choices=PROFILE_NAMES, default="full",
                   help="full: the thesis settings (default); smoke: seconds-long settings")
    p.add_argument("--book-root", type=Path, default=PROJECT_ROOT, metavar="DIR",
                   help="root of the book (folder of _toc.yml; default the project)")

    p = sub.add_parser("build", help="jupyter-book build with warnings as errors")
    p.add_argument("--book-root", type=Path, default=PROJECT_ROOT, metavar="DIR")
    p.add_argument("--path-output", type=Path, default=None, metavar="DIR",
                   help="parent folder of _build (default: the book root)")

    p = sub.add_parser("run", help="execute one notebook with other parameters",
                       description="Execute one notebook with papermill after checking the "
                                   "parameters against its parameters cell.")
    p.add_argument("input", type=Path, help="source notebook, e.g. notebooks/results.ipynb")
    p.add_argument("output", type=Path, help="executed notebook to write")
    p.add_argument("-p", "--parameter", nargs=2, action="append", default=[],
                   metavar=("NAME", "VALUE"),
                   help="a parameter; VALUE is a Python literal (0.6, [2, 5], True) or text")
    p.add_argument("--html", action="store_true",
                   help="also render the executed notebook as a web page like the book's "
                        "chapter, into the folder OUTPUT without its suffix, plus _html")

    p = sub.add_parser("golden", help="regenerate the nbval golden files tests/golden/")
    chapters_args(p)

    p = sub.add_parser("data", help="download the missing data files and verify them all",
                       description="Download the data files missing from the data folder "
                                   "(METANMF_DATA, else data/; internet needed) and verify "
                                   "every one by SHA-256.")
    p.add_argument("names", nargs="*", metavar="NAME",
                   help="datasets (default: fmnist, faces, coil20 and movielens)")
    p.add_argument("--check", action="store_true", help="only check; download nothing")

    sub.add_parser("plan", help="list the executed chapters")
    return ap


def main(argv=None):
    """Command line (see the module docstring).

    Exit codes: 0 done; 1 a notebook or the build failed, or data files are missing; 2 a bad
    argument, parameter or data folder, found before anything runs; 130 (Ctrl-C) or 143
    (SIGTERM) interrupted, the notebook being executed left no file behind.
    """
    args = _parser().parse_args(argv)

    try:
        with sigterm_as_interrupt():
            return _main(args)
    except KeyboardInterrupt as exc:
        print("interrupted: no notebook was written by the interrupted execution; rerun it",
              file=sys.stderr)
        return interrupt_exit_code(exc)
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except PipelineError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


def _main(args):
    """The work of :func:`main` for parsed ``args``."""
    if args.command == "plan":
        for c in PLAN:
            print(f"{c.name:<16} notebooks/{c.source:<20} {c.parameters or ''}")
        return 0
    if args.command == "data":

        try:
            found = fetch(args.names or None, download=not args.check)
        except (DataFolderError, ValueError) as exc:  # unknown names too
            raise UsageError(str(exc)) from None
        except MissingDataError as exc:
            raise PipelineError(str(exc)) from None
        for name, path in found.items():
            state = "verified" if path.name in FILE_SHA256 else "an unverified rebuild"
            print(f"{name:<10} {path.name}: {state}")
        return 0
    if args.command == "build":
        return build(args.book_root, args.path_output)
    if args.command == "run":
        given = {}
        for name, value in args.parameter:
            given[name] = parse_value(value)
        if not args.input.is_file():
            raise UsageError(f"No notebook {args.input}.")
        given, shown = resolve_data_files(given)
        try:
            params = check_run_parameters(args.input, given)
        except (ValueError, TypeError) as exc:
            raise UsageError(str(exc)) from None
        logging.getLogger("papermill").setLevel(logging.WARNING)
        try:
            downloads = {DOWNLOADS_ENV: str(Path(args.output).resolve().parent)}
            with _environ(**_kernel_environment(), **downloads):
                seconds = execute_notebook(args.input, args.output, given,
                                           substitutions=run_substitutions(params),
                                           shown_parameters=shown, reveal=True)
        except Exception as exc:  # a cell raised: say which, leave no output
            if isinstance(exc, PipelineError):
                raise
            chapter = Chapter(args.output.stem, str(args.input))
            print("FAILED: " + describe_failure(chapter, given, exc), file=sys.stderr)
            return 1
        print(f"{args.output} written in {seconds:.1f} s")
        if args.html:
            page = render_page(args.output,
                               args.output.with_name(f"{args.output.stem}_html"))
            print(f"{page} written: open it in a browser")
        return 0
    chapters = select(args.only)
    if args.command == "golden":
        failures = make_golden(chapters, notebooks_dir=args.notebooks, jobs=args.jobs,
                               progress=not args.no_progress)
    else:
        failures = execute(chapters, profile=args.profile, jobs=args.jobs,
                           book_root=args.book_root, notebooks_dir=args.notebooks,
                           progress=not args.no_progress)
    if failures:
        print("\nFAILED:", *failures, sep="\n\n", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
