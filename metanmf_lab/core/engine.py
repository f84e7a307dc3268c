"""The batched engine: many models fitted in lockstep, their solver calls solved together.

The estimators' fitting code does not call the solver: it yields each call as a value
(:class:`MUCall`, :class:`MUBatchCall`) and receives the result. :func:`run_steps` answers the
calls one at a time -- that is ``fit`` itself, the reference path. :func:`lockstep` advances
many such generators side by side (every model of a grid block: ranks, seeds, models) and
answers all their pending calls together with :func:`solve_together`:

* calls on the same data (the same X, the same graph; recognised by content) with the same
  solver options form a *group*: their factors are stacked along the rank axis, so each
  iteration reads X once for all of them (:func:`~metanmf_lab.core._solvers.mu_frobenius_blocks`);
* groups of equal shape and equal ranks are stacked once more (e.g. the five seeds' target
  tasks, the meta-tasks of every seed), one batched product per step.

Everything else -- the random draws, the task split, the transfer, the rescaling, the
evaluation -- is the estimators' own code, run once per model; the kNN graphs and SVDs of
equal data are computed once (:mod:`metanmf_lab.core._shared`). The stacked products sum in
another order than the separate ones, so the results agree with the reference path to
rounding, not bit for bit (``tests/test_engine.py`` states the tolerance); a block run again
gives the same bits. Calls the stacked solver does not cover (the KL loss, whose O(n m k)
work is per model through X / (W H); a fixed-components ``transform``) are solved one at a
time, as the reference path does.

The grid's batched engine (:func:`metanmf_lab.grid.models.fit_block`) is this module applied to
the cells of one (dataset, noise, protocol).
"""

from __future__ import annotations

import hashlib
import time

import numpy as np

from ._graph import block_diagonal
from ._meta import MetaNMF, WarmStartNMF
from ._nmf import GNMF, NMF
from ._shared import sharing
from ._solvers import (MUBatchCall, MUCall, MUResult, mu_frobenius_blocks,
                       normalize_components, run_steps)

__all__ = ["MUBatchCall", "MUCall", "fit_steps", "lockstep", "run_steps", "solve_together"]


def fit_steps(estimator, X_eval, X_learn=None):
    """The experiments' protocol for one model, as a generator of solver calls: a transfer
    model (:class:`MetaNMF`, :class:`WarmStartNMF`) is fitted on ``X_learn`` and factorises
    ``X_eval`` (evaluation phase); a base model (:class:`NMF`, :class:`GNMF`) factorises
    ``X_eval`` from its own initialisation. Returns ``(W, H)`` of ``X_eval``.
    ``run_steps(fit_steps(...))`` is the reference path."""
    if isinstance(estimator, (MetaNMF, WarmStartNMF)):
        yield from estimator._fit_steps(X_learn)
        return (yield from estimator._factorize_steps(X_eval))
    if isinstance(estimator, (NMF, GNMF)):
        W = yield from estimator._fit_transform_steps(X_eval)
        return W, estimator.components_
    raise TypeError(f"fit_steps takes a metanmf_lab estimator, got {type(estimator).__name__}.")


def lockstep(steps, *, trace=None):
    """Run several generators of solver calls side by side; return their return values.

    Each round collects the pending call of every generator that has not finished and answers
    them with :func:`solve_together`. Deterministic: calls are grouped in the order of
    ``steps``. ``trace`` (a list, optional) receives one dict per stacked solve (see
    :func:`solve_together`).
    """
    steps = list(steps)
    results = [None] * len(steps)
    pending = {}
    prints = _Fingerprints()

    def advance(i, value, first=False):
        try:
            pending[i] = next(steps[i]) if first else steps[i].send(value)
        except StopIteration as done:
            results[i] = done.value
            pending.pop(i, None)

    with sharing():  # one kNN graph, one SVD per data, not one per model
        for i in range(len(steps)):
            advance(i, None, first=True)
        while pending:
            order = sorted(pending)
            answers = solve_together([pending[i] for i in order], prints, trace=trace)
            for i, answer in zip(order, answers):
                advance(i, answer)
    return results


class _Fingerprints:
    """Content digests of arrays and graphs, computed once per object (kept alive for the
    run, so that an object's id is never reused for another one)."""

    def __init__(self):
        self._seen = {}

    def __call__(self, obj):
        if obj is None:
            return None
        hit = self._seen.get(id(obj))
        if hit is not None and hit[0] is obj:
            return hit[1]
        h = hashlib.blake2b(digest_size=16)
        if isinstance(obj, np.ndarray):
            a = np.ascontiguousarray(obj)
            h.update(f"{a.dtype.str}{a.shape}".encode())
            h.update(memoryview(a).cast("B"))
        else:  # a Graph
            A = obj.A
            parts = [A.data, A.indices, A.indptr] if hasattr(A, "indptr") else [A]
            for part in [*parts, obj.degree]:
                h.update(np.ascontiguousarray(part).tobytes())
        digest = h.hexdigest()
        self._seen[id(obj)] = (obj, digest)
        return digest


class _Unit:
    """One factorisation to solve: X (n, m), W (n, k) and H (k, m) updated in place."""

    __slots__ = ("X", "W", "H", "graph", "data_key")

    def __init__(self, X, W, H, graph, data_key):
        self.X, self.W, self.H, self.graph, self.data_key = X, W, H, graph, data_key


