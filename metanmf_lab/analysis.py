"""Measurements of the thesis' hypotheses that need the learned bases, not only the store.

The result store keeps one number per cell (NMI, reconstruction error). Two hypotheses are
about the bases themselves:

* **initialisation sensitivity** (hypothesis 2): how far apart the bases learned from different
  seeds are -- :func:`basis_spread`, the mean pairwise :func:`subspace_distance` over seeds;
* **facial parts** (hypothesis 4): how sparse and how spatially localised the basis images of
  faces are -- :func:`part_measures`, Hoyer's sparsity and :func:`spatial_spread`.

Both refit cells (:func:`metanmf_lab.experiments.fit_cell`, the same code that fills the
store); the components are cached on disk under ``_build/bases-cache`` keyed by the cell, the
settings and the algorithm version, so a rebuild does not refit them.
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
from joblib import Memory, Parallel, delayed

from ._config import ALGORITHM_VERSION, PROJECT_ROOT
from .evaluation import hoyer_sparsity, subspace_distance

CACHE_DIR = PROJECT_ROOT / "_build" / "bases-cache"
_memory = Memory(CACHE_DIR, verbose=0)


def spatial_spread(images, shape):
    """How spread out over the image each basis image is: 0 = one pixel, ~0.29 = uniform.

    Each image (a row of ``images``, non-negative, reshaped to ``shape``) is read as a mass
    distribution over pixel positions; its spread is the root of the summed variances of the
    row and column coordinates, divided by the image diagonal. A basis image that is a local
    part (an eye, a mouth) has a small spread; a whole-face image a large one. All-zero images
    get NaN.
    """
    v = np.asarray(images, dtype=np.float64)
    if v.ndim != 2 or v.shape[1] != int(np.prod(shape)):
        raise ValueError(f"images must be (n_images, {int(np.prod(shape))}) for shape "
                         f"{tuple(shape)}, got {v.shape}.")
    if not np.isfinite(v).all() or v.min() < 0:
        raise ValueError("images must be finite and non-negative.")
    rows, cols = np.indices(shape)
    coords = np.stack([rows.ravel(), cols.ravel()]).astype(np.float64)  # (2, n_pixels)
    mass = v.sum(axis=1)
    out = np.full(v.shape[0], np.nan)
    ok = mass > 0
    p = v[ok] / mass[ok, None]
    mean = p @ coords.T  # (n, 2)
    second = p @ (coords ** 2).T
    var = np.clip(second - mean ** 2, 0, None).sum(axis=1)
    out[ok] = np.sqrt(var) / np.hypot(*shape)
    return out


def _components(cell, settings, algorithm_version):
    from .experiments import fit_cell

    return fit_cell(cell, settings).H


_cached_components = _memory.cache(_components)


def fit_components(cells, settings, n_jobs=1, cache=True):
    """The components (rank x n_features) learned in each cell, in the order of ``cells``."""
    fn = _cached_components if cache else _components
    return Parallel(n_jobs=n_jobs)(delayed(fn)(c, settings, ALGORITHM_VERSION) for c in cells)


def basis_spread(components):
    """Mean, standard deviation and number of the pairwise subspace distances of a list of
    bases (one per seed): 0 when every seed finds the same subspace."""
    d = [subspace_distance(a, b) for a, b in itertools.combinations(components, 2)]
    if not d:
        raise ValueError("basis_spread needs the bases of at least two seeds.")
    return float(np.mean(d)), float(np.std(d, ddof=1)) if len(d) > 1 else np.nan, len(d)


def basis_spread_table(cells, settings, n_jobs=1, cache=True):
    """:func:`basis_spread` per (dataset, noise, model, rank) over the seeds in ``cells``."""
    comps = fit_components(cells, settings, n_jobs=n_jobs, cache=cache)
    df = pd.DataFrame([dict(dataset=c.dataset, noise=c.noise, model=c.model, rank=c.rank,
                            seed=c.seed, i=i) for i, c in enumerate(cells)])
    out = []
    for key, g in df.groupby(["dataset", "noise", "model", "rank"], sort=False):
        mean, sd, n = basis_spread([comps[i] for i in g["i"]])
        out.append(dict(zip(["dataset", "noise", "model", "rank"], key), distance=mean,
                        sd=sd, n_pairs=n, n_seeds=len(g)))
    return pd.DataFrame(out)


def part_measures(cells, settings, shape, n_jobs=1, cache=True):
    """Per cell: mean Hoyer sparsity and mean spatial spread of its basis images."""
    comps = fit_components(cells, settings, n_jobs=n_jobs, cache=cache)
    rows = []
    for c, h in zip(cells, comps):
        rows.append(dict(dataset=c.dataset, noise=c.noise, model=c.model, rank=c.rank,
                         seed=c.seed, hoyer=float(np.mean(hoyer_sparsity(h))),
                         spread=float(np.nanmean(spatial_spread(h, shape)))))
    return pd.DataFrame(rows)
