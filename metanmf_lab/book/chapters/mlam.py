"""The chapter "Related method: meta-learned alternating minimisation (MLAM)" (Xia et al.
2023): matrix completion and Gaussian mixtures beside the paper's Tables I-III and VI, the NMF
version, and wall time.

:func:`values` reads the result store (computing what it lacks) and returns
:class:`MLAMValues`; the functions it calls take plain tables, so the tests call them on small
ones.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure

from ...grid import published
from ...related import mlam
from .. import display
from ..notebook import power_of_ten
from . import Prose, comparison_cells, dataset_name as _dataset_name, interval_text

#: The methods of our completion experiments, in the order the tables show them.
COMPLETION_METHODS = ("MLAM", "GD", "ALS", "ALS (tuned ridge)")

#: Our method -> the paper's name for the same method (its "SGD" is our GD without sampling).
PAPER_NAMES = {"MLAM": "MLAM", "GD": "SGD", "ALS": "ALS", "EM": "EM"}

#: How a parameter of the experiments reads as a column header.
PARAM_NAMES = {"rate": "θ", "rank": "rank", "p": "p", "dim": "dimension"}

#: How the experiments read in a table.
EXPERIMENT_NAMES = {"completion": "matrix completion", "gmm": "Gaussian mixtures",
                    "nmf": "NMF"}

#: Who a row of a side-by-side table is from.
OURS, PAPER = "ours", "paper"


def mean_text(mean, low, high, digits=3):
    """A mean and its interval as one cell: "0.165 [0.115, 0.216]"."""
    if not (np.isfinite(low) and np.isfinite(high)):
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} [{low:.{digits}f}, {high:.{digits}f}]"


def paper_value(value):
    """A number of the paper's tables as it prints it: ">1" where it does (stored as inf)."""
    return ">1" if np.isinf(value) else f"{value:g}"


def _number(value):
    """A parameter value as a header reads it: 0.2 -> "0.2", 20.0 -> "20"."""
    v = float(value)
    return str(int(v)) if v.is_integer() else f"{v:g}"


def side_by_side(summary, paper, param, table, rebuilt=("MLAM", "SGD", "ALS", "EM")):
    """Ours beside the paper's table: a row per method and source (ours: our mean over test
    problems, 3 decimals; the paper's: its cells as printed, :func:`paper_value`, for the
    methods in ``rebuilt``), a column per value of ``param`` that we ran (the paper's values
    we did not run are left out).

    ``summary`` is :func:`metanmf_lab.related.mlam.summary` of one measure; ``paper`` is
    :func:`metanmf_lab.grid.published.mlam_tables`; ``table`` the paper's table ("I", "II", ...).
    """
    values = sorted(float(v) for v in summary[param].unique())
    cols = [f"{PARAM_NAMES.get(param, param)} = {_number(v)}" for v in values]
    rows = []
    for method, g in summary.groupby("method", sort=False):
        means = dict(zip(g[param].astype(float), g["mean"]))
        rows.append({"method": method, "from": OURS,
                     **{c: f"{means[v]:.3f}" if v in means else None
                        for c, v in zip(cols, values)}})
    order = {m: i for i, m in enumerate(COMPLETION_METHODS + ("EM",))}
    rows.sort(key=lambda r: order.get(r["method"], len(order)))
    t = paper[(paper.table == table) & paper.value_of.astype(float).isin(values)
              & paper.method.isin(rebuilt)]
    for method, g in t.groupby("method", sort=False):
        cells = dict(zip(g.value_of.astype(float), g.value))
        rows.append({"method": method, "from": PAPER,
                     **{c: paper_value(cells[v]) if v in cells else None
                        for c, v in zip(cols, values)}})
    return pd.DataFrame(rows, columns=["method", "from"] + cols)


def grouped_headers(table, param):
    """Headers of a :func:`side_by_side` table in two rows, the parameter's name over its
    values ("rank" over "5", "10", ...), so that the columns stay narrow."""
    name = PARAM_NAMES.get(param, param)
    return {c: ((name, c.split(" = ", 1)[1]) if c.startswith(f"{name} = ") else ("", c))
            for c in table.columns}


