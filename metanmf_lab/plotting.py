"""Figures of results: NMI against rank, grids of images (data, basis images), timings. Functions take tables (or
arrays) and return matplotlib Figures; they never compute models or touch files.

Colours: one per model family (the pair of a baseline and its Meta variant share it);
baselines are dashed with open markers, Meta models solid with filled markers.
"""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from .datasets import DATASETS, dataset_info
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
    fig.suptitle(f"{dataset_info(dataset).display_name}, {noise}")
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


def image_grid(images, image_shape=None, *, row_labels=None, col_labels=None, scale="each",
               cmap="gray", cell=0.9):
    """Images in a grid of rows and columns (samples, basis vectors, ...).

    Parameters
    ----------
    images : array-like of shape (n_rows, n_cols, n_pixels) or (n_images, n_pixels), or a
        sequence of arrays of shape (n_cols, n_pixels_r), one per row
        A 2-D array is drawn as one row. Rows given as a sequence may hold images of different
        sizes (e.g. one data set per row) and may have different numbers of columns.
    image_shape : tuple of int, None, or a sequence of them (one per row), default=None
        Shape of one image; None draws each vector as a one-pixel-high strip (non-image data).
    row_labels, col_labels : sequence of str or None
    scale : {"each", "row", "all"}, default="each"
        Grey levels from 0 to the maximum of each image, of each row, or of all images (NMF
        bases have arbitrary scale, so "each" is the default).
    cmap : str, default="gray"
    cell : float, default=0.9
        Width of one image in inches (its height follows the image's aspect ratio).

    Returns
    -------
    matplotlib.figure.Figure
    """
    if isinstance(images, np.ndarray) or not isinstance(images, (list, tuple)):
        arr = np.asarray(images, dtype=np.float64)
        if arr.ndim == 2:
            arr = arr[None]
        if arr.ndim != 3:
            raise ValueError(f"images must be (n_rows, n_cols, n_pixels) or (n_images, "
                             f"n_pixels), got shape {arr.shape}.")
        rows = list(arr)
    else:
        rows = [np.asarray(r, dtype=np.float64) for r in images]
        if any(r.ndim != 2 for r in rows):
            raise ValueError("images given as a sequence must hold one (n_cols, n_pixels) "
                             "array per row.")
    if not rows:
        raise ValueError("images is empty.")
    per_row = isinstance(image_shape, (list, tuple)) and len(image_shape) > 0 and (
        image_shape[0] is None or isinstance(image_shape[0], (list, tuple)))
    shapes = list(image_shape) if per_row else [image_shape] * len(rows)
    if len(shapes) != len(rows):
        raise ValueError(f"Got {len(shapes)} image shapes for {len(rows)} rows.")
    if scale not in ("each", "row", "all"):
        raise ValueError(f"scale must be 'each', 'row' or 'all', got {scale!r}.")
    shapes = [(1, r.shape[1]) if sh is None else tuple(sh) for r, sh in zip(rows, shapes)]
    for r, sh in zip(rows, shapes):
        if int(np.prod(sh)) != r.shape[1]:
            raise ValueError(f"image_shape {sh} does not match {r.shape[1]} pixels.")
    heights = [0.25 * cell if sh[0] == 1 else cell * sh[0] / sh[1] for sh in shapes]
    n_cols = max(r.shape[0] for r in rows)
    left = 0.9 if row_labels is not None else 0.05
    top = 0.3 if col_labels is not None else 0.05
    fig = Figure(figsize=(left + n_cols * cell, top + sum(heights) + 0.05))
    W, Ht = fig.get_size_inches()
    vmax_all = max(r.max() for r in rows)
    y = top
    for i, (row, sh, h) in enumerate(zip(rows, shapes, heights)):
        y += h
        for c, img in enumerate(row):
            ax = fig.add_axes(((left + c * cell) / W, 1 - y / Ht, 0.95 * cell / W,
                               0.95 * h / Ht))
            vmax = {"each": img.max(), "row": row.max(), "all": vmax_all}[scale]
            ax.imshow(img.reshape(sh), cmap=cmap, vmin=0.0, vmax=vmax if vmax > 0 else 1.0,
                      interpolation="nearest", aspect="auto")
            ax.set_xticks([])
            ax.set_yticks([])
            for spine in ax.spines.values():
                spine.set_visible(False)
            if c == 0 and row_labels is not None:
                ax.text(-0.08, 0.5, row_labels[i], transform=ax.transAxes, ha="right",
                        va="center", fontsize=8)
            if i == 0 and col_labels is not None:
                ax.set_title(col_labels[c], fontsize=8, pad=3)
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


def _condition_name(condition):
    return {"none": "no noise", "added": "added noise"}.get(condition, condition)


