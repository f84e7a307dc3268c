"""The experiment grid: model registry, cells, the resumable parallel runner and the store."""


import numpy as np
import pandas as pd
import pytest
from metanmf_lab import grid as ex
from metanmf_lab.grid import cli, runner
from metanmf_lab.core._meta import MetaNMF
from metanmf_lab.core._nmf import GNMF, NMF
from metanmf_lab.grid.store import COLUMNS, RUN_COLUMNS, ResultStore

TINY = ex.Settings(n_epochs=2, inner_iter=5, baseline_iter=10)


@pytest.mark.parametrize("name,expected", [
    ("NMF", (False, "nmf", "random")), ("Meta-NMF", (True, "nmf", "random")),
    ("GNMF", (False, "gnmf", "random")), ("Meta-GNMF", (True, "gnmf", "random")),
    ("NMF NNDSVD", (False, "nmf", "nndsvd")), ("Meta-NMF NNDSVD", (True, "nmf", "nndsvd")),
    ("GNMF NNDSVD", (False, "gnmf", "nndsvd")),
    ("Meta-GNMF NNDSVD", (True, "gnmf", "nndsvd")),
])
def test_parse_model(name, expected):
    assert ex.parse_model(name) == expected


def test_models_per_protocol():
    m = ex.make_model("NMF", 5, 3)
    assert isinstance(m, NMF) and m.tol == 0 and m.max_iter == 100 and m.random_state == 3
    g = ex.make_model("GNMF NNDSVD", 5, 3)
    assert isinstance(g, GNMF) and (g.lam, g.loss, g.graph, g.init) == (100.0, "frobenius",
                                                                         "knn", "nndsvd")
    r = ex.make_model("NMF", 5, 3, protocol="authors")
    assert r.normalize and r.stopping == "factors" and r.tol == 1e-3
    rg = ex.make_model("GNMF", 5, 3, protocol="authors")
    assert (rg.lam, rg.loss, rg.graph, rg.sigma, rg.kl_update) == (0.3, "kl", "rbf", 0.5,
                                                                   "split")
    meta = ex.make_model("Meta-GNMF", 5, 3, protocol="authors", settings=TINY)
    assert isinstance(meta, MetaNMF) and isinstance(meta.base, GNMF)
    assert (meta.n_epochs, meta.inner_iter, meta.protocol.name) == (2, 5, "authors")
    assert ex.make_model("GNMF", 5, 3, settings=TINY.replace(gnmf_lam=7.0)).lam == 7.0


def test_settings_hash_changes_with_any_setting():
    base = ex.Settings()
    assert base.hash == ex.Settings().hash
    hashes = {base.hash, base.replace(n_epochs=49).hash, base.replace(dtype="float32").hash,
              base.replace(task_size=50).hash, base.replace(noise_seed=1).hash}
    assert len(hashes) == 5
    with pytest.raises(ValueError, match="dtype"):
        ex.Settings(dtype="float16")
    with pytest.raises(ValueError, match="faces_size"):
        ex.Settings(faces_size=48)


def test_cells_validate_and_grid_is_factorial():
    c = ex.Cell("DIGITS", 0, "meta-nmf", 3, 0)
    assert (c.dataset, c.model, c.noise, c.protocol) == ("digits", "Meta-NMF", 0.0, "thesis")
    for kw, err in [(dict(dataset="mnist"), ValueError), (dict(model="PCA"), ValueError),
                    (dict(noise=-0.1), ValueError), (dict(rank=0), ValueError),
                    (dict(protocol="paper"), ValueError), (dict(seed=1.5), TypeError)]:
        args = dict(dataset="digits", noise=0.0, model="NMF", rank=2, seed=0)
        args.update(kw)
        with pytest.raises(err):
            ex.Cell(**args)
    grid = ex.make_grid(["digits", "blobs"], ranks=[2, 3], seeds=range(2))
    assert len(grid) == 2 * 2 * 8 * 2 * 2
    assert {c.noise for c in grid if c.dataset == "blobs"} == {0.0, 0.1}
    assert ex.resolve_noise("digits", "added") == 0.4
    with pytest.raises(ValueError, match="noise"):
        ex.resolve_noise("digits", "loud")
    # one vocabulary: the codes of CONDITIONS; the former "default" names them
    with pytest.raises(ValueError, match="allowed values are 'none', 'added'"):
        ex.resolve_noise("digits", "default")


