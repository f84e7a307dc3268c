"""The performance chapter: the benchmark's figures against their goals, what they say, and what
computing the result store cost.

:func:`values` reads the benchmark's CSV output (``data/benchmarks/``) and the result store.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import matplotlib.pyplot as plt
import pandas as pd

from ...data.datasets import DATASETS
from ...grid.bench import BENCH_DIR
from ...grid.engines import engine_agreement
from ...grid.catalogue import MODELS, model_kind
from ...grid.cells import make_grid
from ...grid.reporting import select, store_cost
from ...grid.runner import GRID_RUNS, stored_rows
from ..display import table
from . import Prose

__all__ = ["PerformanceValues", "bench_mode", "describe_figure", "engine_findings", "findings",
           "last_grid_run", "values"]

#: What each benchmark figure measures (the name without its problem suffix).
FIGURE_NAMES = {
    "mu_vs_gemm_bound": "MU iteration / its two products",
    "layout_gain": "layout gain of the X-product",
    "speedup_vs_sklearn_mu": "speed-up over scikit-learn's MU",
    "gnmf_sparse_vs_nmf": "GNMF / NMF iteration",
    "gnmf_peak_memory_mb": "GNMF peak memory (MB)",
    "meta_fit_scaling_exponent": "Meta-NMF: exponent of n",
    "nmf_fit_scaling_exponent": "NMF: exponent of n",
    "meta_fit_seconds": "Meta-NMF fit (s)",
    "float32_nmi_minus_float64": "NMI, float32 − float64",
    "grid_full_minutes_estimate": "thesis grid, estimate (min)",
    "grid_full_minutes_measured": "thesis grid, measured (min)",
    "grid_batched_minutes_estimate": "thesis grid, batched, estimate (min)",
    "grid_batched_minutes_measured": "thesis grid, batched, measured (min)",
    "batched_block_speedup": "batched engine: speed-up on a block",
    "batched_vs_gemm_bound": "batched solves / their two products",
    "batched_vs_traffic_bound": "batched solves / reading X twice",
    "batched_speedup_vs_sklearn_mu": "batched: speed-up over scikit-learn's MU",
    "bench_seconds": "the benchmark itself (s)",
}


def describe_figure(name):
    """A benchmark figure's name as a reader reads it: ``(what, problem)``, e.g.
    ``"mu_vs_gemm_bound_float64_784x3000_r18"`` -> ``("MU iteration / its two products",
    "float64, 784 × 3000, r = 18")``. Unknown names keep their words."""
    for stem, what in sorted(FIGURE_NAMES.items(), key=lambda kv: -len(kv[0])):
        if name == stem or name.startswith(stem + "_"):
            rest = name[len(stem) + 1:]
            break
    else:
        return name.replace("_", " "), ""
    parts = []
    for token in rest.split("_") if rest else []:
        if token in ("float32", "float64"):
            parts.append(token)
        elif m := re.fullmatch(r"(\d+)x(\d+)", token):
            parts.append(f"{int(m[1])} × {int(m[2])}")
        elif m := re.fullmatch(r"r(\d+)", token):
            parts.append(f"r = {m[1]}")
        elif m := re.fullmatch(r"([nm])(\d+)", token):
            parts.append(f"{m[1]} = {int(m[2]):,}")
        else:
            parts.append(DATASETS[token].display_name if token in DATASETS else token)
    if stem.startswith("grid_full_minutes") and not parts:
        parts.append("float64")
    if stem.startswith("grid_batched_minutes") and not parts:
        parts.append("float32")
    if stem == "batched_block_speedup" and not parts:
        parts.append("float64")
    return what, ", ".join(parts)


def bench_mode(mode, bench_dir):
    """The benchmark run to show: ``"full"`` or ``"quick"`` as asked, ``"auto"``: the full one if
    its output exists, else the quick one."""
    if mode not in ("auto", "full", "quick"):
        raise ValueError(f'mode must be "auto", "full" or "quick", got {mode!r}.')
    if mode == "auto":
        return "full" if (bench_dir / "bench-full.csv").exists() else "quick"
    return mode


def _goal(text):
    return str(text).replace("<=", "≤").replace(">=", "≥") if str(text) else "–"


def bench_table(bench, with_goal_only=True):
    """The benchmark's figures as a table: what, problem, value, goal, met (and the note, for
    the whole table)."""
    rows = []
    for r in bench.itertuples():
        if with_goal_only and not str(r.goal):
            continue
        what, problem = describe_figure(r.figure)
        row = {"figure": what, "problem": problem or "–", "value": float(r.value),
               "goal": _goal(r.goal),
               "met": {"True": "yes", "False": "no"}.get(str(r.met), "–")}
        if not with_goal_only:
            row["note"] = str(r.note) or "–"
        rows.append(row)
    return pd.DataFrame(rows)


def findings(f):
    """What the benchmark's figures ``f`` (figure name -> value) say, as a Markdown list."""
    def v(name, fmt=".2f"):
        return format(f[name], fmt)

    bound = "mu_vs_gemm_bound_{}_784x3000_r18"
    sk = "speedup_vs_sklearn_mu_{}_{}"
    return Prose("\n".join([
        f"- **Multiplicative updates run at the speed of their two products with X.** One "
        f"Frobenius iteration costs {v(bound.format('float64'))} times the two unavoidable "
        "products (WᵀX and XHᵀ, each in its fastest layout) on the 784 × 3000, rank-18 "
        f"problem in float64, {v(bound.format('float32'))} in float32. "
        + _layout(f["layout_gain_float64_784x3000_r18"]),
        f"- **Against scikit-learn's MU** (same start, iterations and dtype; same objective) "
        f"ours runs at {v(sk.format('float64', '784x3000_r18'))} and "
        f"{v(sk.format('float64', '500x5000_r10'))} times scikit-learn's speed in float64, "
        f"{v(sk.format('float32', '784x3000_r18'))} and "
        f"{v(sk.format('float32', '500x5000_r10'))} in float32: one model at a time, both sit "
        "near the bound of the products (the batched engine, below, is where the time is won).",
        f"- **GNMF with a sparse kNN graph** costs {v('gnmf_sparse_vs_nmf_n50000_m500')} NMF "
        "iterations per iteration at 50,000 samples × 500 features and never holds an n × n "
        f"array (peak {v('gnmf_peak_memory_mb_n50000', '.0f')} MB above the data); with 50 "
        f"features the sparse product weighs more ({v('gnmf_sparse_vs_nmf_n50000_m50')}).",
        f"- **Meta-NMF is linear in n up to the memory hierarchy**: its fit time grows with "
        f"exponent {v('meta_fit_scaling_exponent')} of n, like plain NMF on the same machine "
        f"({v('nmf_fit_scaling_exponent')}; X outgrows the caches). One full-setting fit on "
        f"FMNIST at rank 18 takes {v('meta_fit_seconds_fmnist_r18', '.0f')} s.",
        f"- **float32 end to end** gives the same clustering within seed noise (mean NMI "
        f"difference {v('float32_nmi_minus_float64_digits', '.3f')} on Digits) in about half "
        "the time on the large data sets.",
        f"- **The whole thesis grid, one cell at a time,** is estimated at "
        f"{v('grid_full_minutes_estimate', '.0f')} minutes on two cores in float64; the "
        f"batched engine (float32) at {v('grid_batched_minutes_estimate', '.0f')} minutes "
        "({ref}`batched-engine`)."]))


