"""The published numbers (``data/published``): each file's shape and provenance, the loaders'
errors on a malformed file, that the book takes every published number it shows from these
files, that no published number is typed anywhere else, that the code's copies of the
thesis' Tables 4.1 and 4.2 agree with the files, and which of the related methods' settings
follow their papers' and which depart from them."""

import dataclasses
import inspect
import json
import re
import shutil
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from metanmf_lab._config import PROJECT_ROOT
from metanmf_lab.book.profiles import PROFILES
from metanmf_lab.data.datasets import DATASETS
from metanmf_lab.grid import published, reporting
from metanmf_lab.grid.catalogue import MODELS, THESIS_RANKS
from metanmf_lab.grid.cells import Settings

LOADERS = {name: getattr(published, name) for name in published.FILES}


def _csv(name):
    """A file as written: every cell as text."""
    return pd.read_csv(published.PUBLISHED_DIR / published.FILES[name][0], dtype=str,
                       keep_default_na=False)


# -- each file's shape and provenance -----------------------------------------------------------

def test_every_file_has_one_loader_and_is_described():
    files = sorted(p.name for p in published.PUBLISHED_DIR.glob("*.csv"))
    assert files == sorted(f for f, _ in published.FILES.values())
    readme = (published.PUBLISHED_DIR / "README.md").read_text(encoding="utf-8")
    for name, (file, _) in published.FILES.items():
        assert f"`{file}`" in readme and f"`{name}`" in readme, file
        assert published.where(name) == f"data/published/{file} ({published.FILES[name][1]})"
    with pytest.raises(ValueError, match="no published file"):
        published.where("thesis_tables_4_11")


def test_files_are_the_ones_checked_against_their_sources():
    """The README records each file's SHA-256 as it was checked against its source: a number
    changed since (a typo, an edit) fails here until the README says what was re-checked."""
    import hashlib

    readme = (published.PUBLISHED_DIR / "README.md").read_text(encoding="utf-8")
    recorded = dict(re.findall(r"^\| `([^`]+\.csv)` \|.*`([0-9a-f]{64})` \|$", readme, re.M))
    assert sorted(recorded) == sorted(f for f, _ in published.FILES.values())
    for file, digest in recorded.items():
        data = (published.PUBLISHED_DIR / file).read_bytes().replace(b"\r\n", b"\n")
        assert hashlib.sha256(data).hexdigest() == digest, \
            f"{file} differs from the file checked against its source (data/published/README.md)"


@pytest.mark.parametrize("name", list(published.FILES))
def test_every_row_cites_its_source(name):
    df = LOADERS[name]()
    assert len(df) and df["source"].str.len().gt(20).all()
    assert df["source"].str.startswith(published.SOURCE_PREFIX[name]).all()
    # one source per number: no two rows cite the same cell
    assert not df["source"].duplicated().any()


def test_thesis_tables_are_5_datasets_x_8_models_x_2_conditions():
    df = published.thesis_nmi_tables()
    assert len(df) == 80 == len(DATASETS) * len(MODELS) * 2
    assert df["table"].value_counts().to_dict() == {t: 10 for t in published.THESIS_TABLE_IDS}
    assert set(df["dataset"]) == set(DATASETS) and set(df["model"]) == set(MODELS)
    assert not df.duplicated(["noise", "dataset", "model"]).any()
    # each table is the pair and noise condition the book sets it beside
    for table, (condition, pair) in reporting.THESIS_TABLES.items():
        part = df[df["table"] == table]
        assert set(part["noise"]) == {condition} and set(part["model"]) == set(pair), table
    # the source names the same table, row (the thesis' dataset label) and column (the model)
    for r in df.itertuples():
        m = re.fullmatch(r"Khan 2025, Table (4\.\d+), row (\w+), column (.+)", r.source)
        assert m and m.group(1) == r.table and m.group(2).lower() == r.dataset \
            and m.group(3) == r.model, r.source
    # written as printed: three decimals
    assert _csv("thesis_nmi_tables")["mean_nmi_over_ranks"].str.fullmatch(r"0\.\d{3}").all()


def test_thesis_table_4_1_and_4_2_files():
    t41 = published.thesis_datasets()
    assert list(t41["dataset"]) == ["blobs", "digits", "fmnist", "faces", "coil20"]
    assert t41["source"].str.contains(r"Table 4\.1, row ").all()
    assert all(f"row {n}," in s for n, s in zip(t41["thesis_name"], t41["source"]))
    t42 = published.thesis_settings()
    assert list(t42.index) == list(published.THESIS_SETTINGS)
    table_rows = t42["source"].str.startswith("Khan 2025, Table 4.2, row ")
    assert table_rows.sum() == 5 and t42.loc[~table_rows, "source"].str.startswith(
        "Khan 2025, Sec. 4.2, text").all()
    assert isinstance(t42.loc["ranks", "value"], tuple)


def test_metaprior_table_1_file():
    df = published.metaprior_table1()
    assert df.groupby("dataset").size().to_dict() == {"Jester": 9, "ML100K": 9, "ML1M": 9}
    for r in df.itertuples():
        assert r.source == f"Iwata 2021, Table 1, row {r.method}, column {r.dataset}"
    # the paper's method is in bold (among the best) on every dataset
    assert df[df["method"] == "Ours"]["bold"].all()
    assert _csv("metaprior_table1")[["mse", "se"]].stack().str.fullmatch(r"\d\.\d{3}").all()