def test_run_cell_row_is_complete_and_reproducible():
    cell = ex.Cell("digits", 0.0, "Meta-GNMF", 3, 1)
    row = ex.run_cell(cell, TINY)
    assert set(row) == set(COLUMNS)
    assert 0 <= row["nmi"] <= 1 and row["recon_error"] > 0
    assert row["n_iter"] == 5 and row["train_iter"] == 2 * 6 * 5 and row["task_size"] == 50
    again = ex.run_cell(cell, TINY)
    assert {k: again[k] for k in COLUMNS if k not in RUN_COLUMNS} == \
        {k: row[k] for k in COLUMNS if k not in RUN_COLUMNS}


def test_fit_cell_keeps_factors():
    res = ex.fit_cell(ex.Cell("digits", 0.4, "NMF NNDSVD", 4, 0), TINY)
    assert res.W.shape == (899, 4) and res.H.shape == (4, 64) and res.y_eval.shape == (899,)
    assert res.n_iter == 10 and res.train_iter == 0 and res.task_size is None


def test_run_grid_stores_resumes_and_skips(tmp_path, monkeypatch):
    store = ResultStore(tmp_path / "results.csv")
    cells = ex.make_grid(["digits"], models=["NMF", "Meta-NMF"], ranks=[2], seeds=[0, 1],
                         noises=["none"])
    df = ex.run_grid(cells, TINY, store=store, progress=False)
    assert len(df) == 4 and len(store.load()) == 4

    calls = []
    real = ex.run_cell
    monkeypatch.setattr(runner, "run_cell", lambda c, s: calls.append(c) or real(c, s))
    df2 = ex.run_grid(cells + [ex.Cell("digits", 0.0, "NMF", 3, 0)], TINY, store=store,
                      progress=False)
    assert calls == [ex.Cell("digits", 0.0, "NMF", 3, 0)]  # only the new cell is computed
    assert len(df2) == 5
    pd.testing.assert_frame_equal(df2[df2["rank"] == 2].reset_index(drop=True), df)

    calls.clear()
    ex.run_grid(cells[:1], TINY.replace(inner_iter=6), store=store, progress=False)
    assert len(calls) == 1  # a changed setting is a new cell
    assert len(store.load()) == 6


def test_parallel_run_gives_identical_rows(tmp_path):
    cells = ex.make_grid(["digits"], models=["Meta-NMF", "GNMF"], ranks=[2, 3], seeds=[0],
                         noises=["none"])
    serial = ex.run_grid(cells, TINY, store=tmp_path / "a.csv", progress=False)
    parallel = ex.run_grid(cells, TINY, store=tmp_path / "b.csv", n_jobs=2, progress=False)
    keep = [c for c in COLUMNS if c not in RUN_COLUMNS]
    pd.testing.assert_frame_equal(serial[keep], parallel[keep])


def test_interrupted_run_keeps_complete_rows(tmp_path, monkeypatch):
    store = ResultStore(tmp_path / "r.csv")
    cells = ex.make_grid(["digits"], models=["NMF"], ranks=[2, 3, 4], seeds=[0],
                         noises=["none"])
    real = ex.run_cell

    def flaky(cell, settings):
        if cell.rank == 4:
            raise KeyboardInterrupt
        return real(cell, settings)

    monkeypatch.setattr(runner, "run_cell", flaky)
    with pytest.raises(KeyboardInterrupt):
        ex.run_grid(cells, TINY, store=store, progress=False, flush_every=1)
    assert sorted(store.load()["rank"]) == [2, 3]
    monkeypatch.setattr(runner, "run_cell", real)
    assert len(ex.run_grid(cells, TINY, store=store, progress=False)) == 3


