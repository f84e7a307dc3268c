"""The catalogues: the model catalogue gives the model lists of before, the README's module
table and the book's "what is implemented" table are what the package generates."""

import pytest

from metanmf_lab.book import catalogue, display
from metanmf_lab.data.datasets import DATA_FILES, DATASETS
from metanmf_lab.grid.catalogue import (ALL_MODELS, CATALOGUE, FAIR_BASELINES, FAIR_MODELS,
                                        FAMILIES, HEADLINE_PAIRS, INITS, KINDS, MODELS, PAIRS,
                                        REFERENCE_KINDS, model_info, model_kind, parse_model,
                                        reference_kind)

# The catalogue's values as they were typed before it (same values, same order).
TYPED_MODELS = ("NMF", "Meta-NMF", "GNMF", "Meta-GNMF", "NMF NNDSVD", "Meta-NMF NNDSVD",
                "GNMF NNDSVD", "Meta-GNMF NNDSVD")
TYPED_FAIR_MODELS = ("NMF (equal compute)", "NMF NNDSVD (equal compute)",
                     "GNMF (equal compute)", "GNMF NNDSVD (equal compute)", "NMF (warm start)",
                     "NMF NNDSVD (warm start)", "GNMF (warm start)",
                     "GNMF NNDSVD (warm start)")
TYPED_FAIR_BASELINES = {
    "Meta-NMF": ("NMF (equal compute)", "NMF NNDSVD (equal compute)", "NMF (warm start)"),
    "Meta-NMF NNDSVD": ("NMF NNDSVD (equal compute)", "NMF (equal compute)",
                        "NMF NNDSVD (warm start)"),
    "Meta-GNMF": ("GNMF (equal compute)", "GNMF NNDSVD (equal compute)", "GNMF (warm start)"),
    "Meta-GNMF NNDSVD": ("GNMF NNDSVD (equal compute)", "GNMF (equal compute)",
                         "GNMF NNDSVD (warm start)"),
}
TYPED_PAIRS = (("NMF", "Meta-NMF"), ("GNMF", "Meta-GNMF"), ("GNMF NNDSVD", "Meta-GNMF NNDSVD"),
               ("NMF NNDSVD", "Meta-NMF NNDSVD"))
# The thesis' tables of each pair, without and with noise (data/published/).
TYPED_TABLES = {"Meta-NMF": ("4.3", "4.7"), "Meta-GNMF": ("4.4", "4.8"),
                "Meta-GNMF NNDSVD": ("4.5", "4.10"), "Meta-NMF NNDSVD": ("4.6", "4.9")}


def test_catalogue_gives_the_typed_lists_in_their_order():
    assert MODELS == TYPED_MODELS and FAIR_MODELS == TYPED_FAIR_MODELS
    assert ALL_MODELS == MODELS + FAIR_MODELS == tuple(CATALOGUE)
    assert list(FAIR_BASELINES.items()) == list(TYPED_FAIR_BASELINES.items())
    assert PAIRS == TYPED_PAIRS
    assert HEADLINE_PAIRS == (TYPED_PAIRS[0], TYPED_PAIRS[2])
    assert {m: CATALOGUE[m].tables for _, m in PAIRS} == TYPED_TABLES


def test_model_kind_and_parse_model_are_the_names_reading():
    for name in ALL_MODELS:
        meta = name.startswith("Meta-")
        kind = "meta" if meta else "equal_compute" if name.endswith("(equal compute)") else \
            "warm_start" if name.endswith("(warm start)") else "baseline"
        stem = (name[5:] if meta else name).split(" (")[0]
        family = "gnmf" if stem.startswith("GNMF") else "nmf"
        init = "nndsvd" if stem.endswith("NNDSVD") else "random"
        assert model_kind(name) == kind and parse_model(name) == (meta, family, init), name
        assert model_info(name.lower()) is CATALOGUE[name]
    with pytest.raises(ValueError, match="Unknown model 'KL-NMF'"):
        model_kind("KL-NMF")


