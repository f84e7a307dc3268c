"""The facial-parts chapter and the reproduction notes: their tables, sentences and figures,
built from small frames whose answers are counted by hand."""

import re
import textwrap
from types import SimpleNamespace

import matplotlib
import numpy as np
import pandas as pd
import pytest
from metanmf_lab.book import display, plotting
from metanmf_lab.book.chapters import faces, notes
from metanmf_lab.grid import reporting
from metanmf_lab.grid.catalogue import PAIRS

matplotlib.use("Agg")


def _html(styler):
    return styler.to_html()


# -- faces ---------------------------------------------------------------------------------

def test_pairs_in_the_order_of_the_thesis_figures_and_their_names():
    order = faces.thesis_order(PAIRS)
    assert [p[0] for p in order] == ["NMF", "GNMF", "NMF NNDSVD", "GNMF NNDSVD"]
    assert [reporting.THESIS_FACE_FIGURES[p][0] for p in order] == ["4.14", "4.16", "4.18",
                                                                     "4.20"]
    assert faces.figure_name(("GNMF NNDSVD", "Meta-GNMF NNDSVD"), "added") == \
        "fig_gnmf_nndsvd_added"
    names = {faces.figure_name(p, c) for p in PAIRS for c in faces.CONDITIONS}
    fields = {f for f in faces.Faces.__dataclass_fields__ if f.startswith("fig_")}
    assert names == fields  # one glued figure per pair and condition, each pasted


def test_measure_reads_a_lit_pixel_as_sparse_and_local_and_a_flat_image_as_neither():
    dot = np.zeros((1, 16))
    dot[0, 5] = 1.0
    flat = np.ones((1, 16))
    parts = faces.measure({("none", "NMF"): np.vstack([dot, dot]),
                           ("none", "Meta-NMF"): np.vstack([flat, flat])}, (4, 4))
    p = parts.set_index("model")
    assert p.loc["NMF", "hoyer"] == pytest.approx(1.0)
    assert p.loc["NMF", "spread"] == pytest.approx(0.0)
    assert p.loc["Meta-NMF", "hoyer"] == pytest.approx(0.0)
    # a flat 4 x 4 image: sqrt(2 * var of 0..3) / diagonal
    assert p.loc["Meta-NMF", "spread"] == pytest.approx(np.sqrt(2 * 1.25) / np.hypot(4, 4))
    assert all(isinstance(v, float) for v in parts[["hoyer", "spread"]].to_numpy().ravel())


def _parts():
    rows = []
    # NMF -> Meta-NMF: sparser and more local without noise, neither with noise;
    # GNMF -> Meta-GNMF: sparser but less local without noise, more local with noise
    vals = {("none", "NMF"): (0.3, 0.25), ("none", "Meta-NMF"): (0.5, 0.20),
            ("added", "NMF"): (0.3, 0.25), ("added", "Meta-NMF"): (0.2, 0.27),
            ("none", "GNMF"): (0.3, 0.25), ("none", "Meta-GNMF"): (0.4, 0.26),
            ("added", "GNMF"): (0.3, 0.25), ("added", "Meta-GNMF"): (0.3, 0.24)}
    for (c, m), (h, s) in vals.items():
        rows.append(dict(condition=c, model=m, hoyer=h, hoyer_sd=0.01, spread=s,
                         spread_sd=0.002))
    return pd.DataFrame(rows)


def test_gains_are_counted_in_whole_numbers_and_said_in_words():
    pairs = PAIRS[:2]
    gains = faces.pair_gains(_parts(), pairs)
    assert len(gains) == 4
    g = gains.set_index(["condition", "model"])
    assert g.loc[("none", "Meta-NMF"), "hoyer_gain"] == pytest.approx(0.2)
    assert g.loc[("none", "Meta-NMF"), "spread_gain"] == pytest.approx(-0.05)
    text = faces.gains_sentence(gains)
    assert isinstance(text, faces.Prose)
    assert text == ("In 2 of the 4 pair-and-condition comparisons the Meta model's basis "
                    "images are sparser than its baseline's, and in 2 of 4 more local (a "
                    "smaller spatial spread); in 1 they are both.")
    assert "np." not in faces.gains_sentence(gains.astype({"hoyer_gain": np.float32}))
    assert faces.gains_sentence(gains.iloc[:0]).startswith("No pair")


