"""The chapter "Related method: AltBi, penalty weights learned inside NMF" (Selicato's poster;
Del Buono et al. 2023): the hypergradient check, the poster's synthetic benchmarks rebuilt,
AltBi against MU, the oracle-tuned MU-P and its control, and the poster's Fig. 1.

:func:`values` runs the benchmarks (seconds per run; there is no store) and returns
:class:`AltBiValues`; :func:`build` takes the runs' tables, so the tests call it on small ones.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from ...grid.stats import signed_rank_p
from ...related import altbi
from .. import display
from . import Prose, comparison_cells, interval_text as _interval_text

#: The methods of the summary, in its order: (method, label of the table).
SUMMARY_METHODS = (("MU", "MU"), ("MU-P", "MU-P, best of grid"),
                   ("MU-P (bunched)", "MU-P, bunches (control)"), ("AltBi", "AltBi"))

#: The measures of the comparisons and how they read.
MEASURES = {"sir_W": "SIR of W", "sir_H": "SIR of H"}

#: The three kinds of reference of :func:`metanmf_lab.related.altbi.comparisons`, as they read.
REFERENCE_KINDS = ("MU", "MU-P, best of grid", "MU-P, bunches (control)")


def reference_kind(reference):
    """The kind of a reference of :func:`metanmf_lab.related.altbi.comparisons`: "MU", "MU-P, best
    of
    grid" (``"MU-P (λ=...)"``) or "MU-P, bunches (control)"."""
    if reference == "MU":
        return REFERENCE_KINDS[0]
    if reference.startswith("MU-P, bunches"):
        return REFERENCE_KINDS[2]
    if reference.startswith("MU-P"):
        return REFERENCE_KINDS[1]
    raise ValueError(f"unknown reference {reference!r}.")


def interval_text(difference, low, high, digits=1):
    """A difference (dB) and its interval as one cell: "−6.7 [−9.8, −3.6]"."""
    return _interval_text(difference, low, high, digits)


def _weight(value):
    return f"{float(value):g}"


def per_benchmark(series):
    """A value per benchmark in prose: "A: 0.012, B: 0.3"."""
    return ", ".join(f"{b}: {v}" for b, v in series.items())


def sir_table(results, best):
    """Mean SIR of W and of H (dB, over seeds) per method (rows: MU, MU-P at the grid's best
    weight, the control, AltBi) and benchmark (columns: benchmark, then W / H)."""
    rows = []
    for method, label in SUMMARY_METHODS:
        row = {("", "method"): label}
        for bench in dict.fromkeys(results["benchmark"]):
            g = results[(results.benchmark == bench) & (results.method == method)]
            if method == "MU-P":
                g = g[g.lam == best[bench]]
            for measure, name in (("sir_W", "W"), ("sir_H", "H")):
                row[(bench, name)] = float(g[measure].mean()) if len(g) else np.nan
        rows.append(row)
    out = pd.DataFrame(rows)
    out.columns = pd.MultiIndex.from_tuples(out.columns)
    return out


def summary_long(summary):
    """:func:`metanmf_lab.related.altbi.summary_table` (cells "mean [interval]") with its index as
    columns and human headers, for the folded full table."""
    out = summary.reset_index()
    return out.rename(columns={"sir_W": "SIR of W, dB", "sir_H": "SIR of H, dB",
                               "hoyer_W": "Hoyer sparsity of W", "response": "response",
                               "seconds": "s per run"})


def comparisons_shown(cmp):
    """The comparisons as the folded table shows them: benchmark, measure, reference, AltBi
    minus it [95% interval] (dB), Holm-adjusted p and verdict."""
    return pd.DataFrame({
        "benchmark": cmp["benchmark"].to_numpy(),
        "measure": [MEASURES.get(m, m) for m in cmp["measure"]],
        "reference": cmp["reference"].to_numpy(),
        **comparison_cells(cmp, "AltBi minus reference, dB", digits=1),
    })


def verdict_counts(cmp):
    """How many comparisons are "better", "worse" and "undecided", and in all."""
    counts = {v: int((cmp.verdict == v).sum()) for v in ("better", "worse", "undecided")}
    counts["total"] = len(cmp)
    return counts


def smallest_p(n_seeds, n_comparisons):
    """The smallest p-value Wilcoxon's signed-rank test can give over ``n_seeds`` paired seeds
    (every difference of one sign), and the same after Holm's adjustment over
    ``n_comparisons`` comparisons (at most 1)."""

    if n_seeds < 1:
        return float("nan"), float("nan")
    p = signed_rank_p(np.arange(1.0, n_seeds + 1))
    return p, min(1.0, p * n_comparisons)


