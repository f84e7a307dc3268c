"""Tables from the result store, side by side with the thesis' numbers.

Reporting takes tables (rows of the store), never models. The thesis' numbers come from the
project's file of its Tables 4.3-4.10, ``data/published/khan2025_tables_4_3-4_10.csv``
(:func:`metanmf_lab.grid.published.thesis_nmi_tables`), where every number cites its table, row
and column.

Statistics follow the thesis: for each (dataset, noise, model, rank) the NMI is averaged over
seeds; a table cell is the mean of those averages over the ranks. The spread we report beside
it is the standard deviation over seeds of the rank-averaged NMI (each seed's mean over ranks).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .._config import ALGORITHM_VERSION
from ..data.datasets import DATASETS
from .catalogue import FAIR_BASELINES, HEADLINE_PAIRS, MODELS, PAIRS, THESIS_RANKS
from .cells import CONDITIONS, Settings, make_grid, resolve_noise
from .published import thesis_nmi_tables
from .runner import stored_rows
from .store import ResultStore

#: Thesis Tables 4.3-4.10: table id -> (noise condition, (baseline, Meta model)).
THESIS_TABLES = {
    "4.3": ("none", PAIRS[0]), "4.4": ("none", PAIRS[1]), "4.5": ("none", PAIRS[2]),
    "4.6": ("none", PAIRS[3]), "4.7": ("added", PAIRS[0]), "4.8": ("added", PAIRS[1]),
    "4.9": ("added", PAIRS[3]), "4.10": ("added", PAIRS[2]),
}

#: Thesis figure numbers of the NMI-against-rank plots: dataset -> (no noise, added noise).
THESIS_FIGURES = {"blobs": ("4.2", "4.7"), "coil20": ("4.3", "4.8"), "digits": ("4.4", "4.9"),
                  "faces": ("4.5", "4.10"), "fmnist": ("4.6", "4.11")}

#: Thesis Figs. 4.14-4.21 (face parts): pair -> (no noise, added noise).
THESIS_FACE_FIGURES = {PAIRS[0]: ("4.14", "4.15"), PAIRS[1]: ("4.16", "4.17"),
                       PAIRS[3]: ("4.18", "4.19"), PAIRS[2]: ("4.20", "4.21")}

#: A difference from the thesis larger than this (in NMI) gets an explanation in the book.
DIFFERENCE_THRESHOLD = 0.03


def thesis_tables(path=None):
    """The thesis' mean-NMI-over-ranks numbers (Tables 4.3-4.10) as a tidy DataFrame.

    Parameters
    ----------
    path : path-like, optional
        Another file of the shape of the project's; by default
        ``data/published/khan2025_tables_4_3-4_10.csv`` (see
        :func:`metanmf_lab.grid.published.thesis_nmi_tables`).

    Returns
    -------
    DataFrame
        80 rows, columns ``table, noise ("none"/"added"), dataset (package name), model,
        thesis_nmi``.

    Raises
    ------
    metanmf_lab.grid.published.PublishedFileError
        If the file is missing or malformed (the error names it).
    """

    df = thesis_nmi_tables(path)
    return pd.DataFrame({"table": df["table"], "noise": df["noise"], "dataset": df["dataset"],
                         "model": df["model"], "thesis_nmi": df["mean_nmi_over_ranks"]})


def select(df, settings, protocol="thesis", datasets=None, models=None):
    """The store's rows computed under ``settings`` (hash) and the current algorithm."""
    mask = (df["settings_hash"] == settings.hash) & (df["protocol"] == protocol) \
        & (df["algorithm_version"] == ALGORITHM_VERSION)
    if datasets is not None:
        mask &= df["dataset"].isin(list(datasets))
    if models is not None:
        mask &= df["model"].isin(list(models))
    out = df[mask].copy()
    out["condition"] = np.where(out["noise"].astype(float) > 0, "added", "none")
    return out


