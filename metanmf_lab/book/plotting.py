"""Figures of results: NMI against rank, grids of images (data, basis images), timings. Functions
take tables (or arrays) and return matplotlib Figures; they never compute models or touch files.

Colours: one per model family (the pair of a baseline and its Meta variant share it);
baselines are dashed with open markers, Meta models solid with filled markers.
"""

from __future__ import annotations

import textwrap

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator

from ..data.datasets import DATASETS
from ..grid.catalogue import PAIRS
from ..grid.cells import CONDITIONS


def _family_colours():

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


def _readable_ticks(values, min_gap):
    """The ``values`` to label on an axis, each at least ``min_gap`` (data units) from its
    neighbours, the smallest and largest always kept: ranks 2, 3, 5, 10, 14, 18 with a gap of
    2.5 give 2, 5, 10, 14, 18 (the labels 2 and 3 would collide)."""
    values = sorted(values)
    kept = values[:1]
    for v in values[1:]:
        if v - kept[-1] >= min_gap:
            kept.append(v)
    if values and kept[-1] != values[-1]:
        if len(kept) > 1:
            kept[-1] = values[-1]
        else:
            kept.append(values[-1])
    return kept


def nmi_vs_rank_pairs(summary, dataset, condition, width=6.45):
    """Thesis Figs. 4.2-4.11: NMI against rank on one dataset and condition, one panel per
    (baseline, Meta) pair side by side, sharing the NMI axis: the base model dashed with open
    markers, its Meta version solid and filled, mean ± s.d. over seeds. The caption names the
    dataset and the condition; the panels are titled with the base model; one legend, above
    the panels, says which line is which.

    Parameters
    ----------
    summary : DataFrame from :func:`metanmf_lab.grid.reporting.nmi_by_rank`
    dataset : str
    condition : {"none", "added"}
    width : float, default=6.45
        Inches: at 100 dpi, with the margin of a tight bounding box, the book's figure
        column (660 px).
    """

    d = summary[(summary.dataset == dataset) & (summary.condition == condition)]
    fig, axes = plt.subplots(1, len(PAIRS), figsize=(width, 2.45), sharex=True, sharey=True,
                             layout="constrained")
    for ax, pair in zip(axes, PAIRS):
        for model in pair:
            _errorbar(ax, d[d.model == model], model)
        ax.set_title(pair[0], color=_family_colours()[pair[0]])
        ax.tick_params(axis="both", labelsize="small")
    ranks = sorted(d["rank"].unique())
    if ranks:
        span = max(ranks) - min(ranks)
        axes[0].set_xticks(_readable_ticks(ranks, span / 6))
        pad = max(span * 0.08, 0.5)
        axes[0].set_xlim(min(ranks) - pad, max(ranks) + pad)
    fig.supxlabel("rank r", fontsize="medium")
    fig.supylabel("NMI", fontsize="medium")
    grey = "0.3"
    handles = [Line2D([], [], color=grey, linestyle="--", marker="o", markerfacecolor="white",
                      markersize=5, label="the panel's base model"),
               Line2D([], [], color=grey, linestyle="-", marker="o", markersize=5,
                      label="its Meta version")]
    fig.legend(handles=handles, loc="outside upper center", ncol=2, frameon=False)
    return fig


