"""The experiment grid: the eight models of the thesis, cells, and a resumable parallel runner.

A *cell* is one (dataset, noise, model, rank, seed, protocol) evaluated under a
:class:`Settings`. Evaluating a cell (thesis Sec. 4.2):

1. load the dataset (with noise if asked), split it 50/50 into a learning and an evaluation
   half (seed 42);
2. a baseline model factorises the evaluation half from its own initialisation; a Meta model
   runs the meta-learning phase on the learning half, then the evaluation phase on the
   evaluation half;
3. k-means (k = number of classes, seeded by the cell's seed) clusters the coefficients of the
   evaluation half; the score is the NMI with the true labels.

The cell's seed drives everything random in the model (initialisation, meta-task draw) and
k-means; the data split (seed 42) and the noise (``Settings.noise_seed``) are fixed, so seeds
measure the variability of the method, not of the data.

Every cell runs with BLAS and OpenMP (k-means) limited to one thread, so a cell gives
bit-identical numbers whether the grid runs serially, in parallel processes or on a cluster.
"""

from __future__ import annotations

import argparse
import hashlib
import math
import os
import signal
import sys
from contextlib import contextmanager, nullcontext
import json
import platform
import time
import warnings
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timezone
from typing import Optional

import numpy as np
from joblib import Parallel, delayed, parallel_config
from threadpoolctl import threadpool_limits

from ._config import ALGORITHM_VERSION, __version__
from ._losses import reconstruction_error
from ._meta import MetaNMF, WarmStartNMF
from ._nmf import GNMF, NMF
from ._validation import check_choice, check_int, check_real
from .evaluation import cluster_nmi
from .protocols import FIELDS as PROTOCOL_FIELDS
from .protocols import PROTOCOLS, get_protocol
from .splits import TaskSplitWarning, learning_evaluation_split
from .store import DEFAULT_STORE, KEY, ResultStore, key_of, shown_path

#: The eight models, named as in the thesis tables.
MODELS = ("NMF", "Meta-NMF", "GNMF", "Meta-GNMF", "NMF NNDSVD", "Meta-NMF NNDSVD",
          "GNMF NNDSVD", "Meta-GNMF NNDSVD")

#: Fair baselines (not in the thesis): the base model given the Meta model's compute, from
#: random and from NNDSVD init; and a warm start without meta-tasks (see fit_cell).
FAIR_MODELS = ("NMF (equal compute)", "NMF NNDSVD (equal compute)", "GNMF (equal compute)",
               "GNMF NNDSVD (equal compute)", "NMF (warm start)", "NMF NNDSVD (warm start)",
               "GNMF (warm start)", "GNMF NNDSVD (warm start)")

ALL_MODELS = MODELS + FAIR_MODELS

#: The fair baselines of each Meta model: its base model at equal compute from the base's own
#: init and from the other init, and the warm start of its base model.
FAIR_BASELINES = {
    "Meta-NMF": ("NMF (equal compute)", "NMF NNDSVD (equal compute)", "NMF (warm start)"),
    "Meta-NMF NNDSVD": ("NMF NNDSVD (equal compute)", "NMF (equal compute)",
                        "NMF NNDSVD (warm start)"),
    "Meta-GNMF": ("GNMF (equal compute)", "GNMF NNDSVD (equal compute)", "GNMF (warm start)"),
    "Meta-GNMF NNDSVD": ("GNMF NNDSVD (equal compute)", "GNMF (equal compute)",
                         "GNMF NNDSVD (warm start)"),
}

#: (baseline, Meta model) pairs in the order of thesis Tables 4.3-4.6.
PAIRS = (("NMF", "Meta-NMF"), ("GNMF", "Meta-GNMF"), ("GNMF NNDSVD", "Meta-GNMF NNDSVD"),
         ("NMF NNDSVD", "Meta-NMF NNDSVD"))

#: One-at-a-time protocol ablations: each switches one difference between the thesis text and
#: the authors' code (or one unstated choice) over the thesis settings. Name -> changes to
#: :class:`Settings` (``protocol_overrides`` as a dict). Noise level and rank are cell
#: coordinates, not settings, so their sweeps are grids of cells instead.
ABLATIONS = {
    "task size 100": dict(task_size=100),
    "overlapping tasks, target = whole learning set": dict(
        protocol_overrides=dict(disjoint_tasks=False, target="all")),
    "running sum never reset": dict(protocol_overrides=dict(transfer="running_sum")),
    "W_t starts at zero": dict(protocol_overrides=dict(target_start="zero")),
    "column max-normalisation": dict(protocol_overrides=dict(normalize_calls=True)),
    "NNDSVD override": dict(protocol_overrides=dict(nndsvd_override=True)),
    "GNMF: KL + dense RBF graph": dict(protocol_overrides=dict(gnmf="reference")),
    "baseline stops on factor change": dict(protocol_overrides=dict(baseline_stopping="factors")),
    "Faces at 64x64": dict(faces_size=64),
    "Faces: NMI over all 400 images": dict(faces_eval_all=True),
    "another learning/evaluation split": dict(split_seed=0),
    "another Fashion-MNIST subset": dict(fmnist_subset_seed=0),
    "noise s.d. halved": dict(noise_scale=0.5),
    "noise s.d. doubled": dict(noise_scale=2.0),
}


def ablation_applies(name, model, dataset, noise=None):
    """Whether ablation ``name`` can change the result of ``model`` on ``dataset`` with noise
    s.d. ``noise`` (None: any); thesis models; a test checks that every other combination
    gives bit-identical results."""
    check_choice(name, tuple(ABLATIONS), name="ablation")
    meta, family, init = parse_model(model)
    if name in ("Faces at 64x64", "Faces: NMI over all 400 images"):
        return dataset == "faces"
    if name == "another Fashion-MNIST subset":
        return dataset == "fmnist"
    if name in ("noise s.d. halved", "noise s.d. doubled"):
        return noise is None or noise > 0
    if name == "another learning/evaluation split":
        return True
    if name == "task size 100":
        return meta and _task_size_changes(dataset, 100)
    if name in ("overlapping tasks, target = whole learning set",
                "running sum never reset", "W_t starts at zero"):
        return meta
    if name == "column max-normalisation":
        return family == "nmf"
    if name == "NNDSVD override":
        return meta and family == "nmf" and init == "nndsvd"
    if name == "GNMF: KL + dense RBF graph":
        return family == "gnmf"
    if name == "baseline stops on factor change":
        return family == "nmf" and not meta
    raise AssertionError(name)  # pragma: no cover  (every ablation has a rule above)


