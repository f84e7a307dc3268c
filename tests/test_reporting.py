"""Tabulation of ablation effects (reproduction notes)."""

import numpy as np
import pandas as pd
import pytest
from metanmf_lab.grid import reporting


def _sbs():
    return pd.DataFrame([
        dict(table="4.3", condition="none", dataset="digits", model="NMF", thesis=0.60,
             ours=0.50, beyond=True),
        dict(table="4.3", condition="none", dataset="digits", model="Meta-NMF", thesis=0.62,
             ours=0.61, beyond=False),
        dict(table="4.4", condition="none", dataset="faces", model="GNMF", thesis=0.70,
             ours=0.80, beyond=True),
    ])


def _mean(vals):
    return pd.DataFrame([dict(dataset=d, condition="none", model=m, ours=v)
                         for (d, m), v in vals.items()])


def test_ablation_effects_and_best():
    base = _mean({("digits", "NMF"): 0.52, ("faces", "GNMF"): 0.79,
                  ("digits", "Meta-NMF"): 0.6})
    ablated = {"a": _mean({("digits", "NMF"): 0.58}),
               "b": _mean({("digits", "NMF"): 0.45, ("faces", "GNMF"): 0.75})}
    eff = reporting.ablation_effects(_sbs(), base, ablated)
    assert len(eff) == 3  # entries beyond x ablations that cover them; Meta-NMF not beyond
    row = eff[(eff.model == "NMF") & (eff.ablation == "a")].iloc[0]
    assert row["shift"] == pytest.approx(0.06)
    assert row.gap_before == pytest.approx(-0.08) and row.gap_after == pytest.approx(-0.02)
    assert row.closes and row.within
    worse = eff[(eff.model == "NMF") & (eff.ablation == "b")].iloc[0]
    assert not worse.closes and not worse.within
    best = reporting.best_ablation(eff).set_index("model")["ablation"]
    assert best["NMF"] == "a" and best["GNMF"] == "b"


def test_ablation_effects_empty():
    eff = reporting.ablation_effects(_sbs(), _mean({}).reindex(
        columns=["dataset", "condition", "model", "ours"]), {})
    assert eff.empty and reporting.best_ablation(eff).empty


def test_fair_baseline_table_layout_and_means():
    from metanmf_lab.grid.catalogue import FAIR_BASELINES

    models = ["Meta-NMF", "NMF"] + list(FAIR_BASELINES["Meta-NMF"])
    rows = pd.DataFrame([dict(dataset="faces", condition=c, noise=float(c == "added"),
                              model=m, rank=r, seed=s,
                              nmi=0.1 * i + 0.01 * r + 0.001 * s + (c == "added"))
                         for i, m in enumerate(models) for c in ("none", "added")
                         for r in (2, 5) for s in (0, 1)])
    table = reporting.fair_baseline_table(rows, ["Meta-NMF"])
    assert list(table.index.get_level_values("model")) == models
    assert list(table.columns) == [("faces", "none"), ("faces", "added")]
    for i, m in enumerate(models):
        assert table.loc[("Meta-NMF", m), ("faces", "none")] == pytest.approx(
            0.1 * i + 0.035 + 0.0005)
    # a Meta model without rows gives NaN entries, not an error
    other = reporting.fair_baseline_table(rows, ["Meta-GNMF"])
    assert other.isna().all().all()


def test_entries_beyond_lists_each_entry_once_in_table_order():
    sbs = pd.concat([_sbs(), _sbs().iloc[[0]].assign(table="4.7")], ignore_index=True)
    assert reporting.entries_beyond(sbs) == [("digits", "none", "NMF"),
                                             ("faces", "none", "GNMF")]


def _effects(rows):
    cols = ["dataset", "condition", "model", "ablation", "thesis", "ours", "ablated"]
    e = pd.DataFrame(rows, columns=cols)
    e["table"] = "4.3"
    e["shift"] = e["ablated"] - e["ours"]
    e["gap_before"] = e["ours"] - e["thesis"]
    e["gap_after"] = e["ablated"] - e["thesis"]
    return e


