"""The chapter "Other splits, noise levels and protocols": how far the verdicts depend on the
thesis grid's one split, its noise levels, its GNMF and Algorithm 1's scale (:func:`values`).

Every design is :mod:`metanmf_lab.grid.replication`'s; every verdict follows the book's rule
(:mod:`metanmf_lab.book.chapters.verdicts`): a t test over seeds whose standard error includes the
split-to-split variance, measured where the design replicated a comparison and borrowed (the
largest measured on the same dataset and condition) elsewhere.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ...data.datasets import DATASETS
from ...grid import replication, stats
from ...grid.catalogue import FAIR_BASELINES, HEADLINE_PAIRS
from ...grid.cells import CONDITIONS, make_grid, resolve_noise
from ...grid.models import load_cell_data, make_model
from ...grid.reporting import select, thesis_tables
from ...grid.runner import run_grid
from ...grid.stats import paired_differences
from ...grid.verdicts import former_verdicts, replication_rows, verdict_changes
from .. import plotting
from ..display import table
from . import Prose, comparison_cells, dataset_name, interval_text, signed
from .verdicts import clustering_verdicts


@dataclass
class RobustnessValues:
    """What the robustness chapter shows (glued by field name)."""

    n_replications: int
    split_design: Prose
    split_cost: Prose
    authors_cost: Prose
    split_sentence: Prose
    fig_splits: object
    table_splits: object
    n_verdicts: int
    n_changed: int
    table_changes: object
    changes_sentence: Prose
    fig_calibration: object
    table_calibration: object
    calibration_sentence: Prose
    table_calibrated: object
    calibrated_sentence: Prose
    table_sweep_fair: object
    sweep_sentence: Prose
    table_authors_fair: object
    authors_sentence: Prose
    table_lambda: object
    lambda_sentence: Prose
    table_raw: object
    raw_sentence: Prose
    fig_iterations: object
    iterations_sentence: Prose
    raw_growth: float
    raw_basis_max: str
    raw_coef_median: str
    float32_eps: str
    _beats: pd.DataFrame = None
    _splits: pd.DataFrame = None


def _label(reference, model):
    return f"{model} − {reference}"


def replication_differences(split_rows, fair):
    """Per (dataset, condition, replication) and headline comparison (the Meta model against
    its baseline and its strongest fair baseline ``fair``): the difference, seed 0, mean over
    the replication ranks."""

    out = []
    for base, meta in HEADLINE_PAIRS:
        for kind in ("baseline", "fair"):
            for (ds, cond), g in split_rows.groupby(["dataset", "condition"]):
                ref = base if kind == "baseline" else fair.get((ds, cond, meta))
                if ref is None:
                    continue
                d = paired_differences(g, ref, meta, ("dataset", "condition", "replication"))
                per = d.groupby("replication")["difference"].mean()
                out += [dict(dataset=ds, condition=cond, replication=int(r), reference=ref,
                             model=meta, kind=kind, difference=float(v))
                        for r, v in per.items()]
    df = pd.DataFrame(out)
    df["label"] = [f"{m} − {'baseline' if k == 'baseline' else 'strongest fair'}"
                   for m, k in zip(df["model"], df["kind"])]
    return df


def splits_table(diffs, verdicts):
    """Per dataset, condition and headline comparison: the main split's difference (seeds
    and ranks of the thesis grid) with the verdict's interval, the five replications' range
    and their s.d."""

    order = {d: i for i, d in enumerate(DATASETS)}
    v = verdicts.set_index(["dataset", "condition", "reference", "model"])
    rows = []
    for (ds, cond, ref, meta, label), g in diffs.groupby(
            ["dataset", "condition", "reference", "model", "label"]):
        r = v.loc[(ds, cond, ref, meta)]
        rows.append({"_o": (order.get(ds, 9), cond != "none", label),
                     "dataset": dataset_name(ds), "noise": CONDITIONS[cond],
                     "comparison": label.replace("strongest fair", ref),
                     "main split (interval with split variance)":
                         interval_text(r.difference, r.low, r.high),
                     "splits: min – max": f"{signed(g.difference.min())} – "
                                          f"{signed(g.difference.max())}",
                     "split s.d.": float(g.difference.std(ddof=1)),
                     "verdict": r.verdict})
    df = pd.DataFrame(rows).sort_values("_o").drop(columns="_o")
    return df


def split_design_text(plan):
    """The replication design in words."""
    ranks = {tuple(r) for r in plan.split_ranks.values()}
    by = sorted(plan.split_ranks, key=lambda d: len(plan.split_ranks[d]))
    if len(ranks) == 1:
        text = f"rank{'s' if len(next(iter(ranks))) > 1 else ''} " + " and ".join(
            map(str, next(iter(ranks))))
    else:
        widest = max(ranks, key=len)
        few = [d for d in by if tuple(plan.split_ranks[d]) != widest]
        text = (f"ranks {' and '.join(map(str, widest))} "
                f"({', '.join(dataset_name(d) for d in few)}: rank "
                f"{', '.join(str(r) for d in few[:1] for r in plan.split_ranks[d])} only)")
    return Prose(f"{len(plan.splits)} more splits, each with its own learning/evaluation split, "
                 f"noise draw and Fashion-MNIST subset, seed 0, {text}")


def cost_sentence(rows):
    """What the extra splits cost, from the seconds the store recorded for their cells."""

    sec = rows.groupby("dataset")["seconds"].mean()
    order = [d for d in DATASETS if d in sec.index]
    slow = max(order, key=lambda d: sec[d])
    fast = min(order, key=lambda d: sec[d])
    return Prose(f"They took {rows['seconds'].sum() / 3600:.2f} core-hours: "
                 f"{sec[slow]:.0f} s a cell on average on {dataset_name(slow)}, "
                 f"{sec[fast]:.1f} s on {dataset_name(fast)}")


def split_sentence(diffs, verdicts):
    """What the extra splits show: the spread of a one-seed difference across splits, and
    how many headline verdicts hold a sign on every split."""
    sd = diffs.groupby(["dataset", "condition", "label"])["difference"].std(ddof=1)
    signs = diffs.groupby(["dataset", "condition", "label"])["difference"].agg(
        lambda v: (v > 0).all() or (v < 0).all())
    worst = sd.idxmax()
    return Prose(
        f"Across splits, a one-seed difference moves with an s.d. of {sd.min():.3f} to "
        f"{sd.max():.3f} NMI (median {sd.median():.3f}); the largest is "
        f"{worst[2]} on {dataset_name(worst[0])} ({CONDITIONS[worst[1]]}). In "
        f"{int(signs.sum())} of {len(signs)} headline comparisons the difference has the same "
        f"sign on every split.")


def changes_sentence(table, n_changed, n):
    moved = {(a, b): int(table.loc[a, b]) for a in table.index for b in table.columns
             if a != b and table.loc[a, b] > 0}
    top = sorted(moved.items(), key=lambda kv: -kv[1])[:3]
    parts = [f"{k} from *{a}* to *{b}*" for (a, b), k in top]
    return Prose(f"{n_changed} of {n} verdicts change"
                 + (f": {', '.join(parts)}" if parts else "") + ".")


def _borrow(comparisons, measured, by):
    """A split variance for every comparison (``by`` columns, reference, model): the largest
    measured (:func:`metanmf_lab.grid.stats.split_variance` rows in ``measured``) on its dataset
    and condition."""
    worst = measured.groupby(["dataset", "condition"]).agg(
        split_var=("split_var", "max"), n_splits=("n_splits", "min"))
    out = []
    for r in comparisons[list(by) + ["reference", "model"]].drop_duplicates().itertuples(
            index=False):
        r = r._asdict()
        key = (r["dataset"], r.get("condition", "added"))
        if key in worst.index:
            out.append(dict(r, split_var=float(worst.loc[key, "split_var"]),
                            n_splits=int(worst.loc[key, "n_splits"])))
    return pd.DataFrame(out, columns=list(by) + ["reference", "model", "split_var",
                                                 "n_splits"])


def _verdicts(rows, pairs, measured, by=("dataset", "condition")):
    """Verdicts of ``pairs`` on ``rows`` with the split variance borrowed from ``measured``
    (one Holm family)."""

    bare = stats.compare(rows, pairs, by=by)
    return stats.compare(rows, pairs, by=by, splits=_borrow(bare, measured, by))


def _fair_pairs(fair, rows, condition="added", baselines=True):

    pairs = []
    for ds in sorted(set(rows["dataset"])):
        for base, meta in HEADLINE_PAIRS:
            pairs += [(base, meta)] if baselines else []
            f = fair.get((ds, condition, meta))
            if f is not None:
                pairs.append((f, meta))
    return list(dict.fromkeys(pairs))


def _comparison_table(res, extra=None, digits=3):

    order = {d: i for i, d in enumerate(DATASETS)}
    res = res.assign(_o=[order.get(d, 9) for d in res["dataset"]]).sort_values(
        ["_o", "model", "reference"])
    cols = {"dataset": [dataset_name(d) for d in res["dataset"]]}
    if extra:
        cols.update({k: f(res) for k, f in extra.items()})
    cols.update({"comparison": [_label(r, m) for r, m in zip(res["reference"], res["model"])],
                 "Meta NMI": res["model_nmi"].to_numpy(),
                 **comparison_cells(res, "difference [95% interval]", digits)})
    return pd.DataFrame(cols)


def count_verdicts(res):
    return {v: int((res["verdict"] == v).sum()) for v in
            ("better", "worse", "no difference", "undecided")}


def _verdict_phrase(res):
    c = count_verdicts(res)
    return (f"{c['better']} better, {c['worse']} worse, {c['no difference']} no difference, "
            f"{c['undecided']} undecided")


def calibration_sentence(levels, table, defaults):
    parts = []
    for ds, lv in levels.items():
        t = table[table.dataset == ds]
        at = t[np.isclose(t.noise, defaults[ds])]["nmi"]
        now = f", ours {at.iloc[0]:.3f} at our σ = {defaults[ds]:g}" if len(at) else ""
        target = t["thesis_noisy_nmf"].iloc[0]
        where = (f"σ ≈ {lv:g}" if np.isfinite(lv) else "no level we tried")
        parts.append(f"{dataset_name(ds)}: thesis {target:.3f}{now}; met at {where}")
    return Prose("; ".join(parts) + ".")


def calibrated_sentence(res, levels, thesis):
    """The FMNIST claim (and the others) at the calibrated level."""
    out = []
    t = thesis[(thesis["noise"] == "added")].set_index(["dataset", "model"])["thesis_nmi"]
    for r in res[res["reference"].isin(["NMF"]) & (res["model"] == "Meta-NMF")].itertuples():
        claim = t.get((r.dataset, "Meta-NMF"), np.nan) - t.get((r.dataset, "NMF"), np.nan)
        out.append(f"{dataset_name(r.dataset)} at σ = {levels[r.dataset]:g}: Meta-NMF − NMF "
                   f"{interval_text(r.difference, r.low, r.high)} (thesis {signed(claim)}), "
                   f"*{r.verdict}*")
    return Prose("; ".join(out) + "." if out else "No dataset needed another level.")


def values(params):
    """Everything the robustness chapter shows, for its checked parameters ``params``."""

    plan = params.profile_.plan
    settings, store, n_jobs = params.settings, params.store, params.get("n_jobs", 1)
    progress = params.profile == "full"
    thesis = thesis_tables()
    rows, verdicts = clustering_verdicts(params)
    fair = replication.strongest_fair(rows)
    split_rows = replication_rows(settings, store, rows, plan.splits, plan.split_ranks,
                                  n_jobs=n_jobs, progress=progress)
    measured = stats.split_variance(split_rows, sorted(
        {(r, m) for r, m in zip(verdicts["reference"], verdicts["model"])}))
    measured = measured[measured["n_splits"] > 1]
    diffs = replication_differences(split_rows, fair)
    former = former_verdicts(rows)
    changes, n_changed = verdict_changes(former, verdicts)

    # noise calibration
    def run(name):
        return replication.run_blocks(name, store, settings, n_jobs, progress, plan)

    run("calibration")
    cal = replication.calibration_table(replication.calibration_rows(store, settings, plan),
                                        thesis)
    defaults = {d: resolve_noise(d, "added") for d in plan.datasets}
    levels = replication.calibrated_levels(cal)
    cal_shown = pd.DataFrame([{
        "dataset": dataset_name(d), "our σ": defaults[d],
        "NMF at our σ": float(cal[(cal.dataset == d) & np.isclose(cal.noise, defaults[d])][
            "nmi"].mean()) if np.isclose(cal[cal.dataset == d].noise, defaults[d]).any()
        else np.nan,
        "thesis, noisy NMF": float(cal[cal.dataset == d]["thesis_noisy_nmf"].iloc[0]),
        "σ where NMF meets it": levels.get(d, np.nan)} for d in plan.datasets])
    blocks = run("calibrated")
    cal_rows = pd.concat([r for _, r in blocks], ignore_index=True) if blocks else None
    if cal_rows is not None and len(cal_rows):
        res_cal = _verdicts(cal_rows, _fair_pairs(fair, cal_rows), measured)
        res_cal["σ"] = [levels[d] for d in res_cal["dataset"]]
        table_cal = table(_comparison_table(res_cal, {"σ": lambda r: r["σ"].to_numpy()}))
        cal_text = calibrated_sentence(res_cal, levels, thesis)
        beats_cal = res_cal[res_cal["reference"].str.contains(r"\(")].assign(
            setting="thesis protocol, calibrated noise")
    else:
        table_cal, cal_text, beats_cal = None, Prose("No dataset needed another level."), None

    # fair baselines in the noise sweep
    sweep = pd.concat([r for _, r in run("sweep fair")], ignore_index=True)
    heads = [m for pair in HEADLINE_PAIRS for m in pair]
    metas = select(run_grid(make_grid(plan.sweep_datasets, heads, plan.sweep_ranks,
                                      plan.sweep_seeds, noises=list(plan.sweep_levels)),
                            settings, store=store, n_jobs=n_jobs, progress=progress), settings)
    sweep_rows = pd.concat([sweep, metas], ignore_index=True)
    res_sweep = _verdicts(sweep_rows, _fair_pairs(fair, sweep_rows, baselines=False),
                          measured, by=("dataset", "condition", "noise"))
    table_sweep = table(_comparison_table(res_sweep, {"σ": lambda r: r["noise"].to_numpy()}))
    sweep_text = Prose(f"Against their strongest fair baselines in the sweep: "
                       f"{_verdict_phrase(res_sweep)} ({len(res_sweep)} comparisons).")

    # the authors'-code protocol's fair baselines
    authors_fair = pd.concat([r for _, r in run("authors fair")], ignore_index=True)
    authors_meta = select(run_grid(
        [c for c in make_grid(plan.datasets, sorted(set(_meta_of(authors_fair["model"]))),
                              plan.authors_ranks, plan.authors_seeds,
                              protocols=["authors"])],
        settings, store=store, n_jobs=n_jobs, progress=progress), settings, "authors")
    authors_rows = pd.concat([authors_fair, authors_meta], ignore_index=True)
    authors_pairs = sorted(set(zip(authors_fair["model"], _meta_of(authors_fair["model"]))))
    res_authors = _verdicts(authors_rows, authors_pairs, measured)
    table_authors = table(_comparison_table(
        res_authors, {"noise": lambda r: [CONDITIONS[c] for c in r["condition"]]}))
    authors_text = Prose(f"The verdicts, each Meta model against its base model "
                         f"given the same compute: {_verdict_phrase(res_authors)} "
                         f"({len(res_authors)} comparisons, one seed at rank "
                         f"{', '.join(map(str, plan.authors_ranks))}).")

    # Blobs: GNMF's weight, the raw scale, NMF's iterations
    lam_rows = [(s.gnmf_lam, r) for s, r in run("lambda")]
    base_lam = select(run_grid(make_grid([plan.lambda_dataset], list(replication.LAMBDA_MODELS),
                                         plan.lambda_ranks, (0,), noises=["none"]),
                               settings, store=store, n_jobs=n_jobs, progress=progress),
                      settings)
    lam_table, lam_text = lambda_table(lam_rows + [(100.0, base_lam)], plan.lambda_dataset)
    raw_blocks = run("raw scale")
    base_raw = select(run_grid([c for _, cells in replication.design("raw scale", store,
                                                                      settings, plan)
                                for c in cells], settings, store=store, n_jobs=n_jobs,
                               progress=progress), settings)
    raw_table, raw_text = raw_scale_table(raw_blocks, base_raw)
    it_blocks = run("iterations")
    it_table = iterations_summary(it_blocks)
    meta_nmi = select(run_grid(make_grid([plan.iteration_dataset], ["Meta-NMF"],
                                         plan.iteration_ranks, plan.iteration_seeds,
                                         noises=["none"]),
                               settings, store=store, n_jobs=n_jobs, progress=progress),
                      settings).groupby("rank")["nmi"].mean().to_dict()
    growth, basis_max, coef = raw_numerics(settings)
    beats = strongest_fair_verdicts(verdicts).assign(setting="thesis protocol, our noise")
    beats_authors = res_authors.assign(
        setting="authors'-code protocol (equal compute, own init)")
    beats_sweep = res_sweep.assign(setting="thesis protocol, noise sweep")
    all_beats = pd.concat([b for b in (beats, beats_cal, beats_sweep, beats_authors)
                           if b is not None], ignore_index=True)
    extra = split_rows[split_rows["replication"] != 0]
    return RobustnessValues(
        n_replications=len(plan.splits) + 1, split_design=split_design_text(plan),
        split_cost=cost_sentence(extra),
        authors_cost=Prose(f"up to {authors_fair['seconds'].max():.0f} s"),
        split_sentence=split_sentence(diffs, verdicts),
        fig_splits=plotting.split_differences(diffs, list(dict.fromkeys(diffs["label"]))),
        table_splits=table(splits_table(diffs, verdicts)), n_verdicts=len(verdicts),
        n_changed=n_changed, table_changes=table(changes, index=True),
        changes_sentence=changes_sentence(changes, n_changed, len(verdicts)),
        fig_calibration=plotting.calibration(cal, defaults),
        table_calibration=table(cal_shown), calibration_sentence=calibration_sentence(
            levels, cal, defaults),
        table_calibrated=table_cal, calibrated_sentence=cal_text,
        table_sweep_fair=table_sweep, sweep_sentence=sweep_text,
        table_authors_fair=table_authors, authors_sentence=authors_text,
        table_lambda=table(lam_table), lambda_sentence=lam_text, table_raw=table(raw_table),
        raw_sentence=raw_text,
        fig_iterations=plotting.nmi_vs_iterations(it_table, settings.baseline_iter, meta_nmi),
        iterations_sentence=iterations_sentence(it_table, settings.baseline_iter, meta_nmi),
        raw_growth=growth, raw_basis_max=_power(basis_max), raw_coef_median=_power(coef),
        float32_eps=_power(replication.FLOAT32_EPS),
        _beats=all_beats, _splits=diffs)


def _meta_of(fair_models):
    """The Meta model whose equal-compute baseline (own init) each of ``fair_models`` is."""

    own = {refs[0]: meta for meta, refs in FAIR_BASELINES.items()}
    return [own[m] for m in fair_models]


def strongest_fair_verdicts(verdicts):
    """Per Meta model, dataset and condition: its verdict against its strongest fair
    baseline (the one with the highest NMI)."""
    fair = verdicts[verdicts["kind"] != "thesis baseline"]
    idx = fair.groupby(["dataset", "condition", "model"])["reference_nmi"].idxmax()
    return fair.loc[idx]


def beats_table(beats):
    """Does any Meta model beat its strongest fair baseline? Per setting and Meta model: the
    counts of verdicts and where it is better."""
    rows = []
    for (setting, model), g in beats.groupby(["setting", "model"], sort=False):
        c = count_verdicts(g)
        where = [f"{dataset_name(r.dataset)}"
                 + (f" ({CONDITIONS.get(r.condition, r.condition)}"
                    + (f", σ = {r.noise:g}" if "noise" in g and pd.notna(
                        getattr(r, "noise", np.nan)) and "sweep" in setting else "") + ")")
                 for r in g[g["verdict"] == "better"].itertuples()]
        rows.append({"setting": setting, "Meta model": model, "n": len(g),
                     "better": c["better"], "worse": c["worse"],
                     "no diff.": c["no difference"], "undecided": c["undecided"],
                     "better where": ", ".join(where) or "nowhere"})
    return pd.DataFrame(rows)


def lambda_table(blocks, dataset):
    """GNMF's weight on ``dataset`` (no noise, seed 0): per model and rank, the NMI at each
    weight; and a sentence."""
    rows = pd.concat([r.assign(lam=lam) for lam, r in blocks], ignore_index=True)
    wide = rows.pivot_table(index=["model", "rank"], columns="lam", values="nmi")
    wide.columns = [f"λ = {c:g}" for c in wide.columns]
    wide = wide.reset_index()
    best = rows.loc[rows.groupby(["model", "rank"])["nmi"].idxmax()]
    meta = rows[rows["model"].str.startswith("Meta")].groupby("lam")["nmi"].mean()
    base = rows[~rows["model"].str.startswith("Meta")].groupby("lam")["nmi"].mean()
    text = Prose(
        f"On {dataset_name(dataset)} the Meta-GNMF models' mean NMI runs from "
        f"{meta.min():.3f} (λ = {meta.idxmin():g}) to {meta.max():.3f} (λ = {meta.idxmax():g}),"
        f" their baselines' from {base.min():.3f} to {base.max():.3f}; the best weight of "
        f"each model and rank is λ = "
        f"{', '.join(sorted({f'{v:g}' for v in best['lam']}, key=float))}.")
    return wide, text


def raw_scale_table(blocks, base):
    """Meta-NMF's raw Algorithm 1 against the rescaled one (seed 0): per dataset, condition
    and model, the NMI of each, mean over ranks; how many raw cells without "+eps" equal
    the rescaled ones bit for bit; and a sentence."""
    key = ["dataset", "noise", "model", "rank"]
    b = base.set_index(key)["nmi"]
    out, same, n_same = [], 0, 0
    for s, rows in blocks:
        tag = "raw, +eps" if s.denominator_eps > 0 else "raw, exact zeros guarded"
        r = rows.set_index(key)["nmi"]
        both = pd.concat([b.rename("rescaled"), r.rename("raw")], axis=1, join="inner")
        if s.denominator_eps == 0:
            same += int((both["raw"] == both["rescaled"]).sum())
            n_same += len(both)
        g = both.groupby(level=[0, 1, 2]).mean()
        for (ds, nz, m), v in g.iterrows():
            out.append({"dataset": dataset_name(ds),
                        "noise": "no noise" if nz == 0 else f"σ = {nz:g}",
                        "model": m, "variant": tag, "rescaled NMI": v["rescaled"],
                        "raw NMI": v["raw"], "raw − rescaled": v["raw"] - v["rescaled"]})
    df = pd.DataFrame(out)
    eps = df[df["variant"] == "raw, +eps"]["raw − rescaled"]
    text = Prose(
        f"Without \"+eps\", the raw algorithm gives the rescaled one's NMI bit for bit in "
        f"{same} of {n_same} cells. With the authors' \"+eps\" denominators the raw algorithm "
        f"moves the mean NMI over ranks by {signed(eps.min())} to {signed(eps.max())}.")
    return df, text


def raw_numerics(settings, dataset="digits", rank=10):
    """What Algorithm 1 as written does to the scale: Meta-NMF without rescaling on
    ``dataset``'s learning half (seed 0): the geometric mean growth of the basis per epoch,
    its largest entry after the last epoch and the median coefficient of the learning half
    on it (``X B^T`` scaled by the least-squares factor, as the first update would)."""

    X, _, _, _ = load_cell_data(dataset, 0.0, settings)
    m = make_model("Meta-NMF", rank, 0, "thesis", settings.replace(rescale_bases=False))
    m.fit(X)
    B = m.components_
    W = X @ B.T
    c = float(np.sum(W * (X @ B.T)) / max(np.sum((W @ B) * (W @ B)), np.finfo(float).tiny))
    growth = float(np.exp(np.mean(np.log(m.history_["scale_growth"]))))
    return growth, float(B.max()), float(np.median(c * W[W > 0]))


def _power(x):
    """A magnitude as the prose reads it: ``1.2e+20`` -> "1.2 × 10²⁰"."""
    mant, exp = f"{x:.1e}".split("e")
    sup = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")
    return f"{mant} × 10{str(int(exp)).translate(sup)}"


def iterations_summary(blocks):
    rows = pd.concat([r.assign(iterations=s.baseline_iter) for s, r in blocks],
                     ignore_index=True)
    g = rows.groupby(["rank", "iterations"])["nmi"]
    return pd.DataFrame({"mean": g.mean(), "sd": g.std()}).reset_index()


def iterations_sentence(table, budget, meta):
    at = table[table["iterations"] == budget].set_index("rank")["mean"]
    last = table[table["iterations"] == table["iterations"].max()].set_index("rank")["mean"]
    parts = [f"rank {r}: {at.get(r, np.nan):.3f} after {budget} iterations, "
             f"{last[r]:.3f} after {int(table['iterations'].max())}"
             + (f" (Meta-NMF {meta[r]:.3f})" if r in meta else "") for r in last.index]
    return Prose("Plain NMF's NMI: " + "; ".join(parts) + ".")