def nmi_by_rank(rows):
    """Mean, standard deviation and count of the NMI over seeds, per
    (dataset, condition, noise, model, rank)."""
    g = rows.groupby(["dataset", "condition", "noise", "model", "rank"])["nmi"]
    return g.agg(mean="mean", sd="std", n="count").reset_index()


def mean_over_ranks(rows):
    """The thesis' table statistic: per (dataset, condition, model), the mean over ranks of
    the mean NMI over seeds; plus ``sd_seeds`` (s.d. over seeds of each seed's mean over
    ranks), ``n_seeds`` and ``n_ranks``."""
    per_seed = rows.groupby(["dataset", "condition", "model", "seed"])["nmi"].mean()
    by_rank = nmi_by_rank(rows).groupby(["dataset", "condition", "model"])
    out = by_rank["mean"].mean().rename("ours").to_frame()
    out["n_ranks"] = by_rank["rank"].nunique()
    sd = per_seed.groupby(["dataset", "condition", "model"])
    out["sd_seeds"] = sd.std()
    out["n_seeds"] = sd.count()
    return out.reset_index()


def book_order(datasets):
    """``datasets`` (each once) in the book's order: the built-in ones in the order of
    :data:`~metanmf_lab.data.datasets.DATASETS`, then any others (a reader's own) sorted."""
    present = set(datasets)
    return [d for d in DATASETS if d in present] + sorted(present - set(DATASETS))


def side_by_side(ours, thesis=None):
    """Our table statistic beside the thesis', with the difference.

    Parameters
    ----------
    ours : DataFrame from :func:`mean_over_ranks`
    thesis : DataFrame from :func:`thesis_tables`, or None (an empty thesis column)

    Returns
    -------
    DataFrame with columns table, condition, dataset, model, thesis, ours, sd_seeds,
    n_seeds, difference, beyond (|difference| > DIFFERENCE_THRESHOLD). Rows for every
    built-in dataset, and for any other dataset of ``ours`` (a reader's own, with no thesis
    number: its thesis and difference are NaN).
    """
    rows = []
    for table, (cond, pair) in THESIS_TABLES.items():
        for model in pair:
            for ds in book_order(list(DATASETS) + list(ours["dataset"])):
                o = ours[(ours.dataset == ds) & (ours.condition == cond) & (ours.model == model)]
                t = None if thesis is None else thesis[
                    (thesis.dataset == ds) & (thesis.noise == cond) & (thesis.model == model)]
                rows.append(dict(
                    table=table, condition=cond, dataset=ds, model=model,
                    thesis=float(t.thesis_nmi.iloc[0]) if t is not None and len(t) else np.nan,
                    ours=float(o.ours.iloc[0]) if len(o) else np.nan,
                    sd_seeds=float(o.sd_seeds.iloc[0]) if len(o) else np.nan,
                    n_seeds=int(o.n_seeds.iloc[0]) if len(o) else 0))
    out = pd.DataFrame(rows)
    out["difference"] = out["ours"] - out["thesis"]
    out["beyond"] = out["difference"].abs() > DIFFERENCE_THRESHOLD
    return out


