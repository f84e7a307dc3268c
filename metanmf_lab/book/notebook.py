"""What every notebook of the book shares: parameter validation, profiles, plotting setup.

A notebook's first code cell is tagged ``parameters`` and holds literal values only, one per
line, as ``name: type = value  # help`` (``papermill --help-notebook`` reads it). The next
cell imports the package and validates them::

    from metanmf_lab import notebook as nb
    P = nb.check_parameters(globals())

:func:`check_parameters` fails with a clear message on an unknown parameter (a name papermill
injected that the parameters cell does not declare), an ill-typed one, or a bad value, and
returns the parameters resolved against the *profile* (:mod:`metanmf_lab.book.profiles`):
``"full"`` (the thesis settings, the committed result store) or ``"smoke"`` (seconds-long
settings for the tests, a scratch store).

A notebook's ``dataset`` parameter may also be the path of a reader's own ``.npz`` or ``.csv``
file: the check reads and checks the file (:func:`metanmf_lab.data.datasets.user_dataset`),
replaces the path by the dataset's registered name (``<file stem>-<content hash>``), and checks
that every rank asked for can run on it (:func:`metanmf_lab.grid.check_ranks`), so a bad file fails
with one message before anything is fitted. Its rows go to the profile's *own-data store*
(:func:`own_store_path`), never to the committed result store.
"""

from __future__ import annotations

import math
import numbers
import os
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib as mpl
import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns
from IPython.display import Markdown
from myst_nb import glue

from ..core.protocols import PROTOCOLS
from ..data.datasets import DATASETS, is_user_dataset, is_user_file, user_dataset
from ..data.synthetic import BENCHMARKS
from ..grid import published, reporting
from ..grid.ablations import ablation_cost, ablation_grid, ablation_settings, entry_cells
from ..grid.analysis import measure_hypotheses
from ..grid.catalogue import MODELS
from ..grid.cells import CONDITIONS, check_ranks, make_grid
from ..grid.reporting import select
from ..grid.runner import run_grid, stored_rows
from ..grid.store import ML100KStore, MeasureStore, MLAMStore, NMFPriorStore, ResultStore
from .profiles import PARAMETER_DEFAULTS, PROFILES


#: Environment variable naming another own-data store (a CSV file; a relative path is taken
#: relative to the folder the pipeline is started in).
OWN_STORE_ENV = "METANMF_OWN_STORE"


def own_store_path(profile):
    """Where the rows of a reader's own datasets go: ``$METANMF_OWN_STORE`` if set, else the
    profile's ``own_store``: ``data/own-results.csv`` in the full profile (beside the dataset
    files, ignored by git like them: the committed ``data/results/results.csv`` holds the
    thesis' datasets only), ``_build/smoke-own-results.csv`` in the smoke profile. Rows are
    keyed like every other (the dataset's name carries its content hash), so a second run on
    the same file reads them back."""
    env = os.environ.get(OWN_STORE_ENV, "").strip()
    return Path(env).expanduser().resolve() if env else profile.own_store


#: Names IPython and ipykernel put in a notebook's namespace.
IPYTHON_NAMES = frozenset({"In", "Out", "get_ipython", "exit", "quit", "open"})


def _check_noise(v):
    if isinstance(v, str) and v in CONDITIONS:
        return v
    if isinstance(v, numbers.Real) and not isinstance(v, bool) and v >= 0:
        return float(v)
    raise ValueError(f'noise must be "none", "added" or a number >= 0, got {v!r}.')


def _check_list_of_ints(name, low):
    def check(v):
        if not all(isinstance(x, numbers.Integral) and not isinstance(x, bool) and x >= low
                   for x in v):
            raise ValueError(f"{name} must be a list of integers >= {low}, got {v!r}.")
        return [int(x) for x in v]
    return check


def _check_choice(name, allowed):
    def check(v):
        if v not in allowed:
            raise ValueError(f"{name} must be one of {', '.join(map(repr, allowed))}; got "
                             f"{v!r}.")
        return v
    return check


def _datasets():

    return tuple(DATASETS)


def _check_dataset(v):
    """A built-in dataset's name, or the path of a reader's own .npz/.csv file, which is read,
    checked and registered: the value becomes the dataset's name (``<stem>-<hash>``)."""

    if is_user_file(v):
        return user_dataset(v).name
    if v not in _datasets():
        raise ValueError(f"dataset must be one of {', '.join(map(repr, _datasets()))}, or the "
                         f"path of your own .npz or .csv file (README: Your own data); got "
                         f"{v!r}.")
    return v