def test_mlam_tables_file_keeps_the_entries_printed_as_more_than_one():
    df = published.mlam_tables()
    raw = _csv("mlam_tables")
    assert {t: len(df[df.table == t]) for t in published.MLAM_TABLES} == \
        {t: n for t, (_, n) in published.MLAM_TABLES.items()}
    bound = raw["relation"] == ">"
    assert bound.sum() == 22 and (raw.loc[bound, "value"] == "1").all()
    assert np.isinf(df.loc[bound.to_numpy(), "value"]).all()
    assert np.isfinite(df.loc[~bound.to_numpy(), "value"]).all()
    # the "> 1" entries are the failures the paper reports at high rank / factor dimension
    fails = df[np.isinf(df["value"])]
    assert set(fails["table"]) == {"II", "III"} and "MLAM" not in set(fails["method"])
    for r in df.itertuples():
        assert r.source.startswith(f"Xia et al. 2023, Table {r.table}, row {r.method}, column ")
    assert set(published.mlam_times()["method"]) == {"MLAM", "DMF", "UMF", "ALS", "SGD"}


#: Iwata 2021's settings file: the section each parameter is printed in (Sec. 4.1 the data and
#: protocol, 4.2 the method's settings, 4.3 the baselines).
IWATA_SECTIONS = {**{p: "4.1" for p in ("meta_training_fraction", "meta_validation_fraction",
                                         "n_test_matrices", "test_matrix_rows",
                                         "test_matrix_columns", "test_held_out_fraction",
                                         "n_splits")},
                  **{p: "4.3" for p in ("mf_rank", "mf_weight_decays")}}


def test_related_papers_settings_files():
    iw = published.metaprior_settings()
    assert list(iw.index) == list(published.METAPRIOR_SETTINGS)
    for parameter, r in iw.iterrows():
        section = IWATA_SECTIONS.get(parameter, "4.2")
        assert re.fullmatch(rf"Iwata 2021, Sec\. {re.escape(section)}, text \([^()]+: .+\)",
                            r.source), (parameter, r.source)
    xi = published.mlam_settings()
    assert list(xi.index) == list(published.MLAM_SETTINGS)
    for parameter, r in xi.iterrows():
        assert re.fullmatch(r"Xia et al\. 2023, (Sec\. V(-A[12]?|-B)?, text|Table (I|III), "
                            r"caption) \([^()]+: .+\)", r.source), (parameter, r.source)
    # each value has its kind: whole numbers stay whole, shares and rates are fractions
    for df, kinds in ((iw, published.METAPRIOR_SETTINGS), (xi, published.MLAM_SETTINGS)):
        for parameter, kind in kinds.items():
            value = df.loc[parameter, "value"]
            assert isinstance(value, {"int": int, "float": float, "floats": tuple}[kind]), \
                parameter
            if parameter.endswith(("_fraction", "_ratio", "_rate")):
                assert 0 < value < 1, parameter
    assert iw.loc["mf_weight_decays", "value"] == (1e-4, 1e-3, 1e-2, 1e-1, 1.0)
    # written as numbers: no percent sign, power of ten or thousands separator in a value
    for name in ("metaprior_settings", "mlam_settings"):
        assert _csv(name)["value"].str.fullmatch(r"\d+(\.\d+)?( \d+(\.\d+)?)*").all(), name


# -- the loaders refuse a malformed file, naming it ----------------------------------------------

def _broken(tmp_path, name, change):
    src = published.PUBLISHED_DIR / published.FILES[name][0]
    dst = tmp_path / src.name
    lines = src.read_text(encoding="utf-8").splitlines(keepends=True)
    dst.write_text("".join(change(lines)), encoding="utf-8")
    return dst


def _blank_source(lines):
    head, first = lines[0], lines[1]
    return [head, first[:first.index('"')] + '""\n', *lines[2:]]


def _not_a_number(lines):
    changed = re.sub(r"(?<=,)\d[\d. ]*(?=,)", "n/a", lines[1], count=1)
    assert changed != lines[1]
    return [lines[0], changed, *lines[2:]]


BREAKAGES = {
    "a row missing": lambda lines: lines[:-1],
    "a row twice": lambda lines: lines + lines[-1:],
    "a column renamed": lambda lines: [lines[0].replace("source", "reference"), *lines[1:]],
    "a source left empty": _blank_source,
    "a number not a number": _not_a_number,
    "another document cited": lambda lines: [lines[0], lines[1].replace('"', '"Smith 2020, ', 1),
                                             *lines[2:]],
}


@pytest.mark.parametrize("how", list(BREAKAGES))
@pytest.mark.parametrize("name", list(published.FILES))
def test_a_malformed_file_is_refused_with_its_name(tmp_path, name, how):
    path = _broken(tmp_path, name, BREAKAGES[how])
    with pytest.raises(published.PublishedFileError, match=re.escape(path.name)):
        LOADERS[name](path)


