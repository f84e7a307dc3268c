"""The robustness chapter's replications: do the verdicts survive another split, another noise
level, GNMF's weight and the raw scale?

The thesis grid rests on one learning/evaluation split, one noise draw and one Fashion-MNIST
subset. This module defines the experiments that test how far its verdicts depend on them,
each a *design*: a list of ``(Settings, cells)`` blocks evaluated by
:func:`metanmf_lab.grid.run_grid` into the result store like every other row (so they
carry the same provenance and are recomputed by the same tests).

``splits``
    The two headline pairs and the strongest fair baseline of each of their Meta models
    (:func:`strongest_fair`), on :data:`SPLITS` more replications: each a fresh
    learning/evaluation split, a fresh noise draw and a fresh Fashion-MNIST subset
    (:func:`split_settings`), at :data:`SPLIT_RANKS` with seed 0. They measure the
    split-to-split variance that every verdict's interval includes
    (:mod:`metanmf_lab.book.chapters.verdicts`).
``calibration``
    Plain NMF (thesis protocol) against the noise level, per dataset: the level at which its
    NMI meets the thesis' noisy NMF number (:func:`calibrated_levels`).
``calibrated``
    The headline pairs and their strongest fair baselines at that level.
``sweep fair``
    The strongest fair baselines at the noise sweep's levels (the sweep had none).
``authors fair``
    Fair baselines under the authors'-code protocol (KL GNMF with a dense RBF graph): each
    Meta model against its base model given the same compute.
``lambda``
    Blobs: the GNMF and Meta-GNMF models at graph weights :data:`LAMBDAS` besides 100.
``raw scale``
    Blobs and Digits: Meta-NMF without the exact power-of-two rescaling of its bases, with the
    authors' "+eps" denominators (float32 epsilon) and without.
``iterations``
    Blobs: plain NMF after 25 to 3200 iterations, to show why 100 iterations leave it at a
    low NMI.

``python -m metanmf_lab.grid.replication estimate`` prints each design's cost from the store's
seconds per cell; ``run`` computes what is missing (resumable, with progress bars).
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..data.datasets import DATASETS as BUILT_IN
from .catalogue import FAIR_BASELINES, HEADLINE_PAIRS, THESIS_RANKS
from .cells import CONDITIONS, Cell, Settings, resolve_noise
from .reporting import select, thesis_tables
from .runner import run_grid
from .stats import mean_interval
from .store import DEFAULT_STORE, ResultStore

#: The extra replications: replication r > 0 draws its split, noise and Fashion-MNIST subset
#: from seed r; replication 0 is the thesis grid's (split 42, noise 0, subset 42).
SPLITS = (1, 2, 3, 4)
DATASETS = tuple(BUILT_IN)
#: Ranks of each extra replication, per dataset, and its seeds: chosen from the store's
#: seconds per cell (:func:`estimate`): two ranks and one seed on four splits cost 1.6
#: core-hours, most of it Blobs and Fashion-MNIST (20-60 s a cell, 10-30 times Digits').
SPLIT_RANKS = {"blobs": (5, 10), "fmnist": (5, 10), "digits": (5, 10), "faces": (5, 10),
               "coil20": (5, 10)}
SPLIT_SEEDS = (0,)

#: Noise levels of the calibration sweep (Gaussian s.d. on min-max scaled data).
CALIBRATION_LEVELS = (0.2, 0.4, 0.6, 0.8, 1.0, 1.25, 1.5, 2.0)
CALIBRATION_SEEDS = (0, 1, 2)
#: Seeds of the headline pairs at the calibrated level (ranks: :data:`SPLIT_RANKS`).
CALIBRATED_SEEDS = (0, 1)

#: The noise sweep (hypothesis 3) and the seeds of its fair baselines.
SWEEP_DATASETS = ("digits", "faces", "coil20")
SWEEP_LEVELS = (0.1, 0.2, 0.6)
SWEEP_RANKS = (5, 10, 18)
SWEEP_SEEDS = (0, 1)

#: Authors'-code protocol: ranks and seeds of the fair baselines.
AUTHORS_RANKS = (10,)
AUTHORS_SEEDS = (0,)

#: Blobs GNMF weights besides the thesis-protocol default of 100 (Cai et al.'s).
LAMBDAS = (1.0, 10.0, 1000.0)
LAMBDA_MODELS = ("GNMF", "Meta-GNMF", "GNMF NNDSVD", "Meta-GNMF NNDSVD")
LAMBDA_RANKS = (5, 18)
LAMBDA_NOISES = ("none",)

#: The authors' code adds float32's machine epsilon to every denominator.
FLOAT32_EPS = float(np.finfo(np.float32).eps)
RAW_MODELS = ("Meta-NMF", "Meta-NMF NNDSVD")

#: Plain NMF on Blobs after this many iterations (the thesis gives it 100).
ITERATIONS = (25, 50, 100, 200, 400, 800, 1600, 3200)
ITERATION_RANKS = (5, 10)
ITERATION_SEEDS = (0, 1, 2)

DESIGNS = ("calibration", "splits", "sweep fair", "calibrated", "lambda", "raw scale",
           "iterations", "authors fair")


@dataclass(frozen=True)
class Plan:
    """How much each design computes: the defaults are the book's (the module's constants),
    the tests' is the smoke profile's (:mod:`metanmf_lab.book.profiles`)."""

    datasets: tuple = DATASETS
    splits: tuple = SPLITS
    split_ranks: dict = field(default_factory=lambda: dict(SPLIT_RANKS))
    calibration_levels: tuple = CALIBRATION_LEVELS
    calibration_ranks: tuple = THESIS_RANKS
    calibration_seeds: tuple = CALIBRATION_SEEDS
    calibrated_seeds: tuple = CALIBRATED_SEEDS
    sweep_datasets: tuple = SWEEP_DATASETS
    sweep_levels: tuple = SWEEP_LEVELS
    sweep_ranks: tuple = SWEEP_RANKS
    sweep_seeds: tuple = SWEEP_SEEDS
    authors_ranks: tuple = AUTHORS_RANKS
    authors_seeds: tuple = AUTHORS_SEEDS
    lambda_dataset: str = "blobs"
    lambdas: tuple = LAMBDAS
    lambda_ranks: tuple = LAMBDA_RANKS
    raw_datasets: tuple = ("blobs", "digits")
    raw_ranks: tuple = THESIS_RANKS
    iteration_dataset: str = "blobs"
    iterations: tuple = ITERATIONS
    iteration_ranks: tuple = ITERATION_RANKS
    iteration_seeds: tuple = ITERATION_SEEDS



def split_settings(replication, base=None):
    """The settings of replication ``replication`` (0: ``base`` itself)."""
    base = Settings() if base is None else base
    if replication == 0:
        return base
    return base.replace(split_seed=int(replication), noise_seed=int(replication),
                        fmnist_subset_seed=int(replication))


def raw_settings(add_eps, base=None):
    """Meta-NMF's raw Algorithm 1: no rescaling of the bases; ``add_eps`` adds float32's
    epsilon to every denominator (the authors' code) instead of guarding exact zeros."""
    base = Settings() if base is None else base
    return base.replace(rescale_bases=False, denominator_eps=FLOAT32_EPS if add_eps else 0.0)


def strongest_fair(rows):
    """The strongest fair baseline of each headline Meta model, per (dataset, condition): the
    one with the highest mean NMI in ``rows`` (the thesis grid's rows, with a ``condition``
    column; rows at other noise levels, e.g. the calibration's, are left out). Returns
    ``{(dataset, condition, meta): fair model}``."""
    out = {}
    level = np.array([resolve_noise(d, "added") for d in rows["dataset"]], dtype=float)
    noise = rows["noise"].to_numpy(dtype=float)
    rows = rows[(noise == 0) | np.isclose(noise, level)]  # the grid's two conditions only
    for _, meta in HEADLINE_PAIRS:
        fair = rows[rows["model"].isin(FAIR_BASELINES[meta])]
        means = fair.groupby(["dataset", "condition", "model"])["nmi"].mean()
        for (dataset, condition), g in means.groupby(level=[0, 1]):
            out[(dataset, condition, meta)] = g.idxmax()[2]
    return out


def headline_models(fair, dataset, condition):
    """The headline pairs' four models and their strongest fair baselines on one dataset and
    condition (``fair``: :func:`strongest_fair`)."""
    models = [m for pair in HEADLINE_PAIRS for m in pair]
    models += [fair[(dataset, condition, meta)] for _, meta in HEADLINE_PAIRS
               if (dataset, condition, meta) in fair]
    return list(dict.fromkeys(models))


def headline_cells(fair, datasets, noises, ranks, seeds, protocol="thesis"):
    cells = []
    for dataset in datasets:
        for noise in noises:
            level = resolve_noise(dataset, noise) if isinstance(noise, str) else noise
            level = noise.get(dataset) if isinstance(noise, dict) else level
            if level is None:
                continue
            condition = "added" if level > 0 else "none"
            cells += [Cell(dataset, float(level), m, r, s, protocol)
                      for m in headline_models(fair, dataset, condition)
                      for r in ranks[dataset] for s in seeds]
    return cells


def thesis_rows(store=DEFAULT_STORE, settings=None, protocol="thesis"):
    """The thesis grid's rows (replication 0) of ``store``, with a ``condition`` column."""

    settings = Settings() if settings is None else settings
    df = store.load() if isinstance(store, ResultStore) else ResultStore(store).load()
    return select(df, settings, protocol)


def calibration_table(rows, thesis):
    """Per dataset and noise level: plain NMF's NMI (mean over ranks, per seed, then the mean
    and t interval over seeds) and the thesis' noisy NMF number. ``rows``: the calibration
    design's rows and the thesis grid's plain NMF rows; ``thesis``:
    :func:`metanmf_lab.grid.reporting.thesis_tables`."""

    nmf = rows[rows["model"] == "NMF"]
    per_seed = nmf.groupby(["dataset", "noise", "seed"])["nmi"].mean()
    out = []
    for (dataset, noise), g in per_seed.groupby(level=[0, 1]):
        mean, low, high = mean_interval(g.to_numpy())
        out.append(dict(dataset=dataset, noise=float(noise), nmi=mean, low=low, high=high,
                        n_seeds=int(g.size)))
    table = pd.DataFrame(out)
    target = thesis[(thesis["model"] == "NMF") & (thesis["noise"] == "added")]
    table["thesis_noisy_nmf"] = table["dataset"].map(
        target.set_index("dataset")["thesis_nmi"])
    return table


def calibrated_levels(table):
    """Per dataset, the noise level at which plain NMF's NMI meets the thesis' noisy NMF
    number: linear interpolation between the two levels of :func:`calibration_table` that
    bracket it (NMI falls with noise), rounded to 0.05; ``nan`` when no level brackets it."""
    out = {}
    for dataset, g in table.sort_values("noise").groupby("dataset"):
        x, y, t = g["noise"].to_numpy(), g["nmi"].to_numpy(), g["thesis_noisy_nmf"].iloc[0]
        level = np.nan
        for i in range(len(x) - 1):
            if y[i] >= t >= y[i + 1] and y[i] > y[i + 1]:
                level = x[i] + (y[i] - t) / (y[i] - y[i + 1]) * (x[i + 1] - x[i])
                break
        out[dataset] = (float(np.round(np.round(level / 0.05) * 0.05, 2))
                        if np.isfinite(level) else np.nan)
    return out


def design(name, store=DEFAULT_STORE, settings=None, plan=None):
    """The blocks of design ``name`` (:data:`DESIGNS`) under ``plan`` (default: the book's,
    ``Plan()``): a list of ``(Settings, cells)``. ``calibrated`` reads the calibration's rows
    from ``store`` (run that first); the designs with fair baselines read the thesis grid's
    rows to pick them."""
    settings = Settings() if settings is None else settings
    if name not in DESIGNS:
        raise ValueError(f"Unknown design {name!r}; the designs are {', '.join(DESIGNS)}.")
    P = Plan() if plan is None else plan
    if name == "calibration":
        cells = [Cell(d, lv, "NMF", r, s) for d in P.datasets for lv in P.calibration_levels
                 for r in P.calibration_ranks for s in P.calibration_seeds]
        return [(settings, cells)]
    if name == "iterations":
        return [(settings.replace(baseline_iter=n),
                 [Cell(P.iteration_dataset, 0.0, "NMF", r, s) for r in P.iteration_ranks
                  for s in P.iteration_seeds]) for n in P.iterations]
    if name == "raw scale":
        out = []
        for add_eps in (True, False):
            # Blobs without noise only (its cells cost ~35 s); without eps on the others only,
            # as the check that the raw algorithm alone changes nothing
            cells = [Cell(d, resolve_noise(d, nz), m, r, 0)
                     for d in P.raw_datasets for nz in CONDITIONS
                     for m in RAW_MODELS for r in P.raw_ranks
                     if d != "blobs" or (add_eps and nz == "none")]
            out.append((raw_settings(add_eps, settings), cells))
        return out
    if name == "lambda":
        return [(settings.replace(gnmf_lam=lam),
                 [Cell(P.lambda_dataset, 0.0, m, r, 0) for m in LAMBDA_MODELS
                  for r in P.lambda_ranks]) for lam in P.lambdas]
    rows = thesis_rows(store, settings)
    fair = strongest_fair(rows)
    if name == "splits":
        return [(split_settings(r, settings),
                 headline_cells(fair, P.datasets, tuple(CONDITIONS), P.split_ranks, (0,)))
                for r in P.splits]
    if name == "calibrated":
        table = calibration_table(calibration_rows(store, settings, P), _thesis())
        levels = calibrated_levels(table)
        levels = {d: lv for d, lv in levels.items()
                  if np.isfinite(lv) and not np.isclose(lv, resolve_noise(d, "added"))}
        return [(settings, headline_cells(fair, list(levels), [levels], P.split_ranks,
                                          P.calibrated_seeds))]
    if name == "sweep fair":
        cells = [Cell(d, lv, fair[(d, "added", meta)], r, s) for d in P.sweep_datasets
                 for lv in P.sweep_levels for _, meta in HEADLINE_PAIRS
                 for r in P.sweep_ranks for s in P.sweep_seeds]
        return [(settings, cells)]
    # authors fair: each Meta model against its base model at equal compute, own init; the
    # NMF family first (cheap), then GNMF (KL with a dense graph: 60-220 s a cell)
    cells = [Cell(d, resolve_noise(d, nz), FAIR_BASELINES[m][0], r, s, "authors")
             for family in ("NMF", "GNMF") for d in P.datasets for nz in CONDITIONS
             for m in FAIR_BASELINES if m.split()[0] == f"Meta-{family}"
             for r in P.authors_ranks for s in P.authors_seeds]
    half = len(cells) // 2
    return [(settings, cells[:half]), (settings, cells[half:])]


def _thesis():

    return thesis_tables()


def calibration_rows(store=DEFAULT_STORE, settings=None, plan=None):
    """Plain NMF's rows of the calibration (``plan``, default ``Plan()``): its seeds and
    ranks, at every calibration level and without noise."""
    settings = Settings() if settings is None else settings
    plan = Plan() if plan is None else plan
    rows = thesis_rows(store, settings)
    levels = (0.0,) + tuple(plan.calibration_levels)
    return rows[(rows["model"] == "NMF") & rows["seed"].isin(plan.calibration_seeds)
                & rows["rank"].isin(plan.calibration_ranks)
                & rows["dataset"].isin(plan.datasets)
                & np.isclose(rows["noise"].to_numpy(float)[:, None], levels).any(axis=1)]


def seconds_per_cell(store=DEFAULT_STORE, settings=None):
    """Mean seconds per cell of the thesis grid, per (dataset, model, rank, protocol)."""
    settings = Settings() if settings is None else settings
    df = ResultStore(store).load() if not isinstance(store, ResultStore) else store.load()
    df = df[df["settings_hash"] == settings.hash]
    return df.groupby(["dataset", "model", "rank", "protocol"])["seconds"].mean()


def estimate(blocks, seconds):
    """Single-core seconds of ``blocks`` from ``seconds`` (:func:`seconds_per_cell`); cells
    of models or ranks the store has not timed count as the mean of their dataset and
    model (then of their dataset)."""
    by_model = seconds.groupby(level=[0, 1, 3]).mean()
    by_dataset = seconds.groupby(level=0).mean()
    total = 0.0
    for _, cells in blocks:
        for c in cells:
            key = (c.dataset, c.model, c.rank, c.protocol)
            if key in seconds.index:
                total += seconds[key]
            elif (c.dataset, c.model, c.protocol) in by_model.index:
                total += by_model[(c.dataset, c.model, c.protocol)]
            else:
                total += by_dataset[c.dataset]
    return total


def run_blocks(name, store=DEFAULT_STORE, settings=None, n_jobs=1, progress=True, plan=None,
               protocol=None):
    """Compute the cells of design ``name`` missing from ``store``; returns one
    ``(block settings, rows)`` per block, the rows selected under the block's settings
    (:func:`metanmf_lab.grid.reporting.select`, with a ``condition`` column)."""

    out = []
    for block_settings, cells in design(name, store, settings, plan):
        if not cells:
            continue
        got = run_grid(cells, block_settings, store=store, n_jobs=n_jobs, progress=progress)
        protocols = sorted({c.protocol for c in cells}) if protocol is None else [protocol]
        rows = pd.concat([select(got, block_settings, p) for p in protocols],
                         ignore_index=True)
        out.append((block_settings, rows))
    return out


def run(name, store=DEFAULT_STORE, settings=None, n_jobs=1, progress=True, plan=None):
    """Compute the cells of design ``name`` missing from ``store``; returns their rows."""
    blocks = run_blocks(name, store, settings, n_jobs, progress, plan)
    return pd.concat([rows for _, rows in blocks], ignore_index=True) if blocks else \
        pd.DataFrame()


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m metanmf_lab.grid.replication",
        description="Replications of the thesis grid: other splits, calibrated noise, the "
                    "authors'-code protocol's fair baselines, GNMF's weight, the raw scale.")
    parser.add_argument("action", choices=("estimate", "run"))
    parser.add_argument("--only", action="append", choices=DESIGNS, metavar="DESIGN",
                        help=f"one of: {', '.join(DESIGNS)} (repeatable; default: all)")
    parser.add_argument("--jobs", type=int, default=1, metavar="N")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    if args.jobs < 1:
        parser.error("--jobs must be >= 1")
    names = args.only or list(DESIGNS)
    seconds = seconds_per_cell()
    for name in names:
        if args.action == "estimate":
            blocks = design(name)
            n = sum(len(c) for _, c in blocks)
            est = estimate(blocks, seconds)
            print(f"{name:15s} {n:5d} cells  ~{est / 3600:5.2f} core-hours")
        else:
            rows = run(name, n_jobs=args.jobs, progress=not args.no_progress)
            print(f"{name}: {len(rows)} rows")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