@pytest.mark.needs_data("faces")
def test_faces_thesis_split_fallback_is_recorded():
    row = ex.run_cell(ex.Cell("faces", 0.0, "Meta-NMF", 2, 0), TINY)
    assert row["task_size"] == 20


def test_protocol_overrides_reach_the_models_and_the_hash():
    s = TINY.replace(protocol_overrides=(("transfer", "running_sum"), ("gnmf", "authors")))
    assert s.hash != TINY.hash
    assert s.protocol_overrides == (("gnmf", "authors"), ("transfer", "running_sum"))
    meta = ex.make_model("Meta-GNMF", 3, 0, settings=s)
    assert meta.protocol.transfer == "running_sum" and meta.protocol.task_size == 50
    assert meta.base.loss == "kl" and meta.base.graph == "rbf"
    assert ex.make_model("NMF", 3, 0, settings=s).normalize is False
    with pytest.raises(ValueError, match="Unknown protocol field"):
        ex.Settings(protocol_overrides=(("epochs", 3),))
    with pytest.raises(ValueError, match="transfer"):
        ex.Settings(protocol_overrides=(("transfer", "median"),))
    assert ex.make_model("Meta-NMF", 3, 0, settings=TINY.replace(rescale_bases=False)) \
        .rescale_bases is False


@pytest.mark.parametrize("name,kind,family,init", [
    ("NMF (equal compute)", "equal_compute", "nmf", "random"),
    ("GNMF NNDSVD (equal compute)", "equal_compute", "gnmf", "nndsvd"),
    ("NMF NNDSVD (warm start)", "warm_start", "nmf", "nndsvd"),
    ("GNMF (warm start)", "warm_start", "gnmf", "random"),
    ("Meta-GNMF NNDSVD", "meta", "gnmf", "nndsvd"), ("NMF", "baseline", "nmf", "random"),
])
def test_fair_model_names(name, kind, family, init):
    assert ex.model_kind(name) == kind
    assert ex.parse_model(name) == (kind == "meta", family, init)


def test_equal_compute_budget_counts_sample_iterations():
    s = ex.Settings()
    # thesis: 5 x 50 tasks + the rest of 3000 as target, 50 epochs x 100, plus the evaluation
    assert ex.equal_compute_iterations(s, "thesis", 3000, 3000, 18) == 50 * 100 + 100
    # authors: 5 x 100 overlapping tasks + the whole learning set as target
    assert ex.equal_compute_iterations(s, "authors", 3000, 3000, 18) == \
        round((50 * 100 * (500 + 3000) + 100 * 3000) / 3000)
    # Faces under the thesis protocol: the documented fallback (tasks of 20) is counted
    assert ex.equal_compute_iterations(s, "thesis", 200, 200, 5) == 50 * 100 + 100
    small = s.replace(n_epochs=2, inner_iter=5)
    assert ex.equal_compute_iterations(small, "thesis", 898, 899, 2) == \
        round((2 * 5 * 898 + 5 * 899) / 899)


def test_fair_baselines_run_and_spend_what_they_claim():
    ec = ex.fit_cell(ex.Cell("digits", 0.0, "NMF (equal compute)", 3, 0), TINY)
    assert ec.n_iter == ex.equal_compute_iterations(TINY, "thesis", 898, 899, 3)
    assert ec.train_iter == 0 and ec.task_size is None
    ws = ex.fit_cell(ex.Cell("digits", 0.0, "GNMF NNDSVD (warm start)", 3, 0), TINY)
    assert ws.train_iter == TINY.n_epochs * TINY.inner_iter and ws.n_iter == TINY.inner_iter
    assert 0 <= ws.nmi <= 1 and ws.W.shape == (899, 3)