def test_a_missing_file_is_refused_with_its_name(tmp_path):
    with pytest.raises(published.PublishedFileError,
                       match=r"khan2025_tables_4_3-4_10\.csv.*missing"):
        published.thesis_nmi_tables(tmp_path / "khan2025_tables_4_3-4_10.csv")
    with pytest.raises(published.PublishedFileError, match="khan2025_tables_4_3-4_10.csv"):
        reporting.thesis_tables(tmp_path / "khan2025_tables_4_3-4_10.csv")


def test_the_checks_are_those_of_the_files_content(tmp_path):
    """Changes that keep the layout but break the content are refused too."""
    def swap_model(lines):  # a table with another model than its pair
        return [lines[0], lines[1].replace(",NMF,", ",GNMF,"), *lines[2:]]
    path = _broken(tmp_path, "thesis_nmi_tables", swap_model)
    with pytest.raises(published.PublishedFileError, match="repeated entries|Table 4.3"):
        published.thesis_nmi_tables(path)

    def out_of_range(lines):
        return [lines[0], lines[1].replace(",0.086,", ",1.086,"), *lines[2:]]
    path = _broken(tmp_path, "thesis_nmi_tables", out_of_range)
    with pytest.raises(published.PublishedFileError, match=r"outside \[0, 1\]"):
        published.thesis_nmi_tables(path)

    def bad_ranks(lines):
        return [lines[0], lines[1].replace("2 3 5", "2 three 5"), *lines[2:]]
    path = _broken(tmp_path, "thesis_settings", bad_ranks)
    with pytest.raises(published.PublishedFileError, match="ranks"):
        published.thesis_settings(path)

    def share_over_one(lines):
        return [lines[0], lines[1].replace(",0.7,", ",7,"), *lines[2:]]
    path = _broken(tmp_path, "metaprior_settings", share_over_one)
    with pytest.raises(published.PublishedFileError, match="share above 1"):
        published.metaprior_settings(path)

    def integer_as_decimal(lines):
        return [lines[0], lines[1].replace("lstm_layers,2,", "lstm_layers,2.5,"), *lines[2:]]
    path = _broken(tmp_path, "mlam_settings", integer_as_decimal)
    with pytest.raises(published.PublishedFileError, match="lstm_layers.*whole number"):
        published.mlam_settings(path)

    def negative(lines):
        return [lines[0], *[line.replace("em_tol,0.0001,", "em_tol,-0.0001,")
                            for line in lines[1:]]]
    path = _broken(tmp_path, "mlam_settings", negative)
    with pytest.raises(published.PublishedFileError, match="em_tol.*not positive"):
        published.mlam_settings(path)

    shutil.copy(published.PUBLISHED_DIR / "xia2023_table_iv.csv", tmp_path / "t.csv")
    (tmp_path / "t.csv").write_text("method,time_ms,source\n")
    with pytest.raises(published.PublishedFileError, match="t.csv.*expected 5 rows"):
        published.mlam_times(tmp_path / "t.csv")


# -- the book shows the files' numbers -----------------------------------------------------------

def test_reporting_reads_the_thesis_numbers_from_the_file():
    file = published.thesis_nmi_tables()
    thesis = reporting.thesis_tables()
    assert list(thesis.columns) == ["table", "noise", "dataset", "model", "thesis_nmi"]
    np.testing.assert_array_equal(thesis["thesis_nmi"], file["mean_nmi_over_ranks"])
    assert (thesis[["table", "noise", "dataset", "model"]]
            == file[["table", "noise", "dataset", "model"]]).all().all()


def _ours(value=0.5):
    """A mean_over_ranks frame with an entry for every dataset, condition and model."""
    return pd.DataFrame([dict(dataset=d, condition=c, model=m, ours=value, n_ranks=6,
                              sd_seeds=0.01, n_seeds=5)
                         for d in DATASETS for c in ("none", "added") for m in MODELS])


def test_side_by_side_thesis_column_is_the_file():
    sbs = reporting.side_by_side(_ours(), reporting.thesis_tables())
    file = published.thesis_nmi_tables().rename(columns={"noise": "condition"})
    both = sbs.merge(file, on=["table", "condition", "dataset", "model"], how="outer",
                     indicator=True)
    assert (both["_merge"] == "both").all() and len(both) == 80
    np.testing.assert_array_equal(both["thesis"], both["mean_nmi_over_ranks"])
    # and each of the book's tables shows the file's entries of that table
    for table in reporting.THESIS_TABLES:
        shown = reporting.display_table(sbs, table)
        for model in reporting.THESIS_TABLES[table][1]:
            want = file[(file.table == table) & (file.model == model)].set_index("dataset")
            want = want.reindex(list(DATASETS))["mean_nmi_over_ranks"].to_numpy()
            np.testing.assert_array_equal(shown[(model, "thesis")].to_numpy(), want)