def _layout(gain):
    """What the measured layout gain says about the solver's float64 layout (held transposed,
    where OpenBLAS computes X Hᵀ faster as (H Xᵀ)ᵀ)."""
    if gain >= 1:
        return (f"Layout matters: OpenBLAS computes XHᵀ {gain:.2f} times faster as (HXᵀ)ᵀ in "
                "float64, so the solver holds the coefficients transposed there (not in "
                "float32).")
    return (f"The solver holds the coefficients transposed in float64, where OpenBLAS computed "
            f"XHᵀ faster as (HXᵀ)ᵀ on the machine that chose it; on this one that layout is "
            f"{1 / gain:.2f} times slower: the choice depends on the processor's kernels.")


def engine_findings(f, run, agreement, per_cell_minutes=None):
    """What the batched engine's figures ``f``, its measured grid ``run`` (a row of the grid
    log, or None) and its ``agreement`` with the reference rows say, as a Markdown list;
    ``per_cell_minutes``: the two-core time of the per-cell rows of the same grid."""
    def v(name, fmt=".2f"):
        return format(f[name], fmt)

    if run is None:
        measured = ("- **The whole thesis grid** has not been run from scratch with the batched "
                    "engine on this store (`make grid` logs the wall time of a run).")
    else:
        measured = (f"- **The whole thesis grid, measured:** {run['computed']:,} cells "
                    f"computed from scratch in **{run['wall_minutes']:.0f} minutes** of wall "
                    f"time with {run['jobs']} workers ({run['date_utc'][:10]}, {run['cpu']}), "
                    f"the batched engine in {run['dtype']}"
                    + (f", against at least {per_cell_minutes:.0f} minutes on two cores for "
                       "the per-cell rows ({numref}`tbl-grid-cost`)."
                       if per_cell_minutes else "."))
    lines = [
        measured,
        f"- **One block, two engines:** the 30 cells of Meta-NMF on FMNIST (6 ranks × 5 "
        f"seeds) are fitted {v('batched_block_speedup')} times faster batched than one at a "
        f"time in float64, {v('batched_block_speedup_float32')} times faster batched in float32 "
        "(a run of a few epochs, where the evaluation phase weighs more; the whole grid, "
        "whose Meta models spend 50 epochs, gains more).",
        f"- **Near the hardware limit:** the stacked solves take "
        f"{v('batched_vs_gemm_bound_float64')} (float64) and "
        f"{v('batched_vs_gemm_bound_float32')} (float32) times the time of their two "
        "products with X at the stack's width, and "
        f"{v('batched_vs_traffic_bound_float64')} and {v('batched_vs_traffic_bound_float32')} "
        "times the time of reading each X twice per iteration: arithmetic, not memory "
        "traffic, is now the limit.",
        f"- **Against scikit-learn's MU** on the same work (30 NMF fits of FMNIST's "
        f"evaluation half, 100 iterations each), the batched engine is "
        f"{v('batched_speedup_vs_sklearn_mu')} times faster."]
    if agreement is not None and agreement.n_verdicts:
        by = agreement.cells
        within = float((by["nmi_diff"].abs() <= by["seed_sd"]).mean())
        lines.append(
            f"- **Same conclusions:** over {len(by):,} cells the batched float32 NMI differs "
            f"from the reference (per cell, float64) by {by['nmi_diff'].abs().mean():.4f} on "
            f"average, at most {by['nmi_diff'].abs().max():.3f}; {within:.0%} of the "
            "differences are within the seed s.d. of their cell. The tables' means differ by "
            f"at most {_max_mean_diff(agreement):.3f}, and "
            f"{agreement.n_verdicts - agreement.n_changed} of the {agreement.n_verdicts} "
            "thesis-table verdicts are unchanged; the entries that differ from the thesis by "
            f"more than 0.03 are {_same(agreement.beyond)}.")
    return Prose("\n".join(lines))


