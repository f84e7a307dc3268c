"""The data chapter: the five data sets (thesis Table 4.1), the added noise, two details of the
data (Faces' resolution, the Fashion-MNIST subset) and the task split of every data set.

:func:`values` computes everything the chapter shows.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from sklearn.decomposition import PCA

from ...core.splits import TaskSplitWarning
from ...data.datasets import DATASETS, FMNIST_N_OFFLINE, image_shape, load_dataset
from ..diagrams import image_table, split_protocol, split_sizes
from ..display import table
from . import Prose

__all__ = ["DataValues", "dataset_row", "noise_row", "split_rows", "infeasible_sentence",
           "values"]

#: Data sets whose noise level the authors' code does not name (the package's choice).
OUR_NOISE = ("fmnist", "coil20")

#: Samples of Blobs drawn in the PCA figure, per profile.
N_BLOBS = {"smoke": 400, "full": 2000}


def dataset_row(name, X, y):
    """One row of the thesis' Table 4.1 from the loaded arrays of data set ``name``."""

    shape = image_shape(name)
    return {"data set": DATASETS[name].display_name, "samples": X.shape[0],
            "features": X.shape[1], "classes": len(np.unique(y)),
            "image": "–" if shape is None else f"{shape[0]} × {shape[1]}",
            "zeros (%)": 100 * float(np.mean(X == 0))}


def noise_row(name, X, X_noisy):
    """One row of the noise table: the default level, where it comes from, the spread of the
    data and of the change the noise makes, and the mean of an exactly-zero pixel after it."""

    return {"data set": DATASETS[name].display_name, "σ": f"{DATASETS[name].default_noise:g}",
            "level from": "our choice" if name in OUR_NOISE else "authors' code",
            "std of data": float(X.std()), "std of change": float((X_noisy - X).std()),
            "zero pixel, noisy": float(X_noisy[X == 0].mean())}


def split_rows(sizes):
    """The split table: one row per data set, the learning and evaluation halves and, under
    each protocol, the meta-tasks (number × size) and the target. ``sizes`` maps
    ``(name, protocol)`` to :func:`metanmf_lab.book.diagrams.split_sizes` dicts."""

    rows = []
    for name in dict.fromkeys(n for n, _ in sizes):
        th, code = sizes[name, "thesis"], sizes[name, "authors"]
        row = {("", "data set"): DATASETS[name].display_name,
               ("", "learning"): th["n_learn"], ("", "evaluation"): th["n_eval"]}
        for group, s in (("thesis protocol", th), ("authors' code", code)):
            row[group, "meta-tasks"] = f"{s['n_tasks']} × {s['task_size']}"
            row[group, "target"] = s["n_target"]
        rows.append(row)
    out = pd.DataFrame(rows)
    out.columns = pd.MultiIndex.from_tuples(out.columns)
    return out


def infeasible_sentence(sizes):
    """Where the thesis split does not fit, in words (Markdown), from the split sizes."""

    bad = [(n, s) for (n, p), s in sizes.items() if p == "thesis" and s["fallback"]]
    if not bad:
        return Prose("The thesis split fits every data set.")
    parts = []
    for name, s in bad:
        need = s["requested_task_size"] * s["n_tasks"]
        parts.append(
            f"{DATASETS[name].display_name} has only {s['n_learn']} samples in its learning "
            f"set, fewer than the {need} that {s['n_tasks']} disjoint meta-tasks of "
            f"{s['requested_task_size']} would need: the split falls back to meta-tasks of "
            f"{s['task_size']} samples, so that they hold half of the learning set and the "
            f"target ({s['n_target']} samples) the other half.")
    return Prose(" ".join(parts))


@dataclass
class DataValues:
    """What the data chapter shows (glued by field name)."""

    n_datasets: int
    all_scaled: bool
    sigma_blobs: float
    sigma_digits: float
    sigma_faces: float
    sigma_fmnist: float
    sigma_coil20: float
    zero_pixel_digits: float
    zeros_digits: float
    n_examples: int
    n_blobs: int
    faces_shape_64: str
    faces_shape_32: str
    faces_features_64: int
    faces_features_32: int
    fmnist_samples: int
    fmnist_offline: int
    fmnist_min_class: int
    fmnist_max_class: int
    dataset_name: str
    thesis_task_size: int
    authors_task_size: int
    n_split_warnings: int
    warned: str
    infeasible: Prose
    faces_authors_task: int
    faces_learn: int
    table_datasets: object
    table_noise: object
    table_splits: object
    fig_examples: object
    fig_blobs: object
    fig_faces_sizes: object
    fig_split_protocol: object


