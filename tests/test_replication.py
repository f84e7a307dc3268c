"""Replications (other splits, calibrated noise, GNMF's weight, the raw scale) and the
authors' "+eps" denominators, against independent computations."""

import numpy as np
import pandas as pd
import pytest
from metanmf_lab.book.profiles import PROFILES
from metanmf_lab.core._meta import MetaNMF
from metanmf_lab.core._nmf import NMF, GNMF
from metanmf_lab.grid import replication as R
from metanmf_lab.grid import verdicts as V
from metanmf_lab.grid.ablations import ablation_applies
from metanmf_lab.grid.cells import Settings

EPS32 = float(np.finfo(np.float32).eps)
#: The tests' plan: the smoke profile's.
SMOKE = PROFILES["smoke"].plan


def _data(seed=0, shape=(40, 12)):
    return np.random.default_rng(seed).random(shape)


# -- the authors' "+eps" denominators ----------------------------------------------------------

def test_denominator_eps_zero_is_the_default_bit_for_bit():
    X = _data()
    a = NMF(3, init="random", max_iter=30, tol=0, random_state=0).fit_transform(X)
    b = NMF(3, init="random", max_iter=30, tol=0, random_state=0,
            denominator_eps=0.0).fit_transform(X)
    assert np.array_equal(a, b)


def test_denominator_eps_is_added_to_every_denominator():
    """One iteration against Lee and Seung's update written out with "+eps" (W first, then H
    from the new W, as the solver does)."""
    X = _data(1)
    eps = 1e-3  # large enough to matter
    est = NMF(2, init="random", max_iter=1, tol=0, random_state=3, denominator_eps=eps)
    W0, H0 = NMF(2, init="random", max_iter=0, tol=0, random_state=3).fit_transform(X), None
    H0 = NMF(2, init="random", max_iter=0, tol=0, random_state=3).fit(X).components_
    W = W0 * (X @ H0.T) / (W0 @ H0 @ H0.T + eps)
    H = H0 * (W.T @ X) / (W.T @ W @ H0 + eps)
    got = est.fit_transform(X)
    np.testing.assert_allclose(got, W, rtol=1e-12)
    np.testing.assert_allclose(est.components_, H, rtol=1e-12)


def test_denominator_eps_bad_values():
    X = _data()
    with pytest.raises(ValueError, match="denominator_eps"):
        NMF(2, denominator_eps=-1.0).fit(X)
    with pytest.raises(ValueError, match="Frobenius"):
        NMF(2, loss="kl", denominator_eps=EPS32).fit(X)
    assert "denominator_eps" not in GNMF().get_params()  # NMF bases only


def test_raw_algorithm_needs_eps_to_differ_from_the_rescaled_one():
    """Without "+eps" the raw Algorithm 1 equals the rescaled one (the rescaling is exact);
    with it, once the scale has collapsed, the eps dominates the coefficient updates."""
    X = _data(2, (120, 16))

    def fit(rescale, eps):
        base = NMF(4, init="random", max_iter=20, tol=0, denominator_eps=eps)
        m = MetaNMF(4, base=base, n_tasks=3, task_size=10, n_epochs=12, inner_iter=10,
                    rescale_bases=rescale, random_state=0).fit(X)
        return m, m.factorize(X)[0]

    m0, w0 = fit(True, 0.0)
    _, w1 = fit(False, 0.0)
    _, w2 = fit(False, EPS32)
    # equal up to the common power-of-two scale the rescaling removes
    np.testing.assert_allclose(w1 / w1.max(), w0 / w0.max(), rtol=1e-9)
    assert np.median(m0.history_["scale_growth"]) > 1.5  # the raw scale grows every epoch
    assert not np.allclose(w2 / np.abs(w2).max(), w0 / np.abs(w0).max(), rtol=1e-3)


def test_settings_denominator_eps_keeps_old_hashes_and_reaches_the_base():
    from metanmf_lab.grid.models import make_model

    assert Settings(denominator_eps=0.0).hash == Settings().hash
    s = R.raw_settings(True)
    assert s.hash != Settings().hash and not s.rescale_bases
    assert s.denominator_eps == EPS32
    m = make_model("Meta-NMF", 5, 0, "thesis", s)
    assert m.base.denominator_eps == EPS32 and m.rescale_bases is False
    with pytest.raises(ValueError, match="denominator_eps"):
        Settings(denominator_eps=-1.0)


# -- designs -----------------------------------------------------------------------------------

def test_split_settings():
    base = Settings()
    assert R.split_settings(0, base) is base
    s = R.split_settings(3, base)
    assert (s.split_seed, s.noise_seed, s.fmnist_subset_seed) == (3, 3, 3)
    assert len({R.split_settings(r).hash for r in (0,) + R.SPLITS}) == len(R.SPLITS) + 1
    assert len(R.Plan().splits) >= 4