def test_explain_entries_classifies_by_what_is_left():
    all_ = reporting.ALL_AT_ONCE
    eff = _effects([
        ("digits", "none", "NMF", "a", 0.60, 0.50, 0.58),      # a closes to 0.02: explained
        ("digits", "none", "NMF", "b", 0.60, 0.50, 0.45),
        ("faces", "none", "GNMF", "a", 0.70, 0.80, 0.74),      # a: 0.10 -> 0.04, partly
        ("coil20", "none", "GNMF", "a", 0.70, 0.80, 0.79),     # single: 0.09 left ...
        ("coil20", "none", "GNMF", all_, 0.70, 0.80, 0.72),    # ... all at once: 0.02
        ("fmnist", "added", "NMF", "b", 0.30, 0.45, 0.44),     # 0.14 left of 0.15: unexplained
    ])
    entries = [("digits", "none", "NMF"), ("faces", "none", "GNMF"),
               ("coil20", "none", "GNMF"), ("fmnist", "added", "NMF"),
               ("blobs", "none", "NMF")]
    out = reporting.explain_entries(entries, eff).set_index("dataset")
    assert list(out.index) == ["digits", "faces", "coil20", "fmnist", "blobs"]
    assert out.loc["digits", "explanation"] == "explained" and out.loc["digits", "best"] == "a"
    assert out.loc["digits", "gap_after"] == pytest.approx(-0.02)
    assert out.loc["faces", "explanation"] == "partly explained"
    assert out.loc["coil20", "explanation"] == "explained"
    assert out.loc["coil20", "best"] == "a"  # the all-at-once row is not a single switch
    assert out.loc["coil20", "combined_gap"] == pytest.approx(0.02)
    assert out.loc["fmnist", "explanation"] == "unexplained"
    assert out.loc["blobs", "explanation"] == "not measured"
    assert np.isnan(out.loc["blobs", "ours"])
    sbs = pd.DataFrame([dict(dataset="blobs", condition="none", model="NMF", thesis=0.2,
                             ours=0.5)])
    blobs = reporting.explain_entries(entries, eff, sbs=sbs).set_index("dataset").loc["blobs"]
    assert (blobs.thesis, blobs.ours) == (0.2, 0.5)
    assert blobs.gap_before == pytest.approx(0.3) and blobs.explanation == "not measured"
    assert set(out.explanation) <= set(reporting.EXPLANATIONS)


def test_headline_table_puts_the_fair_baselines_beside_each_pair():
    from metanmf_lab.grid.catalogue import FAIR_BASELINES, HEADLINE_PAIRS

    base, meta = HEADLINE_PAIRS[0]
    models = {base: 0.5, meta: 0.6}
    models.update({f: 0.55 + i / 100 for i, f in enumerate(FAIR_BASELINES[meta])})
    rows = pd.DataFrame([dict(dataset="digits", condition="none", noise=0.0, model=m, rank=r,
                              seed=s, nmi=v + (0.01 if r == 5 else -0.01))
                         for m, v in models.items() for r in (2, 5) for s in (0, 1)])
    thesis = pd.DataFrame([dict(dataset="digits", noise="none", model=base, thesis_nmi=0.4),
                           dict(dataset="digits", noise="none", model=meta, thesis_nmi=0.7)])
    t = reporting.headline_table(rows, thesis)
    assert len(t) == 1  # only the pair and condition with rows
    r = t.iloc[0]
    assert t.index[0] == (f"{base} / {meta}", "Digits", "no noise")
    assert (r["thesis: baseline"], r["thesis: Meta"]) == (0.4, 0.7)
    assert r["baseline"] == pytest.approx(0.5) and r["Meta"] == pytest.approx(0.6)
    assert [r[c] for c in reporting.FAIR_LABELS] == pytest.approx([0.55, 0.56, 0.57])
    assert reporting.headline_table(rows).iloc[0][["thesis: baseline"]].isna().all()


def test_ablation_summary_counts_per_ablation():
    eff = _effects([
        ("digits", "none", "NMF", "a", 0.60, 0.50, 0.58),
        ("faces", "none", "GNMF", "a", 0.70, 0.80, 0.85),
        ("digits", "none", "NMF", "b", 0.60, 0.50, 0.45),
    ])
    eff["closes"] = (eff["gap_after"].abs() < eff["gap_before"].abs())
    eff["within"] = eff["gap_after"].abs() <= reporting.DIFFERENCE_THRESHOLD
    s = reporting.ablation_summary(eff).set_index("ablation")
    assert list(s.index) == ["a", "b"]
    assert s.loc["a", "entries"] == 2 and s.loc["a", "closer"] == 1 and s.loc["a", "within"] == 1
    assert s.loc["a", "mean_shift"] == pytest.approx((0.08 + 0.05) / 2)
    assert s.loc["b", "mean_abs_shift"] == pytest.approx(0.05) and s.loc["b", "closer"] == 0
    assert reporting.ablation_summary(eff.iloc[:0]).empty