def test_warm_start_uses_the_evaluation_phase_of_meta_nmf():
    from metanmf_lab.core._meta import WarmStartNMF

    X_learn, X_eval, _, _ = ex.load_cell_data("digits", 0.0, TINY)
    ws = WarmStartNMF(4, base=NMF(), learn_iter=30, inner_iter=7, random_state=0).fit(X_learn)
    ref = NMF(4, max_iter=30, tol=0, random_state=0).fit(X_learn)
    np.testing.assert_array_equal(ws.components_, ref.components_)
    W, H = ws.factorize(X_eval)
    m = NMF(4, init="custom", max_iter=7, tol=0)
    np.testing.assert_allclose(W, m.fit_transform(X_eval, W=X_eval @ ref.components_.T,
                                                  H=ref.components_.copy()), rtol=1e-12)


# -- one-at-a-time ablations -----------------------------------------------------------------

from metanmf_lab.grid.catalogue import ABLATIONS  # noqa: E402
from metanmf_lab.grid.cells import Settings  # noqa: E402
from metanmf_lab.grid.ablations import ablation_settings  # noqa: E402
from metanmf_lab.core.protocols import FIELDS, get_protocol  # noqa: E402


def test_each_ablation_changes_one_thing():
    base = Settings()
    hashes = {base.hash}
    thesis = get_protocol("thesis")
    for name, changes in ABLATIONS.items():
        s = ablation_settings(name)
        hashes.add(s.hash)
        proto = s.protocol("thesis")
        changed = {f for f in FIELDS if getattr(proto, f) != getattr(thesis, f)}
        expected = set(changes.get("protocol_overrides", {})) | (
            {"task_size", "gnmf_lam"} & set(changes))  # the settings' own protocol values
        if "gnmf" in expected:
            expected.add("gnmf_lam")  # the other GNMF variant comes with its own lambda
        assert changed == expected, name
        assert (proto.name == "thesis") == (not expected), name
        other = {k for k in ("task_size", "faces_size", "rescale_bases", "split_seed",
                             "fmnist_subset_seed", "noise_scale", "faces_eval_all")
                 if getattr(s, k) != getattr(base, k)}
        assert other == set(changes) - {"protocol_overrides"}, name
        assert Settings.from_json(s.to_json()) == s
    assert len(hashes) == len(ABLATIONS) + 1


def test_ablation_unknown_name():
    with pytest.raises(ValueError, match="ablation"):
        ablation_settings("no such thing")