def meta_models_by_dataset(summary, datasets, condition):
    """Thesis Figs. 4.12-4.13: the four Meta models against rank, one panel per dataset (two
    per row, sharing the axes), the legend below."""

    ncols = min(len(datasets), 2)
    nrows = -(-len(datasets) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(6.6, 2.2 * nrows + 0.9), sharex=True,
                             sharey=True, squeeze=False, layout="constrained")
    for ax in axes.flat[len(datasets):]:
        ax.set_visible(False)
    for ax, ds in zip(axes.flat, datasets):
        d = summary[(summary.dataset == ds) & (summary.condition == condition)]
        for _, meta in PAIRS:
            _errorbar(ax, d[d.model == meta], meta)
        ax.set_title(DATASETS[ds].display_name, fontsize=11)
        ax.tick_params(labelsize=10)
        ranks = sorted(d["rank"].unique())
        if ranks:
            ax.set_xticks(_readable_ticks(ranks, (max(ranks) - min(ranks)) / 6))
    handles, labels = axes.flat[0].get_legend_handles_labels()
    for ax in axes[-1]:
        ax.set_xlabel("rank r", fontsize=11)
    fig.supylabel("NMI (mean ± s.d. over seeds)", fontsize=11)
    fig.legend(handles, labels, loc="outside lower center", ncol=2, fontsize=10, frameon=False)
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
    return CONDITIONS.get(condition, condition)