def test_stored_entries_beyond_reads_only_the_thesis_grid(tmp_path):
    """Other noise levels (the noise sweep) and other seeds in the store must not enter the
    table entries whose differences the notes ablate."""
    from metanmf_lab._config import ALGORITHM_VERSION
    from metanmf_lab.grid.catalogue import THESIS_RANKS
    from metanmf_lab.grid.cells import Settings
    from metanmf_lab.grid.store import COLUMNS, ResultStore

    thesis = reporting.thesis_tables()
    t = thesis.set_index(["dataset", "noise", "model"])["thesis_nmi"]
    s = Settings()
    rows = []
    for noise, cond, seeds, shift in ((0.0, "none", (0,), 0.0), (0.4, "added", (0,), 0.0),
                                      (0.1, "added", (0,), 0.5), (0.0, "none", (7,), 0.5)):
        for model in ("NMF", "Meta-NMF"):
            for r in THESIS_RANKS:
                for seed in seeds:
                    row = dict.fromkeys(COLUMNS, "")
                    row.update(dataset="digits", noise=noise, model=model, rank=r, seed=seed,
                               protocol="thesis", effective_protocol="thesis",
                               settings_hash=s.hash,
                               algorithm_version=ALGORITHM_VERSION, n_iter=1, train_iter=0,
                               seconds=0.0, settings=s.to_json(), package_version="0.1.0",
                               environment="test", created_utc="2026-01-01T00:00:00Z",
                               # the thesis' number, except Meta-NMF without noise: +0.1
                               nmi=min(1.0, t[("digits", cond, model)] + shift
                                       + (0.1 if (model, cond) == ("Meta-NMF", "none") else 0)),
                               recon_error=1.0)
                    rows.append(row)
    store = ResultStore(tmp_path / "s.csv")
    store.add(rows)
    got = reporting.stored_entries_beyond(store, s, seeds=range(5), datasets=["digits"])
    assert got == [("digits", "none", "Meta-NMF")]


def test_authors_within_counts_per_dataset_and_condition_against_a_hand_count():
    # gaps chosen on both sides of the threshold, including exactly at it
    code = pd.DataFrame({
        "dataset": ["digits", "faces", "digits", "digits", "digits", "digits"],
        "condition": ["added", "none", "none", "none", "none", "added"],
        "ours_gap": [0.10, 0.0, -0.2, 0.01, 0.03, -0.02],
        "authors_gap": [0.05, 0.5, 0.02, -0.04, -0.03, 0.01],
    })
    out = reporting.authors_within(code)
    # the book's order of datasets, no noise first, whatever the input order
    assert list(zip(out["dataset"], out["condition"])) == [
        ("digits", "none"), ("digits", "added"), ("faces", "none")]
    out = out.set_index(["dataset", "condition"])
    assert out.loc[("digits", "none")].to_dict() == {
        "label": "without noise", "entries": 3, "within_authors": 2,
        "within_thesis_protocol": 2, "authors_closer": 1}
    assert out.loc[("digits", "added")].to_dict() == {
        "label": "with noise", "entries": 2, "within_authors": 1,
        "within_thesis_protocol": 1, "authors_closer": 2}
    assert out.loc[("faces", "none")].to_dict() == {
        "label": "without noise", "entries": 1, "within_authors": 0,
        "within_thesis_protocol": 1, "authors_closer": 0}
    # a tighter threshold counts fewer
    tight = reporting.authors_within(code, threshold=0.025).set_index(["dataset", "condition"])
    assert tight.loc[("digits", "none"), "within_authors"] == 1
    assert tight.loc[("digits", "none"), "within_thesis_protocol"] == 1


def test_authors_within_phrase_reads_the_counts_per_dataset():
    within = pd.DataFrame({
        "dataset": ["digits", "digits", "faces"], "condition": ["none", "added", "added"],
        "label": ["without noise", "with noise", "with noise"], "entries": [8, 8, 8],
        "within_authors": [8, 0, 6], "within_thesis_protocol": [3, 1, 5],
        "authors_closer": [8, 7, 5]})
    assert reporting.authors_within_phrase(within) == (
        "on Digits, 8 of 8 without noise (under the thesis protocol: 3) and 0 of 8 with noise "
        "(under the thesis protocol: 1); on Faces, 6 of 8 with noise (under the thesis "
        "protocol: 5)")
    assert reporting.authors_within_phrase(within.iloc[:0]) == ""


