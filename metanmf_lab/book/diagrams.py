"""Drawn figures of the book: the Meta-NMF epoch (thesis Fig. 3.1), the task split (thesis
Fig. 4.1), and grids of images (data samples, basis images).

Every function returns a new :class:`matplotlib.figure.Figure` that is not registered with
pyplot (so nothing is shown unless the caller displays it) and does no I/O. The drawings depend
only on the arguments: two calls with the same arguments give identical PNG bytes when saved
with ``metadata={"Software": None}``.

The symbols are the thesis' (X features x samples = W H, basis W); see the book's notation page
for the package's transposed orientation.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Circle, FancyArrowPatch, FancyBboxPatch
from matplotlib.path import Path

from .._validation import check_int
from ..core.protocols import get_protocol
from ..core.splits import learning_evaluation_split, make_tasks

__all__ = ["image_table", "meta_epoch_flowchart", "split_protocol", "split_sizes"]

#: Colours (seaborn "colorblind" palette): meta-tasks, target task, transfer, evaluation.
TASK, TARGET, TRANSFER, EVAL = "#0173b2", "#de8f05", "#029e73", "#949494"

#: Width of a drawn figure, in inches: with the 0.1 in margins the notebook adds on each side,
#: the book's text column (660 px at 100 dpi), so that it is shown 1:1 and its smallest text
#: (:data:`SMALL` points) reads at 12 px.
FIGWIDTH = 6.4

#: Size, in points, of the smallest text of a drawing (annotations); box labels are larger.
SMALL = 9


def _box(ax, x, y, text, color, *, w=2.6, h=0.9, fontsize=10, dashed=False):
    """A rounded box centred at (x, y) with a label; returns its patch."""
    patch = FancyBboxPatch((x - w / 2, y - h / 2), w, h, boxstyle="round,pad=0.02,rounding_size=0.15",
                           facecolor=color, edgecolor=color, alpha=0.18, lw=0)
    edge = FancyBboxPatch((x - w / 2, y - h / 2), w, h, boxstyle="round,pad=0.02,rounding_size=0.15",
                          facecolor="none", edgecolor=color, lw=1.4,
                          linestyle="--" if dashed else "-")
    ax.add_patch(patch)
    ax.add_patch(edge)
    ax.text(x, y, text, ha="center", va="center", fontsize=fontsize)
    return edge


def _arrow(ax, start, end, color="#333333", *, dashed=False, rad=0.0, lw=1.2):
    ax.add_patch(FancyArrowPatch(start, end, arrowstyle="-|>", mutation_scale=12, color=color,
                                 lw=lw, linestyle="--" if dashed else "-", shrinkA=0, shrinkB=0,
                                 connectionstyle=f"arc3,rad={rad}"))


def _spring(ax, start, end, color, *, turns=7, amplitude=0.16):
    """A coil between two points with an arrow head: an NMF run of inner iterations."""
    (x0, y0), (x1, y1) = start, end
    t = np.linspace(0.0, 1.0, 400)
    lead = 0.12  # straight ends
    core = np.clip((t - lead) / (1 - 2 * lead), 0.0, 1.0)
    wiggle = amplitude * np.sin(2 * np.pi * turns * core) * ((t > lead) & (t < 1 - lead))
    dx, dy = x1 - x0, y1 - y0
    norm = np.hypot(dx, dy)
    nx, ny = -dy / norm, dx / norm
    pts = np.column_stack([x0 + t * dx + wiggle * nx, y0 + t * dy + wiggle * ny])
    codes = [Path.MOVETO] + [Path.LINETO] * (len(pts) - 1)
    ax.add_patch(FancyArrowPatch(path=Path(pts, codes), arrowstyle="-|>", mutation_scale=12,
                                 color=color, lw=1.3))


def _bullet(ax, x, y, color):
    ax.add_patch(Circle((x, y), 0.09, facecolor=color, edgecolor="none"))


def _canvas(width, height, figwidth):
    fig = Figure(figsize=(figwidth, figwidth * height / width))
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, width)
    ax.set_ylim(0, height)
    ax.set_aspect("equal")
    ax.axis("off")
    return fig, ax


def meta_epoch_flowchart(n_tasks=2):
    """One epoch k -> k+1 of Meta-NMF (thesis Algorithm 1, eqs. 3.2 and 3.4, Fig. 3.1).

    Each meta-task i starts from ``W_t^(k) + W_si^(k)`` with ``H = W^T X_si`` and runs the base
    NMF (the coil); the results ``W_si^(k+1)`` (bullets) are averaged with weights alpha_i and
    added to ``W_t^(k)``; the target task starts from that sum with ``H = W^T X_t`` and its run
    gives ``W_t^(k+1)``. Only W is carried from one step to the next.

    Parameters
    ----------
    n_tasks : int, default=2
        Number of meta-tasks drawn (the thesis' figure shows 2; its experiments use 5). With
        more than 3, the first two and the last are drawn, with an ellipsis between.

    Returns
    -------
    matplotlib.figure.Figure
    """
    n_tasks = check_int(n_tasks, name="n_tasks", low=1)
    shown = list(range(1, n_tasks + 1)) if n_tasks <= 3 else [1, 2, None, n_tasks]
    rows = len(shown)
    width, height = 16.0, 1.5 * rows + 2.9
    fig, ax = _canvas(width, height, FIGWIDTH)
    y_target = 1.2
    ys = [y_target + 1.9 + 1.5 * (rows - 1 - r) for r in range(rows)]
    x_wt, x_start, x_res, x_avg, x_tstart, x_tres = 1.1, 4.5, 9.1, 13.6, 8.5, 14.45
    w_start, w_res, w_tstart = 3.0, 2.2, 4.4  # box widths

    _box(ax, x_wt, y_target, r"$W_t^{(k)}$", TARGET, w=1.8)
    for i, y in zip(shown, ys):
        if i is None:
            ax.text(x_start, y, r"$\vdots$", ha="center", va="center", fontsize=14)
            ax.text(x_res, y, r"$\vdots$", ha="center", va="center", fontsize=14)
            continue
        _box(ax, x_start, y, rf"$W_t^{{(k)}} + W_{{s_{i}}}^{{(k)}}$", TASK, w=w_start)
        ax.text(x_start, y - 0.68, rf"$H = W^\top X_{{s_{i}}}$", ha="center", va="center",
                fontsize=SMALL, color="#444444")
        _arrow(ax, (x_wt + 0.2, y_target + 0.45), (x_start - w_start / 2, y), color=TARGET,
               rad=-0.15)
        coil = (x_start + w_start / 2 + 0.05, x_res - w_res / 2 - 0.1)
        _spring(ax, (coil[0], y), (coil[1], y), TASK)
        ax.text(sum(coil) / 2, y + 0.3, rf"NMF on $X_{{s_{i}}}$", ha="center", va="bottom",
                fontsize=SMALL, color=TASK)
        _box(ax, x_res, y, rf"$W_{{s_{i}}}^{{(k+1)}}$", TASK, w=w_res)
        _bullet(ax, x_res - w_res / 2 + 0.3, y, TASK)
        _arrow(ax, (x_res + w_res / 2 + 0.05, y), (x_avg - 1.5, (ys[0] + ys[-1]) / 2),
               color=TRANSFER)

    y_avg = (ys[0] + ys[-1]) / 2
    _box(ax, x_avg, y_avg, r"$\frac{1}{N}\sum_i \alpha_i\, W_{s_i}^{(k+1)}$", TRANSFER, w=3.0,
         h=1.1)
    ax.text(x_avg + 0.6, y_avg - 0.85, "transfer (average)", ha="center", va="center",
            fontsize=SMALL, color=TRANSFER)
    _box(ax, x_tstart, y_target, r"$W_t^{(k)} + \frac{1}{N}\sum_i \alpha_i\, W_{s_i}^{(k+1)}$",
         TARGET, w=w_tstart, h=1.1)
    ax.text(x_tstart, y_target - 0.85, r"$H_t = W^\top X_t$", ha="center", va="center",
            fontsize=SMALL, color="#444444")
    _arrow(ax, (x_wt + 0.9, y_target), (x_tstart - w_tstart / 2, y_target), color=TARGET)
    _arrow(ax, (x_avg - 1.1, y_avg - 0.55), (x_tstart + 1.4, y_target + 0.6), color=TRANSFER)
    coil = (x_tstart + w_tstart / 2 + 0.05, x_tres - w_res / 2 - 0.1)
    _spring(ax, (coil[0], y_target), (coil[1], y_target), TARGET, turns=4)
    ax.text(sum(coil) / 2, y_target + 0.3, r"NMF on $X_t$", ha="center", va="bottom",
            fontsize=SMALL, color=TARGET)
    _box(ax, x_tres, y_target, r"$W_t^{(k+1)}$", TARGET, w=w_res)
    _bullet(ax, x_tres - w_res / 2 + 0.3, y_target, TARGET)
    return fig


def split_sizes(n_samples, protocol="thesis", *, n_tasks=5, task_size=None, random_state=0):
    """Sizes of the learning/evaluation split and of the tasks, from the package's splitters.

    Runs :func:`metanmf_lab.learning_evaluation_split` on ``n_samples`` indices and
    :func:`metanmf_lab.make_tasks` on the learning half (``on_infeasible="shrink"``: an
    infeasible thesis split emits :class:`metanmf_lab.TaskSplitWarning`, which the caller
    decides how to handle, and is recorded in ``fallback``).

    Parameters
    ----------
    n_samples : int
    protocol : {"thesis", "authors"} or Protocol, default="thesis"
    n_tasks : int, default=5
    task_size : int or None, default=None
        None uses the protocol's default.
    random_state : int, default=0
        Seed of the task draw (sizes do not depend on it).

    Returns
    -------
    dict
        ``protocol, n_samples, n_learn, n_eval, n_tasks, task_size, requested_task_size,
        n_target, target_is_learning_set, tasks_overlap, fallback``.
    """
    n_samples = check_int(n_samples, name="n_samples", low=2)
    proto = get_protocol(protocol)
    learn, evaluation, _, _ = learning_evaluation_split(np.arange(n_samples))
    split = make_tasks(len(learn), n_tasks=n_tasks, task_size=task_size, protocol=proto,
                       random_state=random_state)
    return {"protocol": proto.name, "n_samples": n_samples, "n_learn": len(learn),
            "n_eval": len(evaluation), "n_tasks": split.n_tasks, "task_size": split.task_size,
            "requested_task_size": split.requested_task_size, "n_target": int(split.target.size),
            "target_is_learning_set": proto.target == "all",
            "tasks_overlap": not proto.disjoint_tasks, "fallback": split.fallback}


def _split_panel(ax, s, x0, y0, title):
    """Draw one split (a dict of :func:`split_sizes`) with its top-left corner at (x0, y0)."""
    ax.text(x0, y0, title, ha="left", va="top", fontsize=10, fontweight="bold")
    xc, top = x0 + 7.0, y0 - 0.95
    _box(ax, xc, top, f"dataset\nn = {s['n_samples']}", "#555555", w=3.0, h=0.9,
         fontsize=SMALL)
    xl, xe, y1 = x0 + 3.6, x0 + 10.6, top - 1.25
    share = round(100 * s["n_learn"] / s["n_samples"])
    _box(ax, xl, y1, f"learning set ({share}%)\nn = {s['n_learn']}", TARGET, w=4.0, h=0.9,
         fontsize=SMALL)
    _box(ax, xe, y1, f"evaluation set ({100 - share}%)\nn = {s['n_eval']}", EVAL, w=4.0,
         h=0.9, fontsize=SMALL)
    _arrow(ax, (xc - 0.6, top - 0.5), (xl + 0.6, y1 + 0.5))
    _arrow(ax, (xc + 0.6, top - 0.5), (xe - 0.6, y1 + 0.5))
    ax.text(xe, y1 - 0.55, r"final generalisation task $\mathcal{T}_e$", ha="center",
            va="top", fontsize=SMALL, color="#444444")
    y2 = y1 - 1.4
    n, shown = s["n_tasks"], list(range(1, s["n_tasks"] + 1))
    if n > 5:
        shown = [1, 2, None, n]
    xs = x0 + 0.95 + np.arange(len(shown)) * 1.95
    drawn = "drawn independently" if s["tasks_overlap"] else "disjoint"
    for x, i in zip(xs, shown):
        if i is None:
            ax.text(x, y2, r"$\cdots$", ha="center", va="center", fontsize=12)
            continue
        _box(ax, x, y2, f"meta-task {i}\n{s['task_size']}", TASK, w=1.85, h=0.9,
             fontsize=SMALL, dashed=s["tasks_overlap"])
        _arrow(ax, (xl, y1 - 0.5), (x, y2 + 0.5), color=TASK, dashed=s["tasks_overlap"])
    xt = xs[-1] + 0.925 + 0.3 + 1.7
    target = ("target = whole\nlearning set, " if s["target_is_learning_set"] else
              "target (the rest)\n") + f"n = {s['n_target']}"
    _box(ax, xt, y2, target, TARGET, w=3.4, h=0.9, fontsize=SMALL)
    _arrow(ax, (xl + 1.4, y1 - 0.5), (xt - 1.3, y2 + 0.5), color=TARGET)
    note = f"{n} meta-tasks of {s['task_size']} samples, {drawn}"
    if s["tasks_overlap"]:
        note += " (they overlap)"
    ax.text(x0 + 0.2, y2 - 0.55, note, ha="left", va="top", fontsize=SMALL, color=TASK)
    if s["fallback"]:
        ax.text(x0 + 0.2, y2 - 0.95, f"thesis split infeasible: {s['fallback']}", ha="left",
                va="top", fontsize=SMALL, color="#c0392b")


def split_protocol(sizes, *, titles=None):
    """The task-split protocol (thesis Sec. 4.2, Fig. 4.1), with the actual sizes.

    Parameters
    ----------
    sizes : dict or sequence of dict
        One split per panel, as returned by :func:`split_sizes` (keys ``n_samples, n_learn,
        n_eval, n_tasks, task_size, n_target, target_is_learning_set, tasks_overlap,
        fallback``; ``protocol`` names the panel unless ``titles`` is given).
    titles : sequence of str or None, default=None

    Returns
    -------
    matplotlib.figure.Figure
        Panels stacked vertically.
    """
    panels = [sizes] if isinstance(sizes, Mapping) else list(sizes)
    if not panels:
        raise ValueError("split_protocol needs at least one split.")
    titles = [f"{p.get('protocol', '')} protocol" for p in panels] if titles is None \
        else list(titles)
    if len(titles) != len(panels):
        raise ValueError(f"Got {len(titles)} titles for {len(panels)} splits.")
    width, panel_h = 14.0, 5.1
    fig, ax = _canvas(width, panel_h * len(panels), FIGWIDTH)
    for j, (s, title) in enumerate(zip(panels, titles)):
        _split_panel(ax, s, 0.2, panel_h * (len(panels) - j) - 0.2, title)
    return fig


def image_table(images, *, row_labels=None, col_labels=None, scale="each", width=FIGWIDTH,
                label_width=None, fontsize=SMALL + 1, cmap="gray", gap=0.06):
    """Images in a table of rows and columns, ``width`` inches wide (the book's column), with
    labels of ``fontsize`` points: what a reader can read at the size the book shows it.

    Parameters
    ----------
    images : sequence of sequences of 2-D arrays (or None for an empty cell)
        ``images[i][j]`` is the image of row i, column j, already in its shape; images of
        different shapes may share a table (each cell is as wide as the others; a row is as
        high as its tallest image).
    row_labels, col_labels : sequence of str or None
        Drawn left of each row and above each column (``"\\n"`` breaks a label).
    scale : {"each", "row", "column", "all"}, default="each"
        Grey levels from 0 to the maximum of each image, of its row, of its column, or of
        all images (NMF bases have arbitrary scale, so "each" is the default).
    width : float, default=:data:`FIGWIDTH`
    label_width : float or None
        Inches left of the images for the row labels; None: from the longest label.
    fontsize : float, default=10
    cmap : str, default="gray"
    gap : float, default=0.06
        Inches between images.

    Returns
    -------
    matplotlib.figure.Figure
    """
    rows = [[None if img is None else np.asarray(img, dtype=np.float64) for img in row]
            for row in images]
    if not rows or not any(img is not None for row in rows for img in row):
        raise ValueError("image_table needs at least one image.")
    if any(img is not None and img.ndim != 2 for row in rows for img in row):
        raise ValueError("every image of image_table must be a 2-D array (in its shape).")
    if scale not in ("each", "row", "column", "all"):
        raise ValueError(f"scale must be 'each', 'row', 'column' or 'all', got {scale!r}.")
    n_rows, n_cols = len(rows), max(len(row) for row in rows)
    for name, labels, n in (("row_labels", row_labels, n_rows), ("col_labels", col_labels,
                                                                 n_cols)):
        if labels is not None and len(labels) != n:
            raise ValueError(f"Got {len(labels)} {name} for {n} {name.split('_')[0]}s.")
    line = fontsize * 1.25 / 72  # inches per line of label text
    if label_width is None:
        longest = max((len(part) for lab in row_labels or [] for part in str(lab).split("\n")),
                      default=0)
        label_width = 0.0 if row_labels is None else 0.12 + longest * fontsize * 0.58 / 72
    top = 0.05 if col_labels is None else 0.1 + line * max(
        str(lab).count("\n") + 1 for lab in col_labels)
    cell = (width - label_width - 0.05) / n_cols
    def height(img):  # a one-pixel-high vector (non-image data) is drawn as a strip
        return max(cell * img.shape[0] / img.shape[1], 0.25 * cell)

    heights = [max((height(img) for img in row if img is not None), default=cell)
               for row in rows]
    fig = Figure(figsize=(width, top + sum(heights) + 0.05))
    W, Ht = fig.get_size_inches()
    present = [img for row in rows for img in row if img is not None]
    vmax_all = max(img.max() for img in present)
    col_max = [max((row[j].max() for row in rows if j < len(row) and row[j] is not None),
                   default=1.0) for j in range(n_cols)]
    y = top
    for i, (row, h) in enumerate(zip(rows, heights)):
        y += h
        row_max = max((img.max() for img in row if img is not None), default=1.0)
        for j, img in enumerate(row):
            if img is None:
                continue
            ih = height(img)
            ax = fig.add_axes(((label_width + j * cell + gap / 2) / W,
                               1 - (y - (h - ih) / 2) / Ht, (cell - gap) / W, (ih - gap) / Ht))
            vmax = {"each": img.max(), "row": row_max, "column": col_max[j],
                    "all": vmax_all}[scale]
            ax.imshow(img, cmap=cmap, vmin=0.0, vmax=vmax if vmax > 0 else 1.0,
                      interpolation="nearest", aspect="auto")
            ax.set_xticks([])
            ax.set_yticks([])
            for spine in ax.spines.values():
                spine.set_visible(False)
        if row_labels is not None:
            fig.text((label_width - 0.1) / W, 1 - (y - h / 2) / Ht, str(row_labels[i]),
                     ha="right", va="center", fontsize=fontsize)
    if col_labels is not None:
        for j, lab in enumerate(col_labels):
            fig.text((label_width + (j + 0.5) * cell) / W, 1 - (top - 0.04) / Ht, str(lab),
                     ha="center", va="bottom", fontsize=fontsize)
    return fig
