"""Meta-learned priors for matrix factorisation (Iwata 2021): symmetry, gradients, training."""

import numpy as np
import pandas as pd
import pytest

torch = pytest.importorskip("torch")

from metanmf_lab.book.profiles import PROFILES  # noqa: E402
from metanmf_lab.related.metaprior import (Episodes, ExchangeableLayer, MetaPriorMF, PriorNet,
                                           evaluate, gd_steps, masked_mse, meta_train, mu_steps,
                                           torch_generator)


def _matrix(n=7, m=5, seed=0, dtype=torch.float64):
    g = torch.Generator().manual_seed(seed)
    X = torch.rand(n, m, generator=g, dtype=dtype)
    B = (torch.rand(n, m, generator=g) < 0.6).to(dtype)
    return X, B


def test_exchangeable_layer_is_permutation_equivariant():
    layer = ExchangeableLayer(3, 4, torch_generator(0)).double()
    X, B = _matrix()
    Z = torch.randn(7, 5, 3, dtype=torch.float64)
    pr, pc = torch.randperm(7), torch.randperm(5)
    out = layer(Z, B)
    out_p = layer(Z[pr][:, pc], B[pr][:, pc])
    torch.testing.assert_close(out_p, out[pr][:, pc])
    # unobserved entries do not leak into the means: changing them changes only their own
    # output (through b z, which is 0 for them, so not at all)
    Z2 = Z.clone()
    Z2[B == 0] = 1e3
    torch.testing.assert_close(layer(Z2, B), out)


def test_prior_net_is_invariant_and_equivariant():
    net = PriorNet(rank=3, channels=8, hidden=8,
                   generator=torch_generator(1)).double().eval()
    X, B = _matrix(seed=2)
    U0, V0 = net(X, B)
    assert U0.shape == (7, 3) and V0.shape == (5, 3)
    pr, pc = torch.randperm(7), torch.randperm(5)
    U1, V1 = net(X[pr], B[pr])
    torch.testing.assert_close(U1, U0[pr])
    torch.testing.assert_close(V1, V0)  # invariant to the order of the rows
    U2, V2 = net(X[:, pc], B[:, pc])
    torch.testing.assert_close(U2, U0)
    torch.testing.assert_close(V2, V0[pc])
    # a batch of matrices gives each matrix's own priors
    Ub, Vb = net(torch.stack([X, X[pr]]), torch.stack([B, B[pr]]))
    torch.testing.assert_close(Ub[0], U0)
    torch.testing.assert_close(Ub[1], U0[pr])
    nn_net = PriorNet(rank=3, channels=8, hidden=8, nonnegative=True).double()
    assert (nn_net(X, B, torch_generator(0))[0] > 0).all()


@pytest.mark.parametrize("step", ["gd", "mu"])
def test_gradient_through_unrolled_steps_matches_finite_differences(step):
    X, B = _matrix(seed=3)
    g = torch.Generator().manual_seed(4)
    U0 = torch.rand(7, 2, generator=g, dtype=torch.float64).requires_grad_()
    V0 = torch.rand(5, 2, generator=g, dtype=torch.float64).requires_grad_()
    lam = torch.tensor(0.7, dtype=torch.float64, requires_grad=True)
    Xt, Bt = X.flip(0), 1 - B  # a "test" matrix

    def held_out_error(U0, V0, lam):
        if step == "gd":
            U, V = gd_steps(X, B, U0, V0, lam, 0.05, 6)
        else:
            U, V = mu_steps(X, B, U0, V0, lam, 6)
        return masked_mse(U @ V.T, Xt, Bt)

    assert torch.autograd.gradcheck(held_out_error, (U0, V0, lam), eps=1e-6, atol=1e-7)


