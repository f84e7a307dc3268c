"""Benchmarks of the solvers and the grid against their goals, read by the Performance page:
``python -m metanmf_lab.grid.bench [--full] [--out DIR]``.

Every figure is a ratio against a reference measured in the same run (or a time whose
reference is printed beside it), so a noisy or slow machine shifts both sides together.
Prints one ``name: value`` line per figure and writes them, with the machine's description,
to ``data/benchmarks/bench-<mode>.csv`` (and the timings behind the time-vs-n plot to
``data/benchmarks/scaling-<mode>.csv``), which the book's Performance page reads.

Unless a figure says otherwise, BLAS runs on one thread: the experiment grid runs one cell
per core with one BLAS thread each, so that is the setting that matters.
"""

from __future__ import annotations

import argparse
import csv
import os
import platform
import sys
import tempfile
import time
import tracemalloc
import warnings
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import scipy
import scipy.sparse as sp
import sklearn
from sklearn.datasets import make_blobs
from sklearn.decomposition import NMF as SkNMF
from sklearn.preprocessing import MinMaxScaler
from threadpoolctl import threadpool_info, threadpool_limits

from .._config import PROJECT_ROOT, __version__
from ..core import GNMF, Graph, MetaNMF, NMF, frobenius_loss, knn_graph, mu_frobenius, solve_mu
from ..core.splits import learning_evaluation_split
from ..data.datasets import DATASETS, load_dataset
from .catalogue import MODELS, THESIS_RANKS, parse_model
from .cells import Cell, Settings, make_grid
from .cli import int_option, user_errors
from .models import fit_block, fit_cell, load_cell_data, make_model
from .runner import run_cell, run_grid
from .spine import GridInterrupted, cpu_name, interrupt_exit_code, sigterm_as_interrupt
from .store import ResultStore

BENCH_DIR = PROJECT_ROOT / "data" / "benchmarks"

GOALS = {
    "mu_vs_gemm_bound": ("<=", 1.15),
    "speedup_vs_sklearn_mu": (">=", 1.3),
    "gnmf_sparse_vs_nmf": ("<=", 1.5),
    "meta_fit_scaling_exponent": ("<=", 1.1),
    "grid_full_minutes_estimate": ("<=", 45.0),
    "grid_full_minutes_measured": ("<=", 45.0),
    "grid_batched_minutes_estimate": ("<=", 45.0),
    "grid_batched_minutes_measured": ("<=", 45.0),
}


def best_time(fn, repeat=5, number=1):
    """Smallest wall time of ``number`` calls of ``fn`` over ``repeat`` trials, per call."""
    best = np.inf
    for _ in range(repeat):
        t0 = time.perf_counter()
        for _ in range(number):
            fn()
        best = min(best, (time.perf_counter() - t0) / number)
    return best


def interleaved(fns, repeat=5, number=1):
    """Best times of several functions measured in alternation (fair under drifting load)."""
    best = [np.inf] * len(fns)
    for _ in range(repeat):
        for i, fn in enumerate(fns):
            best[i] = min(best[i], best_time(fn, 1, number))
    return best


class Report:
    """Collects figures, prints ``name: value`` lines, writes the CSV."""

    def __init__(self):
        self.rows = []

    def add(self, name, value, unit="", note=""):
        family = next((g for g in GOALS if name.startswith(g)), None)
        goal = met = ""
        if family is not None and np.isfinite(value):
            op, target = GOALS[family]
            goal = f"{op} {target:g}"
            met = bool(value <= target) if op == "<=" else bool(value >= target)
        self.rows.append(dict(figure=name, value=value, unit=unit, goal=goal, met=met,
                              note=note))
        shown = f"{value:.3f}" if isinstance(value, float) else str(value)
        extra = f"  ({note})" if note else ""
        print(f"{name}: {shown}{(' ' + unit) if unit else ''}{extra}", flush=True)

    def write(self, path, machine):
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=["figure", "value", "unit", "goal", "met",
                                               "note"] + list(machine))
            w.writeheader()
            for r in self.rows:
                w.writerow({**r, **machine})


