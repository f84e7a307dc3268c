"""The chapter "Related method: meta-learned priors for matrix factorisation" (Iwata 2021):
the MovieLens 100K experiment beside the paper's Table 1, the number of unrolled steps, and
the non-negative version as a start of NMF on the thesis' datasets.

:func:`values` reads both result stores (computing what they lack) and returns
:class:`MetaPriorValues`; the functions it calls take plain tables, so the tests call them
on small ones.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure
from matplotlib.ticker import NullFormatter

from ...grid import published, stats
from ...related import metaprior
from ...related.metaprior import NMF_STARTS, nmf_prior_comparisons
from .. import display
from ..notebook import power_of_ten
from . import Prose, dataset_name as _dataset_name, interval_text

#: The methods of the MovieLens table: our label -> the paper's label in its Table 1.
ML100K_METHODS = {"ours": "Ours", "MF": "MF", "Mean": "Mean"}

#: How the MovieLens table names each method.
ML100K_NAMES = {"ours": "meta-learned prior", "MF": "MF", "Mean": "Mean"}

#: How the measures of the NMF version read.
MEASURES = {"recon_error": "error", "nmi": "NMI"}

#: The order of the verdicts in a summary cell.
VERDICT_ORDER = ("better", "worse", "no difference", "undecided")


def verdict_cell(verdicts):
    """The verdicts of a group of comparisons in one cell: "3 better, 2 worse" (in the order
    of :data:`VERDICT_ORDER`; a no-break space after each count, so that a narrow column
    breaks only between verdicts), "–" for none."""
    counts = pd.Series(list(verdicts)).value_counts()
    parts = [f"{int(counts[v])}\u00a0{v}" for v in VERDICT_ORDER if counts.get(v, 0)]
    return ", ".join(parts) if parts else "–"


# -- MovieLens 100K --------------------------------------------------------------------------


def ml100k_per_split(rows, n_steps):
    """Test MSE per split (rows) and method (columns ``ours``, ``MF``, ``Mean``); ours with
    the ``n_steps`` unrolled steps it was trained with."""
    main = rows[(rows.method != "ours") | (rows.n_steps == n_steps)]
    return main.pivot_table(index="split", columns="method", values="mse")


def ml100k_comparisons(per_split, alpha=None):
    """The meta-learned prior minus MF and minus Mean, paired over splits: mean difference with
    its 95% interval, Wilcoxon's signed-rank p-value Holm-adjusted over the two, and the
    verdict from the prior's side (a lower MSE is better)."""

    alpha = stats.ALPHA if alpha is None else alpha
    out = []
    for ref in ("MF", "Mean"):
        d = (per_split["ours"] - per_split[ref]).dropna().to_numpy()
        mean, low, high = stats.mean_interval(d)
        out.append(dict(reference=ref, difference=mean, low=low, high=high, n_splits=len(d),
                        p=stats.signed_rank_p(d), direction=stats.signed_rank_direction(d)))
    out = pd.DataFrame(out)
    out["p_holm"] = stats.holm(out["p"].to_numpy())
    words = {-1: "better", 1: "worse", 0: "undecided"}
    out["verdict"] = [words[stats.significant_sign(r.p_holm, r.difference, r.direction, alpha)]
                      for r in out.itertuples()]
    return out


def ml100k_table(per_split, published):
    """Ours (mean ± standard error over splits) beside the paper's Table 1 on ML100K (its
    cells as printed): one row per method."""
    ml = published[published.dataset == "ML100K"].set_index("method")
    return pd.DataFrame({
        "method": [ML100K_NAMES[m] for m in ML100K_METHODS],
        "ours": [f"{per_split[m].mean():.3f} ± {per_split[m].sem():.3f}"
                 for m in ML100K_METHODS],
        "paper": [f"{ml.loc[p, 'mse']:.3f} ± {ml.loc[p, 'se']:.3f}"
                  for p in ML100K_METHODS.values()],
    })