def test_strongest_fair_is_the_highest_mean():
    rows = pd.DataFrame([
        dict(dataset="digits", condition="none", noise=0.0, model=m, nmi=v, seed=s)
        for m, vs in (("NMF (equal compute)", (0.5, 0.6)), ("NMF (warm start)", (0.7, 0.5)),
                      ("NMF NNDSVD (equal compute)", (0.55, 0.56)),
                      ("GNMF (equal compute)", (0.1, 0.2)),
                      ("GNMF NNDSVD (warm start)", (0.3, 0.2)))
        for s, v in enumerate(vs)])
    fair = R.strongest_fair(rows)
    assert fair[("digits", "none", "Meta-NMF")] == "NMF (warm start)"  # 0.60 > 0.555 > 0.55
    assert fair[("digits", "none", "Meta-GNMF NNDSVD")] == "GNMF NNDSVD (warm start)"


def test_calibrated_levels_interpolate():
    t = pd.DataFrame(dict(dataset="digits", noise=[0.0, 0.4, 0.8, 1.2],
                          nmi=[0.6, 0.4, 0.2, 0.1], thesis_noisy_nmf=0.3))
    # between 0.4 (0.4) and 0.8 (0.2): 0.4 + 0.1 / 0.2 * 0.4 = 0.6
    assert R.calibrated_levels(t) == {"digits": 0.6}
    t2 = t.assign(thesis_noisy_nmf=0.01)  # never reached
    assert np.isnan(R.calibrated_levels(t2)["digits"])


def test_designs_of_the_smoke_plan(tmp_path):
    with pytest.raises(ValueError, match="Unknown design"):
        R.design("nope", plan=SMOKE)
    lam = R.design("lambda", plan=SMOKE)
    assert [s.gnmf_lam for s, _ in lam] == list(SMOKE.lambdas)
    assert all(len(c) == len(R.LAMBDA_MODELS) * len(SMOKE.lambda_ranks) for _, c in lam)
    raw = R.design("raw scale", plan=SMOKE)
    assert [s.denominator_eps > 0 for s, _ in raw] == [True, False]
    it = R.design("iterations", plan=SMOKE)
    assert [s.baseline_iter for s, _ in it] == list(SMOKE.iterations)
    full_raw = R.design("raw scale")
    blobs = [c for s, cells in full_raw for c in cells if c.dataset == "blobs"]
    assert blobs and all(c.noise == 0 for c in blobs)


# -- the split term of the verdicts --------------------------------------------------------------

def test_split_table_measures_and_borrows():
    rep = []
    for r, shift in enumerate((0.0, 0.05, -0.05)):
        for m, v in (("NMF", 0.5), ("Meta-NMF", 0.6 + shift), ("NMF (warm start)", 0.6)):
            rep.append(dict(dataset="digits", condition="none", replication=r, rank=5, seed=0,
                            model=m, nmi=v))
    split_rows = pd.DataFrame(rep)
    comparisons = pd.DataFrame(dict(
        dataset="digits", condition="none", reference=["NMF", "NMF (warm start)", "GNMF"],
        model=["Meta-NMF", "Meta-NMF", "Meta-GNMF"]))
    t = V.split_table(split_rows, comparisons).set_index(["reference", "model"])
    assert t.loc[("NMF", "Meta-NMF"), "split_var"] == pytest.approx(0.05 ** 2)
    assert t.loc[("NMF", "Meta-NMF"), "split_source"] == "measured"
    assert t.loc[("GNMF", "Meta-GNMF"), "split_source"] == "borrowed"
    assert t.loc[("GNMF", "Meta-GNMF"), "split_var"] == pytest.approx(
        t["split_var"][t["split_source"] == "measured"].max())


def test_verdict_changes_counts():
    key = dict(dataset="d", condition="none", reference="NMF")
    former = pd.DataFrame([dict(key, model=m, verdict=v) for m, v in
                           (("A", "better"), ("B", "better"), ("C", "undecided"))])
    now = pd.DataFrame([dict(key, model=m, verdict=v) for m, v in
                        (("A", "better"), ("B", "undecided"), ("C", "undecided"))])
    table, n = V.verdict_changes(former, now)
    assert n == 1 and table.loc["better", "undecided"] == 1


def test_task_size_100_does_not_apply_where_it_changes_nothing():
    assert not ablation_applies("task size 100", "Meta-NMF", "faces")
    assert ablation_applies("task size 100", "Meta-NMF", "digits")


def test_command_line(capsys):
    assert R.main(["estimate", "--only", "lambda"]) == 0
    assert "core-hours" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exc:
        R.main(["run", "--jobs", "0"])
    assert exc.value.code == 2