def test_ablation_applies_exactly_where_it_changes_results():
    """Where an ablation is said not to apply, the result is bit-identical to the thesis
    settings; where it applies, at least one model's result changes."""
    from metanmf_lab.grid.cells import Cell
    from metanmf_lab.grid.ablations import ablation_applies
    from metanmf_lab.grid.runner import run_cell

    tiny = Settings(n_epochs=3, inner_iter=6, baseline_iter=100)
    cells = [Cell("digits", 0.0, m, 3, 1) for m in ex.MODELS]
    base = {c.model: run_cell(c, tiny) for c in cells}
    for name in ABLATIONS:
        if name in ("Faces at 64x64", "Faces: NMI over all 400 images",
                    "another Fashion-MNIST subset", "noise s.d. halved", "noise s.d. doubled"):
            continue  # rules naming only the data: tested below
        s = ablation_settings(name, tiny)
        changed = []
        for c in cells:
            row = run_cell(c, s)
            same = (row["nmi"], row["recon_error"]) == (base[c.model]["nmi"],
                                                        base[c.model]["recon_error"])
            if not ablation_applies(name, c.model, "digits"):
                assert same, f"{name} changed {c.model}, which it should not touch"
            changed.append(not same)
        assert any(changed), f"{name} changed nothing"
    assert not ablation_applies("Faces at 64x64", "NMF", "digits")
    assert ablation_applies("Faces at 64x64", "NMF", "faces")
    # all 400 faces only touch Faces, the FMNIST subset only FMNIST: elsewhere bit-identical
    for name, dataset in (("Faces: NMI over all 400 images", "faces"),
                          ("another Fashion-MNIST subset", "fmnist")):
        assert not ablation_applies(name, "Meta-NMF", "digits")
        assert ablation_applies(name, "Meta-NMF", dataset)
        s = ablation_settings(name, tiny)
        for c in cells[:2]:
            assert run_cell(c, s)["nmi"] == base[c.model]["nmi"]
    # halving the noise touches noisy cells only
    name = "noise s.d. halved"
    assert not ablation_applies(name, "NMF", "digits", noise=0.0)
    assert ablation_applies(name, "NMF", "digits", noise=0.2)
    assert ablation_applies(name, "NMF", "digits")  # noise unknown: it may apply
    s = ablation_settings(name, tiny)
    for c in cells[:2]:
        assert run_cell(c, s)["recon_error"] == base[c.model]["recon_error"]
    noisy = Cell("digits", 0.2, "NMF", 3, 1)
    assert run_cell(noisy, s)["recon_error"] != run_cell(noisy, tiny)["recon_error"]
    half = Cell("digits", 0.1, "NMF", 3, 1)
    assert run_cell(noisy, s)["recon_error"] == run_cell(half, tiny)["recon_error"]
    # doubling it: the same cells, at twice the level
    name = "noise s.d. doubled"
    assert not ablation_applies(name, "NMF", "digits", noise=0.0)
    assert ablation_applies(name, "NMF", "digits", noise=0.2)
    s = ablation_settings(name, tiny)
    for c in cells[:2]:
        assert run_cell(c, s)["recon_error"] == base[c.model]["recon_error"]
    double = Cell("digits", 0.4, "NMF", 3, 1)
    assert run_cell(noisy, s)["recon_error"] == run_cell(double, tiny)["recon_error"]


def test_settings_added_later_keep_the_stored_hashes():
    """Fields added to Settings after the store began leave the hash of default settings
    unchanged (the committed store's rows stay valid) and enter it when set."""
    from metanmf_lab.grid.cells import LATER_FIELDS

    base = Settings()
    assert set(LATER_FIELDS) <= set(base.__dataclass_fields__)
    text = base.to_json()
    assert all(f'"{name}"' not in text for name in LATER_FIELDS)
    for name, default in LATER_FIELDS.items():
        assert getattr(base, name) == default
        other = {"engine": "batched"}.get(name, None)  # a string setting: its other value
        changed = base.replace(**{name: other if other is not None
                                  else type(default)(default * 2 if default else 1)})
        assert changed.hash != base.hash and f'"{name}"' in changed.to_json()
        assert Settings.from_json(changed.to_json()) == changed
    with pytest.raises(ValueError, match="noise_scale"):
        Settings(noise_scale=0.0)
    with pytest.raises(ValueError, match="fmnist_subset_seed"):
        Settings(fmnist_subset_seed=-1)
    with pytest.raises(TypeError, match="faces_eval_all"):
        Settings(faces_eval_all="yes")