def dataset_means(ours, dataset):
    """One dataset's table statistic as its results chapter shows it.

    Parameters
    ----------
    ours : DataFrame from :func:`mean_over_ranks`
    dataset : str
        A built-in dataset, or a reader's own (which the thesis has no numbers for).

    Returns
    -------
    table : DataFrame
        A row per (condition, model), conditions "none" then "added", models in the order of
        :data:`~metanmf_lab.grid.MODELS`: columns ``condition, model, ours, sd_seeds,
        n_seeds`` and, with thesis numbers, ``thesis, difference`` (ours minus the thesis')
        and ``beyond``. Models without rows have NaN.
    n_beyond : int or None
        How many entries differ from the thesis by more than :data:`DIFFERENCE_THRESHOLD`;
        None without thesis numbers.
    """
    sbs = side_by_side(ours, thesis_tables())
    mine = sbs[sbs.dataset == dataset].drop_duplicates(["condition", "model"])
    has_thesis = bool(mine["thesis"].notna().any())
    order = {(c, m): i for i, (c, m) in enumerate(
        (c, m) for c in CONDITIONS for m in MODELS)}
    mine = mine.assign(_order=[order[(c, m)] for c, m in zip(mine.condition, mine.model)])
    columns = ["condition", "model", "ours", "sd_seeds", "n_seeds"]
    columns += ["thesis", "difference", "beyond"] if has_thesis else []
    table = mine.sort_values("_order")[columns].reset_index(drop=True)
    return table, (int(mine["beyond"].sum()) if has_thesis else None)


def entries_beyond(sbs):
    """The table entries of ``sbs`` (:func:`side_by_side`) whose difference from the thesis
    exceeds :data:`DIFFERENCE_THRESHOLD`: a list of (dataset, condition, model), each once,
    in the order of the tables."""
    b = sbs[sbs["beyond"]].drop_duplicates(["dataset", "condition", "model"])
    return list(zip(b["dataset"], b["condition"], b["model"]))


def stored_entries_beyond(store=None, settings=None, seeds=range(5), datasets=None):
    """:func:`entries_beyond` of the thesis grid held in ``store`` (the committed result store
    by default) under ``settings`` (default: the thesis'), on ``seeds`` (the tables' five),
    beside the thesis' numbers."""

    store = store if isinstance(store, ResultStore) else ResultStore(store)
    settings = Settings() if settings is None else settings
    # exactly the thesis grid's cells: the store also holds other noise levels and seeds
    cells = make_grid(list(DATASETS) if datasets is None else datasets, models=MODELS,
                      ranks=THESIS_RANKS, seeds=seeds)
    rows = select(stored_rows(cells, settings, store), settings)
    return entries_beyond(side_by_side(mean_over_ranks(rows), thesis_tables()))


def display_table(sbs, table):
    """One thesis table (e.g. ``"4.3"``) in the thesis' layout: a row per dataset, for each
    of the two models the thesis' number, ours (mean +/- s.d. over seeds) and the
    difference."""
    part = sbs[sbs.table == table]
    base, meta = THESIS_TABLES[table][1]
    out = pd.DataFrame(index=[DATASETS[d].display_name for d in DATASETS])
    for model in (base, meta):
        m = part[part.model == model].set_index("dataset").reindex(list(DATASETS))
        out[(model, "thesis")] = m["thesis"].to_numpy()
        out[(model, "ours")] = [f"{o:.3f} ± {s:.3f}" if np.isfinite(o) else "–"
                                for o, s in zip(m["ours"], m["sd_seeds"].fillna(0))]
        out[(model, "difference")] = m["difference"].round(3).to_numpy()
    out.columns = pd.MultiIndex.from_tuples(out.columns)
    return out


def fair_baseline_table(rows, meta_models=None):
    """Each Meta model beside its thesis baseline and its fair baselines
    (:data:`~metanmf_lab.grid.FAIR_BASELINES`): mean NMI over ranks and seeds, a row per
    (Meta model, model) and a column per (dataset, condition), datasets in the book's order
    (:func:`book_order`: a reader's own after the built-in ones). Entries without rows are
    NaN."""

    meta_models = [m for b, m in PAIRS] if meta_models is None else list(meta_models)
    base_of = {m: b for b, m in PAIRS}
    means = mean_over_ranks(rows).set_index(["model", "dataset", "condition"])["ours"]
    cols = [(d, c) for d in book_order(k[1] for k in means.index) for c in CONDITIONS
            if any((d, c) == k[1:] for k in means.index)]
    out = {}
    for meta in meta_models:
        for model in (meta, base_of[meta]) + tuple(FAIR_BASELINES[meta]):
            out[(meta, model)] = [means.get((model, d, c), np.nan) for d, c in cols]
    table = pd.DataFrame.from_dict(out, orient="index", columns=pd.MultiIndex.from_tuples(cols))
    table.index = pd.MultiIndex.from_tuples(table.index, names=["Meta model", "model"])
    return table