def test_gd_steps_are_the_seeds_equations():
    X, B = _matrix(seed=5)
    g = torch.Generator().manual_seed(6)
    U0 = torch.rand(7, 2, generator=g, dtype=torch.float64)
    V0 = torch.rand(5, 2, generator=g, dtype=torch.float64)
    U, V = gd_steps(X, B, U0, V0, 0.3, 0.1, 1)
    # eq. (6) for one row and eq. (7) for one column, written out elementwise
    n, m = 2, 3
    r_n = sum(B[n, j] * (U0[n] @ V0[j] - X[n, j]) * V0[j] for j in range(5))
    torch.testing.assert_close(U[n], U0[n] - 0.1 * r_n)  # prior term is 0 at t = 0
    r_m = sum(B[i, m] * (U0[i] @ V0[m] - X[i, m]) * U0[i] for i in range(7))
    torch.testing.assert_close(V[m], V0[m] - 0.1 * r_m)


def test_mu_steps_stay_nonnegative_and_descend():
    X, B = _matrix(seed=7)
    g = torch.Generator().manual_seed(8)
    U0 = torch.rand(7, 3, generator=g, dtype=torch.float64)
    V0 = torch.rand(5, 3, generator=g, dtype=torch.float64)
    lam = 0.2

    def objective(U, V):
        return (0.5 * ((B * (X - U @ V.T)) ** 2).sum()
                + lam / 2 * (((U - U0) ** 2).sum() + ((V - V0) ** 2).sum()))

    values = []
    U = torch.rand(7, 3, generator=g, dtype=torch.float64)
    V = torch.rand(5, 3, generator=g, dtype=torch.float64)
    BX = B * X
    for _ in range(30):  # the update of mu_steps, written out, from another start
        values.append(float(objective(U, V)))
        U = U * (BX @ V + lam * U0) / ((B * (U @ V.T)) @ V + lam * U)
        V = V * (BX.T @ U + lam * V0) / ((B * (U @ V.T)).T @ U + lam * V)
    assert np.all(np.diff(values) <= 1e-12)
    Uk, Vk = mu_steps(X, B, U0, V0, lam, 25)
    assert (Uk >= 0).all() and (Vk >= 0).all()
    assert objective(Uk, Vk) <= objective(U0, V0)


def _low_rank_matrices(n_mats=6, size=40, rank=3, seed=0, offset=2.0):
    """Low-rank matrices sharing what a prior can learn: an offset and row effects."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n_mats):
        A = rng.normal(size=(size, rank)) @ rng.normal(size=(rank, size)) / np.sqrt(rank)
        A += offset + rng.normal(size=(size, 1))
        A[rng.random(A.shape) < 0.5] = np.nan  # half missing
        out.append(A)
    return out


def test_a_short_meta_training_reduces_the_held_out_error():
    train = Episodes(_low_rank_matrices(seed=0), n_rows=12, n_cols=12)
    valid = Episodes(_low_rank_matrices(seed=1), n_rows=12, n_cols=12)
    model = MetaPriorMF(4, n_steps=5, eta=0.05, channels=8, hidden=8, dropout=0.0,
                        generator=torch_generator(0))
    held = valid.sample(np.random.default_rng(9), 64)
    before = evaluate(model, *held)
    info = meta_train(model, train, valid, n_iter=150, batch=8, lr=3e-3, eval_every=25,
                      n_valid=32, random_state=0)
    after = evaluate(model, *held)
    assert after < 0.5 * before
    assert info["best_iter"] > 0 and len(info["valid_mse"]) == 6


def test_meta_training_is_deterministic_with_a_seed():
    train = Episodes(_low_rank_matrices(seed=2), n_rows=8, n_cols=8)

    def run():
        model = MetaPriorMF(3, n_steps=2, channels=4, hidden=4,
                            generator=torch_generator(123))
        meta_train(model, train, n_iter=10, batch=4, random_state=5)
        return [p.detach().clone() for p in model.parameters()]

    for a, b in zip(run(), run()):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_runs_draw_from_their_own_generators_only():
    """Parameters are PyTorch's default initialisation drawn from the run's generator, dropout
    masks come from the generator of the call, and torch's global generator is never touched."""
    from metanmf_lab.related.metaprior import linear

    torch.manual_seed(5)
    default = torch.nn.Linear(6, 3)
    layer = linear(6, 3, torch_generator(5))
    assert torch.equal(layer.weight, default.weight) and torch.equal(layer.bias, default.bias)
    state = torch.get_rng_state()
    model = MetaPriorMF(3, n_steps=2, channels=4, hidden=4, generator=torch_generator(1))
    X, B = _matrix(8, 8, dtype=torch.float32)
    with pytest.raises(ValueError, match="generator"):
        model.train()(X, B)
    masked = [model(X, B, generator=torch_generator(2)) for _ in range(2)]
    assert torch.equal(*masked) and not torch.equal(masked[0], model.eval()(X, B))
    meta_train(model, Episodes(_low_rank_matrices(seed=2), n_rows=8, n_cols=8), n_iter=3,
               batch=2, random_state=5)
    assert torch.equal(torch.get_rng_state(), state)