def test_headline_and_claims_take_the_thesis_from_the_file():
    from metanmf_lab.grid import stats

    rows = pd.DataFrame([dict(dataset=d, condition=c, model=m, seed=s, rank=r, noise=0.0,
                              nmi=0.5 + 0.001 * s)
                         for d in DATASETS for c in ("none", "added") for m in MODELS
                         for s in range(3) for r in (2, 3)])
    thesis = reporting.thesis_tables()
    head = reporting.headline_table(rows, thesis)
    t = thesis.set_index(["dataset", "noise", "model"])["thesis_nmi"]
    name = {info.display_name: d for d, info in DATASETS.items()}
    for (pair, ds, cond), r in head.iterrows():
        base, meta = pair.split(" / ")
        c = "none" if cond == "no noise" else "added"
        assert r["thesis: baseline"] == t[(name[ds], c, base)]
        assert r["thesis: Meta"] == t[(name[ds], c, meta)]
    comparison = pd.DataFrame([dict(dataset="blobs", condition="none", reference="NMF",
                                    model="Meta-NMF", difference=0.0, low=-0.1, high=0.1,
                                    p_holm=1.0, direction=0, verdict="undecided")])
    claims = stats.claims(comparison, thesis)
    assert claims["thesis_difference"].iloc[0] == pytest.approx(
        t[("blobs", "none", "Meta-NMF")] - t[("blobs", "none", "NMF")])


def _notebook_cell(notebook, marker):
    """The source of the one cell of ``notebooks/<notebook>.ipynb`` that contains ``marker``."""
    nb = json.loads((PROJECT_ROOT / "notebooks" / f"{notebook}.ipynb").read_text())
    cells = ["".join(c["source"]) for c in nb["cells"] if marker in "".join(c["source"])]
    assert len(cells) == 1, (notebook, marker, len(cells))
    return cells[0]


def test_metaprior_chapter_sets_the_files_table_1_beside_ours():
    """The chapter's table on made-up results: its published column is the file's."""
    from metanmf_lab.book.chapters import metaprior as chapter

    rows = pd.DataFrame([dict(method=m, split=s, n_steps=10, mse=0.9 + 0.01 * s)
                         for m in ("ours", "MF", "Mean") for s in range(3)])
    file = published.metaprior_table1()
    shown = chapter.ml100k_table(chapter.ml100k_per_split(rows, 10), file)
    ml = file[file.dataset == "ML100K"].set_index("method")
    assert list(shown["paper"]) == [f"{ml.loc[m, 'mse']:.3f} ± {ml.loc[m, 'se']:.3f}"
                                    for m in ("Ours", "MF", "Mean")]
    source = inspect.getsource(chapter.values)
    assert "published.metaprior_table1()" in source
    assert 'published.where("metaprior_table1")' in source


def test_mlam_chapter_sets_the_files_tables_beside_ours():
    """The chapter's side_by_side on made-up results: the paper's rows are the file's."""
    from metanmf_lab.book.chapters import mlam as chapter

    summary = pd.DataFrame([dict(method=m, rate=r, mean=0.1) for m in ("MLAM", "ALS")
                            for r in (0.2, 0.4)])
    file = published.mlam_tables()
    shown = chapter.side_by_side(summary, file, "rate", "I").set_index(["method", "from"])
    cols = [c for c in shown.columns]
    for method in ("MLAM", "SGD", "ALS"):
        for rate, col in zip((0.2, 0.4), cols):
            v = file[(file.table == "I") & (file.method == method)
                     & (file.value_of == rate)]["value"].iloc[0]
            assert shown.loc[(method, chapter.PAPER), col] == chapter.paper_value(v)
    assert chapter.paper_value(np.inf) == ">1"  # the "> 1" entries are shown as such
    # the wall-time sentence's numbers come from Table IV's file
    source = inspect.getsource(chapter.values)
    assert "published.mlam_times()" in source and "published.mlam_tables()" in source


def _prose(notebook):
    """The Markdown of a chapter as a reader sees it typed: without glued values, roles,
    code (inline and the examples' fenced blocks) and the lines of directives."""
    nb = json.loads((PROJECT_ROOT / "notebooks" / f"{notebook}.ipynb").read_text())
    text = "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "markdown")
    text = re.sub(r"^```(?:python|bash)\n.*?^```", " ", text, flags=re.M | re.S)  # examples
    text = re.sub(r"\{[\w:-]+\}`[^`\n]*`", " ", text)  # {glue:text}`key`, {cite}`key`, ...
    text = re.sub(r"`[^`\n]*`", " ", text)
    return re.sub(r"^(```|:).*$", " ", text, flags=re.M)


def _typed_forms(value):
    """How a setting could be typed in prose: a percentage, a power of ten, a number of two
    or more digits (with or without a thousands separator). Single digits are too common in
    prose (equation numbers, "t = 0") to look for."""
    if isinstance(value, tuple):
        return [f for v in value for f in _typed_forms(v)]
    forms = []
    if isinstance(value, float) and value < 1:
        forms += [f"{100 * value:g}%", f"{100 * value:g} %", f"{value:g}", repr(value)]
        exponent = np.log10(value)
        if exponent == round(exponent):
            forms.append(f"10^{{{int(exponent)}}}")
    elif value >= 10:
        forms += [f"{value:g}", f"{value:,}"]
    return forms


def _settings_typed(prose, settings, notebook):
    """The ``settings`` (parameter -> value) that ``prose`` types, as messages."""
    found = []
    for parameter, value in settings.items():
        for form in sorted(set(_typed_forms(value))):
            hits = re.findall(rf"(?<![\w.^{{]){re.escape(form)}(?![\w}}]|\.\d)", prose)
            if hits and (form, notebook) not in SETTINGS_ALLOWED:
                found.append(f"{parameter}: {form!r} typed {len(hits)} time(s)")
    return found


