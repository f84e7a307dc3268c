"""The book: notebooks stored clean, executed in the smoke profile by the pipeline, compared
with their nbval golden files, rendered with warnings as errors; parameters checked.

Everything runs in a temporary copy of the book (``_config.yml``, ``_toc.yml``, ``book/``), so
a full build in ``book/_executed`` and ``_build/html`` is never touched. While chapters are
still being written, the tests run on the planned notebooks that exist, and
:func:`test_plan_and_notebooks_agree` fails, naming the missing ones.
"""

import ast
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import papermill
import pytest
import yaml
from conftest import require_data
from metanmf_lab._config import PROJECT_ROOT
from metanmf_lab.book import pipeline

pytestmark = pytest.mark.slow

NOTEBOOKS = pipeline.NOTEBOOKS_DIR
GOLDEN = pipeline.GOLDEN_DIR
SOURCES = sorted(NOTEBOOKS.glob("*.ipynb"))
AVAILABLE = [c for c in pipeline.PLAN if (NOTEBOOKS / c.source).exists()]

#: A numpy scalar's repr (``np.int64(4)``), which a reader should never see in a page.
NUMPY_REPR = re.compile(r"np\.(?:u?int|float|bool|str)\d*_?\(")

#: Control characters (a ``\frac`` written in a Python string becomes a form feed and ``rac``).
CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f\x7f]")

#: ``name: type = value  # help``, the one form of a parameters line.
PARAMETER_LINE = re.compile(r"^(?P<name>[A-Za-z_]\w*): (?P<type>\S.*?) = (?P<value>\S.*?)"
                            r"  # (?P<help>\S.*)$")


def run(*args, env=None, cwd=PROJECT_ROOT):
    """Run a command of the project's Python; return the completed process."""
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, cwd=cwd,
                          env={**os.environ, **(env or {})}, check=False)


def outputs_text(nb):
    """Every non-image text of a notebook's outputs, per cell: [(cell index, text)]."""
    found = []
    for i, cell in enumerate(nb.cells):
        for out in cell.get("outputs", []):
            parts = [out.get("text", ""), out.get("ename", ""), out.get("evalue", "")]
            parts += [v if isinstance(v, str) else json.dumps(v)
                      for k, v in out.get("data", {}).items() if not pipeline.is_image(k)]
            found.append((i, "".join(parts)))
    return found


def images(nb):
    return [v for cell in nb.cells for out in cell.get("outputs", [])
            for k, v in out.get("data", {}).items() if pipeline.is_image(k)]


def machine_paths(tmp_root=None):
    """Absolute paths of this machine that must never appear in an executed notebook."""
    paths = {str(PROJECT_ROOT), sys.prefix, str(Path(sys.executable).parent)}
    if tmp_root is not None:
        paths.add(str(tmp_root))
    home = str(Path.home())
    if len(home) > 5:  # "/root" is too short to be told from a word
        paths.add(home)
    return sorted(paths)


def copy_book(dest):
    """The book's sources (not its executed notebooks or builds) copied into ``dest``."""
    for name in ("_config.yml", "_toc.yml"):
        shutil.copy(PROJECT_ROOT / name, dest / name)
    shutil.copytree(PROJECT_ROOT / "book", dest / "book",
                    ignore=shutil.ignore_patterns(pipeline.EXECUTED.name))
    return dest


# ------------------------------------------------------------------------------------------
# The plan, the table of contents and the stored notebooks
# ------------------------------------------------------------------------------------------

def test_plan_and_notebooks_agree():
    planned = {c.source for c in pipeline.PLAN}
    stored = {p.name for p in SOURCES}
    assert not planned - stored, f"planned notebooks missing from notebooks/: {planned - stored}"
    assert not stored - planned, f"notebooks not in the pipeline's PLAN: {stored - planned}"


def test_toc_lists_the_plan_in_order():
    executed = [f.rsplit("/", 1)[-1] for f in pipeline.toc_files()
                if f.startswith(pipeline.EXECUTED.as_posix() + "/")]
    assert executed == [c.name for c in pipeline.PLAN]