def _check_dataset_list(name):
    def check(v):
        return [_check_choice(name, _datasets())(d) for d in v]
    return check


def _benchmarks():

    return BENCHMARKS


def _check_nonnegative(name, v):
    if not isinstance(v, numbers.Real) or isinstance(v, bool) or not v >= 0:
        raise ValueError(f"{name} must be >= 0, got {v!r}.")
    return float(v)


def _check_levels(v):
    if not all(isinstance(x, numbers.Real) and not isinstance(x, bool) and x >= 0 for x in v):
        raise ValueError(f"noise_levels must be a list of numbers >= 0, got {v!r}.")
    return [float(x) for x in v]


#: Value checks of the parameters the notebooks share (one place for all of them).
VALIDATORS = {
    "datasets": _check_dataset_list("datasets"),
    "noise_datasets": _check_dataset_list("noise_datasets"),
    "basis_datasets": _check_dataset_list("basis_datasets"),
    "pair_seeds": _check_list_of_ints("pair_seeds", 0),
    "ablation_seeds": _check_list_of_ints("ablation_seeds", 0),
    "ablation_datasets": _check_dataset_list("ablation_datasets"),
    "fair_datasets": _check_dataset_list("fair_datasets"),
    "pair_datasets": _check_dataset_list("pair_datasets"),
    "authors_datasets": _check_dataset_list("authors_datasets"),
    "noise_ranks": _check_list_of_ints("noise_ranks", 1),
    "noise_levels": _check_levels,
    "benchmarks": lambda v: [_check_choice("benchmarks", _benchmarks())(b) for b in v],
    "bench_seeds": _check_list_of_ints("bench_seeds", 0),
    "splits": _check_list_of_ints("splits", 0),
    "nmf_datasets": _check_dataset_list("nmf_datasets"),
    "nmf_ranks": _check_list_of_ints("nmf_ranks", 1),
    "nmf_seeds": _check_list_of_ints("nmf_seeds", 0),
    "experiments": lambda v: [_check_choice("experiments", ("completion", "gmm", "nmf"))(e)
                              for e in v],
    "lam_grid": lambda v: [_check_nonnegative("lam_grid", x) for x in v],
    "lam0": lambda v: _check_nonnegative("lam0", v),
    "lam_lr": lambda v: v if v > 0 else
    (_ for _ in ()).throw(ValueError(f"lam_lr must be > 0, got {v!r}.")),
    "inner_iter": lambda v: _check_list_of_ints("inner_iter", 1)([v])[0],
    "max_iter": lambda v: _check_list_of_ints("max_iter", 0)([v])[0],
    "basis_rank": lambda v: _check_list_of_ints("basis_rank", 1)([v])[0],
    "face_rank": lambda v: _check_list_of_ints("face_rank", 1)([v])[0],
    "profile": _check_choice("profile", tuple(PROFILES)),
    "dataset": _check_dataset,
    "protocol": _check_choice("protocol", PROTOCOLS),
    "noise": _check_noise,
    "ranks": _check_list_of_ints("ranks", 1),
    "seeds": _check_list_of_ints("seeds", 0),
    "models": lambda v: [_check_choice("models", MODELS)(m) for m in v],
    "n_jobs": lambda v: v if v == -1 or v >= 1 else
    (_ for _ in ()).throw(ValueError(f"n_jobs must be -1 or >= 1, got {v!r}.")),
    "rank": lambda v: _check_list_of_ints("rank", 1)([v])[0],
    "seed": lambda v: _check_list_of_ints("seed", 0)([v])[0],
    "noise_seed": lambda v: _check_list_of_ints("noise_seed", 0)([v])[0],
    "n_examples": lambda v: _check_list_of_ints("n_examples", 1)([v])[0],
    "lam": lambda v: _check_nonnegative("lam", v),
}


def _finite(value):
    """Whether every number in ``value`` (a number, or a list or tuple of them) is finite;
    papermill's literals include ``1e999`` (infinity)."""
    if isinstance(value, (list, tuple)):
        return all(_finite(v) for v in value)
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        return math.isfinite(value)
    return True


def _type_ok(value, annotation):
    origin = typing.get_origin(annotation) or annotation
    if origin is float:
        return isinstance(value, numbers.Real) and not isinstance(value, bool)
    if origin is int:
        return isinstance(value, numbers.Integral) and not isinstance(value, bool)
    if origin in (list, tuple):
        return isinstance(value, (list, tuple))
    if origin in (typing.Union, types.UnionType):
        return any(_type_ok(value, a) for a in typing.get_args(annotation))
    if annotation is typing.Any:
        return True
    return isinstance(value, origin)


