"""The chapter "Conclusions": what holds of the thesis, what does not, what remains open
(:func:`values`). Every verdict is :func:`metanmf_lab.book.chapters.verdicts.clustering_verdicts`
(``Hypotheses.clustering``), as in every chapter; the claims are those of the tables chapter.
"""

from __future__ import annotations

from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from ...data.datasets import DATASETS
from ...grid import published, reporting, stats
from ...grid.catalogue import HEADLINE_PAIRS
from ...grid.cells import CONDITIONS
from .. import display
from ..notebook import hypotheses as measure, notes as measure_notes
from . import Prose, robustness
from .hypotheses import fair_note, pair_where
from .statistics import (book_key, claim_counts, claims_by_pair, count, dataset_name, entry,
                         listing, signed, table_name)

#: The references the headline tables show, with their column headers.
HEADLINE_KINDS = {"thesis baseline": "vs thesis baseline", "equal compute": "vs equal compute",
                  "warm start": "vs warm start"}


def headline_table(verdicts, thesis, base, meta):
    """One headline pair, a row per dataset and condition: the thesis' difference (Meta model
    minus baseline) and, against each reference of :data:`HEADLINE_KINDS`, our difference with
    its interval (split variance included) and its verdict ("+0.04 [+0.01, +0.07] better")."""

    t = thesis.set_index(["dataset", "noise", "model"])["thesis_nmi"]
    mine = verdicts[verdicts["model"] == meta].set_index(["kind", "dataset", "condition"])
    rows = []
    for ds in DATASETS:
        for cond in CONDITIONS:
            if not any((k, ds, cond) in mine.index for k in HEADLINE_KINDS):
                continue
            row = {"dataset": dataset_name(ds), "noise": cond,
                   "thesis": signed(t.get((ds, cond, meta), np.nan)
                                    - t.get((ds, cond, base), np.nan))}
            for kind, header in HEADLINE_KINDS.items():
                if (kind, ds, cond) in mine.index:
                    r = mine.loc[(kind, ds, cond)]
                    row[header] = (f"{signed(r['difference'], 2)} [{signed(r['low'], 2)}, "
                                   f"{signed(r['high'], 2)}] {r['verdict']}")
                else:
                    row[header] = "–"
            rows.append(row)
    return pd.DataFrame(rows, columns=["dataset", "noise", "thesis", *HEADLINE_KINDS.values()])


def headline_sentence(verdicts, base, meta):
    """A headline pair in words: how often the Meta model is significantly better or worse
    than its thesis baseline, the base model at equal compute and the warm start, and where it
    beats the last two."""
    mine = verdicts[verdicts["model"] == meta]

    def part(kind):
        p = mine[mine["kind"] == kind]
        better = p[p["verdict"] == "better"].sort_values(["dataset", "condition"],
                                                          key=book_key, kind="stable")
        return (len(p), count(p, "better"), count(p, "worse"),
                listing(entry(d, c) for d, c in zip(better["dataset"], better["condition"])))

    n, b, w, _ = part("thesis baseline")
    _, be, we, where_e = part("equal compute")
    _, bw, ww, where_w = part("warm start")
    return Prose(
        f"**{meta}** is significantly better than {base} in {b} of {n} dataset-conditions "
        f"(worse in {w}); against {base} given the same compute it is better in {be} (worse in "
        f"{we}), and against the warm start without meta-tasks better in {bw} (worse in {ww}). "
        + ("It beats neither of these two fair baselines anywhere." if not (be or bw) else
           f"It beats the equal-compute baseline on {where_e}; it beats the warm start on "
           f"{where_w}."))


def weak_baseline_sentence(more_compute):
    """Whether running a base model for a Meta model's budget lowers its NMI (then beating it
    at equal compute is a weak test)."""
    worse = {}
    for family in ("NMF", "GNMF"):
        p = more_compute[more_compute["reference"].str.split().str[0] == family]
        worse[family] = (count(p, "worse"), len(p))
    if not (worse["NMF"][0] or worse["GNMF"][0]):
        return Prose("More iterations never lower the base model's NMI significantly, so the "
                     "equal-compute baseline is a fair test of the extra compute.")
    return Prose(f"Run for the Meta model's budget, the base model itself loses NMI in "
                 f"{worse['GNMF'][0]} of {worse['GNMF'][1]} GNMF cases and {worse['NMF'][0]} "
                 f"of {worse['NMF'][1]} NMF cases, so beating it at equal compute is a weak test "
                 "there; the warm start is the stricter one.")