def comparisons_shown(cmp, param):
    """:func:`metanmf_lab.related.mlam.comparisons` as the book shows them: the parameter, the
    other method, MLAM minus it [95% interval], the Holm-adjusted p-value and the verdict."""
    return pd.DataFrame({
        PARAM_NAMES.get(param, param): [_number(v) for v in cmp[param]],
        "against": cmp["method"].to_numpy(),
        **comparison_cells(cmp, "MLAM minus method"),
    })


def intervals_table(summaries):
    """Our completion RMSEs with their 95% intervals, one row per setting (θ, rank, p) and a
    column per method; ``summaries`` are :func:`metanmf_lab.related.mlam.summary` tables by
    ``["rate", "rank", "p"]`` (duplicated settings are shown once)."""
    s = pd.concat(summaries, ignore_index=True).drop_duplicates(["rate", "rank", "p", "method"])
    s = s.assign(cell=[mean_text(m, lo, hi) for m, lo, hi in zip(s["mean"], s.low, s.high)])
    out = s.pivot_table(index=["rate", "rank", "p"], columns="method", values="cell",
                        aggfunc="first").reset_index()
    out = out[["rate", "rank", "p"] + [m for m in COMPLETION_METHODS if m in out.columns]]
    for c in ("rate", "rank", "p"):
        out[c] = [_number(v) for v in out[c]]
    return out.rename(columns={"rate": "θ"})


def gmm_table(summary, cmp, paper):
    """The Gaussian mixtures in one table: per dimension our EM and MLAM (mean negative
    log-likelihood per point), the paper's Table VI (its cells as printed; "–" where it has no
    column), and MLAM minus EM paired over test problems with its verdict (the p-values are
    :func:`p_range`)."""
    dims = sorted(float(d) for d in summary["dim"].unique())
    ours = summary.assign(dim=summary["dim"].astype(float)).set_index(["dim", "method"])["mean"]
    t = paper[paper.table == "VI"].assign(value_of=lambda d: d.value_of.astype(float))
    t = t.set_index(["value_of", "method"])["value"]
    c = cmp.assign(dim=cmp["dim"].astype(float)).set_index("dim")
    diff = "MLAM minus EM"
    rows = []
    for d in dims:
        row = {("", "dimension"): _number(d)}
        for m in ("EM", "MLAM"):
            row[(OURS, m)] = float(ours.get((d, m), np.nan))
        for m in ("EM", "MLAM"):
            row[(PAPER, m)] = paper_value(t[(d, m)]) if (d, m) in t.index else None
        r = c.loc[d] if d in c.index else None
        row[(diff, "mean [95% interval]")] = (None if r is None else
                                              interval_text(r.difference, r.low, r.high))
        row[(diff, "verdict")] = None if r is None else r.verdict
        rows.append(row)
    out = pd.DataFrame(rows)
    out.columns = pd.MultiIndex.from_tuples(out.columns)
    return out


def p_range(cmp):
    """The Holm-adjusted p-values of a table of comparisons as a range: "2.6e-10 to 6.5e-05"
    (one value alone when they are equal, "–" when there are none)."""
    p = np.asarray(cmp["p_holm"], dtype=float) if len(cmp) else np.array([])
    p = p[np.isfinite(p)]
    if not p.size:
        return "–"
    lo, hi = f"{p.min():.2g}", f"{p.max():.2g}"
    return lo if lo == hi else f"{lo} to {hi}"


def nmf_table(nmf):
    """The NMF version: mean relative error and NMI (over seeds) per dataset and method after
    each number of updates per block; columns (measure, updates)."""
    part = nmf[nmf.measure.isin(["error", "nmi"])]
    agg = part.groupby(["dataset", "method", "measure", "t"])["value"].mean().unstack(
        ["measure", "t"])
    agg = agg.reindex(columns=sorted(agg.columns, key=lambda c: (c[0] != "error", c[1])))
    rows = []
    for (ds, method), r in agg.iterrows():
        row = {("", "dataset"): _dataset_name(ds), ("", "method"): method}
        for (measure, t), v in r.items():
            row[("relative error" if measure == "error" else "NMI", f"{int(t):,} updates")] = v
        rows.append(row)
    out = pd.DataFrame(rows)
    out.columns = pd.MultiIndex.from_tuples(out.columns)
    return out


