"""The algorithm chapter: Meta-NMF one epoch at a time, its traces over the epochs, why the
bases are rescaled, the learned basis, the evaluation phase, and the two protocols.

:func:`values` computes everything the chapter shows; :func:`one_epoch` is the epoch written
out with the public ``NMF`` (the chapter's teaching cell shows the same code).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from ...core import GNMF, MetaNMF, NMF
from ...core.evaluation import cluster_nmi
from ...core.protocols import PRESETS
from ...core.splits import TaskSplitWarning, learning_evaluation_split, make_tasks
from ...data.datasets import dataset_info, image_shape, load_dataset
from ..diagrams import image_table, meta_epoch_flowchart
from ..display import table
from . import Prose
from .derivation import sci

__all__ = ["AlgorithmValues", "one_epoch", "protocol_table", "values"]

#: Epochs whose target basis the chapter shows (those up to the run's number of epochs).
SHOWN_EPOCHS = (0, 1, 2, 5, 20, 50)

#: GNMF graph weights of the scale-growth table, per profile.
GNMF_LAMBDAS = {"smoke": (0.1, 100.0), "full": (0.1, 1.0, 10.0, 100.0)}

#: How the protocol table reads each field's value.
FIELD_TEXT = {
    "task_size": ("meta-task size", lambda v: f"{v} samples"),
    "disjoint_tasks": ("meta-tasks", lambda v: "disjoint slices" if v else
                       "drawn independently (overlap)"),
    "target": ("target task", {"rest": "the rest of the learning half",
                               "all": "the whole learning half"}.get),
    "transfer": ("transfer", {"average": "this epoch's average",
                              "running_sum": "running sum, never reset"}.get),
    "target_start": ("start of W_t", {"init": "U(0, 1)", "zero": "zero"}.get),
    "normalize_calls": ("each NMF run", lambda v: "basis max-normalised" if v else
                        "left as it is"),
    "nndsvd_override": ("NNDSVD base", lambda v: "restarts every run from NNDSVD" if v else
                        "starts from the transferred basis"),
    "baseline_stopping": ("baselines stop", {"fixed": "after the budget",
                                             "factors": "when factors change < 1e-3"}.get),
    "gnmf": ("GNMF", {"cai": "Cai et al. (Frobenius, 5-NN)",
                      "authors": "KL, dense Gaussian graph"}.get),
}


def one_epoch(X_tasks, X_target, H_tasks, H_target, rank, inner_iter):
    """One epoch of Meta-NMF (thesis eqs. 3.2 and 3.4) with the public ``NMF``: each meta-task
    runs ``inner_iter`` iterations from ``H_target + H_i`` (bases in the package's orientation,
    ``W^T``, and coefficients ``X @ H.T``), then the target runs from ``H_target`` plus the mean
    of the new task bases. Returns the new task bases and the new target basis."""

    def nmf_from(X, start):
        est = NMF(rank, init="custom", max_iter=inner_iter, tol=0)
        return est.fit(X, W=X @ start.T, H=start).components_

    tasks = [nmf_from(X_i, H_target + H_i) for X_i, H_i in zip(X_tasks, H_tasks)]
    return tasks, nmf_from(X_target, H_target + np.mean(tasks, axis=0))


#: Protocol fields the table shows within another field's row: the GNMF weight belongs to the
#: GNMF variant (switching the variant switches it, see :mod:`metanmf_lab.core.protocols`).
FOLDED = {"gnmf_lam": "gnmf"}


def protocol_table(presets=None):
    """The protocol presets side by side, one row per field of ``Protocol`` on which the
    thesis and the authors' code differ (:data:`FIELD_TEXT`; a field folded into another's row
    in :data:`FOLDED`), each value as the prose reads it; read from the ``Protocol`` objects
    themselves."""
    presets = PRESETS if presets is None else presets
    rows = []
    for field in FIELD_TEXT:
        label, text = FIELD_TEXT[field]
        rows.append({"what": label,
                     **{name: text(getattr(p, field)) for name, p in presets.items()}})
    return pd.DataFrame(rows)


def split_sentence(n_tasks, task_size, n_target, fallback):
    """How the thesis protocol split this learning half, in words."""
    text = (f"{n_tasks} disjoint meta-tasks of {task_size} samples and a target of the "
            f"remaining {n_target}")
    if fallback:
        text += f" (the thesis split does not fit: {fallback})"
    return Prose(text)


@dataclass
class AlgorithmValues:
    """What the algorithm chapter shows (glued by field name)."""

    dataset: str
    n_samples: int
    n_learn: int
    n_eval: int
    n_tasks: int
    task_size: int
    n_target: int
    split: Prose
    n_split_warnings: int
    inner: int
    n_epochs: int
    rank: int
    baseline_iter: int
    shift_epoch1: int
    epoch_max_diff: str
    same_split: bool
    same_basis: bool
    final_change: str
    final_target: float
    target_change: float
    growth_nmf: float
    raw_max: str
    float_tiny: str
    raw_min_positive: str
    bit_identical: str
    rescale_max_diff: str
    rescaled_as_raw: bool
    n_last: int
    lam_small: float
    lam_large: float
    raw_growth_small: float
    raw_growth_large: float
    nmi_meta: float
    nmi_nmf: float
    fig_meta_epoch: object
    fig_meta_traces: object
    fig_basis_epochs: object
    table_gnmf_scale: object
    table_protocols: object


def _traces_figure(h):

    epochs = np.arange(1, len(h["target_objective"]) + 1)
    fig, axes = plt.subplots(1, 3, figsize=(6.6, 2.3))
    target, meta = h["target_objective"], h["meta_objective"]
    axes[0].plot(epochs, target / target[0], label="target task")
    axes[0].plot(epochs, meta / meta[0], label="meta-tasks (mean)")
    axes[0].set_ylabel("objective / epoch 1", fontsize=10)
    axes[1].plot(epochs, h["basis_change"])
    axes[1].set_yscale("log")
    axes[1].set_ylabel("basis change", fontsize=10)
    axes[2].plot(epochs, h["scale_growth"])
    axes[2].set_ylabel("scale growth", fontsize=10)
    for ax in axes:
        ax.set_xlabel("epoch", fontsize=10)
        ax.tick_params(labelsize=9)
    fig.tight_layout(rect=(0, 0.1, 1, 1), w_pad=0.8)
    fig.legend(*axes[0].get_legend_handles_labels(), loc="lower center", ncol=2,
               fontsize=10, frameon=False)
    return fig


def values(P):
    """Everything the algorithm chapter shows, for the checked parameters ``P`` (``dataset``,
    ``rank``, ``seed``, ``profile``). Raises if the epoch written out by hand differs from
    ``MetaNMF``'s first epoch."""

    X, y = load_dataset(P.dataset)
    X_learn, X_eval, _, y_eval = learning_evaluation_split(X, y)
    S = P.settings
    rng = np.random.RandomState(P.seed)  # MetaNMF's stream: the tasks, then the bases
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", TaskSplitWarning)
        split = make_tasks(len(X_learn), n_tasks=S.n_tasks, protocol="thesis",
                           random_state=rng, min_size=P.rank)
    shape = (P.rank, X.shape[1])
    H_tasks = [rng.uniform(0.0, 1.0, shape) for _ in split.meta]
    H_target = rng.uniform(0.0, 1.0, shape)
    _, H_1 = one_epoch([X_learn[i] for i in split.meta], X_learn[split.target], H_tasks,
                       H_target, P.rank, S.inner_iter)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TaskSplitWarning)  # reported once, above
        kw = dict(n_tasks=S.n_tasks, n_epochs=S.n_epochs, inner_iter=S.inner_iter,
                  random_state=P.seed)
        meta_1 = MetaNMF(P.rank, **{**kw, "n_epochs": 1}).fit(X_learn)
        meta = MetaNMF(P.rank, keep_basis_history=True, **kw).fit(X_learn)
        raw = MetaNMF(P.rank, rescale_bases=False, **kw).fit(X_learn)
        lams = GNMF_LAMBDAS[P.profile]
        n_last = min(5, S.n_epochs)
        gnmf_rows = []
        for lam in lams:
            fit = MetaNMF(P.rank, base=GNMF(lam=lam), **kw).fit(X_learn)
            gnmf_rows.append({"λ": f"{lam:g}", "growth": float(np.exp(np.mean(np.log(
                fit.history_["scale_growth"][-n_last:])))),
                "objective": float(fit.history_["target_objective"][-1])})
    same_split = all(np.array_equal(a, b) for a, b in zip(meta_1.tasks_.meta, split.meta))
    ours = H_1 / H_1.max(axis=1, keepdims=True)
    theirs = meta_1.components_ / meta_1.components_.max(axis=1, keepdims=True)
    np.testing.assert_allclose(theirs, ours, rtol=1e-9, atol=1e-12)

    h = meta.history_
    target = h["target_objective"]
    H_raw, H_meta = raw.components_, meta.components_
    shift = np.frexp(H_raw.max())[1] - np.frexp(H_meta.max())[1]
    rel = float(np.max(np.abs(np.ldexp(H_raw, -shift) - H_meta)) / H_meta.max())

    shown = [e for e in SHOWN_EPOCHS if e < S.n_epochs] + [S.n_epochs]
    img = image_shape(P.dataset) or (1, X.shape[1])
    grid = [[meta.basis_history_[e][j].reshape(img) for e in shown] for j in range(P.rank)]
    fig_bases = image_table(grid, width=4.4, row_labels=[f"basis {j + 1}"
                                                          for j in range(P.rank)],
                            col_labels=[f"epoch\n{e}" for e in shown])

    baseline = NMF(P.rank, max_iter=S.baseline_iter, tol=0, random_state=P.seed)
    gnmf = pd.DataFrame(gnmf_rows)
    return AlgorithmValues(
        dataset=dataset_info(P.dataset).display_name, n_samples=len(X), n_learn=len(X_learn),
        n_eval=len(X_eval), n_tasks=S.n_tasks, task_size=split.task_size,
        n_target=int(split.target.size),
        split=split_sentence(S.n_tasks, split.task_size, int(split.target.size),
                             split.fallback),
        n_split_warnings=len(caught), inner=S.inner_iter, n_epochs=S.n_epochs, rank=P.rank,
        baseline_iter=S.baseline_iter,
        shift_epoch1=int(np.round(np.log2(H_1.max() / meta_1.components_.max()))),
        epoch_max_diff=sci(np.max(np.abs(theirs - ours))), same_split=same_split,
        same_basis=bool(np.allclose(theirs, ours, rtol=1e-9)),
        final_change=sci(h["basis_change"][-1]), final_target=float(target[-1]),
        target_change=float(target[-1] / target[0] - 1),
        growth_nmf=float(np.exp(np.mean(np.log(h["scale_growth"])))),
        raw_max=sci(raw.components_.max(), 2), float_tiny=sci(np.finfo(np.float64).tiny),
        raw_min_positive=sci(H_raw[H_raw > 0].min()),
        bit_identical="yes" if np.array_equal(np.ldexp(H_raw, -shift), H_meta) else "no",
        rescale_max_diff=sci(rel), rescaled_as_raw=rel < 1e-12,
        n_last=n_last, lam_small=lams[0], lam_large=lams[-1],
        raw_growth_small=gnmf_rows[0]["growth"], raw_growth_large=gnmf_rows[-1]["growth"],
        nmi_meta=cluster_nmi(meta.factorize(X_eval)[0], y_eval, random_state=P.seed),
        nmi_nmf=cluster_nmi(baseline.fit_transform(X_eval), y_eval, random_state=P.seed),
        fig_meta_epoch=meta_epoch_flowchart(n_tasks=2), fig_meta_traces=_traces_figure(h),
        fig_basis_epochs=fig_bases,
        table_gnmf_scale=table(gnmf, headers={"λ": "graph weight λ",
                                              "growth": "scale growth per epoch",
                                              "objective": "final target objective"}),
        table_protocols=table(protocol_table(), headers={"what": "setting",
                                                         "thesis": "thesis",
                                                         "authors": "authors' code"}))
