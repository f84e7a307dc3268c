"""How a page shows an executed chapter: plumbing removed, other code folded, teaching code
shown, a rerun note under the title; tables without index or NaN, captioned as tables."""

import nbformat
import numpy as np
import pandas as pd
from metanmf_lab.book import display, pipeline


def _nb():
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# Title"),
                nbformat.v4.new_code_cell("profile = 'full'", metadata={"tags": ["parameters"]}),
                nbformat.v4.new_code_cell("profile = 'smoke'",
                                          metadata={"tags": ["injected-parameters"]}),
                nbformat.v4.new_code_cell("print(1)", metadata={"tags": [pipeline.CHECK_TAG]}),
                nbformat.v4.new_code_cell("glue('x', 1)"),
                nbformat.v4.new_code_cell("MetaNMF(5).fit(X)", metadata={"tags": ["teach"]}),
                nbformat.v4.new_code_cell("x = 1", metadata={"tags": ["remove-input"]}),
                nbformat.v4.new_markdown_cell("Text.")]
    return nb


def test_page_view_removes_plumbing_folds_code_and_shows_teaching():
    nb = pipeline.page_view(_nb(), note="NOTE")
    tags = [c.metadata.get("tags", []) for c in nb.cells]
    assert nb.cells[1].source == "NOTE" and nb.cells[1].cell_type == "markdown"
    assert all("remove-cell" in t for t in tags[2:5])
    assert "hide-input" in tags[5] and "remove-cell" not in tags[5]
    assert tags[6] == ["teach"]  # shown as it is
    assert tags[7] == ["remove-input"]  # a display tag of its own is kept
    assert nb.cells[-1].source == "Text."


def test_golden_copy_keeps_code_only_and_no_display_tags():
    nb = pipeline.page_view(_nb(), note="NOTE")
    golden = pipeline.golden_copy(nb)
    assert all(c.cell_type == "code" for c in golden.cells)
    assert [c.metadata.get("tags", []) for c in golden.cells] == [
        ["parameters"], ["injected-parameters"], [pipeline.CHECK_TAG], [], [], []]


def test_rerun_note_names_the_notebook_and_its_parameters():
    note = pipeline.rerun_note("results.ipynb", {"dataset": "faces", "profile": "full"})
    assert note.startswith(":::{admonition} Rerun this chapter\n:class: dropdown")
    assert '`dataset = "faces"`' in note and "make lab" in note
    command = " ".join(note.split("```bash")[1].split("```")[0].replace("\\\n", " ").split())
    assert command == (".venv/bin/python -m metanmf_lab.book.pipeline run notebooks/results.ipynb "
                       "results-faces.ipynb -p dataset faces --html")
    block = note.split("```bash")[1].split("```")[0]
    assert max(len(line) for line in block.splitlines()) <= 70  # not clipped on the page
    assert "profile" not in note.split("```bash")[1]
    assert "set " not in pipeline.rerun_note("tables.ipynb", {})


def test_table_has_human_headers_no_index_and_no_nan():
    df = pd.DataFrame({"p_holm": [0.01234, np.nan], "n_seeds": [3, 12000], "ok": [True, False],
                       2.0: [1.5, 2.25]}, index=[7, 9])
    html = display.table(df, headers={"ok": "significant"}).to_html()
    for text in ("p holm", "n seeds", "significant", ">2<", "0.012", "12,000", "yes", "1.500",
                 display.MISSING):
        assert text in html, text
    assert "nan" not in html.lower() and ">7<" not in html  # no NaN, no pandas index
    assert display.table(df).to_html() == display.table(df.copy()).to_html()  # stable ids


def test_table_index_kept_on_request():
    df = pd.DataFrame({"nmi": [0.5]}, index=pd.Index(["digits"], name="dataset"))
    html = display.table(df, index=True).to_html()
    assert "dataset" in html and "digits" in html and "0.500" in html


def test_save_csv_writes_beside_the_executed_chapter_only(tmp_path, monkeypatch):
    df = pd.DataFrame({"a": [1.123456789]})
    monkeypatch.delenv(pipeline.EXECUTED_ENV, raising=False)
    assert display.save_csv(df, "x.csv") == "x.csv" and not (tmp_path / "x.csv").exists()
    monkeypatch.setenv(pipeline.EXECUTED_ENV, str(tmp_path))
    display.save_csv(df, "x.csv")
    assert (tmp_path / "x.csv").read_text() == "a\n1.123456789\n"