def nmf_last_table(nmf):
    """The NMF version after the largest number of updates: a row per dataset, MLAM beside MU
    for the error and the NMI (means over seeds)."""
    last = nmf[(nmf.t == nmf.t.max()) & nmf.measure.isin(["error", "nmi"])]
    agg = last.groupby(["dataset", "measure", "method"])["value"].mean().unstack(
        ["measure", "method"])
    names = {"error": "relative error", "nmi": "NMI"}
    cols = [(m, meth) for m in ("error", "nmi") for meth in ("MLAM", "MU")
            if (m, meth) in agg.columns]
    out = pd.DataFrame({("", "dataset"): [_dataset_name(d) for d in agg.index],
                        **{(names[m], meth): agg[(m, meth)].to_numpy() for m, meth in cols}})
    out.columns = pd.MultiIndex.from_tuples(out.columns)
    return out


def wall_table(rows):
    """Seconds per test problem (mean over settings) and of MLAM's training, per experiment
    and method."""
    secs = rows[rows.measure.isin(["seconds", "train_seconds"])]
    wall = secs.groupby(["experiment", "setting", "method", "measure"])["value"].mean()
    wall = wall.unstack("measure").groupby(["experiment", "method"]).mean()
    wall = wall.reindex(columns=["seconds", "train_seconds"]).reset_index()
    wall["experiment"] = [EXPERIMENT_NAMES.get(e, e) for e in wall["experiment"]]
    return wall.rename(columns={"seconds": "s per test problem",
                                "train_seconds": "training, s"})


def loss_figure(traj):
    """The global loss relative to its start against the outer iteration (median over test
    problems), a panel per observation rate in rows of four, log-log, the legend below."""

    rates = sorted(traj["rate"].unique())
    n = max(1, len(rates))
    ncols = min(4, n)
    nrows = -(-n // ncols)
    fig = Figure(figsize=(6.6, 0.8 + 2.0 * nrows), dpi=100, layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False, sharex=True, sharey=True)
    methods = [m for m in COMPLETION_METHODS if m in set(traj["method"])]
    pal = dict(zip(methods, sns.color_palette("colorblind", len(methods))))
    for ax, rate in zip(axes.flat, rates):
        g = traj[traj.rate == rate]
        start = g[g.t == 0][["seed", "problem", "method", "value"]].rename(
            columns={"value": "start"})
        g = g.merge(start, on=["seed", "problem", "method"])
        for method in methods:
            gm = g[g.method == method]
            curve = (gm["value"] / gm["start"]).groupby(gm["t"]).median()
            ax.plot(curve.index.to_numpy() + 1, curve.to_numpy(), marker="o", ms=3,
                    color=pal[method], label=method)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_title(f"θ = {_number(rate)}", fontsize=11)
        ax.tick_params(labelsize=10)
    for ax in axes[-1]:
        ax.set_xlabel("outer iteration + 1", fontsize=10)
    for ax in axes[:, 0]:
        ax.set_ylabel("loss / loss at start", fontsize=10)
    for ax in list(axes.flat)[n:]:
        ax.set_axis_off()
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncols=len(labels), frameon=False,
               fontsize=10)
    return fig


def _seconds(value):
    """Seconds in two significant digits, whole above 10: 9.4, 0.025, 34."""
    return f"{value:.0f}" if value >= 10 else f"{value:.2g}"


def _and(items):
    items = list(items)
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def wall_sentence(wall):
    """MLAM's seconds per test problem against the fastest other method of each experiment,
    and its training time, from :func:`wall_table`."""
    parts, train = [], []
    for exp, g in wall.groupby("experiment", sort=False):
        g = g.set_index("method")
        if "MLAM" not in g.index or len(g) < 2:
            continue
        other = g.drop(index="MLAM")["s per test problem"].idxmin()
        per = "" if parts else " per test problem"
        parts.append(f"{_seconds(g.loc['MLAM', 's per test problem'])} s{per} against "
                     f"{_seconds(g.loc[other, 's per test problem'])} s for {other} on {exp}")
        if np.isfinite(g.loc["MLAM", "training, s"]):
            train.append(f"{_seconds(g.loc['MLAM', 'training, s'])} s")
    if not parts:
        return Prose("")
    text = "Our MLAM takes " + _and(parts)
    if len(train) == len(parts):
        text += f", after {_and(train)} of training"
    return Prose(text + ".")


def _final(part, method, measure="rmse"):
    v = part[(part.method == method) & (part.measure == measure) & (part.t == part.t.max())]
    return float(v["value"].mean()) if len(v) else float("nan")


