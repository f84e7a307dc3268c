"""The chapter "The four hypotheses, measured": the book's one rule for a verdict, and each of
the thesis' four hypotheses as measured questions (:func:`values`).

The clustering verdicts are :func:`metanmf_lab.book.chapters.verdicts.clustering_verdicts`
(``Hypotheses.clustering`` is that computation); the long tables are in the appendix
(:mod:`metanmf_lab.chapters.statistics`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ...grid import analysis, reporting
from ...grid.catalogue import HEADLINE_PAIRS, PAIRS
from ...grid.cells import equal_compute_iterations
from .. import display, plotting
from ..notebook import hypotheses as measure
from . import Prose
from .statistics import count, dataset_name, kinds_table, listing, table_name
from .verdicts import rule

#: Short names of the questions of :meth:`metanmf_lab.grid.analysis.Hypotheses.summary`, for the
#: summary table (a question not listed keeps its own words).
QUESTIONS = {
    "NMI: Meta model vs thesis baseline": "NMI vs thesis baseline",
    "NMI: Meta model vs equal compute": "NMI vs equal compute",
    "NMI: Meta model vs equal compute, other init": "NMI vs equal compute, other init",
    "NMI: Meta model vs warm start": "NMI vs warm start",
    "NMI spread over seeds: Meta model vs baseline": "less NMI spread over seeds",
    "bases of different seeds: Meta model closer than its randomly started baseline "
    "(count, no test)": "bases closer across seeds (count)",
    "NMI lost to noise: Meta model vs baseline": "less NMI lost to noise",
    "Faces bases sparser (Hoyer)": "Faces bases sparser",
    "Faces bases more local (spatial spread)": "Faces bases more local",
}


def summary_table(summary):
    """:meth:`~metanmf_lab.grid.analysis.Hypotheses.summary` as the book shows it: short questions,
    the counts and the reading (narrow enough for the text column)."""

    shown = pd.DataFrame({
        "H": summary["hypothesis"].astype(int).to_numpy(),
        "question": [QUESTIONS.get(q, q) for q in summary["question"]],
        "n": summary["comparisons"].astype(int).to_numpy(),
        "better": summary["better"].astype(int).to_numpy(),
        "worse": summary["worse"].astype(int).to_numpy(),
        "no diff.": summary["no_difference"].astype(int).to_numpy(),
        "undecided": summary["undecided"].astype(int).to_numpy(),
        "reading": summary["reading"].to_numpy()})
    return display.table(shown)


def _reading(summary, question):
    row = summary[summary["question"] == question]
    return row["reading"].iloc[0] if len(row) else "not measured"


def kinds_sentence(verdicts, summary):
    """Hypothesis 1 in words: the Meta models against their thesis baselines, the base model
    at equal compute and the warm start (counts of ``verdicts``, readings of ``summary``)."""
    def part(kind):
        p = verdicts[verdicts["kind"] == kind]
        return (len(p), count(p, "better"), count(p, "worse"), count(p, "no difference"),
                _reading(summary, f"NMI: Meta model vs {kind}"))

    n, b, w, _, r = part("thesis baseline")
    text = (f"Against the thesis' own baselines the Meta models are better in {b} of {n} "
            f"comparisons and worse in {w} (*{r}*).")
    n, b, w, z, r = part("equal compute")
    text += (f" Against the base model given the same compute from the same initialisation "
             f"they are better in {b}, worse in {w} and indistinguishable in {z} of {n} "
             f"(*{r}*)")
    n, b, w, z, r = part("warm start")
    text += (f"; against the warm start without meta-tasks, better in {b}, worse in {w} and "
             f"indistinguishable in {z} of {n} (*{r}*).")
    return Prose(text)


def more_compute_sentence(more_compute, baseline_iter):
    """How the base models fare when run for a Meta model's budget instead of the thesis'
    ``baseline_iter`` iterations (``Hypotheses.more_compute``), and what follows for the
    equal-compute baseline."""
    parts = []
    for family in ("NMF", "GNMF"):
        p = more_compute[more_compute["reference"].str.split().str[0] == family]
        parts.append(f"{family} is better in {count(p, 'better')} and worse in "
                     f"{count(p, 'worse')} of its {len(p)}")
    lowered = count(more_compute, "worse")
    return Prose(
        f"Given the Meta model's budget instead of the thesis' {baseline_iter} iterations, "
        + ", ".join(parts) + " dataset-condition-initialisation cases. "
        + ("Where running the base model longer lowers its NMI, beating it at equal compute "
           "says little; the warm start is the comparison that separates what the meta-tasks "
           "add from what a basis learned on the learning half gives."
           if lowered else
           "More iterations never lower the base model's NMI significantly, so the "
           "equal-compute baseline is a fair test of the extra compute."))


def pair_where(datasets, pair_datasets):
    """Where the headline pairs run over their further seeds: "on every dataset", or the
    datasets that have them and those that do not yet."""
    short = [d for d in datasets if d not in pair_datasets]
    if not short:
        return Prose("on every dataset")
    return Prose("on " + listing(dataset_name(d) for d in datasets if d in pair_datasets)
                 + " (on " + listing(dataset_name(d) for d in short)
                 + " their further seeds are not in the result store yet)")


def fair_note(datasets, fair_datasets):
    """Which datasets lack the fair baselines (empty when none does)."""
    missing = [d for d in datasets if d not in fair_datasets]
    if not missing:
        return Prose("")
    return Prose("The fair baselines are not in the result store for "
                 + listing(dataset_name(d) for d in missing) + " yet; there the Meta model "
                 "is compared with its thesis baseline only.")


def spread_sentence(spread, reading, threshold):
    """Hypothesis 2 from the NMI: how often the Meta model's NMI is less spread over seeds,
    how often significantly, and how large the spreads are (``threshold``: the difference
    the reproduction treats as one)."""
    lower = int((spread["model_sd"] < spread["reference_sd"]).sum())
    text = (f"The Meta model's NMI is less spread over seeds than its baseline's in {lower} of "
            f"the {len(spread)} comparisons, significantly so in {count(spread, 'less spread')}"
            f" (and significantly more spread in {count(spread, 'more spread')}): *{reading}*.")
    sds = spread[["reference_sd", "model_sd"]].to_numpy(dtype=float)
    if np.isfinite(sds).any():
        largest = float(np.nanmax(sds))
        if largest < threshold:
            text += (f" The spreads are small to begin with, at most {largest:.3f} NMI (below "
                     f"the {threshold:g} the reproduction treats as a difference): a test of "
                     "spread over this many seeds has little power, and neither kind of model "
                     "is sensitive to its start in a way that would change a table entry.")
        else:
            text += f" The largest spread is {largest:.3f} NMI."
    return Prose(text)


def bases_sentence(basis, basis_pairs):
    """Hypothesis 2 from the bases: NNDSVD's bases do not depend on the seed; against a
    randomly started baseline, how often the Meta model's bases are closer across seeds."""
    nndsvd = basis[basis["model"].isin(["NMF NNDSVD", "GNMF NNDSVD"])]["distance"]
    random_pairs = basis_pairs[basis_pairs["reference"].isin(["NMF", "GNMF"])]
    nndsvd_pairs = basis_pairs[~basis_pairs["reference"].isin(["NMF", "GNMF"])]
    farther = int((nndsvd_pairs["model_distance"] > nndsvd_pairs["reference_distance"]).sum())
    text = ""
    if len(nndsvd):
        text += (f"The NNDSVD baselines' bases are identical across seeds (largest distance "
                 f"{float(nndsvd.abs().max()):.2g}), as they must be. ")
    text += (f"Against the randomly started baselines, the Meta models' bases are closer across "
             f"seeds in {int(random_pairs['closer'].sum())} of {len(random_pairs)} "
             f"dataset-condition pairs. A Meta model's basis depends on the seed through the "
             f"meta-tasks it draws, so against an NNDSVD baseline it can only add sensitivity to "
             f"the seed: its bases are farther apart in {farther} of those "
             f"{len(nndsvd_pairs)} pairs.")
    return Prose(text)


