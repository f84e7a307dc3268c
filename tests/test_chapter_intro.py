"""The introduction's values (metanmf_lab.chapters.intro) and the book's one verdict rule
(metanmf_lab.book.chapters.verdicts)."""

import matplotlib

matplotlib.use("Agg")

import pandas as pd
import papermill

from metanmf_lab.book import display
from metanmf_lab.grid.catalogue import REFERENCE_KINDS
from metanmf_lab.book.chapters import Prose
from metanmf_lab.book.chapters import intro, verdicts
from metanmf_lab.grid.catalogue import FAIR_BASELINES, PAIRS
from metanmf_lab.book.notebook import check_parameters
from metanmf_lab.book.profiles import PROFILES
from metanmf_lab.book.plotting import headline_differences

from metanmf_lab._config import PROJECT_ROOT


def fake_verdicts(better_everywhere=(("Meta-NMF", "digits", "none"),), warm="no difference"):
    """A verdict table like compare_rows': every Meta model x reference x dataset x condition;
    thesis baseline "better", equal compute "worse", warm start ``warm``, other init
    "undecided", except the entries of ``better_everywhere`` (better than every reference)."""
    rows = []
    for base, meta in PAIRS:
        for ref, kind in zip((base,) + FAIR_BASELINES[meta], REFERENCE_KINDS):
            for d in ("blobs", "digits"):
                for c in ("none", "added"):
                    v = {"thesis baseline": "better", "equal compute": "worse",
                         "warm start": warm}.get(kind, "undecided")
                    if (meta, d, c) in better_everywhere:
                        v = "better"
                    diff = {"better": 0.05, "worse": -0.05}.get(v, 0.0)
                    rows.append(dict(dataset=d, condition=c, reference=ref, model=meta,
                                     kind=kind, n_seeds=10 if meta == "Meta-NMF" else 5,
                                     difference=diff, low=diff - 0.02, high=diff + 0.02,
                                     verdict=v))
    return pd.DataFrame(rows)


def test_counts_and_beats_all():
    v = fake_verdicts()
    c = intro.counts_by_kind(v)
    assert list(c.index) == list(REFERENCE_KINDS)
    assert c.loc["thesis baseline", "better"] == 16 and c.loc["thesis baseline", "n"] == 16
    assert c.loc["equal compute", "worse"] == 15 and c.loc["equal compute", "better"] == 1
    assert intro.beats_all(v).to_dict("records") == [
        dict(model="Meta-NMF", dataset="digits", condition="none")]


def test_found_states_the_counts_and_reads_them():
    v = fake_verdicts()
    text = intro.found(v, 1234)
    assert isinstance(text, Prose)
    assert "1,234 fitted models" in text and "Over 16 conditions" in text
    assert "beat the thesis' baseline in 16 (lose in 0)" in text
    assert "equal compute in 1 (lose in 15)" in text
    assert "warm start in only 1 (lose in 0, tie in 15)" in text
    assert "all four references in 1: Meta-NMF on Digits." in text
    assert "not what meta-learning adds" in text  # 1 of 16 against the warm start
    # a Meta model better than the warm start nearly everywhere: no such reading
    strong = intro.found(fake_verdicts(warm="better"), 10)
    assert "not what meta-learning adds" not in strong
    none = intro.found(fake_verdicts(better_everywhere=()), 10)
    assert "all four references in none" in none


def test_sure_and_rule_name_the_real_family():
    v = fake_verdicts()
    assert f"all {len(v)} comparisons" in intro.sure(v)
    assert "5–10 seeds" in intro.sure(v)
    rule = verdicts.rule(v)
    assert f"all {len(v)} comparisons" in rule and "α = 0.05" in rule
    # the fake gives Meta-NMF 10 seeds and every other Meta model 5
    assert "5 or 10 for the two headline Meta models" in rule
    assert "5 for the other two" in rule


def test_hypotheses_table_is_short_and_human():
    summary = pd.DataFrame([
        dict(hypothesis=1, question="NMI: Meta model vs thesis baseline", comparisons=40,
             better=20, worse=5, no_difference=5, undecided=10, reading="supported"),
        dict(hypothesis=1, question="NMI: Meta model vs warm start", comparisons=40, better=2,
             worse=2, no_difference=30, undecided=6, reading="mixed"),
        dict(hypothesis=2, question="bases of different seeds: Meta model closer than ...",
             comparisons=12, better=10, worse=2, no_difference=0, undecided=0,
             reading="supported")])
    t = intro.hypotheses_table(summary)
    assert t["hypothesis"].tolist() == ["1. Clustering", "", "2. Initialisation"]
    assert t["question"].tolist() == ["NMI vs thesis' baseline", "NMI vs warm start",
                                      "bases closer across seeds"]
    assert t["neither"].tolist() == [15, 36, 0]


def test_hypotheses_defaults_are_the_hypotheses_chapters():
    declared = papermill.inspect_notebook(str(PROJECT_ROOT / "notebooks" / "hypotheses.ipynb"))
    for name, value in intro.HYPOTHESES_DEFAULTS.items():
        assert eval(declared[name]["default"]) == value, name


def test_hypotheses_params_take_the_profiles_values():
    P = check_parameters(dict(__annotations__={"profile": str}, profile="smoke"))
    full = intro.hypotheses_params(P)
    smoke = PROFILES["smoke"]
    assert full.pair_seeds == list(smoke.pair_seeds)
    assert full.datasets == list(smoke.datasets) and full.seeds == list(smoke.seeds)
    assert full.face_rank == intro.HYPOTHESES_DEFAULTS["face_rank"]


def test_headline_figure_is_readable():
    v = fake_verdicts()
    v.loc[0, ["difference", "low", "high"]] = [0.8, 0.75, 0.85]  # one large effect
    fig = headline_differences(v, ["Meta-NMF", "Meta-GNMF NNDSVD"])
    assert display.smallest_text_px(fig) >= display.MIN_FONT_PX
    assert fig.get_figwidth() * fig.dpi <= display.COLUMN_PX + 1
    ax = fig.axes[0]
    assert ax.get_xlim()[1] > 0.8  # the large effect is on the axis, not cut off
    assert [t.get_text() for t in ax.get_yticklabels()] == [
        "Blobs", "Blobs + noise", "Digits", "Digits + noise"]
    # filled markers for significant verdicts, open ones otherwise
    faces = {matplotlib.colors.to_rgba(line.get_markerfacecolor()) == (1.0, 1.0, 1.0, 1.0)
             for line in ax.lines if line.get_marker() not in ("None", None, "")}
    assert faces == {True, False}


def test_implemented_table_is_shown_as_the_book_shows_tables():
    styler = intro.implemented_table()
    assert list(styler.data.columns) == ["What", "Implementation", "Measured in"]
    assert "Meta-GNMF NNDSVD" in styler.to_html()