def completion_sentence(rates, cmp, paper):
    """What the completion experiment found at the observation rates of Table I, built from
    the numbers: MLAM against GD and ALS at the lowest rate and whether the paper's ordering
    of the three holds, ALS with a tuned ridge, and the rates at which GD and ALS beat MLAM."""
    low = float(rates.rate.min())
    part = rates[rates.rate == low]
    ours = {m: _final(part, m) for m in COMPLETION_METHODS}
    t = paper[(paper.table == "I") & (paper.value_of.astype(float) == low)]
    theirs = dict(zip(t.method, t.value))
    three = ("MLAM", "GD", "ALS")
    same = (sorted(three, key=ours.get)
            == sorted(three, key=lambda m: theirs.get(PAPER_NAMES[m], np.inf)))
    text = (f"On matrix completion at observation rate {_number(low)} our MLAM reaches an "
            f"RMSE of {ours['MLAM']:.3f}, against {ours['GD']:.3f} for GD and "
            f"{ours['ALS']:.3f} for ALS at the problem's own ridge weight"
            + (": the paper's ordering of these three holds. " if same else
               ", not the paper's ordering of these three. "))
    below = ours["ALS (tuned ridge)"] < ours["MLAM"]
    text += (f"ALS with its ridge weight tuned on the training problems reaches "
             f"{ours['ALS (tuned ridge)']:.3f}, {'below' if below else 'above'} MLAM's. ")
    higher = sorted(float(r) for r in rates.rate.unique() if float(r) > low)
    beaten = [r for r in higher
              if all((cmp[(cmp.rate.astype(float) == r) & (cmp.method == m)].verdict
                      == "worse").all() and ((cmp.rate.astype(float) == r)
                                             & (cmp.method == m)).any() for m in ("GD", "ALS"))]
    if beaten and beaten == higher:
        text += (f"From rate {_number(beaten[0])} on, plain GD and ALS recover the matrices "
                 f"significantly better than our MLAM.")
    elif beaten:
        text += (f"At rates {', '.join(_number(r) for r in beaten)}, plain GD and ALS recover "
                 f"the matrices significantly better than our MLAM.")
    elif higher:
        text += "At the higher rates neither GD nor ALS is significantly better than MLAM."
    return Prose(text)


def gmm_sentence(cmp, paper):
    """MLAM against EM on the Gaussian mixtures, ours beside the paper's Table VI."""
    t = paper[paper.table == "VI"].pivot_table(index="value_of", columns="method",
                                               values="value")
    paper_better = int((t["MLAM"] < t["EM"]).sum())
    n = {v: int((cmp.verdict == v).sum()) for v in ("better", "worse", "undecided")}
    return Prose(
        f"On Gaussian mixtures MLAM is better than EM from the same starts at {n['better']} "
        f"of the {len(cmp)} dimensions and worse at {n['worse']}, where the paper finds it "
        f"better at {paper_better} of its {len(t)}.")


def nmf_sentence(lower, cells, train_updates, max_updates):
    """The NMF version in one sentence."""
    return Prose(
        f"For NMF, MLAM's error ends below MU's in {lower} of the {cells} (dataset, seed) "
        f"cells: trained on {train_updates:,} updates per problem, the learned steps do not "
        f"carry over to the {max_updates:,} of the comparison.")


@dataclass
class MLAMValues:
    """What the chapter shows (glued by name)."""

    # the paper's and our settings, as the text states them
    paper_status: str
    paper_seconds_MLAM: str
    paper_seconds_ALS: str
    paper_lstm_layers: int
    paper_lstm_hidden: int
    paper_adam_lr: Prose
    paper_em_tol: Prose
    paper_table_iii_rank: int
    paper_gmm_k: int
    paper_gmm_points: int
    paper_matrix_size: int
    paper_matrix_shape: str
    paper_rank: int
    paper_rate: float
    paper_rate_percent: str
    paper_first_rank: int
    paper_first_dim: int
    n_outer: int
    t_in: int
    t_out: int
    hidden: int
    lam: float
    lr: Prose
    # what we found
    found_completion: Prose
    found_gmm: Prose
    found_nmf: Prose
    # matrix completion
    table_rates: object
    table_rates_cmp: object
    n_problems_rates: int
    rates_better: int
    rates_worse: int
    rates_undecided: int
    rates_total: int
    fig_rates_loss: object
    table_ranks: object
    table_ps: object
    table_intervals: object
    n_problems_big: int
    big_ranks: str
    big_ps: str
    k_max: int
    n_observed: str
    paper_beyond: str
    # Gaussian mixtures
    table_gmm: object
    gmm_win_share: str
    gmm_p: str
    # NMF
    table_nmf: object
    table_nmf_last: object
    nmf_seeds: int
    nmf_train_updates: int
    nmf_max_updates: str
    # wall time
    table_wall: object
    found_wall: Prose
    # for the checkpoint
    n_rows: int
    experiments: str
    gmm_total: int