def test_parts_table_shows_mean_and_sd_per_model_and_condition():
    table = faces.parts_table(_parts(), PAIRS[:2])
    assert list(table["model"]) == ["NMF", "Meta-NMF", "GNMF", "Meta-GNMF"]
    assert list(table.columns) == ["model", "Hoyer, no noise", "spread, no noise",
                                   "Hoyer, added noise", "spread, added noise"]
    assert table.loc[1, "Hoyer, no noise"] == "0.500 ± 0.010"
    assert table.loc[1, "spread, added noise"] == "0.270 ± 0.002"
    html = _html(display.table(table, headers={"model": "Model"}))
    assert "nan" not in html.lower() and "Model" in html
    # a model not fitted reads "–", not NaN
    missing = faces.parts_table(_parts()[lambda d: d.model != "GNMF"], PAIRS[:2])
    assert display.MISSING in _html(display.table(missing))
    assert faces.note(dict(hoyer=0.4304, spread=0.2469)) == "Hoyer 0.430 · spread 0.247"


def test_basis_pair_images_are_large_and_labels_readable():
    rng = np.random.default_rng(0)
    left, right = rng.random((18, 32 * 32)), rng.random((18, 32 * 32))
    fig = plotting.basis_pair(left, right, (32, 32), titles=("NMF", "Meta-NMF"),
                              notes=("Hoyer 0.270 · spread 0.267", "Hoyer 0.430 · spread 0.247"))
    assert len(fig.axes) == 36
    width_px = fig.get_figwidth() * fig.dpi
    assert width_px <= display.COLUMN_PX  # shown 1:1, not scaled down
    for ax in fig.axes:
        box = ax.get_position()
        assert box.width * width_px >= 64 and box.height * fig.get_figheight() * fig.dpi >= 64
    # six images per row: three of the baseline, three of the Meta model
    xs = sorted({round(ax.get_position().x0, 4) for ax in fig.axes})
    assert len(xs) == 6
    assert display.smallest_text_px(fig) >= display.MIN_FONT_PX
    texts = [t.get_text() for t in fig.texts]
    assert "NMF" in texts and "Meta-NMF" in texts and "Hoyer 0.430 · spread 0.247" in texts
    with pytest.raises(ValueError, match="must be"):
        plotting.basis_pair(left[:, :10], right, (32, 32), titles=("a", "b"))
    with pytest.raises(ValueError, match="two"):
        plotting.basis_pair(left, right, (32, 32), titles=("a",))


# -- notes ---------------------------------------------------------------------------------

ALL = reporting.ALL_AT_ONCE


def _effects():
    rows = [  # entry, switch, thesis, ours, ablated
        ("digits", "none", "NMF", "a", 0.60, 0.50, 0.58),   # closer, within
        ("digits", "none", "NMF", "b", 0.60, 0.50, 0.45),   # further
        ("faces", "added", "GNMF", "a", 0.70, 0.80, 0.74),  # closer
        ("faces", "added", "GNMF", "b", 0.70, 0.80, 0.50),  # overshoots: further
        ("faces", "added", "GNMF", ALL, 0.70, 0.80, 0.72),  # within
        ("digits", "none", "NMF", ALL, 0.60, 0.50, 0.52),   # closer, not within
    ]
    e = pd.DataFrame(rows, columns=["dataset", "condition", "model", "ablation", "thesis",
                                    "ours", "ablated"])
    e["table"] = "4.3"
    e["shift"] = e["ablated"] - e["ours"]
    e["gap_before"] = e["ours"] - e["thesis"]
    e["gap_after"] = e["ablated"] - e["thesis"]
    e["closes"] = e["gap_after"].abs() < e["gap_before"].abs()
    e["within"] = e["gap_after"].abs() <= reporting.DIFFERENCE_THRESHOLD
    return e


def test_entry_labels_name_dataset_noise_and_model():
    assert notes.entry_label("digits", "added", "Meta-GNMF") == "Digits + noise, Meta-GNMF"
    assert notes.entry_label("coil20", "none", "NMF") == "COIL20, NMF"