def test_unknown_chapter_and_missing_source_are_named(tmp_path):
    proc = run("-m", "metanmf_lab.book.pipeline", "execute", "--only", "nope")
    assert proc.returncode == 2 and "Unknown chapter(s) nope" in proc.stderr
    proc = run("-m", "metanmf_lab.book.pipeline", "execute", "--only", "derivation",
               "results_faces", "--notebooks", str(tmp_path), "--book-root", str(tmp_path))
    assert proc.returncode == 1
    assert "derivation.ipynb (for derivation)" in proc.stderr
    assert "results.ipynb (for results_faces)" in proc.stderr
    assert not (tmp_path / "book").exists()


def test_missing_data_stops_the_book_before_it_starts(tmp_path, monkeypatch, capsys):
    """No data files and no network: ``make book`` (the pipeline's execute) exits 1 with one
    message naming every missing file and how to get it, before any notebook runs."""
    from metanmf_lab.data import datasets

    monkeypatch.setenv("METANMF_DATA", str(tmp_path / "empty"))
    monkeypatch.setattr(datasets, "URLS", {k: f"file:///nonexistent-metanmf-test/{k}"
                                           for k in datasets.URLS})
    code = pipeline.main(["execute", "--no-progress", "--book-root", str(tmp_path)])
    err = capsys.readouterr().err
    assert code == 1 and "Traceback" not in err
    assert err.startswith("error: Data files are missing or unusable:")
    for name in ("fashion_mnist_train_first8226.npz", "olivettifaces.mat", "coil20_32x32.npz"):
        assert name in err
    assert "make data" in err and "Nothing was executed." in err
    assert "movielens" not in err  # the full profile reads the priors' results from the store
    assert not (tmp_path / "book").exists()
    # a chapter that reads no data file still runs (the status page)
    assert pipeline.needed_data(pipeline.select(["status", "altbi", "mlam"]), "smoke") == []
    assert pipeline.needed_data(pipeline.select(["metaprior"]), "smoke")[-1] == "movielens"