def paired_differences(comparison, model):
    """Hypothesis 1: a Meta model minus each of its references (thesis baseline and fair
    baselines), mean over seeds with its 95% interval, per dataset; one panel per condition.

    ``comparison`` is :func:`metanmf_lab.stats.compare` output.
    """
    import matplotlib.pyplot as plt
    import seaborn as sns

    d = comparison[comparison.model == model]
    refs = list(dict.fromkeys(d["reference"]))
    conditions = [c for c in ("none", "added") if c in set(d["condition"])]
    datasets = [ds for ds in DATASETS if ds in set(d["dataset"])]
    pal = sns.color_palette("colorblind", max(len(refs), 1))
    fig, axes = plt.subplots(1, max(len(conditions), 1), figsize=(4.2 * len(conditions), 0.45
                             * len(datasets) * max(len(refs), 1) + 1.4), sharex=True,
                             sharey=True, squeeze=False)
    for ax, cond in zip(axes[0], conditions):
        ax.axvline(0.0, color="0.4", lw=1)
        for j, ref in enumerate(refs):
            part = d[(d.condition == cond) & (d.reference == ref)].set_index("dataset")
            y = [i + (j - (len(refs) - 1) / 2) * 0.22 for i, ds in enumerate(datasets)
                 if ds in part.index]
            p = part.reindex([ds for ds in datasets if ds in part.index])
            err = np.vstack([(p["difference"] - p["low"]).fillna(0).to_numpy(),
                             (p["high"] - p["difference"]).fillna(0).to_numpy()])
            ax.errorbar(p["difference"], y, xerr=err, fmt="o", color=pal[j], capsize=2.5,
                        markersize=4, label=f"vs {ref}")
        ax.set_yticks(range(len(datasets)))
        ax.set_yticklabels([DATASETS[ds].display_name for ds in datasets])
        ax.set_title(_condition_name(cond))
        ax.set_xlabel(f"NMI of {model} minus reference")
    axes[0, 0].invert_yaxis()  # once: the panels share the y axis (the book's dataset order)
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.tight_layout()
    fig.legend(handles, labels, loc="upper center", ncol=min(len(refs), 2), fontsize="small",
               bbox_to_anchor=(0.5, 0.0), frameon=False)
    return fig


def nmi_vs_noise(summary, datasets, models):
    """Hypothesis 3: NMI (mean over ranks and seeds, s.d. over seeds) against the noise level,
    one panel per dataset. ``summary`` has columns dataset, model, noise, mean, sd."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(datasets), figsize=(3.3 * len(datasets), 3.6),
                             sharey=True, squeeze=False)
    for ax, ds in zip(axes[0], datasets):
        for model in models:
            p = summary[(summary.dataset == ds) & (summary.model == model)].sort_values("noise")
            ax.errorbar(p["noise"], p["mean"], yerr=p["sd"].fillna(0.0), capsize=2.5,
                        label=model, **_style(model))
        ax.set_title(DATASETS[ds].display_name)
        ax.set_xlabel("noise s.d. σ")
    axes[0, 0].set_ylabel("NMI")
    axes[0, -1].legend(loc="best", fontsize="x-small")
    fig.tight_layout()
    return fig


def model_measure(table, value, label, models, sd=None):
    """A per-model measure (e.g. basis spread over seeds) as bars, one panel per
    (dataset, condition) found in ``table`` (columns dataset, condition, model, value)."""
    import matplotlib.pyplot as plt

    panels = list(dict.fromkeys(zip(table["dataset"], table["condition"])))
    ncols = min(len(panels), 3)  # wrapped into rows of three panels
    nrows = -(-len(panels) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.1 * ncols, 3.8 * nrows), sharey=True,
                             squeeze=False)
    for ax in axes.flat[len(panels):]:
        ax.set_visible(False)
    for ax, (ds, cond) in zip(axes.flat, panels):
        p = table[(table.dataset == ds) & (table.condition == cond)].set_index("model")
        p = p.reindex([m for m in models if m in p.index])
        colours = [_family_colours()[m] for m in p.index]
        ax.bar(range(len(p)), p[value], color=colours,
               yerr=None if sd is None else p[sd].fillna(0.0), capsize=2.5,
               hatch=None, edgecolor="0.2", linewidth=0.5)
        for i, m in enumerate(p.index):
            if not m.startswith("Meta-"):
                ax.patches[i].set_hatch("//")
                ax.patches[i].set_facecolor("white")
                ax.patches[i].set_edgecolor(colours[i])
        ax.set_xticks(range(len(p)))
        ax.set_xticklabels(p.index, rotation=60, ha="right", fontsize="x-small")
        ax.set_title(f"{DATASETS[ds].display_name}, {_condition_name(cond)}", fontsize="small")
    for row in axes:
        row[0].set_ylabel(label)
    fig.tight_layout()
    return fig


def ablation_heatmap(effects):
    """Reproduction notes: the shift of each entry (row) under each ablation (column), with
    the entry's difference from the thesis as the first column; blank where an ablation cannot
    affect the model. ``effects`` is :func:`metanmf_lab.reporting.ablation_effects` output."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    e = effects.assign(entry=[
        f"{DATASETS[d].display_name}, {'no noise' if c == 'none' else 'noise'}, {m}"
        for d, c, m in zip(effects["dataset"], effects["condition"], effects["model"])])
    shifts = e.pivot_table(index="entry", columns="ablation", values="shift", sort=False)
    gap = e.drop_duplicates("entry").set_index("entry")["gap_before"].rename(
        "ours − thesis")
    table = _prepend_column(gap, shifts)
    lim = float(np.nanmax(np.abs(table.to_numpy()))) if table.size else 1.0
    fig, ax = plt.subplots(figsize=(1.0 + 0.75 * table.shape[1], 1.2 + 0.32 * table.shape[0]))
    sns.heatmap(table, ax=ax, cmap="vlag", center=0.0, vmin=-lim, vmax=lim, annot=True,
                fmt=".2f", annot_kws={"fontsize": 7}, cbar_kws={"label": "NMI"},
                linewidths=0.5, linecolor="white")
    ax.axvline(1.0, color="0.2", lw=1.5)
    ax.grid(False)
    ax.set_xlabel("")
    ax.set_ylabel("")
    ax.set_xticklabels(ax.get_xticklabels(), rotation=40, ha="right", fontsize="x-small")
    ax.set_yticklabels(ax.get_yticklabels(), fontsize="x-small")
    fig.tight_layout()
    return fig


