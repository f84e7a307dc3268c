"""The appendix "The statistics in full": every comparison behind the book's verdicts, as
tables a reader can check, and the small helpers that write their cells (also used by the
hypotheses, tables and conclusions chapters).

The verdicts of the clustering comparisons are those of
:func:`metanmf_lab.book.chapters.verdicts.clustering_verdicts` (one Holm family), as in every
other chapter.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ...data.datasets import DATASETS
from ...grid import reporting, stats
from ...grid.catalogue import HEADLINE_PAIRS, MODELS, PAIRS, REFERENCE_KINDS
from ...grid.cells import CONDITIONS
from ...grid.stats import VERDICTS
from .. import display
from ..notebook import hypotheses as measure
from . import Prose, dataset_name, interval_text, signed

#: The thesis' claims as :func:`metanmf_lab.grid.stats.claims` words them, in the book's order.
CLAIM_STATUSES = ("holds", "contradicted", "not reproduced", "undecided")


def condition_name(condition):
    """``"none"`` -> "no noise", ``"added"`` -> "added noise"; anything else as it is."""
    return CONDITIONS.get(condition, str(condition))


def p_text(p):
    """A p-value in two significant digits ("0.0031", "1"); "–" where there is no test."""
    if p is None or not np.isfinite(p):
        return "–"
    return f"{p:.2g}"


def listing(items, empty="none"):
    """``items`` joined with commas (``empty`` when there are none)."""
    items = list(items)
    return ", ".join(items) if items else empty


def entry(dataset, condition):
    """A dataset and condition in prose: "Digits (no noise)"."""
    return f"{dataset_name(dataset)} ({condition_name(condition)})"


def count(frame, verdict, column="verdict"):
    """How many rows of ``frame`` have ``verdict``."""
    return int((frame[column] == verdict).sum())


def verdict_counts(verdicts, by="kind", order=None):
    """Counts of each verdict (:data:`metanmf_lab.grid.stats.VERDICTS`) per value of ``by``, in
    ``order`` (default: :data:`metanmf_lab.grid.catalogue.REFERENCE_KINDS`), with the number of
    comparisons: a DataFrame with columns ``by``, ``comparisons`` and one per verdict."""

    order = list(REFERENCE_KINDS if order is None else order)
    counts = (verdicts.groupby(by)["verdict"].value_counts().unstack(fill_value=0)
              .reindex(index=order, columns=list(VERDICTS), fill_value=0).astype(int))
    counts.insert(0, "comparisons", counts.sum(axis=1))
    return counts.rename_axis(by).reset_index()


def seeds_sentence(verdicts):
    """How many seeds the verdicts pair, per kind of model, for a caption: "paired over 10
    seeds (NMF / Meta-NMF, GNMF NNDSVD / Meta-GNMF NNDSVD) or 5 (the others)"."""

    heads = [meta for _, meta in HEADLINE_PAIRS]
    head = sorted(verdicts.loc[verdicts["model"].isin(heads), "n_seeds"].unique())
    other = sorted(verdicts.loc[~verdicts["model"].isin(heads), "n_seeds"].unique())
    if not len(other) or list(head) == list(other):
        return f"paired over {' or '.join(str(int(n)) for n in head or other)} seeds"
    return (f"paired over {' or '.join(str(int(n)) for n in head)} seeds for the headline "
            f"pairs ({', '.join(f'{b} / {m}' for b, m in HEADLINE_PAIRS)}) and "
            f"{' or '.join(str(int(n)) for n in other)} for the others")


def clustering_table(verdicts, model):
    """The clustering comparisons of one Meta model as the appendix shows them: a row per
    reference and dataset-condition (reference, dataset, noise, seeds, difference with its
    interval, Holm-adjusted p-value, verdict)."""

    part = verdicts[verdicts["model"] == model].copy()
    part["_kind"] = part["kind"].map({k: i for i, k in enumerate(REFERENCE_KINDS)})
    part = part.sort_values(["_kind", "dataset", "condition"], key=book_key, kind="stable")
    return pd.DataFrame({
        "reference": part["reference"].to_numpy(),
        "dataset": [dataset_name(d) for d in part["dataset"]],
        "noise": [condition_name(c) for c in part["condition"]],
        "seeds": part["n_seeds"].astype(int).to_numpy(),
        "difference": [interval_text(d, lo, hi) for d, lo, hi in
                       zip(part["difference"], part["low"], part["high"])],
        "p (Holm)": [p_text(p) for p in part["p_holm"]],
        "verdict": part["verdict"].to_numpy()})


