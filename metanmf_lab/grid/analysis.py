"""Measurements of the thesis' hypotheses that need the learned bases, not only the store.

The result store keeps one number per cell (NMI, reconstruction error). Two hypotheses are
about the bases themselves:

* **initialisation sensitivity** (hypothesis 2): how far apart the bases learned from different
  seeds are -- :func:`basis_spread`, the mean pairwise :func:`subspace_distance` over seeds;
* **facial parts** (hypothesis 4): how sparse and how spatially localised the basis images of
  faces are -- :func:`part_measures`, Hoyer's sparsity and :func:`spatial_spread`.

Both need the bases, which refitting a cell gives (:func:`metanmf_lab.grid.fit_cell`,
the same code that fills the result store). The bases are derived from the datasets and are
never committed; their scalar measures are, in a second store
(``data/results/basis_measures.csv``, :func:`basis_measures`), with the result store's
provenance columns, so a rebuild with a complete store refits nothing. Refitted components
are also cached on disk under ``_build/bases-cache``, keyed by the cell, the settings and the
algorithm version.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
from joblib import Memory, Parallel, delayed

from .._config import ALGORITHM_VERSION, PROJECT_ROOT
from ..core.evaluation import hoyer_sparsity, subspace_distance
from ..data.datasets import image_shape
from . import stats
from .catalogue import REFERENCE_KINDS, FAIR_BASELINES, HEADLINE_PAIRS, MODELS, PAIRS
from .cells import Cell, make_grid, resolve_noise
from .models import fit_cell
from .reporting import mean_over_ranks, select
from .runner import run_grid
from .spine import provenance, run_missing
from .store import MeasureStore
from .verdicts import clustering_rows, compare_rows, replication_rows

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


#: The measures :func:`basis_measures` keeps: of one basis, and of two bases (seeds).
SINGLE_MEASURES = ("hoyer", "spatial_spread")
PAIR_MEASURES = ("subspace_distance",)


def _single_measures(cell, components, settings):

    out = {"hoyer": float(np.mean(hoyer_sparsity(components)))}
    shape = image_shape(cell.dataset, settings.faces_size)
    if shape is not None:  # Blobs has no image
        out["spatial_spread"] = float(np.nanmean(spatial_spread(components, shape)))
    return out


def _measure_row(cell, other_seed, measure, value, settings, effective_protocol):
    return {"dataset": cell.dataset, "noise": cell.noise, "model": cell.model,
            "rank": cell.rank, "seed": cell.seed, "protocol": cell.protocol,
            "effective_protocol": effective_protocol,
            "settings_hash": settings.hash, "algorithm_version": ALGORITHM_VERSION,
            "other_seed": other_seed, "measure": measure, "value": value,
            "settings": settings.to_json(), **provenance()}


def _measure_rows(items, settings, n_jobs, cache):
    """The store rows of ``items`` (``(cell, other_seed, measure)`` of one group of cells
    that differ only in the seed): the bases each needs are refitted once
    (:func:`fit_components`, ``n_jobs`` workers)."""
    seeds_of = {}
    for c, other, _ in items:
        seeds_of.setdefault(c, set()).add(c)
        if other >= 0:
            seeds_of[c].add(replace(c, seed=other))
    need = sorted({x for v in seeds_of.values() for x in v},
                  key=lambda c: (c.dataset, c.noise, c.model, c.rank, c.seed))
    components = dict(zip(need, fit_components(need, settings, n_jobs=n_jobs, cache=cache)))
    effective = settings.protocol(items[0][0].protocol).name  # one preset per group
    singles, rows = {}, []
    for c, other, m in items:
        if other < 0:
            if c not in singles:
                singles[c] = _single_measures(c, components[c], settings)
            value = singles[c][m]
        else:
            value = float(subspace_distance(components[c], components[replace(c, seed=other)]))
        rows.append(_measure_row(c, other, m, value, settings, effective))
    return rows


def basis_measures(cells, settings, n_jobs=1, store=None, cache=True):
    """Scalar measures of the bases learned in ``cells``, from the basis-measure store.

    Per cell: ``hoyer`` (mean Hoyer sparsity of its components) and, for image datasets,
    ``spatial_spread`` (mean :func:`spatial_spread`); per two cells that differ only in the
    seed: ``subspace_distance`` (``other_seed`` is the smaller seed). Rows already in
    ``store`` are reused; for the others the cells are refitted (:func:`fit_components`) and
    the new rows added, so a complete store needs no fit at all.

    Parameters
    ----------
    cells : list of :class:`~metanmf_lab.grid.Cell`
    settings : :class:`~metanmf_lab.grid.Settings`
    n_jobs : workers for the refits
    store : :class:`~metanmf_lab.grid.store.MeasureStore`, path, None (the committed store
        ``data/results/basis_measures.csv``) or False (compute, keep nothing)
    cache : reuse components cached on disk under ``_build/bases-cache``

    Returns
    -------
    DataFrame with the store's key columns, ``other_seed`` (-1 for a single basis),
    ``measure`` and ``value``.
    """

    cells = list(dict.fromkeys(cells))
    if store is not False and not isinstance(store, MeasureStore):
        store = MeasureStore(store)
    groups = {}
    for c in cells:
        groups.setdefault((c.dataset, c.noise, c.model, c.rank, c.protocol), []).append(c)
    wanted = {}  # group -> [(cell, other_seed, measure)]
    for g, members in groups.items():
        members = sorted(members, key=lambda c: c.seed)
        items = [(c, -1, m) for c in members for m in SINGLE_MEASURES]
        for a, b in itertools.combinations(members, 2):
            items += [(b, a.seed, m) for m in PAIR_MEASURES]
        # spatial spread is absent (not missing) on Blobs: only refit for what can be measured
        wanted[g] = [w for w in items if not (w[2] == "spatial_spread"
                                              and image_shape(w[0].dataset) is None)]

    def key(cell, other, measure):
        return (cell.dataset, round(float(cell.noise), 10), cell.model, int(cell.rank),
                int(cell.seed), cell.protocol, settings.hash, ALGORITHM_VERSION, int(other),
                measure)

    stored = store.keys() if store is not False else set()
    missing = {g: [w for w in items if key(*w) not in stored] for g, items in wanted.items()}
    # a group of cells is the unit computed: the bases of its seeds are refitted together
    new = run_missing(wanted, lambda g: _measure_rows(missing[g], settings, n_jobs, cache),
                      None if store is False else store, key=lambda g: g,
                      have={g for g, items in missing.items() if not items})
    cols = ["dataset", "noise", "model", "rank", "seed", "protocol", "other_seed", "measure",
            "value"]
    if store is False:
        return pd.DataFrame(new, columns=list(new[0]) if new else cols)[cols]
    df = store.load()
    want = {key(*w) for items in wanted.values() for w in items}
    mask = [store.key_of(r) in want for r in df[list(store.KEY)].to_dict("records")]
    out = df[mask][cols].copy()
    out["noise"] = out["noise"].astype(float)
    for c in ("rank", "seed", "other_seed"):
        out[c] = out[c].astype(int)
    out["value"] = out["value"].astype(float)
    return out.reset_index(drop=True)


def basis_spread_table(cells, settings, n_jobs=1, store=None, cache=True):
    """:func:`basis_spread` per (dataset, noise, model, rank) over the seeds in ``cells``:
    the mean, s.d. and number of the pairwise subspace distances (from
    :func:`basis_measures`)."""
    m = basis_measures(cells, settings, n_jobs=n_jobs, store=store, cache=cache)
    d = m[m.measure == "subspace_distance"]
    keys = ["dataset", "noise", "model", "rank"]
    order = list(dict.fromkeys((c.dataset, float(c.noise), c.model, c.rank) for c in cells))
    out = []
    for k in order:
        g = d[(d.dataset == k[0]) & (d.noise == k[1]) & (d.model == k[2]) & (d["rank"] == k[3])]
        if g.empty:
            raise ValueError(f"basis_spread_table needs the bases of at least two seeds: {k}.")
        n_seeds = len({c.seed for c in cells if (c.dataset, float(c.noise), c.model,
                                                   c.rank) == k})
        v = g["value"].to_numpy()
        out.append(dict(zip(keys, k), distance=float(v.mean()),
                        sd=float(v.std(ddof=1)) if len(v) > 1 else np.nan, n_pairs=len(v),
                        n_seeds=n_seeds))
    return pd.DataFrame(out)


def part_measures(cells, settings, n_jobs=1, store=None, cache=True):
    """Per cell: mean Hoyer sparsity (``hoyer``) and mean spatial spread (``spread``) of its
    basis images (from :func:`basis_measures`)."""
    m = basis_measures(cells, settings, n_jobs=n_jobs, store=store, cache=cache)
    single = m[m.other_seed < 0].pivot_table(
        index=["dataset", "noise", "model", "rank", "seed"], columns="measure",
        values="value", aggfunc="first")
    rows = []
    for c in cells:
        r = single.loc[(c.dataset, float(c.noise), c.model, c.rank, c.seed)]
        rows.append(dict(dataset=c.dataset, noise=c.noise, model=c.model, rank=c.rank,
                         seed=c.seed, hoyer=float(r["hoyer"]),
                         spread=float(r.get("spatial_spread", np.nan))))
    return pd.DataFrame(rows)


# -- the four hypotheses, one function each (used by the hypotheses and conclusions chapters)


def clustering_comparisons(rows, pairs=None):
    """Hypothesis 1: each Meta model of ``pairs`` (default: the two headline pairs) against
    its thesis baseline and its three fair baselines
    (:data:`~metanmf_lab.grid.FAIR_BASELINES`), per dataset and condition."""

    pairs = HEADLINE_PAIRS if pairs is None else pairs
    return stats.compare(rows, [(ref, meta) for base, meta in pairs
                                for ref in (base,) + FAIR_BASELINES[meta]])


def nmi_spread(rows):
    """Hypothesis 2, from the store: per (pair, dataset, condition), the standard deviation
    over seeds of the rank-averaged NMI of the baseline and of the Meta model, and whether
    the Meta model's is lower."""

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
    its baseline (:func:`metanmf_lab.grid.stats.noise_robustness`)."""

    return stats.noise_robustness(rows, HEADLINE_PAIRS, low, high)


def part_comparisons(parts):
    """Hypothesis 4: each Meta model against its baseline on Hoyer sparsity and on spatial
    spread of the face bases (``parts`` from :func:`part_measures` with a ``condition``
    column), per condition. A *negative* difference of spread is a more local basis."""

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


def clustering_cells(datasets, ranks, pair_seeds, fair_seeds, protocol="thesis"):
    """The cells of hypothesis 1 (:func:`clustering_comparisons`): the two headline pairs
    over ``pair_seeds``, and the fair baselines of their Meta models over ``fair_seeds``
    (a comparison pairs the seeds both models have)."""

    pairs = [m for pair in HEADLINE_PAIRS for m in pair]
    fair = list(dict.fromkeys(f for _, meta in HEADLINE_PAIRS for f in FAIR_BASELINES[meta]))
    return (make_grid(datasets, models=pairs, ranks=ranks, seeds=pair_seeds,
                      protocols=[protocol])
            + make_grid(datasets, models=fair, ranks=ranks, seeds=fair_seeds,
                        protocols=[protocol]))


def basis_cells(datasets, rank, seeds, protocol="thesis"):
    """The cells whose bases :func:`basis_spread_table` compares: the eight thesis models on
    each dataset, without and with its default noise, at one rank, over ``seeds``."""

    return [Cell(ds, nz, m, rank, s, protocol) for ds in datasets
            for nz in (0.0, resolve_noise(ds, "added")) for m in MODELS for s in seeds]


def face_cells(rank, seeds, protocol="thesis"):
    """The cells of the facial-parts measurements: :func:`basis_cells` on Faces."""
    return basis_cells(["faces"], rank, seeds, protocol)


@dataclass
class Hypotheses:
    """The measurements of the thesis' four hypotheses (:func:`measure_hypotheses`)."""

    rows: pd.DataFrame
    """Store rows of every model (thesis and fair) on the clustering cells."""
    clustering: pd.DataFrame
    """H1: each Meta model against its baseline and its fair baselines (``stats.compare``),
    with a ``kind`` column (:data:`REFERENCE_KINDS`)."""
    spread: pd.DataFrame
    """H2: NMI spread over seeds, each Meta model against its baseline
    (``stats.spread_comparison``)."""
    basis: pd.DataFrame
    """H2: subspace distances between the bases of different seeds
    (:func:`basis_spread_table` with ``condition``)."""
    basis_pairs: pd.DataFrame
    """H2: :func:`basis_spread_pairs` of ``basis``."""
    noise_rows: pd.DataFrame
    """H3: store rows of the noise sweep."""
    noise: pd.DataFrame
    """H3: NMI lost from the lowest to the highest noise level (:func:`noise_comparisons`)."""
    parts: pd.DataFrame
    """H4: Hoyer sparsity and spatial spread of the Faces bases (:func:`part_measures`)."""
    part_tests: pd.DataFrame
    """H4: :func:`part_comparisons` of ``parts``."""
    more_compute: pd.DataFrame = None
    """H1's context: each base model given the Meta model's compute against itself at the
    thesis' budget (``stats.compare``; "better": more iterations help it)."""
    split_rows: pd.DataFrame = None
    """The replications' rows (:func:`metanmf_lab.grid.verdicts.replication_rows`)."""

    def summary(self):
        """One row per measured question: counts of each verdict and a one-word reading."""
        def row(hyp, question, verdicts, good, bad, neutral=("no difference",)):
            c = {v: int((verdicts == v).sum()) for v in set(verdicts)}
            counts = {"better": c.get(good, 0), "worse": c.get(bad, 0)}
            n_neutral = sum(c.get(v, 0) for v in neutral)
            return dict(hypothesis=hyp, question=question, comparisons=int(len(verdicts)),
                        better=counts["better"], worse=counts["worse"],
                        no_difference=n_neutral,
                        undecided=int(len(verdicts)) - counts["better"] - counts["worse"]
                        - n_neutral,
                        reading=reading(counts | {"other": int(len(verdicts)) - sum(
                            counts.values())}))
        out = []
        for kind in REFERENCE_KINDS:
            v = self.clustering.loc[self.clustering["kind"] == kind, "verdict"]
            out.append(row(1, f"NMI: Meta model vs {kind}", v, "better", "worse"))
        out.append(row(2, "NMI spread over seeds: Meta model vs baseline",
                       self.spread["verdict"], "less spread", "more spread", ()))
        # only where the baseline's start depends on the seed: NNDSVD's does not, so there
        # a Meta model cannot be closer (the chapter counts those pairs apart)
        bp = self.basis_pairs[self.basis_pairs["reference"].isin(["NMF", "GNMF"])]
        closer = bp["closer"].map({True: "closer", False: "farther"})
        out.append(row(2, "bases of different seeds: Meta model closer than its randomly "
                          "started baseline (count, no test)", closer, "closer", "farther", ()))
        out.append(row(3, "NMI lost to noise: Meta model vs baseline",
                       self.noise["verdict"], "better", "worse"))
        for measure, q in (("hoyer", "Faces bases sparser (Hoyer)"),
                           ("spread", "Faces bases more local (spatial spread)")):
            t = self.part_tests[self.part_tests["measure"] == measure]
            # a more local basis has a *smaller* spread: flip its verdicts
            v = t["verdict"] if measure == "hoyer" else t["verdict"].map(
                {"better": "worse", "worse": "better"}).fillna(t["verdict"])
            out.append(row(4, q, v, "better", "worse"))
        return pd.DataFrame(out)