def ml100k_sentence(per_split, comparisons, published):
    """What the MovieLens experiment found, in one sentence built from its numbers."""
    ml = published[published.dataset == "ML100K"].set_index("method")
    mean = {m: per_split[m].mean() for m in ML100K_METHODS}
    mf = comparisons.set_index("reference").loc["MF"]
    mean_ref = comparisons.set_index("reference").loc["Mean"]
    if mf.verdict == "better" and mean_ref.verdict == "better":
        head = "the meta-learned prior predicts held-out ratings better than MF and than Mean"
    elif mf.verdict == "worse":
        head = "the meta-learned prior predicts held-out ratings worse than MF"
    else:
        head = "the meta-learned prior is not told apart from MF"
    agree = all(abs(mean[m] - ml.loc[p, "mse"]) <= 2 * ml.loc[p, "se"]
                for m, p in ML100K_METHODS.items())
    paper = (f"as the paper reports ({ml.loc['Ours', 'mse']:.3f}, {ml.loc['MF', 'mse']:.3f} "
             f"and {ml.loc['Mean', 'mse']:.3f})")
    if not agree:
        paper = "the paper reports " + paper[len("as the paper reports "):]
    return Prose(
        f"On MovieLens 100K {head}: test MSE {mean['ours']:.3f} against {mean['MF']:.3f} and "
        f"{mean['Mean']:.3f}, {paper}; paired over {int(mf.n_splits)} splits the prior minus MF "
        f"is {interval_text(mf.difference, mf.low, mf.high)} (Holm p = {mf.p_holm:.2g}).")


def _weight(x):
    """A ridge weight as the prose writes it: 0.1, 2.37, 1,000."""
    return f"{x:,g}"


def _span(values):
    """"a to b" for the smallest and largest of ``values`` (one value: that value)."""
    lo, hi = min(values), max(values)
    return _weight(lo) if lo == hi else f"{_weight(lo)} to {_weight(hi)}"


def mf_choices(rows, regs):
    """MF's ridge weight per split, as its store rows record it (``detail``: the weight
    chosen on validation and the smallest weight at which MF's validation fit is zero, NaN if
    none is): a row per split with ``reg``, ``zero_from`` and ``interior`` -- the weight is
    neither end of the grid ``regs`` and below the zero fit."""
    mf = rows[rows.method == "MF"].sort_values("split")
    reg = mf.detail.str.extract(r"reg=([^ ;)]+)")[0].astype(float).to_numpy()
    zero = mf.detail.str.extract(r"from reg=([^ ;)]+)")[0].astype(float).to_numpy()
    out = pd.DataFrame({"reg": reg, "zero_from": zero},
                       index=pd.Index(mf.split.astype(int).to_numpy(), name="split"))
    out["interior"] = ((out.reg > min(regs)) & (out.reg < max(regs))
                       & ~(out.reg >= out.zero_from))
    return out


def mf_sentence(choices, regs):
    """How MF's ridge weight was chosen and where it fell, from :func:`mf_choices`."""
    regs = sorted(regs)
    n = len(choices)
    if len(regs) == 1:
        return Prose(f"MF's ridge weight is {_weight(regs[0])}, the only one tried.")
    steps = np.diff(np.log10(regs))
    grid = f"{len(regs)} weights from {_weight(regs[0])} to {_weight(regs[-1])}"
    if np.allclose(steps, steps.mean(), rtol=0.05):
        grid += f", {1 / steps.mean():.0f} per decade"
    zero = choices.zero_from.dropna()
    zero_text = ("no weight gives the zero fit" if zero.empty else
                 f"the fit is zero from a weight of {_span(zero)} on (by split)"
                 + ("" if len(zero) == n else f" in {len(zero)} of the {n} splits"))
    k = int(choices.interior.sum())
    where = f"all {n} splits" if k == n else f"{k} of the {n} splits"
    return Prose(
        f"Validation chooses among {grid}; on the validation matrices {zero_text}. The "
        f"weights chosen, {_span(choices.reg)}, lie inside the grid and below the zero fit in "
        f"{where}.")


