"""Parameters and figures of the hypotheses measurements (no notebook execution)."""

import dataclasses

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from metanmf_lab.book import notebook as nb  # noqa: E402
from metanmf_lab.book import plotting  # noqa: E402
from metanmf_lab.book.profiles import PROFILES  # noqa: E402
from metanmf_lab.grid.catalogue import FAIR_BASELINES, MODELS, model_kind, parse_model  # noqa


def _ns(**kw):
    ann = {"profile": str, "pair_seeds": list, "noise_levels": list, "noise_datasets": list,
           "basis_rank": int}
    ns = {"__annotations__": ann, "profile": "smoke", "pair_seeds": [], "noise_levels": [0, 0.2],
          "noise_datasets": [], "basis_rank": 10}
    ns.update(kw)
    return ns


def test_profile_fields_fill_empty_lists():
    p = nb.check_parameters(_ns())
    assert p.pair_seeds == list(PROFILES["smoke"].pair_seeds)
    assert p.noise_datasets == list(PROFILES["smoke"].noise_datasets)
    assert p.noise_levels == [0.0, 0.2]
    full = nb.check_parameters(_ns(profile="full"))
    assert full.pair_seeds == list(range(10))


@pytest.mark.parametrize("kw,match", [
    (dict(noise_levels=[0.1, -0.2]), "noise_levels"),
    (dict(noise_datasets=["mnist"]), "noise_datasets"),
    (dict(pair_seeds=[-1]), "pair_seeds"),
    (dict(basis_rank=0), "basis_rank"),
])
def test_bad_hypothesis_parameters(kw, match):
    with pytest.raises(ValueError, match=match):
        nb.check_parameters(_ns(**kw))


def test_fair_baselines_share_the_family():
    for meta, fair in FAIR_BASELINES.items():
        assert meta in MODELS and model_kind(meta) == "meta"
        family = parse_model(meta)[1]
        kinds = [model_kind(f) for f in fair]
        assert kinds == ["equal_compute", "equal_compute", "warm_start"]
        assert all(parse_model(f)[1] == family for f in fair)
        assert parse_model(fair[0])[2] == parse_model(meta)[2]  # same init first


def test_hypothesis_figures():
    comp = pd.DataFrame([dict(dataset=d, condition=c, reference=r, model="Meta-NMF",
                              difference=0.02, low=-0.01, high=0.05)
                         for d in ("digits", "faces") for c in ("none", "added")
                         for r in ("NMF", "NMF (equal compute)")])
    fig = plotting.paired_differences(comp, "Meta-NMF")
    assert [ax.get_title() for ax in fig.axes] == ["no noise", "added noise"]
    assert fig.axes[0].get_xlabel() == "NMI of Meta-NMF minus reference"
    summ = pd.DataFrame([dict(dataset="digits", model=m, noise=s, mean=0.5 - s, sd=0.01)
                         for m in ("NMF", "Meta-NMF") for s in (0.0, 0.2, 0.4)])
    fig = plotting.nmi_vs_noise(summ, ["digits"], ["NMF", "Meta-NMF"])
    line = fig.axes[0].lines[0]
    np.testing.assert_allclose(np.asarray(line.get_xdata(), float), [0.0, 0.2, 0.4])
    tab = pd.DataFrame([dict(dataset="digits", condition="none", model=m, v=i / 10)
                        for i, m in enumerate(MODELS)])
    fig = plotting.model_measure(tab, "v", "value", MODELS)
    heights = [p.get_height() for p in fig.axes[0].patches]
    np.testing.assert_allclose(heights, np.arange(8) / 10)


def test_ablation_heatmap_cells():
    eff = pd.DataFrame([
        dict(dataset="digits", condition="none", model="NMF", ablation="a", shift=0.1,
             gap_before=-0.2),
        dict(dataset="faces", condition="added", model="GNMF", ablation="b", shift=-0.05,
             gap_before=0.1)])
    fig = plotting.ablation_heatmap(eff)
    ax = fig.axes[0]
    texts = [t.get_text() for t in ax.texts]
    assert texts == ["-0.20", "0.10", "0.10", "-0.05"]  # gap column, then the shifts
    assert [t.get_text() for t in ax.get_xticklabels()] == ["ours − thesis", "a", "b"]


def test_store_rows_computes_and_selects(tmp_path, monkeypatch):
    from metanmf_lab.grid.cells import Cell

    p = nb.check_parameters({"__annotations__": {"profile": str, "n_jobs": int},
                             "profile": "smoke", "n_jobs": 1})
    monkeypatch.setitem(p, "profile_", dataclasses.replace(PROFILES["smoke"], ranks=(2,),
                                                           seeds=(0,), store=tmp_path / "s.csv"))
    rows = nb.store_rows(p, [Cell("digits", 0.0, "NMF", 2, 0)])
    assert len(rows) == 1 and rows.condition.iloc[0] == "none"
    assert len(nb.store_rows(p, [Cell("digits", 0.0, "NMF", 2, 0)])) == 1  # read back


def test_figures_keep_the_books_dataset_order_and_wrap_wide_panels():
    comp = pd.DataFrame([dict(dataset=d, condition="none", reference="NMF", model="Meta-NMF",
                              difference=0.0, low=-0.01, high=0.01)
                         for d in ("coil20", "digits", "faces")])
    ax = plotting.paired_differences(comp, "Meta-NMF").axes[0]
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels == ["Digits", "Faces", "COIL20"]  # the book's order ...
    assert ax.get_ylim()[0] > ax.get_ylim()[1]      # ... read from the top
    tab = pd.DataFrame([dict(dataset=d, condition=c, model="NMF", v=1.0)
                        for d in ("digits", "faces", "coil20") for c in ("none", "added")])
    fig = plotting.model_measure(tab, "v", "value", ["NMF"])
    visible = [a for a in fig.axes if a.get_visible()]
    assert len(visible) == 6 and len({a.get_position().y0 for a in visible}) == 2
