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

from . import stats
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


# -- the four hypotheses, one function each (used by the hypotheses and conclusions chapters)

def clustering_comparisons(rows):
    """Hypothesis 1: each headline Meta model against its thesis baseline and its three fair
    baselines (:data:`~metanmf_lab.experiments.FAIR_BASELINES`), per dataset and condition."""
    from .experiments import FAIR_BASELINES, HEADLINE_PAIRS

    pairs = [(ref, meta) for base, meta in HEADLINE_PAIRS
             for ref in (base,) + FAIR_BASELINES[meta]]
    return stats.compare(rows, pairs)


def nmi_spread(rows):
    """Hypothesis 2, from the store: per (pair, dataset, condition), the standard deviation
    over seeds of the rank-averaged NMI of the baseline and of the Meta model, and whether
    the Meta model's is lower."""
    from .experiments import PAIRS
    from .reporting import mean_over_ranks

    sd = mean_over_ranks(rows).set_index(["dataset", "condition", "model"])["sd_seeds"]
    out = []
    for base, meta in PAIRS:
        for ds, cond in sorted({(d, c) for d, c, _ in sd.index}):
            if (ds, cond, base) in sd.index and (ds, cond, meta) in sd.index:
                out.append(dict(reference=base, model=meta, dataset=ds, condition=cond,
                                reference_sd=sd[(ds, cond, base)],
                                model_sd=sd[(ds, cond, meta)]))
    out = pd.DataFrame(out)
    out["lower"] = out["model_sd"] < out["reference_sd"]
    return out


def basis_spread_pairs(table):
    """Hypothesis 2, from the bases: per (pair, dataset, condition), the mean subspace
    distance between seeds of the baseline and of the Meta model (``table`` from
    :func:`basis_spread_table` with a ``condition`` column), and whether the Meta model's
    bases are closer to one another."""
    from .experiments import PAIRS

    b = table.set_index(["dataset", "condition", "model"])["distance"]
    out = [dict(reference=base, model=meta, dataset=ds, condition=c,
                reference_distance=b[(ds, c, base)], model_distance=b[(ds, c, meta)])
           for base, meta in PAIRS for ds, c in sorted({(d, c) for d, c, _ in b.index})
           if (ds, c, base) in b.index and (ds, c, meta) in b.index]
    out = pd.DataFrame(out)
    out["closer"] = out["model_distance"] < out["reference_distance"]
    return out


def noise_comparisons(rows, low, high):
    """Hypothesis 3: NMI lost from noise ``low`` to ``high``, each headline Meta model against
    its baseline (:func:`metanmf_lab.stats.noise_robustness`)."""
    from .experiments import HEADLINE_PAIRS

    return stats.noise_robustness(rows, HEADLINE_PAIRS, low, high)


def part_comparisons(parts):
    """Hypothesis 4: each Meta model against its baseline on Hoyer sparsity and on spatial
    spread of the face bases (``parts`` from :func:`part_measures` with a ``condition``
    column), per condition. A *negative* difference of spread is a more local basis."""
    from .experiments import PAIRS

    return pd.concat([stats.compare(parts, PAIRS, by=("condition",), value=v,
                                    negligible=0.005).assign(measure=v)
                      for v in ("hoyer", "spread")], ignore_index=True)


def count_verdicts(comparison):
    """How many comparisons got each verdict (all verdicts present, zeros included)."""
    return {v: int((comparison["verdict"] == v).sum()) for v in stats.VERDICTS}


def reading(counts):
    """One word for a set of verdict counts (from :func:`count_verdicts`, or any dict with
    ``better`` and ``worse``): "supported" when at least half of the comparisons are
    significantly better and more are better than worse; "contradicted" in the mirror case;
    "not supported" when none is significant either way; "mixed" otherwise."""
    total = sum(counts.values())
    better, worse = counts.get("better", 0), counts.get("worse", 0)
    if total == 0:
        return "not measured"
    if better > worse and 2 * better >= total:
        return "supported"
    if worse > better and 2 * worse >= total:
        return "contradicted"
    if better == 0 and worse == 0:
        return "not supported"
    return "mixed"


def basis_cells(datasets, rank, seeds, protocol="thesis"):
    """The cells whose bases :func:`basis_spread_table` compares: the eight thesis models on
    each dataset, without and with its default noise, at one rank, over ``seeds``."""
    from .experiments import MODELS, Cell, resolve_noise

    return [Cell(ds, nz, m, rank, s, protocol) for ds in datasets
            for nz in (0.0, resolve_noise(ds, "default")) for m in MODELS for s in seeds]


def face_cells(rank, seeds, protocol="thesis"):
    """The cells of the facial-parts measurements: :func:`basis_cells` on Faces."""
    return basis_cells(["faces"], rank, seeds, protocol)