def _same(beyond):
    ref, fast = (set(b) for b in beyond)
    if ref == fast:
        return f"the same {len(ref)}"
    return (f"{len(ref & fast)} in common, {len(ref - fast)} only under the reference engine and "
            f"{len(fast - ref)} only under the batched one")


def _max_mean_diff(agreement):
    m = agreement.means
    return float((m["ours_fast"] - m["ours_reference"]).abs().max())


def last_grid_run(settings, n_cells, path=GRID_RUNS):
    """The latest run in the grid log that computed all ``n_cells`` cells under ``settings``
    from scratch (a dict), or None."""
    try:
        runs = pd.read_csv(path, keep_default_na=False)
    except FileNotFoundError:
        return None
    runs = runs[(runs["settings_hash"] == settings.hash) & (runs["computed"] == n_cells)
                & (runs["cells"] == n_cells)]
    return None if runs.empty else runs.iloc[-1].to_dict()


@dataclass
class PerformanceValues:
    """What the performance chapter shows (glued by field name)."""

    mode: str
    machine: str
    bench_date: str
    n_figures: int
    n_goals: int
    n_met: int
    findings: Prose
    grid_cells: int
    grid_cells_expected: int
    grid_core_minutes: float
    grid_two_core_minutes: float
    store_rows: int
    store_core_hours: float
    store_two_core_hours: float
    store_costliest: str
    cost_columns: str
    table_bench: object
    table_bench_all: object
    table_grid_cost: object
    table_store_cost: object
    fig_scaling: object
    engine_findings: Prose
    table_engines: object
    n_engine_cells: int


