"""Command line of the grid: ``python -m metanmf_lab.grid``.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
import sys
from pathlib import Path

from ..core.protocols import PROTOCOLS
from ..data.datasets import (DATASETS, DataFileError, DataFolderError, DownloadError,
                             MissingDataError)
from . import reporting
from .ablations import ablation_cells, ablation_settings, entry_cells
from .catalogue import ABLATIONS, ALL_MODELS, MODELS, THESIS_RANKS
from .cells import CONDITIONS, ENGINES, Settings, check_ranks, make_grid
from .runner import GRID_RUNS, record_run, run_grid
from .spine import GridInterrupted, interrupt_exit_code, sigterm_as_interrupt
from .store import DEFAULT_STORE, ResultStore, StoreError, shown_path


def int_option(what, low, allowed=()):
    """An argparse type: an integer >= ``low`` (or one of ``allowed``), else a message
    naming the option's values and the value given."""
    extra = "".join(f" or {a}" for a in allowed)

    def parse(text):
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or (value < low and value not in allowed):
            raise argparse.ArgumentTypeError(
                f"{what} must be an integer >= {low}{extra}, got {text!r}")
        return value
    return parse


def _noise_option(text):
    """An argparse type: a condition of :data:`CONDITIONS` (``none``, ``added``) or a finite
    number >= 0."""
    if text in CONDITIONS:
        return text
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value >= 0):
        raise argparse.ArgumentTypeError(
            f'a noise level must be "none", "added" or a finite number >= 0, got {text!r}')
    return value


def _check_runs(runs):
    """Every rank of every run can run on its datasets (:func:`check_ranks`), before anything
    is computed; raises ValueError naming the first that cannot."""
    groups = {}
    for settings, cells in runs:
        for c in cells:
            groups.setdefault((settings, c.dataset, c.protocol), set()).add(c.rank)
    for (settings, dataset, protocol), ranks in groups.items():
        check_ranks(dataset, sorted(ranks), settings, protocol)


def user_errors():
    """The package's own error types that mean a problem the user can fix (a damaged or
    unwritable store, a missing or bad data file, a data folder that is a file): the command
    line prints their message without a traceback; any other error is a bug and keeps its."""

    return (StoreError, DataFileError, DataFolderError, DownloadError, MissingDataError)


