"""MLAM (Xia et al. 2023): the learned optimiser, the problems, the baselines, the experiments."""

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from metanmf_lab.book.profiles import PROFILES  # noqa: E402
from metanmf_lab.related import mlam as ml  # noqa: E402


def _completion(n=6, size=12, rank=2, rate=0.5, seed=0, lam=0.01):
    R, M = ml.completion_problems(n, size=size, rank=rank, rate=rate, seed=seed)
    return ml.CompletionProblems(torch.as_tensor(R), torch.as_tensor(M), rank, lam)


def test_coordinate_lstm_shapes_and_preprocessing():
    net = ml.CoordinateLSTM(hidden=5, n_layers=2)
    g = torch.tensor([1.0, -1e-3, 0.0, 1e-6], dtype=torch.float64)
    f = net.features(g)
    assert f.shape == (4, 2)
    # |g| >= e^-10: (log|g| / 10, sign g); smaller: (-1, e^10 g)
    np.testing.assert_allclose(f[0], [0.0, 1.0])
    np.testing.assert_allclose(f[1], [math.log(1e-3) / 10, -1.0])
    np.testing.assert_allclose(f[2], [-1.0, 0.0])
    np.testing.assert_allclose(f[3], [-1.0, math.exp(10) * 1e-6])
    state = net.init_state(4)
    step, new = net(g, state)
    assert step.shape == (4,) and step.dtype == torch.float64
    assert len(new) == 2 and new[0][0].shape == (4, 5)
    with pytest.raises(ValueError, match="hidden"):
        ml.CoordinateLSTM(hidden=0)


def test_losses_match_independent_computations():
    from scipy.stats import multivariate_normal

    P = _completion()
    U, V = P.start(ml.torch_generator(0))
    R, M = P.R.numpy(), P.mask.numpy()
    u, v = U.numpy(), V.numpy()
    want = [0.5 * np.sum((M[b] * (R[b] - u[b] @ v[b].T)) ** 2)
            + 0.005 * (np.sum(u[b] ** 2) + np.sum(v[b] ** 2)) for b in range(len(R))]
    np.testing.assert_allclose(P.loss([U, V]).numpy(), want, rtol=1e-12)

    X = ml.gmm_problems(2, n_points=40, K=3, dim=2, seed=1)
    G = ml.GMMProblems(torch.as_tensor(X), 3)
    logits = torch.tensor([[0.0, 1.0, -1.0], [0.5, 0.5, 0.0]], dtype=torch.float64)
    mu = torch.as_tensor(np.random.default_rng(2).normal(size=(2, 3, 2)))
    for b in range(2):
        w = np.exp(logits[b].numpy()) / np.exp(logits[b].numpy()).sum()
        dens = sum(w[k] * multivariate_normal(mu[b, k].numpy(), np.eye(2)).pdf(X[b])
                   for k in range(3))
        assert G.loss([logits, mu])[b].item() == pytest.approx(-np.mean(np.log(dens)),
                                                               rel=1e-12)


def test_block_gradient_matches_finite_differences():
    P = _completion(n=2, size=6)
    blocks = P.start(ml.torch_generator(3))
    for b in (0, 1):
        g = P.block_gradient(blocks, b)
        E = torch.zeros_like(blocks[b])
        E[1, 2, 1] = 1e-6
        plus = [x.clone() for x in blocks]
        minus = [x.clone() for x in blocks]
        plus[b] = plus[b] + E
        minus[b] = minus[b] - E
        fd = (P.loss(plus)[1] - P.loss(minus)[1]) / 2e-6
        assert g[1, 2, 1].item() == pytest.approx(fd.item(), rel=1e-6)


def test_run_shapes_projection_and_argument_errors():
    X = np.random.default_rng(0).random((3, 8, 5))
    P = ml.NMFProblems(torch.as_tensor(X), 2)
    model = ml.MLAM(hidden=4)
    start = P.start(ml.torch_generator(0))
    blocks, losses, recs = model.solve(P, start, n_outer=4, t_in=3,
                                       record=lambda b: float(b[0].sum()))
    assert [b.shape for b in blocks] == [(3, 8, 2), (3, 2, 5)]
    assert losses.shape == (3, 5) and len(recs) == 4
    assert all(bool((b >= 0).all()) for b in blocks)
    with pytest.raises(ValueError, match="inner_start"):
        model.run(P, start, inner_start="sometimes")
    with pytest.raises(ValueError, match="2 blocks"):
        model.run(P, start[:1])
    with pytest.raises(ValueError, match="t_in"):
        model.run(P, start, t_in=0)
    with pytest.raises(ValueError, match="non-negative"):
        ml.NMFProblems(torch.as_tensor(-X), 2)
    with pytest.raises(ValueError, match="rate"):
        ml.completion_problems(2, rate=0.0)
    with pytest.raises(ValueError, match="rank"):
        ml.completion_problems(2, size=10, rank=11)


