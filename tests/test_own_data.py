"""A reader's own data (issue 24, item 4): an .npz or .csv file run through the results chapter.

Every file is generated in ``tmp_path`` by the test itself (no data file is committed). The
unit tests check the loader (name and content hash, preprocessing exactly as the built-in
datasets), one clear error per kind of bad file, the rank check, the registry in worker
processes, and the store the rows go to. The end-to-end tests run the results notebook through
the pipeline in the smoke profile on a generated .npz and .csv file, with a temporary own-data
store (``METANMF_OWN_STORE``), so no row of them reaches a committed store.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys

import nbformat
import numpy as np
import pandas as pd
import pytest
from metanmf_lab import grid as ex
from metanmf_lab._config import PROJECT_ROOT
from metanmf_lab.book import notebook, pipeline
from metanmf_lab.book.profiles import PROFILES
from metanmf_lab.data import datasets as ds
from metanmf_lab.grid import reporting
from metanmf_lab.grid.store import COLUMNS, DEFAULT_STORE, RUN_COLUMNS, ResultStore
from sklearn.datasets import load_digits, make_blobs
from sklearn.preprocessing import MinMaxScaler

RESULTS = pipeline.NOTEBOOKS_DIR / "results.ipynb"
NAME = re.compile(r"^mine-[0-9a-f]{12}$")


def blobs(n=120, classes=3, features=20):
    """A small non-negative dataset with ``classes`` clusters."""
    X, y = make_blobs(n_samples=n, centers=classes, n_features=features, random_state=0)
    return np.abs(X), y


def write_npz(path, X, y):
    np.savez(path, X=X, y=y)
    return path


def write_csv(path, X, y, label="label"):
    df = pd.DataFrame(X, columns=[f"f{j}" for j in range(X.shape[1])])
    df[label] = y
    df.to_csv(path, index=False)
    return path


# ------------------------------------------------------------------------------------------
# Loading: name, content hash, preprocessing
# ------------------------------------------------------------------------------------------

def test_npz_and_csv_of_the_same_arrays_are_the_same_dataset(tmp_path):
    X, y = blobs()
    a = ds.user_dataset(write_npz(tmp_path / "mine.npz", X, y))
    b = ds.user_dataset(write_csv(tmp_path / "mine.csv", X, y))
    assert NAME.match(a.name) and a == b
    assert (a.display_name, a.n_samples, a.n_features, a.n_classes) == ("mine", 120, 20, 3)
    assert a.default_noise == ds.USER_DEFAULT_NOISE == 0.4 and a.image_shape is None
    assert ds.is_user_dataset(a.name) and not ds.is_user_dataset("digits")
    assert ds.dataset_info(a.name) == a and ds.n_classes(a.name) == 3
    assert ds.user_dataset_path(a.name).name in ("mine.npz", "mine.csv")


def test_a_changed_file_is_a_new_dataset_and_an_old_name_never_reads_it(tmp_path):
    X, y = blobs()
    path = write_npz(tmp_path / "mine.npz", X, y)
    before = ds.user_dataset(path)
    X[0, 0] += 1.0
    write_npz(path, X, y)
    os.utime(path, ns=(1, 1))  # a new mtime even on a coarse clock
    with pytest.raises(ds.UserDataError, match="changed after it was registered"):
        ds.load_dataset(before.name)
    after = ds.user_dataset(path)
    assert after.name != before.name and after.name.startswith("mine-")
    with pytest.raises(ds.UserDataError, match="changed while it was in use"):
        ds.user_dataset(path, expected_name=before.name)


def test_preprocessing_is_the_built_in_datasets(tmp_path):
    """Digits saved as a reader's file loads exactly as the built-in Digits, clean and noisy."""
    X, y = load_digits(return_X_y=True)
    info = ds.user_dataset(write_npz(tmp_path / "digits.npz", X.astype(np.uint8), y))
    for noise in (0.0, 0.4):
        Xu, yu = ds.load_dataset(info.name, noise=noise, random_state=3)
        Xb, yb = ds.load_dataset("digits", noise=noise, random_state=3)
        np.testing.assert_array_equal(Xu, Xb)
        np.testing.assert_array_equal(yu, yb)
    assert Xu.dtype == np.float64


def test_string_labels_become_codes(tmp_path):
    X, y = blobs()
    names = np.array(["cat", "dog", "emu"])[y]
    info = ds.user_dataset(write_csv(tmp_path / "animals.csv", X, names, label="Y"))
    Xl, yl = ds.load_dataset(info.name)
    np.testing.assert_array_equal(yl, y)  # codes of the sorted labels
    np.testing.assert_allclose(Xl, MinMaxScaler().fit_transform(X), atol=1e-15)