def _task_size_changes(dataset, task_size, n_tasks=5):
    """Whether asking for meta-tasks of ``task_size`` changes the thesis split of ``dataset``:
    not where both it and the default shrink to the same size to fit the learning half
    (Faces: 200 learning images give tasks of 20 either way)."""
    from .datasets import dataset_info
    from .splits import make_tasks

    n = dataset_info(dataset).n_samples
    n_learn = n - (-(-n // 2))

    def size(ts):
        return make_tasks(n_learn, n_tasks=n_tasks, task_size=ts, random_state=0).task_size

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TaskSplitWarning)
        return size(task_size) != size(None)


def ablation_settings(name, settings=None):
    """The settings of ablation ``name`` (see :data:`ABLATIONS`) over ``settings``."""
    settings = Settings() if settings is None else settings
    changes = dict(ABLATIONS[check_choice(name, tuple(ABLATIONS), name="ablation")])
    if "protocol_overrides" in changes:
        merged = dict(settings.protocol_overrides)
        merged.update(changes["protocol_overrides"])
        changes["protocol_overrides"] = tuple(merged.items())
    return settings.replace(**changes)


def ablation_cells(name, entries, ranks=None, seeds=(0,), protocol="thesis"):
    """The cells that measure ablation ``name`` on table entries.

    Parameters
    ----------
    name : str, a key of :data:`ABLATIONS`
    entries : iterable of (dataset, condition, model)
        Table entries (condition ``"none"`` or ``"added"``: no noise or the dataset's default
        level), e.g. those that differ from the thesis
        (:func:`metanmf_lab.reporting.entries_beyond`).
    ranks, seeds : the ranks (default: the thesis' six) and seeds of every entry

    Returns
    -------
    list of Cell
        Every (rank, seed) of each entry the ablation can change (:func:`ablation_applies`);
        they are evaluated under :func:`ablation_settings`, and the same cells under the
        thesis settings are the comparison.
    """
    check_choice(name, tuple(ABLATIONS), name="ablation")
    return [c for c in entry_cells(entries, ranks, seeds, protocol)
            if ablation_applies(name, c.model, c.dataset, c.noise)]


def entry_cells(entries, ranks=None, seeds=(0,), protocol="thesis"):
    """Every (rank, seed) cell of table entries (dataset, condition, model); condition
    ``"none"`` is no noise, ``"added"`` the dataset's default level. Ranks default to the
    thesis' six."""
    ranks = THESIS_RANKS if ranks is None else ranks
    cells = []
    for dataset, condition, model in entries:
        cond = check_choice(condition, ("none", "added"), name="condition")
        noise = resolve_noise(dataset, "none" if cond == "none" else "default")
        cells += [Cell(dataset, noise, model, r, s, protocol) for r in ranks for s in seeds]
    return cells


def ablation_grid(entries, ranks=None, seeds=(0,), names=None, datasets=None,
                  protocol="thesis"):
    """Every ablation's cells (:func:`ablation_cells`) on ``entries``: ``{name: cells}``, only
    the ablations in ``names`` (default: all) and the entries on ``datasets`` (default: all);
    ablations that apply to none of them are left out."""
    names = tuple(ABLATIONS) if names is None else names
    if datasets is not None:
        entries = [e for e in entries if e[0] in set(datasets)]
    grid = {n: ablation_cells(n, entries, ranks, seeds, protocol) for n in names}
    return {n: c for n, c in grid.items() if c}


def ablation_cost(grid, seconds):
    """Estimated single-core seconds of an ablation grid: per cell, the mean seconds its
    dataset and model took in the thesis grid (``seconds``: a Series indexed by (dataset,
    model)). A lower bound where an ablation makes a cell slower (e.g. Faces at 64x64)."""
    return {n: float(sum(seconds.get((c.dataset, c.model), np.nan) for c in cells))
            for n, cells in grid.items()}


#: The two headline pairs of the hypotheses chapter: the plain pair, and the pair the thesis
#: reports as its best (GNMF from NNDSVD).
HEADLINE_PAIRS = (PAIRS[0], PAIRS[2])

#: Ranks of thesis Table 4.2.
THESIS_RANKS = (2, 3, 5, 10, 14, 18)


def model_kind(name):
    """``"baseline"``, ``"meta"``, ``"equal_compute"`` or ``"warm_start"``."""
    name = check_choice(name, ALL_MODELS, name="model")
    if name.startswith("Meta-"):
        return "meta"
    if name.endswith("(equal compute)"):
        return "equal_compute"
    return "warm_start" if name.endswith("(warm start)") else "baseline"


def parse_model(name):
    """Split a model name into ``(is_meta, family, init)``, e.g. ``(True, "gnmf", "nndsvd")``."""
    name = check_choice(name, ALL_MODELS, name="model")
    meta = model_kind(name) == "meta"
    stem = (name[5:] if meta else name).split(" (")[0]
    family = "gnmf" if stem.startswith("GNMF") else "nmf"
    init = "nndsvd" if stem.endswith("NNDSVD") else "random"
    return meta, family, init


def equal_compute_iterations(settings, protocol, n_learn, n_eval, rank):
    """Iterations on the evaluation half that cost what a Meta model spends in total.

    One MU iteration on an n-sample matrix costs in proportion to n (both products with X
    are n x m x k). A Meta model spends ``n_epochs * inner_iter * (n_tasks * task_size +
    n_target) + inner_iter * n_eval`` sample-iterations (meta-tasks, target, evaluation);
    divided by ``n_eval`` this is the number of iterations on the evaluation half with the
    same arithmetic (5,100 for the thesis' settings when the learning and evaluation halves
    are equal).
    """
    from .splits import make_tasks

    proto = settings.protocol(protocol) if isinstance(protocol, str) else protocol
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TaskSplitWarning)
        split = make_tasks(n_learn, n_tasks=settings.n_tasks, task_size=settings.task_size,
                           protocol=proto, random_state=0, min_size=rank)
    per_epoch = settings.n_tasks * split.task_size + split.target.size
    total = settings.n_epochs * settings.inner_iter * per_epoch + settings.inner_iter * n_eval
    return int(round(total / n_eval))