def ablation_effects(sbs, base, ablated):
    """What each one-at-a-time ablation does to the table entries that differ from the thesis.

    Parameters
    ----------
    sbs : DataFrame from :func:`side_by_side`; its entries with ``beyond`` are examined
    base : DataFrame from :func:`mean_over_ranks` under our settings, on the same seeds as the
        ablations (so a shift is not a change of seeds)
    ablated : dict ablation name -> DataFrame from :func:`mean_over_ranks` under that ablation
        (only the entries it applies to)

    Returns
    -------
    DataFrame, one row per (entry beyond the threshold, ablation that applies to it): the
    entry (table, condition, dataset, model, thesis), ``ours`` (our value on the ablation
    seeds), ``ablated``, ``shift`` (ablated - ours), ``gap_before``/``gap_after`` (ours or
    ablated minus the thesis) and ``closes`` (the ablation brings the entry closer to the
    thesis) and ``within`` (to within the threshold).
    """
    keys = ["dataset", "condition", "model"]
    entries = sbs[sbs["beyond"]].drop_duplicates(keys)
    b = base.set_index(keys)["ours"]
    rows = []
    for e in entries.itertuples():
        k = (e.dataset, e.condition, e.model)
        if k not in b.index:
            continue
        for name, table in ablated.items():
            a = table.set_index(keys)["ours"]
            if k not in a.index:
                continue
            rows.append(dict(table=e.table, condition=e.condition, dataset=e.dataset,
                             model=e.model, thesis=e.thesis, ablation=name, ours=b[k],
                             ablated=a[k]))
    out = pd.DataFrame(rows, columns=["table", "condition", "dataset", "model", "thesis",
                                      "ablation", "ours", "ablated"])
    out["shift"] = out["ablated"] - out["ours"]
    out["gap_before"] = out["ours"] - out["thesis"]
    out["gap_after"] = out["ablated"] - out["thesis"]
    out["closes"] = out["gap_after"].abs() < out["gap_before"].abs()
    out["within"] = out["gap_after"].abs() <= DIFFERENCE_THRESHOLD
    return out


def best_ablation(effects):
    """Per entry, the ablation that brings it closest to the thesis (one row per entry)."""
    if effects.empty:
        return effects
    idx = effects.assign(g=effects["gap_after"].abs()).groupby(
        ["dataset", "condition", "model"])["g"].idxmin()
    return effects.loc[idx].reset_index(drop=True)


#: The name under which the reproduction notes put the authors'-code protocol (every difference
#: of the authors' code at once) beside the one-at-a-time ablations.
ALL_AT_ONCE = "all at once (the authors' code)"

#: How an entry's difference from the thesis is accounted for (:func:`explain_entries`).
EXPLANATIONS = ("explained", "partly explained", "unexplained", "not measured")