class Params(dict):
    """Validated parameters (also readable as attributes) and their profile."""

    def __getattr__(self, name):
        try:
            return self[name]
        except KeyError as exc:
            raise AttributeError(name) from exc

    @property
    def settings(self):
        """The profile's settings; for cells the committed store cannot hold (a reader's own
        dataset or noise level) their fast version (:meth:`Settings.fast`: the batched engine
        in float32), as ``make grid`` computes new settings."""
        settings = self["profile_"].settings
        return settings.fast() if self.new_cells else settings

    @property
    def new_cells(self):
        """Whether the parameters ask for a reader's own dataset or noise level."""
        noise = self.get("noise", "added")
        return is_user_dataset(self.get("dataset")) or not (
            isinstance(noise, str) and noise in CONDITIONS)

    @property
    def store(self):
        """The result store: the profile's; for a reader's own dataset, the own-data store
        (:func:`own_store_path`)."""

        if is_user_dataset(self.get("dataset")):
            return ResultStore(own_store_path(self["profile_"]))
        return ResultStore(self["profile_"].store)

    @property
    def ml100k_store(self):
        """The MovieLens result store of the meta-learned priors."""
        return ML100KStore(self["profile_"].ml100k_store)

    @property
    def nmf_prior_store(self):
        """The result store of the NMF version of the meta-learned priors."""
        return NMFPriorStore(self["profile_"].nmf_prior_store)

    @property
    def mlam_store(self):
        """The result store of the MLAM experiments."""
        return MLAMStore(self["profile_"].mlam_store)

    @property
    def measure_store(self):
        """The basis-measure store (:func:`metanmf_lab.grid.analysis.basis_measures`)."""
        return MeasureStore(self["profile_"].measure_store)


def check_parameters(namespace):
    """Validate a notebook's parameters; return them resolved against their profile.

    Parameters
    ----------
    namespace : dict
        The notebook's ``globals()``; the declared parameters are its ``__annotations__``.

    Returns
    -------
    Params
        Every declared parameter; ``ranks``/``seeds`` left empty take the profile's; plus
        ``profile_`` (the :class:`~metanmf_lab.book.profiles.Profile`), and ``settings`` /
        ``store`` properties.

    Raises
    ------
    ValueError, TypeError
        Unknown parameter, wrong type, or a value outside what the parameter allows.
    """
    declared = dict(namespace.get("__annotations__", {}))
    if "profile" not in declared:
        raise ValueError("The parameters cell must declare `profile: str = ...`.")
    unknown = sorted(n for n in namespace
                     if not n.startswith("_") and n not in declared and n not in IPYTHON_NAMES
                     and not isinstance(namespace[n], type(typing)))
    if unknown:
        raise ValueError(f"Unknown parameter(s) {', '.join(unknown)}. This notebook's "
                         f"parameters are: {', '.join(declared)}.")
    params = Params()
    for name, annotation in declared.items():
        if name not in namespace:
            raise ValueError(f"Parameter {name} is declared but has no value.")
        value = namespace[name]
        if not _type_ok(value, annotation):
            tname = getattr(annotation, "__name__", str(annotation))
            raise TypeError(f"Parameter {name} must be of type {tname}, got {value!r} "
                            f"({type(value).__name__}).")
        if not _finite(value):
            raise ValueError(f"Parameter {name} must be finite, got {value!r}.")
        if name in VALIDATORS:
            value = VALIDATORS[name](value)
        params[name] = value
    profile = PROFILES[params["profile"]]
    params["profile_"] = profile
    if "ranks" in params and not params["ranks"]:
        params["ranks"] = list(profile.ranks)
    if "seeds" in params and not params["seeds"]:
        params["seeds"] = list(profile.seeds)
    for name in PARAMETER_DEFAULTS:  # empty list or 0: the profile's choice
        default = getattr(profile, name)
        if name in params and isinstance(params[name], list) and not params[name]:
            params[name] = list(default)
        elif name in params and isinstance(default, int) and params[name] == 0:
            params[name] = default

    if is_user_dataset(params.get("dataset")):  # a reader's file: too small for the ranks?

        check_ranks(params["dataset"], params.get("ranks") or profile.ranks, profile.settings,
                    params.get("protocol", "thesis"))
    return params