#: (number as typed, chapter) -> why it is not a copy of the paper's setting.
SETTINGS_ALLOWED = {("100", "mlam"): "the NMF version's 100 outer iterations and 100 updates "
                                     "per block: our mlam.NMF_UPDATES",
                    ("10", "mlam"): "the NMF version's 10 updates per block and 10 outer "
                                    "iterations: our mlam.NMF_UPDATES",
                    ("10", "metaprior"): "the NMF version's t = 10: our eval_iters",
                    ("0.01", "metaprior"): "the verdicts' margin of +-0.01: ours (stats)"}


@pytest.mark.parametrize("notebook, loader", [("metaprior", "metaprior_settings"),
                                              ("mlam", "mlam_settings")])
def test_related_chapters_take_the_papers_settings_from_the_files(notebook, loader):
    """The settings of Iwata (2021) and Xia et al. (2023) that the chapters state are glued
    from the settings files, never typed."""
    import dataclasses
    import importlib

    chapter = importlib.import_module(f"metanmf_lab.book.chapters.{notebook}")
    assert f"published.{loader}()[\"value\"]" in inspect.getsource(chapter.values)
    found = _settings_typed(_prose(notebook), LOADERS[loader]()["value"], notebook)
    assert not found, f"{notebook}: the paper's settings typed by hand:\n" + "\n".join(found)
    # the prose pastes them: every paper_ key it uses is a field of the chapter's values
    nb = json.loads((PROJECT_ROOT / "notebooks" / f"{notebook}.ipynb").read_text())
    markdown = "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "markdown")
    keys = set(re.findall(r"\{glue:(?:text|md)\}`(paper_\w+)(?::myst)?`", markdown))
    assert len(keys) >= 2
    # a power of ten is pasted as MyST Markdown, so that its math renders
    assert all(k.endswith(":myst") for k in re.findall(r"\{glue:md\}`([^`]+)`", markdown))
    values = next(c for c in vars(chapter).values()
                  if dataclasses.is_dataclass(c) and c.__module__ == chapter.__name__
                  and c.__name__.endswith("Values"))
    fields = {f.name for f in dataclasses.fields(values)}
    assert keys <= fields, keys - fields


def test_the_settings_scan_finds_a_typed_setting():
    """The scan is not vacuous: the settings the chapters used to type are found, numbers that
    merely contain them are not."""
    iwata = published.metaprior_settings()["value"]
    typed = ("the source trains with Adam at $10^{-4}$ for 1,000 epochs, 70% of the users, "
             "$30 \\times 30$ episodes")
    found = {m.split(":")[0] for m in _settings_typed(typed, iwata, "metaprior")}
    assert {"adam_lr", "epochs", "meta_training_fraction", "train_rows"} <= found
    assert not _settings_typed("MovieLens 100K, 1300 users, 0.05, 10^{-45}, 170%", iwata,
                               "metaprior")
    xia = published.mlam_settings()["value"]
    found = {m.split(":")[0] for m in _settings_typed(
        "10 units instead of the source's 500, EM stops at $10^{-4}$", xia, "mlam")}
    assert {"lstm_hidden", "em_tol", "gmm_points"} <= found
    assert not _typed_forms(4)  # single digits are not looked for


def test_power_of_ten_reads_as_the_papers_print_it():
    from metanmf_lab.book.notebook import power_of_ten

    assert power_of_ten(1e-4) == "$10^{-4}$"
    assert power_of_ten(published.mlam_settings().loc["adam_lr", "value"]) == "$10^{-3}$"
    assert power_of_ten(3e-3) == "$3 \\cdot 10^{-3}$"
    assert power_of_ten(1000) == "$10^{3}$"
    with pytest.raises(ValueError, match="positive"):
        power_of_ten(0)


def test_notes_and_captions_say_where_the_numbers_come_from():
    """The chapters that set our numbers beside the thesis' name the file they come from
    (in the notebook, or in the chapter's module of ``metanmf_lab.book.chapters``)."""
    assert reporting.thesis_tables is not None
    for chapter, extra in (("tables", ()), ("results", ()), ("notes", ("notebook.py",))):
        sources = [PROJECT_ROOT / "notebooks" / f"{chapter}.ipynb",
                   PROJECT_ROOT / "metanmf_lab" / "book" / "chapters" / f"{chapter}.py",
                   *(PROJECT_ROOT / "metanmf_lab" / "book" / e for e in extra)]
        text = "".join(p.read_text() for p in sources if p.exists())
        assert re.search(r"where\(['\"]thesis_nmi_tables['\"]\)", text), chapter


# -- no published number is typed anywhere else --------------------------------------------------

#: Where the book's sources could type a number: the notebooks, the book's pages, the package.
SCANNED = sorted(PROJECT_ROOT.glob("notebooks/*.ipynb")) + sorted(
    PROJECT_ROOT.glob("book/*.md")) + sorted(PROJECT_ROOT.glob("metanmf_lab/*.py"))

#: Genuine coincidences: (number as written, file relative to the project) -> why it is not a
#: copy of the published number. Empty today.
ALLOWED = {}