@pytest.mark.parametrize("path", SOURCES, ids=[p.stem for p in SOURCES])
def test_source_notebook_is_stored_clean(path):
    nb = nbformat.read(path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(not c.outputs for c in code), "stored with outputs (strip them)"
    assert all(c.execution_count is None for c in code), "stored with execution counts"
    assert "papermill" not in nb.metadata, "an executed copy, not a source"
    assert str(PROJECT_ROOT) not in path.read_text(), "holds an absolute path of this machine"
    for i, cell in enumerate(nb.cells):
        found = CONTROL.search(cell.source)
        assert not found, (f"cell {i} holds the control character {found.group()!r}: "
                           f"{cell.source[max(0, found.start() - 40):found.end() + 20]!r} (a "
                           "backslash sequence such as \\f or \\t in a string?)")
    params = code[0]
    assert "parameters" in params.metadata.get("tags", []), \
        "the first code cell must be tagged `parameters`"
    names = []
    for line in params.source.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        m = PARAMETER_LINE.match(line)
        assert m, f"not of the form `name: type = value  # help`: {line!r}"
        ast.literal_eval(m["value"])  # literal values only
        names.append(m["name"])
    seen = papermill.inspect_notebook(str(path))
    assert list(seen) == names, \
        f"papermill --help-notebook misses {sorted(set(names) - set(seen))}: write their " \
        "types as papermill reads them (a name, list, or e.g. object; not `float | str`)"
    assert re.search(r"^profile: str = ", params.source, re.M), \
        "the parameters cell must declare `profile: str = ...`"


# ------------------------------------------------------------------------------------------
# The smoke profile: execution, outputs, build
# ------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def smoke_book(tmp_path_factory):
    """A copy of the book with every available chapter executed in the smoke profile."""
    require_data(*pipeline.needed_data(AVAILABLE, "smoke"))
    root = copy_book(tmp_path_factory.mktemp("smoke-book"))
    proc = run("-m", "metanmf_lab.book.pipeline", "execute", "--profile", "smoke", "--no-progress",
               "--book-root", str(root), "--only", *[c.name for c in AVAILABLE])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return root


def executed(root, name):
    return nbformat.read(root / pipeline.EXECUTED / f"{name}.ipynb", as_version=4)


@pytest.mark.parametrize("chapter", AVAILABLE, ids=[c.name for c in AVAILABLE])
def test_smoke_outputs_are_clean(smoke_book, chapter):
    nb = executed(smoke_book, chapter.name)
    for i, cell in enumerate(nb.cells):
        for out in cell.get("outputs", []):
            assert not (out.output_type == "stream" and out.name == "stderr"), \
                f"cell {i} writes to stderr: {out.text[:300]!r}"
    for i, text in outputs_text(nb):
        assert "Warning" not in text, f"cell {i} shows a warning: {text[:300]!r}"
        found = NUMPY_REPR.search(text)
        assert not found, f"cell {i} shows a numpy repr: {text[max(0, found.start() - 80):][:200]!r}"
    text = json.dumps(nb.metadata) + "".join(t for _, t in outputs_text(nb))
    for path in machine_paths(smoke_book):
        assert path not in text, f"an absolute path of this machine in the outputs: {path}"


def test_record_for_the_status_page(smoke_book):
    record = pipeline.read_record(smoke_book / pipeline.EXECUTED)
    assert set(record["notebooks"]) == {c.name for c in AVAILABLE}
    for chapter in AVAILABLE:
        entry = record["notebooks"][chapter.name]
        assert entry["parameters"] == {"profile": "smoke", **chapter.parameters}
        assert entry["seconds"] >= 0
    assert record["versions"]["metanmf_lab"] and record["stores"]["smoke"]["rows"] >= 0
    for path in machine_paths(smoke_book):
        assert path not in json.dumps(record)


def _toc_without_missing(root):
    """Drop from the copy's toc the chapters not executed (only while some are missing)."""
    toc = yaml.safe_load((root / "_toc.yml").read_text())
    for part in toc["parts"]:
        part["chapters"] = [c for c in part["chapters"]
                            if not c["file"].startswith(pipeline.EXECUTED.as_posix())
                            or (root / f"{c['file']}.ipynb").exists()]
    toc["parts"] = [p for p in toc["parts"] if p["chapters"]]
    (root / "_toc.yml").write_text(yaml.safe_dump(toc, sort_keys=False))
    # the introduction links to every chapter: point the missing ones nowhere in particular
    intro = root / pipeline.EXECUTED / "intro.ipynb"
    nb = nbformat.read(intro, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            for c in pipeline.PLAN:
                if not (root / pipeline.EXECUTED / f"{c.name}.ipynb").exists():
                    cell.source = cell.source.replace(f"{{doc}}`{c.name}`", f"`{c.name}`")
    nbformat.write(nb, intro)


def test_smoke_book_builds_without_warnings(smoke_book):
    if len(AVAILABLE) < len(pipeline.PLAN):
        _toc_without_missing(smoke_book)
    proc = run("-m", "metanmf_lab.book.pipeline", "build", "--book-root", str(smoke_book))
    assert proc.returncode == 0, proc.stdout[-5000:] + proc.stderr[-5000:]
    html = smoke_book / "_build" / "html"
    assert (html / "index.html").exists()
    proc = run("tools/check_offline.py", "--static-only", "--html", str(html))
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_figures_are_deterministic(smoke_book, tmp_path):
    with_images = [c for c in AVAILABLE if images(executed(smoke_book, c.name))]
    if not with_images:
        assert len(AVAILABLE) < len(pipeline.PLAN), "no chapter shows a figure"
        pytest.skip("no chapter with figures written yet")
    chapter = with_images[0]
    again = copy_book(tmp_path)
    proc = run("-m", "metanmf_lab.book.pipeline", "execute", "--profile", "smoke", "--no-progress",
               "--book-root", str(again), "--only", chapter.name)
    assert proc.returncode == 0, proc.stderr
    assert images(executed(again, chapter.name)) == images(executed(smoke_book, chapter.name))


# ------------------------------------------------------------------------------------------
# nbval golden files
# ------------------------------------------------------------------------------------------

GOLDENS = sorted(GOLDEN.glob("*.ipynb"))


@pytest.mark.parametrize("chapter", AVAILABLE, ids=[c.name for c in AVAILABLE])
def test_golden_is_current(smoke_book, chapter):
    path = GOLDEN / f"{chapter.name}.ipynb"
    assert path.exists(), f"no golden file {path.name}: run `make golden`"
    golden = nbformat.read(path, as_version=4)
    now = executed(smoke_book, chapter.name)
    assert [c.source for c in golden.cells] == \
        [c.source for c in pipeline.golden_copy(now).cells], \
        f"{path.name} was made from another version of the notebook: run `make golden`"


@pytest.mark.parametrize("path", GOLDENS, ids=[p.stem for p in GOLDENS])
def test_golden_keeps_only_checked_outputs(path):
    assert path.stem in {c.name for c in pipeline.PLAN}, f"{path.name} is not in the plan"
    nb = nbformat.read(path, as_version=4)
    assert set(nb.metadata) <= {"kernelspec", "language_info"}
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        if pipeline.CHECK_TAG not in cell.metadata.get("tags", []):
            assert not cell.outputs, f"outputs of an unchecked cell: {cell.source[:80]!r}"
            assert cell.execution_count is None
    assert not images(nb)


def test_goldens_hold_no_thesis_numbers():
    """The thesis' numbers live in ``data/published`` only, never copied into a golden file.

    A thesis value (3 decimals) counts as copied when a line of a golden file shows it beside
    the dataset or the model of its row, as any table of thesis numbers does; a smoke-profile
    number that happens to equal some thesis value elsewhere is not flagged.
    """
    from metanmf_lab.grid.published import thesis_nmi_tables

    thesis = thesis_nmi_tables()
    for path in GOLDENS:
        lines = path.read_text().splitlines()
        found = []
        for row in thesis.itertuples():
            value = re.compile(rf"(?<![\d.]){row.mean_nmi_over_ranks:.3f}(?!\d)")
            found += [f"{row.mean_nmi_over_ranks:.3f} ({row.dataset}, {row.model})"
                      for line in lines if value.search(line)
                      and (row.dataset.lower() in line.lower() or row.model in line)]
        assert not found, f"{path.name} holds thesis numbers: {sorted(set(found))}"


def test_nbval_goldens(smoke_book):
    goldens = [GOLDEN / f"{c.name}.ipynb" for c in AVAILABLE]
    assert all(p.exists() for p in goldens), "run `make golden`"
    env = {**os.environ, pipeline.EXECUTED_ENV: str(smoke_book / pipeline.EXECUTED)}
    # two nbval runs at a time (every other golden each), as the book executes two chapters
    # at a time: the goldens share only the smoke store, which is safe for concurrent writers
    procs = [subprocess.Popen([sys.executable, "-m", "pytest", "--nbval-lax",
                               "--nbval-current-env", "-p", "no:cacheprovider", "-q",
                               *[str(p) for p in half]],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              cwd=PROJECT_ROOT, env=env)
             for half in (goldens[0::2], goldens[1::2])]
    outs = [proc.communicate() for proc in procs]
    for proc, (out, err) in zip(procs, outs):
        assert proc.returncode == 0, out[-8000:] + err[-2000:]
    assert sum(int(m) for out, _ in outs
               for m in re.findall(r"(\d+) passed", out)) >= len(goldens), \
        "nbval checked fewer cells than there are goldens"


# ------------------------------------------------------------------------------------------
# Parameters of a reader's batch run, and failures
# ------------------------------------------------------------------------------------------

STATUS = NOTEBOOKS / "status.ipynb"
BAD_PARAMETERS = [
    (["-p", "colour", "red"], "Unknown parameter(s) colour"),
    (["-p", "profile", "3"], "Parameter profile must be of type str"),
    (["-p", "profile", "huge"], "profile must be one of 'full', 'smoke'"),
]


@pytest.mark.parametrize("args, message", BAD_PARAMETERS, ids=["unknown", "type", "value"])
def test_pipeline_run_rejects_bad_parameters(tmp_path, args, message):
    out = tmp_path / "out.ipynb"
    proc = run("-m", "metanmf_lab.book.pipeline", "run", str(STATUS), str(out), *args)
    assert proc.returncode == 2, proc.stderr
    assert message in proc.stderr
    assert not out.exists()


@pytest.mark.parametrize("args, message", BAD_PARAMETERS[:2], ids=["unknown", "type"])
def test_plain_papermill_rejects_bad_parameters(tmp_path, args, message):
    """Without the pipeline, the notebook's own check stops it at its second cell."""
    out = tmp_path / "out.ipynb"
    proc = run("-m", "papermill", str(STATUS), str(out), *args, "--cwd", str(NOTEBOOKS),
               "--no-progress-bar")
    assert proc.returncode != 0
    assert message in proc.stderr


def test_run_parses_literals():
    assert pipeline.parse_value("[2, 5]") == [2, 5]
    assert pipeline.parse_value("0.6") == 0.6
    assert pipeline.parse_value("faces") == "faces"
    assert pipeline.parse_value('"5"') == "5"


def test_failure_leaves_no_partial_output(tmp_path):
    sources = tmp_path / "notebooks"
    sources.mkdir()
    nb = nbformat.read(STATUS, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell('raise RuntimeError("boom")'))
    nbformat.write(nb, sources / "status.ipynb")
    out_dir = tmp_path / pipeline.EXECUTED
    out_dir.mkdir(parents=True)
    (out_dir / "status.ipynb").write_text("previous build")
    proc = run("-m", "metanmf_lab.book.pipeline", "execute", "--only", "status", "--no-progress",
               "--notebooks", str(sources), "--book-root", str(tmp_path))
    assert proc.returncode == 1
    assert "status (status.ipynb" in proc.stderr and "RuntimeError: boom" in proc.stderr
    assert re.search(r"failed in cell \d+", proc.stderr)
    assert (out_dir / "status.ipynb").read_text() == "previous build"
    assert sorted(p.name for p in out_dir.iterdir()) == [pipeline.RECORD_NAME, "status.ipynb"]


def test_relative_data_folder_reaches_the_kernels_absolute(tmp_path):
    """``METANMF_DATA=<relative path> make book``: the kernels run in the notebooks' folder,
    so the pipeline hands them the data folder resolved against the folder it was started in."""
    sources = tmp_path / "notebooks"
    sources.mkdir()
    nb = nbformat.read(STATUS, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell(
        "import os\n"
        "from metanmf_lab._config import data_dir\n"
        f"assert os.environ['METANMF_DATA'] == {str(tmp_path / 'somewhere' / 'data')!r}, "
        "os.environ['METANMF_DATA']\n"
        "assert str(data_dir()) == os.environ['METANMF_DATA']"))
    nbformat.write(nb, sources / "status.ipynb")
    proc = run("-m", "metanmf_lab.book.pipeline", "execute", "--only", "status", "--no-progress",
               "--notebooks", str(sources), "--book-root", str(tmp_path),
               env={"METANMF_DATA": os.path.join("somewhere", "data")}, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr


@pytest.fixture
def relative_data_folder(tmp_path):
    """A relative path (from the project root) to a temporary folder holding links to the data
    files of the configured data folder (``METANMF_DATA``, or the project's ``data/``)."""
    from metanmf_lab._config import data_dir

    folder = tmp_path / "data"
    folder.mkdir()
    for f in sorted(p for p in data_dir().iterdir() if p.is_file()):
        (folder / f.name).symlink_to(f)
    return os.path.relpath(folder, PROJECT_ROOT), folder


@pytest.mark.skipif(shutil.which("make") is None, reason="needs GNU make")
@pytest.mark.parametrize("relative", [True, False], ids=["relative", "unset"])
def test_make_hands_every_target_an_absolute_data_folder(relative, relative_data_folder):
    """The Makefile exports ``METANMF_DATA`` made absolute against the project root, for the
    kernels of ``make lab`` and of nbval, which the pipeline does not start."""
    value, folder = relative_data_folder
    assert not os.path.isabs(value)
    show = 'show:\n\t@printf "%s" "$$METANMF_DATA"\n'
    env = {k: v for k, v in os.environ.items() if k != "METANMF_DATA"}
    if relative:
        env["METANMF_DATA"] = value
    proc = subprocess.run(["make", "-s", "-f", "Makefile", "-f", "-", "show"], input=show,
                          capture_output=True, text=True, cwd=PROJECT_ROOT, env=env,
                          check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == (str(folder) if relative else "")
    if relative:  # the kernels find the same files there
        assert sorted(p.name for p in Path(proc.stdout).iterdir()) == \
            sorted(p.name for p in folder.iterdir())