# ------------------------------------------------------------------------------------------
# Bad files: one clear error each, naming the file, what is wrong and what is needed
# ------------------------------------------------------------------------------------------

def _negative(p):
    X, y = blobs()
    X[3, 2] = -0.5
    return write_npz(p.with_suffix(".npz"), X, y)


def _nan(p):
    X, y = blobs()
    X[5, 1] = np.nan
    return write_csv(p.with_suffix(".csv"), X, y)


def _inf(p):
    X, y = blobs()
    X[5, 1] = np.inf
    return write_npz(p.with_suffix(".npz"), X, y)


def _no_y(p):
    np.savez(p.with_suffix(".npz"), X=blobs()[0])
    return p.with_suffix(".npz")


def _no_label_column(p):
    X, y = blobs()
    return write_csv(p.with_suffix(".csv"), X, y, label="class")


def _no_header(p):
    X, y = blobs()
    pd.DataFrame(np.column_stack([X, y])).to_csv(p.with_suffix(".csv"), index=False,
                                                 header=False)
    return p.with_suffix(".csv")


def _few_per_class(p):
    X, y = blobs()
    y[0] = 7  # a class of one sample
    return write_npz(p.with_suffix(".npz"), X, y)


def _one_class(p):
    X, _ = blobs()
    return write_npz(p.with_suffix(".npz"), X, np.zeros(len(X), int))


def _flat_X(p):
    X, y = blobs()
    return write_npz(p.with_suffix(".npz"), X.ravel(), y)


def _short_y(p):
    X, y = blobs()
    return write_npz(p.with_suffix(".npz"), X, y[:-1])


def _text_feature(p):
    X, y = blobs()
    df = pd.DataFrame(X, columns=[f"f{j}" for j in range(X.shape[1])]).astype(object)
    df.iloc[4, 3] = "n/a?"
    df["label"] = y
    df.to_csv(p.with_suffix(".csv"), index=False)
    return p.with_suffix(".csv")


def _unknown_suffix(p):
    X, y = blobs()
    np.save(p.with_suffix(".npy"), X)
    return p.with_suffix(".npy")


def _unreadable_npz(p):
    p.with_suffix(".npz").write_bytes(b"not a zip archive")
    return p.with_suffix(".npz")


def _unreadable_csv(p):
    p.with_suffix(".csv").write_bytes(b"")
    return p.with_suffix(".csv")


def _pickled(p):
    X, y = blobs()
    np.savez(p.with_suffix(".npz"), X=X, y=np.array(list(y), dtype=object))
    return p.with_suffix(".npz")


def _missing(p):
    return p.with_suffix(".npz")


BAD_FILES = [
    (_negative, r"'bad.npz' cannot be used: X has 1 negative value.*non-negative data"),
    (_nan, r"'bad.csv' cannot be used: X has 1 NaN or infinite value.*finite data"),
    (_inf, r"'bad.npz' cannot be used: X has 1 NaN or infinite value"),
    (_no_y, r"'bad.npz' cannot be used: it has no array y \(it holds: X\).*array y of labels"),
    (_no_label_column, r"'bad.csv' cannot be used: it has no label column \(its columns: "
                       r"'f0'.*named 'label' \(or 'y'\)"),
    (_no_header, r"'bad.csv' cannot be used: its first row holds numbers, not a header row"),
    (_few_per_class, r"'bad.npz' cannot be used: 1 class\(es\) have fewer than 2 samples: 7 "
                     r"\(1 sample\).*50/50 learning/evaluation split needs at least 2"),
    (_one_class, r"'bad.npz' cannot be used: y has 1 class\(es\).*at least two classes"),
    (_flat_X, r"'bad.npz' cannot be used: X has shape \(2400,\), not \(n_samples, n_features\)"),
    (_short_y, r"'bad.npz' cannot be used: y has shape \(119,\) but X has 120 samples"),
    (_text_feature, r"'bad.csv' cannot be used: feature column 'f3' holds 'n/a\?' on line 6, "
                    r"not a number"),
    (_unknown_suffix, r"'bad.npy' cannot be used: its type .npy is not one this package "
                      r"reads.*an .npz or a .csv file"),
    (_unreadable_npz, r"'bad.npz' cannot be used: it is not an .npz file"),
    (_unreadable_csv, r"'bad.csv' cannot be used: it could not be read as a .csv file"),
    (_pickled, r"'bad.npz' cannot be used: an array holds Python objects"),
    (_missing, r"Data file '.*bad.npz' does not exist"),
]