#: The number columns of each file (what the scan looks for).
NUMBER_COLUMNS = {"thesis_nmi_tables": ["mean_nmi_over_ranks"],
                  "thesis_datasets": [], "thesis_settings": [],
                  "metaprior_table1": ["mse", "se"], "mlam_tables": ["value"],
                  "mlam_times": ["time_ms"],
                  # settings: too common to scan the whole project for (1e-4, 100, ...); the
                  # related chapters are scanned for them in their own test above
                  "metaprior_settings": [], "mlam_settings": []}


def _distinctive(text):
    """A number written with 3+ decimals (``0.869``), or with a decimal point and 3+
    significant digits (``12.64``): too specific to appear by chance."""
    return bool(re.fullmatch(r"\d+\.\d{3,}", text)) or bool(
        re.fullmatch(r"\d+\.\d+", text) and len(text.replace(".", "").lstrip("0")) >= 3)


def _published_numbers():
    out = set()
    for name, columns in NUMBER_COLUMNS.items():
        df = _csv(name)
        out |= {v for c in columns for v in df[c] if _distinctive(v)}
    return out


def _source_text(path):
    if path.suffix == ".ipynb":
        return "\n".join("".join(c["source"]) for c in json.loads(path.read_text())["cells"])
    return path.read_text(encoding="utf-8")


def _typed(numbers, text):
    """The published ``numbers`` written in ``text``, as (number, position)."""
    return [(v, m.start()) for v in sorted(numbers)
            for m in re.finditer(rf"(?<![\d.]){re.escape(v)}(?!\d)", text)]


def test_no_published_number_is_typed_elsewhere():
    numbers = _published_numbers()
    assert len(numbers) > 100  # the scan has something to look for
    found = []
    for path in SCANNED:
        text, rel = _source_text(path), str(path.relative_to(PROJECT_ROOT))
        found += [f"{rel}: {v} ...{text[max(0, at - 40):at + len(v)]!r}"
                  for v, at in _typed(numbers, text) if (v, rel) not in ALLOWED]
    assert not found, "published numbers typed by hand (take them from data/published):\n" + \
        "\n".join(found)


def test_the_scan_finds_a_typed_number():
    """The scan is not vacuous: a thesis number typed into prose or code is found, a longer
    number that merely contains it is not."""
    numbers = _published_numbers()
    typed = _csv("thesis_nmi_tables")["mean_nmi_over_ranks"].iloc[1]
    assert [v for v, _ in _typed(numbers, f'print("Blobs, Meta-NMF: thesis {typed}")')] == \
        [typed]
    assert not _typed(numbers, f"x = 1{typed}2")


# -- the code's copies of thesis Tables 4.1 and 4.2 ----------------------------------------------

#: Fields of DatasetInfo that thesis Table 4.1 does not give (deliberate, with the reason).
DATASET_FIELDS_NOT_IN_THE_THESIS = {
    "name": "the package's key",
    "display_name": "the name of Tables 4.3-4.10 (Table 4.1 says 'Olivetti Faces' for Faces)",
    "default_noise": "the thesis does not state its noise levels; ours are the authors' code's "
                     "or our choice (data chapter)",
    "image_shape": "not in Table 4.1; from the datasets' sources",
    "description": "the book's words for the data (a results chapter's first sentence)",
    "noise_from_authors": "where default_noise comes from (the authors' code or our choice)",
}

#: Fields of Settings that are not in thesis Table 4.2 / Sec. 4.2 (deliberate, with the reason).
SETTINGS_NOT_IN_THE_THESIS = {
    "task_size": "None: the protocol's size, checked below (thesis protocol = Table 4.2; the "
                 "authors'-code protocol's 100 is the code's)",
    "gnmf_lam": "the thesis names no graph weight (protocol default)",
    "n_neighbors": "the thesis names no graph (Cai et al.'s 5-nearest-neighbour graph)",
    "graph_weight": "the thesis names no graph weighting",
    "faces_size": "Table 4.1's 1024 features are the 32x32 default; 64 is an ablation",
    "dtype": "numerical precision, not a protocol setting",
    "kmeans_n_init": "the thesis does not say how k-means is run",
    "split_seed": "the authors' code's seed; the thesis gives none",
    "noise_seed": "the thesis gives no seed",
    "rescale_bases": "an exact rescaling of ours, not a protocol choice",
    "protocol_overrides": "ablation switches, empty by default",
    "fmnist_subset_seed": "the thesis does not say how its 6000 images were drawn",
    "noise_scale": "an ablation of the noise levels, 1 by default",
    "faces_eval_all": "a test of the measurement, off by default",
    "denominator_eps": "the authors' code's '+eps' denominators, a test of the raw scale",
    "engine": "how the cells are computed (per cell or batched), not a protocol setting",
}

#: Settings field -> its Table 4.2 parameter.
SETTINGS_FROM_TABLE_4_2 = {"n_epochs": "outer_epochs", "inner_iter": "inner_epochs",
                           "n_tasks": "n_meta_tasks", "baseline_iter": "baseline_iterations"}