def machine_info(mode):

    blas = [f"{i.get('internal_api')} {i.get('version')} ({i.get('architecture')})"
            for i in threadpool_info() if i.get("user_api") == "blas"]
    cpu = cpu_name()
    return dict(mode=mode, date_utc=datetime.now(timezone.utc).strftime("%Y-%m-%d"),
                cpu=cpu, cores=os.cpu_count(), blas="; ".join(blas),
                python=platform.python_version(), numpy=np.__version__,
                scipy=scipy.__version__, sklearn=sklearn.__version__,
                metanmf_lab=__version__)


def _problem(n, m, k, dtype, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.random((n, m)).astype(dtype)
    return X, rng.random((n, k)).astype(dtype), rng.random((k, m)).astype(dtype)


# -- 1. MU iteration against the two unavoidable products ------------------------------------


def bench_gemm_bound(rep, shapes, iters):

    for (m, n, k) in shapes:  # named as in the thesis' orientation: features x samples
        for dtype in (np.float64, np.float32):
            X, W, H = _problem(n, m, k, dtype)
            Wt = np.ascontiguousarray(W.T)
            # The bound: each product computed in whichever layout BLAS does fastest.
            xht = min(interleaved([lambda: X @ H.T, lambda: H @ X.T], rep, 3))
            wtx = min(interleaved([lambda: W.T @ X, lambda: Wt @ X], rep, 3))
            mu = best_time(lambda: mu_frobenius(X, W.copy(), H.copy(), max_iter=iters),
                           rep) / iters
            tag = f"{np.dtype(dtype).name}_{m}x{n}_r{k}"
            REPORT.add(f"mu_vs_gemm_bound_{tag}", mu / (xht + wtx),
                       note=f"MU {mu * 1e3:.2f} ms/iter, products {(xht + wtx) * 1e3:.2f} ms")
            if k == shapes[0][2]:
                slow, fast = ("X @ H.T", "H @ X.T") if dtype == np.float64 else \
                    ("H @ X.T", "X @ H.T")
                t_a, t_b = interleaved([lambda: X @ H.T, lambda: H @ X.T], rep, 3)
                ratio = (t_a / t_b) if dtype == np.float64 else (t_b / t_a)
                REPORT.add(f"layout_gain_{tag}", ratio,
                           note=f"time of {slow} / time of {fast}: why W is held "
                                f"{'transposed' if dtype == np.float64 else 'as is'}")


# -- 2. against scikit-learn's MU --------------------------------------------------------------


def bench_sklearn(rep, shapes, iters):


    for (m, n, k) in shapes:
        for dtype in (np.float64, np.float32):
            X, W0, H0 = _problem(n, m, k, dtype, seed=1)
            ours = NMF(k, init="custom", max_iter=iters, tol=0)
            sk = SkNMF(k, solver="mu", init="custom", max_iter=iters, tol=0)
            res = {}

            def run_ours():
                res["ours"] = (ours.fit_transform(X, W=W0.copy(), H=H0.copy()),
                               ours.components_)

            def run_sk():
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    res["sk"] = (sk.fit_transform(X, W=W0.copy(), H=H0.copy()), sk.components_)

            t_ours, t_sk = interleaved([run_ours, run_sk], rep)
            f_ours = frobenius_loss(X, *res["ours"])
            f_sk = frobenius_loss(X, *res["sk"])
            rel = abs(f_ours - f_sk) / f_sk
            tag = f"{np.dtype(dtype).name}_{m}x{n}_r{k}"
            ok = rel < (1e-6 if dtype == np.float64 else 1e-4)
            REPORT.add(f"speedup_vs_sklearn_mu_{tag}", t_sk / t_ours if ok else float("nan"),
                       note=f"{iters} iterations, same start; objective rel. diff {rel:.1e}"
                            + ("" if ok else " -- NOT THE SAME OBJECTIVE, no speed figure"))


# -- 3. sparse GNMF at n = 50,000 --------------------------------------------------------------


def _random_neighbour_graph(n, p, seed=0):
    """A graph with the kNN construction's shape (p random neighbours per sample, symmetrised
    like Cai et al.'s): same size and sparsity as a kNN graph, so the same iteration cost."""


    rng = np.random.default_rng(seed)
    cols = (np.arange(n)[:, None] + rng.integers(1, n, size=(n, p))) % n  # never self
    A = sp.csr_matrix((np.ones(n * p), (np.repeat(np.arange(n), p), cols.ravel())),
                      shape=(n, n))
    A.data[:] = 1.0  # duplicates summed: back to 0-1
    A = A.maximum(A.T).tocsr()
    return Graph(A, np.asarray(A.sum(axis=1)).ravel())


def bench_gnmf(n, iters, rep, exact_wide):


    k = 10
    for m in (500, 50):
        X, _ = make_blobs(n_samples=n, n_features=m, centers=10, random_state=0)
        X = MinMaxScaler().fit_transform(X)
        t0 = time.perf_counter()
        if m <= 64 or exact_wide:
            graph, kind = knn_graph(X, 5), "exact kNN graph, p=5"
        else:
            graph, kind = _random_neighbour_graph(n, 5), "random 5-neighbour graph of kNN shape"
        t_graph = time.perf_counter() - t0
        rng = np.random.default_rng(0)
        W0, H0 = rng.random((n, k)), rng.random((k, m))
        t_nmf, t_gnmf = interleaved([
            lambda: solve_mu(X, W0.copy(), H0.copy(), max_iter=iters),
            lambda: solve_mu(X, W0.copy(), H0.copy(), max_iter=iters, graph=graph,
                             lam=100.0)], rep)
        REPORT.add(f"gnmf_sparse_vs_nmf_n{n}_m{m}", t_gnmf / t_nmf,
                   note=f"per iteration, rank {k}, {kind} ({graph.A.nnz} edges, built in "
                        f"{t_graph:.1f} s); NMF {t_nmf / iters * 1e3:.1f} ms/iter")
        if m == 500:
            tracemalloc.start()
            solve_mu(X, W0.copy(), H0.copy(), max_iter=iters, graph=graph, lam=100.0)
            peak = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
            REPORT.add(f"gnmf_peak_memory_mb_n{n}", peak / 2**20, "MB",
                       note=f"beyond X; a dense n x n float64 array would need "
                            f"{n * n * 8 / 2**20:,.0f} MB")


def bench_kl_history(rep, iters):
    """KL MU with the objective after every iteration (the estimators' history) against only
    at the end (the meta-learner's base calls): same factors, a log per entry saved."""

    rng = np.random.default_rng(0)
    n, m, k = 2000, 784, 10
    X = rng.random((n, m)) * (rng.random((n, m)) > 0.5)  # half zeros, as in images
    W0, H0 = rng.random((n, k)) + 0.1, rng.random((k, m)) + 0.1
    t_every, t_end = interleaved([
        lambda: solve_mu(X, W0.copy(), H0.copy(), loss="kl", max_iter=iters),
        lambda: solve_mu(X, W0.copy(), H0.copy(), loss="kl", max_iter=iters,
                         history=False)], rep)
    REPORT.add("kl_objective_at_end_vs_every_iteration", t_end / t_every,
               note=f"n={n}, m={m}, rank {k}, {iters} iterations; every iteration "
                    f"{t_every / iters * 1e3:.1f} ms/iter")


# -- 4. Meta-NMF fit time against n; and one full-setting fit on Fashion-MNIST ----------------


def bench_scaling(sizes, n_epochs, inner, rep, scaling_rows):


    m, k = 200, 10
    times, nmf_times = [], []
    for n in sizes:
        X, _ = make_blobs(n_samples=n, n_features=m, centers=5, cluster_std=5,
                          random_state=0)
        X = MinMaxScaler().fit_transform(X)
        meta = MetaNMF(k, n_epochs=n_epochs, inner_iter=inner, random_state=0)
        t_meta = best_time(lambda: meta.fit(X), rep)
        n_iter = meta.n_base_iter_
        t_nmf = best_time(lambda: NMF(k, max_iter=n_iter // (meta.n_tasks + 1), tol=0,
                                      random_state=0).fit(X), rep)
        t_gnmf = best_time(lambda: GNMF(k, max_iter=n_iter // (meta.n_tasks + 1), tol=0,
                                        random_state=0).fit(X), rep)
        times.append(t_meta)
        nmf_times.append(t_nmf)
        for method, t in (("Meta-NMF", t_meta), ("NMF", t_nmf), ("GNMF", t_gnmf)):
            scaling_rows.append(dict(method=method, n_samples=n, n_features=m, rank=k,
                                     iterations=n_iter // (meta.n_tasks + 1), seconds=t))
    b = np.polyfit(np.log(sizes), np.log(times), 1)[0]
    b_nmf = np.polyfit(np.log(sizes), np.log(nmf_times), 1)[0]
    REPORT.add("meta_fit_scaling_exponent", float(b),
               note=f"fit time ~ n^b over n = {', '.join(map(str, sizes))} x {m} features "
                    f"({n_epochs} epochs x {inner} iterations; "
                    f"{', '.join(f'{t:.2f}' for t in times)} s)")
    REPORT.add("nmf_fit_scaling_exponent", float(b_nmf),
               note="the same for plain NMF with as many iterations as one target call: the "
                    "reference for the line above (what the hardware does with a growing X)")


def bench_fmnist_fit():

    try:
        X, y = load_dataset("fmnist", download=False)
    except (FileNotFoundError, OSError, ValueError) as exc:
        REPORT.add("meta_fit_seconds_fmnist_r18", float("nan"), "s",
                   note=f"Fashion-MNIST unavailable: {exc}".splitlines()[0])
        return
    X_learn = learning_evaluation_split(X, y)[0]
    est = make_model("Meta-NMF", 18, 0)
    t = best_time(lambda: est.fit(X_learn), 1)
    REPORT.add("meta_fit_seconds_fmnist_r18", t, "s",
               note=f"{est.n_epochs} epochs x {est.inner_iter} iterations, "
                    f"{X_learn.shape[0]} x {X_learn.shape[1]} learning half, float64")


# -- 5. float32 end to end: same NMI within seed noise -----------------------------------------


def bench_float32(datasets, seeds):

    for ds in datasets:
        diffs, t64, t32 = [], 0.0, 0.0
        for s in seeds:
            cell = Cell(ds, 0.0, "Meta-NMF", 10, s)
            r64 = run_cell(cell, Settings())
            r32 = run_cell(cell, Settings(dtype="float32"))
            diffs.append((r32["nmi"], r64["nmi"]))
            t64 += r64["seconds"]
            t32 += r32["seconds"]
        d = np.array(diffs)
        REPORT.add(f"float32_nmi_minus_float64_{ds}", float(np.mean(d[:, 0] - d[:, 1])),
                   note=f"Meta-NMF rank 10, {len(seeds)} seeds; seed s.d. of the float64 NMI "
                        f"{np.std(d[:, 1], ddof=1):.3f}; float32 time / float64 time "
                        f"{t32 / t64:.2f}")


# -- 6. the whole grid ------------------------------------------------------------------------


def bench_grid(n_jobs, settings, tag=""):
    """Estimate the wall time of the thesis grid, one cell at a time, from a stratified sample
    of cells run with fewer epochs (the batched engine's grid is measured whole by
    :func:`bench_grid_batched`)."""


    seeds = range(5)
    sample_ranks = (2, 18)  # per-iteration time is close to affine in the rank
    short = settings.replace(n_epochs=2)
    est = {}  # (dataset, model, rank) -> seconds of one full cell
    for ds in DATASETS:
        for r in sample_ranks:
            for model in MODELS:
                meta, family, init = parse_model(model)
                base = f"{family.upper()}{' NNDSVD' if init == 'nndsvd' else ''}"
                if not meta:
                    est[ds, model, r] = run_cell(Cell(ds, 0.0, model, r, 0), settings)["seconds"]
                    continue
                # A Meta cell = its evaluation phase (costs what its baseline cell costs)
                # plus n_epochs epochs, timed here over 2 epochs.
                t_base = est[ds, base, r]
                t2 = run_cell(Cell(ds, 0.0, model, r, 0), short)["seconds"]
                est[ds, model, r] = t_base + max(t2 - t_base, 0.0) * settings.n_epochs / 2
    total = 0.0
    for ds in DATASETS:
        for model in MODELS:
            ts = [est[ds, model, r] for r in sample_ranks]
            for r in THESIS_RANKS:  # piecewise-linear in the rank between sampled ranks
                total += float(np.interp(r, sample_ranks, ts)) * 2 * len(seeds)  # 2 noises
    n_cells = len(DATASETS) * len(MODELS) * len(THESIS_RANKS) * 2 * len(seeds)
    REPORT.add(f"grid_full_minutes_estimate{tag}", total / n_jobs / 60, "min",
               note=f"{n_cells} cells (8 models x 5 datasets x 2 noise x 6 ranks x 5 seeds), "
                    f"{settings.dtype}, {n_jobs} workers; model time only, from "
                    f"{len(est)} sampled cells")


# -- 7. the batched engine -----------------------------------------------------------------


def _gemm_times(n, m, K, dtype, cache):
    """Best times of one pass over an (n, m) X by BLAS (a matrix-vector product: the memory
    traffic of reading X once) and of the two products of a Frobenius iteration at K stacked
    components (each in the faster layout)."""
    key = (n, m, K, np.dtype(dtype).name)
    if key not in cache:
        X, W, H = _problem(n, m, K, dtype, seed=2)
        v = np.ones(m, dtype)
        read = best_time(lambda: X @ v, 5, 3)
        xht = min(interleaved([lambda: X @ H.T, lambda: H @ X.T], 3, 2))
        wtx = best_time(lambda: W.T @ X, 3, 2)
        cache[key] = (read, xht + wtx)
    return cache[key]


def solver_bounds(trace):
    """The memory-traffic bound and the GEMM bound of the stacked solves in ``trace``
    (:func:`metanmf_lab.core.engine.lockstep`): per iteration, each of the G data matrices
    is read twice (``X H^T``, ``W^T X``), and the two products are computed at the stack's
    width; measured on this machine, one BLAS thread. Returns (traffic, gemm, solver) seconds,
    ``solver`` being the time the stacked solves took."""
    cache, traffic, gemm = {}, 0.0, 0.0
    for t in trace:
        read, products = _gemm_times(t["n"], t["m"], t["K"], t["dtype"], cache)
        traffic += t["iterations"] * t["G"] * 2 * read
        gemm += t["iterations"] * t["G"] * products
    return traffic, gemm, sum(t["seconds"] for t in trace)


def bench_batched_block(dataset, model, n_epochs):
    """One (dataset, model) block (6 ranks x 5 seeds, no noise) fitted by the per-cell engine
    and by the batched engine, with the same settings; and the batched engine against the
    bounds of its stacked products."""
    settings = Settings(n_epochs=n_epochs)
    cells = [Cell(dataset, 0.0, model, r, s) for r in THESIS_RANKS for s in range(5)]
    load_cell_data(dataset, 0.0, settings)  # loaded once, not timed
    t_cell = sum(fit_cell(c, settings).seconds for c in cells)
    times, traces = {}, {}
    for dtype in ("float64", "float32"):
        fast = settings.replace(engine="batched", dtype=dtype)
        load_cell_data(dataset, 0.0, fast)
        traces[dtype] = []
        res = fit_block(cells, fast, trace=traces[dtype])
        times[dtype] = sum(r.seconds for r in res)
    what = f"{model} on {dataset}, {len(cells)} cells, {n_epochs} epochs x " \
           f"{settings.inner_iter} iterations"
    REPORT.add("batched_block_speedup", t_cell / times["float64"],
               note=f"{what}: per-cell engine {t_cell:.1f} s, batched {times['float64']:.1f} s "
                    f"(float64 both)")
    REPORT.add("batched_block_speedup_float32", t_cell / times["float32"],
               note=f"per-cell float64 / batched float32 ({times['float32']:.1f} s)")
    for dtype in ("float64", "float32"):
        traffic, gemm, solver = solver_bounds(traces[dtype])
        REPORT.add(f"batched_vs_gemm_bound_{dtype}", solver / gemm,
                   note=f"stacked solves {solver:.1f} s against the time of their two products "
                        f"per iteration at the stack's width ({gemm:.1f} s); whole block "
                        f"{times[dtype]:.1f} s")
        REPORT.add(f"batched_vs_traffic_bound_{dtype}", solver / traffic,
                   note=f"against reading each X twice per iteration ({traffic:.1f} s): "
                        f"above the GEMM ratio, so arithmetic, not memory traffic, now bounds it")


def bench_batched_sklearn(dataset):
    """The batched engine against scikit-learn's MU on the same work: the 30 NMF baselines of
    a block (6 ranks x 5 seeds, 100 iterations each, random starts) of ``dataset``'s
    evaluation half, one after the other in scikit-learn, together in the batched engine."""
    X = load_cell_data(dataset, 0.0, Settings())[1]
    cells = [Cell(dataset, 0.0, "NMF", r, s) for r in THESIS_RANKS for s in range(5)]

    def run_sklearn():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for c in cells:
                SkNMF(c.rank, solver="mu", init="random", max_iter=100, tol=0,
                      random_state=c.seed).fit_transform(X)

    t_sk = best_time(run_sklearn, 1)
    t_b = sum(r.seconds for r in fit_block(cells, Settings(engine="batched")))
    REPORT.add("batched_speedup_vs_sklearn_mu", t_sk / t_b,
               note=f"{len(cells)} NMF fits of {dataset} ({X.shape[0]} x {X.shape[1]}), 100 "
                    f"iterations each, float64: scikit-learn {t_sk:.1f} s one by one, batched "
                    f"{t_b:.1f} s")


def bench_grid_batched(full, n_jobs, settings, seeds, grid_store=None):
    """The thesis grid with the batched engine: estimated from blocks run with 1 and 2 epochs
    (each dataset, no noise, every model and rank, ``seeds``), scaled to 50 epochs, both noise
    conditions and 5 seeds; with ``full``, also run whole and timed."""
    total = 0.0
    for ds in DATASETS:
        cells = make_grid([ds], seeds=seeds, noises=["none"])
        load_cell_data(ds, 0.0, settings)
        t = [sum(r.seconds for r in fit_block(cells, settings.replace(n_epochs=e)))
             for e in (1, 2)]
        total += (t[1] + (settings.n_epochs - 2) * max(t[1] - t[0], 0.0)) * 2 * 5 / len(seeds)
    n_cells = len(DATASETS) * len(MODELS) * len(THESIS_RANKS) * 2 * 5
    REPORT.add("grid_batched_minutes_estimate", total / n_jobs / 60, "min",
               note=f"{n_cells} cells, batched engine, {settings.dtype}, {n_jobs} workers; "
                    f"model time only, from blocks of {len(seeds)} seed(s) at 1 and 2 epochs")
    if full:
        cells = make_grid(list(DATASETS))
        with tempfile.TemporaryDirectory() as tmp:
            store = ResultStore(grid_store or Path(tmp) / "grid.csv")
            before = len(store.load())
            t0 = time.perf_counter()
            run_grid(cells, settings, store=store, n_jobs=n_jobs)
            wall = time.perf_counter() - t0
            computed = len(store.load()) - before
        REPORT.add("grid_batched_minutes_measured", wall / 60 if computed == len(cells)
                   else float("nan"), "min",
                   note=f"{computed} of {len(cells)} cells computed (batched, "
                        f"{settings.dtype}, {n_jobs} workers, wall time)")


REPORT = Report()


def _out_problem(folder):
    """Why the CSV files cannot be written into ``folder`` (None if they can): checked before
    the benchmarks run, without creating anything."""
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        return f"{existing} is a file, not a folder"
    if not os.access(existing, os.W_OK | os.X_OK):
        return f"the folder {existing} is read-only"
    for name in ("bench", "scaling"):
        for mode in ("quick", "full"):
            path = folder / f"{name}-{mode}.csv"
            if path.exists() and (path.is_dir() or not os.access(path, os.W_OK)):
                return f"{path} cannot be written"
    return None


def main(argv=None):
    """Command line. Arguments are checked before anything runs (``error: ...``, exit code
    2); Ctrl-C or SIGTERM stops it with exit code 130 or 143, and no CSV file written."""

    ap = argparse.ArgumentParser(prog="python -m metanmf_lab.grid.bench", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--full", action="store_true",
                    help="more repeats, larger settings, and the measured wall time of the "
                         "whole thesis grid (long)")
    ap.add_argument("--out", type=Path, default=BENCH_DIR,
                    help="folder for the CSV files (default: data/benchmarks)")
    ap.add_argument("--jobs", type=int_option("--jobs", 1, allowed=(-1,)),
                    default=os.cpu_count() or 1,
                    help="workers assumed/used for the grid figures (default and -1: all "
                         "cores)")
    ap.add_argument("--grid-store", type=Path, default=None,
                    help="with --full: keep the grid's rows in this result store (e.g. "
                         "data/results/results.csv) instead of a temporary one; the wall "
                         "time is only reported if every cell had to be computed")
    args = ap.parse_args(argv)
    if args.jobs == -1:
        args.jobs = os.cpu_count() or 1
    problem = _out_problem(args.out)
    if problem:
        ap.error(f"argument --out: cannot write the CSV files into {args.out}: {problem}")
    try:
        with sigterm_as_interrupt():
            if args.full and args.grid_store is not None:
                grid_store = ResultStore(args.grid_store)
                grid_store.load()  # a damaged store fails now, not after the benchmarks
                grid_store.check_writable()
            return _run(args)
    except KeyboardInterrupt as exc:
        kept = (f"; {exc.kept} grid rows kept in {args.grid_store}"
                if isinstance(exc, GridInterrupted) and args.grid_store is not None else "")
        print(f"interrupted: no CSV file written{kept}", file=sys.stderr)
        return interrupt_exit_code(exc)
    except user_errors() as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def _run(args):
    """The benchmarks of :func:`main`."""

    mode = "full" if args.full else "quick"
    rep = 7 if args.full else 3
    t_start = time.perf_counter()
    scaling_rows = []
    print(f"# metanmf_lab.grid.bench ({mode}); BLAS threads: 1 unless stated", flush=True)
    with threadpool_limits(limits=1, user_api="blas"):
        shapes = [(784, 3000, 18), (500, 5000, 10)]
        bench_gemm_bound(rep, shapes, iters=20)
        bench_sklearn(rep, shapes, iters=50)
        bench_gnmf(50_000, iters=10 if not args.full else 30, rep=rep, exact_wide=args.full)
        bench_kl_history(rep, iters=10 if not args.full else 30)
        bench_scaling([1000, 5000, 25000], n_epochs=3 if not args.full else 10,
                      inner=20 if not args.full else 100, rep=1 if not args.full else 3,
                      scaling_rows=scaling_rows)
        bench_fmnist_fit()
        bench_float32(["digits"] if not args.full else ["digits", "coil20", "faces"],
                      range(5))
        bench_batched_block("fmnist", "Meta-NMF", n_epochs=10 if args.full else 3)
        bench_batched_sklearn("fmnist")
        bench_grid_batched(args.full, args.jobs, Settings().fast(),
                           seeds=range(5) if args.full else (0,), grid_store=args.grid_store)
    bench_grid(args.jobs, Settings())
    REPORT.add("bench_seconds", time.perf_counter() - t_start, "s")
    machine = machine_info(mode)
    REPORT.write(args.out / f"bench-{mode}.csv", machine)
    with open(args.out / f"scaling-{mode}.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(scaling_rows[0]) + list(machine))
        w.writeheader()
        for r in scaling_rows:
            w.writerow({**r, **machine})
    print(f"# wrote {args.out / f'bench-{mode}.csv'} and {args.out / f'scaling-{mode}.csv'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