def explain_entries(entries, effects, combined=ALL_AT_ONCE, sbs=None):
    """Per table entry that differs from the thesis: the single switch that brings it closest
    and what that leaves, and the same for every difference switched at once.

    Parameters
    ----------
    entries : list of (dataset, condition, model), e.g. :func:`entries_beyond`
    effects : DataFrame from :func:`ablation_effects` (its ``ablation`` column may hold
        ``combined``, the authors'-code protocol as a whole)
    combined : the name of the all-at-once row in ``effects``
    sbs : :func:`side_by_side` output, or None; gives the thesis' number, ours (on all its
        seeds) and their difference for the entries no ablation was run on

    Returns
    -------
    DataFrame, one row per entry: ``thesis``, ``ours`` (on the ablation seeds),
    ``gap_before``, ``best`` (the single ablation closest to the thesis), ``gap_after``,
    ``combined_gap`` (NaN when not measured) and ``explanation``: "explained" when a single
    switch or all of them at once bring the entry within :data:`DIFFERENCE_THRESHOLD` of the
    thesis, "partly explained" when one of them at least halves the gap, "unexplained" when
    none does, "not measured" when no ablation was run on the entry.
    """
    keys = ["dataset", "condition", "model"]
    single = effects[effects["ablation"] != combined]
    best = best_ablation(single).set_index(keys) if len(single) else None
    comb = effects[effects["ablation"] == combined].set_index(keys)
    rows = []
    for k in entries:
        k = tuple(k)
        have_single = best is not None and k in best.index
        have_comb = k in comb.index
        if not (have_single or have_comb):
            thesis = ours = np.nan
            if sbs is not None:
                m = sbs[(sbs["dataset"] == k[0]) & (sbs["condition"] == k[1])
                        & (sbs["model"] == k[2])]
                if len(m):
                    thesis, ours = float(m["thesis"].iloc[0]), float(m["ours"].iloc[0])
            rows.append(dict(zip(keys, k), thesis=thesis, ours=ours, gap_before=ours - thesis,
                             best="", gap_after=np.nan, combined_gap=np.nan,
                             explanation="not measured"))
            continue
        src = best.loc[k] if have_single else comb.loc[k]
        gap_after = float(best.loc[k, "gap_after"]) if have_single else np.nan
        combined_gap = float(comb.loc[k, "gap_after"]) if have_comb else np.nan
        before = float(src["gap_before"])
        closest = np.nanmin(np.abs([gap_after, combined_gap]))
        if closest <= DIFFERENCE_THRESHOLD:
            why = "explained"
        elif closest <= abs(before) / 2:
            why = "partly explained"
        else:
            why = "unexplained"
        rows.append(dict(zip(keys, k), thesis=float(src["thesis"]), ours=float(src["ours"]),
                         gap_before=before, best=best.loc[k, "ablation"] if have_single else "",
                         gap_after=gap_after, combined_gap=combined_gap, explanation=why))
    return pd.DataFrame(rows, columns=keys + ["thesis", "ours", "gap_before", "best",
                                              "gap_after", "combined_gap", "explanation"])


#: Column names of the fair baselines in :func:`headline_table`, in the order of
#: :data:`~metanmf_lab.grid.FAIR_BASELINES`.
FAIR_LABELS = ("equal compute", "equal compute, other init", "warm start")


def headline_table(rows, thesis=None, pairs=None):
    """The book's headline: for each pair (default: the two headline pairs), dataset and
    condition, the thesis' baseline and Meta model beside ours and the Meta model's fair
    baselines (mean NMI over ranks and seeds of ``rows``; NaN where missing).

    Returns a DataFrame indexed by (pair, dataset, condition) with columns ``thesis:
    baseline``, ``thesis: Meta``, ``baseline``, ``Meta``, and one per :data:`FAIR_LABELS`.
    """

    pairs = HEADLINE_PAIRS if pairs is None else pairs
    means = mean_over_ranks(rows).set_index(["dataset", "condition", "model"])["ours"]
    t = None if thesis is None else thesis.set_index(["dataset", "noise", "model"])["thesis_nmi"]
    out = []
    for base, meta in pairs:
        for ds in DATASETS:
            for cond in CONDITIONS:
                if not any((ds, cond, m) in means.index for m in (base, meta)):
                    continue
                r = {"pair": f"{base} / {meta}", "dataset": DATASETS[ds].display_name,
                     "condition": CONDITIONS[cond],
                     "thesis: baseline": t.get((ds, cond, base), np.nan) if t is not None
                     else np.nan,
                     "thesis: Meta": t.get((ds, cond, meta), np.nan) if t is not None
                     else np.nan,
                     "baseline": means.get((ds, cond, base), np.nan),
                     "Meta": means.get((ds, cond, meta), np.nan)}
                for label, fair in zip(FAIR_LABELS, FAIR_BASELINES[meta]):
                    r[label] = means.get((ds, cond, fair), np.nan)
                out.append(r)
    return pd.DataFrame(out).set_index(["pair", "dataset", "condition"])