@pytest.mark.parametrize("make, message", BAD_FILES, ids=[f.__name__[1:] for f, _ in BAD_FILES])
def test_bad_file_gives_one_clear_error(tmp_path, make, message):
    path = make(tmp_path / "bad")
    with pytest.raises(ds.UserDataError, match=message) as info:
        ds.user_dataset(path)
    assert isinstance(info.value, ValueError)
    if make is not _missing:  # the file by its name, never a folder of the machine
        assert str(tmp_path) not in str(info.value)


def test_too_few_samples_or_features_for_the_ranks(tmp_path):
    X, y = blobs()
    name = ds.user_dataset(write_npz(tmp_path / "mine.npz", X, y)).name
    assert ex.check_ranks(name, [2, 6]) is None
    with pytest.raises(ValueError, match=r"'mine.npz' \(120 samples, 60 of them in the learning "
                                         r"half; 20 features\) is too small for rank 10: .*"
                                         r"The largest rank it allows is 6"):
        ex.check_ranks(name, [2, 10, 18])
    with pytest.raises(ValueError, match=r"too small for rank 2: the 5 meta-tasks of protocol "
                                         r"'authors' cannot be drawn .* No rank can run on it "
                                         r"under protocol 'authors'"):
        ex.check_ranks(name, [2], protocol="authors")
    narrow = ds.user_dataset(write_npz(tmp_path / "narrow.npz", X[:, :4], y)).name
    with pytest.raises(ValueError, match="rank 5: it has only 4 features. The largest rank it "
                                         "allows is 4"):
        ex.check_ranks(narrow, [2, 5])


@pytest.mark.parametrize("ranks", [[2, 6], [6]])
def test_every_model_runs_at_the_largest_rank_allowed(tmp_path, ranks):
    X, y = blobs()
    name = ds.user_dataset(write_npz(tmp_path / "mine.npz", X, y)).name
    cells = ex.make_grid([name], models=ex.ALL_MODELS, ranks=ranks, seeds=[0], noises=["none"])
    rows = ex.run_grid(cells, PROFILES["smoke"].settings, store=None, progress=False)
    assert len(rows) == len(cells) and rows["nmi"].between(0, 1).all()


# ------------------------------------------------------------------------------------------
# Cells, workers, the store, the notebook's parameters
# ------------------------------------------------------------------------------------------

def test_cells_accept_registered_datasets_only(tmp_path):
    X, y = blobs()
    name = ds.user_dataset(write_npz(tmp_path / "mine.npz", X, y)).name
    cell = ex.Cell(name, 0.0, "NMF", 2, 0)
    assert cell.dataset == name
    assert ex.resolve_noise(name, "added") == 0.4
    with pytest.raises(ValueError, match="Unknown dataset 'mine-000000000000'"):
        ex.Cell("mine-000000000000", 0.0, "NMF", 2, 0)


def test_worker_processes_register_the_file_and_store_its_rows(tmp_path):
    """loky workers do not share the registry: each task carries the path; rows are the
    serial run's, under the name with the content hash, with every provenance column."""
    X, y = blobs()
    name = ds.user_dataset(write_npz(tmp_path / "mine.npz", X, y)).name
    cells = ex.make_grid([name], models=["Meta-GNMF", "NMF (warm start)"], ranks=[2, 5],
                         seeds=[0, 1], noises=["none", "added"])
    settings = ex.Settings(n_epochs=2, inner_iter=5, baseline_iter=10)
    serial = ex.run_grid(cells, settings, store=tmp_path / "a.csv", progress=False)
    parallel = ex.run_grid(cells, settings, store=tmp_path / "b.csv", n_jobs=2, progress=False)
    keep = [c for c in COLUMNS if c not in RUN_COLUMNS]
    pd.testing.assert_frame_equal(serial[keep], parallel[keep])
    stored = ResultStore(tmp_path / "b.csv").load()
    assert set(stored["dataset"]) == {name} and len(stored) == len(cells)
    assert set(stored["settings_hash"]) == {settings.hash}
    assert stored["environment"].str.len().gt(0).all()
    assert ex.stored_rows(cells, settings, tmp_path / "b.csv").shape[0] == len(cells)