_STACKED_OPTIONS = ("max_iter", "tol", "stopping", "lam", "add_eps", "normalize")


def _options_key(options, dtype):
    """The options that must be equal for calls to be solved together, or None when the
    stacked solver does not cover the call."""
    if options.get("loss", "frobenius") != "frobenius":
        return None
    if not options.get("update_W", True) or not options.get("update_H", True):
        return None
    return (str(dtype),) + tuple(
        options.get(name, default) for name, default in
        zip(_STACKED_OPTIONS, (200, 0.0, "objective", 0.0, 0.0, False)))


def solve_together(calls, fingerprints=None, *, trace=None):
    """Answer solver calls as their own ``solve()`` would, solving compatible ones together.

    Returns the answers in the order of ``calls``: an :class:`MUResult` for an
    :class:`MUCall` (its ``objective`` holds the final value only: the stacked solver does not
    record a history), the tasks' objectives for an :class:`MUBatchCall`. The factors are
    updated in place, as by the reference path. ``trace`` (a list, optional) receives one
    dict per stacked solve: its shape ``G, n, m, K``, ``iterations``, ``dtype``, ``seconds``
    (what the benchmark compares with the GEMM and memory-traffic bounds).
    """
    prints = _Fingerprints() if fingerprints is None else fingerprints
    answers = [None] * len(calls)
    groups = {}  # (options key, data key) -> list of (call index, task index or None, unit)
    for c, call in enumerate(calls):
        if isinstance(call, MUBatchCall):
            opts = dict(call.options, tol=0.0)
            key = _options_key(opts, call.Xs.dtype)
            if key is None:
                answers[c] = call.solve()
                continue
            stack_key = prints(call.Xs)
            answers[c] = np.empty(len(call.Xs))
            for i in range(len(call.Xs)):
                graph = call.graphs[i]
                data_key = (stack_key, i, prints(graph), call.Ws.shape[1:] + call.Hs.shape[2:])
                unit = _Unit(call.Xs[i], call.Ws[i], call.Hs[i], graph, data_key)
                groups.setdefault((key, data_key), []).append((c, i, unit))
            continue
        key = _options_key(call.options, call.X.dtype)
        if key is None:
            answers[c] = call.solve()
            continue
        graph = call.options.get("graph")
        data_key = (prints(call.X), prints(graph), call.X.shape)
        unit = _Unit(call.X, call.W, call.H, graph, data_key)
        groups.setdefault((key, data_key), []).append((c, None, unit))

    # Groups of equal shape and equal ranks are solved as one stack.
    stacks = {}
    for (opts_key, _), members in groups.items():
        first = members[0][2]
        sig = (opts_key, first.X.shape, tuple(m[2].W.shape[1] for m in members))
        stacks.setdefault(sig, []).append(members)
    for (opts_key, _, ranks), member_lists in stacks.items():
        options = dict(zip(_STACKED_OPTIONS, opts_key[1:]))
        t0 = time.perf_counter()
        Xs, iterations = _solve_stack(member_lists, ranks, options, answers)
        if trace is not None:
            G, n, m = Xs.shape
            trace.append(dict(G=G, n=n, m=m, K=int(sum(ranks)), units=G * len(ranks),
                              iterations=iterations, dtype=Xs.dtype.name,
                              graph=options["lam"] > 0, seconds=time.perf_counter() - t0))
    return answers


def _solve_stack(member_lists, ranks, options, answers):
    offsets = np.concatenate([[0], np.cumsum(ranks)])
    blocks = list(zip(offsets[:-1], offsets[1:]))
    firsts = [members[0][2] for members in member_lists]
    G, K = len(firsts), int(offsets[-1])
    Xs = firsts[0].X[None] if G == 1 else np.stack([u.X for u in firsts])
    n, m = Xs.shape[1:]
    Ws = np.empty((G, n, K), dtype=Xs.dtype)
    Hs = np.empty((G, K, m), dtype=Xs.dtype)
    for g, members in enumerate(member_lists):
        for (a, b), (_, _, unit) in zip(blocks, members):
            Ws[g, :, a:b] = unit.W
            Hs[g, a:b] = unit.H
    lam = options["lam"]
    graph = None
    if firsts[0].graph is not None and lam > 0:
        graph = firsts[0].graph if G == 1 else block_diagonal([u.graph for u in firsts])
    n_iter, total, data = mu_frobenius_blocks(
        Xs, Ws, Hs, blocks, max_iter=options["max_iter"], tol=options["tol"],
        stopping=options["stopping"], graph=graph, lam=lam, add_eps=options["add_eps"])
    for g, members in enumerate(member_lists):
        for j, ((a, b), (c, i, unit)) in enumerate(zip(blocks, members)):
            unit.W[...] = Ws[g, :, a:b]
            unit.H[...] = Hs[g, a:b]
            if i is None:
                if options["normalize"]:
                    normalize_components(unit.W, unit.H)
                answers[c] = MUResult(unit.W, unit.H, int(n_iter[g, j]),
                                      np.array([total[g, j]]), float(data[g, j]))
            else:
                answers[c][i] = total[g, j]
    return Xs, int(n_iter.max())