def test_datasets_agree_with_thesis_table_4_1():
    t41 = published.thesis_datasets().set_index("dataset")
    assert list(t41.index) == list(DATASETS)
    for name, info in DATASETS.items():
        assert (info.n_samples, info.n_features, info.n_classes) == tuple(
            t41.loc[name, ["samples", "features", "classes"]]), name
    fields = {f.name for f in dataclasses.fields(next(iter(DATASETS.values())))}
    assert fields == {"n_samples", "n_features", "n_classes"} | set(
        DATASET_FIELDS_NOT_IN_THE_THESIS), "a new DatasetInfo field: is it in Table 4.1?"


def test_settings_agree_with_thesis_table_4_2():
    from metanmf_lab.core.protocols import THESIS
    from metanmf_lab.core.splits import learning_evaluation_split

    t42 = published.thesis_settings()["value"]
    s = Settings()
    for field, parameter in SETTINGS_FROM_TABLE_4_2.items():
        assert getattr(s, field) == t42[parameter], field
    assert tuple(THESIS_RANKS) == t42["ranks"]
    assert s.task_size is None and THESIS.task_size == t42["meta_task_size"]
    test_size = inspect.signature(learning_evaluation_split).parameters["test_size"].default
    assert 1 - test_size == t42["learning_fraction"]
    fields = {f.name for f in dataclasses.fields(Settings)}
    assert fields == set(SETTINGS_FROM_TABLE_4_2) | set(SETTINGS_NOT_IN_THE_THESIS), \
        "a new Settings field: is it in Table 4.2?"


# -- the related methods' settings against their papers -----------------------------------------

#: Fields of metaprior.ML100KSettings (and of TrainingSettings, which the NMF version shares)
#: that follow Iwata 2021: field -> the settings-file parameters it equals.
ML100K_FOLLOWS_IWATA = {
    "channels": ("channels",), "n_layers": ("exchangeable_layers",), "hidden": ("ff_hidden",),
    "ff_layers": ("ff_layers",), "dropout": ("dropout",), "n_steps": ("n_steps",),
    "size": ("train_rows", "train_columns", "test_matrix_rows", "test_matrix_columns"),
    "train_ratio": ("train_ratio",), "batch": ("batch_size",), "rank": ("rank", "mf_rank"),
    "eta": ("eta",), "n_test": ("n_test_matrices",)}

#: Fields that deliberately depart from Iwata 2021: field -> (parameter, why).
ML100K_DEPARTS_FROM_IWATA = {
    "lr": ("adam_lr", "a CPU budget: fewer iterations at a larger rate (the class docstring)"),
    "n_iter": ("epochs", "we count iterations of one batch each, with early stopping, and run "
                         "more of them at the larger rate"),
    "mf_regs": ("mf_weight_decays", "our MF is alternating least squares; its ridge weights, "
                                    "chosen on validation matrices, are ours"),
}

#: Fields Iwata 2021 gives no number for (deliberate, with the reason).
ML100K_NOT_IN_IWATA = {
    "lam": "the prior's weight lambda is learned; the paper gives no starting value",
    "eval_every": "how often early stopping looks at the validation episodes",
    "n_valid": "how many validation episodes it looks at",
    "eval_steps": "the numbers of steps of our Fig. 5 analogue",
}

#: NMFPriorSettings (the NMF version, not in the paper): its own fields, with the reason.
NMF_PRIOR_OWN = {"size": "sub-matrices of samples x pixels of the thesis' datasets",
                 "n_iter": "iterations of one batch each, for the NMF version",
                 "n_valid": "validation episodes of the NMF version",
                 "eval_every": "how often early stopping looks at them",
                 "eval_iters": "the MU iterations t the starts are compared at"}


def test_metaprior_settings_follow_or_depart_from_iwata_2021():
    from metanmf_lab.related import metaprior

    paper = published.metaprior_settings()["value"]
    s = metaprior.ML100KSettings()
    assert PROFILES["full"].ml100k == s  # the book's full profile: the defaults
    for field, parameters in ML100K_FOLLOWS_IWATA.items():
        for parameter in parameters:
            assert getattr(s, field) == paper[parameter], (field, parameter)
    for field, (parameter, _) in ML100K_DEPARTS_FROM_IWATA.items():
        ours = getattr(s, field)
        assert (set(ours) != set(paper[parameter]) if isinstance(ours, tuple)
                else ours != paper[parameter]), f"{field} now follows the paper: move it"
    assert s.lr > paper["adam_lr"]  # "the larger rate", as the chapter says
    fields = {f.name for f in dataclasses.fields(metaprior.ML100KSettings)}
    assert fields == set(ML100K_FOLLOWS_IWATA) | set(ML100K_DEPARTS_FROM_IWATA) | set(
        ML100K_NOT_IN_IWATA), "a new ML100KSettings field: does the paper give it?"
    # the protocol's functions follow Sec. 4.1 by default, and the full profile its ten splits
    fractions = inspect.signature(metaprior.split_users_items).parameters["fractions"].default
    assert fractions[:2] == (paper["meta_training_fraction"], paper["meta_validation_fraction"])
    assert sum(fractions) == pytest.approx(1)  # meta-test: the rest
    held_out = inspect.signature(metaprior.meta_test_matrices).parameters["held_out"].default
    assert held_out == paper["test_held_out_fraction"]
    assert len(PROFILES["full"].splits) == paper["n_splits"]
    # the NMF version keeps the paper's network and episodes, and our Adam rate
    nmf = metaprior.NMFPriorSettings()
    common = set(ML100K_FOLLOWS_IWATA) & {f.name for f in dataclasses.fields(nmf)}
    for field in common - set(NMF_PRIOR_OWN):
        for parameter in ML100K_FOLLOWS_IWATA[field]:
            assert getattr(nmf, field) == paper[parameter], (field, parameter)
    assert nmf.lr == s.lr != paper["adam_lr"]
    assert nmf.size != paper["train_rows"]
    nmf_fields = {f.name for f in dataclasses.fields(metaprior.NMFPriorSettings)}
    assert nmf_fields == (common - set(NMF_PRIOR_OWN)) | {"lr", "lam"} | set(NMF_PRIOR_OWN), \
        "a new NMFPriorSettings field: does the paper give it?"