def test_authors_further_keeps_entries_the_code_moves_away_by_more_than_the_threshold():
    code = pd.DataFrame({
        "dataset": ["blobs", "blobs", "digits", "faces"],
        "condition": ["none", "added", "none", "none"], "model": ["Meta-GNMF"] * 4,
        "thesis": [0.273, 0.093, 0.5, 0.6],
        "ours": [0.084, 0.010, 0.5, 0.6],
        # excess |code| - |ours|: 0.575 - 0.189, 0.649 - 0.083, exactly 0.03 (kept out),
        # and a code closer to the thesis than ours (negative excess)
        "ours_gap": [-0.189, -0.083, 0.0, 0.1],
        "authors_gap": [0.575, 0.649, -0.03, 0.01],
    })
    code["authors"] = code["thesis"] + code["authors_gap"]
    out = reporting.authors_further(code)
    assert list(zip(out["dataset"], out["condition"])) == [("blobs", "added"), ("blobs", "none")]
    assert out["further"].tolist() == pytest.approx([0.649 - 0.083, 0.575 - 0.189])
    text = reporting.authors_further_phrase(out)
    assert text.startswith("Blobs, Meta-GNMF, added noise (thesis 0.093, thesis protocol 0.010, "
                           "authors' code 0.742); Blobs, Meta-GNMF, no noise")
    assert reporting.authors_further_phrase(out.iloc[:0]) == "none"
    assert len(reporting.authors_further(code, threshold=0.5)) == 1


def test_authors_pending_phrase_names_each_dataset_its_count_and_the_command():
    text = reporting.authors_pending_phrase([("fmnist", 64, 480), ("blobs", 0, 480)])
    assert "FMNIST (64 of 480 cells in the result store)" in text
    assert "Blobs (0 of 480 cells" in text
    assert "--datasets fmnist blobs --protocols authors" in text
    assert reporting.authors_pending_phrase([]).startswith("Every dataset")


def test_store_cost_puts_each_row_in_its_first_part_and_sums_its_seconds():
    from metanmf_lab._config import ALGORITHM_VERSION
    from metanmf_lab.data.datasets import DATASETS
    from metanmf_lab.grid.cells import Settings

    s = Settings()
    other = s.replace(n_epochs=s.n_epochs + 1).hash
    dflt = float(DATASETS["digits"].default_noise)

    def row(seconds, model="NMF", noise=0.0, seed=0, protocol="thesis", settings_hash=s.hash,
            version=ALGORITHM_VERSION):
        return dict(dataset="digits", noise=noise, model=model, rank=5, seed=seed,
                    protocol=protocol, settings_hash=settings_hash, algorithm_version=version,
                    seconds=seconds)

    df = pd.DataFrame([
        row(3600), row(1800, noise=dflt),                       # thesis grid
        row(7200, seed=7),                                      # more seeds
        row(360, model="NMF (warm start)", seed=7),             # a fair baseline, any seed
        row(36, noise=dflt / 2 if dflt else 0.05),              # noise sweep
        row(72, settings_hash=other, model="NMF (warm start)"),  # a protocol switch
        row(18, protocol="authors", settings_hash=other, seed=9),  # the authors' code
        row(10 ** 6, version="stale-" + str(ALGORITHM_VERSION)),  # not counted
    ])
    out = reporting.store_cost(df, s, seeds=range(5))
    assert list(out.index) == list(reporting.STORE_PARTS) + ["all"]
    assert list(out["rows"]) == [2, 1, 1, 1, 1, 1, 7]
    hours = dict(zip(out.index, out["core_hours"]))
    assert hours["thesis grid"] == pytest.approx(1.5)
    assert hours["more seeds of the headline pairs"] == pytest.approx(2.0)
    assert hours["fair baselines"] == pytest.approx(0.1)
    assert hours["noise sweep"] == pytest.approx(0.01)
    assert hours["protocol switches (notes)"] == pytest.approx(0.02)
    assert hours["authors'-code protocol"] == pytest.approx(0.005)
    assert hours["all"] == pytest.approx(3.635)
    assert np.allclose(out["two_core_hours"], out["core_hours"] / 2)
    # an empty store costs nothing, and says so
    empty = reporting.store_cost(df.iloc[:0], s, seeds=range(5))
    assert list(empty.index) == ["all"] and empty.loc["all", "rows"] == 0