def _prepend_column(first, rest):
    """``first`` (a Series) as the first column before the columns of ``rest``."""
    import pandas as pd

    return pd.concat([first.to_frame(), rest], axis=1)


def altbi_curves(curves, benchmarks, labels):
    """The seed's Fig. 1 for each benchmark: response (data term) and objective (data term +
    penalty) against the outer iteration, median over seeds, one line per method label
    (``curves`` from :func:`metanmf_lab.altbi.run_benchmark` with a ``label`` column; lines
    drawn for ``labels`` in that order)."""
    import seaborn as sns

    import matplotlib.pyplot as plt

    pal = dict(zip(labels, sns.color_palette("colorblind", len(labels))))
    fig, axes = plt.subplots(len(benchmarks), 2, figsize=(8.5, 2.4 * len(benchmarks) + 0.6),
                             squeeze=False, layout="constrained")
    for row, bench in zip(axes, benchmarks):
        part = curves[curves.benchmark == bench]
        for ax, value in zip(row, ("response", "objective")):
            for label in labels:
                c = part[part.label == label]
                if c.empty:
                    continue
                med = c.groupby("iteration")[value].median()
                ax.plot(med.index, np.maximum(med.to_numpy(), 1e-30), color=pal[label],
                        label=label, lw=1.4)
            ax.set_yscale("log")
            ax.set_title(f"Benchmark {bench}: {value}")
            ax.set_xlabel("outer iteration")
    handles, names = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, names, loc="outside lower center", ncols=min(3, len(names)),
               frameon=False)
    return fig


def altbi_sir(results, labels):
    """Mean SIR of W and of H over seeds (95% interval) per benchmark and method label
    (``results`` from :func:`metanmf_lab.altbi.run_benchmark` with a ``label`` column)."""
    import seaborn as sns

    from .stats import mean_interval

    benches = list(dict.fromkeys(results.benchmark))
    pal = dict(zip(labels, sns.color_palette("colorblind", len(labels))))
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, sharey=True, layout="constrained",
                             figsize=(8.5, 0.22 * len(benches) * len(labels) + 1.8))
    for ax, value, name in zip(axes, ("sir_W", "sir_H"), ("W", "H")):
        for j, label in enumerate(labels):
            for i, bench in enumerate(benches):
                v = results[(results.benchmark == bench) & (results.label == label)][value]
                if v.empty:
                    continue
                m, lo, hi = mean_interval(v)
                y = i + (j - (len(labels) - 1) / 2) * 0.8 / len(labels)
                err = None if not np.isfinite(lo) else [[m - lo], [hi - m]]
                ax.errorbar([m], [y], xerr=err, fmt="o", color=pal[label], capsize=2.5,
                            markersize=4, label=label if i == 0 else None)
        ax.set_yticks(range(len(benches)))
        ax.set_yticklabels([f"Benchmark {b}" for b in benches])
        ax.invert_yaxis()
        ax.set_xlabel(f"SIR of {name} (dB)")
    handles, names = axes[0].get_legend_handles_labels()
    fig.legend(handles, names, loc="outside lower center", ncols=min(3, len(names)),
               frameon=False)
    return fig
