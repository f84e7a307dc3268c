"""One verdict per comparison: the hypotheses, tables, conclusions and statistics chapters read
their verdicts from one computation
(:func:`metanmf_lab.book.chapters.verdicts.clustering_verdicts`), the rule states the real counts,
and the chapters' sentences, tables and figures say what
their data say (smoke profile: the stores under _build/, computed where missing)."""

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from metanmf_lab.book import display  # noqa: E402
from metanmf_lab.book import notebook as nb  # noqa: E402
from metanmf_lab.book.chapters import (  # noqa: E402
    Prose, conclusions, hypotheses, statistics, tables)
from metanmf_lab.book.chapters import verdicts as V  # noqa: E402
from metanmf_lab.data.datasets import DATASETS  # noqa: E402
from metanmf_lab.grid.catalogue import PAIRS  # noqa: E402
from metanmf_lab.grid.reporting import THESIS_TABLES  # noqa: E402

KEY = ["model", "reference", "dataset", "condition"]

HYPOTHESES = dict(profile="smoke", datasets=[], ranks=[], seeds=[], fair_datasets=[],
                  pair_seeds=[], pair_datasets=[], noise_datasets=[], noise_ranks=[],
                  noise_levels=[0.0, 0.1, 0.2, 0.4, 0.6], basis_datasets=[], basis_rank=10,
                  face_rank=18, n_jobs=1)
CONCLUSIONS = dict(HYPOTHESES, ablation_datasets=[], ablation_seeds=[], authors_datasets=[])
TABLES = dict(profile="smoke", protocol="thesis", datasets=[], ranks=[], seeds=[], n_jobs=1)


def _params(**declared):
    ns = {"__annotations__": {k: type(v) for k, v in declared.items()}, **declared}
    return nb.check_parameters(ns)


@pytest.fixture(scope="module")
def chapters():
    nb.setup_plotting()
    P = _params(**HYPOTHESES)
    H = nb.hypotheses(P)
    C = _params(**CONCLUSIONS)
    return dict(P=P, H=H, hyp=hypotheses.values(P, H), stat=statistics.values(P, H),
                tab=tables.values(_params(**TABLES)),
                con=conclusions.values(C, nb.hypotheses(C), nb.notes(C)))


def _verdicts(frame):
    return frame.set_index(KEY)[["verdict", "p_holm", "n_seeds"]].sort_index()


def test_every_chapter_gives_the_same_verdict(chapters):
    _, book = V.clustering_verdicts(chapters["P"])
    book = _verdicts(book)
    for name in ("hyp", "stat", "con"):
        pd.testing.assert_frame_equal(_verdicts(chapters[name]._verdicts), book)
    mine = _verdicts(chapters["tab"]._verdicts)  # the thesis-baseline comparisons of the same
    assert len(mine) and (chapters["tab"]._verdicts["kind"] == "thesis baseline").all()
    pd.testing.assert_frame_equal(mine, book.loc[mine.index])
    # ... and one family: the tables chapter's p-values are adjusted over all of them
    assert len(mine) < len(book)


def test_the_shown_tables_carry_the_same_verdicts(chapters):
    book = chapters["hyp"]._verdicts.set_index(["kind"] + KEY)["verdict"]
    names = {d.display_name: k for k, d in DATASETS.items()}

    for table, (cond, (base, meta)) in THESIS_TABLES.items():
        shown = getattr(chapters["tab"], f"table_{table.replace('.', '_')}").data
        for ds_name, verdict in zip(shown[("", "dataset")], shown[("", "verdict")]):
            key = ("thesis baseline", meta, base, names[ds_name], cond)
            assert verdict == (book[key] if key in book.index else display.MISSING)
    for base, meta in [PAIRS[0], PAIRS[2]]:
        shown = getattr(chapters["con"], f"table_{statistics.table_name(meta)}").data
        for r in shown.itertuples(index=False):
            ds = names[r[0]]
            cond = "none" if r[1] == "none" else "added"
            cell = r[3]  # "vs thesis baseline": "+0.02 [-0.01, +0.05] better"
            assert cell.split("] ", 1)[1] == book[("thesis baseline", meta, base, ds, cond)]


def test_claims_are_the_same_in_tables_and_conclusions(chapters):
    a = chapters["tab"]._claims.set_index(KEY)["status"].sort_index()
    b = chapters["con"]._claims.set_index(KEY)["status"].sort_index()
    pd.testing.assert_series_equal(a, b)
    assert chapters["tab"].n_claims == chapters["con"].n_claims == chapters["stat"].n_claims