def test_switches_ordered_by_mean_absolute_shift_with_all_at_once_last():
    eff = _effects()
    # mean |shift|: a (0.08 + 0.06) / 2 = 0.07, b (0.05 + 0.30) / 2 = 0.175
    assert notes.switch_order(eff) == ["b", "a", ALL]
    assert notes.switch_order(eff.iloc[:0]) == []
    table = notes.switch_table(eff, 0.03)
    assert list(table.columns) == ["switch", "entries", "mean shift", "mean |shift|",
                                   "closer", "within 0.03"]
    t = table.set_index("switch")
    assert list(t.index) == ["b", "a", ALL]
    assert t.loc["a", "entries"] == 2 and t.loc["a", "closer"] == 2
    assert t.loc["a", "within 0.03"] == 1
    assert t.loc["b", "closer"] == 0 and t.loc["b", "mean |shift|"] == pytest.approx(0.175)
    assert t.loc[ALL, "within 0.03"] == 1 and t.loc[ALL, "closer"] == 2
    assert notes.switch_table(eff.iloc[:0], 0.03).empty


def test_ablation_figure_has_a_row_per_switch_and_readable_text():
    eff = _effects()
    fig = plotting.ablation_shifts(eff, 0.03, order=notes.switch_order(eff))
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["b", "a",
                                                            textwrap.fill(ALL, 26)]
    marks = sum(len(line.get_xdata()) for line in ax.get_lines()
                if line.get_linestyle() == "None")
    assert marks == len(eff)  # one mark per entry and switch
    assert display.smallest_text_px(fig) >= display.MIN_FONT_PX
    assert fig.get_figwidth() * fig.dpi <= display.COLUMN_PX
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert legend == ["to within 0.03 of the thesis", "closer to the thesis",
                      "further from the thesis"]


def _explained():
    entries = [("digits", "none", "NMF"), ("faces", "added", "GNMF"), ("blobs", "none", "NMF")]
    return reporting.explain_entries(entries, _effects())


def test_entries_summary_counts_per_dataset_against_a_hand_count():
    ex = _explained()
    # digits NMF: explained (a); faces GNMF: explained (all at once); blobs: not measured
    assert notes.counts(ex) == {"explained": 2, "partly explained": 0, "unexplained": 0,
                                "not measured": 1}
    s = notes.entries_summary(ex, ["blobs", "digits", "faces", "coil20"])
    assert list(s.columns) == ["explanation", "Blobs", "Digits", "Faces", "all"]
    assert list(s["explanation"]) == ["explained", "not measured"]  # empty rows left out
    assert s.set_index("explanation").loc["explained"].tolist() == [0, 1, 1, 2]
    html = _html(display.table(s))
    assert "nan" not in html.lower()


def test_entries_table_fits_the_column_and_shows_no_nan():
    table = notes.entries_table(_explained())
    assert len(table.columns) <= 7
    assert list(table["entry"]) == ["Digits, NMF", "Faces + noise, GNMF", "Blobs, NMF"]
    assert table.loc[0, "closest switch"] == "a"
    html = _html(display.table(table))
    assert "nan" not in html.lower() and display.MISSING in html  # blobs: nothing measured


def test_top_switches_and_the_unmeasured_sentence():
    ex = _explained()
    assert notes.top_switches(ex) == "a (2 entries)"  # closest on both measured entries
    many = pd.DataFrame({"explanation": ["explained"] * 3 + ["unexplained"],
                         "best": ["x", "x", "y", "z"]})
    assert notes.top_switches(many) == "x (2 entries); y (1 entry)"
    assert notes.top_switches(many.iloc[:0]) == "none"
    assert notes.unmeasured_sentence(0, [], 0.0) == "Every entry that differs was ablated."
    text = notes.unmeasured_sentence(7, ["fmnist", "coil20"], 5400.0)
    assert text.startswith("The ablations of the 7 entries on FMNIST, COIL20 were not run")
    assert "at least 1.5 CPU hours" in text


def _authors():
    rows = [("digits", "none", "NMF", 0.60, 0.50, 0.59),   # code within, closer
            ("digits", "none", "GNMF", 0.60, 0.61, 0.70),  # thesis protocol within
            ("digits", "added", "NMF", 0.30, 0.40, 0.35),  # neither; code closer
            ("faces", "none", "NMF", 0.70, 0.71, 0.72)]    # both within
    r = pd.DataFrame(rows, columns=["dataset", "condition", "model", "thesis", "ours",
                                    "authors"])
    return r.assign(ours_gap=r["ours"] - r["thesis"], authors_gap=r["authors"] - r["thesis"])


