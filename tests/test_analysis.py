"""Basis measures of the hypotheses chapter: spatial spread, basis spread over seeds."""

import numpy as np
import pytest
from metanmf_lab.grid import analysis
from metanmf_lab.grid.cells import Cell, Settings

TINY = Settings(n_epochs=2, inner_iter=5, baseline_iter=10)


def test_spatial_spread_extremes_and_brute_force():
    shape = (8, 6)
    one_pixel = np.zeros((1, 48))
    one_pixel[0, 20] = 3.0
    uniform = np.ones((1, 48))
    assert analysis.spatial_spread(one_pixel, shape)[0] == pytest.approx(0.0)
    # uniform over an a x b grid: variances (a^2 - 1)/12 and (b^2 - 1)/12
    expect = np.sqrt((64 - 1) / 12 + (36 - 1) / 12) / np.hypot(8, 6)
    assert analysis.spatial_spread(uniform, shape)[0] == pytest.approx(expect)
    # brute force on a random image
    img = np.random.default_rng(0).random(48)
    r, c = np.divmod(np.arange(48), 6)
    p = img / img.sum()
    var = (p * (r - p @ r) ** 2).sum() + (p * (c - p @ c) ** 2).sum()
    assert analysis.spatial_spread(img[None], shape)[0] == pytest.approx(
        np.sqrt(var) / 10.0)
    assert np.isnan(analysis.spatial_spread(np.zeros((1, 48)), shape)[0])
    with pytest.raises(ValueError, match="non-negative"):
        analysis.spatial_spread(-uniform, shape)
    with pytest.raises(ValueError, match="shape"):
        analysis.spatial_spread(uniform, (5, 5))


def test_basis_spread_zero_for_same_subspace():
    rng = np.random.default_rng(1)
    a = rng.random((3, 10))
    mean, sd, n = analysis.basis_spread([a, 2 * a[::-1], a])
    assert mean == pytest.approx(0, abs=1e-7) and n == 3
    with pytest.raises(ValueError, match="two seeds"):
        analysis.basis_spread([a])


def test_basis_spread_table_and_part_measures_from_cells(tmp_path):
    cells = [Cell("digits", 0.0, m, 3, s) for m in ("NMF", "Meta-NMF") for s in range(3)]
    store = tmp_path / "m.csv"
    tab = analysis.basis_spread_table(cells, TINY, store=store, cache=False)
    assert list(tab.model) == ["NMF", "Meta-NMF"]
    assert (tab.n_pairs == 3).all() and (tab.n_seeds == 3).all()
    assert ((tab.distance > 0) & (tab.distance <= 1)).all()
    parts = analysis.part_measures(cells, TINY, store=store, cache=False)
    assert len(parts) == 6
    assert ((parts.hoyer >= 0) & (parts.hoyer <= 1)).all()
    assert ((parts.spread > 0) & (parts.spread < 0.3)).all()
    # the components are those of fit_cell (the cache returns the same array)
    from metanmf_lab.grid.models import fit_cell
    comps = [fit_cell(c, TINY).H for c in cells[:2]]
    np.testing.assert_array_equal(analysis.fit_components(cells[:1], TINY, cache=False)[0],
                                  comps[0])
    # the stored measures are those of the fitted components, computed independently here
    m = analysis.basis_measures(cells[:2], TINY, store=store, cache=False)
    d = m[m.measure == "subspace_distance"]
    assert len(d) == 1 and d.seed.iloc[0] == 1 and d.other_seed.iloc[0] == 0
    assert d.value.iloc[0] == analysis.subspace_distance(comps[1], comps[0])
    h = m[(m.measure == "hoyer") & (m.seed == 0)].value.iloc[0]
    assert h == np.mean(analysis.hoyer_sparsity(comps[0]))
    sp = m[(m.measure == "spatial_spread") & (m.seed == 1)].value.iloc[0]
    assert sp == np.nanmean(analysis.spatial_spread(comps[1], (8, 8)))


def test_basis_measures_reuse_the_store_and_keep_provenance(tmp_path, monkeypatch):
    from metanmf_lab.grid.store import MeasureStore

    cells = [Cell("digits", 0.0, "NMF", 2, s) for s in range(2)]
    store = MeasureStore(tmp_path / "m.csv")
    first = analysis.basis_measures(cells, TINY, store=store, cache=False)
    assert sorted(first.measure) == ["hoyer", "hoyer", "spatial_spread", "spatial_spread",
                                     "subspace_distance"]
    rows = store.load()
    assert (rows.settings_hash == TINY.hash).all() and (rows.settings == TINY.to_json()).all()

    def no_refit(*args, **kwargs):
        raise AssertionError("a complete store must not refit")

    monkeypatch.setattr(analysis, "fit_components", no_refit)
    again = analysis.basis_measures(cells, TINY, store=store, cache=False)
    pd.testing.assert_frame_equal(first, again)
    # a third seed only needs its own measures and its two new pairs
    monkeypatch.undo()
    cells3 = cells + [Cell("digits", 0.0, "NMF", 2, 2)]
    third = analysis.basis_measures(cells3, TINY, store=store, cache=False)
    assert len(third) == 3 * 2 + 3 and len(store.load()) == 9
    # computing without a store gives the same numbers
    free = analysis.basis_measures(cells3, TINY, store=False, cache=False)
    key = ["seed", "other_seed", "measure"]
    pd.testing.assert_frame_equal(free.sort_values(key).reset_index(drop=True),
                                  third.sort_values(key).reset_index(drop=True))


