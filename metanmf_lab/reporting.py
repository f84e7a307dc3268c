"""Tables from the result store, side by side with the thesis' numbers.

Reporting takes tables (rows of the store), never models. The thesis' numbers are read at
build time from ``thesis_tables.csv`` in the folder named by ``METANMF_REFERENCE`` (default:
``../shared/reference`` beside the project); they are never copied into the project.

Statistics follow the thesis: for each (dataset, noise, model, rank) the NMI is averaged over
seeds; a table cell is the mean of those averages over the ranks. The spread we report beside
it is the standard deviation over seeds of the rank-averaged NMI (each seed's mean over ranks).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from ._config import ALGORITHM_VERSION, PROJECT_ROOT
from .datasets import DATASETS
from .experiments import MODELS, PAIRS

REFERENCE_ENV = "METANMF_REFERENCE"

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


def reference_dir():
    """Folder holding ``thesis_tables.csv``: ``$METANMF_REFERENCE`` or ``../shared/reference``."""
    env = os.environ.get(REFERENCE_ENV, "").strip()
    return Path(env).expanduser().resolve() if env else \
        PROJECT_ROOT.parent / "shared" / "reference"


def thesis_tables(path=None):
    """The thesis' mean-NMI-over-ranks numbers (Tables 4.3-4.10) as a tidy DataFrame.

    Columns: ``table, noise ("none"/"added"), dataset (package name), model,
    thesis_nmi``. Raises ``FileNotFoundError`` naming the file and the setting when the
    reference folder is not there.
    """
    path = Path(path) if path is not None else reference_dir() / "thesis_tables.csv"
    if not path.exists():
        raise FileNotFoundError(
            f"The thesis' numbers are read at build time from {path.name}, not found in "
            f"{path.parent}. Set {REFERENCE_ENV} to the folder holding it (the project's "
            f"../shared/reference).")
    df = pd.read_csv(path, dtype={"table": str})
    by_display = {info.display_name.lower(): name for name, info in DATASETS.items()}
    unknown = set(df["dataset"].str.lower()) - set(by_display)
    if unknown or not set(df["model"]) <= set(MODELS):
        raise ValueError(f"{path} has unexpected datasets or models: "
                         f"{sorted(unknown) or sorted(set(df['model']) - set(MODELS))}.")
    return pd.DataFrame({
        "table": df["table"], "noise": df["noise"],
        "dataset": df["dataset"].str.lower().map(by_display), "model": df["model"],
        "thesis_nmi": df["mean_nmi_over_ranks"].astype(float)})


def thesis_tables_or_none():
    """:func:`thesis_tables`, or None (with the reason) when the reference is unavailable."""
    try:
        return thesis_tables(), None
    except FileNotFoundError as exc:
        return None, str(exc)


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


def side_by_side(ours, thesis=None):
    """Our table statistic beside the thesis', with the difference.

    Parameters
    ----------
    ours : DataFrame from :func:`mean_over_ranks`
    thesis : DataFrame from :func:`thesis_tables` or None

    Returns
    -------
    DataFrame with columns table, condition, dataset, model, thesis, ours, sd_seeds,
    n_seeds, difference, beyond (|difference| > DIFFERENCE_THRESHOLD).
    """
    rows = []
    for table, (cond, pair) in THESIS_TABLES.items():
        for model in pair:
            for ds in DATASETS:
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


def entries_beyond(sbs):
    """The table entries of ``sbs`` (:func:`side_by_side`) whose difference from the thesis
    exceeds :data:`DIFFERENCE_THRESHOLD`: a list of (dataset, condition, model), each once,
    in the order of the tables."""
    b = sbs[sbs["beyond"]].drop_duplicates(["dataset", "condition", "model"])
    return list(zip(b["dataset"], b["condition"], b["model"]))


def stored_entries_beyond(store=None, settings=None, seeds=range(5), datasets=None):
    """:func:`entries_beyond` of the thesis grid held in ``store`` (the committed result store
    by default) under ``settings`` (default: the thesis'), on ``seeds`` (the tables' five),
    beside the thesis' numbers (which must be available)."""
    from .experiments import Settings
    from .store import ResultStore

    store = store if isinstance(store, ResultStore) else ResultStore(store)
    settings = Settings() if settings is None else settings
    rows = select(store.load(), settings, datasets=datasets, models=MODELS)
    rows = rows[rows["seed"].isin(list(seeds))]
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
    (:data:`~metanmf_lab.experiments.FAIR_BASELINES`): mean NMI over ranks and seeds, a row per
    (Meta model, model) and a column per (dataset, condition), datasets in the book's order.
    Entries without rows are NaN."""
    from .experiments import FAIR_BASELINES

    meta_models = [m for b, m in PAIRS] if meta_models is None else list(meta_models)
    base_of = {m: b for b, m in PAIRS}
    means = mean_over_ranks(rows).set_index(["model", "dataset", "condition"])["ours"]
    cols = [(d, c) for d in DATASETS for c in ("none", "added")
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