def measure_hypotheses(settings, *, store, measure_store, datasets, ranks, seeds, pair_seeds,
                       noise_datasets, noise_ranks, noise_levels, basis_datasets, basis_rank,
                       face_rank, fair_datasets=None, pair_datasets=None, replications=(),
                       replication_ranks=None, n_jobs=1, progress=False, protocol="thesis"):
    """Measure the thesis' four hypotheses (its Section 1.3) from the result stores.

    Cells missing from ``store`` (a :class:`~metanmf_lab.grid.store.ResultStore`) or
    ``measure_store`` are computed; with complete stores nothing is fitted.

    * H1 (clustering): the eight models on ``datasets`` x ``ranks`` x ``seeds``, without and
      with each dataset's default noise, the eight fair baselines on those of
      ``fair_datasets`` (default: all), and the two headline pairs on ``pair_seeds`` too
      (on those of ``pair_datasets``, default: all);
      each Meta model against its baseline and its three fair baselines (paired over the
      seeds both have), every standard error with the split-to-split variance measured on
      ``replications`` at ``replication_ranks``
      (:func:`metanmf_lab.grid.verdicts.replication_rows`).
    * H2 (initialisation sensitivity): the s.d. over seeds of each model's NMI
      (:func:`metanmf_lab.grid.stats.spread_comparison`), and the subspace distance between the
      bases of different seeds (``basis_datasets`` at ``basis_rank``, ``pair_seeds``).
    * H3 (noise): the four headline models on ``noise_datasets`` x ``noise_ranks`` x
      ``seeds`` at every level of ``noise_levels``; NMI lost from the lowest level to the
      highest.
    * H4 (facial parts): sparsity and locality of the Faces bases at ``face_rank`` over
      ``pair_seeds``, without and with noise.
    """

    def rows_of(cells):
        got = run_grid(cells, settings, store=store, n_jobs=n_jobs, progress=progress)
        return select(got, settings, protocol)

    heads = [m for pair in HEADLINE_PAIRS for m in pair]
    rows = clustering_rows(settings, store, datasets, ranks, seeds, pair_seeds,
                           fair_datasets=fair_datasets, pair_datasets=pair_datasets,
                           protocol=protocol, n_jobs=n_jobs, progress=progress)
    split_rows = None
    if replications:
        split_rows = replication_rows(settings, store, rows, replications, replication_ranks,
                                      n_jobs=n_jobs, progress=progress, protocol=protocol)
    clustering = compare_rows(rows, split_rows)
    spread = stats.spread_comparison(rows[rows["model"].isin(MODELS)], PAIRS)
    more_compute = stats.compare(rows, [(base, FAIR_BASELINES[meta][0]) for base, meta in PAIRS])

    def with_condition(df):
        return df.assign(condition=np.where(df["noise"].astype(float) > 0, "added", "none"))

    basis = with_condition(basis_spread_table(
        basis_cells(basis_datasets, basis_rank, pair_seeds, protocol), settings,
        n_jobs=n_jobs, store=measure_store))
    levels = sorted(float(x) for x in noise_levels)
    noise_rows = rows_of(make_grid(noise_datasets, heads, noise_ranks, seeds, noises=levels,
                                   protocols=[protocol]))
    noise = noise_comparisons(noise_rows, levels[0], levels[-1])
    parts = with_condition(part_measures(face_cells(face_rank, pair_seeds, protocol),
                                         settings, n_jobs=n_jobs, store=measure_store))
    return Hypotheses(rows=rows, clustering=clustering, spread=spread, basis=basis,
                      basis_pairs=basis_spread_pairs(basis), noise_rows=noise_rows,
                      noise=noise, parts=parts, part_tests=part_comparisons(parts),
                      more_compute=more_compute, split_rows=split_rows)


def noise_summary(noise_rows):
    """H3's curves: per (dataset, model, noise), the mean NMI over ranks and seeds and the
    s.d. over seeds of each seed's mean over ranks."""
    per_seed = noise_rows.groupby(["dataset", "model", "noise", "seed"])["nmi"].mean()
    g = per_seed.groupby(["dataset", "model", "noise"])
    out = pd.DataFrame({"mean": g.mean(), "sd": g.std(), "n_seeds": g.count()}).reset_index()
    out["noise"] = out["noise"].astype(float)
    return out
