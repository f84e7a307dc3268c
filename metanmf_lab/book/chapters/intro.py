"""The introduction: the verdict first (abstract, headline figure, the four hypotheses), and
what the package implements and where the book measures it."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from ...data.datasets import DATASETS
from ...grid.catalogue import HEADLINE_PAIRS, REFERENCE_KINDS
from ...grid.stats import VERDICTS
from .. import display, plotting
from ..catalogue import implemented
from ..notebook import Params, hypotheses
from . import Prose
from .verdicts import clustering_verdicts

#: Short names of the hypotheses (thesis Sec. 1.3), in its order.
HYPOTHESES = {1: "1. Clustering", 2: "2. Initialisation", 3: "3. Noise", 4: "4. Facial parts"}

#: How the intro names each measured question of ``Hypotheses.summary()``; a question not
#: listed keeps its own text.
QUESTIONS = {
    "NMI: Meta model vs thesis baseline": "NMI vs thesis' baseline",
    "NMI: Meta model vs equal compute": "NMI vs equal compute",
    "NMI: Meta model vs equal compute, other init": "NMI vs equal compute (other start)",
    "NMI: Meta model vs warm start": "NMI vs warm start",
    "NMI spread over seeds: Meta model vs baseline": "NMI spread over seeds",
    "NMI lost to noise: Meta model vs baseline": "NMI lost to noise",
    "Faces bases sparser (Hoyer)": "sparser bases (Hoyer)",
    "Faces bases more local (spatial spread)": "more local bases",
}


def _question(q):
    if q in QUESTIONS:
        return QUESTIONS[q]
    if q.startswith("bases of different seeds"):
        return "bases closer across seeds"
    return q


def counts_by_kind(verdicts):
    """Per kind of reference: how many comparisons, and how many of each verdict."""

    table = pd.crosstab(verdicts["kind"], verdicts["verdict"])
    table = table.reindex(index=list(REFERENCE_KINDS), columns=list(VERDICTS), fill_value=0)
    table["n"] = table.sum(axis=1)
    return table


def beats_all(verdicts):
    """The (model, dataset, condition) where a Meta model is better than every one of its
    references (thesis baseline and the three fair baselines)."""
    better = verdicts.assign(b=verdicts["verdict"] == "better")
    per = better.groupby(["model", "dataset", "condition"])["b"].agg(["all", "size"])
    return per[per["all"]].reset_index()[["model", "dataset", "condition"]]


def _entry(model, dataset, condition):

    noise = "" if condition == "none" else " with noise"
    return f"{model} on {DATASETS[dataset].display_name}{noise}"


def found(verdicts, n_cells):
    """The abstract's "what we found", built from the verdicts."""
    c = counts_by_kind(verdicts)
    n = int(c.loc["thesis baseline", "n"])
    base_b, base_w = (int(c.loc["thesis baseline", v]) for v in ("better", "worse"))
    eq_b, eq_w = (int(c.loc["equal compute", v]) for v in ("better", "worse"))
    warm_b, warm_w = (int(c.loc["warm start", v]) for v in ("better", "worse"))
    warm_same = int(c.loc["warm start", "no difference"])
    everywhere = beats_all(verdicts)
    where = "; ".join(_entry(*r) for r in everywhere.itertuples(index=False))
    text = (
        f"We reran the thesis' grid ({n_cells:,} fitted models) and gave every Meta model "
        "three *fair* baselines: its base model run as long (*equal compute*, from either "
        "start) and started from a basis fitted on the learning half (*warm start*). "
        f"Over {n} conditions (four Meta models, five datasets, with and without noise) the "
        f"Meta models beat the thesis' baseline in {base_b} (lose in {base_w}), equal compute "
        f"in {eq_b} (lose in {eq_w}), but the warm start in only {warm_b} (lose in {warm_w}, "
        f"tie in {warm_same}). ")
    if len(everywhere):
        text += f"They beat all four references in {len(everywhere)}: {where}. "
    else:
        text += "They beat all four references in none. "
    if warm_b * 4 <= n:
        text += ("Most of the gain the thesis reports is what a start learned on the learning "
                 "half gives any NMF, not what meta-learning adds. ")
    undecided = int((verdicts["verdict"] == "undecided").sum())
    if 2 * undecided > len(verdicts):
        text += (f"Once the variance between splits counts, {undecided} of the "
                 f"{len(verdicts)} verdicts are undecided: a gap of a few hundredths of NMI "
                 "on one split does not carry to another.")
    return Prose(text.strip())


