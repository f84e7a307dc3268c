"""The batched engine (metanmf_lab.core.engine) against the per-cell reference path.

Stated tolerance: the stacked products sum in another order than the separate ones, so the
engines agree to rounding. In float64 the factors agree to 1e-9 relative (max abs difference /
max abs value) after the runs below (measured: below 1e-13), the objectives to 1e-9 and the
iteration counts exactly. In float32 the factors agree to 1e-4 (measured: 3e-6) and the
objectives to 1e-4, except that a tolerance stopping rule may stop one iteration earlier or
later (measured: once in these runs), after which the factors agree to 1e-2. On the grid, the
NMI of float64 cells is equal (k-means sees the same clusters) and the reconstruction error
agrees to 1e-9.
"""

import dataclasses

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_digits

from metanmf_lab.core import GNMF, NMF, MetaNMF, WarmStartNMF, knn_graph, solve_mu
from metanmf_lab.core._graph import block_diagonal
from metanmf_lab.core._solvers import MUCall, mu_frobenius_blocks
from metanmf_lab.core.engine import fit_steps, lockstep, run_steps, solve_together
from metanmf_lab.grid.cells import Settings, make_grid
from metanmf_lab.grid.models import fit_block, fit_cell
from metanmf_lab.grid.runner import blocks_of, run_grid
from metanmf_lab.grid.store import ResultStore

TOL = {np.float64: dict(factors=1e-9, objective=1e-9, iterations=0, moved=None),
       np.float32: dict(factors=1e-4, objective=1e-4, iterations=1, moved=1e-2)}


def rel(a, b):
    return float(np.abs(a - b).max() / max(np.abs(a).max(), 1e-300))


@pytest.fixture(scope="module")
def digits():
    X = load_digits().data
    return X[:600], X[600:1000]


def models(seed, protocol="thesis"):
    """Every kind of model and stopping rule the engine must reproduce, at three ranks."""
    out = []
    for r in (2, 4, 7):
        out += [
            MetaNMF(r, base=NMF(), n_epochs=3, inner_iter=15, protocol=protocol,
                    random_state=seed),
            MetaNMF(r, base=NMF(init="nndsvd"), n_epochs=3, inner_iter=15, protocol=protocol,
                    random_state=seed),
            MetaNMF(r, base=GNMF(init="nndsvda"), n_epochs=3, inner_iter=15,
                    protocol=protocol, random_state=seed),
            WarmStartNMF(r, base=GNMF(), learn_iter=30, inner_iter=15, protocol=protocol,
                         random_state=seed),
            NMF(r, max_iter=40, tol=0, random_state=seed),
            NMF(r, max_iter=400, tol=1e-4, random_state=seed),                 # objective rule
            NMF(r, max_iter=400, tol=1e-3, stopping="factors", random_state=seed),
            NMF(r, max_iter=40, tol=0, normalize=True, denominator_eps=1e-7, random_state=seed),
            GNMF(r, max_iter=40, random_state=seed),
            GNMF(r, max_iter=20, loss="kl", random_state=seed),                 # per call: KL
        ]
    return out


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("protocol", ["thesis", "authors"])
def test_lockstep_agrees_with_the_reference_path(digits, dtype, protocol):
    X_learn, X_eval = (X.astype(dtype) for X in digits)
    ref_models = models(0, protocol) + models(1, protocol)
    got_models = models(0, protocol) + models(1, protocol)
    ref = [run_steps(fit_steps(m, X_eval, X_learn)) for m in ref_models]
    got = lockstep([fit_steps(m, X_eval, X_learn) for m in got_models])
    tol = TOL[dtype]
    for m_ref, m_got, (W, H), (W2, H2) in zip(ref_models, got_models, ref, got):
        what = f"{type(m_ref).__name__}({m_ref.get_params()})"
        assert W2.dtype == W.dtype == dtype
        moved = isinstance(m_ref, (NMF, GNMF)) and m_got.n_iter_ != m_ref.n_iter_
        if isinstance(m_ref, (NMF, GNMF)):
            assert abs(m_got.n_iter_ - m_ref.n_iter_) <= tol["iterations"], what
        bound = tol["moved"] if moved else tol["factors"]
        assert rel(W, W2) < bound and rel(H, H2) < bound, what
        if isinstance(m_ref, (NMF, GNMF)) and not moved:
            assert m_got.reconstruction_err_ == pytest.approx(m_ref.reconstruction_err_,
                                                              rel=tol["objective"]), what
        if isinstance(m_ref, MetaNMF):
            for key in ("target_objective", "meta_objective"):
                np.testing.assert_allclose(m_got.history_[key], m_ref.history_[key],
                                           rtol=tol["objective"], err_msg=what)


def test_stopping_rules_stop_each_unit_at_its_own_iteration(digits):
    X = digits[1]
    ranks = (2, 3, 5, 8)
    ref = [NMF(r, max_iter=500, tol=1e-4, random_state=0) for r in ranks]
    got = [NMF(r, max_iter=500, tol=1e-4, random_state=0) for r in ranks]
    for m in ref:
        m.fit(X)
    lockstep([fit_steps(m, X) for m in got])
    assert [m.n_iter_ for m in got] == [m.n_iter_ for m in ref]
    assert len({m.n_iter_ for m in ref}) > 1  # the ranks stop at different iterations


