"""The book's profiles: one :class:`Profile` per name, everything every method computes in it.

``"full"`` holds the thesis' settings (and the sources' for the related methods) and the
committed result stores; ``"smoke"`` seconds-long settings for the tests and scratch stores
in ``_build/``. A notebook names its profile in its ``profile`` parameter
(:func:`metanmf_lab.book.notebook.check_parameters` resolves it here); a parameter left empty
(or 0) takes the profile's field of the same name (:data:`PARAMETER_DEFAULTS`).

The settings classes keep the full profile's values as their defaults (``Settings()``,
``ML100KSettings()``, ``NMFPriorSettings()``, ``MLAMSettings()``, the replication ``Plan()``):
this table only names them and says what the smoke profile changes.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .._config import PROJECT_ROOT
from ..grid.catalogue import THESIS_RANKS
from ..grid.cells import Settings
from ..grid.replication import Plan
from ..grid.store import (DEFAULT_MEASURE_STORE, DEFAULT_ML100K_STORE, DEFAULT_MLAM_STORE,
                          DEFAULT_NMF_PRIOR_STORE, DEFAULT_STORE)
from ..related.metaprior import ML100KSettings, NMFPriorSettings
from ..related.mlam import BIG_PS, BIG_RANKS, NMF_DATASETS, MLAMSettings

#: The five datasets of the thesis.
THESIS_DATASETS = ("blobs", "digits", "fmnist", "faces", "coil20")


@dataclass(frozen=True)
class Profile:
    """How much a notebook computes, for every method of the book."""

    name: str
    settings: Settings
    """Settings of the thesis grid (:class:`metanmf_lab.grid.Settings`)."""
    ranks: tuple
    seeds: tuple
    datasets: tuple
    # -- the chapters' parameters (a notebook parameter left empty takes these) --
    pair_seeds: tuple
    """Seeds of the two headline pairs and of the bases compared across seeds."""
    noise_datasets: tuple
    """Datasets of the noise sweep (hypothesis 3)."""
    noise_ranks: tuple
    basis_datasets: tuple
    """Datasets whose bases are compared across seeds."""
    ablation_seeds: tuple
    ablation_datasets: tuple
    fair_datasets: tuple
    """Datasets whose fair baselines the chapters read from the result store (the grid runs
    in parts; a chapter names any dataset it leaves out)."""
    pair_datasets: tuple
    """Datasets where the headline pairs run over ``pair_seeds``."""
    authors_datasets: tuple
    """Datasets run in full under the authors' code."""
    benchmarks: tuple
    """AltBi's synthetic benchmarks, their seeds and outer iterations."""
    bench_seeds: tuple
    max_iter: int
    splits: tuple
    """MovieLens 100K user/item splits of the meta-learned prior."""
    nmf_datasets: tuple
    """Datasets, ranks and seeds of the meta-learned prior's NMF version."""
    nmf_ranks: tuple
    nmf_seeds: tuple
    # -- what the related methods and the replications compute --
    plan: Plan
    """The robustness chapter's replications (:mod:`metanmf_lab.grid.replication`)."""
    ml100k: ML100KSettings
    nmf_prior: NMFPriorSettings
    mlam: MLAMSettings
    mlam_cells: tuple
    """MLAM's ``(experiment, params, seed)`` cells, cheapest first."""
    # -- where the rows go --
    store: Path
    measure_store: Path
    ml100k_store: Path
    nmf_prior_store: Path
    mlam_store: Path
    own_store: Path
    """Result store of a reader's own datasets
    (:func:`metanmf_lab.book.notebook.own_store_path`)."""


#: The profile fields a notebook parameter of the same name takes when it is left empty (a
#: list) or 0 (``max_iter``).
PARAMETER_DEFAULTS = ("pair_seeds", "noise_datasets", "noise_ranks", "basis_datasets",
                      "ablation_seeds", "ablation_datasets", "fair_datasets", "pair_datasets",
                      "authors_datasets", "benchmarks", "bench_seeds", "max_iter", "splits",
                      "nmf_datasets", "nmf_ranks", "nmf_seeds")

#: MLAM's cells of the full profile: the source's experiments with 50 training and 50 test
#: problems for the rank-5 completion at the four observation rates and for the GMM (2-D as
#: Fig. 6, and the dimensions of Table VI), 10 and 10 for the larger ranks and factor
#: dimensions of :data:`~metanmf_lab.related.mlam.BIG_RANKS` and
#: :data:`~metanmf_lab.related.mlam.BIG_PS` (Tables II and III), and the NMF version on the
#: four image datasets at rank 10 (three seeds, 10 training sub-matrices each, one per batch:
#: with ``nmf_train_outer`` = 20 outer iterations a batch gives two updates of the networks,
#: and batches of 10 would leave them with four in all).
FULL_MLAM_CELLS = tuple(
    [("gmm", dict(dim=d, n_train=50, n_test=50), 0) for d in (2, 4, 8, 16, 32, 64)]
    + [("completion", dict(rate=r, rank=5, p=5, n_train=50, n_test=50), 0)
       for r in (0.2, 0.4, 0.6, 0.8)]
    + [("nmf", dict(dataset=d, rank=10, n_train=10, n_test=1, train_batch=1), s)
       for d in NMF_DATASETS for s in (0, 1, 2)]
    + [("completion", dict(rate=0.2, rank=k, p=k, n_train=10, n_test=10), 0)
       for k in BIG_RANKS]
    + [("completion", dict(rate=0.2, rank=10, p=p, n_train=10, n_test=10), 0)
       for p in BIG_PS])