#: The parts of the reproduction, in the order :func:`store_cost` lists them.
STORE_PARTS = ("thesis grid", "more seeds of the headline pairs", "fair baselines",
               "noise sweep", "protocol switches (notes)", "authors'-code protocol")


def store_cost(df, settings, seeds):
    """What computing the result store ``df`` cost, per part of the reproduction.

    Each row of the current algorithm version is put in the first part of
    :data:`STORE_PARTS` it belongs to, tested in this order: the authors'-code protocol;
    settings other than ``settings`` (one protocol switch of the reproduction notes); a fair
    baseline model; a noise level other than none or the dataset's default (the noise sweep);
    a seed not in ``seeds`` (the headline pairs' extra seeds); otherwise the thesis grid.
    Returns a DataFrame indexed by part, with a last row ``all``: ``rows``, ``core_hours``
    (the sum of the rows' ``seconds``) and ``two_core_hours`` (half of it: the wall time on
    two workers, if both are always busy)."""
    rows = df[df["algorithm_version"] == ALGORITHM_VERSION]
    noise = rows["noise"].astype(float)
    default = rows["dataset"].map({d: resolve_noise(d, "added")
                                   for d in rows["dataset"].unique()}).astype(float)
    tests = {"authors'-code protocol": rows["protocol"] != "thesis",
             "protocol switches (notes)": rows["settings_hash"] != settings.hash,
             "fair baselines": ~rows["model"].isin(MODELS),
             "noise sweep": (noise != 0) & ~np.isclose(noise, default),
             "more seeds of the headline pairs": ~rows["seed"].isin(list(seeds))}
    part = np.select(list(tests.values()), list(tests), default=STORE_PARTS[0])
    g = rows.assign(part=part).groupby("part")["seconds"]
    out = pd.DataFrame({"rows": g.size(), "core_hours": g.sum() / 3600})
    out = out.reindex([p for p in STORE_PARTS if p in out.index])
    out.loc["all"] = [out["rows"].sum(), out["core_hours"].sum()]
    out["rows"] = out["rows"].astype(int)
    out["two_core_hours"] = out["core_hours"] / 2
    return out.rename_axis("part")


def ablation_summary(effects):
    """Per ablation (in the order of ``effects``): how many entries it was run on, its mean
    shift and mean absolute shift, and on how many entries it brings our number closer to the
    thesis' and to within :data:`DIFFERENCE_THRESHOLD` of it."""
    cols = ["ablation", "entries", "mean_shift", "mean_abs_shift", "closer", "within"]
    if effects.empty:
        return pd.DataFrame(columns=cols)
    g = effects.groupby("ablation", sort=False)
    out = pd.DataFrame({"entries": g.size(), "mean_shift": g["shift"].mean(),
                        "mean_abs_shift": g["shift"].apply(lambda s: s.abs().mean()),
                        "closer": g["closes"].sum().astype(int),
                        "within": g["within"].sum().astype(int)})
    return out.reset_index()[cols]