def paired_differences(comparison, model, linear=0.1):
    """Hypothesis 1: a Meta model minus each of its references (thesis baseline and fair
    baselines), mean over seeds with its 95% interval, per dataset; one panel per condition.

    ``comparison`` is :func:`metanmf_lab.grid.stats.compare` output; with the ``kind`` column of
    :func:`metanmf_lab.grid.verdicts.compare_rows` each kind of reference has the marker
    of :func:`headline_differences`, and with a ``verdict`` column a significant difference
    ("better"/"worse") is filled, another open. One x label under both panels, the legend
    below them. The x axis is linear within ±``linear`` and logarithmic beyond, as in
    :func:`headline_differences`.
    """

    d = comparison[comparison.model == model]
    refs = list(dict.fromkeys(d["reference"]))
    kind_of = dict(zip(d["reference"], d["kind"])) if "kind" in d else {r: r for r in refs}
    markers = {r: _KIND_MARKERS.get(kind_of[r], "o") for r in refs}
    conditions = [c for c in CONDITIONS if c in set(d["condition"])]
    datasets = [ds for ds in DATASETS if ds in set(d["dataset"])]
    pal = sns.color_palette("colorblind", max(len(refs), 1))
    offsets = np.linspace(-0.27, 0.27, len(refs)) if len(refs) > 1 else np.zeros(len(refs))
    values = d[["low", "high", "difference"]].to_numpy(dtype=float)
    values = values[np.isfinite(values)]
    # each side as far as its data reach (a side without data keeps its linear part)
    left = -max(1.5 * linear, 1.3 * float(-values.min(initial=0.0)))
    right = max(1.5 * linear, 1.3 * float(values.max(initial=0.0)))
    ticks = [t for t in (-0.5, -linear, 0.0, linear, 0.5) if left < t < right]
    fig, axes = plt.subplots(1, max(len(conditions), 1),
                             figsize=(6.6, 0.5 * max(len(datasets), 1) + 1.7), sharex=True,
                             sharey=True, squeeze=False)
    for ax, cond in zip(axes[0], conditions):
        ax.axvline(0.0, color="0.3", lw=0.9, zorder=1.5)
        for j, ref in enumerate(refs):
            part = d[(d.condition == cond) & (d.reference == ref)].set_index("dataset")
            for i, ds in enumerate(datasets):
                if ds not in part.index:
                    continue
                r = part.loc[ds]
                y = i + offsets[j]
                filled = "verdict" not in r or r["verdict"] in ("better", "worse")
                if np.isfinite(r["low"]) and np.isfinite(r["high"]):
                    ax.plot([r["low"], r["high"]], [y, y], color=pal[j], lw=1.3)
                ax.plot(r["difference"], y, marker=markers[ref], ms=5.5, color=pal[j],
                        markerfacecolor=pal[j] if filled else "white", markeredgewidth=1.2,
                        linestyle="none")
        for y in range(1, len(datasets), 2):
            ax.axhspan(y - 0.5, y + 0.5, color="0.95", zorder=-1, lw=0)
        ax.set_yticks(range(len(datasets)))
        ax.set_yticklabels([DATASETS[ds].display_name for ds in datasets])
        ax.set_title(_condition_name(cond))
        ax.grid(axis="y", visible=False)
        ax.set_xscale("symlog", linthresh=linear, linscale=1.5)
        ax.set_xlim(left, right)
        ax.set_xticks(ticks, [f"{t:g}".replace("-", "−") for t in ticks])
        ax.xaxis.set_minor_locator(plt.NullLocator())
        for x in (-linear, linear):
            ax.axvline(x, color="0.75", lw=0.8, ls=":", zorder=0)
        ax.tick_params(labelsize=10)
    axes[0, 0].set_ylim(len(datasets) - 0.5, -0.5)  # the book's dataset order, from the top
    handles = [Line2D([], [], marker=markers[r], color=pal[j], linestyle="none", markersize=6,
                      label=kind_of[r] if "kind" in d else f"vs {r}")
               for j, r in enumerate(refs)]
    if "verdict" in d:
        handles += [Line2D([], [], marker="o", color="0.3", linestyle="none", markersize=6,
                           label="significant (filled)"),
                    Line2D([], [], marker="o", color="0.3", markerfacecolor="white",
                           linestyle="none", markersize=6, label="not significant (open)")]
    legend_rows = -(-len(handles) // 3)
    bottom = (0.5 + 0.22 * legend_rows) / fig.get_figheight()
    fig.legend(handles=handles, loc="lower center", ncol=3, fontsize=9.5, frameon=False,
               bbox_to_anchor=(0.5, 0.0))
    fig.tight_layout(rect=(0, bottom, 1, 1))
    # one x label, centred under the panels (on the first panel, which carries it)
    first, last = axes[0, 0].get_position(), axes[0, -1].get_position()
    axes[0, 0].set_xlabel(f"NMI of {model} minus reference", fontsize=11)
    axes[0, 0].xaxis.set_label_coords(((first.x0 + last.x1) / 2 - first.x0) / first.width,
                                      -0.32 / (first.height * fig.get_figheight()))
    return fig


def nmi_vs_noise(summary, datasets, models):
    """Hypothesis 3: NMI (mean over ranks and seeds, s.d. over seeds) against the noise level,
    one panel per dataset, the legend below. ``summary`` has columns dataset, model, noise,
    mean, sd."""

    fig, axes = plt.subplots(1, len(datasets), figsize=(6.6, 3.2), sharey=True, squeeze=False,
                             layout="constrained")
    for ax, ds in zip(axes[0], datasets):
        for model in models:
            p = summary[(summary.dataset == ds) & (summary.model == model)].sort_values("noise")
            ax.errorbar(p["noise"], p["mean"], yerr=p["sd"].fillna(0.0), capsize=2.5,
                        label=model, **_style(model))
        ax.set_title(DATASETS[ds].display_name)
        ax.xaxis.set_major_locator(MaxNLocator(nbins=4))
        ax.tick_params(labelsize=10)
    axes[0, 0].set_ylabel("NMI")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    axes[0, len(datasets) // 2].set_xlabel("noise s.d. σ", fontsize=11)
    fig.get_layout_engine().set(wspace=0.06)  # the end labels of neighbours apart
    fig.legend(handles, labels, loc="outside lower center", ncol=2, fontsize=10, frameon=False)
    return fig


def model_measure(table, value, label, models, sd=None):
    """A per-model measure (e.g. basis spread over seeds) as bars, one panel per
    (dataset, condition) found in ``table`` (columns dataset, condition, model, value), wrapped in
    rows of three (without noise first); the bars in the order of ``models``, baselines hatched,
    Meta models filled, named by one legend below the panels."""

    order = {c: i for i, c in enumerate(CONDITIONS)}
    books = {d: i for i, d in enumerate(DATASETS)}
    panels = sorted(dict.fromkeys(zip(table["dataset"], table["condition"])),
                    key=lambda k: (order.get(k[1], 2), books.get(k[0], len(books))))
    ncols = min(len(panels), 3)  # wrapped into rows of three panels
    nrows = -(-len(panels) // ncols)
    shown = [m for m in models if m in set(table["model"])]
    legend_rows = -(-len(shown) // 4)
    legend_in = 0.3 + 0.25 * legend_rows
    fig, axes = plt.subplots(nrows, ncols, figsize=(6.6, 2.0 * nrows + legend_in),
                             sharey=True, squeeze=False, layout="constrained")
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
        ax.set_xticklabels([])
        ax.grid(axis="x", visible=False)
        ax.tick_params(labelsize=10)
        ax.set_title(f"{DATASETS[ds].display_name}, {_condition_name(cond)}", fontsize=11)
    fig.supylabel(label, fontsize=11)
    handles = [Patch(facecolor=_family_colours()[m] if m.startswith("Meta-") else "white",
                     edgecolor=_family_colours()[m], hatch=None if m.startswith("Meta-")
                     else "//", label=m) for m in shown]
    fig.legend(handles=handles, loc="outside lower center", ncol=4, fontsize=9.5, frameon=False)
    return fig


def part_measures(parts, models):
    """Hypothesis 4: the sparsity (Hoyer) and the spatial spread of each model's Faces basis
    images, mean ± s.d. over seeds, without noise (filled) and with added noise (open); one
    panel per measure, a row per model (in the order of ``models``). ``parts`` is
    :func:`metanmf_lab.grid.analysis.part_measures` output with a ``condition`` column."""

    shown = [m for m in models if m in set(parts["model"])]
    per_seed = parts.groupby(["model", "condition", "seed"])[["hoyer", "spread"]].mean()
    stats = per_seed.groupby(["model", "condition"]).agg(["mean", "std"])
    fig, axes = plt.subplots(1, 2, figsize=(6.6, 0.3 * len(shown) + 1.3), sharey=True,
                             layout="constrained")
    offsets = {"none": -0.15, "added": 0.15}
    for ax, (measure, title) in zip(axes, (("hoyer", "sparsity (higher: sparser)"),
                                           ("spread", "spatial spread (lower: local)"))):
        for i, m in enumerate(shown):
            for cond, off in offsets.items():
                if (m, cond) not in stats.index:
                    continue
                mean, sd = stats.loc[(m, cond), (measure, "mean")], stats.loc[(m, cond),
                                                                             (measure, "std")]
                colour = _family_colours()[m]
                ax.errorbar(mean, i + off, xerr=0.0 if not np.isfinite(sd) else sd,
                            marker="o", ms=5.5,
                            color=colour, markerfacecolor=colour if cond == "none" else "white",
                            capsize=2, lw=1.1, linestyle="none")
        ax.set_title(title, fontsize=10.5)
        ax.xaxis.set_major_locator(MaxNLocator(nbins=4))
        ax.tick_params(labelsize=10)
        ax.grid(axis="y", visible=False)
        for y in range(1, len(shown), 2):
            ax.axhspan(y - 0.5, y + 0.5, color="0.95", zorder=-1, lw=0)
    axes[0].set_yticks(range(len(shown)), shown)
    axes[0].set_ylim(len(shown) - 0.5, -0.5)
    handles = [Line2D([], [], marker="o", color="0.3", linestyle="none", markersize=6,
                      label=CONDITIONS["none"]),
               Line2D([], [], marker="o", color="0.3", markerfacecolor="white",
                      linestyle="none", markersize=6, label=CONDITIONS["added"])]
    fig.legend(handles=handles, loc="outside lower center", ncol=2, fontsize=10, frameon=False)
    return fig


def ablation_heatmap(effects):
    """Reproduction notes: the shift of each entry (row) under each ablation (column), with
    the entry's difference from the thesis as the first column; blank where an ablation cannot
    affect the model. ``effects`` is :func:`metanmf_lab.grid.reporting.ablation_effects` output."""

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


def basis_pair(left, right, image_shape, *, titles, notes=None, per_row=3, cell=0.82):
    """Two bases side by side, e.g. a baseline's basis images (left) beside its Meta model's
    (right): each a grid of ``per_row`` columns in the order given, every image scaled to its
    own maximum (NMF bases have arbitrary scale).

    Parameters
    ----------
    left, right : array-like of shape (n_images, n_pixels)
    image_shape : tuple of int
    titles : two str, set above each grid
    notes : two str or None, set under the titles (e.g. each basis' sparsity)
    per_row : int, default=3
    cell : float, default=0.82
        Width of one image in inches (82 px as the book shows a figure, at 100 dpi).

    Returns
    -------
    matplotlib.figure.Figure
    """
    grids = [np.asarray(g, dtype=np.float64) for g in (left, right)]
    if any(g.ndim != 2 or g.shape[1] != int(np.prod(image_shape)) for g in grids):
        raise ValueError(f"left and right must be (n_images, {int(np.prod(image_shape))}) for "
                         f"image_shape {tuple(image_shape)}, got "
                         f"{[g.shape for g in grids]}.")
    if len(titles) != 2 or (notes is not None and len(notes) != 2):
        raise ValueError("titles (and notes) need one text per grid: two.")
    h_img = cell * image_shape[0] / image_shape[1]
    n_rows = max(-(-len(g) // per_row) for g in grids)
    margin, gap = 0.05, 0.35
    head = 0.32 + (0.26 if notes is not None else 0.0)
    block = per_row * cell
    fig = Figure(figsize=(2 * block + gap + 2 * margin, head + n_rows * h_img + margin),
                 dpi=100)
    W, Ht = fig.get_size_inches()
    for b, grid in enumerate(grids):
        x0 = margin + b * (block + gap)
        fig.text((x0 + block / 2) / W, 1 - 0.05 / Ht, titles[b], ha="center", va="top",
                 fontsize=12, fontweight="bold")
        if notes is not None:
            fig.text((x0 + block / 2) / W, 1 - 0.34 / Ht, notes[b], ha="center", va="top",
                     fontsize=10)
        for k, img in enumerate(grid):
            r, c = divmod(k, per_row)
            ax = fig.add_axes(((x0 + c * cell) / W, 1 - (head + (r + 1) * h_img) / Ht,
                               0.96 * cell / W, 0.96 * h_img / Ht))
            vmax = img.max()
            ax.imshow(img.reshape(image_shape), cmap="gray", vmin=0.0,
                      vmax=vmax if vmax > 0 else 1.0, interpolation="nearest", aspect="auto")
            ax.set_axis_off()
    return fig


def ablation_shifts(effects, threshold, order=None):
    """Reproduction notes: what each switch does to the table entries that differ from the
    thesis. One row per switch, one dot per entry at its shift (the switch's number minus
    ours), marked by whether the switch brings the entry to within ``threshold`` of the thesis,
    closer to it, or further away; the band is ±``threshold``.

    Parameters
    ----------
    effects : DataFrame of :func:`metanmf_lab.grid.reporting.ablation_effects`
    threshold : float
    order : list of switch names (rows, top to bottom), default: as in ``effects``
    """


    names = list(dict.fromkeys(effects["ablation"])) if order is None else list(order)
    pal = sns.color_palette("colorblind", 4)
    kinds = {"within": dict(marker="o", color=pal[0], mfc=pal[0], ms=6.5,
                            label=f"to within {threshold:g} of the thesis"),
             "closer": dict(marker="o", color=pal[0], mfc="white", ms=6.5,
                            label="closer to the thesis"),
             "further": dict(marker="x", color=pal[3], mfc=pal[3], ms=5.5,
                             label="further from the thesis")}
    fig, ax = plt.subplots(figsize=(6.6, 0.36 * len(names) + 1.5))
    ax.axvspan(-threshold, threshold, color="0.9", lw=0, zorder=0)
    ax.axvline(0.0, color="0.5", lw=0.8, zorder=1)
    for i, name in enumerate(names):
        e = effects[effects["ablation"] == name].reset_index(drop=True)
        jitter = ((np.arange(len(e)) * 0.618) % 1.0 - 0.5) * 0.5  # deterministic spread
        kind = np.where(e["within"], "within", np.where(e["closes"], "closer", "further"))
        for k, style in kinds.items():
            m = kind == k
            ax.plot(e.loc[m, "shift"], i + jitter[m], ls="none", marker=style["marker"],
                    color=style["color"], mfc=style["mfc"], ms=style["ms"], mew=1.2,
                    alpha=0.85, zorder=2)
    ax.set_yticks(range(len(names)))
    ax.set_yticklabels(["\n".join(textwrap.wrap(n, 26)) for n in names], fontsize=10)
    ax.set_ylim(len(names) - 0.5, -0.5)
    ax.tick_params(axis="x", labelsize=10)
    ax.set_xlabel("shift of the entry under the switch (NMI)", fontsize=11)
    ax.grid(axis="y", color="0.93")
    handles = [Line2D([], [], ls="none", marker=s["marker"], color=s["color"], mfc=s["mfc"],
                      ms=s["ms"], mew=1.2, label=s["label"]) for s in kinds.values()]
    fig.legend(handles=handles, loc="lower center", ncols=3, frameon=False, fontsize=10,
               handletextpad=0.3, columnspacing=1.0)
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    return fig


def _prepend_column(first, rest):
    """``first`` (a Series) as the first column before the columns of ``rest``."""

    return pd.concat([first.to_frame(), rest], axis=1)


#: Marker of each kind of reference in :func:`headline_differences`.
_KIND_MARKERS = {"thesis baseline": "o", "equal compute": "s",
                 "equal compute, other init": "D", "warm start": "^"}


def headline_differences(verdicts, models, datasets=None, linear=0.1):
    """The book's headline: for each Meta model of ``models`` (one panel each), its NMI minus
    that of each reference (thesis baseline, the two equal-compute baselines, the warm
    start), per dataset and condition, with the 95% interval over seeds; a filled marker is a
    significant verdict ("better"/"worse"), an open one is not.

    Parameters
    ----------
    verdicts : DataFrame of :func:`metanmf_lab.grid.verdicts.compare_rows`
    models : sequence of Meta model names
    datasets : sequence of dataset names, default=those of ``verdicts`` in the book's order
    linear : float
        The x axis is linear within ±``linear`` and logarithmic beyond (matplotlib's
        ``symlog``), so that a few large differences do not flatten the many small ones.
    """

    order = [d for d in DATASETS if d in set(verdicts["dataset"])] if datasets is None \
        else list(datasets)
    rows = [(d, c) for d in order for c in CONDITIONS]
    labels = [DATASETS[d].display_name + ("" if c == "none" else " + noise") for d, c in rows]
    kinds = list(_KIND_MARKERS)
    colours = dict(zip(kinds, sns.color_palette("colorblind", len(kinds))))
    offsets = dict(zip(kinds, np.linspace(-0.27, 0.27, len(kinds))))
    fig, axes = plt.subplots(1, len(models), figsize=(6.6, 0.3 * len(rows) + 1.7),
                             sharey=True, squeeze=False)
    shown = verdicts[verdicts["model"].isin(models)]
    reach = float(np.nanmax(np.abs(shown[["low", "high", "difference"]].to_numpy()),
                            initial=linear))
    lim = max(2 * linear, 1.6 * reach)
    for ax, model in zip(axes[0], models):
        mine = verdicts[verdicts["model"] == model]
        for kind in kinds:
            part = mine[mine["kind"] == kind].set_index(["dataset", "condition"])
            for y, key in enumerate(rows):
                if key not in part.index:
                    continue
                r = part.loc[key]
                significant = r["verdict"] in ("better", "worse")
                yy = y + offsets[kind]
                ax.plot([r["low"], r["high"]], [yy, yy], color=colours[kind], lw=1.3)
                ax.plot(r["difference"], yy, marker=_KIND_MARKERS[kind], ms=5.5,
                        color=colours[kind], markerfacecolor=colours[kind] if significant
                        else "white", markeredgewidth=1.2, linestyle="none")
        ax.set_xscale("symlog", linthresh=linear, linscale=1.5)
        ax.set_xlim(-lim, lim)
        ticks = [t for t in (-0.5, -linear, 0.0, linear, 0.5) if abs(t) < lim]
        ax.set_xticks(ticks, [f"{t:.1f}".replace("0.", ".").replace("-", "−") if t else "0"
                              for t in ticks])
        ax.xaxis.set_minor_locator(plt.NullLocator())
        ax.axvline(0.0, color="0.3", lw=0.9, zorder=0)
        for x in (-linear, linear):
            ax.axvline(x, color="0.75", lw=0.8, ls=":", zorder=0)
        for y in range(1, len(rows), 2):
            ax.axhspan(y - 0.5, y + 0.5, color="0.95", zorder=-1, lw=0)
        ax.set_title(model, fontsize=11)
        ax.tick_params(labelsize=9.5)
        ax.grid(axis="y", visible=False)
    axes[0][0].set_yticks(range(len(rows)), labels)
    axes[0][0].set_ylim(len(rows) - 0.5, -0.5)
    handles = [Line2D([], [], marker=_KIND_MARKERS[k], color=colours[k], linestyle="none",
                      markersize=6, label=k) for k in kinds]
    handles += [Line2D([], [], marker="o", color="0.3", linestyle="none", markersize=6,
                       label="significant (filled)"),
                Line2D([], [], marker="o", color="0.3", markerfacecolor="white",
                       linestyle="none", markersize=6, label="not significant (open)")]
    fig.legend(handles=handles, loc="lower center", ncol=3, fontsize=9.5, frameon=False,
               bbox_to_anchor=(0.5, 0.0), title="reference the Meta model is compared with",
               title_fontsize=9.5)
    fig.supxlabel(f"NMI difference, Meta model − reference (linear within ±{linear:g}, "
                  "log beyond)", fontsize=10, y=0.86 / fig.get_figheight())
    fig.tight_layout(rect=(0, 0.93 / fig.get_figheight(), 1, 1))
    return fig


def split_differences(splits, comparisons):
    """Replications: each extra split's difference (a Meta model minus a reference, seed 0,
    mean over the replication ranks) as a dot, the main split's as a ring, per dataset; one
    panel per condition. ``splits``: rows of per-replication differences (columns dataset,
    condition, label, replication, difference); ``comparisons``: the labels, in order."""

    conds = [c for c in CONDITIONS if c in set(splits["condition"])]
    datasets = [d for d in DATASETS if d in set(splits["dataset"])]
    fig, axes = plt.subplots(1, len(conds), figsize=(6.6, 0.55 * len(datasets) * len(
        comparisons) ** 0.5 + 1.9), sharey=True, sharex=True, squeeze=False,
        layout="constrained")
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    step = 0.8 / max(len(comparisons), 1)
    for ax, cond in zip(axes[0], conds):
        for j, label in enumerate(comparisons):
            p = splits[(splits.condition == cond) & (splits.label == label)]
            for i, ds in enumerate(datasets):
                q = p[p.dataset == ds]
                y = i - 0.4 + step * (j + 0.5)
                main = q[q.replication == 0]["difference"]
                other = q[q.replication != 0]["difference"]
                ax.scatter(other, [y] * len(other), s=14, color=colors[j % len(colors)],
                           label=label if i == 0 else None, zorder=3)
                ax.scatter(main, [y] * len(main), s=40, facecolors="none",
                           edgecolors=colors[j % len(colors)], linewidths=1.3, zorder=3)
        ax.axvline(0, color="0.5", lw=0.8)
        ax.set_title(CONDITIONS[cond], fontsize=11)
        ax.set_yticks(range(len(datasets)), [DATASETS[d].display_name for d in datasets])
        ax.set_xlabel("NMI, Meta model − reference", fontsize=10)
        ax.tick_params(labelsize=10)
    axes[0, 0].invert_yaxis()  # once: the panels share the axis
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=2, fontsize=10, frameon=False)
    return fig


def calibration(table, defaults):
    """Noise calibration: plain NMF's NMI (mean over ranks; mean and 95% interval over seeds)
    against the noise level, one panel per dataset, with the thesis' noisy NMF number as a
    dashed line and the level our grid uses as a dotted one. ``table``: columns dataset,
    noise, nmi, low, high, thesis_noisy_nmf; ``defaults``: dataset -> level."""

    datasets = [d for d in DATASETS if d in set(table["dataset"])]
    fig, axes = plt.subplots(1, len(datasets), figsize=(6.6, 2.6), sharey=True, squeeze=False,
                             layout="constrained")
    for ax, ds in zip(axes[0], datasets):
        p = table[table.dataset == ds].sort_values("noise")
        err = np.vstack([p["nmi"] - p["low"].fillna(p["nmi"]),
                         p["high"].fillna(p["nmi"]) - p["nmi"]])
        ax.errorbar(p["noise"], p["nmi"], yerr=err, marker="o", ms=3.5, capsize=2,
                    color="C0", label="NMF (ours)")
        ax.axhline(p["thesis_noisy_nmf"].iloc[0], ls="--", color="C3", lw=1.2,
                   label="thesis, noisy NMF")
        ax.axvline(defaults[ds], ls=":", color="0.35", lw=1.2, label="our grid's level")
        ax.set_title(DATASETS[ds].display_name, fontsize=11)
        ax.tick_params(labelsize=9)
    axes[0, 0].set_ylabel("NMI")
    axes[0, len(datasets) // 2].set_xlabel("noise s.d. σ", fontsize=11)
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=3, fontsize=10, frameon=False)
    return fig


def nmi_vs_iterations(table, budget, meta=None):
    """Plain NMF's NMI (mean and s.d. over seeds) against its number of iterations (log
    scale), one line per rank, the thesis' budget marked; ``meta``: rank -> Meta-NMF's NMI
    at the thesis settings, drawn as short dashes. ``table``: columns rank, iterations, mean,
    sd."""

    fig, ax = plt.subplots(figsize=(5.2, 3.0), layout="constrained")
    for i, (rank, p) in enumerate(table.groupby("rank")):
        p = p.sort_values("iterations")
        ax.errorbar(p["iterations"], p["mean"], yerr=p["sd"].fillna(0), marker="o", ms=3.5,
                    capsize=2, color=f"C{i}", label=f"NMF, rank {rank}")
        if meta and rank in meta:
            ax.axhline(meta[rank], ls="--", lw=1, color=f"C{i}",
                       label=f"Meta-NMF, rank {rank}")
    ax.axvline(budget, ls=":", color="0.35", lw=1.2)
    ax.annotate(f"thesis budget ({budget})", (budget, 0.02), xytext=(4, 0),
                textcoords="offset points", fontsize=9, color="0.3")
    ax.set_xscale("log")
    ax.set_xlabel("NMF iterations", fontsize=11)
    ax.set_ylabel("NMI", fontsize=11)
    ax.set_ylim(0, 1)
    ax.tick_params(labelsize=10)
    ax.legend(fontsize=9, frameon=False, loc="upper left")
    return fig