def test_episodes_split_observed_entries():
    A = _low_rank_matrices(n_mats=1, size=20)[0]
    X, B, Xt, Bt = Episodes([A], 10, 10, 0.5).sample(np.random.default_rng(0), 3)
    assert X.shape == (3, 10, 10)
    assert ((B * Bt) == 0).all()  # train and test entries never overlap
    assert ((X != 0) <= (B == 1)).all() and ((Xt != 0) <= (Bt == 1)).all()
    assert 0.3 < float(B.sum() / (B.sum() + Bt.sum())) < 0.7


@pytest.mark.parametrize("kw, match", [
    (dict(step="adam"), "step"), (dict(n_steps=-1), "n_steps"), (dict(eta=0.0), "eta"),
    (dict(lam=-1.0), "lam"),
])
def test_bad_model_parameters(kw, match):
    with pytest.raises(ValueError, match=match):
        MetaPriorMF(3, **kw)
    with pytest.raises(ValueError, match="rank"):
        MetaPriorMF(0)


# -- the MovieLens protocol ---------------------------------------------------------------------

def _ratings(seed=0, n_users=40, n_items=50, n=600):
    rng = np.random.default_rng(seed)
    pairs = rng.choice(n_users * n_items, n, replace=False)
    return {"user": pairs // n_items + 1, "item": pairs % n_items + 1,
            "rating": rng.integers(1, 6, n)}


def test_standardized_ratings_and_disjoint_split():
    from metanmf_lab.related.metaprior import split_users_items, standardized_ratings

    r = _ratings()
    A = standardized_ratings(r)
    vals = A[~np.isnan(A)]
    assert vals.size == 600 and abs(vals.mean()) < 1e-12 and abs(vals.std() - 1) < 1e-12
    tr, va, te = split_users_items(A, random_state=0)
    assert tr.shape == (28, 35) and va.shape == (4, 5) and te.shape == (8, 10)
    # no rating appears in two parts, and each part is a block of A (no user or item in two parts)
    total = sum(int((~np.isnan(p)).sum()) for p in (tr, va, te))
    assert total < 600
    again = split_users_items(A, random_state=0)
    np.testing.assert_array_equal(np.nan_to_num(again[0], nan=9), np.nan_to_num(tr, nan=9))


def test_test_matrices_hold_out_half_of_the_ratings():
    from metanmf_lab.related.metaprior import meta_test_matrices, standardized_ratings

    A = standardized_ratings(_ratings(n=1500))
    mats = meta_test_matrices(A, 5, random_state=1, n_rows=10, n_cols=10)
    assert len(mats) == 5
    for X, B, Xt, Bt in mats:
        assert X.shape == (10, 10) and (B * Bt == 0).all()
        n_obs = B.sum() + Bt.sum()
        assert abs(Bt.sum() - 0.5 * n_obs) <= 0.5


def test_split_streams_keep_their_seeds():
    from metanmf_lab.related.metaprior import stream_seed

    assert (stream_seed("meta-test", 3), stream_seed("validation", 3)) == (10_003, 20_003)
    with pytest.raises(KeyError):
        stream_seed("test", 0)