@pytest.mark.needs_data("faces")
def test_faces_eval_all_factorises_and_scores_every_face():
    """The ablation's cells cluster all 400 faces; Meta models still learn on the learning
    half only, and the equal-compute budget counts the larger evaluation set."""
    from metanmf_lab.grid.cells import Cell, equal_compute_iterations
    from metanmf_lab.grid.models import fit_cell, load_cell_data

    tiny = Settings(n_epochs=2, inner_iter=5, baseline_iter=5)
    every = tiny.replace(faces_eval_all=True)
    X_learn, X_eval, y_learn, y_eval = load_cell_data("faces", 0.0, tiny)
    assert len(X_learn) + len(X_eval) == 400
    learn_all, eval_all, _, y_all = load_cell_data("faces", 0.0, every)
    np.testing.assert_array_equal(learn_all, X_learn)
    np.testing.assert_array_equal(eval_all, np.vstack([X_learn, X_eval]))
    digits = [load_cell_data("digits", 0.0, s)[1].shape for s in (every, tiny)]
    assert digits[0] == digits[1]  # the switch is for Faces only
    res = fit_cell(Cell("faces", 0.0, "NMF", 3, 0), every)
    assert res.W.shape == (400, 3)
    np.testing.assert_array_equal(res.y_eval, np.concatenate([y_learn, y_eval]))
    half = fit_cell(Cell("faces", 0.0, "NMF", 3, 0), tiny)
    assert half.W.shape == (len(X_eval), 3) and half.nmi != res.nmi
    meta = fit_cell(Cell("faces", 0.0, "Meta-NMF", 3, 0), every)
    meta_half = fit_cell(Cell("faces", 0.0, "Meta-NMF", 3, 0), tiny)
    assert meta.W.shape == (400, 3)
    # the learned basis is the same: the meta-learning phase saw the learning half only
    np.testing.assert_array_equal(meta.model.components_, meta_half.model.components_)
    fair = fit_cell(Cell("faces", 0.0, "NMF (equal compute)", 3, 0), every)
    want = equal_compute_iterations(every, "thesis", len(X_learn), 400, 3)
    assert fair.n_iter == want != equal_compute_iterations(tiny, "thesis", len(X_learn),
                                                           len(X_eval), 3)


def test_command_line_runs_an_ablation(tmp_path, capsys):
    store = tmp_path / "store.csv"
    argv = ["--datasets", "digits", "--models", "NMF", "--ranks", "2", "--seeds", "0",
            "--noises", "none", "--jobs", "1", "--store", str(store), "--engine", "per-cell",
            "--ablation", "baseline stops on factor change"]
    assert cli.main(argv) == 0
    df = ResultStore(store).load()
    assert len(df) == 1
    want = ablation_settings("baseline stops on factor change")
    assert df.settings_hash.iloc[0] == want.hash
    assert "1 of 1 cells" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        cli.main(argv[:-1] + ["no such ablation"])


def test_stored_rows_are_exactly_the_cells_asked_for(tmp_path):
    """Rows of other noise levels, seeds or models in the store (e.g. the noise sweep) never
    leak into a grid's rows."""
    from metanmf_lab.grid.cells import Cell
    from metanmf_lab.grid.runner import run_grid, stored_rows
    from metanmf_lab.grid.store import ResultStore

    tiny = Settings(n_epochs=2, inner_iter=3, baseline_iter=5)
    store = ResultStore(tmp_path / "r.csv")
    grid = [Cell("digits", 0.0, "NMF", 2, 0), Cell("digits", 0.2, "NMF", 2, 0)]
    extra = [Cell("digits", 0.1, "NMF", 2, 0), Cell("digits", 0.2, "NMF", 2, 1)]
    run_grid(grid + extra, tiny, store=store)
    rows = stored_rows(grid, tiny, store)
    assert len(rows) == 2 and sorted(rows.noise.astype(float)) == [0.0, 0.2]
    assert list(rows.seed.astype(int)) == [0, 0]
    assert stored_rows(grid, Settings(), store).empty  # other settings: other cells


def test_ablation_cells_cover_every_rank_and_seed_of_the_entries_it_can_change():
    from metanmf_lab.grid.catalogue import THESIS_RANKS
    from metanmf_lab.grid.ablations import ablation_cells, ablation_grid

    entries = [("digits", "none", "NMF"), ("digits", "added", "Meta-NMF"),
               ("faces", "none", "GNMF")]
    cells = ablation_cells("running sum never reset", entries, seeds=(0, 1))
    # only the Meta model's entry: the running sum exists in Meta models alone
    assert {(c.dataset, c.noise, c.model) for c in cells} == {("digits", 0.4, "Meta-NMF")}
    assert sorted((c.rank, c.seed) for c in cells) == sorted(
        (r, s) for r in THESIS_RANKS for s in (0, 1))
    faces = ablation_cells("Faces at 64x64", entries, ranks=(2, 5))
    assert [(c.dataset, c.noise, c.rank, c.seed) for c in faces] == [("faces", 0.0, 2, 0),
                                                                       ("faces", 0.0, 5, 0)]
    # "noise s.d. halved" cannot change an entry without noise
    assert ablation_cells("noise s.d. halved", entries[:1]) == []
    with pytest.raises(ValueError, match="condition"):
        ablation_cells("task size 100", [("digits", "noisy", "Meta-NMF")])
    with pytest.raises(ValueError, match="ablation"):
        ablation_cells("no such thing", entries)
    grid = ablation_grid(entries, ranks=(3,), datasets=["faces"])
    assert set(grid) == {n for n in ABLATIONS
                         if ablation_cells(n, entries[2:], ranks=(3,))}
    assert "Faces at 64x64" in grid and "task size 100" not in grid
    assert all(c.dataset == "faces" for cells in grid.values() for c in cells)