def test_parameters_take_a_file_and_its_rows_go_to_the_own_data_store(tmp_path, monkeypatch):
    X, y = blobs()
    path = write_npz(tmp_path / "mine.npz", X, y)
    ns = {"__annotations__": {"profile": str, "dataset": str, "protocol": str, "ranks": list},
          "profile": "smoke", "dataset": str(path), "protocol": "thesis", "ranks": []}
    monkeypatch.delenv(notebook.OWN_STORE_ENV, raising=False)
    P = notebook.check_parameters(dict(ns))
    assert NAME.match(P.dataset) and P.ranks == [2, 5]
    assert P.store.path == PROFILES["smoke"].own_store
    monkeypatch.setenv(notebook.OWN_STORE_ENV, str(tmp_path / "own.csv"))
    assert P.store.path == tmp_path / "own.csv"
    full = notebook.check_parameters(dict(ns, profile="full", ranks=[2, 5]))
    monkeypatch.delenv(notebook.OWN_STORE_ENV)
    assert full.store.path == PROJECT_ROOT / "data" / "own-results.csv" != DEFAULT_STORE
    assert notebook.check_parameters(dict(ns, dataset="digits")).store.path \
        == PROFILES["smoke"].store
    with pytest.raises(ValueError, match="too small for rank 10"):  # the full profile's ranks
        notebook.check_parameters(dict(ns, profile="full"))
    with pytest.raises(ValueError, match=r"dataset must be one of 'blobs'.*or the path of your "
                                         r"own .npz or .csv file"):
        notebook.check_parameters(dict(ns, dataset="digitz"))


def test_reporting_shows_ours_without_thesis_numbers(tmp_path):
    X, y = blobs()
    name = ds.user_dataset(write_npz(tmp_path / "mine.npz", X, y)).name
    rows = pd.DataFrame([dict(dataset=d, condition=c, noise=0.0, model=m, rank=2, seed=s,
                              nmi=0.5 + 0.1 * s)
                         for d in ("digits", name) for c in ("none", "added")
                         for m in ex.ALL_MODELS for s in (0, 1)])
    sbs = reporting.side_by_side(reporting.mean_over_ranks(rows))
    mine = sbs[sbs["dataset"] == name]
    assert len(mine) == 16 and mine["thesis"].isna().all() and mine["ours"].eq(0.55).all()
    assert list(dict.fromkeys(sbs["dataset"]))[-1] == name  # after the built-in datasets
    table = reporting.fair_baseline_table(rows)
    assert list(table.columns) == [("digits", "none"), ("digits", "added"), (name, "none"),
                                   (name, "added")]


# ------------------------------------------------------------------------------------------
# The pipeline: a bad file stops before a kernel starts; a good one runs the whole chapter
# ------------------------------------------------------------------------------------------

def run(*args, cwd, env=None):
    return subprocess.run([sys.executable, "-m", "metanmf_lab.book.pipeline", *args],
                          capture_output=True, text=True, cwd=cwd, check=False,
                          env={**os.environ, **(env or {})})


@pytest.mark.parametrize("make, message", [
    (_negative, "'bad.npz' cannot be used: X has 1 negative value"),
    (_missing, "Data file 'bad.npz' does not exist"),
], ids=["negative", "missing"])
def test_pipeline_run_rejects_a_bad_file_before_any_fitting(tmp_path, make, message):
    path = make(tmp_path / "bad")
    out, store = tmp_path / "out.ipynb", tmp_path / "own.csv"
    proc = run("run", str(RESULTS), "out.ipynb", "-p", "profile", "smoke", "-p", "dataset",
               path.name, cwd=tmp_path, env={notebook.OWN_STORE_ENV: str(store)})
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith(f"error: Data file ") and message in proc.stderr
    assert proc.stderr.count("\n") == 1  # one message, no traceback
    assert not out.exists() and not store.exists()


def test_pipeline_run_rejects_ranks_too_large_for_the_file(tmp_path):
    X, y = blobs()
    write_npz(tmp_path / "mine.npz", X, y)
    proc = run("run", str(RESULTS), "out.ipynb", "-p", "dataset", "mine.npz", cwd=tmp_path,
               env={notebook.OWN_STORE_ENV: str(tmp_path / "own.csv")})
    assert proc.returncode == 2
    assert "too small for rank 10" in proc.stderr and "largest rank it allows is 6" in proc.stderr
    assert not (tmp_path / "own.csv").exists()


@pytest.mark.slow
def test_plain_papermill_stops_a_bad_file_at_the_check_cell(tmp_path):
    path = _nan(tmp_path / "bad")
    proc = subprocess.run([sys.executable, "-m", "papermill", str(RESULTS),
                           str(tmp_path / "out.ipynb"), "-p", "profile", "smoke", "-p",
                           "dataset", str(path), "--cwd", str(pipeline.NOTEBOOKS_DIR),
                           "--no-progress-bar"], capture_output=True, text=True, check=False,
                          env={**os.environ, notebook.OWN_STORE_ENV: str(tmp_path / "o.csv")})
    assert proc.returncode != 0
    assert "UserDataError: Data file 'bad.csv' cannot be used: X has 1 NaN" in proc.stderr
    assert not (tmp_path / "o.csv").exists()


