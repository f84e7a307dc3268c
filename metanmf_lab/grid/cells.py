"""What one result is: the :class:`Settings` of a run and the :class:`Cell` coordinates of the
grid, with the checks a grid is made with and the noise conditions' one vocabulary."""

from __future__ import annotations

import dataclasses
import warnings
from dataclasses import dataclass
from typing import Optional

from .._config import ALGORITHM_VERSION
from .._validation import check_choice, check_int, check_real
from ..core.protocols import PROTOCOLS, get_protocol
from ..core.splits import TaskSplitWarning, make_tasks
from ..data.datasets import DATASETS, dataset_info, is_user_dataset, user_dataset_path
from .catalogue import ALL_MODELS, MODELS, THESIS_RANKS
from .spine import SettingsBase

#: Settings fields added after the first stored rows, with the defaults that leave the hash of
#: those rows unchanged (see :meth:`Settings.to_json`).
LATER_FIELDS = {"fmnist_subset_seed": 42, "noise_scale": 1.0, "faces_eval_all": False,
                "denominator_eps": 0.0, "engine": "per-cell"}

#: The grid's engines (:attr:`Settings.engine`).
ENGINES = ("per-cell", "batched")


@dataclass(frozen=True)
class Settings(SettingsBase):
    """Everything that defines a result besides the cell key (thesis Table 4.2 defaults).

    Two results are only comparable if their settings hash is equal.
    """

    VERSION, VERSION_TAG = ALGORITHM_VERSION, "algorithm"
    LATER_FIELDS = LATER_FIELDS

    n_epochs: int = 50
    inner_iter: int = 100
    n_tasks: int = 5
    task_size: Optional[int] = None
    """Samples per meta-task; None = protocol default (50 thesis, 100 authors)."""
    baseline_iter: int = 100
    gnmf_lam: Optional[float] = None
    """Graph weight; None = protocol default (100 thesis / Cai et al., 0.3 authors)."""
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
    protocol difference at a time (see :mod:`metanmf_lab.core.protocols`)."""
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
    engine: str = "per-cell"
    """How the cells are computed: ``"per-cell"``, each cell on its own (the reference
    engine, :func:`~metanmf_lab.grid.models.fit_cell`), or ``"batched"``, the cells of one
    (dataset, noise, protocol) in lockstep, every solver call on the same data solved together
    (:func:`~metanmf_lab.grid.models.fit_block`; agrees with the reference to rounding). Part
    of the settings, so the two engines' rows are never mixed: :meth:`fast` gives the batched
    settings."""

    def fast(self):
        """These settings with the batched engine in float32: the grid's fast path, for
        settings that have no stored reference rows (the performance chapter measures how
        little it changes the NMI)."""
        return dataclasses.replace(self, engine="batched", dtype="float32")

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
        check_choice(self.engine, ENGINES, name="engine")
        pairs = tuple(sorted((str(k), v) for k, v in dict(self.protocol_overrides).items()))
        object.__setattr__(self, "protocol_overrides", pairs)
        get_protocol("thesis", **dict(pairs))  # validates field names and values

    def protocol(self, name):
        """The effective :class:`~metanmf_lab.core.protocols.Protocol` of a cell of preset
        ``name`` under these settings: the preset, then :attr:`protocol_overrides` and the
        protocol values these settings carry themselves (``n_neighbors``, ``graph_weight``,
        and ``task_size`` / ``gnmf_lam`` unless None). Its name records every departure from
        the preset (e.g. ``"thesis+task_size=100"``). Given a Protocol instead of a name, it
        applies the same values over it, so an effective protocol comes back unchanged.
        Raises ValueError if an override contradicts one of these settings' own protocol
        values (set the setting instead).
        """
        own = {"n_neighbors": self.n_neighbors, "graph_weight": self.graph_weight}
        own.update((k, getattr(self, k)) for k in ("task_size", "gnmf_lam")
                   if getattr(self, k) is not None)
        overrides = dict(self.protocol_overrides)
        clash = sorted(k for k in own if k in overrides and overrides[k] != own[k])
        if clash:
            raise ValueError(f"protocol_overrides sets {clash[0]}={overrides[clash[0]]!r} but "
                             f"the settings' {clash[0]} is {own[clash[0]]!r}: set the "
                             f"settings' {clash[0]} instead.")
        return get_protocol(name, **{**overrides, **own})


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


#: The grid's two noise conditions: code -> label. ``"none"``: no noise; ``"added"``: noise
#: at the dataset's level (:attr:`metanmf_lab.data.datasets.DatasetInfo.default_noise`). The
#: codes name a condition everywhere (``noise`` arguments, ``condition`` columns), the labels
#: wherever one is shown.
CONDITIONS = {"none": "no noise", "added": "added noise"}


def resolve_noise(dataset, noise):
    """A noise level: a condition of :data:`CONDITIONS` (``"none"`` -> 0, ``"added"`` -> the
    dataset's level) or a number >= 0 (itself)."""

    if isinstance(noise, str):
        choice = check_choice(noise, tuple(CONDITIONS), name="noise")
        return 0.0 if choice == "none" else float(dataset_info(dataset).default_noise)
    return check_real(noise, name="noise", low=0)


def make_grid(datasets, models=MODELS, ranks=THESIS_RANKS, seeds=range(5),
              noises=tuple(CONDITIONS), protocols=("thesis",)):
    """All cells of a full factorial grid (noise levels may be conditions of
    :data:`CONDITIONS`, ``"none"``/``"added"``, or numbers)."""
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
    :func:`metanmf_lab.data.datasets.user_dataset`) under ``settings`` and ``protocol`` (a
    preset name, or the effective protocol :meth:`Settings.protocol` gives).

    A rank needs at most as many features as the data have and at most as many samples as
    the learning half (the smaller half of the 50/50 split: warm starts factorise it), and
    the protocol's meta-tasks and target, drawn from the learning half, must each hold at
    least that many samples (:func:`metanmf_lab.core.splits.make_tasks`, with the same fallback
    to smaller tasks a cell uses), and at least two (GNMF's neighbour graph). Raises
    ``ValueError`` naming the dataset (a reader's file by its file name), the first rank that
    cannot run and why, and the largest rank that can; returns None when every rank can run.
    The results notebook's parameter check calls it for a reader's file, so a file too small
    for the ranks asked for fails before anything is fitted.
    """

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
                split = make_tasks(n_learn, n_tasks=settings.n_tasks, protocol=proto,
                                   random_state=0, min_size=r)
        except ValueError as exc:
            return (f"the {settings.n_tasks} meta-tasks of protocol {proto.name!r} cannot be "
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
           f"No rank can run on it under protocol {proto.name!r} ({problem(1)}): it needs "
           f"more samples.")
    raise ValueError(f"{what} ({n} samples, {n_learn} of them in the learning half; {m} "
                     f"features) is too small for rank {bad[0]}: {problem(bad[0])}. {fix}")


def equal_compute_iterations(settings, protocol, n_learn, n_eval, rank):
    """Iterations on the evaluation half that cost what a Meta model spends in total.

    One MU iteration on an n-sample matrix costs in proportion to n (both products with X
    are n x m x k). A Meta model spends ``n_epochs * inner_iter * (n_tasks * task_size +
    n_target) + inner_iter * n_eval`` sample-iterations (meta-tasks, target, evaluation);
    divided by ``n_eval`` this is the number of iterations on the evaluation half with the
    same arithmetic (5,100 for the thesis' settings when the learning and evaluation halves
    are equal). ``protocol`` is a preset name or the effective protocol
    (:meth:`Settings.protocol`).
    """

    proto = settings.protocol(protocol)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TaskSplitWarning)
        split = make_tasks(n_learn, n_tasks=settings.n_tasks, protocol=proto, random_state=0,
                           min_size=rank)
    per_epoch = settings.n_tasks * split.task_size + split.target.size
    total = settings.n_epochs * settings.inner_iter * per_epoch + settings.inner_iter * n_eval
    return int(round(total / n_eval))