def book_key(column):
    """Sort key putting datasets in the book's order and "none" before "added"."""

    if column.name == "dataset":
        order = {d: i for i, d in enumerate(DATASETS)}
        return column.map(lambda d: order.get(d, len(order)))
    if column.name == "condition":
        return column.map({c: i for i, c in enumerate(CONDITIONS)}).fillna(len(CONDITIONS))
    return column


def claims_table(claims, verdicts=None):
    """The thesis' claims (:func:`metanmf_lab.grid.stats.claims`), a row per pair and
    dataset-condition: the thesis' difference, ours with its interval, the Holm-adjusted
    p-value and the claim's status."""
    c = claims.sort_values(["dataset", "condition"], key=book_key, kind="stable")
    return pd.DataFrame({
        "Meta model": c["model"].to_numpy(),
        "dataset": [dataset_name(d) for d in c["dataset"]],
        "noise": [condition_name(x) for x in c["condition"]],
        "thesis": [signed(v) for v in c["thesis_difference"]],
        "ours": [interval_text(d, lo, hi) for d, lo, hi in
                 zip(c["our_difference"], c["low"], c["high"])],
        "p (Holm)": [p_text(p) for p in c["p_holm"]],
        "claim": c["status"].to_numpy()})


def claims_by_pair(claims):
    """How many of the thesis' claims hold, are contradicted, not reproduced or undecided,
    per pair (baseline / Meta model), in the order of the thesis' tables."""

    pair = claims["reference"] + " / " + claims["model"]
    out = (claims.assign(pair=pair).groupby("pair")["status"].value_counts()
           .unstack(fill_value=0)
           .reindex(index=[f"{b} / {m}" for b, m in PAIRS], columns=list(CLAIM_STATUSES),
                    fill_value=0).astype(int))
    return out.rename_axis("pair").reset_index()


def claim_counts(claims):
    """``{status: count}`` for every status of :data:`CLAIM_STATUSES` (zeros included)."""
    return {s: count(claims, s, "status") for s in CLAIM_STATUSES}


def beyond_table(sbs):
    """The table entries of ``sbs`` (:func:`metanmf_lab.grid.reporting.side_by_side`) that differ
    from the thesis by more than the threshold, largest difference first."""
    b = sbs[sbs["beyond"]].copy()
    b = b.reindex(b["difference"].abs().sort_values(ascending=False, kind="stable").index)
    return pd.DataFrame({
        "table": b["table"].to_numpy(), "model": b["model"].to_numpy(),
        "dataset": [dataset_name(d) for d in b["dataset"]],
        "noise": [condition_name(c) for c in b["condition"]],
        "NMI, thesis": b["thesis"].to_numpy(), "NMI, ours": b["ours"].to_numpy(),
        "difference": [signed(v) for v in b["difference"]]})


def spread_table(spread):
    """Hypothesis 2's spreads (:func:`metanmf_lab.grid.stats.spread_comparison`): a row per pair
    and dataset-condition."""
    s = spread.sort_values(["dataset", "condition"], key=book_key, kind="stable")
    return pd.DataFrame({
        "Meta model": s["model"].to_numpy(),
        "dataset": [dataset_name(d) for d in s["dataset"]],
        "noise": [condition_name(c) for c in s["condition"]],
        "s.d., baseline": s["reference_sd"].to_numpy(),
        "s.d., Meta": s["model_sd"].to_numpy(),
        "p (Holm)": [p_text(p) for p in s["p_holm"]],
        "verdict": s["verdict"].to_numpy()})


def noise_table(noise):
    """Hypothesis 3's comparisons (:func:`metanmf_lab.grid.stats.noise_robustness`): NMI lost by
    each model of a pair from the lowest to the highest noise level."""
    n = noise.sort_values(["dataset"], key=book_key, kind="stable")
    return pd.DataFrame({
        "Meta model": n["model"].to_numpy(),
        "dataset": [dataset_name(d) for d in n["dataset"]],
        "lost, baseline": n["reference_drop"].to_numpy(),
        "lost, Meta": n["model_drop"].to_numpy(),
        "difference": [interval_text(d, lo, hi) for d, lo, hi in
                       zip(n["difference"], n["low"], n["high"])],
        "p (Holm)": [p_text(p) for p in n["p_holm"]],
        "verdict": n["verdict"].to_numpy()})