def _blobs_figure(X, X_noisy, y, n, seed, sigma):

    rng = np.random.default_rng(seed)
    subset = rng.choice(len(X), n, replace=False)
    fig, axes = plt.subplots(1, 2, figsize=(6.6, 2.7))
    for ax, (title, D) in zip(axes, [("clean", X), (f"noise σ = {sigma:g}", X_noisy)]):
        Z = PCA(2, random_state=0).fit_transform(D[subset])
        for c in np.unique(y):
            ax.scatter(*Z[y[subset] == c].T, s=4, label=f"blob {c}")
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("component 1", fontsize=10)
        ax.tick_params(labelsize=9)
    axes[0].set_ylabel("component 2", fontsize=10)
    fig.tight_layout(rect=(0, 0.11, 1, 1))
    fig.legend(*axes[0].get_legend_handles_labels(), loc="lower center",
               ncol=len(np.unique(y)), fontsize=10, markerscale=3, frameon=False,
               handletextpad=0.1, columnspacing=1.0)
    return fig


def values(P):
    """Everything the data chapter shows, for the checked parameters ``P`` (``dataset``,
    ``noise_seed``, ``n_examples``, ``profile``)."""

    data = {}
    for name, info in DATASETS.items():
        X, y = load_dataset(name)
        X_noisy, _ = load_dataset(name, noise=info.default_noise, random_state=P.noise_seed)
        data[name] = (X, y, X_noisy)
    described = pd.DataFrame([dataset_row(n, X, y) for n, (X, y, _) in data.items()])
    noise = pd.DataFrame([noise_row(n, X, Xn) for n, (X, _, Xn) in data.items()])
    scaled = all(np.isclose(X.min(), 0) and np.isclose(X.max(), 1) for X, _, _ in data.values())

    images, labels = [], []
    for name, (X, y, X_noisy) in data.items():
        shape = image_shape(name)
        if shape is None:
            continue
        first = [int(np.flatnonzero(y == c)[0]) for c in np.unique(y)[:P.n_examples]]
        for version, D in (("clean", X), ("noisy", X_noisy)):
            images.append([D[i].reshape(shape) for i in first])
            labels.append(f"{DATASETS[name].display_name}\n{version}")
    fig_examples = image_table([list(r) for r in zip(*images)], col_labels=labels,
                               scale="column", width=6.0)

    faces_64, _ = load_dataset("faces", faces_size=64)
    faces_32 = data["faces"][0]
    fig_faces = image_table([[faces_64[0].reshape(image_shape("faces", 64)),
                              faces_32[0].reshape(image_shape("faces", 32))]],
                            col_labels=["64 × 64 (stored)", "32 × 32 (default)"], width=3.0)
    counts = np.bincount(data["fmnist"][1])

    sizes, caught = {}, []
    for name, (_, y, _) in data.items():
        for protocol in ("thesis", "authors"):
            with warnings.catch_warnings(record=True) as w:
                warnings.simplefilter("always", TaskSplitWarning)
                sizes[name, protocol] = split_sizes(len(y), protocol)
            caught += [name for x in w if issubclass(x.category, TaskSplitWarning)]
    label = DATASETS[P.dataset].display_name
    fig_split = split_protocol([sizes[P.dataset, "thesis"], sizes[P.dataset, "authors"]],
                               titles=[f"{label}, thesis protocol",
                                       f"{label}, authors'-code protocol"])
    X_b, y_b, Xn_b = data["blobs"]
    sigma_b = DATASETS["blobs"].default_noise
    return DataValues(
        n_datasets=len(data), all_scaled=scaled,
        **{f"sigma_{n}": DATASETS[n].default_noise for n in DATASETS},
        zero_pixel_digits=float(noise.loc[noise["data set"] == "Digits",
                                          "zero pixel, noisy"].iloc[0]),
        zeros_digits=float(described.loc[described["data set"] == "Digits",
                                         "zeros (%)"].iloc[0]),
        n_examples=P.n_examples, n_blobs=N_BLOBS[P.profile],
        faces_shape_64="64 × 64", faces_shape_32="32 × 32",
        faces_features_64=faces_64.shape[1], faces_features_32=faces_32.shape[1],
        fmnist_samples=len(data["fmnist"][1]), fmnist_offline=FMNIST_N_OFFLINE,
        fmnist_min_class=int(counts.min()), fmnist_max_class=int(counts.max()),
        dataset_name=label, thesis_task_size=sizes["digits", "thesis"]["requested_task_size"],
        authors_task_size=sizes["digits", "authors"]["requested_task_size"],
        n_split_warnings=len(caught),
        warned=", ".join(DATASETS[n].display_name for n in dict.fromkeys(caught)) or "none",
        infeasible=infeasible_sentence(sizes),
        faces_authors_task=sizes["faces", "authors"]["task_size"],
        faces_learn=sizes["faces", "thesis"]["n_learn"],
        table_datasets=table(described, digits=1),
        table_noise=table(noise, headers={"σ": "noise σ"}),
        table_splits=table(split_rows(sizes)),
        fig_examples=fig_examples,
        fig_blobs=_blobs_figure(X_b, Xn_b, y_b, N_BLOBS[P.profile], P.noise_seed, sigma_b),
        fig_faces_sizes=fig_faces, fig_split_protocol=fig_split)