def test_rule_states_the_real_counts(chapters):
    v = chapters["hyp"]._verdicts
    text = chapters["hyp"].rule
    assert isinstance(text, Prose) and text == V.rule(v)
    assert f"all {len(v)} comparisons" in text
    heads = v["model"].isin(["Meta-NMF", "Meta-GNMF NNDSVD"])
    for n in set(v.loc[heads, "n_seeds"]) | set(v.loc[~heads, "n_seeds"]):
        assert str(int(n)) in text
    tiny = pd.DataFrame({"model": ["Meta-NMF", "Meta-NMF", "Meta-GNMF"], "n_seeds": [10, 10, 5]})
    text = V.rule(tiny)
    assert "all 3 comparisons" in text and "10 for the two headline" in text
    assert "5 for the other two" in text


def test_the_authors_protocol_says_its_verdicts_are_its_own(monkeypatch):
    def forbidden(params):
        raise AssertionError("the book's verdicts are of the thesis protocol")

    monkeypatch.setattr(V, "clustering_verdicts", forbidden)
    T = tables.values(_params(profile="smoke", protocol="authors", datasets=["digits"],
                              ranks=[2], seeds=[0, 1], n_jobs=1))
    assert "this run only" in T.verdict_source and "not the book's" in T.verdict_source
    assert (T._verdicts["kind"] == "thesis baseline").all() and T.n_comparisons == 8
    both = pd.DataFrame({"model": ["Meta-NMF"], "n_seeds": [10]})
    assert "the book's" in tables.verdict_source(both, 160, "thesis")
    assert "160" in tables.verdict_source(both, 160, "thesis")


def test_chapter_figures_fit_the_column_and_are_readable(chapters):
    from matplotlib.figure import Figure

    for name in ("hyp", "tab"):
        for field, value in vars(chapters[name]).items():
            if isinstance(value, Figure):
                assert value.get_figwidth() <= 6.6 + 1e-9, field
                assert display.smallest_text_px(value) >= display.MIN_FONT_PX, field


def test_tables_have_human_headers_and_fit(chapters):
    for name in ("hyp", "tab", "con", "stat"):
        for field, value in vars(chapters[name]).items():
            if field.startswith("table_"):
                cols = value.data.columns
                assert len(cols) <= 8, field
                flat = [c for col in cols for c in (col if isinstance(col, tuple) else (col,))]
                assert not any("_" in str(c) for c in flat), field
                assert "nan" not in value.to_html().lower(), field


# -- the sentences, on small frames --------------------------------------------------------

def _clustering(verdicts_by_kind):
    rows = []
    for kind, vs in verdicts_by_kind.items():
        for i, v in enumerate(vs):
            rows.append(dict(model="Meta-NMF", reference=kind, kind=kind, dataset="digits",
                             condition=("none", "added")[i % 2], verdict=v, difference=0.01,
                             low=0.0, high=0.02, p_holm=0.01, n_seeds=10))
    return pd.DataFrame(rows)


def test_kinds_sentence_counts_each_kind():
    c = _clustering({"thesis baseline": ["better", "better", "worse"],
                     "equal compute": ["no difference", "undecided", "better"],
                     "warm start": ["worse", "no difference", "no difference"]})
    summary = pd.DataFrame({"question": [f"NMI: Meta model vs {k}" for k in
                                         ("thesis baseline", "equal compute", "warm start")],
                            "reading": ["supported", "mixed", "contradicted"]})
    text = hypotheses.kinds_sentence(c, summary)
    assert "better in 2 of 3 comparisons and worse in 1 (*supported*)" in text
    assert "better in 1, worse in 0 and indistinguishable in 1 of 3 (*mixed*)" in text
    assert "better in 0, worse in 1 and indistinguishable in 2 of 3 (*contradicted*)" in text


def test_pair_where_and_fair_note():
    assert hypotheses.pair_where(["digits", "faces"], ["digits", "faces"]) == "on every dataset"
    text = hypotheses.pair_where(["digits", "faces"], ["digits"])
    assert text.startswith("on Digits") and "on Faces their further seeds" in text
    assert hypotheses.fair_note(["digits"], ["digits"]) == ""
    assert "Faces" in hypotheses.fair_note(["digits", "faces"], ["digits"])