def mf_table(choices, per_split):
    """MF per split: the ridge weight chosen, the weight from which its validation fit is
    zero, and its test MSE."""
    return pd.DataFrame({
        "split": choices.index,
        "reg": [_weight(v) for v in choices.reg],
        "zero_from": ["–" if np.isnan(v) else _weight(v) for v in choices.zero_from],
        "mse": per_split.loc[choices.index, "MF"].to_numpy(),
    })


def steps_figure(rows, trained_steps):
    """Test MSE against the number of unrolled steps used at meta-test (mean ± s.e. over
    splits), with MF and Mean as reference lines; the legend right of the axes."""

    ours = rows[rows.method == "ours"].groupby("n_steps")["mse"].agg(["mean", "sem"])
    fig = Figure(figsize=(6.6, 3.0), dpi=100, layout="constrained")
    ax = fig.add_subplot()
    ax.errorbar(ours.index, ours["mean"], yerr=ours["sem"].fillna(0), marker="o", capsize=3,
                label="meta-learned prior")
    for ref, style in (("MF", "--"), ("Mean", ":")):
        ax.axhline(rows[rows.method == ref]["mse"].mean(), ls=style, color="0.35", label=ref)
    ax.axvline(trained_steps, color="0.7", lw=0.8)
    ax.annotate("steps in training", (trained_steps, 0), xycoords=("data", "axes fraction"),
                xytext=(4, 4), textcoords="offset points", ha="left", va="bottom",
                fontsize=10, color="0.35")
    ax.set_xticks([int(t) for t in ours.index])
    ax.set_xlabel("unrolled steps at meta-test")
    ax.set_ylabel("test MSE")
    ax.legend(frameon=False, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=10)
    return fig


# -- the NMF version ---------------------------------------------------------------------------


def nmf_means(nmf_rows, starts):
    """Mean reconstruction error and NMI per dataset, start and number of MU iterations t
    (over ranks and seeds): a row per dataset and start (datasets in their order in
    ``nmf_rows``, starts in the order of ``starts``), a column per measure and t."""
    rows = []
    for ds in dict.fromkeys(nmf_rows["dataset"]):
        part = nmf_rows[nmf_rows.dataset == ds]
        for start in [s for s in starts if s in set(part["init"])]:
            g = part[part.init == start]
            row = {"dataset": _dataset_name(ds), "start": start}
            for value in MEASURES:
                for t, v in g.groupby("n_iter")[value].mean().items():
                    row[(value, int(t))] = float(v)
            rows.append(row)
    return pd.DataFrame(rows)


def nmf_means_table(means):
    """:func:`nmf_means` as the book shows it (two header rows: measure, then t)."""

    headers = {c: (("relative error" if c[0] == "recon_error" else "NMI"), f"t = {c[1]}")
               for c in means.columns if isinstance(c, tuple)}
    headers.update({"dataset": ("", "dataset"), "start": ("", "start")})
    return display.table(means, headers=headers)


def comparisons_table(cmp, starts):
    """The paired comparisons of one measure: a row per dataset and other start, a column per
    t, each cell "difference [interval] verdict"."""
    cell = [f"{interval_text(d, a, b)} {v}"
            for d, a, b, v in zip(cmp.difference, cmp.low, cmp.high, cmp.verdict)]
    out = cmp.assign(cell=cell).pivot(index=["dataset", "start"], columns="t", values="cell")
    out.columns = [f"t = {t}" for t in out.columns]
    out = out.reset_index()
    out["start"] = pd.Categorical(out["start"], categories=list(starts), ordered=True)
    datasets = list(dict.fromkeys(cmp["dataset"]))
    out["_d"] = out["dataset"].map({d: i for i, d in enumerate(datasets)})
    out = out.sort_values(["_d", "start"]).drop(columns="_d")
    out["dataset"] = [_dataset_name(d) for d in out["dataset"]]
    out["start"] = out["start"].astype(str)
    return out.rename(columns={"start": "against"}).reset_index(drop=True)


