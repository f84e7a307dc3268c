"""The reproduction notes: where our table entries differ from the thesis, what each protocol
difference (a switch of :mod:`metanmf_lab.core.protocols`) does to them one at a time, and what the
authors' code does with every switch at once.

:func:`values` turns :func:`metanmf_lab.book.notebook.notes` into what the page shows; the table
and sentence builders below take plain frames, so the tests call them on small examples.
"""

from __future__ import annotations

from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from ...data.datasets import DATASETS
from ...grid import published, reporting
from ...grid.reporting import ALL_AT_ONCE, EXPLANATIONS, ablation_summary
from .. import display
from ..notebook import notes
from ..plotting import ablation_shifts
from . import Prose

#: The downloadable CSV files of the chapter (written beside the executed chapter).
EFFECTS_CSV = "notes-ablation-effects.csv"
ENTRIES_CSV = "notes-entries.csv"
AUTHORS_CSV = "notes-authors-code.csv"


def _name(dataset):

    return DATASETS[dataset].display_name if dataset in DATASETS else str(dataset)


def entry_label(dataset, condition, model):
    """A table entry as a reader names it: ``"Digits + noise, Meta-GNMF"``."""
    return f"{_name(dataset)}{'' if condition == 'none' else ' + noise'}, {model}"


def _labels(frame):
    return [entry_label(d, c, m)
            for d, c, m in zip(frame["dataset"], frame["condition"], frame["model"])]


def switch_order(effects, all_at_once=None):
    """The switches of ``effects`` by their mean absolute shift, largest first, with the
    all-at-once row (the authors' code) last."""

    all_at_once = ALL_AT_ONCE if all_at_once is None else all_at_once
    if effects.empty:
        return []
    size = effects.assign(a=effects["shift"].abs()).groupby("ablation", sort=False)["a"].mean()
    single = size.drop(all_at_once, errors="ignore").sort_values(ascending=False, kind="stable")
    return list(single.index) + ([all_at_once] if all_at_once in size.index else [])


def switch_table(effects, threshold):
    """Per switch (in :func:`switch_order`): the entries it was run on, its mean and mean
    absolute shift, and on how many entries it brings our number closer to the thesis' and
    to within ``threshold`` of it; human headers."""

    cols = ["switch", "entries", "mean shift", "mean |shift|", "closer",
            f"within {threshold:g}"]
    s = ablation_summary(effects)
    if s.empty:
        return pd.DataFrame(columns=cols)
    s = s.set_index("ablation").loc[switch_order(effects)].reset_index()
    s.columns = cols
    return s


def entries_summary(explained, datasets):
    """How the entries that differ are accounted for, per dataset (columns, in the order of
    ``datasets``, then "all"): how many are explained, partly explained, unexplained or not
    measured (rows; those no entry has are left out)."""

    shown = [d for d in datasets if d in set(explained["dataset"])]
    table = pd.crosstab(explained["explanation"], explained["dataset"])
    table = table.reindex(index=list(EXPLANATIONS), columns=shown, fill_value=0)
    table["all"] = table.sum(axis=1)
    table = table[table["all"] > 0]
    table.columns = [_name(d) for d in shown] + ["all"]
    return table.rename_axis("explanation").reset_index().astype({"all": int})


def entries_table(explained):
    """Every entry that differs, one row each: the thesis' number, ours minus it, the closest
    single switch and what it leaves, what all switches at once leave, and the explanation."""
    return pd.DataFrame({
        "entry": _labels(explained), "thesis": explained["thesis"].to_numpy(),
        "ours − thesis": explained["gap_before"].to_numpy(),
        "closest switch": explained["best"].replace("", np.nan).to_numpy(),
        "left after it": explained["gap_after"].to_numpy(),
        "left, all at once": explained["combined_gap"].to_numpy(),
        "explanation": explained["explanation"].to_numpy()})


def counts(explained):
    """How many entries each explanation has (every explanation, zeros included)."""

    got = explained["explanation"].value_counts() if len(explained) else pd.Series(dtype=int)
    return {why: int(got.get(why, 0)) for why in EXPLANATIONS}


