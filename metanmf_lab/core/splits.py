"""Learning/evaluation split and the meta-task / target split (thesis Sec. 4.2, Fig. 4.1).

Two protocols (see :mod:`metanmf_lab.core.protocols`):

- ``"thesis"``: the learning half is split into ``n_tasks`` *disjoint* meta-tasks of
  ``task_size`` samples (default 50) and the target task is the rest of the learning half.
- ``"authors"``: what the authors' public code does: each meta-task is ``task_size``
  (default 100) samples drawn at random from the learning half, independently of the other
  tasks (so tasks overlap one another), and the target is the *whole* learning half (so it
  contains every meta-task).

When the thesis split cannot be made (Olivetti Faces: 5 x 50 = 250 > 200 learning samples),
``on_infeasible="shrink"`` (default) shrinks the task size to ``n_learn // (2 n_tasks)`` so that
the meta-tasks take half of the learning set and the target the other half, and says so with a
:class:`TaskSplitWarning`; ``on_infeasible="error"`` raises instead. Nothing is ever adjusted
silently.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from sklearn.model_selection import train_test_split
from sklearn.utils import check_random_state

from .._validation import check_choice, check_int
from .protocols import get_protocol

#: Seed of the learning/evaluation split in the authors' code.
SPLIT_SEED = 42


class TaskSplitWarning(UserWarning):
    """A requested task split was infeasible and a documented fallback was used."""


@dataclass(frozen=True)
class TaskSplit:
    """Indices (into the learning set) of each meta-task and of the target task."""

    meta: tuple
    target: np.ndarray
    protocol: str
    """Name of the protocol the split follows."""
    task_size: int
    requested_task_size: int
    fallback: str | None = None

    @property
    def n_tasks(self):
        return len(self.meta)


def learning_evaluation_split(X, y=None, *, test_size=0.5, random_state=SPLIT_SEED):
    """Split a dataset into a learning half and an evaluation half.

    ``train_test_split(X, y, test_size=0.5, random_state=42)`` as in the authors' code.

    Returns
    -------
    X_learn, X_eval, y_learn, y_eval
        (``y_learn`` and ``y_eval`` are None when ``y`` is None.)
    """
    if y is None:
        X_learn, X_eval = train_test_split(X, test_size=test_size, random_state=random_state)
        return X_learn, X_eval, None, None
    return tuple(train_test_split(X, y, test_size=test_size, random_state=random_state))


def make_tasks(n_learn, *, n_tasks=5, task_size=None, protocol="thesis", random_state=None,
               on_infeasible="shrink", min_size=1):
    """Draw the meta-tasks and the target task from a learning set of ``n_learn`` samples.

    Parameters
    ----------
    n_learn : int
        Number of samples in the learning set.
    n_tasks : int, default=5
    task_size : int or None, default=None
        Samples per meta-task; None uses the protocol's ``task_size`` (50 thesis, 100
        authors).
    protocol : {"thesis", "authors"} or Protocol
        Which tasks to draw: disjoint slices or independent draws; target = the rest or all
        (a preset name is resolved by :func:`metanmf_lab.core.protocols.get_protocol`).
    random_state : int, RandomState or None
    on_infeasible : {"shrink", "error"}
        What to do when the thesis split does not fit (see module docstring).
    min_size : int, default=1
        Smallest allowed size of any task (e.g. the factorisation rank).

    Returns
    -------
    TaskSplit
    """
    proto = get_protocol(protocol)
    on_infeasible = check_choice(on_infeasible, ("shrink", "error"), name="on_infeasible")
    n_learn = check_int(n_learn, name="n_learn", low=1)
    n_tasks = check_int(n_tasks, name="n_tasks", low=1)
    requested = proto.task_size if task_size is None else check_int(
        task_size, name="task_size", low=1)
    rng = check_random_state(random_state)
    size, fallback = requested, None

    if proto.disjoint_tasks:
        needed = n_tasks * size + (1 if proto.target == "rest" else 0)
        if needed > n_learn:
            msg = (f"The split needs {n_tasks} disjoint meta-tasks of {size} samples"
                   f"{' plus a non-empty target' if proto.target == 'rest' else ''}, but the "
                   f"learning set has only {n_learn} samples.")
            if on_infeasible == "error":
                raise ValueError(msg + " Use fewer or smaller tasks, protocol='authors', or "
                                       "on_infeasible='shrink'.")
            size = n_learn // (2 * n_tasks)
            fallback = f"task_size shrunk from {requested} to {size}"
            if size < 1:
                raise ValueError(msg + " Even tasks of one sample do not fit.")
            warnings.warn(msg + f" Falling back to meta-tasks of {size} samples (half of the "
                          f"learning set in meta-tasks, half in the target).", TaskSplitWarning,
                          stacklevel=2)
        perm = rng.permutation(n_learn)
        meta = tuple(np.sort(perm[i * size:(i + 1) * size]) for i in range(n_tasks))
        target = np.sort(perm[n_tasks * size:]) if proto.target == "rest" \
            else np.arange(n_learn)
    else:
        if size > n_learn:
            raise ValueError(f"A meta-task of {size} samples cannot be drawn from a learning "
                             f"set of {n_learn} samples.")
        meta = tuple(np.sort(rng.choice(n_learn, size, replace=False)) for _ in range(n_tasks))
        target = np.arange(n_learn)

    smallest = min(size, target.size)
    if smallest < min_size:
        raise ValueError(f"The smallest task has {smallest} samples, fewer than the "
                         f"{min_size} needed (the factorisation rank).")
    return TaskSplit(meta, target, proto.name, size, requested, fallback)