def test_authors_summary_and_sentence_against_a_hand_count():
    within = reporting.authors_within(_authors())
    s = notes.authors_summary(within)
    assert list(s.columns) == ["dataset", "noise", "entries", "within, thesis protocol",
                               "within, authors' code", "authors' code closer"]
    assert s.values.tolist() == [["Digits", "none", 2, 1, 1, 1], ["Digits", "added", 1, 0, 0, 1],
                                 ["Faces", "none", 1, 1, 1, 0]]
    assert notes.authors_sentence(within) == (
        "Of these 4 entries, 2 lie within the threshold of the thesis under the thesis "
        "protocol and 2 under the authors' code; the authors' code is the closer in 2.")
    assert notes.authors_sentence(within.iloc[:0]).startswith("No dataset")
    full = notes.authors_table(_authors())
    assert len(full.columns) == 6 and full.loc[2, "entry"] == "Digits + noise, NMF"


def test_values_of_the_notes_from_their_measurements(tmp_path, monkeypatch):
    """:func:`notes.values` on a hand-made :class:`~metanmf_lab.book.notebook.Notes`: every field
    display-ready, counts whole, the three CSV files written beside the executed chapter."""
    from metanmf_lab.book import pipeline
    from metanmf_lab.book.notebook import Notes

    monkeypatch.setenv(pipeline.EXECUTED_ENV, str(tmp_path))
    eff, ex = _effects(), _explained()
    sbs = pd.DataFrame([
        dict(dataset="digits", condition="none", model="NMF", thesis=0.6, ours=0.5,
             beyond=True, difference=-0.1, sd_seeds=0.01),
        dict(dataset="faces", condition="added", model="GNMF", thesis=0.7, ours=0.8,
             beyond=True, difference=0.1, sd_seeds=0.05),
        dict(dataset="digits", condition="none", model="GNMF", thesis=0.6, ours=0.61,
             beyond=False, difference=0.01, sd_seeds=0.01)])
    N = Notes(rows=None, sbs=sbs, entries=[("digits", "none", "NMF"),
                                           ("faces", "added", "GNMF"), ("blobs", "none", "NMF")],
              effects=eff, explained=ex, n_ablation_cells=12, unmeasured_seconds=7200.0,
              thesis_status="the thesis", authors=_authors(),
              authors_pending=[("blobs", 0, 96)])
    params = SimpleNamespace(datasets=["blobs", "digits", "faces"], profile_=None,
                             ablation_datasets=["digits", "faces"], ablation_seeds=[0])
    V = notes.values(params, N)
    assert (V.n_compared, V.n_beyond, V.n_clear) == (3, 3, 1)  # faces: 0.1 < 3 x 0.05
    assert V.ablation_datasets == "Digits, Faces" and V.ablation_seeds == "0"
    assert (V.n_explained, V.n_not_measured, V.n_switches) == (2, 1, 2)
    assert (V.n_combined, V.n_combined_closer, V.n_combined_within) == (2, 2, 1)
    assert V.unmeasured_text.startswith("The ablations of the 1 entries on Blobs")
    assert V.authors_where == "Digits, Faces" and V.n_authors_further == 1
    assert V.split_shift == "(not measured)"
    assert display.smallest_text_px(V.fig_ablations) >= display.MIN_FONT_PX
    for name in ("table_switches", "table_entries", "table_entries_summary",
                 "table_authors", "table_authors_summary"):
        html = _html(getattr(V, name))
        headers = re.findall(r"<th[^>]*>\s*([^<]*?)\s*</th>", html)
        assert "nan" not in html.lower(), name
        assert not [h for h in headers if re.fullmatch(r"[a-z0-9]+(_[a-z0-9]+)+", h)], name
    for f in (notes.EFFECTS_CSV, notes.ENTRIES_CSV, notes.AUTHORS_CSV):
        assert (tmp_path / f).exists(), f
    assert len(pd.read_csv(tmp_path / notes.EFFECTS_CSV)) == len(eff)
