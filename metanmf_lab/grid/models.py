"""From a cell to a fitted model: the estimator of each model name, the cell's data and the fit
(thesis Sec. 4.2)."""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field
from typing import Optional

import numpy as np
from threadpoolctl import threadpool_limits

from ..core import GNMF, MetaNMF, NMF, WarmStartNMF, reconstruction_error
from ..core.engine import fit_steps, lockstep, run_steps
from ..core.evaluation import cluster_nmi
from ..core.protocols import Protocol
from ..core.splits import TaskSplitWarning, learning_evaluation_split
from ..data.datasets import load_dataset
from .catalogue import model_kind, parse_model
from .cells import Cell, Settings, equal_compute_iterations


def make_base(family, init, protocol, settings, *, rank, seed):
    """The base model of a family under a protocol (also the baseline of a Meta model).

    Every protocol value is read from ``protocol``, the cell's effective
    :class:`~metanmf_lab.core.protocols.Protocol` (:meth:`Settings.protocol`); ``settings``
    gives only the iteration budget ``baseline_iter`` and NMF's ``denominator_eps``.
    ``protocol.gnmf == "cai"``: Cai et al.'s GNMF (Frobenius, kNN graph of
    ``protocol.n_neighbors`` neighbours weighted ``protocol.graph_weight``);
    ``"authors"``: the code's KL GNMF with a dense RBF graph (width ``protocol.rbf_sigma``)
    and split-gradient updates; both with the weight ``protocol.gnmf_lam``. NMF: Frobenius,
    exactly ``baseline_iter`` iterations (thesis) or the authors' code's rule (stop when both
    factor changes < ``protocol.stopping_tol``), with its max-normalised basis when
    ``protocol.normalize_calls``.
    """
    if not isinstance(protocol, Protocol):
        raise TypeError(f"make_base needs the cell's effective Protocol "
                        f"(Settings.protocol(name)), got {protocol!r}.")
    common = dict(n_components=rank, init=init, max_iter=settings.baseline_iter,
                  random_state=seed)
    if family == "nmf":
        stop = dict(tol=protocol.stopping_tol, stopping="factors") \
            if protocol.baseline_stopping == "factors" else dict(tol=0.0)
        return NMF(loss="frobenius", normalize=protocol.normalize_calls, **stop,
                   denominator_eps=settings.denominator_eps, **common)
    if protocol.gnmf == "authors":
        return GNMF(lam=protocol.gnmf_lam, loss="kl", graph="rbf", sigma=protocol.rbf_sigma,
                    kl_update="split", tol=0.0, **common)
    return GNMF(lam=protocol.gnmf_lam, loss="frobenius", graph="knn",
                n_neighbors=protocol.n_neighbors, weight=protocol.graph_weight, tol=0.0,
                **common)


def make_model(model, rank, seed, protocol="thesis", settings=None, *, equal_iter=None):
    """The estimator for a model name: a baseline NMF/GNMF, a MetaNMF around it, or a fair
    baseline (``equal_iter``: the equal-compute iteration budget, see
    :func:`equal_compute_iterations`). ``protocol`` is the cell's preset name or its
    effective protocol (:meth:`Settings.protocol`), which every part of the model reads."""
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
    return MetaNMF(rank, base=base, n_tasks=settings.n_tasks, n_epochs=settings.n_epochs,
                   inner_iter=settings.inner_iter, protocol=proto,
                   rescale_bases=settings.rescale_bases, random_state=seed)


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
    protocol: Protocol
    """The cell's effective protocol (:meth:`Settings.protocol`), which the model read; its
    name is the store's ``effective_protocol``."""
    model: object = field(repr=False)