def found_sentence(cmp, lam_end, lam0):
    """What the comparison found, from its verdicts: all comparisons, the control alone (which
    isolates learning the weights, with the largest significant gain), and where the learned
    weights end."""
    allc = verdict_counts(cmp)
    ctrl = cmp[[reference_kind(r) == REFERENCE_KINDS[2] for r in cmp["reference"]]]
    c = verdict_counts(ctrl)
    gains = ctrl[ctrl.verdict == "better"]["difference"]
    gain = f" (by at most {gains.max():.1f} dB)" if len(gains) else ""
    n_bench = cmp["benchmark"].nunique()
    fall = "fall" if (lam_end.astype(float) < lam0).all() else "move"
    return Prose(
        f"On our rebuilds of the poster's {n_bench} benchmarks, AltBi's recovery of the true "
        f"factors (SIR of W or of H) is significantly better in {allc['better']}, worse in "
        f"{allc['worse']} and undecided in {allc['undecided']} of the {allc['total']} "
        f"comparisons with MU, the oracle-tuned MU-P and its control; against the control "
        f"alone, which isolates learning the weights, it is better in {c['better']}{gain}, "
        f"worse in {c['worse']} and undecided in {c['undecided']} of {c['total']}. "
        f"The weights it learns {fall} from {_weight(lam0)} (their mean at the end: "
        f"{per_benchmark(lam_end)}).")


def sure_sentence(n_seeds, n_comparisons):
    """How sure the verdicts can be: seeds, the test, and the smallest adjusted p-value."""
    p, p_holm = smallest_p(n_seeds, n_comparisons)
    return Prose(
        f"Each benchmark is run with {n_seeds} seeds (each draws the data and the start) and "
        f"every comparison is paired over them (Wilcoxon's signed-rank test, Holm's adjustment "
        f"over the {n_comparisons}). With {n_seeds} seeds the smallest possible p-value is "
        f"{p:.2g}, {p_holm:.2g} after the adjustment: a verdict other than \"undecided\" "
        f"needs AltBi ahead (or behind) on every seed.")


def differences_figure(cmp):
    """AltBi minus each reference (dB) per benchmark, for the SIR of W (left) and of H (right):
    the mean over seeds with its 95% interval, a filled marker where the verdict is
    significant; the legend below."""

    benches = list(dict.fromkeys(cmp["benchmark"]))
    pal = dict(zip(REFERENCE_KINDS, sns.color_palette("colorblind", 3)))
    markers = dict(zip(REFERENCE_KINDS, ("o", "s", "D")))
    kinds = [reference_kind(r) for r in cmp["reference"]]
    fig = Figure(figsize=(6.6, 1.3 + 0.45 * len(benches)), dpi=100, layout="constrained")
    axes = fig.subplots(1, 2, sharey=True)
    for ax, (measure, name) in zip(axes, MEASURES.items()):
        part = cmp.assign(kind=kinds)[cmp["measure"] == measure]
        for j, kind in enumerate(REFERENCE_KINDS):
            for i, bench in enumerate(benches):
                r = part[(part.benchmark == bench) & (part.kind == kind)]
                if r.empty:
                    continue
                r = r.iloc[0]
                y = i + (j - 1) * 0.22
                err = ([[r.difference - r.low], [r.high - r.difference]]
                       if np.isfinite(r.low) else None)
                ax.errorbar([r.difference], [y], xerr=err, fmt=markers[kind], ms=6,
                            color=pal[kind], capsize=2.5,
                            mfc=pal[kind] if r.verdict != "undecided" else "white")
        ax.axvline(0, color="0.4", lw=0.8)
        ax.set_xlabel(f"AltBi minus reference, {name} (dB)", fontsize=10)
        ax.tick_params(labelsize=10)
    axes[0].set_yticks(range(len(benches)), benches)
    axes[0].invert_yaxis()
    handles = [Line2D([], [], marker=markers[k], color=pal[k], ls="", ms=6, label=k)
               for k in REFERENCE_KINDS]
    handles.append(Line2D([], [], marker="o", color="0.4", mfc="white", ls="", ms=6,
                          label="not significant"))
    fig.legend(handles=handles, loc="outside lower center", ncols=2, frameon=False,
               fontsize=10)
    return fig


def curves_figure(curves, benchmarks, labels, value="response"):
    """The poster's Fig. 1, one measure: ``value`` ("response" or "objective") against the
    outer iteration, median over seeds, log scale, a panel per benchmark in rows of two, a
    line per method label (in the order of ``labels``; AltBi black and thick, the control
    dashed), the legend below."""

    pal = dict(zip(labels, sns.color_palette("colorblind", len(labels))))
    style = {label: dict(color=pal[label], lw=1.4) for label in labels}
    for label in labels:
        if label.startswith("AltBi"):
            style[label] = dict(color="black", lw=2.0)
        elif label.startswith("MU-P, bunches"):
            style[label] = dict(color=pal[label], lw=1.6, ls="--")
    n = max(1, len(benchmarks))
    ncols = min(2, n)
    nrows = -(-n // ncols)
    fig = Figure(figsize=(6.6, 1.0 + 2.0 * nrows), dpi=100, layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False, sharex=True)
    for ax, bench in zip(axes.flat, benchmarks):
        part = curves[curves.benchmark == bench]
        for label in labels:
            c = part[part.label == label]
            if c.empty:
                continue
            med = c.groupby("iteration")[value].median()
            ax.plot(med.index, np.maximum(med.to_numpy(), 1e-30), label=label,
                    **style[label])
        ax.set_yscale("log")
        ax.set_title(f"Benchmark {bench}", fontsize=11)
        ax.tick_params(labelsize=10)
    for ax in axes[-1]:
        ax.set_xlabel("outer iteration", fontsize=10)
    for ax in axes[:, 0]:
        ax.set_ylabel(value, fontsize=10)
    for ax in list(axes.flat)[n:]:
        ax.set_axis_off()
    handles, names = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, names, loc="outside lower center", ncols=3, frameon=False,
               fontsize=10)
    return fig