def setup_plotting():
    """The book's one figure style (PNGs without timestamps or version strings) and table
    display (every row shown)."""

    sns.set_theme(context="notebook", style="whitegrid", palette="colorblind")
    # tables are shown whole (pandas would elide the middle rows of one longer than 60)
    pd.set_option("display.max_rows", 500)
    pd.set_option("display.max_columns", 50)
    mpl.rcParams.update({
        "figure.dpi": 100, "savefig.dpi": 100, "figure.figsize": (7.0, 4.0),
        "axes.titlesize": "medium", "axes.labelsize": "medium", "legend.fontsize": "small",
        "svg.hashsalt": "metanmf-lab", "image.cmap": "gray",
    })
    try:  # deterministic inline PNGs: no software version or date in the metadata
        from IPython import get_ipython

        ip = get_ipython()
        if ip is not None:
            # Without this, a Figure not made through pyplot has no PNG until pyplot has made
            # one, and a glued figure silently disappears.
            ip.run_line_magic("matplotlib", "inline")
            ip.run_line_magic("config", "InlineBackend.print_figure_kwargs = "
                                        "{'bbox_inches': 'tight', 'metadata': {'Software': None}}")
    except ImportError:  # pragma: no cover
        pass


def glue_figure(name, fig):
    """Glue a figure for a ``{glue:figure}`` directive, and close it so that the notebook does
    not display it a second time."""

    glue(name, fig, display=False)
    plt.close(fig)


def power_of_ten(value):
    """``value`` written as a power of ten in inline TeX: ``1e-4`` -> ``$10^{-4}$``, ``3e-3``
    -> ``$3 \\cdot 10^{-3}$`` (how the papers print their rates and tolerances)."""
    mantissa, exponent = f"{float(value):.12e}".split("e")
    mantissa, exponent = float(mantissa), int(exponent)
    if mantissa <= 0:
        raise ValueError(f"a power of ten needs a positive number, got {value!r}.")
    power = f"10^{{{exponent}}}"
    return f"${power}$" if mantissa == 1 else f"${mantissa:g} \\cdot {power}$"


def glue_power_of_ten(name, value):
    """Glue ``value`` as :func:`power_of_ten` Markdown, pasted inline with ``{glue:md}``."""

    glue(name, Markdown(power_of_ten(value)), display=False)


def glue_prose(name, text):
    """Glue a phrase or sentence of the prose, pasted with ``{glue:md}`name:myst``` so that it
    reads as the text around it (``{glue:text}`` sets a value in bold)."""

    glue(name, Markdown(text), display=False)


def store_rows(params, cells, settings=None, protocol=None):
    """The result store's rows of ``cells`` under ``settings`` (default: the notebook's),
    computing the missing ones with ``params.n_jobs`` workers (a progress bar in the full
    profile), selected as :func:`metanmf_lab.grid.reporting.select` does."""

    settings = params.settings if settings is None else settings
    got = run_grid(cells, settings, store=params.store, n_jobs=params.n_jobs,
                   progress=params.profile == "full")
    return select(got, settings, protocol or params.get("protocol", "thesis"))


def hypotheses(params):
    """:func:`metanmf_lab.grid.analysis.measure_hypotheses` with a notebook's parameters (the
    hypotheses and conclusions chapters share them)."""

    return measure_hypotheses(
        params.settings, store=params.store, measure_store=params.measure_store,
        datasets=params.datasets or list(params.profile_.datasets), ranks=params.ranks,
        seeds=params.seeds, pair_seeds=params.pair_seeds,
        noise_datasets=params.noise_datasets, noise_ranks=params.noise_ranks,
        noise_levels=params.noise_levels, basis_datasets=params.basis_datasets,
        basis_rank=params.basis_rank, face_rank=params.face_rank,
        fair_datasets=params.fair_datasets, pair_datasets=params.pair_datasets,
        replications=params.profile_.plan.splits,
        replication_ranks=params.profile_.plan.split_ranks, n_jobs=params.n_jobs,
        progress=params.profile == "full")