def _empty(note):

    return display.table(pd.DataFrame({"note": [note]}))


def build(rows, settings, paper, paper_settings, paper_times, status):
    """:class:`MLAMValues` from the store's rows (with their parameters,
    :func:`metanmf_lab.related.mlam.with_parameters`), the settings that made them and the paper's
    tables, settings and times."""

    D = int(paper_settings["matrix_size"])
    rate = float(paper_settings["table_ii_rate"])
    iii_rank = int(paper_settings["table_iii_rank"])
    completion = rows[rows.experiment == "completion"]
    rates = completion[(completion["rank"] == 5) & (completion["p"] == 5)]
    ranks = completion[(completion.rate == rate) & (completion["rank"] == completion["p"])]
    ps = completion[(completion.rate == rate) & (completion["rank"] == iii_rank)]
    gmm = rows[rows.experiment == "gmm"]
    nmf = rows[rows.experiment == "nmf"]
    headers = {"from": "from"}

    # completion at the rates of Table I
    if len(rates):
        s_rates = mlam.summary(rates, "rmse", "rate")
        cmp_rates = mlam.comparisons(rates, "rmse", "rate")
        table_rates = display.table(side_by_side(s_rates, paper, "rate", "I"), headers)
        table_rates_cmp = display.table(comparisons_shown(cmp_rates, "rate"))
        found_completion = completion_sentence(rates, cmp_rates, paper)
        fig_rates_loss = loss_figure(rates[rates.measure == "loss"])
        n_problems_rates = int(s_rates["n"].min())
    else:
        cmp_rates = pd.DataFrame({"verdict": []})
        table_rates = table_rates_cmp = _empty("no completion in this run")
        found_completion = Prose("")
        fig_rates_loss = None
        n_problems_rates = 0
    by = ["rate", "rank", "p"]
    sums = [mlam.summary(part, "rmse", by) for part in (rates, ranks, ps) if len(part)]
    table_intervals = (display.table(intervals_table(sums)) if sums
                       else _empty("no completion in this run"))
    if ranks["rank"].nunique() > 1:
        t2 = side_by_side(mlam.summary(ranks, "rmse", "rank"), paper, "rank", "II")
        table_ranks = display.table(t2, grouped_headers(t2, "rank"))
    else:
        table_ranks = _empty("no ranks beyond 5 in this run")
    if ps["p"].nunique() > 1:
        t3 = side_by_side(mlam.summary(ps, "rmse", "p"), paper, "p", "III")
        table_ps = display.table(t3, grouped_headers(t3, "p"))
    else:
        table_ps = _empty("no factor dimensions beyond the rank in this run")
    n_big = completion[completion["rank"] != 5].groupby("setting")["problem"].nunique()
    k_max = mlam.identifiable_rank(D, D, rate)
    beyond = paper[(paper.table == "II") & (paper.method == "MLAM")
                   & (paper.value_of.astype(float) > k_max)]

    # Gaussian mixtures
    if len(gmm):
        cmp_gmm = mlam.comparisons(gmm, "nll", "dim")
        table_gmm = display.table(gmm_table(mlam.summary(gmm, "nll", "dim"), cmp_gmm, paper))
        found_gmm = gmm_sentence(cmp_gmm, paper)
        wins = gmm[gmm.measure == "nll"].pivot_table(index=["dim", "seed", "problem"],
                                                     columns="method", values="value")
        win_share = f"{100 * float((wins['MLAM'] < wins['EM']).mean()):.0f}%"
    else:
        cmp_gmm = pd.DataFrame({"verdict": []})
        table_gmm = _empty("no Gaussian mixtures in this run")
        found_gmm, win_share = Prose(""), "–"

    # NMF
    if len(nmf):
        last = nmf[nmf.t == nmf.t.max()]
        wide = last[last.measure == "error"].pivot_table(index=["dataset", "seed"],
                                                         columns="method", values="value")
        lower, cells = int((wide["MLAM"] < wide["MU"]).sum()), len(wide)
        table_nmf = display.table(nmf_table(nmf))
        table_nmf_last = display.table(nmf_last_table(nmf))
    else:
        lower, cells = 0, 0
        table_nmf = table_nmf_last = _empty("no NMF cells in this run")
    train_updates = int(settings.nmf_train_outer * settings.t_in)

    return MLAMValues(
        paper_status=status,
        paper_seconds_MLAM=f"{paper_times['MLAM'] / 1000:.1f}",
        paper_seconds_ALS=f"{paper_times['ALS'] / 1000:.1f}",
        paper_lstm_layers=int(paper_settings["lstm_layers"]),
        paper_lstm_hidden=int(paper_settings["lstm_hidden"]),
        paper_adam_lr=Prose(power_of_ten(paper_settings["adam_lr"])),
        paper_em_tol=Prose(power_of_ten(paper_settings["em_tol"])),
        paper_table_iii_rank=iii_rank,
        paper_gmm_k=int(paper_settings["gmm_k"]),
        paper_gmm_points=int(paper_settings["gmm_points"]),
        paper_matrix_size=D,
        paper_matrix_shape=f"{D} × {D}",
        paper_rank=int(paper_settings["table_i_rank"]),
        paper_rate=rate,
        paper_rate_percent=f"{100 * rate:.0f}%",
        paper_first_rank=int(paper[paper.table == "II"].value_of.min()),
        paper_first_dim=int(paper[paper.table == "VI"].value_of.min()),
        n_outer=int(settings.n_outer),
        t_in=int(settings.t_in),
        t_out=int(settings.t_out),
        hidden=int(settings.hidden),
        lam=settings.lam,
        lr=Prose(power_of_ten(settings.lr)),
        found_completion=found_completion,
        found_gmm=found_gmm,
        found_nmf=nmf_sentence(lower, cells, train_updates, max(mlam.NMF_UPDATES)),
        table_rates=table_rates,
        table_rates_cmp=table_rates_cmp,
        n_problems_rates=n_problems_rates,
        rates_better=int((cmp_rates.verdict == "better").sum()),
        rates_worse=int((cmp_rates.verdict == "worse").sum()),
        rates_undecided=int((cmp_rates.verdict == "undecided").sum()),
        rates_total=len(cmp_rates),
        fig_rates_loss=fig_rates_loss,
        table_ranks=table_ranks,
        table_ps=table_ps,
        table_intervals=table_intervals,
        n_problems_big=int(n_big.min()) if len(n_big) else 0,
        big_ranks=", ".join(map(str, mlam.BIG_RANKS)),
        big_ps=", ".join(map(str, mlam.BIG_PS)),
        k_max=int(k_max),
        n_observed=f"{int(rate * D * D):,}",
        paper_beyond=(f"{beyond.value.max():g} to {beyond.value.min():g} at ranks "
                     f"{int(beyond.value_of.min())} to {int(beyond.value_of.max())}"),
        table_gmm=table_gmm,
        gmm_win_share=win_share,
        gmm_p=p_range(cmp_gmm),
        table_nmf=table_nmf,
        table_nmf_last=table_nmf_last,
        nmf_seeds=int(nmf.seed.nunique()),
        nmf_train_updates=train_updates,
        nmf_max_updates=f"{max(mlam.NMF_UPDATES):,}",
        table_wall=display.table(wall_table(rows)),
        found_wall=wall_sentence(wall_table(rows)),
        n_rows=len(rows),
        experiments=", ".join(sorted(set(rows.experiment))),
        gmm_total=len(cmp_gmm),
    )


def values(P):
    """The chapter's values for the checked parameters ``P`` of its notebook, read from the
    MLAM store (the missing cells computed, a progress bar in the full profile)."""

    settings = P.profile_.mlam
    wanted = P.experiments or list(mlam.EXPERIMENTS)
    cells = [c for c in P.profile_.mlam_cells if c[0] in wanted]
    rows = mlam.with_parameters(mlam.run_mlam(cells, settings, P.mlam_store,
                                              progress=P.profile == "full"))
    return build(rows, settings, published.mlam_tables(), published.mlam_settings()["value"],
                 published.mlam_times().set_index("method")["time_ms"],
                 published.where("mlam_tables"))