def top_switches(explained):
    """The switches closest to the thesis on the entries they explain or partly explain, most
    often first, with their counts: "GNMF: KL + dense RBF graph (20 entries); ..."."""
    if not len(explained):
        return Prose("none")
    kept = explained[explained["explanation"].isin(["explained", "partly explained"])]
    top = kept.loc[kept["best"] != "", "best"].value_counts()
    return Prose("; ".join(f"{name} ({n} {'entry' if n == 1 else 'entries'})"
                           for name, n in top.items()) or "none")


def unmeasured_sentence(n_not_measured, datasets, seconds):
    """What was left out of the ablations of this build, and how long it would take."""
    if not datasets:
        return Prose("Every entry that differs was ablated.")
    names = ", ".join(_name(d) for d in datasets)
    return Prose(
        f"The ablations of the {n_not_measured} entries on {names} were not run for this "
        f"build: they would take at least {seconds / 3600:.1f} CPU hours, a lower bound from "
        "the seconds the thesis grid took on those cells (the KL GNMF with its dense graph is "
        "several times slower still).")


def authors_summary(within):
    """:func:`metanmf_lab.grid.reporting.authors_within` as the page shows it: per dataset and
    condition, the entries, how many lie within the threshold of the thesis under our thesis
    protocol and under the authors' code, and in how many the authors' code is closer."""
    return pd.DataFrame({
        "dataset": [_name(d) for d in within["dataset"]],
        "noise": list(within["condition"]),
        "entries": within["entries"].astype(int).to_numpy(),
        "within, thesis protocol": within["within_thesis_protocol"].astype(int).to_numpy(),
        "within, authors' code": within["within_authors"].astype(int).to_numpy(),
        "authors' code closer": within["authors_closer"].astype(int).to_numpy()})


def authors_table(authors):
    """Every entry run under the authors' code in full: the thesis, ours under the thesis
    protocol and under the authors' code, and both differences from the thesis."""
    return pd.DataFrame({
        "entry": _labels(authors), "thesis": authors["thesis"].to_numpy(),
        "thesis protocol": authors["ours"].to_numpy(),
        "authors' code": authors["authors"].to_numpy(),
        "thesis protocol − thesis": authors["ours_gap"].to_numpy(),
        "authors' code − thesis": authors["authors_gap"].to_numpy()})


def authors_sentence(within):
    """The authors' code in full, in one sentence: of how many entries, how many lie within
    the threshold under each protocol and in how many the authors' code is the closer."""
    if not len(within):
        return Prose("No dataset has been run in full under the authors' code in this build "
                     "(parameter `authors_datasets`).")
    n = int(within["entries"].sum())
    return Prose(
        f"Of these {n} entries, {int(within['within_thesis_protocol'].sum())} lie within the "
        "threshold of the thesis under the thesis protocol and "
        f"{int(within['within_authors'].sum())} under the authors' code; the authors' code "
        f"is the closer in {int(within['authors_closer'].sum())}.")


@dataclass
class NotesPage:
    """What the reproduction notes show (:func:`values`)."""

    threshold: float
    thesis_status: str
    n_compared: int
    """Table entries with both a thesis number and ours."""
    n_beyond: int
    """Entries further than ``threshold`` from the thesis."""
    n_clear: int
    """Of those, entries whose difference exceeds three standard deviations over seeds."""
    faces_features_thesis: int
    n_ablation_cells: int
    ablation_seeds: str
    ablation_datasets: str
    all_at_once: str
    split_shift: str
    """Mean absolute shift under another learning/evaluation split, 3 decimals."""
    n_switches: int
    fig_ablations: object
    table_switches: object
    table_entries_summary: object
    table_entries: object
    n_explained: int
    n_partly_explained: int
    n_unexplained: int
    n_not_measured: int
    top_switches: Prose
    unmeasured_text: Prose
    n_combined: int
    n_combined_closer: int
    n_combined_within: int
    authors_where: str
    authors_text: Prose
    table_authors_summary: object
    table_authors: object
    authors_pending: Prose
    n_authors_further: int
    authors_further: Prose
    effects_csv: str = EFFECTS_CSV
    entries_csv: str = ENTRIES_CSV
    authors_csv: str = AUTHORS_CSV


def _empty_figure(text):

    fig, ax = plt.subplots(figsize=(6.6, 0.8))
    ax.axis("off")
    ax.text(0.5, 0.5, text, ha="center", va="center", fontsize=11)
    return fig


