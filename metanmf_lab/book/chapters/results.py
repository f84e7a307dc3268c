"""The results chapter: one page per dataset (``notebooks/results.ipynb``, executed once per
dataset of the thesis, or on a reader's own file).

:func:`dataset_page` returns everything a page shows; the sentences and tables it is made of
are built by the small functions below, which the tests call. The page states no verdict: the
book decides each comparison once (:mod:`metanmf_lab.book.chapters.verdicts`, the hypotheses
chapter).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ...data.datasets import DATASETS, dataset_info, is_user_dataset
from ...grid import reporting
from ...grid.catalogue import ALL_MODELS, FAIR_BASELINES, MODELS, PAIRS
from ...grid.cells import CONDITIONS, make_grid, resolve_noise
from ...grid.published import where
from ...grid.reporting import DIFFERENCE_THRESHOLD, THESIS_FIGURES, mean_over_ranks
from .. import plotting
from ..display import table
from ..notebook import store_rows as read
from . import Prose

#: Headers of the references of a Meta model in the fair-baselines table, in the order of
#: :data:`metanmf_lab.grid.catalogue.REFERENCE_KINDS`.
FAIR_HEADERS = (("", "Thesis baseline"), ("Fair baselines", "Equal compute"),
                ("Fair baselines", "Other init"), ("Fair baselines", "Warm start"))

class Table:
    """A table as the page shows it: the book's HTML table (:func:`metanmf_lab.book.display.table`)
    and, as plain text, the tidy rows it is made of (what a reader of the executed notebook
    or its plain-text output sees, and what the tests read)."""

    def __init__(self, shown, tidy):

        self.frame = shown
        self.tidy = tidy
        # a cell stays on one line (a model's name, "mean ± s.d."); headers may wrap
        self.styler = table(shown).set_table_styles(
            [{"selector": "td", "props": "white-space: nowrap;"}], overwrite=False)

    def _repr_html_(self):
        return self.styler.to_html()

    def __repr__(self):
        return self.tidy.to_string(index=False)


# -- sentences ------------------------------------------------------------------------------


def listing(values):
    """``[2, 3, 5]`` -> ``"2, 3, 5"`` (how the page names the ranks)."""
    return ", ".join(str(v) for v in values)


def noise_origin(dataset, noise, own=False):
    """Where the noisy condition's level comes from: the ``noise`` parameter (a number, or
    ``"added"``: the dataset's level), the authors' code (Blobs, Digits, Faces) or our choice
    (the others, a reader's dataset)."""
    if noise != "added":
        return "set by the parameter `noise`"
    if own:
        return "our choice for a dataset of your own"
    if dataset in DATASETS and DATASETS[dataset].noise_from_authors:
        return "the level of the authors' code"
    return "our choice: the thesis names none"


def context(info, *, level, origin, n_cells, n_seeds, ranks, own=False, fast=False):
    """The page's first sentence: what the dataset is and what the page rests on (``fast``:
    computed by the batched engine in float32)."""
    what = "samples of your file" if own else (info.description or "samples")
    size = (f"{' × '.join(map(str, info.image_shape))} pixels" if info.image_shape
            else f"{info.n_features:,} features")
    seeds = "seed" if n_seeds == 1 else "seeds"
    return Prose(
        f"{info.display_name} holds {info.n_samples:,} {what} ({size}) in {info.n_classes} "
        f"classes. Below, {n_cells:,} cells of the result store: the thesis' eight models at "
        f"ranks {listing(ranks)}, {n_seeds} {seeds} each, without and with Gaussian noise of "
        f"s.d. {level:g} ({origin})."
        + (" They were computed by the batched engine in float32, as `make grid` computes "
           "settings the committed store does not hold ({ref}`batched-engine`)." if fast
           else ""))


def thesis_figure(dataset, condition):
    """``"Thesis Fig. 4.4."`` for the thesis' figure of ``dataset`` and ``condition``; empty
    for a dataset the thesis does not have."""

    figs = THESIS_FIGURES.get(dataset)
    return Prose(f"Thesis Fig. {figs[0 if condition == 'none' else 1]}." if figs else "")


def means_what(own):
    """What the means table holds: the thesis' numbers and ours, or ours only."""
    return Prose("ours" if own else "the thesis' and ours")


def means_source(info, dataset, own):
    """Where the thesis column of the means table comes from (or why there is none)."""

    if own:
        return Prose(f"{info.display_name} is your own dataset, kept in the result store as "
                     f"{dataset} (its file name and a hash of its content): the thesis has no "
                     "numbers for it, so this page shows ours only.")
    return Prose(f"Thesis numbers: {where('thesis_nmi_tables')}.")


def beyond_text(display_name, n_beyond, n_entries):
    """How many of the page's means differ from the thesis' by more than the book's
    threshold (:data:`metanmf_lab.grid.reporting.DIFFERENCE_THRESHOLD`)."""

    if n_beyond is None:
        return Prose("The thesis has no numbers for this dataset")
    return Prose(f"On {display_name}, {n_beyond} of the {n_entries} means differ from the "
                 f"thesis' by more than {DIFFERENCE_THRESHOLD:g}")


# -- tables ---------------------------------------------------------------------------------


def _mean_sd(mean, sd):
    if not np.isfinite(mean):
        return None
    return f"{mean:.3f} ± {sd:.3f}" if np.isfinite(sd) else f"{mean:.3f}"


def _signed(value):
    return None if not np.isfinite(value) else f"{value:+.3f}"


def means_table(means):
    """The mean over ranks per model, a row per model and, per condition, the thesis' number
    (3 decimals, as the thesis prints it), ours (mean ± s.d. over seeds) and the difference
    (ours minus the thesis'); ours only without thesis numbers.

    Parameters
    ----------
    means : DataFrame of :func:`metanmf_lab.grid.reporting.dataset_means`
    """

    has_thesis = "thesis" in means.columns
    by = means.set_index(["condition", "model"])
    shown = {("", "Model"): list(MODELS)}
    for cond, label in CONDITIONS.items():
        part = by.xs(cond).reindex(list(MODELS))
        top = label.capitalize()
        if has_thesis:
            shown[(top, "NMI, thesis")] = part["thesis"].to_numpy()
        shown[(top, "NMI, ours")] = [_mean_sd(m, s) for m, s in
                                     zip(part["ours"], part["sd_seeds"])]
        if has_thesis:
            shown[(top, "Ours − thesis")] = [_signed(d) for d in part["difference"]]
    tidy = means.assign(condition=means["condition"].map(CONDITIONS))
    tidy = tidy.drop(columns=[c for c in ("beyond",) if c in tidy.columns])
    return Table(pd.DataFrame(shown), tidy.round(3))


def fair_table(rows):
    """Each Meta model beside its thesis baseline and its three fair baselines: mean NMI over
    ranks and seeds, a row per (condition, Meta model), a column per kind of reference
    (:data:`metanmf_lab.grid.catalogue.REFERENCE_KINDS`, headed :data:`FAIR_HEADERS`: "Other init"
    is the base model at equal compute from the other initialisation).

    Parameters
    ----------
    rows : store rows of one dataset (every model of
        :data:`~metanmf_lab.grid.ALL_MODELS`), as :func:`metanmf_lab.grid.reporting.select`
        returns them
    """

    means = mean_over_ranks(rows).set_index(["condition", "model"])["ours"]
    base_of = {meta: base for base, meta in PAIRS}
    shown, tidy = [], []
    for cond, label in CONDITIONS.items():
        for i, (_, meta) in enumerate(PAIRS):
            refs = (base_of[meta],) + tuple(FAIR_BASELINES[meta])
            row = {("", "Condition"): label if i == 0 else "", ("", "Meta model"): meta,
                   ("", "Meta"): means.get((cond, meta), np.nan)}
            for header, ref in zip(FAIR_HEADERS, refs):
                row[header] = means.get((cond, ref), np.nan)
            shown.append(row)
            for ref in (meta,) + refs:
                tidy.append(dict(condition=label, meta_model=meta, model=ref,
                                 nmi=round(float(means.get((cond, ref), np.nan)), 3)))
    return Table(pd.DataFrame(shown), pd.DataFrame(tidy))


# -- the page -------------------------------------------------------------------------------


@dataclass
class DatasetPage:
    """What one page of the results chapter shows (glued by name)."""

    dataset: str
    """The dataset's name in the result store."""
    n_cells: int
    """Cells of the eight thesis models on the page (figures and means table)."""
    n_seeds: int
    ranks: str
    noise_level: float
    all_models: bool
    """Every thesis model and fair baseline has rows."""
    context: Prose
    fig_nmi_none: object
    fig_nmi_added: object
    thesis_fig_none: Prose
    thesis_fig_added: Prose
    table_means: Table
    means_what: Prose
    means_source: Prose
    beyond_text: Prose
    table_fair_baselines: Table
    n_beyond: int | None = None


def store_rows(params, noise=None):
    """The rows of the page: every model of the thesis and every fair baseline on the
    notebook's dataset, ranks and seeds, without noise and with ``noise`` (default: the
    ``noise`` parameter), read from the result store and computed where missing."""

    level = resolve_noise(params.dataset, params.noise) if noise is None else noise
    cells = make_grid([params.dataset], models=ALL_MODELS, ranks=params.ranks,
                      seeds=params.seeds, noises=["none", level],
                      protocols=[params.get("protocol", "thesis")])
    return read(params, cells)


def dataset_page(params, rows=None):
    """Everything one page of the results chapter shows, for the notebook's checked
    parameters ``params`` and its store ``rows`` (:func:`store_rows`; read if None)."""

    dataset = params.dataset
    info, own = dataset_info(dataset), is_user_dataset(dataset)
    level = resolve_noise(dataset, params.noise)
    rows = store_rows(params, level) if rows is None else rows
    rows = rows[rows["dataset"] == dataset]
    thesis_rows = rows[rows["model"].isin(MODELS)]
    ranks = sorted(int(r) for r in thesis_rows["rank"].unique())
    n_seeds = int(thesis_rows["seed"].nunique())
    summary = reporting.nmi_by_rank(thesis_rows)
    means, n_beyond = reporting.dataset_means(reporting.mean_over_ranks(thesis_rows), dataset)
    return DatasetPage(
        dataset=dataset, n_cells=len(thesis_rows), n_seeds=n_seeds, ranks=listing(ranks),
        noise_level=level, all_models=set(rows["model"]) == set(ALL_MODELS),
        context=context(info, level=level, origin=noise_origin(dataset, params.noise, own),
                        n_cells=len(thesis_rows), n_seeds=n_seeds, ranks=ranks, own=own,
                        fast=params.settings.engine == "batched"),
        fig_nmi_none=plotting.nmi_vs_rank_pairs(summary, dataset, "none"),
        fig_nmi_added=plotting.nmi_vs_rank_pairs(summary, dataset, "added"),
        thesis_fig_none=thesis_figure(dataset, "none"),
        thesis_fig_added=thesis_figure(dataset, "added"),
        table_means=means_table(means), means_what=means_what(own),
        means_source=means_source(info, dataset, own),
        beyond_text=beyond_text(info.display_name, n_beyond, len(means)),
        table_fair_baselines=fair_table(rows), n_beyond=n_beyond)