@dataclass
class Notes:
    """The reproduction notes' measurements (:func:`notes`)."""

    rows: object
    """Store rows of the thesis grid on the notes' datasets, ranks and seeds."""
    sbs: object
    """:func:`metanmf_lab.grid.reporting.side_by_side` of ``rows``, beside the thesis' numbers."""
    entries: list
    """The entries that differ from the thesis
    (:func:`~metanmf_lab.grid.reporting.entries_beyond`)."""
    effects: object
    """:func:`~metanmf_lab.grid.reporting.ablation_effects`, the all-at-once authors'-code
    protocol included under :data:`~metanmf_lab.grid.reporting.ALL_AT_ONCE`."""
    explained: object
    """:func:`~metanmf_lab.grid.reporting.explain_entries` of ``entries``."""
    n_ablation_cells: int
    """Cells run under an ablation or the authors'-code protocol."""
    unmeasured_seconds: float
    """Estimated single-core seconds of the ablations of the entries not ablated here
    (:func:`~metanmf_lab.grid.ablation_cost`, a lower bound)."""
    thesis_status: str
    """Where the thesis' numbers come from, for a caption
    (:func:`metanmf_lab.grid.published.where`)."""
    authors: object = None
    """Every entry on ``authors_datasets`` under the thesis protocol and under the authors'
    code (the authors'-code protocol, all seeds), beside the thesis: columns dataset,
    condition, model, thesis, ours, authors, and the two differences (None when not run)."""
    authors_pending: list = field(default_factory=list)
    """``(dataset, stored, total)`` for each dataset of the notes not in
    ``authors_datasets``: how many of its cells under the authors' code (the grid of
    ``authors``) the result store holds (nothing is computed for them)."""


def notes(params):
    """The reproduction notes, with a notebook's parameters: the thesis grid on
    ``datasets`` x ``ranks`` x ``seeds`` beside the thesis; each entry that differs by more
    than the threshold, on ``ablation_datasets``, run under every one-at-a-time ablation that
    can change it and under the authors'-code protocol (all differences at once), over
    ``ablation_seeds``; the ablation effects and what they explain."""

    datasets = params.datasets or list(params.profile_.datasets)
    rows = store_rows(params, make_grid(datasets, MODELS, params.ranks, params.seeds))
    thesis = reporting.thesis_tables()
    sbs = reporting.side_by_side(reporting.mean_over_ranks(rows), thesis)
    sbs = sbs[sbs["dataset"].isin(datasets)]
    entries = reporting.entries_beyond(sbs)
    seeds, ranks = params.ablation_seeds, params.ranks
    ablating = [d for d in datasets if d in params.ablation_datasets]
    grid = ablation_grid(entries, ranks, seeds, datasets=ablating)
    ablated, n_cells = {}, 0
    for name, cells in grid.items():
        ablated[name] = reporting.mean_over_ranks(
            store_rows(params, cells, ablation_settings(name, params.settings)))
        n_cells += len(cells)
    measured = [e for e in entries if e[0] in ablating]
    if measured:
        cells = entry_cells(measured, ranks, seeds, "authors")
        ablated[reporting.ALL_AT_ONCE] = reporting.mean_over_ranks(
            store_rows(params, cells, protocol="authors"))
        n_cells += len(cells)
    base = reporting.mean_over_ranks(rows[rows["seed"].isin(seeds)])
    effects = reporting.ablation_effects(sbs, base, ablated)
    explained = reporting.explain_entries(entries, effects, sbs=sbs)
    rest = ablation_grid(entries, ranks, seeds,
                         datasets=[d for d in datasets if d not in ablating])
    seconds = rows.groupby(["dataset", "model"])["seconds"].mean()
    authors = None
    authors_on = [d for d in datasets if d in (params.get("authors_datasets") or [])]
    if authors_on:
        authors_rows = store_rows(params, make_grid(authors_on, MODELS, params.ranks,
                                                    params.seeds, protocols=["authors"]),
                                  protocol="authors")
        code = reporting.side_by_side(reporting.mean_over_ranks(authors_rows), thesis)
        keys = ["dataset", "condition", "model"]
        both = sbs.drop_duplicates(keys).merge(
            code.drop_duplicates(keys)[keys + ["ours"]].rename(columns={"ours": "authors"}),
            on=keys)
        both = both[both["dataset"].isin(authors_on)]
        authors = both[keys + ["thesis", "ours", "authors"]].assign(
            ours_gap=both["ours"] - both["thesis"],
            authors_gap=both["authors"] - both["thesis"]).reset_index(drop=True)
    pending = []
    for d in (d for d in datasets if d not in authors_on):
        cells = make_grid([d], MODELS, params.ranks, params.seeds, protocols=["authors"])
        pending.append((d, len(stored_rows(cells, params.settings, params.store)), len(cells)))
    return Notes(rows=rows, sbs=sbs, entries=entries, effects=effects, explained=explained,
                 authors=authors, authors_pending=pending,
                 n_ablation_cells=n_cells,
                 unmeasured_seconds=float(sum(ablation_cost(rest, seconds).values())),
                 thesis_status=published.where("thesis_nmi_tables"))