#: Fields of mlam.MLAMSettings that follow Xia et al. 2023: field -> its parameters.
MLAM_FOLLOWS_XIA = {"n_layers": ("lstm_layers",), "n_outer": ("n_outer", "gmm_max_steps"),
                    "t_in": ("t_in",), "t_out": ("t_out",), "n_train": ("n_train",),
                    "n_test": ("n_test",), "gmm_k": ("gmm_k",),
                    "gmm_points": ("gmm_points",), "em_tol": ("em_tol",)}

#: Fields that deliberately depart from Xia et al. 2023: field -> (parameter, why).
MLAM_DEPARTS_FROM_XIA = {
    "hidden": ("lstm_hidden", "a 2-core CPU budget: a step's cost grows with the square of "
                              "the width"),
    "lr": ("adam_lr", "trained better than the paper's rate in a trial with so few updates"),
}

#: Fields Xia et al. 2023 gives no number for (deliberate, with the reason).
MLAM_NOT_IN_XIA = {
    "out_scale": "the scale of the LSTMs' output step",
    "n_epochs": "passes over the training problems (the paper does not say)",
    "batch": "training problems per update (the paper does not say)",
    "lam": "eq. (13)'s ridge weight (the paper does not say)",
    "gd_lrs": "GD's step sizes, chosen on the training problems",
    "als_lams": "ridge weights of ALS (tuned ridge)",
    "inner_start": "not a number: inner loops continue from the block's value (the paper's "
                   "text restarts them at random, which 'random' offers)",
    "gmm_spread": "how the mixtures' means are drawn (the paper does not say)",
    "nmf_rows": "the NMF version, ours",
    "nmf_train_outer": "the NMF version, ours",
}


def test_mlam_settings_follow_or_depart_from_xia_2023():
    from metanmf_lab.related import mlam

    paper = published.mlam_settings()["value"]
    s = mlam.MLAMSettings()
    assert PROFILES["full"].mlam == s
    for field, parameters in MLAM_FOLLOWS_XIA.items():
        for parameter in parameters:
            assert getattr(s, field) == paper[parameter], (field, parameter)
    for field, (parameter, _) in MLAM_DEPARTS_FROM_XIA.items():
        assert getattr(s, field) != paper[parameter], f"{field} now follows the paper: move it"
    assert s.hidden < paper["lstm_hidden"]
    fields = {f.name for f in dataclasses.fields(mlam.MLAMSettings)}
    assert fields == set(MLAM_FOLLOWS_XIA) | set(MLAM_DEPARTS_FROM_XIA) | set(
        MLAM_NOT_IN_XIA), "a new MLAMSettings field: does the paper give it?"
    # the problems and the book's cells: the paper's sizes, ranks, rate and table columns
    size = inspect.signature(mlam.completion_problems).parameters["size"].default
    assert size == paper["matrix_size"]
    assert inspect.signature(mlam.gmm_problems).parameters["n_points"].default == \
        paper["gmm_points"] and inspect.signature(mlam.gmm_problems).parameters[
            "K"].default == paper["gmm_k"]
    tables = published.mlam_tables()
    columns = {t: set(tables[tables.table == t].value_of) for t in ("I", "II", "III", "VI")}
    cells = PROFILES["full"].mlam_cells
    completion = [p for e, p, _ in cells if e == "completion"]
    table_i = [p for p in completion if p["rank"] == p["p"] == paper["table_i_rank"]]
    assert {p["rate"] for p in table_i} == columns["I"]
    big = [p for p in completion if p["rank"] != paper["table_i_rank"] or
           p["p"] != paper["table_i_rank"]]
    assert big and all(p["rate"] == paper["table_ii_rate"] for p in big)
    assert set(mlam.BIG_RANKS) <= columns["II"] and set(mlam.BIG_PS) <= columns["III"]
    assert {p["rank"] for p in big if p["p"] != p["rank"]} == {paper["table_iii_rank"]}
    assert {p["dim"] for e, p, _ in cells if e == "gmm"} >= columns["VI"]
    # the full profile runs fewer problems per cell than the paper's (the chapter's captions
    # give how many): a CPU budget
    assert all(p["n_train"] <= paper["n_train"] and p["n_test"] <= paper["n_test"]
               for _, p, _ in cells)