#: Settings fields added after the first stored rows, with the defaults that leave the hash of
#: those rows unchanged (see :meth:`Settings.to_json`).
LATER_FIELDS = {"fmnist_subset_seed": 42, "noise_scale": 1.0, "faces_eval_all": False,
                "denominator_eps": 0.0}


@dataclass(frozen=True)
class Settings:
    """Everything that defines a result besides the cell key (thesis Table 4.2 defaults).

    Two results are only comparable if their settings hash is equal.
    """

    n_epochs: int = 50
    inner_iter: int = 100
    n_tasks: int = 5
    task_size: Optional[int] = None
    """Samples per meta-task; None = protocol default (50 thesis, 100 reference)."""
    baseline_iter: int = 100
    gnmf_lam: Optional[float] = None
    """Graph weight; None = protocol default (100 thesis / Cai et al., 0.3 reference)."""
    n_neighbors: int = 5
    graph_weight: str = "binary"
    faces_size: int = 32
    dtype: str = "float64"
    kmeans_n_init: int = 10
    split_seed: int = 42
    noise_seed: int = 0
    rescale_bases: bool = True
    """MetaNMF's exact power-of-two rescaling of the bases between epochs (see MetaNMF)."""
    protocol_overrides: tuple = ()
    """``(field, value)`` pairs applied over the cell's protocol preset, to switch one
    protocol difference at a time (see :mod:`metanmf_lab.protocols`)."""
    fmnist_subset_seed: int = 42
    """Seed of the draw of the 6000 Fashion-MNIST images (see ``load_dataset``)."""
    noise_scale: float = 1.0
    """Factor on every cell's noise s.d. (an ablation: the thesis' noise levels are unknown)."""
    faces_eval_all: bool = False
    """Faces only: factorise and cluster all 400 images instead of the evaluation half (Meta
    and warm-start models still learn on the learning half). A test of the measurement, not a
    protocol difference (the thesis, Sec. 4.2, evaluates on the evaluation half): with 10
    images per person the half holds about 5 per class, where NMI is biased upwards."""
    denominator_eps: float = 0.0
    """NMF bases: 0 guards exact zeros of the update denominators; > 0 adds it to every
    denominator, as the authors' code does (``NMF(denominator_eps=...)``)."""

    def __post_init__(self):
        check_int(self.n_epochs, name="n_epochs", low=0)
        check_int(self.inner_iter, name="inner_iter", low=1)
        check_int(self.n_tasks, name="n_tasks", low=1)
        if self.task_size is not None:
            check_int(self.task_size, name="task_size", low=1)
        check_int(self.baseline_iter, name="baseline_iter", low=1)
        if self.gnmf_lam is not None:
            check_real(self.gnmf_lam, name="gnmf_lam", low=0)
        check_int(self.n_neighbors, name="n_neighbors", low=1)
        check_choice(self.graph_weight, ("binary", "heat"), name="graph_weight")
        check_choice(self.faces_size, (32, 64), name="faces_size")
        check_choice(self.dtype, ("float64", "float32"), name="dtype")
        check_int(self.kmeans_n_init, name="kmeans_n_init", low=1)
        check_int(self.split_seed, name="split_seed", low=0)
        check_int(self.noise_seed, name="noise_seed", low=0)
        if not isinstance(self.rescale_bases, bool):
            raise TypeError(f"rescale_bases must be True or False, got {self.rescale_bases!r}.")
        if not isinstance(self.faces_eval_all, bool):
            raise TypeError(
                f"faces_eval_all must be True or False, got {self.faces_eval_all!r}.")
        check_int(self.fmnist_subset_seed, name="fmnist_subset_seed", low=0)
        check_real(self.noise_scale, name="noise_scale", low=0, low_inclusive=False)
        check_real(self.denominator_eps, name="denominator_eps", low=0)
        pairs = tuple(sorted((str(k), v) for k, v in dict(self.protocol_overrides).items()))
        object.__setattr__(self, "protocol_overrides", pairs)
        get_protocol("thesis", **dict(pairs))  # validates field names and values

    def protocol(self, name):
        """The effective :class:`Protocol` of a cell of protocol ``name``."""
        return get_protocol(name, **dict(self.protocol_overrides))

    def to_json(self):
        """The settings as canonical JSON (what :attr:`hash` hashes). Fields added after the
        result store began (:data:`LATER_FIELDS`) are written only when they differ from their
        default, so every stored hash stays valid."""
        fields = asdict(self)
        for name, default in LATER_FIELDS.items():
            if fields[name] == default:
                del fields[name]
        return json.dumps(fields, sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_json(cls, text):
        """The settings a store row was computed with (inverse of :meth:`to_json`)."""
        fields = json.loads(text)
        fields["protocol_overrides"] = tuple(
            tuple(pair) for pair in fields.get("protocol_overrides", ()))
        return cls(**fields)

    @property
    def hash(self):
        """Short hash of the settings and the algorithm version."""
        payload = f"{self.to_json()}|algorithm={ALGORITHM_VERSION}".encode()
        return hashlib.sha256(payload).hexdigest()[:12]

    def replace(self, **changes):
        return replace(self, **changes)


@dataclass(frozen=True, order=True)
class Cell:
    """One point of the grid."""

    dataset: str
    noise: float
    model: str
    rank: int
    seed: int
    protocol: str = "thesis"

    def __post_init__(self):
        from .datasets import DATASETS, is_user_dataset

        # a reader's own dataset (registered by datasets.user_dataset) or a built-in one
        if not is_user_dataset(self.dataset):
            object.__setattr__(self, "dataset", check_choice(self.dataset, tuple(DATASETS),
                                                             name="dataset"))
        object.__setattr__(self, "noise", check_real(self.noise, name="noise", low=0))
        object.__setattr__(self, "model", check_choice(self.model, ALL_MODELS, name="model"))
        object.__setattr__(self, "rank", check_int(self.rank, name="rank", low=1))
        object.__setattr__(self, "seed", check_int(self.seed, name="seed", low=0))
        object.__setattr__(self, "protocol", check_choice(self.protocol, PROTOCOLS,
                                                          name="protocol"))


def resolve_noise(dataset, noise):
    """``"none"`` -> 0, ``"default"`` -> the dataset's default level, a number -> itself."""
    from .datasets import dataset_info

    if isinstance(noise, str):
        choice = check_choice(noise, ("none", "default"), name="noise")
        return 0.0 if choice == "none" else float(dataset_info(dataset).default_noise)
    return check_real(noise, name="noise", low=0)


def make_grid(datasets, models=MODELS, ranks=THESIS_RANKS, seeds=range(5),
              noises=("none", "default"), protocols=("thesis",)):
    """All cells of a full factorial grid (noise levels may be ``"none"``/``"default"``)."""
    cells = []
    for d in datasets:
        for nz in noises:
            for p in protocols:
                for m in models:
                    for r in ranks:
                        for s in seeds:
                            cells.append(Cell(d, resolve_noise(d, nz), m, r, s, p))
    return cells


def _lower_first(text):
    return text[:1].lower() + text[1:]


def check_ranks(dataset, ranks, settings=None, protocol="thesis"):
    """Check, before anything is fitted, that every model can run at each of ``ranks`` on
    ``dataset`` (a built-in one or a reader's own, registered by
    :func:`metanmf_lab.datasets.user_dataset`) under ``settings`` and ``protocol``.

    A rank needs at most as many features as the data have and at most as many samples as
    the learning half (the smaller half of the 50/50 split: warm starts factorise it), and
    the protocol's meta-tasks and target, drawn from the learning half, must each hold at
    least that many samples (:func:`metanmf_lab.splits.make_tasks`, with the same fallback
    to smaller tasks a cell uses), and at least two (GNMF's neighbour graph). Raises
    ``ValueError`` naming the dataset (a reader's file by its file name), the first rank that
    cannot run and why, and the largest rank that can; returns None when every rank can run.
    The results notebook's parameter check calls it for a reader's file, so a file too small
    for the ranks asked for fails before anything is fitted.
    """
    from .datasets import dataset_info, is_user_dataset, user_dataset_path
    from .splits import make_tasks

    settings = Settings() if settings is None else settings
    info = dataset_info(dataset)
    n = info.n_samples
    m = settings.faces_size ** 2 if info.name == "faces" else info.n_features
    n_eval = -(-n // 2)  # train_test_split(test_size=0.5) rounds the evaluation half up
    n_learn = n - n_eval
    proto = settings.protocol(protocol)

    def problem(r):
        if r > m:
            return f"it has only {m} features"
        if r > n_learn:
            return f"its learning half has only {n_learn} samples"
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", TaskSplitWarning)
                split = make_tasks(n_learn, n_tasks=settings.n_tasks,
                                   task_size=settings.task_size, protocol=proto,
                                   random_state=0, min_size=r)
        except ValueError as exc:
            return (f"the {settings.n_tasks} meta-tasks of the {protocol} protocol cannot be "
                    f"drawn from its learning half: {_lower_first(str(exc).rstrip('.'))}")
        if min(split.task_size, split.target.size) < 2:
            return (f"its learning half gives meta-tasks of {split.task_size} sample(s), and "
                    f"GNMF's neighbour graph needs at least 2")
        return None

    ranks = [check_int(r, name="rank", low=1) for r in ranks]
    bad = [r for r in ranks if problem(r)]
    if not bad:
        return None
    largest = next((r for r in range(min(m, n_learn), 0, -1) if problem(r) is None), 0)
    what = (f"Data file {user_dataset_path(dataset).name!r}" if is_user_dataset(dataset)
            else f"Dataset {info.display_name}")
    fix = (f"The largest rank it allows is {largest}: ask for ranks up to {largest} (the "
           f"ranks parameter), or use a larger file." if largest else
           f"No rank can run on it under the {protocol} protocol ({problem(1)}): it needs "
           f"more samples.")
    raise ValueError(f"{what} ({n} samples, {n_learn} of them in the learning half; {m} "
                     f"features) is too small for rank {bad[0]}: {problem(bad[0])}. {fix}")


def make_base(family, init, protocol, settings, *, rank, seed):
    """The base model of a family under a protocol (also the baseline of a Meta model).

    ``protocol.gnmf == "cai"``: Cai et al.'s GNMF (Frobenius, kNN graph p = 5, 0-1 weights,
    lambda = 100); ``"reference"``: the code's KL GNMF with a dense RBF graph (sigma = 0.5,
    lambda = 0.3) and split-gradient updates. NMF: Frobenius, exactly ``baseline_iter``
    iterations (thesis) or the reference rule (stop when both factor changes < 1e-3), with the
    reference's max-normalised basis when ``protocol.normalize_calls``.
    """
    protocol = settings.protocol(protocol) if isinstance(protocol, str) else protocol
    common = dict(n_components=rank, init=init, max_iter=settings.baseline_iter,
                  random_state=seed)
    if family == "nmf":
        stop = dict(tol=1e-3, stopping="factors") if protocol.baseline_stopping == "factors" \
            else dict(tol=0.0)
        return NMF(loss="frobenius", normalize=protocol.normalize_calls, **stop,
                   denominator_eps=settings.denominator_eps, **common)
    if protocol.gnmf == "reference":
        lam = 0.3 if settings.gnmf_lam is None else settings.gnmf_lam
        return GNMF(lam=lam, loss="kl", graph="rbf", sigma=0.5, kl_update="split", tol=0.0,
                    **common)
    lam = 100.0 if settings.gnmf_lam is None else settings.gnmf_lam
    return GNMF(lam=lam, loss="frobenius", graph="knn", n_neighbors=settings.n_neighbors,
                weight=settings.graph_weight, tol=0.0, **common)


def make_model(model, rank, seed, protocol="thesis", settings=None, *, equal_iter=None):
    """The estimator for a model name: a baseline NMF/GNMF, a MetaNMF around it, or a fair
    baseline (``equal_iter``: the equal-compute iteration budget, see
    :func:`equal_compute_iterations`)."""
    settings = Settings() if settings is None else settings
    proto = settings.protocol(protocol)
    kind = model_kind(model)
    _, family, init = parse_model(model)
    base = make_base(family, init, proto, settings, rank=rank, seed=seed)
    if kind == "baseline":
        return base
    if kind == "equal_compute":
        if equal_iter is None:
            raise ValueError("An equal-compute baseline needs equal_iter (the iteration "
                             "budget); see equal_compute_iterations.")
        return base.set_params(max_iter=int(equal_iter), tol=0.0)
    if kind == "warm_start":
        return WarmStartNMF(rank, base=base, learn_iter=settings.n_epochs * settings.inner_iter,
                            inner_iter=settings.inner_iter, protocol=proto, random_state=seed)
    return MetaNMF(rank, base=base, n_tasks=settings.n_tasks, task_size=settings.task_size,
                   n_epochs=settings.n_epochs, inner_iter=settings.inner_iter,
                   protocol=proto, rescale_bases=settings.rescale_bases, random_state=seed)


@dataclass
class CellResult:
    """The outcome of one cell, with the factors of the evaluation half."""

    cell: Cell
    W: np.ndarray
    """Coefficients of the evaluation half (n_eval, rank)."""
    H: np.ndarray
    """Components found on the evaluation half (rank, n_features)."""
    y_eval: np.ndarray
    nmi: float
    recon_error: float
    n_iter: int
    train_iter: int
    task_size: Optional[int]
    seconds: float
    model: object = field(repr=False)


def load_cell_data(dataset, noise, settings):
    """Learning and evaluation sets of a dataset under ``settings`` (cached loader):
    ``X_learn, X_eval, y_learn, y_eval``, the two halves of the split, except that with
    ``settings.faces_eval_all`` the Faces evaluation set is all 400 images (the learning half
    first), while the learning set stays the learning half."""
    from .datasets import load_dataset

    X, y = load_dataset(dataset, noise=noise * settings.noise_scale,
                        random_state=settings.noise_seed, faces_size=settings.faces_size,
                        dtype=settings.dtype, fmnist_subset_seed=settings.fmnist_subset_seed)
    X_learn, X_eval, y_learn, y_eval = learning_evaluation_split(
        X, y, random_state=settings.split_seed)
    if settings.faces_eval_all and dataset == "faces":
        X_eval, y_eval = np.vstack([X_learn, X_eval]), np.concatenate([y_learn, y_eval])
    return X_learn, X_eval, y_learn, y_eval


def fit_cell(cell, settings=None):
    """Evaluate one cell and keep its factors (see module docstring)."""
    settings = Settings() if settings is None else settings
    X_learn, X_eval, y_learn, y_eval = load_cell_data(cell.dataset, cell.noise, settings)
    equal_iter = None
    if model_kind(cell.model) == "equal_compute":
        equal_iter = equal_compute_iterations(settings, cell.protocol, X_learn.shape[0],
                                              X_eval.shape[0], cell.rank)
    est = make_model(cell.model, cell.rank, cell.seed, cell.protocol, settings,
                     equal_iter=equal_iter)
    with threadpool_limits(limits=1), warnings.catch_warnings():  # BLAS and OpenMP
        warnings.simplefilter("ignore", TaskSplitWarning)  # recorded in task_size instead
        t0 = time.perf_counter()
        if isinstance(est, (MetaNMF, WarmStartNMF)):
            est.fit(X_learn)
            W, H = est.factorize(X_eval)
            n_iter, train_iter = est.inner_iter, est.n_base_iter_
            task_size = est.tasks_.task_size if isinstance(est, MetaNMF) else None
        else:
            W = est.fit_transform(X_eval)
            H = est.components_
            n_iter, train_iter, task_size = est.n_iter_, 0, None
        seconds = time.perf_counter() - t0
        nmi = cluster_nmi(W, y_eval, random_state=cell.seed, n_init=settings.kmeans_n_init)
        loss = est.base.loss if isinstance(est, (MetaNMF, WarmStartNMF)) else est.loss
        err = reconstruction_error(X_eval, W, H, loss)  # one thread: bit-identical sums
    return CellResult(cell, W, H, y_eval, nmi, err, int(n_iter), int(train_iter), task_size,
                      seconds, est)


def _environment():
    """Versions, and the kernels OpenBLAS picked for this processor (``blas=`` its version and
    architecture, per loaded BLAS): their sums may differ in the last bit between kinds of
    processor, so a row is bit-for-bit reproducible where this string is the same (see the
    store recompute test)."""
    import numpy
    import scipy
    import scipy.linalg  # noqa: F401  (loads scipy's own BLAS, so both are listed)
    import sklearn
    from threadpoolctl import threadpool_info

    blas = sorted({f"{i['internal_api']}-{i['version']}/{i.get('architecture') or '?'}"
                   for i in threadpool_info() if i["user_api"] == "blas"})
    return (f"python={platform.python_version()};numpy={numpy.__version__};"
            f"scipy={scipy.__version__};scikit-learn={sklearn.__version__};"
            f"blas={','.join(blas)}")


def run_cell(cell, settings=None):
    """Evaluate one cell and return its store row (a dict with every store column)."""
    settings = Settings() if settings is None else settings
    res = fit_cell(cell, settings)
    return {
        "dataset": cell.dataset, "noise": cell.noise, "model": cell.model, "rank": cell.rank,
        "seed": cell.seed, "protocol": cell.protocol, "settings_hash": settings.hash,
        "algorithm_version": ALGORITHM_VERSION, "nmi": res.nmi,
        "recon_error": res.recon_error, "n_iter": res.n_iter, "train_iter": res.train_iter,
        "task_size": "" if res.task_size is None else res.task_size,
        "seconds": round(res.seconds, 3), "package_version": __version__,
        "environment": _environment(), "settings": settings.to_json(),
        "created_utc": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def _run_task(cell, settings, user_file=None):
    """:func:`run_cell` as a task of :func:`run_grid`. Worker processes do not share the
    parent's registry of readers' datasets, so a cell of one carries the file's path: the
    worker registers it (read once per worker and file) and checks that its content still has
    the cell's name, so a file changed during a run fails instead of filling old cells."""
    if user_file is not None:
        from .datasets import user_dataset

        user_dataset(user_file, expected_name=cell.dataset)
    return run_cell(cell, settings)


def _cell_key(cell, settings):
    return key_of({"dataset": cell.dataset, "noise": cell.noise, "model": cell.model,
                   "rank": cell.rank, "seed": cell.seed, "protocol": cell.protocol,
                   "settings_hash": settings.hash, "algorithm_version": ALGORITHM_VERSION})


def _progress_bar(total, disable):
    """tqdm's bar (a widget in Jupyter when ipywidgets is there, text otherwise), without the
    warning tqdm.auto prints when it falls back to text."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from tqdm.auto import tqdm
    return tqdm(total=total, desc="cells", unit="cell", disable=disable)


def _require_dask_client():
    try:
        from dask.distributed import default_client
    except ImportError as exc:
        raise ImportError("backend='dask' needs dask.distributed: pip install -r "
                          "requirements-dask.txt") from exc
    try:
        default_client()
    except ValueError as exc:
        raise RuntimeError(
            "backend='dask' needs a connected dask.distributed Client. Start a cluster "
            "(e.g. `dask scheduler` and `dask worker <scheduler-address> --nthreads 1` on "
            "each machine), then in Python: `from dask.distributed import Client; "
            "Client('<scheduler-address>')` before calling run_grid, or use "
            "`python -m metanmf_lab.experiments --scheduler <address>`.") from exc


class GridInterrupted(KeyboardInterrupt):
    """:func:`run_grid` was interrupted (Ctrl-C, or SIGTERM turned into it by the command
    line): every row computed before the interrupt is in the store, the workers are stopped,
    and the next run computes only the cells still missing.

    Attributes
    ----------
    kept : int
        Rows this run computed before the interrupt, all written to the store (with
        ``store=None`` they are lost with the run).
    store : ResultStore or None
    """

    def __init__(self, kept, store):
        super().__init__(kept, store)
        self.kept, self.store = kept, store


def _die_with_parent(parent_pid):
    """Initializer of :func:`run_grid`'s loky workers: on Linux, ask the kernel to kill the
    worker (SIGKILL) when the process that started it dies, however it dies (even by SIGKILL,
    which no handler sees); without this an orphaned worker finishes its cell and waits for
    loky's idle timeout (5 minutes). A worker whose parent is already gone exits at once."""
    if sys.platform.startswith("linux"):
        import ctypes

        pr_set_pdeathsig = 1  # <linux/prctl.h>
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, int(signal.SIGKILL), 0, 0, 0)
    if os.getppid() != parent_pid:  # the parent died before the request took effect
        os._exit(1)


def _worker_config(backend):
    """The joblib configuration :func:`run_grid` runs in: ``backend`` if given; loky (joblib's
    default) with workers that die with the parent (:func:`_die_with_parent`) when no backend
    is given or set by the caller (a backend the caller configured with
    ``joblib.parallel_config`` is used as it is)."""
    from joblib.parallel import LokyBackend, get_active_backend

    if backend is None:
        active, _ = get_active_backend()
        if type(active) is not LokyBackend or active.backend_kwargs:
            return nullcontext()
        backend = "loky"
    if backend == "loky":
        return parallel_config(backend="loky", initializer=_die_with_parent,
                               initargs=(os.getpid(),))
    return parallel_config(backend=backend)


def _stop_loky_workers():
    """Kill the workers of loky's reusable executor, if one runs (after an interrupt or an
    error, so that no worker outlives the run)."""
    from joblib.externals.loky import reusable_executor

    executor = getattr(reusable_executor, "_executor", None)  # never start one to stop it
    if executor is not None:
        executor.shutdown(wait=False, kill_workers=True)


@contextmanager
def _signals_held():
    """Hold SIGINT and SIGTERM back (they are delivered at the end) while rows are written,
    so a second Ctrl-C cannot lose the rows being saved."""
    held = {signal.SIGINT, signal.SIGTERM}
    old = signal.pthread_sigmask(signal.SIG_BLOCK, held)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def _check_data_files(datasets):
    """Before anything is computed: the data files of the built-in ``datasets`` are in the
    data folder (downloaded if missing, where there is internet) and verified; else one
    :class:`~metanmf_lab.datasets.MissingDataError` naming each missing file and how to get
    it."""
    from .datasets import DATA_FILES, fetch

    needed = sorted({d for d in datasets if d in DATA_FILES})
    if needed:
        fetch(needed, download=True)


def run_grid(cells, settings=None, *, store=DEFAULT_STORE, n_jobs=1, backend=None,
             progress=True, flush_every=4):
    """Evaluate the cells missing from the store, in parallel, and return all their rows.

    Parameters
    ----------
    cells : iterable of Cell
        Cells of a reader's own dataset (:func:`metanmf_lab.datasets.user_dataset`) too:
        each task hands its worker the file's path, and the worker checks its content hash.
    settings : Settings, default=Settings()
    store : ResultStore, str, Path or None, default=``data/results/results.csv``
        Where rows are read from and added to. ``None`` computes everything, stores nothing.
    n_jobs : int, default=1
        joblib workers (-1: all cores). Each cell runs with one BLAS thread.
    backend : str or None, default=None
        joblib backend: None for the ``METANMF_BACKEND`` environment variable if set, else
        joblib's default (loky processes); ``"dask"`` for a ``dask.distributed`` cluster the
        caller has connected a ``Client`` to (``n_jobs=-1`` then uses all its workers).
    progress : bool, default=True
        Show a tqdm progress bar over the cells computed.
    flush_every : int, default=4
        Write computed rows to the store after this many cells (so a run killed outright
        keeps most of its complete rows and resumes where it stopped).

    Returns
    -------
    pandas.DataFrame
        One row per requested cell (stored or new), sorted by key.

    Raises
    ------
    StoreError
        The store is damaged or cannot be written (checked before anything is computed).
    MissingDataError
        A data file of a cell to compute is missing and cannot be downloaded (checked before
        anything is computed).
    GridInterrupted
        Ctrl-C (or an exception) during the run: every row computed until then is written to
        the store first, and the workers are stopped; a KeyboardInterrupt, so callers that
        catch that still do.

    Notes
    -----
    With loky processes (the default), each worker asks the kernel (Linux) to kill it when
    this process dies, so no worker outlives a run killed by SIGKILL.
    """
    import pandas as pd

    settings = Settings() if settings is None else settings
    backend = backend or os.environ.get("METANMF_BACKEND") or None
    if backend == "dask":
        _require_dask_client()
    cells = sorted(set(cells))
    if store is not None and not isinstance(store, ResultStore):
        store = ResultStore(store)
    done = store.keys() if store is not None else set()
    todo = [c for c in cells if _cell_key(c, settings) not in done]
    from .datasets import is_user_dataset, user_dataset_path

    files = {c.dataset: str(user_dataset_path(c.dataset)) for c in todo
             if is_user_dataset(c.dataset)}
    new_rows, pending = [], []
    if todo:
        if store is not None:
            store.check_writable()  # before hours of computing, not after
        _check_data_files({c.dataset for c in todo})
        bar = _progress_bar(len(todo), disable=not progress)
        outputs = None
        try:
            with _worker_config(backend):
                runner = Parallel(n_jobs=n_jobs, return_as="generator_unordered")
                outputs = runner(delayed(_run_task)(c, settings, files.get(c.dataset))
                                 for c in todo)
                for row in outputs:
                    new_rows.append(row)
                    pending.append(row)
                    bar.update(1)
                    if store is not None and len(pending) >= flush_every:
                        store.add(pending)
                        pending = []
        except BaseException as exc:
            # Ctrl-C, SIGTERM (the command line turns it into KeyboardInterrupt) or a failed
            # cell: keep every row already computed, stop the workers, say what was kept.
            with _signals_held():
                if store is not None and pending:
                    store.add(pending)
                    pending = []
                if outputs is not None:
                    with warnings.catch_warnings():  # joblib's note on the tasks dropped
                        warnings.simplefilter("ignore")
                        outputs.close()  # joblib aborts the tasks still queued or running
                _stop_loky_workers()
            if isinstance(exc, KeyboardInterrupt) and not isinstance(exc, GridInterrupted):
                raise GridInterrupted(len(new_rows), store) from exc
            raise
        finally:
            bar.close()
        if store is not None and pending:
            store.add(pending)
    out = _rows_of(cells, settings, pd.DataFrame(new_rows) if store is None else store.load())
    out.attrs["computed"] = len(new_rows)  # rows this run added (the command line says so)
    return out


def _rows_of(cells, settings, df):
    wanted = {_cell_key(c, settings) for c in cells}
    if df.empty:
        return df
    mask = [key_of(r) in wanted for r in df[list(KEY)].to_dict("records")]
    return df[mask].sort_values(list(KEY[:6]), kind="stable").reset_index(drop=True)


def stored_rows(cells, settings=None, store=DEFAULT_STORE):
    """The rows of ``cells`` under ``settings`` that ``store`` holds (nothing is computed;
    rows of other cells -- other seeds, noise levels, models -- are left out)."""
    settings = Settings() if settings is None else settings
    store = store if isinstance(store, ResultStore) else ResultStore(store)
    return _rows_of(cells, settings, store.load())


class Terminated(KeyboardInterrupt):
    """SIGTERM, turned into an interrupt by :func:`sigterm_as_interrupt`."""


@contextmanager
def sigterm_as_interrupt():
    """While in the block, SIGTERM raises :class:`Terminated` (a KeyboardInterrupt) in the
    main thread, so a terminated command line takes the path of Ctrl-C: the rows computed are
    kept, the workers stopped, one line said. Outside the main thread, nothing changes."""
    def raise_terminated(signum, frame):
        raise Terminated()

    try:
        old = signal.signal(signal.SIGTERM, raise_terminated)
    except ValueError:  # not the main thread: signals go elsewhere
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, old)


def interrupt_exit_code(exc):
    """The exit code of a command line stopped by ``exc``: 128 + the signal's number, as a
    shell reports it (130 for Ctrl-C, 143 for SIGTERM)."""
    while exc is not None:
        if isinstance(exc, Terminated):
            return 128 + signal.SIGTERM
        exc = exc.__cause__ or exc.__context__
    return 128 + signal.SIGINT


def _int_option(what, low, allowed=()):
    """An argparse type: an integer >= ``low`` (or one of ``allowed``), else a message
    naming the option's values and the value given."""
    extra = "".join(f" or {a}" for a in allowed)

    def parse(text):
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or (value < low and value not in allowed):
            raise argparse.ArgumentTypeError(
                f"{what} must be an integer >= {low}{extra}, got {text!r}")
        return value
    return parse


def _noise_option(text):
    """An argparse type: ``none``, ``default`` or a finite number >= 0."""
    if text in ("none", "default"):
        return text
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value >= 0):
        raise argparse.ArgumentTypeError(
            f'a noise level must be "none", "default" or a finite number >= 0, got {text!r}')
    return value