@dataclass
class AltBiValues:
    """What the chapter shows (glued by name)."""

    hg_error_frob: str
    hg_error_kl: str
    n_bench_seeds: int
    max_iter: int
    inner_iter: int
    lam_lr: str
    lam0: str
    found: Prose
    sure: Prose
    best_weights: str
    table_sir: object
    table_sir_full: object
    fig_differences: object
    table_altbi_tests: object
    fig_curves: object
    fig_objective: object
    lam_end: str
    mu_sir_w: str
    seconds: str
    # for the checkpoint
    n_runs: int
    methods: str
    n_comparisons: int


def build(results, curves, *, lam_grid, lam0, lam_lr, inner_iter, max_iter, hg_errors):
    """:class:`AltBiValues` from the runs of :func:`metanmf_lab.related.altbi.run_benchmark` (all
    benchmarks concatenated), the settings that made them and the hypergradient check's
    errors (``{"frobenius": ..., "kl": ...}``)."""

    results = results.assign(label=altbi.method_labels(results))
    curves = curves.assign(label=altbi.method_labels(curves))
    benches = list(dict.fromkeys(results["benchmark"]))
    best = altbi.best_grid_weight(results)
    cmp = altbi.comparisons(results)
    labels = (["MU"] + [f"MU-P (λ={v:g})" for v in lam_grid]
              + [f"MU-P, bunches (λ={lam0:g})", f"AltBi (from λ={lam0:g})"])
    alt = results[results.method == "AltBi"]
    lam_end = alt.groupby("benchmark", sort=False)["lam_final"].mean().map(lambda v: f"{v:.3g}")
    mu_sir = results[results.method == "MU"].groupby("benchmark", sort=False)["sir_W"].mean()
    secs = results.groupby("method")["seconds"].mean()
    n_seeds = int(results.groupby(["benchmark", "method", "lam"])["seed"].nunique().min())
    return AltBiValues(
        hg_error_frob=f"{hg_errors['frobenius']:.1e}",
        hg_error_kl=f"{hg_errors['kl']:.1e}",
        n_bench_seeds=n_seeds,
        max_iter=int(max_iter),
        inner_iter=int(inner_iter),
        lam_lr=_weight(lam_lr),
        lam0=_weight(lam0),
        found=found_sentence(cmp, lam_end, lam0),
        sure=sure_sentence(n_seeds, len(cmp)),
        best_weights=per_benchmark(best.map(_weight)),
        table_sir=display.table(sir_table(results, best), digits=1),
        table_sir_full=display.table(summary_long(altbi.summary_table(results))),
        fig_differences=differences_figure(cmp),
        table_altbi_tests=display.table(comparisons_shown(cmp)),
        fig_curves=curves_figure(curves, benches, labels, "response"),
        fig_objective=curves_figure(curves, benches, labels, "objective"),
        lam_end=per_benchmark(lam_end),
        mu_sir_w=per_benchmark(mu_sir.map(lambda v: f"{v:.0f} dB")),
        seconds=(f"{secs.get('AltBi', np.nan):.2g} s against {secs.get('MU', np.nan):.2g} s "
                 f"for MU"),
        n_runs=len(results),
        methods=", ".join(sorted(set(results["method"]))),
        n_comparisons=len(cmp),
    )


def values(P):
    """The chapter's values for the checked parameters ``P`` of its notebook: every method on
    every benchmark and seed of ``P`` (computed here: seconds per run)."""

    for name, allowed in (("loss", altbi.LOSSES), ("penalty", altbi.PENALTIES)):
        if P[name] not in allowed:
            raise ValueError(f"{name} must be one of {allowed}, got {P[name]!r}.")
    results, curves = [], []
    for bench in P.benchmarks:
        r, c = altbi.run_benchmark(bench, P.bench_seeds, P.lam_grid, lam0=P.lam0,
                                   lam_lr=P.lam_lr, inner_iter=P.inner_iter,
                                   max_iter=P.max_iter, loss=P.loss, penalty=P.penalty,
                                   n_jobs=P.n_jobs)
        results.append(r)
        curves.append(c)
    hg = {loss: altbi.hypergradient_check(loss=loss, penalty=P.penalty)
          for loss in ("frobenius", "kl")}
    return build(pd.concat(results, ignore_index=True), pd.concat(curves, ignore_index=True),
                 lam_grid=P.lam_grid, lam0=P.lam0, lam_lr=P.lam_lr, inner_iter=P.inner_iter,
                 max_iter=P.max_iter, hg_errors=hg)