def test_spread_and_noise_and_parts_sentences():
    spread = pd.DataFrame({"reference_sd": [0.01, 0.02], "model_sd": [0.005, 0.03],
                           "verdict": ["less spread", "undecided"]})
    text = hypotheses.spread_sentence(spread, "mixed", 0.03)
    assert "in 1 of the 2 comparisons, significantly so in 1" in text
    assert "at most 0.030 NMI" not in text and "The largest spread is 0.030" in text
    assert "at most 0.020" in hypotheses.spread_sentence(spread.assign(model_sd=0.004),
                                                         "mixed", 0.03)
    noise = pd.DataFrame({"verdict": ["better", "worse", "worse"]})
    assert "in 1 and more in 2 (*contradicted*)" in hypotheses.noise_sentence(noise,
                                                                               "contradicted")
    parts = pd.DataFrame({"measure": ["hoyer", "hoyer", "spread", "spread"],
                          "verdict": ["better", "worse", "worse", "undecided"]})
    text = hypotheses.parts_sentence(parts, "mixed", "supported")
    assert "sparser in 1 and less sparse in 1" in text and "more local in 1" in text
    assert "both directions" in text
    same = hypotheses.parts_sentence(parts.assign(verdict=["better", "undecided", "worse",
                                                           "undecided"]), "a", "b")
    assert "same way" in same


def test_more_compute_sentences():
    mc = pd.DataFrame({"reference": ["NMF", "NMF NNDSVD", "GNMF", "GNMF NNDSVD"],
                       "verdict": ["better", "better", "worse", "undecided"]})
    text = hypotheses.more_compute_sentence(mc, 100)
    assert "NMF is better in 2 and worse in 0 of its 2" in text
    assert "GNMF is better in 0 and worse in 1 of its 2" in text and "says little" in text
    assert "1 of 2 GNMF cases and 0 of 2 NMF cases" in conclusions.weak_baseline_sentence(mc)
    fine = mc.assign(verdict="better")
    assert "fair test" in hypotheses.more_compute_sentence(fine, 100)
    assert "fair test" in conclusions.weak_baseline_sentence(fine)


def test_headline_sentence_and_table():
    rows = []
    for kind, ref, verdict in (("thesis baseline", "NMF", "better"),
                               ("equal compute", "NMF (equal compute)", "undecided"),
                               ("warm start", "NMF (warm start)", "worse")):
        for ds in ("faces", "digits"):
            rows.append(dict(model="Meta-NMF", reference=ref, kind=kind, dataset=ds,
                             condition="none", verdict=verdict, difference=0.02,
                             low=-0.01, high=0.05))
    v = pd.DataFrame(rows)
    text = conclusions.headline_sentence(v, "NMF", "Meta-NMF")
    assert text.startswith("**Meta-NMF** is significantly better than NMF in 2 of 2")
    assert "worse in 2)" in text and "neither" in text
    v.loc[v["kind"] == "warm start", "verdict"] = "better"
    text = conclusions.headline_sentence(v, "NMF", "Meta-NMF")
    assert "beats the warm start on Digits (no noise), Faces (no noise)" in text  # book order
    thesis = pd.DataFrame({"dataset": ["digits", "digits"], "noise": ["none", "none"],
                           "model": ["NMF", "Meta-NMF"], "thesis_nmi": [0.5, 0.55]})
    table = conclusions.headline_table(v, thesis, "NMF", "Meta-NMF")
    assert list(table["dataset"]) == ["Digits", "Faces"]
    assert table.iloc[0]["thesis"] == "+0.050" and table.iloc[1]["thesis"] == "–"
    assert table.iloc[0]["vs thesis baseline"] == "+0.02 [−0.01, +0.05] better"


def test_cells_and_summary_table():
    assert statistics.interval_text(0.012, -0.003, 0.027) == "+0.012 [−0.003, +0.027]"
    assert statistics.interval_text(0.012, np.nan, np.nan) == "+0.012"
    assert statistics.p_text(np.nan) == "–" and statistics.p_text(0.00312) == "0.0031"
    counts = statistics.verdict_counts(_clustering({"warm start": ["better", "worse"]}))
    assert list(counts.columns) == ["kind", "comparisons", "better", "worse", "no difference",
                                    "undecided"]
    assert counts.set_index("kind").loc["warm start", "comparisons"] == 2
    assert counts.set_index("kind").loc["thesis baseline", "comparisons"] == 0
    summary = pd.DataFrame({"hypothesis": [1], "question": ["NMI: Meta model vs warm start"],
                            "comparisons": [4], "better": [1], "worse": [1],
                            "no_difference": [1], "undecided": [1], "reading": ["mixed"]})
    html = hypotheses.summary_table(summary).to_html()
    assert "NMI vs warm start" in html and "no_difference" not in html