def _check_runs(runs):
    """Every rank of every run can run on its datasets (:func:`check_ranks`), before anything
    is computed; raises ValueError naming the first that cannot."""
    groups = {}
    for settings, cells in runs:
        for c in cells:
            groups.setdefault((settings, c.dataset, c.protocol), set()).add(c.rank)
    for (settings, dataset, protocol), ranks in groups.items():
        check_ranks(dataset, sorted(ranks), settings, protocol)


def _user_errors():
    """The package's own error types that mean a problem the user can fix (a damaged or
    unwritable store, a missing or bad data file, a data folder that is a file): the command
    line prints their message without a traceback; any other error is a bug and keeps its."""
    from .datasets import DataFileError, DataFolderError, DownloadError, MissingDataError
    from .store import StoreError

    return (StoreError, DataFileError, DataFolderError, DownloadError, MissingDataError)


def main(argv=None):
    """Command line: run (part of) the grid into the result store, resumably.

    Every argument is checked before anything is computed: a bad one ends with ``error: ...``
    and exit code 2, as does a damaged or unwritable store or a missing data file. Ctrl-C or
    SIGTERM keeps every row computed so far, stops the workers and exits with 130 or 143.
    """
    from .datasets import DATASETS

    ap = argparse.ArgumentParser(
        prog="python -m metanmf_lab.experiments",
        description="Evaluate the grid cells missing from the result store (resumable: an "
                    "interrupted run keeps every complete row).")
    ap.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=list(DATASETS))
    ap.add_argument("--models", nargs="+", default=list(MODELS), choices=list(ALL_MODELS),
                    metavar="MODEL", help="models (default: the eight of the thesis): "
                                          + ", ".join(ALL_MODELS))
    ap.add_argument("--ranks", nargs="+", type=_int_option("a rank", 1),
                    default=list(THESIS_RANKS))
    ap.add_argument("--seeds", nargs="+", type=_int_option("a seed", 0),
                    default=list(range(5)))
    ap.add_argument("--noises", nargs="+", type=_noise_option, default=["none", "default"],
                    help='"none", "default" (the dataset\'s level) or numbers >= 0')
    ap.add_argument("--protocols", nargs="+", default=["thesis"], choices=list(PROTOCOLS))
    ap.add_argument("--dtype", default="float64", choices=["float64", "float32"])
    ap.add_argument("--ablation", nargs="+", default=None, choices=list(ABLATIONS),
                    metavar="ABLATION",
                    help="run under one-at-a-time protocol ablations (each in turn)")
    ap.add_argument("--beyond", action="store_true",
                    help="only the cells of the table entries (of --datasets and --models) "
                         "that differ from the thesis by more than 0.03 NMI, at --ranks and "
                         "--seeds, under each --protocols; with --ablation, only those each "
                         "ablation can change (the reproduction notes' grid)")
    ap.add_argument("--jobs", type=_int_option("--jobs", 1, allowed=(-1,)), default=-1,
                    help="workers (-1: all cores)")
    ap.add_argument("--store", default=str(DEFAULT_STORE))
    ap.add_argument("--repair", action="store_true",
                    help="first drop the damaged rows of the store (a line cut short, a bad "
                         "value, a key stored twice), saying which; the run then recomputes "
                         "their cells")
    ap.add_argument("--scheduler", default=None,
                    help="address of a dask.distributed scheduler: run the cells there")
    args = ap.parse_args(argv)
    store = ResultStore(args.store)
    shown = shown_path(args.store)  # as the user gave it, or relative: no machine path
    kept = 0
    try:
        with sigterm_as_interrupt():
            if args.repair:
                dropped = store.repair()
                print(f"repaired {shown}: dropped line(s) "
                      f"{', '.join(map(str, dropped))}; their cells are computed again"
                      if dropped else f"{shown}: nothing to repair")
            cells = make_grid(args.datasets, models=args.models, ranks=args.ranks,
                              seeds=args.seeds, noises=args.noises, protocols=args.protocols)
            settings = Settings(dtype=args.dtype)
            runs = [(settings, cells)]
            if args.beyond:
                from . import reporting

                entries = [e for e in reporting.stored_entries_beyond(args.store, settings)
                           if e[0] in args.datasets and e[2] in args.models]
                if args.ablation:
                    runs = [(ablation_settings(n, settings),
                             ablation_cells(n, entries, args.ranks, args.seeds, p))
                            for n in args.ablation for p in args.protocols]
                else:
                    runs = [(settings, entry_cells(entries, args.ranks, args.seeds, p))
                            for p in args.protocols]
            elif args.ablation:
                runs = [(ablation_settings(n, settings), cells) for n in args.ablation]
            try:
                _check_runs(runs)
            except ValueError as exc:
                ap.error(str(exc))
            for run_settings, run_cells in runs:
                if args.scheduler:
                    from dask.distributed import Client

                    with Client(args.scheduler):
                        df = run_grid(run_cells, run_settings, store=store, n_jobs=-1,
                                      backend="dask")
                else:
                    df = run_grid(run_cells, run_settings, store=store, n_jobs=args.jobs)
                kept += df.attrs.get("computed", 0)
                print(f"{len(df)} of {len(run_cells)} cells in {shown}")
    except KeyboardInterrupt as exc:
        kept += exc.kept if isinstance(exc, GridInterrupted) else 0
        print(f"interrupted: {kept} row{'s' * (kept != 1)} kept in {shown}; rerun to "
              f"resume", file=sys.stderr)
        return interrupt_exit_code(exc)
    except _user_errors() as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