def load_cell_data(dataset, noise, settings):
    """Learning and evaluation sets of a dataset under ``settings`` (cached loader):
    ``X_learn, X_eval, y_learn, y_eval``, the two halves of the split, except that with
    ``settings.faces_eval_all`` the Faces evaluation set is all 400 images (the learning half
    first), while the learning set stays the learning half."""

    X, y = load_dataset(dataset, noise=noise * settings.noise_scale,
                        random_state=settings.noise_seed, faces_size=settings.faces_size,
                        dtype=settings.dtype, fmnist_subset_seed=settings.fmnist_subset_seed)
    X_learn, X_eval, y_learn, y_eval = learning_evaluation_split(
        X, y, random_state=settings.split_seed)
    if settings.faces_eval_all and dataset == "faces":
        X_eval, y_eval = np.vstack([X_learn, X_eval]), np.concatenate([y_learn, y_eval])
    return X_learn, X_eval, y_learn, y_eval


def _prepare(cell, settings):
    """A cell's effective protocol, data and estimator (what :func:`fit_cell` fits)."""
    protocol = settings.protocol(cell.protocol)
    X_learn, X_eval, y_learn, y_eval = load_cell_data(cell.dataset, cell.noise, settings)
    equal_iter = None
    if model_kind(cell.model) == "equal_compute":
        equal_iter = equal_compute_iterations(settings, protocol, X_learn.shape[0],
                                              X_eval.shape[0], cell.rank)
    est = make_model(cell.model, cell.rank, cell.seed, protocol, settings,
                     equal_iter=equal_iter)
    return protocol, X_learn, X_eval, y_eval, est


def _result(cell, settings, protocol, X_eval, y_eval, est, W, H, seconds):
    """The :class:`CellResult` of a fitted cell: k-means NMI and reconstruction error."""
    if isinstance(est, (MetaNMF, WarmStartNMF)):
        n_iter, train_iter = est.inner_iter, est.n_base_iter_
        task_size = est.tasks_.task_size if isinstance(est, MetaNMF) else None
        loss = est.base.loss
    else:
        n_iter, train_iter, task_size, loss = est.n_iter_, 0, None, est.loss
    nmi = cluster_nmi(W, y_eval, random_state=cell.seed, n_init=settings.kmeans_n_init)
    err = reconstruction_error(X_eval, W, H, loss)  # one thread: bit-identical sums
    return CellResult(cell, W, H, y_eval, nmi, err, int(n_iter), int(train_iter), task_size,
                      seconds, protocol, est)


def fit_cell(cell, settings=None):
    """Evaluate one cell and keep its factors (see module docstring): the reference engine."""
    settings = Settings() if settings is None else settings
    protocol, X_learn, X_eval, y_eval, est = _prepare(cell, settings)
    with threadpool_limits(limits=1), warnings.catch_warnings():  # BLAS and OpenMP
        warnings.simplefilter("ignore", TaskSplitWarning)  # recorded in task_size instead
        t0 = time.perf_counter()
        W, H = run_steps(fit_steps(est, X_eval, X_learn))
        seconds = time.perf_counter() - t0
        return _result(cell, settings, protocol, X_eval, y_eval, est, W, H, seconds)


def fit_block(cells, settings=None, *, trace=None):
    """Evaluate cells together with the batched engine (:mod:`metanmf_lab.core.engine`):
    every model runs its own code, and the solver calls of all of them on the same data are
    solved together, so each iteration reads X once for every rank, seed and model. Meant for
    the cells of one (dataset, noise, protocol); any cells are accepted (calls on different
    data are simply solved apart). Returns their :class:`CellResult` in the order of
    ``cells``; each cell's ``seconds`` is the block's fitting time divided equally (the cells
    are not timed apart). ``trace``: see :func:`metanmf_lab.core.engine.lockstep`."""
    settings = Settings() if settings is None else settings
    cells = list(cells)
    prepared = [_prepare(c, settings) for c in cells]
    with threadpool_limits(limits=1), warnings.catch_warnings():
        warnings.simplefilter("ignore", TaskSplitWarning)
        t0 = time.perf_counter()
        factors = lockstep([fit_steps(est, X_eval, X_learn)
                            for _, X_learn, X_eval, _, est in prepared], trace=trace)
        seconds = (time.perf_counter() - t0) / max(len(cells), 1)
        return [_result(c, settings, protocol, X_eval, y_eval, est, W, H, seconds)
                for c, (protocol, _, X_eval, y_eval, est), (W, H) in
                zip(cells, prepared, factors)]