def test_baselines_fit_their_own_matrix():
    from metanmf_lab.related.metaprior import matrix_mse, mean_prediction, mf_prediction

    rng = np.random.default_rng(0)
    full = rng.normal(size=(20, 2)) @ rng.normal(size=(2, 15))
    B = (rng.random(full.shape) < 0.7).astype(float)
    X = full * B
    mean = mean_prediction(X, B)
    assert np.allclose(mean, full[B > 0].mean())
    mf = mf_prediction(X, B, rank=2, reg=1e-3, n_iter=50)
    held = 1 - B
    assert matrix_mse(mf, full * held, held) < 0.1 * matrix_mse(mean, full * held, held)


TINY = dict(rank=3, channels=4, n_layers=2, hidden=4, ff_layers=2, n_steps=2, size=8,
            batch=4, n_iter=6, eval_every=3, n_valid=8, n_test=3, mf_regs=(1.0,),
            eval_steps=(0, 2))


def test_run_ml100k_rows_resume_and_determinism(tmp_path, monkeypatch):
    from metanmf_lab.related import metaprior as mp
    from metanmf_lab.grid.store import ML100KStore

    settings = mp.ML100KSettings(**TINY)
    ratings = _ratings(n_users=100, n_items=120, n=5000)
    store = ML100KStore(tmp_path / "ml.csv")
    rows = mp.run_ml100k([0, 1], settings, store, ratings=ratings)
    assert len(rows) == 2 * (2 + 2)  # ours at T = 0 and 2, MF, Mean; two splits
    assert set(rows.method) == {"ours", "MF", "Mean"}
    assert (rows.n_matrices == 3).all() and rows.mse.gt(0).all()
    ours = rows.method == "ours"
    assert (rows.settings_hash[ours] == settings.prior_hash).all()
    assert (rows.settings_hash[~ours] == settings.hash).all()
    assert settings.prior_hash != settings.hash
    assert rows[rows.method == "MF"].detail.str.contains("reg=1").all()

    def no_recompute(*a, **k):
        raise AssertionError("a stored split must not be recomputed")

    monkeypatch.setattr(mp, "ml100k_split", no_recompute)
    monkeypatch.setattr(mp, "ml100k_baselines", no_recompute)
    again = mp.run_ml100k([0, 1], settings, store, ratings=ratings)
    assert sorted(again.mse) == sorted(rows.mse)
    monkeypatch.undo()
    fresh = mp.run_ml100k([1], settings, False, ratings=ratings)
    stored = rows[rows.split == 1].sort_values(["method", "n_steps"]).mse.to_numpy()
    np.testing.assert_array_equal(fresh.sort_values(["method", "n_steps"]).mse.to_numpy(),
                                  stored)


def test_a_new_mf_grid_recomputes_the_baselines_alone(tmp_path, monkeypatch):
    """The prior's rows do not read MF's ridge weights: their settings leave them out, a new
    grid recomputes MF and Mean without training, and a training run with either grid gives
    the prior's rows bit for bit."""
    import json

    from metanmf_lab.related import metaprior as mp
    from metanmf_lab.grid.store import ML100KStore

    ratings = _ratings(n_users=100, n_items=120, n=5000)
    one = mp.ML100KSettings(**TINY)
    two = mp.ML100KSettings(**dict(TINY, mf_regs=(0.1, 1.0, 10.0, 100.0)))
    assert one.prior_hash == two.prior_hash and one.hash != two.hash
    assert "mf_regs" not in json.loads(one.prior_json())
    assert json.loads(one.to_json()) == dict(json.loads(one.prior_json()), mf_regs=[1.0])
    store = ML100KStore(tmp_path / "ml.csv")
    first = mp.run_ml100k([0], one, store, ratings=ratings)
    trained = []
    monkeypatch.setattr(mp, "ml100k_split", lambda *a, **k: trained.append(a))
    second = mp.run_ml100k([0], two, store, ratings=ratings)
    assert not trained  # only the baselines were computed
    assert len(second) == len(first) == 4 and len(store.load()) == 6
    key = ["method", "n_steps"]
    ours = [r[r.method == "ours"].sort_values(key) for r in (first, second)]
    np.testing.assert_array_equal(ours[0].mse, ours[1].mse)
    assert (ours[1].settings_hash == two.prior_hash).all()
    assert (second[second.method != "ours"].settings_hash == two.hash).all()
    assert second[second.method == "MF"].detail.str.contains("reg=").all()
    monkeypatch.undo()
    fresh = mp.ml100k_split(0, two, ratings)  # a training run with the other grid
    fresh = [r for r in fresh if r["method"] == "ours"]
    np.testing.assert_array_equal([r["mse"] for r in sorted(fresh, key=lambda r: r["n_steps"])],
                                  ours[0].mse)