def noise_levels_sentence():
    """Where each dataset's noise level comes from (:data:`metanmf_lab.data.datasets.DATASETS`)."""

    code = ("blobs", "digits", "faces")  # named in the authors' driver
    ours = [d for d in DATASETS if d not in code]

    def levels(names):
        return listing(f"{DATASETS[d].display_name} σ = {DATASETS[d].default_noise:g}"
                       for d in names)
    return Prose(f"The thesis records neither its noise levels nor its Fashion-MNIST subset. "
                 f"Our noisy entries use the levels named in the authors' code for "
                 f"{levels(code)}, and our own choice for {levels(ours)}.")


def beats_sentence(beats):
    """Whether any Meta model beats its strongest fair baseline, anywhere."""
    better = beats[beats["verdict"] == "better"]
    if better.empty:
        return Prose(f"In none of the {len(beats)} comparisons of a Meta model with its "
                     "strongest fair baseline (under either protocol, at our noise levels, "
                     "at the calibrated ones and along the noise sweep) is the Meta model "
                     "significantly better.")
    where = listing(f"{m} on {entry(d, c)} ({s})" for m, d, c, s in zip(
        better["model"], better["dataset"], better["condition"], better["setting"]))
    worse = int((beats["verdict"] == "worse").sum())
    return Prose(f"Of {len(beats)} comparisons of a Meta model with its strongest fair "
                 f"baseline (under either protocol, at our noise levels, at the calibrated "
                 f"ones and along the noise sweep), the Meta model is significantly better in "
                 f"{len(better)}: {where}; it is worse in {worse}.")


def _halfwidth(verdicts):
    """The typical width of the clustering intervals, in words (empty without intervals)."""
    half = (verdicts["high"] - verdicts["low"]) / 2
    if not np.isfinite(half).any():
        return ""
    split = "split_source" in verdicts and (verdicts["split_source"] != "none").any()
    return (f" (95% intervals{' with the split-to-split variance' if split else ''}: median "
            f"half-width {np.nanmedian(half):.3f} NMI)")


def _row(summary, question):
    return summary.set_index("question").loc[question]


def hypothesis_items(H):
    """The four hypotheses in one sentence each (Markdown, for a numbered list), from
    :meth:`~metanmf_lab.grid.analysis.Hypotheses.summary` of ``H``."""
    s = H.summary()
    base = _row(s, "NMI: Meta model vs thesis baseline")
    equal = _row(s, "NMI: Meta model vs equal compute")
    warm = _row(s, "NMI: Meta model vs warm start")
    spread = _row(s, "NMI spread over seeds: Meta model vs baseline")
    closer = s[s["question"].str.startswith("bases of different seeds")].iloc[0]
    noise = _row(s, "NMI lost to noise: Meta model vs baseline")
    hoyer = _row(s, "Faces bases sparser (Hoyer)")
    local = _row(s, "Faces bases more local (spatial spread)")
    h1 = (f"**Clustering** (*{base.reading}* against the thesis' baselines, *{equal.reading}* "
          f"at equal compute, *{warm.reading}* against a warm start): the Meta models beat "
          f"their thesis baselines significantly in {base.better} of {base.comparisons} "
          f"comparisons, the base model at equal compute in {equal.better} of "
          f"{equal.comparisons}, and a warm start in {warm.better} of {warm.comparisons}"
          + _halfwidth(H.clustering) + ". " + weak_baseline_sentence(H.more_compute))
    h2 = (f"**Initialisation sensitivity** (*{spread.reading}*): the NMI of a Meta model is "
          f"significantly less spread over seeds than its baseline's in {spread.better} of "
          f"{spread.comparisons} comparisons; its bases are closer across seeds than those of "
          f"its randomly started baseline in {closer.better} of {closer.comparisons} "
          "dataset-condition pairs (against an NNDSVD baseline, which does not depend on the "
          "seed, they cannot be).")
    h3 = (f"**Noise** (*{noise.reading}*): a Meta model loses significantly less NMI to noise "
          f"than its baseline in {noise.better} of {noise.comparisons} comparisons and more in "
          f"{noise.worse}.")
    h4 = (f"**Facial parts** (sparsity *{hoyer.reading}*, locality *{local.reading}*): the Meta "
          f"models' Faces bases are significantly sparser in {hoyer.better} of "
          f"{hoyer.comparisons} comparisons (less sparse in {hoyer.worse}) and more local in "
          f"{local.better} (less in {local.worse}).")
    return tuple(Prose(x) for x in (h1, h2, h3, h4))