def noise_sentence(noise, reading):
    """Hypothesis 3 in words."""
    return Prose(f"Of the {len(noise)} comparisons, the Meta model loses significantly less NMI "
                 f"than its baseline in {count(noise, 'better')} and more in "
                 f"{count(noise, 'worse')} (*{reading}*).")


def parts_sentence(part_tests, reading_hoyer, reading_spread):
    """Hypothesis 4 in words: significantly sparser / less sparse, more local / more diffuse
    (a *smaller* spatial spread is more local), and whether the changes go both ways."""
    hoy = part_tests[part_tests["measure"] == "hoyer"]
    spr = part_tests[part_tests["measure"] == "spread"]
    both_ways = ((count(hoy, "better") and count(hoy, "worse"))
                 or (count(spr, "better") and count(spr, "worse")))
    return Prose(
        f"Of the {len(hoy)} pair-condition comparisons, the Meta model's bases are "
        f"significantly sparser in {count(hoy, 'better')} and less sparse in "
        f"{count(hoy, 'worse')} (*{reading_hoyer}*), and significantly more local in "
        f"{count(spr, 'worse')} and more diffuse in {count(spr, 'better')} "
        f"(*{reading_spread}*). "
        + ("The measures move in both directions depending on the pair and the condition: "
           "being more part-like is not a property of meta-learning as such."
           if both_ways else "Every significant change goes the same way for each measure."))