def test_blocks_solver_equals_separate_frobenius_runs():
    rng = np.random.default_rng(0)
    G, n, m, ranks = 3, 40, 15, (2, 3, 1)
    Xs = rng.random((G, n, m))
    graphs = [knn_graph(X, 4) for X in Xs]
    K = sum(ranks)
    Ws, Hs = rng.random((G, n, K)), rng.random((G, K, m))
    blocks = [(0, 2), (2, 5), (5, 6)]
    W0, H0 = Ws.copy(), Hs.copy()
    n_iter, total, data = mu_frobenius_blocks(Xs, Ws, Hs, blocks, max_iter=30,
                                              graph=block_diagonal(graphs), lam=2.0)
    for g in range(G):
        for j, (a, b) in enumerate(blocks):
            res = solve_mu(Xs[g], W0[g, :, a:b].copy(), H0[g, a:b].copy(), max_iter=30,
                           tol=0, graph=graphs[g], lam=2.0)
            assert rel(res.W, Ws[g, :, a:b]) < 1e-12 and rel(res.H, Hs[g, a:b]) < 1e-12
            assert total[g, j] == pytest.approx(res.objective[-1], rel=1e-10)
            assert data[g, j] == pytest.approx(res.loss, rel=1e-10)
            assert n_iter[g, j] == 30


def test_calls_it_does_not_stack_are_solved_as_the_reference_does(digits):
    X = digits[1]
    rng = np.random.default_rng(0)
    W0, H0 = rng.random((X.shape[0], 3)), rng.random((3, X.shape[1]))
    kl = MUCall(X, W0.copy(), H0.copy(), dict(loss="kl", max_iter=10))
    fixed_H = MUCall(X, W0.copy(), H0.copy(), dict(max_iter=10, update_H=False))
    ref = [MUCall(c.X, W0.copy(), H0.copy(), c.options).solve() for c in (kl, fixed_H)]
    got = solve_together([kl, fixed_H])
    for a, b in zip(ref, got):  # the same call: bit for bit
        np.testing.assert_array_equal(a.W, b.W)
        np.testing.assert_array_equal(a.H, b.H)
        np.testing.assert_array_equal(a.objective, b.objective)


def test_calls_on_different_data_never_mix(digits):
    X1, X2 = digits[1][:200], digits[1][200:]
    a = [NMF(3, max_iter=30, tol=0, random_state=s) for s in (0, 1)]
    b = [NMF(3, max_iter=30, tol=0, random_state=s) for s in (0, 1)]
    trace = []
    got = lockstep([fit_steps(a[0], X1), fit_steps(a[1], X2)], trace=trace)
    ref = [run_steps(fit_steps(b[0], X1)), run_steps(fit_steps(b[1], X2))]
    for (W, H), (W2, H2) in zip(ref, got):
        assert rel(W, W2) < 1e-12 and rel(H, H2) < 1e-12
    # equal shapes and ranks: one stack of two groups, each reading its own X
    assert [(t["G"], t["K"]) for t in trace] == [(2, 3)]


def test_content_not_identity_decides_what_is_shared(digits):
    X = digits[1]
    models_ = [NMF(r, max_iter=20, tol=0, random_state=0) for r in (2, 3)]
    trace = []
    lockstep([fit_steps(models_[0], X.copy()), fit_steps(models_[1], X.copy())], trace=trace)
    assert [(t["G"], t["K"], t["units"]) for t in trace] == [(1, 5, 2)]


# -- the grid ------------------------------------------------------------------------------


SMALL = Settings(n_epochs=2, inner_iter=10, baseline_iter=10)


def test_fit_block_equals_fit_cell_on_a_grid_block():
    cells = make_grid(["digits"], ranks=[2, 5], seeds=[0, 1], noises=["none"])
    fast = dataclasses.replace(SMALL, engine="batched")
    ref = {r.cell: r for r in (fit_cell(c, SMALL) for c in cells)}
    for r in fit_block(cells, fast):
        assert r.nmi == ref[r.cell].nmi, r.cell
        assert r.recon_error == pytest.approx(ref[r.cell].recon_error, rel=1e-9), r.cell
        assert (r.n_iter, r.train_iter, r.task_size) == \
            (ref[r.cell].n_iter, ref[r.cell].train_iter, ref[r.cell].task_size)