def reproduction_sentence(N):
    """How far our table entries are from the thesis' and what the reproduction notes
    explain (``N``: :func:`metanmf_lab.book.notebook.notes`), with the authors' code in full."""

    counts = N.explained["explanation"].value_counts()
    get = lambda why: int(counts.get(why, 0))  # noqa: E731
    text = (f"{len(N.entries)} of our table entries differ from the thesis' by more than "
            f"{reporting.DIFFERENCE_THRESHOLD:g} NMI. Switching the documented differences "
            f"between the thesis and its code one at a time explains {get('explained')} of "
            f"them, partly explains {get('partly explained')} and leaves {get('unexplained')} "
            f"unexplained"
            + (f"; {get('not measured')} were not ablated in this build. "
               if get("not measured") else ". "))
    if N.authors is not None and len(N.authors):
        within = reporting.authors_within_phrase(reporting.authors_within(N.authors))
        far = reporting.authors_further(N.authors)
        text += (f"Under the authors' code in full, the entries within the threshold of the "
                 f"thesis' are: {within}. In {len(far)} entries the authors' code lies further "
                 f"from the thesis than our thesis protocol, by more than the threshold: "
                 f"{reporting.authors_further_phrase(far)}. "
                 + reporting.authors_pending_phrase(N.authors_pending))
    else:
        text += "No dataset has been run in full under the authors' code in this build."
    return Prose(text)


@dataclass
class ConclusionsChapter:
    """What the conclusions chapter shows (:func:`values`)."""

    n_cells: int
    n_questions: int
    n_entries: int
    n_seeds: int
    n_pair_seeds: int
    pair_where: Prose
    fair_note: Prose
    table_meta_nmf: object
    table_meta_gnmf_nndsvd: object
    meta_nmf_sentence: Prose
    meta_gnmf_nndsvd_sentence: Prose
    n_claims: int
    n_claims_holds: int
    n_claims_contradicted: int
    n_claims_not_reproduced: int
    n_claims_undecided: int
    table_claims: object
    h1_item: Prose
    h2_item: Prose
    h3_item: Prose
    h4_item: Prose
    reproduction: Prose
    thesis_epochs: int
    thesis_inner: int
    table_beats: object
    beats_sentence: Prose
    n_changed: int
    n_verdicts: int
    n_replications: int
    noise_levels_sentence: Prose
    _verdicts: pd.DataFrame = None
    _claims: pd.DataFrame = None


def values(params, hypotheses=None, notes=None, robust=None):
    """Everything the conclusions chapter shows, for its checked parameters ``params``;
    ``hypotheses``, ``notes`` and ``robust`` (:func:`metanmf_lab.book.notebook.hypotheses`,
    :func:`~metanmf_lab.book.notebook.notes`, :func:`metanmf_lab.chapters.robustness.values`) are
    measured when not given."""

    H = measure(params) if hypotheses is None else hypotheses
    N = measure_notes(params) if notes is None else notes
    if robust is None:

        R = robustness.values(params)
        for fig in (R.fig_splits, R.fig_calibration, R.fig_iterations):
            plt.close(fig)  # that chapter's figures, not shown here
    else:
        R = robust
    thesis = reporting.thesis_tables()
    v = H.clustering
    claims = stats.claims(v[v["kind"] == "thesis baseline"], thesis)
    cc = claim_counts(claims)
    datasets = params.datasets or list(params.profile_.datasets)
    heads = {}
    for base, meta in HEADLINE_PAIRS:
        key = table_name(meta)
        heads[f"table_{key}"] = display.table(headline_table(v, thesis, base, meta))
        heads[f"{key}_sentence"] = headline_sentence(v, base, meta)
    h1, h2, h3, h4 = hypothesis_items(H)
    settings = published.thesis_settings()["value"]
    return ConclusionsChapter(
        n_cells=len(H.rows), n_questions=len(H.summary()),
        n_entries=0 if N.sbs is None else len(N.sbs),
        n_seeds=len(params.seeds), n_pair_seeds=len(params.pair_seeds),
        pair_where=pair_where(datasets, params.pair_datasets),
        fair_note=fair_note(datasets, params.fair_datasets), **heads,
        n_claims=len(claims), n_claims_holds=cc["holds"],
        n_claims_contradicted=cc["contradicted"], n_claims_not_reproduced=cc["not reproduced"],
        n_claims_undecided=cc["undecided"],
        table_claims=display.table(claims_by_pair(claims)),
        h1_item=h1, h2_item=h2, h3_item=h3, h4_item=h4, reproduction=reproduction_sentence(N),
        thesis_epochs=int(settings["outer_epochs"]), thesis_inner=int(settings["inner_epochs"]),
        table_beats=display.table(robustness.beats_table(R._beats)),
        beats_sentence=beats_sentence(R._beats), n_changed=R.n_changed,
        n_verdicts=R.n_verdicts, n_replications=R.n_replications,
        noise_levels_sentence=noise_levels_sentence(), _verdicts=v, _claims=claims)