def parts_table(part_tests):
    """Hypothesis 4's comparisons (:func:`metanmf_lab.grid.analysis.part_comparisons`): each Meta
    model minus its baseline on Hoyer sparsity and on spatial spread."""
    t = part_tests.sort_values(["measure", "condition"], key=book_key, kind="stable")
    return pd.DataFrame({
        "measure": t["measure"].map({"hoyer": "sparsity", "spread": "spatial spread"})
        .to_numpy(),
        "Meta model": t["model"].to_numpy(),
        "noise": [condition_name(c) for c in t["condition"]],
        "baseline": t["reference_nmi"].to_numpy(), "Meta": t["model_nmi"].to_numpy(),
        "difference": [interval_text(d, lo, hi) for d, lo, hi in
                       zip(t["difference"], t["low"], t["high"])],
        "p (Holm)": [p_text(p) for p in t["p_holm"]],
        "verdict": t["verdict"].to_numpy()})


def table_name(model):
    """A field name for a model's table: "Meta-GNMF NNDSVD" -> "meta_gnmf_nndsvd"."""
    return model.lower().replace(" ", "_").replace("-", "_")


@dataclass
class Statistics:
    """What the appendix shows (:func:`values`)."""

    n_comparisons: int
    n_better: int
    n_worse: int
    n_no_difference: int
    n_undecided: int
    seeds_used: Prose
    table_kinds: object
    table_meta_nmf: object
    table_meta_gnmf: object
    table_meta_gnmf_nndsvd: object
    table_meta_nmf_nndsvd: object
    n_claims: int
    n_claims_holds: int
    n_claims_contradicted: int
    n_claims_not_reproduced: int
    n_claims_undecided: int
    table_claims: object
    threshold: float
    n_beyond: int
    n_compared: int
    table_beyond: object
    n_spread: int
    n_spread_less: int
    n_spread_more: int
    table_spread: object
    n_noise: int
    n_noise_better: int
    n_noise_worse: int
    table_noise: object
    n_parts: int
    table_parts: object
    _verdicts: pd.DataFrame = None


def kinds_table(verdicts):
    """:func:`verdict_counts` by kind of reference as the book shows it."""

    return display.table(verdict_counts(verdicts), headers={"kind": "reference"})


def values(params, hypotheses=None):
    """Everything the appendix shows, for its checked parameters ``params`` (those of the
    hypotheses chapter); ``hypotheses`` (:func:`metanmf_lab.book.notebook.hypotheses`) is
    measured when not given."""

    H = measure(params) if hypotheses is None else hypotheses
    v = H.clustering
    thesis = reporting.thesis_tables()
    claims = stats.claims(v[v["kind"] == "thesis baseline"], thesis)
    cc = claim_counts(claims)
    tab_rows = H.rows[H.rows["model"].isin(MODELS) & H.rows["seed"].isin(params.seeds)]
    sbs = reporting.side_by_side(reporting.mean_over_ranks(tab_rows), thesis)
    sbs = sbs[sbs["dataset"].isin(set(tab_rows["dataset"]))]
    tables = {f"table_{table_name(m)}": display.table(clustering_table(v, m))
              for _, m in PAIRS}
    hoyer = H.part_tests[H.part_tests["measure"] == "hoyer"]
    return Statistics(
        n_comparisons=len(v), n_better=count(v, "better"), n_worse=count(v, "worse"),
        n_no_difference=count(v, "no difference"), n_undecided=count(v, "undecided"),
        seeds_used=Prose(seeds_sentence(v)), table_kinds=kinds_table(v), **tables,
        n_claims=len(claims), n_claims_holds=cc["holds"],
        n_claims_contradicted=cc["contradicted"], n_claims_not_reproduced=cc["not reproduced"],
        n_claims_undecided=cc["undecided"], table_claims=display.table(claims_table(claims)),
        threshold=reporting.DIFFERENCE_THRESHOLD, n_beyond=int(sbs["beyond"].sum()),
        n_compared=int(sbs[["thesis", "ours"]].notna().all(axis=1).sum()),
        table_beyond=display.table(beyond_table(sbs)),
        n_spread=len(H.spread), n_spread_less=count(H.spread, "less spread"),
        n_spread_more=count(H.spread, "more spread"),
        table_spread=display.table(spread_table(H.spread)),
        n_noise=len(H.noise), n_noise_better=count(H.noise, "better"),
        n_noise_worse=count(H.noise, "worse"), table_noise=display.table(noise_table(H.noise)),
        n_parts=len(hoyer), table_parts=display.table(parts_table(H.part_tests)),
        _verdicts=v)
