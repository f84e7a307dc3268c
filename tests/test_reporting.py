"""Tabulation of ablation effects (reproduction notes)."""

import pandas as pd
import pytest

from metanmf_lab import reporting


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
    from metanmf_lab.experiments import FAIR_BASELINES

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