def test_mf_choice_finds_the_zero_fit_and_prefers_the_smaller_weight():
    """From the largest singular value of the observed matrix on, MF's best fit is zero (its
    penalty is a nuclear norm's); validation ties go to the smaller weight."""
    from metanmf_lab.related.metaprior import mf_choice

    rng = np.random.default_rng(0)
    mats = []
    for _ in range(3):
        full = rng.normal(size=(12, 2)) @ rng.normal(size=(2, 10))
        B = (rng.random(full.shape) < 0.6).astype(float)
        mats.append((full * B, B, full * (1 - B), 1 - B))
    top = max(np.linalg.svd(X, compute_uv=False)[0] for X, *_ in mats)
    regs = (0.05 * top, 0.5 * top, 2 * top, 4 * top, 8 * top)
    reg, zero_from, val = mf_choice(mats, 2, regs)
    assert zero_from == regs[2]
    assert val[regs[2]] == val[regs[3]] == val[regs[4]]  # all the zero fit
    assert reg == min(val, key=val.get) and reg < zero_from
    # only zero fits: a tie, which the smallest of them wins
    assert mf_choice(mats, 2, regs[2:][::-1])[:2] == (regs[2], regs[2])
    assert mf_choice(mats, 2, (0.01 * top,))[1] is None


def _ml100k_settings(text):
    """:class:`ML100KSettings` from a stored settings text of the baselines."""
    import json

    from metanmf_lab.related.metaprior import ML100KSettings

    return ML100KSettings(**{k: tuple(v) if isinstance(v, list) else v
                             for k, v in json.loads(text).items()})


def test_stored_mf_rows_recompute_exactly():
    """A split of the committed store's baselines (the book's full profile) is recomputed from
    its recorded settings: the same ridge weight chosen, the same zero-fit point, and the same
    test errors -- bit for bit where the row was made with the same versions and BLAS kernels
    (its environment), else to the last bits (see tests/test_store_recompute.py)."""
    from conftest import require_data

    from metanmf_lab.related import metaprior as mp
    from metanmf_lab.grid.spine import environment
    from metanmf_lab.grid.store import ML100KStore

    require_data("movielens")
    full = PROFILES["full"].ml100k
    df = ML100KStore().load()
    df = df[(df.settings_hash == full.hash) & (df.method != "ours")]
    split = int(np.random.default_rng(20261123).choice(sorted(set(df.split.astype(int)))))
    old = df[df.split.astype(int) == split].sort_values("method")
    assert len(old) == 2
    settings = _ml100k_settings(old.settings.iloc[0])
    assert settings == full and settings.to_json() == old.settings.iloc[0]
    new = pd.DataFrame(mp.ml100k_baselines(split, settings)).sort_values("method")
    assert list(new.detail) == list(old.detail)
    exact = (old.environment == environment()).all()
    np.testing.assert_allclose(new.mse, old.mse.astype(float), rtol=0 if exact else 1e-12,
                               atol=0)