def test_batched_rows_have_their_own_settings_and_resume(tmp_path):
    store = tmp_path / "results.csv"
    cells = make_grid(["digits"], models=["NMF", "Meta-NMF"], ranks=[2], seeds=[0],
                      noises=["none", "added"])
    fast = SMALL.fast()
    assert (fast.engine, fast.dtype) == ("batched", "float32")
    assert SMALL.hash != fast.hash
    assert Settings().hash == "3f116bcabe4d"  # the reference rows' hash is unchanged
    assert "engine" not in Settings().to_json() and '"engine":"batched"' in fast.to_json()
    df = run_grid(cells, fast, store=store, progress=False)
    assert df.attrs["computed"] == len(cells) == len(df)
    assert set(df.settings_hash) == {fast.hash}
    assert run_grid(cells, fast, store=store, progress=False).attrs["computed"] == 0
    # the reference engine does not read the batched rows: it computes its own
    ref = run_grid(cells, SMALL, store=store, progress=False)
    assert ref.attrs["computed"] == len(cells)
    both = ResultStore(store).load()
    assert len(both) == 2 * len(cells)
    merged = pd.merge(ref, df, on=["dataset", "noise", "model", "rank", "seed"])
    assert (merged.nmi_x - merged.nmi_y).abs().max() < 0.2  # float32 vs float64: close


def test_blocks_group_the_cells_that_share_data():
    cells = make_grid(["digits", "faces"], ranks=[2, 3], seeds=[0, 1])
    blocks = blocks_of(cells, SMALL)
    assert sorted(c for b in blocks for c in b) == sorted(cells)
    assert len(blocks) == 4  # 2 datasets x 2 noise conditions
    for b in blocks:
        assert len({(c.dataset, c.noise, c.protocol) for c in b}) == 1


def test_engine_setting_is_checked():
    with pytest.raises(ValueError, match="engine"):
        Settings(engine="gpu")


def test_fit_steps_refuses_a_foreign_estimator():
    from sklearn.decomposition import NMF as SkNMF
    with pytest.raises(TypeError, match="fit_steps"):
        run_steps(fit_steps(SkNMF(2), np.ones((4, 3))))


# -- the command line and the performance chapter ------------------------------------------


ONE_CELL = ["--datasets", "blobs", "--models", "NMF", "--ranks", "2", "--seeds", "0",
            "--noises", "none", "--jobs", "1"]


def test_command_line_uses_the_batched_engine_and_logs_its_runs(tmp_path):
    from metanmf_lab.grid import cli

    store, log = tmp_path / "r.csv", tmp_path / "runs.csv"
    assert cli.main(ONE_CELL + ["--store", str(store), "--log", str(log)]) == 0
    assert cli.main(ONE_CELL + ["--store", str(store), "--log", str(log)]) == 0  # nothing new
    assert cli.main(ONE_CELL + ["--store", str(store), "--log", str(log),
                                "--engine", "per-cell"]) == 0
    rows = ResultStore(store).load()
    assert list(rows.settings_hash) == [Settings().fast().hash, Settings().hash]
    runs = pd.read_csv(log)
    assert list(runs.engine) == ["batched", "per-cell"]
    assert list(runs.dtype) == ["float32", "float64"]
    assert list(runs.computed) == [1, 1] and (runs.wall_minutes >= 0).all()


def test_performance_chapter_reads_the_last_full_run(tmp_path):
    from metanmf_lab.book.chapters.performance import engine_findings, last_grid_run
    from metanmf_lab.grid.runner import record_run

    log = tmp_path / "runs.csv"
    fast = Settings().fast()
    assert last_grid_run(fast, 2400, log) is None  # no log yet
    record_run(log, fast, 2400, 2400, 2, 1800.0)
    record_run(log, fast, 2400, 12, 2, 60.0)        # a resumed run: not a full one
    record_run(log, Settings(), 2400, 2400, 2, 9000.0)  # the other engine
    run = last_grid_run(fast, 2400, log)
    assert run["wall_minutes"] == 30.0 and run["engine"] == "batched"
    figures = pd.Series(1.5, index=[
        "batched_block_speedup", "batched_block_speedup_float32",
        "batched_vs_gemm_bound_float64", "batched_vs_gemm_bound_float32",
        "batched_vs_traffic_bound_float64", "batched_vs_traffic_bound_float32",
        "batched_speedup_vs_sklearn_mu"])
    text = engine_findings(figures, run, None)
    assert "2,400 cells computed from scratch in **30 minutes**" in text
    assert "has not been run" in engine_findings(figures, None, None)


def test_an_interrupted_batched_run_keeps_its_finished_blocks(tmp_path, monkeypatch):
    from metanmf_lab.grid import runner
    from metanmf_lab.grid.spine import GridInterrupted

    store = ResultStore(tmp_path / "r.csv")
    cells = make_grid(["blobs"], models=["NMF"], ranks=[2], seeds=[0, 1],
                      noises=["none", "added"])  # two blocks: one per noise condition
    real = runner.run_block
    fast = SMALL.fast()
    done = []

    def second_fails(block, settings):
        if done:
            raise KeyboardInterrupt
        done.append(block[0].noise)
        return real(block, settings)

    monkeypatch.setattr(runner, "run_block", second_fails)
    with pytest.raises(GridInterrupted) as info:
        run_grid(cells, fast, store=store, progress=False)
    assert info.value.kept == 2 and set(store.load()["noise"]) == set(done)
    monkeypatch.setattr(runner, "run_block", real)
    assert run_grid(cells, fast, store=store, progress=False).attrs["computed"] == 2