def test_every_entry_is_consistent():
    for m in CATALOGUE.values():
        assert m.kind in KINDS and m.family in FAMILIES and m.init in INITS
        if m.kind == "baseline":
            assert m.base is None and not m.fair and not m.tables
            continue
        base = CATALOGUE[m.base]
        assert base.kind == "baseline" and (base.family, base.init) == (m.family, m.init)
        if m.kind != "meta":
            assert not m.fair and not m.tables and not m.headline
            continue
        other = next(b for b in CATALOGUE.values() if b.kind == "baseline"
                     and b.family == m.family and b.init != m.init)
        assert m.fair == tuple(f"{n} ({k})" for n, k in (
            (m.base, "equal compute"), (other.name, "equal compute"), (m.base, "warm start")))
        assert [reference_kind(r, m.name) for r in (m.base,) + m.fair] == list(REFERENCE_KINDS)


def test_readme_module_table_is_generated():
    text = catalogue.README.read_text()
    assert catalogue.BEGIN in text and catalogue.END in text
    assert catalogue.readme_with_table(text) == text, (
        f"README.md's module table is not the package's: run `{catalogue.COMMAND}`")


def test_module_table_has_every_public_module_once():
    modules = catalogue.public_modules()
    assert modules[0] == "metanmf_lab" and len(set(modules)) == len(modules)
    assert [m for m in modules if m.count(".") == 1] == [
        f"metanmf_lab.{layer}" for layer in catalogue.LAYERS]
    assert "metanmf_lab.grid.catalogue" in modules and "metanmf_lab.book.chapters" in modules
    assert not [m for m in modules if "._" in m or m.startswith("metanmf_lab.book.chapters.")]
    table = catalogue.module_table().splitlines()
    assert len(table) == 2 + len(modules)
    assert all(row.count(" | ") == 1 for row in table[2:])  # no stray pipe in a cell


def test_summary_reads_rest_as_markdown():
    assert catalogue._literal(catalogue._ROLE.search(":func:`~a.b.c`")) == "``c``"
    assert catalogue._literal(catalogue._ROLE.search(":mod:`a.b`")) == "``a.b``"
    assert catalogue._markdown("``x`` | y") == "`x` \\| y"
    assert catalogue.summary("metanmf_lab.grid.verdicts").endswith("(``compare_rows``).")


def test_main_checks_and_writes(tmp_path, monkeypatch, capsys):
    readme = tmp_path / "README.md"
    readme.write_text(f"# x\n\n{catalogue.BEGIN}\n| old |\n{catalogue.END}\n\nrest\n")
    monkeypatch.setattr(catalogue, "README", readme)
    assert catalogue.main(["--check"]) == 1
    assert catalogue.COMMAND in capsys.readouterr().err
    assert catalogue.main(["--write"]) == 0
    assert catalogue.main(["--check"]) == 0
    assert readme.read_text().endswith(f"{catalogue.END}\n\nrest\n")
    readme.write_text("no markers\n")
    assert catalogue.main(["--check"]) == 2


def test_implemented_table_comes_from_the_catalogues():
    t = catalogue.implemented()
    assert list(t.columns) == ["what", "implementation", "chapters"]
    assert len(t) <= display.MAX_ROWS and t.notna().all().all()
    models = " ".join(t["what"].iloc[:len(KINDS)])
    assert all(name in models for name in ALL_MODELS)
    assert all(d.display_name in t["what"].iloc[len(KINDS)] for d in DATASETS.values())
    related = [m for m in catalogue.public_modules() if m.startswith("metanmf_lab.related.")]
    assert set(related) <= set(t["implementation"])
    assert t["implementation"].iloc[1] == "metanmf_lab.core: MetaNMF(base=NMF), " \
                                          "MetaNMF(base=GNMF)"
    assert "Related method: meta-learned priors" in t.set_index("implementation").loc[
        "metanmf_lab.related.metaprior", "chapters"]
    assert "``" not in "".join(t["what"])


def test_chapter_titles_are_the_notebooks_headings():
    assert catalogue.chapter_title("results") == "Results per dataset"  # book/results.md
    assert catalogue.chapter_title("notes").startswith("Reproduction notes")


def test_adding_a_dataset_is_one_entry():
    from metanmf_lab.data import datasets

    assert tuple(DATASETS) == tuple(info.name for info, _, _ in datasets._BUILT_IN)
    assert {n: f for n, f in DATA_FILES.items() if n in DATASETS} == {
        info.name: files for info, files, _ in datasets._BUILT_IN if files}