def _note_table(text):

    return display.table(pd.DataFrame({"note": [text]}), headers={"note": ""})


def values(params, N=None):
    """The chapter's values for its checked parameters ``params``; ``N`` is
    :func:`metanmf_lab.book.notebook.notes` of them (computed when not given)."""

    N = notes(params) if N is None else N
    threshold = float(reporting.DIFFERENCE_THRESHOLD)
    datasets = params.datasets or list(params.profile_.datasets)
    compared = N.sbs.drop_duplicates(["dataset", "condition", "model"])
    compared = compared[compared[["thesis", "ours"]].notna().all(axis=1)]
    beyond = compared[compared["beyond"]]
    effects, explained = N.effects, N.explained

    order = switch_order(effects)
    if len(effects):
        fig = ablation_shifts(effects, threshold, order=order)
    else:
        fig = _empty_figure("no entry to ablate")
    switches = switch_table(effects, threshold)
    split = "another learning/evaluation split"
    s = switches.set_index("switch") if len(switches) else None
    split_shift = (f"{s.loc[split, 'mean |shift|']:.3f}" if s is not None and split in s.index
                   else "(not measured)")
    display.save_csv(effects, EFFECTS_CSV)

    c = counts(explained)
    comb = effects[effects["ablation"] == reporting.ALL_AT_ONCE] if len(effects) else effects
    not_ablated = [d for d in datasets if d not in params.ablation_datasets
                   and any(e[0] == d for e in N.entries)]
    if len(explained):
        table_entries_summary = display.table(entries_summary(explained, datasets))
        table_entries = display.table(entries_table(explained))
        display.save_csv(explained, ENTRIES_CSV)
    else:
        table_entries_summary = table_entries = _note_table("no entry differs")

    if N.authors is not None and len(N.authors):
        within = reporting.authors_within(N.authors)
        far = reporting.authors_further(N.authors)
        table_authors_summary = display.table(authors_summary(within))
        table_authors = display.table(authors_table(N.authors))
        display.save_csv(N.authors, AUTHORS_CSV)
        authors_where = ", ".join(_name(d) for d in datasets
                                  if d in set(N.authors["dataset"]))
    else:
        within = reporting.authors_within(pd.DataFrame(
            columns=["dataset", "condition", "ours_gap", "authors_gap"]))
        far = pd.DataFrame()
        table_authors_summary = table_authors = _note_table(
            "the authors' code has not been run in full on any dataset of this build")
        authors_where = "named by the parameter `authors_datasets` (none in this build)"

    table_41 = published.thesis_datasets().set_index("dataset")
    return NotesPage(
        threshold=threshold, thesis_status=N.thesis_status, n_compared=len(compared),
        n_beyond=len(N.entries),
        n_clear=int((beyond["difference"].abs() > 3 * beyond["sd_seeds"]).sum()),
        faces_features_thesis=int(table_41.loc["faces", "features"]),
        n_ablation_cells=int(N.n_ablation_cells),
        ablation_seeds=", ".join(str(int(s)) for s in params.ablation_seeds),
        ablation_datasets=", ".join(_name(d) for d in datasets
                                    if d in params.ablation_datasets) or "none",
        all_at_once=reporting.ALL_AT_ONCE, split_shift=split_shift,
        n_switches=len([o for o in order if o != reporting.ALL_AT_ONCE]),
        fig_ablations=fig,
        table_switches=display.table(switches),
        table_entries_summary=table_entries_summary, table_entries=table_entries,
        n_explained=c["explained"], n_partly_explained=c["partly explained"],
        n_unexplained=c["unexplained"], n_not_measured=c["not measured"],
        top_switches=top_switches(explained),
        unmeasured_text=unmeasured_sentence(c["not measured"], not_ablated,
                                            N.unmeasured_seconds),
        n_combined=len(comb), n_combined_closer=int(comb["closes"].sum()) if len(comb) else 0,
        n_combined_within=int(comb["within"].sum()) if len(comb) else 0,
        authors_where=authors_where, authors_text=authors_sentence(within),
        table_authors_summary=table_authors_summary, table_authors=table_authors,
        authors_pending=Prose(reporting.authors_pending_phrase(N.authors_pending)),
        n_authors_further=len(far),
        authors_further=Prose(reporting.authors_further_phrase(far)))