def test_blobs_bases_have_no_spatial_spread(tmp_path):
    cells = [Cell("blobs", 0.0, "NMF", 2, s) for s in range(2)]
    m = analysis.basis_measures(cells, TINY, store=tmp_path / "m.csv", cache=False)
    assert set(m.measure) == {"hoyer", "subspace_distance"}
    parts = analysis.part_measures(cells, TINY, store=tmp_path / "m.csv", cache=False)
    assert parts.spread.isna().all() and parts.hoyer.notna().all()


def test_basis_spread_needs_two_seeds(tmp_path):
    with pytest.raises(ValueError, match="two seeds"):
        analysis.basis_spread_table([Cell("digits", 0.0, "NMF", 2, 0)], TINY, store=False,
                                    cache=False)


# -- hypothesis functions on synthetic rows ---------------------------------------------------

import itertools  # noqa: E402

import pandas as pd  # noqa: E402

from metanmf_lab.grid.catalogue import FAIR_BASELINES, HEADLINE_PAIRS, MODELS, PAIRS  # noqa: E402


def _synthetic(models, seeds=6, ranks=(2, 5), sd_of=None, value=None, noises=(0.0,)):
    rng = np.random.default_rng(0)
    recs = []
    for m, r, s, nz in itertools.product(models, ranks, range(seeds), noises):
        sd = (sd_of or {}).get(m, 0.02)
        recs.append(dict(dataset="digits", condition="none" if nz == 0 else "added", noise=nz,
                         model=m, rank=r, seed=s,
                         nmi=(value or {}).get(m, 0.5) - 0.5 * nz * (m.startswith("NMF"))
                         + sd * rng.standard_normal()))
    return pd.DataFrame(recs)


def test_clustering_comparisons_covers_fair_baselines():
    models = [m for p in HEADLINE_PAIRS for m in p] + [
        f for _, meta in HEADLINE_PAIRS for f in FAIR_BASELINES[meta]]
    rows = _synthetic(models, value={"Meta-NMF": 0.6, "Meta-GNMF NNDSVD": 0.6})
    res = analysis.clustering_comparisons(rows)
    assert len(res) == 8  # 2 Meta models x (thesis baseline + 3 fair)
    assert set(res.verdict) == {"better"}
    assert analysis.count_verdicts(res) == {"better": 8, "worse": 0, "no difference": 0,
                                            "undecided": 0}


def test_nmi_spread_lower():
    rows = _synthetic(MODELS, sd_of={m: 0.001 for _, m in PAIRS})
    out = analysis.nmi_spread(rows)
    assert len(out) == 4 and out["lower"].all()


def test_basis_spread_pairs_and_part_comparisons():
    table = pd.DataFrame([dict(dataset="faces", condition="none", model=m,
                               distance=0.2 if m.startswith("Meta") else 0.5) for m in MODELS])
    out = analysis.basis_spread_pairs(table)
    assert len(out) == 4 and out["closer"].all()
    parts = _synthetic(MODELS, value={m: 0.3 for _, m in PAIRS}).rename(columns={"nmi": "hoyer"})
    parts["spread"] = 0.25
    res = analysis.part_comparisons(parts)
    assert set(res.measure) == {"hoyer", "spread"} and len(res) == 8
    assert set(res[res.measure == "hoyer"].verdict) == {"worse"}  # 0.3 < 0.5
    assert set(res[res.measure == "spread"].verdict) == {"no difference"}


def test_noise_comparisons_uses_headline_pairs():
    rows = _synthetic([m for p in HEADLINE_PAIRS for m in p], noises=(0.0, 0.4))
    res = analysis.noise_comparisons(rows, 0.0, 0.4)
    assert list(zip(res.reference, res.model)) == list(HEADLINE_PAIRS)
    # NMF loses 0.2 (synthetic), Meta-NMF nothing: Meta-NMF is more robust
    nmf = res[res.model == "Meta-NMF"].iloc[0]
    assert nmf.verdict == "better" and nmf.reference_drop == pytest.approx(0.2, abs=0.02)


@pytest.mark.parametrize("counts,word", [
    (dict(better=4, worse=0, undecided=4), "supported"),
    (dict(better=1, worse=5, undecided=2), "contradicted"),
    (dict(better=0, worse=0, undecided=7), "not supported"),
    (dict(better=2, worse=1, undecided=5), "mixed"),
    ({}, "not measured"),
])
def test_reading(counts, word):
    assert analysis.reading(counts) == word


def test_cell_builders():
    cells = analysis.basis_cells(["digits"], 5, [0, 1])
    assert len(cells) == 2 * 8 * 2
    assert {c.noise for c in cells} == {0.0, 0.4} and {c.rank for c in cells} == {5}
    faces = analysis.face_cells(18, [3])
    assert {c.dataset for c in faces} == {"faces"} and len(faces) == 16


def test_clustering_cells_pairs_and_fair_baselines():
    from metanmf_lab.grid.catalogue import FAIR_BASELINES, HEADLINE_PAIRS

    cells = analysis.clustering_cells(["digits"], [2, 5], range(4), range(2))
    by_model = {}
    for c in cells:
        by_model.setdefault(c.model, set()).add(c.seed)
    for base, meta in HEADLINE_PAIRS:
        assert by_model[base] == by_model[meta] == {0, 1, 2, 3}
        for fair in FAIR_BASELINES[meta]:
            assert by_model[fair] == {0, 1}
    assert len(cells) == len(set(cells)) == 2 * 2 * (4 * 4 + 6 * 2)
