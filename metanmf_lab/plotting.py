"""Figures of results: NMI against rank, basis images, timings. Functions take tables (or
arrays) and return matplotlib Figures; they never compute models or touch files.

Colours: one per model family (the pair of a baseline and its Meta variant share it);
baselines are dashed with open markers, Meta models solid with filled markers.
"""

from __future__ import annotations

import numpy as np

from .datasets import DATASETS
from .experiments import PAIRS


def _family_colours():
    import seaborn as sns

    pal = sns.color_palette("colorblind", 4)
    return {m: pal[i] for i, pair in enumerate(PAIRS) for m in pair}


def _style(model):
    meta = model.startswith("Meta-")
    return dict(color=_family_colours()[model], linestyle="-" if meta else "--",
                marker="o", markerfacecolor=None if meta else "white", markersize=5)


def _errorbar(ax, d, model, label=None):
    d = d.sort_values("rank")
    ax.errorbar(d["rank"], d["mean"], yerr=d["sd"].fillna(0.0), capsize=2.5,
                label=label or model, **_style(model))


def nmi_vs_rank_pairs(summary, dataset, condition):
    """Thesis Figs. 4.2-4.11: NMI against rank, one panel per (baseline, Meta) pair.

    Parameters
    ----------
    summary : DataFrame from :func:`metanmf_lab.reporting.nmi_by_rank`
    dataset : str
    condition : {"none", "added"}
    """
    import matplotlib.pyplot as plt

    d = summary[(summary.dataset == dataset) & (summary.condition == condition)]
    fig, axes = plt.subplots(2, 2, figsize=(8.0, 6.0), sharex=True, sharey=True)
    for ax, pair in zip(axes.ravel(), PAIRS):
        for model in pair:
            _errorbar(ax, d[d.model == model], model)
        ax.set_title(f"{pair[0]} vs {pair[1]}")
        ax.legend(loc="lower right")
    for ax in axes[-1]:
        ax.set_xlabel("rank r")
    for ax in axes[:, 0]:
        ax.set_ylabel("NMI (mean ± s.d. over seeds)")
    ranks = sorted(d["rank"].unique())
    if ranks:
        axes[0, 0].set_xticks(ranks)
    noise = "no noise" if condition == "none" else "added noise"
    fig.suptitle(f"{DATASETS[dataset].display_name}, {noise}")
    fig.tight_layout()
    return fig


def meta_models_by_dataset(summary, datasets, condition):
    """Thesis Figs. 4.12-4.13: the four Meta models against rank, one panel per dataset."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(datasets), figsize=(3.2 * len(datasets), 3.6),
                             sharey=True, squeeze=False)
    for ax, ds in zip(axes[0], datasets):
        d = summary[(summary.dataset == ds) & (summary.condition == condition)]
        for _, meta in PAIRS:
            _errorbar(ax, d[d.model == meta], meta)
        ax.set_title(DATASETS[ds].display_name)
        ax.set_xlabel("rank r")
        ranks = sorted(d["rank"].unique())
        if ranks:
            ax.set_xticks(ranks)
    axes[0, 0].set_ylabel("NMI")
    axes[0, -1].legend(loc="lower right", fontsize="x-small")
    fig.tight_layout()
    return fig


def basis_images(bases, image_shape, row_labels, ncols=None, vmax_per_image=True):
    """Rows of basis images (thesis Figs. 4.14-4.21: one row per model).

    Parameters
    ----------
    bases : list of ndarray of shape (n_components, n_features)
        One basis per row (the package's ``components_``, the thesis' W transposed).
    image_shape : (int, int)
    row_labels : list of str
    ncols : int or None
        Images per row (default: all components).
    """
    import matplotlib.pyplot as plt

    k = max(B.shape[0] for B in bases)
    ncols = k if ncols is None else ncols
    nrows_per = int(np.ceil(k / ncols))
    fig, axes = plt.subplots(len(bases) * nrows_per, ncols,
                             figsize=(0.9 * ncols, 1.0 * len(bases) * nrows_per + 0.3),
                             squeeze=False)
    for b, (B, label) in enumerate(zip(bases, row_labels)):
        for j in range(nrows_per * ncols):
            ax = axes[b * nrows_per + j // ncols, j % ncols]
            ax.set_xticks([])
            ax.set_yticks([])
            for s in ax.spines.values():
                s.set_visible(False)
            if j < B.shape[0]:
                img = B[j].reshape(image_shape)
                ax.imshow(img, cmap="gray", vmin=0,
                          vmax=img.max() if vmax_per_image and img.max() > 0 else None)
            if j == 0:
                ax.set_ylabel(label, rotation=0, ha="right", va="center", fontsize="small")
    fig.subplots_adjust(wspace=0.05, hspace=0.05, left=0.16, right=0.99, top=0.98,
                        bottom=0.02)
    return fig


def timing_vs_n(scaling):
    """Fit time against the number of samples, log-log, for NMF, GNMF and Meta-NMF."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 3.8))
    for method, d in scaling.groupby("method", sort=False):
        d = d.sort_values("n_samples")
        ax.loglog(d["n_samples"], d["seconds"], marker="o", label=method)
    ax.set_xlabel("samples n")
    ax.set_ylabel("fit time (s)")
    ax.legend()
    fig.tight_layout()
    return fig