def _scaling_figure(scaling):

    fig, ax = plt.subplots(figsize=(6.4, 3.0))
    for method, d in scaling.groupby("method", sort=False):
        d = d.sort_values("n_samples")
        ax.loglog(d["n_samples"], d["seconds"], marker="o", label=method)
    ax.set_xlabel("samples n", fontsize=10)
    ax.set_ylabel("fit time (s)", fontsize=10)
    ax.tick_params(labelsize=9)
    ax.legend(loc="center left", bbox_to_anchor=(1.02, 0.5), fontsize=10, frameon=False)
    fig.tight_layout()
    return fig


def values(P, bench_dir=None):
    """Everything the performance chapter shows, for the checked parameters ``P`` (``mode``,
    ``profile``); ``bench_dir`` defaults to :data:`metanmf_lab.grid.bench.BENCH_DIR`."""

    bench_dir = BENCH_DIR if bench_dir is None else bench_dir
    mode = bench_mode(P.mode, bench_dir)
    bench = pd.read_csv(bench_dir / f"bench-{mode}.csv", keep_default_na=False)
    scaling = pd.read_csv(bench_dir / f"scaling-{mode}.csv")
    machine = bench.iloc[0]
    figures = bench.set_index("figure")["value"].astype(float)
    with_goal = bench[bench["goal"].astype(str) != ""]

    cells = make_grid(list(P.profile_.datasets), models=MODELS, ranks=P.profile_.ranks,
                      seeds=P.profile_.seeds)
    rows = select(stored_rows(cells, P.settings, P.store), P.settings)
    kinds = {"baseline": "baselines (min)", "meta": "Meta models (min)"}
    cost = (rows.assign(kind=rows.model.map(model_kind).map(kinds))
            .pivot_table(index="dataset", columns="kind", values="seconds", aggfunc="sum")
            .div(60))
    cost = cost.reindex([d for d in DATASETS if d in cost.index])
    cost["all (min)"] = cost.sum(axis=1)
    cost.index = [DATASETS[d].display_name for d in cost.index]
    whole = store_cost(P.store.load(), P.settings, P.profile_.seeds)
    fast = P.settings.fast()
    agreement = engine_agreement(cells, P.settings, fast, P.store)
    run = last_grid_run(fast, len(cells))
    costliest = whole.drop("all")["core_hours"].nlargest(2).index
    return PerformanceValues(
        mode=mode, machine=f"{machine.cpu}, {machine.cores} cores, {machine.blas}",
        bench_date=str(machine.date_utc), n_figures=len(bench), n_goals=len(with_goal),
        n_met=int((with_goal["met"].astype(str) == "True").sum()),
        findings=findings(figures),
        grid_cells=len(rows), grid_cells_expected=len(cells),
        grid_core_minutes=float(rows.seconds.sum()) / 60,
        grid_two_core_minutes=float(rows.seconds.sum()) / 120,
        store_rows=int(whole.loc["all", "rows"]),
        store_core_hours=float(whole.loc["all", "core_hours"]),
        store_two_core_hours=float(whole.loc["all", "two_core_hours"]),
        store_costliest=" and ".join(costliest) if len(costliest) else "none",
        cost_columns=", ".join(cost.columns),
        table_bench=table(bench_table(bench)),
        table_bench_all=table(bench_table(bench, with_goal_only=False)),
        table_grid_cost=table(cost.rename_axis("data set"), index=True, digits=1),
        table_store_cost=table(whole.rename_axis("part"), index=True, digits=2,
                               headers={"core_hours": "core-hours",
                                        "two_core_hours": "hours on two cores"}),
        fig_scaling=_scaling_figure(scaling),
        engine_findings=engine_findings(figures, run, agreement,
                                        float(rows.seconds.sum()) / 120),
        table_engines=table(agreement.by_model.reset_index(), digits=4, headers={
            "cells": "cells", "mean_abs_diff": "mean |ΔNMI|", "max_abs_diff": "largest |ΔNMI|",
            "seed_sd": "seed s.d. of the NMI"}),
        n_engine_cells=len(agreement.cells))