def test_short_training_reduces_the_global_loss_on_held_out_problems():
    R, M = ml.completion_problems(24, size=12, rank=2, rate=0.5, seed=4)

    def make(idx):
        return ml.CompletionProblems(torch.as_tensor(R[idx]), torch.as_tensor(M[idx]), 2, 0.01)

    test = make(np.arange(16, 24))
    start = test.start(ml.torch_generator(9))
    model = ml.MLAM(hidden=8, generator=ml.torch_generator(0))
    _, before, _ = model.solve(test, start, n_outer=10, t_in=5)
    model.fit(make, 16, n_epochs=3, batch=4, n_outer=10, t_in=5, t_out=5, lr=1e-2,
              random_state=0)
    _, after, _ = model.solve(test, start, n_outer=10, t_in=5)
    ratio_before = float((before[:, -1] / before[:, 0]).mean())
    ratio_after = float((after[:, -1] / after[:, 0]).mean())
    assert ratio_after < 0.5 * ratio_before


def test_training_is_deterministic_with_a_seed():
    R, M = ml.completion_problems(8, size=10, rank=2, rate=0.5, seed=5)

    def make(idx):
        return ml.CompletionProblems(torch.as_tensor(R[idx]), torch.as_tensor(M[idx]), 2, 0.01)

    out = []
    for _ in range(2):
        model = ml.MLAM(hidden=4, generator=ml.torch_generator(1))
        curve = model.fit(make, 8, n_epochs=1, batch=4, n_outer=4, t_in=2, t_out=2,
                          random_state=3)
        out.append((curve, [p.detach().clone() for p in model.parameters()]))
    assert out[0][0] == out[1][0]
    for a, b in zip(out[0][1], out[1][1]):
        assert torch.equal(a, b)


def test_als_solves_each_sub_problem_exactly_and_never_increases_the_loss():
    P = _completion(n=3, size=10, rank=2, rate=0.6, lam=0.1)
    start = P.start(ml.torch_generator(1))
    blocks, losses = ml.als_completion(P, start, n_outer=5)
    assert np.all(np.diff(losses.numpy(), axis=-1) <= 1e-9)
    # after the last V solve, the V sub-problem's gradient vanishes
    assert P.block_gradient(blocks, 1).abs().max().item() < 1e-9


def test_em_converges_to_a_stationary_point_and_never_increases_the_nll():
    X = ml.gmm_problems(3, n_points=200, K=3, dim=2, seed=6)
    G = ml.GMMProblems(torch.as_tensor(X), 3)
    start = G.start(ml.torch_generator(2))
    F0 = G.loss(start)
    blocks, F, n_iter = ml.em_gmm(G, start, max_iter=500, tol=1e-12)
    assert bool((F <= F0 + 1e-12).all())
    for b in (0, 1):
        assert G.block_gradient(blocks, b).abs().max().item() < 1e-5
    _, F1, n1 = ml.em_gmm(G, start, max_iter=1)
    assert bool((n1 == 1).all()) and bool((F <= F1 + 1e-12).all())


def test_alternating_gd_lowers_the_loss_with_a_small_step():
    P = _completion(n=2)
    start = P.start(ml.torch_generator(0))
    _, L, _ = ml.alternating_gd(P, start, 1e-3, n_outer=5, t_in=2)
    assert np.all(np.diff(L.numpy(), axis=-1) < 0)


def test_settings_text_round_trips_and_rejects_bad_experiments():
    key = ml.setting_key("completion", rate=0.2, rank=5, p=5, n_train=50, n_test=50)
    assert key == "n_test=50,n_train=50,p=5,rank=5,rate=0.2"
    assert ml.parse_setting(key) == dict(rate=0.2, rank=5, p=5, n_train=50, n_test=50)
    assert ml.parse_setting("dataset=digits,rank=3")["dataset"] == "digits"
    with pytest.raises(ValueError, match="Unknown MLAM experiment"):
        ml.setting_key("sudoku", n_train=1, n_test=1)
    with pytest.raises(ValueError, match="needs exactly"):
        ml.setting_key("gmm", n_train=1, n_test=1)


def test_run_mlam_stores_cells_whole_and_reuses_them(tmp_path, monkeypatch):
    from metanmf_lab.grid.store import MLAMStore

    settings = PROFILES["smoke"].mlam
    cells = [c for c in PROFILES["smoke"].mlam_cells if c[0] != "nmf"]
    store = MLAMStore(tmp_path / "mlam.csv")
    rows = ml.run_mlam(cells, settings, store)
    assert set(rows.experiment) == {"completion", "gmm"}
    assert set(rows.method) == {"MLAM", "GD", "ALS", "ALS (tuned ridge)", "EM"}
    rmse = rows[(rows.measure == "rmse")]
    assert len(rmse) == 2 * 4 * 3 and np.isfinite(rmse.value).all()
    assert (rows.settings_hash == settings.hash).all()
    monkeypatch.setattr(ml, "mlam_cell", lambda *a, **k: (_ for _ in ()).throw(
        AssertionError("recomputed a stored cell")))
    again = ml.run_mlam(cells, settings, store)
    assert len(again) == len(rows)


