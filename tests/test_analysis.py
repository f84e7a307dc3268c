"""Basis measures of the hypotheses chapter: spatial spread, basis spread over seeds."""

import numpy as np
import pytest

from metanmf_lab import analysis
from metanmf_lab.experiments import Cell, Settings

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


def test_basis_spread_table_and_part_measures_from_cells():
    cells = [Cell("digits", 0.0, m, 3, s) for m in ("NMF", "Meta-NMF") for s in range(3)]
    tab = analysis.basis_spread_table(cells, TINY, cache=False)
    assert list(tab.model) == ["NMF", "Meta-NMF"]
    assert (tab.n_pairs == 3).all() and ((tab.distance > 0) & (tab.distance <= 1)).all()
    parts = analysis.part_measures(cells, TINY, (8, 8), cache=False)
    assert len(parts) == 6
    assert ((parts.hoyer >= 0) & (parts.hoyer <= 1)).all()
    assert ((parts.spread > 0) & (parts.spread < 0.3)).all()
    # the components are those of fit_cell (the cache returns the same array)
    from metanmf_lab.experiments import fit_cell
    np.testing.assert_array_equal(analysis.fit_components(cells[:1], TINY, cache=False)[0],
                                  fit_cell(cells[0], TINY).H)


# -- hypothesis functions on synthetic rows ---------------------------------------------------

import itertools  # noqa: E402

import pandas as pd  # noqa: E402

from metanmf_lab.experiments import FAIR_BASELINES, HEADLINE_PAIRS, MODELS, PAIRS  # noqa: E402


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