#: MLAM's cells of the smoke profile: seconds-long versions of one cell per experiment.
SMOKE_MLAM_CELLS = tuple(
    [("completion", dict(rate=r, rank=5, p=5, n_train=2, n_test=3), 0) for r in (0.2, 0.4)]
    + [("gmm", dict(dim=d, n_train=2, n_test=3), 0) for d in (2, 4)]
    + [("nmf", dict(dataset="digits", rank=3, n_train=2, n_test=1, train_batch=1), 0)])

_BUILD = PROJECT_ROOT / "_build"

PROFILES = {
    "full": Profile(
        "full", Settings(), tuple(THESIS_RANKS), tuple(range(5)), THESIS_DATASETS,
        pair_seeds=tuple(range(10)), noise_datasets=("digits", "faces", "coil20"),
        noise_ranks=(5, 10, 18), basis_datasets=("digits", "faces", "coil20"),
        ablation_seeds=(0,), ablation_datasets=THESIS_DATASETS,
        fair_datasets=THESIS_DATASETS, pair_datasets=THESIS_DATASETS,
        authors_datasets=THESIS_DATASETS, benchmarks=("A", "B", "C", "D-synthetic"),
        bench_seeds=tuple(range(10)), max_iter=500, splits=tuple(range(10)),
        nmf_datasets=THESIS_DATASETS, nmf_ranks=tuple(THESIS_RANKS), nmf_seeds=(0, 1, 2),
        plan=Plan(), ml100k=ML100KSettings(), nmf_prior=NMFPriorSettings(),
        mlam=MLAMSettings(), mlam_cells=FULL_MLAM_CELLS,
        store=DEFAULT_STORE, measure_store=DEFAULT_MEASURE_STORE,
        ml100k_store=DEFAULT_ML100K_STORE, nmf_prior_store=DEFAULT_NMF_PRIOR_STORE,
        mlam_store=DEFAULT_MLAM_STORE, own_store=PROJECT_ROOT / "data" / "own-results.csv"),
    # A few seconds per notebook: tiny budgets on the small datasets, two ranks, two seeds.
    "smoke": Profile(
        "smoke", Settings(n_epochs=3, inner_iter=10, baseline_iter=10), (2, 5), (0, 1),
        ("digits", "faces"),
        pair_seeds=(0, 1, 2), noise_datasets=("digits",), noise_ranks=(5,),
        basis_datasets=("digits",), ablation_seeds=(0,), ablation_datasets=("digits",),
        fair_datasets=("digits", "faces"), pair_datasets=("digits", "faces"),
        authors_datasets=("digits", "faces"), benchmarks=("A", "B"), bench_seeds=(0, 1),
        max_iter=30, splits=(0, 1), nmf_datasets=("digits",), nmf_ranks=(3,), nmf_seeds=(0,),
        # the smoke profile's datasets, one rank, seconds in the smoke settings
        plan=Plan(datasets=("digits", "faces"), splits=(1, 2),
                  split_ranks={"digits": (5,), "faces": (5,)},
                  calibration_levels=(0.4, 1.0), calibration_ranks=(5,),
                  calibration_seeds=(0, 1), calibrated_seeds=(0,), sweep_datasets=("digits",),
                  sweep_levels=(0.6,), sweep_ranks=(5,), sweep_seeds=(0,),
                  authors_ranks=(5,), authors_seeds=(0,), lambda_dataset="digits",
                  lambdas=(10.0,), lambda_ranks=(5,), raw_datasets=("digits",),
                  raw_ranks=(5,), iteration_dataset="digits", iterations=(10, 40),
                  iteration_ranks=(5,), iteration_seeds=(0,)),
        ml100k=ML100KSettings(rank=4, channels=4, n_layers=2, hidden=8, ff_layers=2,
                              n_iter=20, eval_every=10, n_valid=16, n_test=4, mf_regs=(1.0,),
                              eval_steps=(0, 10)),
        nmf_prior=NMFPriorSettings(channels=4, n_layers=2, hidden=8, ff_layers=2, n_steps=3,
                                   size=16, batch=4, n_iter=10, eval_every=5, n_valid=8,
                                   eval_iters=(0, 10)),
        mlam=MLAMSettings(hidden=4, n_outer=5, t_in=2, t_out=2, batch=2, nmf_rows=30,
                          nmf_train_outer=2, gd_lrs=(1e-2,), als_lams=(0.1, 1.0)),
        mlam_cells=SMOKE_MLAM_CELLS,
        store=_BUILD / "smoke-results.csv",
        measure_store=_BUILD / "smoke-basis-measures.csv",
        ml100k_store=_BUILD / "smoke-metaprior-ml100k.csv",
        nmf_prior_store=_BUILD / "smoke-metaprior-nmf.csv",
        mlam_store=_BUILD / "smoke-mlam.csv",
        own_store=_BUILD / "smoke-own-results.csv"),
}