def test_chapter_reads_mfs_choice_from_its_rows():
    """The chapter's sentence and table of MF's ridge weights come from the rows' details:
    the weight chosen, the zero-fit point, and whether the weight is interior."""
    from metanmf_lab.book.chapters import metaprior as chapter

    regs = (0.1, 1.0, 2.0, 5.0, 10.0)
    rows = pd.DataFrame({
        "split": [0, 1, 2, 0], "method": ["MF", "MF", "MF", "Mean"], "n_steps": -1,
        "mse": [0.9, 1.0, 1.1, 1.2],
        "detail": ["reg=2 (chosen on validation; MF predicts 0 from reg=5)",
                   "reg=1 (chosen on validation; MF predicts 0 from reg=10)",
                   "reg=10 (chosen on validation)", ""]})
    choices = chapter.mf_choices(rows, regs)
    assert list(choices.reg) == [2.0, 1.0, 10.0]
    np.testing.assert_array_equal(choices.zero_from, [5.0, 10.0, np.nan])
    assert list(choices.interior) == [True, True, False]  # split 2: the grid's top
    text = chapter.mf_sentence(choices, regs)
    assert "among 5 weights from 0.1 to 10;" in text  # not evenly spaced: no "per decade"
    assert "zero from a weight of 5 to 10 on (by split) in 2 of the 3 splits" in text
    assert text.endswith("weights chosen, 1 to 10, lie inside the grid and below the zero fit "
                         "in 2 of the 3 splits.")
    even = chapter.mf_sentence(choices.iloc[:2], (0.1, 1.0, 10.0, 100.0, 1000.0))
    assert "from 0.1 to 1,000, 1 per decade" in even and even.endswith("in all 2 splits.")
    assert chapter.mf_sentence(choices, (1.0,)) == "MF's ridge weight is 1, the only one tried."
    per = rows[rows.method == "MF"].pivot_table(index="split", columns="method", values="mse")
    table = chapter.mf_table(choices, per)
    assert list(table.zero_from) == ["5", "10", "–"] and list(table.mse) == [0.9, 1.0, 1.1]


def test_published_table_comes_from_the_published_file():
    """The source's Table 1 beside ours is the project's published file (its shape and sources
    are tested in test_published.py)."""
    from metanmf_lab.grid.published import metaprior_table1

    table = metaprior_table1()
    ml = table[table.dataset == "ML100K"].set_index("method")
    assert {"Ours", "MF", "Mean"} <= set(ml.index) and len(table) == 27
    assert (ml.mse > 0.5).all() and (ml.se < 0.1).all()
    assert ml.loc["Ours", "mse"] == ml.mse.min()  # the source's method is its best on ML100K


# -- the NMF version ----------------------------------------------------------------------------

TINY_NMF = dict(channels=4, n_layers=2, hidden=4, ff_layers=2, n_steps=3, size=12, batch=4,
                n_iter=6, eval_every=3, n_valid=8, eval_iters=(0, 5))


def test_nmf_prior_cells_compare_every_start(tmp_path, monkeypatch):
    from metanmf_lab.related import metaprior as mp
    from metanmf_lab.grid.cells import Settings
    from metanmf_lab.grid.store import NMFPriorStore

    settings = mp.NMFPriorSettings(**TINY_NMF)
    tiny_thesis = Settings(n_epochs=2, inner_iter=5, baseline_iter=10)
    store = NMFPriorStore(tmp_path / "nmf.csv")
    rows = mp.run_nmf_prior(["digits"], [3], [0], settings, store, thesis_settings=tiny_thesis)
    assert len(rows) == len(mp.NMF_STARTS) * 2
    assert set(rows.init) == set(mp.NMF_STARTS) and set(rows.n_iter) == {0, 5}
    assert rows.recon_error.gt(0).all() and rows.nmi.between(0, 1).all()
    # MU iterations from any start lower the reconstruction error
    piv = rows.pivot_table(index="init", columns="n_iter", values="recon_error")
    assert (piv[5] < piv[0]).all()
    monkeypatch.setattr(mp, "nmf_prior_cell", lambda *a: (_ for _ in ()).throw(
        AssertionError("a stored cell must not be recomputed")))
    again = mp.run_nmf_prior(["digits"], [3], [0], settings, store, thesis_settings=tiny_thesis)
    assert sorted(again.recon_error) == sorted(rows.recon_error)
    # other thesis settings are other results: not reused
    with pytest.raises(AssertionError, match="recomputed"):
        mp.run_nmf_prior(["digits"], [3], [0], settings, store)