def test_ablation_cost_sums_the_thesis_seconds():
    import pandas as pd

    from metanmf_lab.grid.ablations import ablation_cost, ablation_grid

    grid = ablation_grid([("digits", "none", "Meta-NMF"), ("digits", "none", "NMF")],
                         ranks=(2, 3), names=("task size 100", "another learning/evaluation split"))
    seconds = pd.Series({("digits", "Meta-NMF"): 1.5, ("digits", "NMF"): 0.25})
    cost = ablation_cost(grid, seconds)
    assert cost == {"task size 100": 3.0, "another learning/evaluation split": 3.5}


def test_command_line_runs_the_ablations_of_the_entries_beyond(tmp_path, monkeypatch, capsys):
    """--beyond restricts each --ablation to the table entries that differ from the thesis
    (as the reproduction notes read them) and to the cells it can change."""
    from metanmf_lab.grid import reporting

    seen = {}

    def fake_entries(store, settings):
        seen["store"] = store
        return [("digits", "none", "NMF"), ("digits", "none", "Meta-NMF"),
                ("faces", "none", "NMF")]

    monkeypatch.setattr(reporting, "stored_entries_beyond", fake_entries)
    store = tmp_path / "store.csv"
    argv = ["--datasets", "digits", "--models", "NMF", "--ranks", "2", "--seeds", "0",
            "--jobs", "1", "--store", str(store), "--engine", "per-cell", "--beyond",
            "--ablation", "baseline stops on factor change", "running sum never reset"]
    assert cli.main(argv) == 0
    df = ResultStore(store).load()
    # digits NMF only (faces and Meta-NMF are filtered out); the running sum cannot change NMF
    assert list(zip(df.dataset, df.model, df["rank"].astype(int))) == [("digits", "NMF", 2)]
    assert df.settings_hash.iloc[0] == ablation_settings("baseline stops on factor change").hash
    assert seen["store"] == str(store)
    out = capsys.readouterr().out
    assert "1 of 1 cells" in out and "0 of 0 cells" in out
    # without --ablation: every cell of those entries, under each protocol
    argv = argv[:argv.index("--beyond") + 1] + ["--protocols", "authors", "--models", "NMF",
                                                "Meta-NMF"]
    assert cli.main(argv) == 0
    df = ResultStore(store).load()
    ref = df[df.protocol == "authors"]
    assert sorted(ref.model) == ["Meta-NMF", "NMF"] and set(ref.dataset) == {"digits"}
    assert set(ref.settings_hash) == {Settings().hash}


def test_entry_cells_map_conditions_to_noise_levels():
    from metanmf_lab.grid.ablations import entry_cells

    cells = entry_cells([("faces", "added", "GNMF"), ("digits", "none", "NMF")], ranks=(2,),
                        seeds=(0, 3), protocol="authors")
    assert [(c.dataset, c.noise, c.model, c.rank, c.seed, c.protocol) for c in cells] == [
        ("faces", 0.6, "GNMF", 2, 0, "authors"), ("faces", 0.6, "GNMF", 2, 3, "authors"),
        ("digits", 0.0, "NMF", 2, 0, "authors"), ("digits", 0.0, "NMF", 2, 3, "authors")]
