"""One-at-a-time protocol ablations: their settings and the cells each can change.
"""

from __future__ import annotations

import warnings

import numpy as np

from .._validation import check_choice
from ..core.splits import TaskSplitWarning, make_tasks
from ..data.datasets import dataset_info
from .catalogue import ABLATIONS, THESIS_RANKS, parse_model
from .cells import CONDITIONS, Cell, Settings, resolve_noise


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
        Table entries (condition ``"none"`` or ``"added"``: no noise or the dataset's level,
        :data:`~metanmf_lab.grid.cells.CONDITIONS`), e.g. those that differ from the thesis
        (:func:`metanmf_lab.grid.reporting.entries_beyond`).
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
    ``"none"`` is no noise, ``"added"`` the dataset's level (:func:`resolve_noise`). Ranks
    default to the thesis' six."""
    ranks = THESIS_RANKS if ranks is None else ranks
    cells = []
    for dataset, condition, model in entries:
        noise = resolve_noise(dataset, check_choice(condition, tuple(CONDITIONS),
                                                    name="condition"))
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