def glued(nb):
    """The glued values of an executed notebook: name -> text/plain (or 'image')."""
    out = {}
    for cell in nb.cells:
        for o in cell.get("outputs", []):
            name = o.get("metadata", {}).get("scrapbook", {}).get("name")
            if name:
                data = o["data"]  # prose glued as Markdown (nb.glue_prose): its text
                text = data.get("application/papermill.record/text/markdown",
                                data.get("application/papermill.record/text/plain"))
                out[name] = "image" if any("image" in k for k in data) else text
    return out


@pytest.mark.slow
def test_results_chapter_runs_on_your_own_npz_and_csv(tmp_path):
    """The whole results chapter in the smoke profile on a generated file, from a relative
    path given in another folder than the project; its rows go to a temporary store under the
    dataset's name with its content hash; the same arrays as .csv read them back."""
    X, y = blobs()
    write_npz(tmp_path / "mine.npz", X, y)
    write_csv(tmp_path / "mine.csv", X, y)
    store = tmp_path / "own.csv"
    env = {notebook.OWN_STORE_ENV: "own.csv"}  # relative: to the folder of the command

    proc = run("run", str(RESULTS), "mine.ipynb", "-p", "profile", "smoke", "-p", "dataset",
               "mine.npz", "--html", cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stderr
    nb = nbformat.read(tmp_path / "mine.ipynb", as_version=4)
    # JupyterLab shows the glued figures and tables: a visible copy of each
    revealed = [o.metadata[pipeline.REVEALED] for c in nb.cells if c.cell_type == "code"
                for o in c.outputs if pipeline.REVEALED in o.get("metadata", {})]
    assert revealed == ["fig_nmi_none", "fig_nmi_added", "table_means", "table_fair_baselines"]
    # the page, as the book renders the chapter: both figures, both tables, the citation
    page = (tmp_path / "mine_html" / "mine.html").read_text()
    assert page.count('class="caption-number"') == 4 and page.count("<img") >= 2
    assert "Khan" in page and pipeline.REVEALED not in page
    values = glued(nb)
    rows = ResultStore(store).load()
    name = rows["dataset"].iloc[0]
    assert NAME.match(name) and set(rows["dataset"]) == {name}
    smoke = PROFILES["smoke"]
    assert len(rows) == len(ex.ALL_MODELS) * len(smoke.ranks) * len(smoke.seeds) * 2
    assert set(rows["settings_hash"]) == {smoke.settings.fast().hash}  # new data: fast path
    assert set(rows["noise"].astype(float)) == {0.0, 0.4}
    assert values["n_cells"] == "64" and values["ranks"] == "'2, 5'"
    assert values["noise_level"] == "0.4"
    assert values["fig_nmi_none"] == values["fig_nmi_added"] == "image"
    assert values["thesis_fig_none"] == values["thesis_fig_added"] == ""
    assert f"kept in the result store as {name}" in values["means_source"]
    assert "thesis" not in values["table_means"] and "ours" in values["table_means"]
    assert values["beyond_text"] == "The thesis has no numbers for this dataset"
    for _, meta in ex.PAIRS:
        for model in (meta,) + ex.FAIR_BASELINES[meta]:
            assert model in values["table_fair_baselines"]
    assert nb.metadata.myst["substitutions"] == {"dataset_name": "mine"}
    assert nb.metadata.papermill["parameters"]["dataset"] == "mine.npz"
    text = (tmp_path / "mine.ipynb").read_text()
    assert str(tmp_path) not in text and str(PROJECT_ROOT) not in text
    injected = [c for c in nb.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert 'dataset = "mine.npz"' in injected[0].source

    stored = store.read_text()
    proc = run("run", str(RESULTS), "again.ipynb", "-p", "profile", "smoke", "-p", "dataset",
               "mine.csv", "-p", "n_jobs", "1", cwd=tmp_path, env=env)
    assert proc.returncode == 0, proc.stderr
    assert store.read_text() == stored  # the same content: every row read back
    again = glued(nbformat.read(tmp_path / "again.ipynb", as_version=4))
    assert again["table_fair_baselines"] == values["table_fair_baselines"]
    assert name not in DEFAULT_STORE.read_text()