def test_nmf_prior_start_is_the_networks_nonnegative_prior():
    from metanmf_lab.related import metaprior as mp
    from metanmf_lab.grid.cells import Settings
    from metanmf_lab.grid.models import load_cell_data

    settings = mp.NMFPriorSettings(**TINY_NMF)
    X_learn, X_eval, _, _ = load_cell_data("digits", 0.0, Settings())
    W, H = mp._start("meta-learned prior", X_learn, X_eval, 3, 0, settings, Settings())
    assert W.shape == (X_eval.shape[0], 3) and H.shape == (3, X_eval.shape[1])
    assert (W > 0).all() and (H > 0).all()
    W2, H2 = mp._start("meta-learned prior", X_learn, X_eval, 3, 0, settings, Settings())
    np.testing.assert_array_equal(W, W2)  # deterministic with a seed


def test_committed_stores_hold_the_full_profile():
    """The book's full profile reads these stores; a settings change that orphaned their rows
    would make `make book` retrain every model."""
    from metanmf_lab.related import metaprior as mp
    from metanmf_lab.grid.cells import Settings
    from metanmf_lab.grid.store import ML100KStore, NMFPriorStore

    profile = PROFILES["full"]
    full = profile.ml100k
    ml = ML100KStore().load()
    for methods, h in (({"ours"}, full.prior_hash), ({"MF", "Mean"}, full.hash)):
        part = ml[ml.settings_hash == h]
        assert set(part.method) == methods
        assert set(part.split.astype(int)) == set(profile.splits)
    h, _ = mp._nmf_provenance(profile.nmf_prior, Settings())
    nmf = NMFPriorStore().load()
    nmf = nmf[nmf.settings_hash == h]
    cells = set(zip(nmf.dataset, nmf["rank"].astype(int), nmf.seed.astype(int)))
    assert cells == {(d, r, s) for d in profile.nmf_datasets for r in profile.nmf_ranks
                     for s in profile.nmf_seeds}


def test_nmf_prior_comparisons_pair_cells_and_orient_verdicts():
    import pandas as pd

    from metanmf_lab.related import metaprior as mp

    rng = np.random.default_rng(0)
    rows = []
    for rank in (2, 3, 5, 10):
        for seed in range(6):
            base = rng.uniform(0.3, 0.5)
            for init in mp.NMF_STARTS:
                # the prior: lower error and higher NMI than every other start, by 0.1
                gain = 0.1 if init == "meta-learned prior" else 0.0
                rows.append({"dataset": "digits", "rank": rank, "seed": seed, "init": init,
                             "n_iter": 10, "recon_error": base - gain + 1e-3 * rank,
                             "nmi": base + gain})
    df = pd.DataFrame(rows)
    err = mp.nmf_prior_comparisons(df, "recon_error")
    nmi = mp.nmf_prior_comparisons(df, "nmi")
    assert list(err.start) == ["random", "nndsvd", "Meta-NMF basis"]
    assert (err.n_pairs == 24).all() and (err.n_seeds == 6).all()
    np.testing.assert_allclose(err.difference, -0.1)
    np.testing.assert_allclose(nmi.difference, 0.1)
    assert (err.verdict == "better").all() and (nmi.verdict == "better").all()
    # the prior worse: verdicts flip
    worse = df.assign(nmi=np.where(df.init == "meta-learned prior", df.nmi - 0.2, df.nmi))
    assert (mp.nmf_prior_comparisons(worse, "nmi").verdict == "worse").all()
    with pytest.raises(ValueError, match="value must be"):
        mp.nmf_prior_comparisons(df, "seconds")
    with pytest.raises(ValueError, match="lack columns"):
        mp.nmf_prior_comparisons(df.drop(columns="seed"), "nmi")