def authors_within(authors, threshold=DIFFERENCE_THRESHOLD):
    """How close the authors' code in full comes to the thesis, per dataset and condition.

    ``authors`` is the notes' comparison frame (one row per table entry, with columns
    ``dataset``, ``condition``, ``ours_gap`` = ours under the thesis protocol minus the thesis,
    and ``authors_gap`` = ours under the authors' code minus the thesis). Returns one row per
    dataset and condition present, in the book's order of the datasets and with ``none``
    before ``added`` (``label`` names the condition for prose: "without noise", "with
    noise"), with the number of ``entries``, how many lie within ``threshold`` of the thesis
    under the authors' code (``within_authors``) and under the thesis protocol
    (``within_thesis_protocol``), and in how many the authors' code is strictly the closer
    (``authors_closer``).
    """
    cols = ["dataset", "condition", "label", "entries", "within_authors",
            "within_thesis_protocol", "authors_closer"]
    out = []
    for ds in DATASETS:
        for cond, label in (("none", "without noise"), ("added", "with noise")):
            part = authors[(authors["dataset"] == ds) & (authors["condition"] == cond)]
            if not len(part):
                continue
            code, ours = part["authors_gap"].abs(), part["ours_gap"].abs()
            out.append({"dataset": ds, "condition": cond, "label": label,
                        "entries": len(part),
                        "within_authors": int((code <= threshold).sum()),
                        "within_thesis_protocol": int((ours <= threshold).sum()),
                        "authors_closer": int((code < ours).sum())})
    return pd.DataFrame(out, columns=cols)


def authors_further(authors, threshold=DIFFERENCE_THRESHOLD):
    """The entries the authors' code puts further from the thesis than our thesis protocol
    does, by more than ``threshold``: ``|authors_gap| - |ours_gap| > threshold``.

    ``authors`` is the notes' comparison frame (:func:`authors_within`). Returns its rows
    for those entries, with a column ``further`` (that excess), largest first. For such an
    entry the thesis' number is not what the public code gives on our data: moving closer to
    the code moves away from the thesis.
    """
    further = authors["authors_gap"].abs() - authors["ours_gap"].abs()
    out = authors.assign(further=further)[further > threshold]
    return out.sort_values("further", ascending=False, kind="stable").reset_index(drop=True)


def authors_further_phrase(further):
    """:func:`authors_further` in words for the book's prose: "<dataset>, <model>, <noise
    condition> (thesis <number>, thesis protocol <number>, authors' code <number>); ..."
    ("none" when empty)."""
    if not len(further):
        return "none"
    return "; ".join(
        f"{DATASETS[r.dataset].display_name}, {r.model}, "
        f"{CONDITIONS.get(r.condition, r.condition)} "
        f"(thesis {r.thesis:.3f}, thesis protocol {r.ours:.3f}, authors' code {r.authors:.3f})"
        for r in further.itertuples())


def authors_within_phrase(within):
    """:func:`authors_within` in words, per dataset, for the book's prose: "on Digits, 8 of 8
    without noise (under the thesis protocol: 3) and 0 of 8 with noise (under the thesis
    protocol: 1); on ..." (empty for an empty frame)."""
    parts = []
    for ds, rows in within.groupby("dataset", sort=False):
        counts = " and ".join(
            f"{w.within_authors} of {w.entries} {w.label} (under the thesis protocol: "
            f"{w.within_thesis_protocol})" for w in rows.itertuples())
        parts.append(f"on {DATASETS[ds].display_name}, {counts}")
    return "; ".join(parts)


def authors_pending_phrase(pending):
    """The datasets not yet run in full under the authors' code, in words, for the book's
    prose. ``pending`` holds ``(dataset, stored, total)`` triples (:attr:`Notes.authors_pending
    <metanmf_lab.book.notebook.Notes.authors_pending>`): how many of a dataset's cells under
    the authors' code the result store holds. Empty: every dataset is run in full."""
    if not len(pending):
        return "Every dataset of this build is run in full under the authors' code."
    names = ", ".join(f"{DATASETS[d].display_name} ({stored} of {total} cells in the result "
                      f"store)" for d, stored, total in pending)
    flags = " ".join(d for d, _, _ in pending)
    return (f"Not yet run in full under the authors' code, and so left out of this comparison: "
            f"{names}. The rest is computed, resumably, by `python -m metanmf_lab.grid "
            f"--datasets {flags} --protocols authors`.")