def test_stored_rows_are_recomputed():
    """A small stored cell of the full profile (the GMM, 2-D) is recomputed and matches.

    Exactly where the store says it was computed on a processor of this kind. Elsewhere,
    torch's CPU kernels (MKL, vectorised ATen loops) sum in another order, so EM -- a
    deterministic computation -- agrees to the last bits only, and MLAM, whose training
    amplifies last-bit differences over thousands of steps, agrees to within 2% per problem
    and 0.5% on the mean (measured between the AMD EPYC machine that filled the store and an
    Intel AVX-512 one: 0.9% and 0.1%)."""
    import pandas as pd

    from metanmf_lab.grid.store import MLAMStore

    settings = PROFILES["full"].mlam
    df = MLAMStore().load()
    cell = ("gmm", dict(dim=2, n_train=50, n_test=50), 0)
    key = ml.setting_key(cell[0], **cell[1])
    old = df[(df.setting == key) & (df.settings_hash == settings.hash)
             & (~df.measure.str.contains("seconds"))]
    if old.empty:
        pytest.skip("the committed MLAM store does not hold the 2-D GMM cell")
    new = pd.DataFrame(ml.mlam_cell(*cell, settings=settings))
    new = new[~new.measure.str.contains("seconds")]
    k = ["method", "problem", "measure", "t"]
    both = old.assign(value=old.value.astype(float)).merge(new, on=k, suffixes=("_old", ""))
    assert len(both) == len(new) == len(old)
    here = new.environment.iloc[0]
    if (old.environment == here).all():  # same versions and the same kind of processor
        np.testing.assert_array_equal(both.value_old.to_numpy(), both.value.to_numpy())
        return
    em = both[both.method == "EM"]
    np.testing.assert_array_equal(em[em.measure == "iterations"].value_old,
                                  em[em.measure == "iterations"].value)
    np.testing.assert_allclose(em.value, em.value_old, rtol=1e-12)
    mlam = both[(both.method == "MLAM") & (both.measure == "nll")]
    np.testing.assert_allclose(mlam.value, mlam.value_old, rtol=0.02)
    assert abs(mlam.value.mean() / mlam.value_old.mean() - 1) < 0.005


def test_published_tables_come_from_the_published_file():
    """The source's tables beside ours are the project's published file (its shape and sources
    are tested in test_published.py)."""
    from metanmf_lab.grid.published import mlam_tables

    tables = mlam_tables()
    assert set(tables.table) == {"I", "II", "III", "VI"}
    t1 = tables[(tables.table == "I")].pivot(index="method", columns="value_of",
                                             values="value")
    assert t1.shape == (5, 4) and set(t1.index) >= {"MLAM", "ALS", "SGD"}
    assert np.isinf(tables[(tables.table == "II") & (tables.method == "ALS")].value).any()


def test_committed_store_holds_the_full_profile():
    """The book's full profile reads this store; a settings change that orphaned its rows
    would make `make book` retrain every network."""
    from metanmf_lab.grid.store import MLAMStore

    settings = PROFILES["full"].mlam
    df = MLAMStore().load()
    df = df[(df.settings_hash == settings.hash) & (df.algorithm_version == ml.MLAM_VERSION)]
    have = set(zip(df.experiment, df.setting, df.seed.astype(int)))
    want = {(e, ml.setting_key(e, **p), s) for e, p, s in PROFILES["full"].mlam_cells}
    assert want <= have, sorted(want - have)
    # every cell is whole: the test problems of each method and measure are all there
    final = df[df.measure.isin(["rmse", "nll"])]
    n = final.groupby(["setting", "method"])["problem"].nunique()
    expected = final.groupby("setting")["setting"].first().map(
        lambda s: ml.parse_setting(s)["n_test"])
    assert (n.groupby(level=0).min() == expected.reindex(n.index.levels[0])).all()


def test_identifiable_rank_counts_degrees_of_freedom():
    # 100 x 100 at rate 0.2: 2,000 observed entries; rank 10 has 1,900 unknowns, rank 11 2,079
    assert ml.identifiable_rank(100, 100, 0.2) == 10
    assert ml.identifiable_rank(100, 100, 1.0) == 100
    assert ml.identifiable_rank(10, 20, 0.05) == 0
    with pytest.raises(ValueError, match="rate"):
        ml.identifiable_rank(10, 10, 1.5)


def test_comparisons_keep_the_parameter_p_apart_from_p_values():
    import pandas as pd

    rows = []
    for p in (10, 20):
        key = ml.setting_key("completion", rate=0.2, rank=10, p=p, n_train=1, n_test=6)
        for i in range(6):
            for method, v in (("MLAM", 0.1 * i), ("GD", 0.1 * i + 0.5)):
                rows.append(dict(experiment="completion", setting=key, seed=0, method=method,
                                 problem=i, measure="rmse", t=100, value=v))
    c = ml.comparisons(pd.DataFrame(rows), "rmse", "p")
    assert sorted(c["p"]) == [10, 20]
    np.testing.assert_allclose(c["difference"], -0.5)
    assert (c["p_value"] < 0.05).all() and set(c["verdict"]) <= {"better", "undecided"}