@dataclass
class HypothesesChapter:
    """What the hypotheses chapter shows (:func:`values`)."""

    rule: Prose
    n_cells: int
    n_clustering: int
    n_seeds: int
    n_pair_seeds: int
    pair_where: Prose
    fair_note: Prose
    baseline_iter: int
    learn_iter: int
    equal_iter: int
    table_kinds: object
    h1_sentence: Prose
    more_compute_sentence: Prose
    fig_meta_nmf: object
    fig_meta_gnmf_nndsvd: object
    fig_meta_gnmf: object
    fig_meta_nmf_nndsvd: object
    basis_rank: int
    spread_sentence: Prose
    fig_basis_spread: object
    bases_sentence: Prose
    noise_datasets: str
    noise_ranks: str
    noise_levels: str
    fig_noise: object
    noise_sentence: Prose
    n_noise: int
    face_rank: int
    fig_parts: object
    parts_sentence: Prose
    table_summary: object
    _hypotheses: object = None
    _verdicts: pd.DataFrame = None


def values(params, hypotheses=None):
    """Everything the hypotheses chapter shows, for its checked parameters ``params``;
    ``hypotheses`` (:func:`metanmf_lab.book.notebook.hypotheses`) is measured when not given."""

    H = measure(params) if hypotheses is None else hypotheses
    summary = H.summary()
    settings = params.settings
    datasets = params.datasets or list(params.profile_.datasets)
    figs = {f"fig_{table_name(m)}": plotting.paired_differences(H.clustering, m)
            for _, m in PAIRS}
    heads = [m for pair in HEADLINE_PAIRS for m in pair]
    models = [m for pair in PAIRS for m in pair]
    return HypothesesChapter(
        rule=rule(H.clustering), n_cells=len(H.rows), n_clustering=len(H.clustering),
        n_seeds=len(params.seeds), n_pair_seeds=len(params.pair_seeds),
        pair_where=pair_where(datasets, params.pair_datasets),
        fair_note=fair_note(datasets, params.fair_datasets),
        baseline_iter=settings.baseline_iter, learn_iter=settings.n_epochs * settings.inner_iter,
        equal_iter=equal_compute_iterations(settings, "thesis", 1000, 1000, 10),
        table_kinds=kinds_table(H.clustering),
        h1_sentence=kinds_sentence(H.clustering, summary),
        more_compute_sentence=more_compute_sentence(H.more_compute, settings.baseline_iter),
        **figs,
        basis_rank=params.basis_rank,
        spread_sentence=spread_sentence(
            H.spread, _reading(summary, "NMI spread over seeds: Meta model vs baseline"),
            reporting.DIFFERENCE_THRESHOLD),
        fig_basis_spread=plotting.model_measure(
            H.basis.rename(columns={"distance": "value"}), "value",
            "subspace distance between seeds", models, sd="sd"),
        bases_sentence=bases_sentence(H.basis, H.basis_pairs),
        noise_datasets=", ".join(dataset_name(d) for d in params.noise_datasets),
        noise_ranks=", ".join(map(str, params.noise_ranks)),
        noise_levels=", ".join(f"{x:g}" for x in sorted(params.noise_levels)),
        fig_noise=plotting.nmi_vs_noise(analysis.noise_summary(H.noise_rows),
                                        params.noise_datasets, heads),
        noise_sentence=noise_sentence(
            H.noise, _reading(summary, "NMI lost to noise: Meta model vs baseline")),
        n_noise=len(H.noise), face_rank=params.face_rank,
        fig_parts=plotting.part_measures(H.parts, models),
        parts_sentence=parts_sentence(
            H.part_tests, _reading(summary, "Faces bases sparser (Hoyer)"),
            _reading(summary, "Faces bases more local (spatial spread)")),
        table_summary=summary_table(summary), _hypotheses=H, _verdicts=H.clustering)