def verdict_summary(comparisons, starts):
    """How the prior's verdicts fall over the datasets: a row per measure and other start, a
    column per t, each cell the counts (:func:`verdict_cell`). ``comparisons`` maps a measure
    (``"recon_error"``, ``"nmi"``) to :func:`metanmf_lab.related.metaprior.nmf_prior_comparisons`.
    """
    rows = []
    for value, cmp in comparisons.items():
        for start in [s for s in starts if s in set(cmp["start"])]:
            part = cmp[cmp.start == start]
            row = {"measure": MEASURES[value], "against": start}
            for t, g in part.groupby("t"):
                row[f"t = {t}"] = verdict_cell(g["verdict"])
            rows.append(row)
    return pd.DataFrame(rows)


def nmf_figure(nmf_rows, value, datasets, starts):
    """One measure of the NMF version against the number of MU iterations t (mean over ranks
    and seeds), a panel per dataset in rows of three, the legend in the panel after the last
    (t on an even spacing: its values are 0, 10, 100). The error is drawn on a log scale."""

    n = len(datasets)
    ncols = min(3, n + 1)
    nrows = -(-(n + 1) // ncols)
    fig = Figure(figsize=(6.6, 0.4 + 2.1 * nrows), dpi=100, layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False, sharex=True)
    pal = dict(zip(starts, sns.color_palette("colorblind", len(starts))))
    ts = sorted(int(t) for t in nmf_rows["n_iter"].unique())
    pos = {t: i for i, t in enumerate(ts)}
    for k, ds in enumerate(datasets):
        ax = axes.flat[k]
        part = nmf_rows[nmf_rows.dataset == ds]
        for start in starts:
            m = part[part.init == start].groupby("n_iter")[value].mean()
            ax.plot([pos[int(t)] for t in m.index], m.to_numpy(), marker="o", ms=4,
                    color=pal[start], label=start)
        ax.set_title(_dataset_name(ds), fontsize=11)
        if value == "recon_error":

            ax.set_yscale("log")
            ax.yaxis.set_minor_formatter(NullFormatter())
        ax.set_xticks(range(len(ts)), [str(t) for t in ts])
        ax.tick_params(labelsize=10)
        if k % ncols == 0:
            ax.set_ylabel("relative error" if value == "recon_error" else "NMI", fontsize=11)
        if k >= n - ncols:
            ax.set_xlabel("MU iterations t", fontsize=10)
            ax.xaxis.set_tick_params(labelbottom=True)
    legend_ax = axes.flat[n]
    legend_ax.set_axis_off()
    handles, labels = axes.flat[0].get_legend_handles_labels()
    legend_ax.legend(handles, labels, loc="center", frameon=False, fontsize=10,
                     title="start", title_fontsize=10)
    for ax in axes.flat[n + 1:]:
        ax.set_axis_off()
    return fig


def nmf_sentence(cmp_error, cmp_nmi, t_max, n_datasets):
    """What the NMF version found, built from its verdicts: the prior's start against random's
    before any iteration, then its error and NMI against the other starts after ``t_max``
    iterations."""
    t0 = cmp_error[(cmp_error.t == cmp_error.t.min()) & (cmp_error.start == "random")]
    err_last = cmp_error[cmp_error.t == t_max]
    nmi_last = cmp_nmi[cmp_nmi.t == t_max]
    worse = {s: int((nmi_last[nmi_last.start == s].verdict == "worse").sum())
             for s in ("nndsvd", "Meta-NMF basis")}
    return Prose(
        f"As a start for NMF on the thesis' datasets the non-negative prior is a fit, not a "
        f"clustering: before any iteration its reconstruction error is below the random "
        f"start's on {int((t0.verdict == 'better').sum())} of the {n_datasets} datasets, but "
        f"after {t_max} MU iterations its error is better in only "
        f"{int((err_last.verdict == 'better').sum())} of the {len(err_last)} comparisons with "
        f"the other starts, its NMI in {int((nmi_last.verdict == 'better').sum())} of "
        f"{len(nmi_last)}; its NMI is significantly below that of Meta-NMF's basis on "
        f"{worse['Meta-NMF basis']} datasets and below NNDSVD's on {worse['nndsvd']}.")


@dataclass
class MetaPriorValues:
    """What the chapter shows (glued by name)."""

    # the source's and our settings, as the text states them
    paper_train_size: str
    paper_train_ratio: float
    paper_test_size: str
    paper_share_train: str
    paper_share_valid: str
    paper_share_test: str
    paper_held_out: str
    paper_mf_rank: int
    paper_lr: Prose
    paper_epochs: str
    paper_status: str
    n_splits: int
    n_test: int
    n_iter: int
    batch: int
    lr: Prose
    T: int
    # MovieLens 100K
    found_ml100k: Prose
    table_ml100k: object
    diff_MF: str
    p_MF: str
    diff_Mean: str
    p_Mean: str
    mf_choice: Prose
    table_mf: object
    fig_steps: object
    mse_t0: str
    mse_t: str
    # the NMF version
    found_nmf: Prose
    nmf_ranks: str
    n_nmf_seeds: int
    n_nmf_datasets: int
    t_max: int
    table_nmf_verdicts: object
    fig_nmf_nmi: object
    fig_nmf_error: object
    table_nmf_prior: object
    table_nmf_prior_error: object
    table_nmf_prior_nmi: object
    n_t0_better_random: int
    n_t0_worse_nndsvd: int
    # for the checkpoint
    n_ml100k_rows: int
    n_nmf_rows: int
    verdict_MF: str


def build(rows, nmf_rows, settings, nmf_settings, published, paper_settings, status,
          nmf_datasets, nmf_ranks, nmf_seeds):
    """:class:`MetaPriorValues` from the results (``rows`` of
    :func:`metanmf_lab.related.metaprior.run_ml100k`, ``nmf_rows`` of
    :func:`metanmf_lab.related.metaprior.run_nmf_prior`), the settings that made them, and the
    paper's Table 1 and settings."""

    per = ml100k_per_split(rows, settings.n_steps)
    cmp = ml100k_comparisons(per)
    choices = mf_choices(rows, settings.mf_regs)
    c = cmp.set_index("reference")
    ours = rows[rows.method == "ours"].groupby("n_steps")["mse"].mean()
    shares = {"train": paper_settings["meta_training_fraction"],
              "valid": paper_settings["meta_validation_fraction"]}
    shares["test"] = 1 - shares["train"] - shares["valid"]  # the paper: the rest

    t_max = max(nmf_settings.eval_iters)
    cmp_error = nmf_prior_comparisons(nmf_rows, "recon_error")
    cmp_nmi = nmf_prior_comparisons(nmf_rows, "nmi")
    n_datasets = int(nmf_rows["dataset"].nunique())
    first = cmp_error[cmp_error.t == cmp_error.t.min()]
    datasets = [d for d in nmf_datasets if d in set(nmf_rows["dataset"])]
    return MetaPriorValues(
        paper_train_size=f"{paper_settings['train_rows']} × {paper_settings['train_columns']}",
        paper_train_ratio=paper_settings["train_ratio"],
        paper_test_size=(f"{paper_settings['test_matrix_rows']} × "
                        f"{paper_settings['test_matrix_columns']}"),
        paper_share_train=f"{100 * shares['train']:.0f}%",
        paper_share_valid=f"{100 * shares['valid']:.0f}%",
        paper_share_test=f"{100 * shares['test']:.0f}%",
        paper_held_out=f"{100 * paper_settings['test_held_out_fraction']:.0f}%",
        paper_mf_rank=int(paper_settings["mf_rank"]),
        paper_lr=Prose(power_of_ten(paper_settings["adam_lr"])),
        paper_epochs=f"{int(paper_settings['epochs']):,}",
        paper_status=status,
        n_splits=int(per.shape[0]),
        n_test=int(settings.n_test),
        n_iter=int(settings.n_iter),
        batch=int(settings.batch),
        lr=Prose(power_of_ten(settings.lr)),
        T=int(settings.n_steps),
        found_ml100k=ml100k_sentence(per, cmp, published),
        table_ml100k=display.table(ml100k_table(per, published), headers={
            "method": "method", "ours": "test MSE, ours (± s.e.)",
            "paper": "test MSE, Iwata (2021) Table 1"}),
        diff_MF=interval_text(c.loc["MF", "difference"], c.loc["MF", "low"],
                              c.loc["MF", "high"]),
        p_MF=f"{c.loc['MF', 'p_holm']:.2g}",
        diff_Mean=interval_text(c.loc["Mean", "difference"], c.loc["Mean", "low"],
                                c.loc["Mean", "high"]),
        p_Mean=f"{c.loc['Mean', 'p_holm']:.2g}",
        mf_choice=mf_sentence(choices, settings.mf_regs),
        table_mf=display.table(mf_table(choices, per), headers={
            "split": "split", "reg": "ridge weight chosen",
            "zero_from": "zero fit from", "mse": "MF test MSE"}),
        fig_steps=steps_figure(rows, settings.n_steps),
        mse_t0=f"{ours.loc[ours.index.min()]:.3f}",
        mse_t=f"{ours.loc[settings.n_steps]:.3f}",
        found_nmf=nmf_sentence(cmp_error, cmp_nmi, t_max, n_datasets),
        nmf_ranks=", ".join(map(str, nmf_ranks)),
        n_nmf_seeds=len(nmf_seeds),
        n_nmf_datasets=n_datasets,
        t_max=int(t_max),
        table_nmf_verdicts=display.table(verdict_summary(
            {"recon_error": cmp_error, "nmi": cmp_nmi}, NMF_STARTS)),
        fig_nmf_nmi=nmf_figure(nmf_rows, "nmi", datasets, NMF_STARTS),
        fig_nmf_error=nmf_figure(nmf_rows, "recon_error", datasets, NMF_STARTS),
        table_nmf_prior=nmf_means_table(nmf_means(nmf_rows, NMF_STARTS)),
        table_nmf_prior_error=display.table(comparisons_table(cmp_error, NMF_STARTS)),
        table_nmf_prior_nmi=display.table(comparisons_table(cmp_nmi, NMF_STARTS)),
        n_t0_better_random=int(((first.start == "random") & (first.verdict == "better")).sum()),
        n_t0_worse_nndsvd=int(((first.start == "nndsvd") & (first.verdict == "worse")).sum()),
        n_ml100k_rows=len(rows),
        n_nmf_rows=len(nmf_rows),
        verdict_MF=str(c.loc["MF", "verdict"]),
    )


def values(P):
    """The chapter's values for the checked parameters ``P`` of its notebook: the MovieLens
    100K results and those of the NMF version, read from their stores (the missing ones
    computed, a progress bar in the full profile)."""

    settings = P.profile_.ml100k
    rows = metaprior.run_ml100k(P.splits, settings, P.ml100k_store,
                                progress=P.profile == "full")
    nmf_settings = P.profile_.nmf_prior
    nmf_rows = metaprior.run_nmf_prior(P.nmf_datasets, P.nmf_ranks, P.nmf_seeds, nmf_settings,
                                       P.nmf_prior_store, progress=P.profile == "full",
                                       thesis_settings=P.settings)
    return build(rows, nmf_rows, settings, nmf_settings, published.metaprior_table1(),
                 published.metaprior_settings()["value"], published.where("metaprior_table1"),
                 P.nmf_datasets, P.nmf_ranks, P.nmf_seeds)
