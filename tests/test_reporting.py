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
