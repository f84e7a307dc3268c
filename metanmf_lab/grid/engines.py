"""The batched engine's rows against the reference rows: does the fast path (batched, float32,
:meth:`Settings.fast`) change any number a reader draws a conclusion from?

Measured three ways on the cells both hold: the NMI difference of each cell beside the seed
spread of the reference; the difference of the tables' statistic (the mean over ranks and
seeds of each model, dataset and condition) and which of them differ from the thesis' number
by more than the book's threshold; and the thesis-table verdicts (each Meta model against its
thesis baseline, :func:`metanmf_lab.grid.stats.compare`, one Holm family) under both engines.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from . import stats
from .catalogue import MODELS, PAIRS
from .reporting import entries_beyond, mean_over_ranks, select, side_by_side, thesis_tables
from .runner import stored_rows

KEY = ["dataset", "condition", "noise", "model", "rank", "seed"]


@dataclass
class EngineAgreement:
    """What :func:`engine_agreement` measures."""

    cells: pd.DataFrame
    """One row per cell both engines hold: ``nmi_reference``, ``nmi_fast``, ``nmi_diff``
    (fast minus reference), ``seed_sd`` (s.d. over seeds of the reference NMI of the cell's
    dataset, condition, model and rank)."""
    by_model: pd.DataFrame
    """Per model: cells, mean and largest absolute NMI difference, mean seed s.d."""
    means: pd.DataFrame
    """Per (dataset, condition, model): the tables' statistic under both engines."""
    verdicts: pd.DataFrame
    """Per thesis-table comparison: the verdict under each engine."""
    n_verdicts: int
    n_changed: int
    beyond: tuple
    """The table entries that differ from the thesis by more than the book's threshold
    (:func:`metanmf_lab.grid.reporting.entries_beyond`) under each engine: (reference, fast)."""


def engine_agreement(cells, reference_settings, fast_settings, store):
    """Compare the rows of ``cells`` under ``reference_settings`` and ``fast_settings`` in
    ``store`` (nothing is computed)."""
    ref = select(stored_rows(cells, reference_settings, store), reference_settings)
    fast = select(stored_rows(cells, fast_settings, store), fast_settings)
    both = ref[KEY + ["nmi"]].merge(fast[KEY + ["nmi"]], on=KEY,
                                    suffixes=("_reference", "_fast"))
    both["nmi_diff"] = both["nmi_fast"] - both["nmi_reference"]
    sd = ref.groupby(["dataset", "condition", "model", "rank"])["nmi"].std().rename("seed_sd")
    both = both.join(sd, on=["dataset", "condition", "model", "rank"])
    by_model = (both.assign(abs_diff=both["nmi_diff"].abs())
                .groupby("model", sort=False)
                .agg(cells=("abs_diff", "size"), mean_abs_diff=("abs_diff", "mean"),
                     max_abs_diff=("abs_diff", "max"), seed_sd=("seed_sd", "mean"))
                .reindex([m for m in MODELS if m in set(both["model"])]))
    shared = both[KEY]
    ref, fast = (r.merge(shared, on=KEY) for r in (ref, fast))
    means = mean_over_ranks(ref).merge(mean_over_ranks(fast),
                                       on=["dataset", "condition", "model"],
                                       suffixes=("_reference", "_fast"))
    v_ref, v_fast = (stats.compare(r, PAIRS) for r in (ref, fast))
    on = ["dataset", "condition", "reference", "model"]
    verdicts = v_ref[on + ["verdict"]].merge(v_fast[on + ["verdict"]], on=on,
                                             suffixes=("_reference", "_fast"))
    changed = int((verdicts["verdict_reference"] != verdicts["verdict_fast"]).sum())
    beyond = tuple(entries_beyond(side_by_side(mean_over_ranks(r), thesis_tables()))
                   for r in (ref, fast))
    return EngineAgreement(both, by_model, means, verdicts, len(verdicts), changed, beyond)
