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