def main(argv=None):
    """Command line: run (part of) the grid into the result store, resumably.

    Every argument is checked before anything is computed: a bad one ends with ``error: ...``
    and exit code 2, as does a damaged or unwritable store or a missing data file. Ctrl-C or
    SIGTERM keeps every row computed so far, stops the workers and exits with 130 or 143.
    """

    ap = argparse.ArgumentParser(
        prog="python -m metanmf_lab.grid",
        description="Evaluate the grid cells missing from the result store (resumable: an "
                    "interrupted run keeps every complete row).")
    ap.add_argument("--datasets", nargs="+", default=list(DATASETS), choices=list(DATASETS))
    ap.add_argument("--models", nargs="+", default=list(MODELS), choices=list(ALL_MODELS),
                    metavar="MODEL", help="models (default: the eight of the thesis): "
                                          + ", ".join(ALL_MODELS))
    ap.add_argument("--ranks", nargs="+", type=int_option("a rank", 1),
                    default=list(THESIS_RANKS))
    ap.add_argument("--seeds", nargs="+", type=int_option("a seed", 0),
                    default=list(range(5)))
    ap.add_argument("--noises", nargs="+", type=_noise_option, default=list(CONDITIONS),
                    help='"none", "added" (the dataset\'s level) or numbers >= 0')
    ap.add_argument("--protocols", nargs="+", default=["thesis"], choices=list(PROTOCOLS))
    ap.add_argument("--engine", default="batched", choices=list(ENGINES),
                    help="batched (default): the cells sharing data in lockstep, in float32 "
                         "unless --dtype says otherwise; per-cell: each cell on its own, in "
                         "float64 unless --dtype says otherwise (the book's reference rows)")
    ap.add_argument("--dtype", default=None, choices=["float64", "float32"])
    ap.add_argument("--ablation", nargs="+", default=None, choices=list(ABLATIONS),
                    metavar="ABLATION",
                    help="run under one-at-a-time protocol ablations (each in turn)")
    ap.add_argument("--beyond", action="store_true",
                    help="only the cells of the table entries (of --datasets and --models) "
                         "that differ from the thesis by more than 0.03 NMI, at --ranks and "
                         "--seeds, under each --protocols; with --ablation, only those each "
                         "ablation can change (the reproduction notes' grid)")
    ap.add_argument("--jobs", type=int_option("--jobs", 1, allowed=(-1,)), default=-1,
                    help="workers (-1: all cores)")
    ap.add_argument("--store", default=str(DEFAULT_STORE))
    ap.add_argument("--repair", action="store_true",
                    help="first drop the damaged rows of the store (a line cut short, a bad "
                         "value, a key stored twice), saying which; the run then recomputes "
                         "their cells")
    ap.add_argument("--log", default=None,
                    help="append the wall time of each run that computed cells here (default: "
                         "data/benchmarks/grid-runs.csv, which the performance chapter reads, "
                         "when --store is the default store; else no log)")
    ap.add_argument("--scheduler", default=None,
                    help="address of a dask.distributed scheduler: run the cells there")
    args = ap.parse_args(argv)
    if args.log is None and Path(args.store).resolve() == Path(DEFAULT_STORE).resolve():
        args.log = GRID_RUNS
    store = ResultStore(args.store)
    shown = shown_path(args.store)  # as the user gave it, or relative: no machine path
    kept = 0
    try:
        with sigterm_as_interrupt():
            if args.repair:
                dropped = store.repair()
                print(f"repaired {shown}: dropped line(s) "
                      f"{', '.join(map(str, dropped))}; their cells are computed again"
                      if dropped else f"{shown}: nothing to repair")
            cells = make_grid(args.datasets, models=args.models, ranks=args.ranks,
                              seeds=args.seeds, noises=args.noises, protocols=args.protocols)
            settings = Settings().fast() if args.engine == "batched" else Settings()
            if args.dtype:
                settings = dataclasses.replace(settings, dtype=args.dtype)
            runs = [(settings, cells)]
            if args.beyond:
                entries = [e for e in reporting.stored_entries_beyond(args.store, settings)
                           if e[0] in args.datasets and e[2] in args.models]
                if args.ablation:
                    runs = [(ablation_settings(n, settings),
                             ablation_cells(n, entries, args.ranks, args.seeds, p))
                            for n in args.ablation for p in args.protocols]
                else:
                    runs = [(settings, entry_cells(entries, args.ranks, args.seeds, p))
                            for p in args.protocols]
            elif args.ablation:
                runs = [(ablation_settings(n, settings), cells) for n in args.ablation]
            try:
                _check_runs(runs)
            except ValueError as exc:
                ap.error(str(exc))
            for run_settings, run_cells in runs:
                if args.scheduler:
                    from dask.distributed import Client

                    with Client(args.scheduler):
                        df = run_grid(run_cells, run_settings, store=store, n_jobs=-1,
                                      backend="dask")
                else:
                    df = run_grid(run_cells, run_settings, store=store, n_jobs=args.jobs)
                computed = df.attrs.get("computed", 0)
                kept += computed
                wall = df.attrs.get("wall_seconds", 0.0)
                print(f"{len(df)} of {len(run_cells)} cells in {shown} ({computed} computed "
                      f"in {wall / 60:.1f} min)")
                if computed and args.log:
                    jobs = -1 if args.scheduler else (
                        os.cpu_count() if args.jobs == -1 else args.jobs)
                    record_run(args.log, run_settings, len(run_cells), computed, jobs, wall)
    except KeyboardInterrupt as exc:
        kept += exc.kept if isinstance(exc, GridInterrupted) else 0
        print(f"interrupted: {kept} row{'s' * (kept != 1)} kept in {shown}; rerun to "
              f"resume", file=sys.stderr)
        return interrupt_exit_code(exc)
    except user_errors() as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