def sure(verdicts):
    """The abstract's "how sure we are"."""
    seeds = sorted(int(s) for s in verdicts["n_seeds"].unique())
    measured = verdicts["split_source"] == "measured" if "split_source" in verdicts else None
    if measured is not None and measured.any():
        n_splits = int(verdicts.loc[measured, "df"].max()) + 1
        split = (f", with the variance between {n_splits} learning/evaluation splits (each "
                 "with its own noise draw and Fashion-MNIST subset) in every standard error "
                 "({ref}`robustness`)")
    else:
        split = ", on one learning/evaluation split"
    return Prose(
        f"Paired *t* tests over {seeds[0]}–{seeds[-1]} seeds per comparison (the replication; "
        f"ranks are averaged){split}, Holm-adjusted over all {len(verdicts)} comparisons of "
        "the book (one rule, {ref}`verdict-rule`); 95% intervals. The noise levels are ours "
        "where the thesis names none; {ref}`robustness` reruns the headline pairs where our "
        "NMF meets the thesis' noisy numbers.")


def hypotheses_table(summary):
    """The four hypotheses, one row per measured question: how many comparisons went each
    way, and the reading (``Hypotheses.summary()``)."""
    t = summary.assign(hypothesis=summary["hypothesis"].map(HYPOTHESES),
                       question=summary["question"].map(_question),
                       neither=summary["no_difference"] + summary["undecided"])
    t = t[["hypothesis", "question", "better", "worse", "neither", "reading"]]
    t.loc[t["hypothesis"].duplicated(), "hypothesis"] = ""
    return t


@dataclass
class Intro:
    """What the introduction shows (:func:`intro`)."""

    n_cells: int
    n_comparisons: int
    found: Prose
    sure: Prose
    fig_headline: object
    headline_models: Prose
    table_hypotheses: object
    table_implemented: object
    n_better_base: int
    n_better_warm: int
    n_beats_all: int


#: The hypotheses chapter's parameters that its profile does not set (the defaults of
#: ``notebooks/hypotheses.ipynb``; a test keeps the two equal): the intro measures the
#: hypotheses exactly as that chapter does.
HYPOTHESES_DEFAULTS = {"noise_levels": [0.0, 0.1, 0.2, 0.4, 0.6], "basis_rank": 10,
                       "face_rank": 18}


def hypotheses_params(params):
    """``params`` completed as the hypotheses chapter resolves its own: lists left empty and
    parameters not declared take the profile's values or :data:`HYPOTHESES_DEFAULTS`."""

    out = Params(params)
    for name in ("datasets", "ranks", "seeds", "fair_datasets", "pair_seeds", "pair_datasets",
                 "noise_datasets", "noise_ranks", "basis_datasets"):
        if not out.get(name):
            out[name] = list(getattr(params.profile_, name))
    for name, value in HYPOTHESES_DEFAULTS.items():
        out.setdefault(name, value)
    out.setdefault("n_jobs", 1)
    return out


def implemented_table():
    """What the package implements and where the book measures it
    (:func:`metanmf_lab.book.catalogue.implemented`), as the book shows a table."""
    return display.table(implemented(), headers={
        "what": "What", "implementation": "Implementation", "chapters": "Measured in"})


def intro(params):
    """The introduction's values, for the notebook's checked parameters."""

    params = hypotheses_params(params)
    rows, verdicts = clustering_verdicts(params)
    summary = hypotheses(params).summary()
    models = [meta for _, meta in HEADLINE_PAIRS]
    c = counts_by_kind(verdicts)
    table = display.table(hypotheses_table(summary), headers={
        "hypothesis": "Hypothesis", "question": "Measured as", "better": "Better",
        "worse": "Worse", "neither": "Neither", "reading": "Reading"})
    table = table.set_properties(subset=["Hypothesis", "Better", "Worse", "Neither", "Reading"],
                                 **{"white-space": "nowrap"})
    return Intro(n_cells=len(rows), n_comparisons=len(verdicts),
                 found=found(verdicts, len(rows)), sure=sure(verdicts),
                 fig_headline=plotting.headline_differences(verdicts, models),
                 headline_models=Prose(" and ".join(models)), table_hypotheses=table,
                 table_implemented=implemented_table(),
                 n_better_base=int(c.loc["thesis baseline", "better"]),
                 n_better_warm=int(c.loc["warm start", "better"]),
                 n_beats_all=len(beats_all(verdicts)))
