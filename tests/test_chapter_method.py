"""The chapters of the Method and Engineering parts (derivation, algorithm, data, performance,
status): the functions that compute what each page shows, the sentences they build from data,
and the figures, drawn for the book's column (smallest text at least 12 px)."""

import warnings

import numpy as np
import pandas as pd
import pytest
from metanmf_lab.book import display
from metanmf_lab.book import notebook as nb
from metanmf_lab.book.chapters import algorithm, data, derivation, performance, status
from metanmf_lab.book.diagrams import (image_table, meta_epoch_flowchart, split_protocol,
                                       split_sizes)
from metanmf_lab.core._meta import MetaNMF
from metanmf_lab.core.splits import make_tasks
from metanmf_lab.data.datasets import load_dataset


def params(**given):
    """Checked parameters as a notebook's first cell would declare them."""
    ns = {"__annotations__": {k: type(v) for k, v in given.items()}, **given}
    return nb.check_parameters(ns)


def html(styler):
    return styler.to_html()


# ------------------------------------------------------------------------------------------
# Figures for the column
# ------------------------------------------------------------------------------------------

def test_drawn_figures_read_at_12_px_in_the_column():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        splits = [split_sizes(1797), split_sizes(1797, "authors"), split_sizes(400)]
    for fig in (meta_epoch_flowchart(2), meta_epoch_flowchart(5), split_protocol(splits)):
        assert display.smallest_text_px(fig) >= display.MIN_FONT_PX
        # shown 1:1: with the notebook's 0.1 in margins, no wider than the column
        assert (fig.get_figwidth() + 0.2) * fig.dpi <= display.COLUMN_PX + 1


def test_image_table_lays_out_rows_columns_and_labels():
    rng = np.random.default_rng(0)
    small, large = rng.random((8, 8)), rng.random((32, 32))
    fig = image_table([[small, large, None], [large, small, small]], row_labels=["a", "b"],
                      col_labels=["x", "y\nz", "w"])
    assert len(fig.axes) == 5  # the empty cell draws nothing
    texts = {t.get_text() for t in fig.texts}
    assert {"a", "b", "x", "y\nz", "w"} <= texts
    assert fig.get_figwidth() == pytest.approx(6.4)
    assert display.smallest_text_px(fig) >= display.MIN_FONT_PX
    strip = image_table([[rng.random((1, 50))]])  # a non-image vector: a visible strip
    assert strip.get_figheight() > 0.25


def test_image_table_scales_and_checks():
    img = [[np.array([[0.0, 1.0]]), np.array([[0.0, 4.0]])],
           [np.array([[0.0, 2.0]]), np.array([[0.0, 8.0]])]]
    expected = {"each": [1, 4, 2, 8], "row": [4, 4, 8, 8], "column": [2, 8, 2, 8],
                "all": [8, 8, 8, 8]}
    for scale, vmax in expected.items():
        fig = image_table(img, scale=scale)
        assert [ax.images[0].get_clim()[1] for ax in fig.axes] == vmax, scale
    with pytest.raises(ValueError, match="scale must be"):
        image_table(img, scale="global")
    with pytest.raises(ValueError, match="2-D array"):
        image_table([[np.zeros(4)]])
    with pytest.raises(ValueError, match="at least one image"):
        image_table([[None]])
    with pytest.raises(ValueError, match="1 row_labels for 2 rows"):
        image_table(img, row_labels=["a"])


# ------------------------------------------------------------------------------------------
# Derivation
# ------------------------------------------------------------------------------------------

def test_sci_writes_powers_of_ten():
    assert derivation.sci(2.1e-6) == "2.1 × 10⁻⁶"
    assert derivation.sci(5.96e22, 2) == "5.96 × 10²²"
    assert derivation.sci(0.0) == "0"


def test_check_problem_is_positive_and_seeded():
    P = params(profile="smoke", dataset="digits", rank=4, lam=100.0, seed=3)
    Xc, coef, components = derivation.check_problem(P)
    assert Xc.shape == (derivation.N_CHECK["smoke"], 64)
    assert coef.shape == (len(Xc), 4) and components.shape == (4, 64)
    assert coef.min() > 0 and components.min() > 0
    again = derivation.check_problem(P)
    assert all(np.array_equal(a, b) for a, b in zip((Xc, coef, components), again))


def test_gradient_check_agrees_and_a_wrong_gradient_is_caught(monkeypatch):
    P = params(profile="smoke", dataset="digits", rank=3, lam=10.0, seed=0)
    Xc, coef, components = derivation.check_problem(P)
    out = derivation.gradient_check(Xc, coef, components, {"Frobenius": {}, "KL": {"loss": "kl"}})
    assert list(out["objective"]) == ["Frobenius", "KL"]
    assert out[["H", "W"]].to_numpy().max() < 1e-4
    real = derivation.objective_gradients
    monkeypatch.setattr(derivation, "objective_gradients",
                        lambda *a, **k: tuple(2 * g for g in real(*a, **k)))
    wrong = derivation.gradient_check(Xc, coef, components, {"Frobenius": {}})
    assert wrong[["H", "W"]].to_numpy().min() > 0.5


def test_nndsvd_summary_says_who_ends_ahead():
    behind = derivation.nndsvd_summary({"random": [4.8, 0.346], "nndsvd": [0.536, 0.385],
                                        "nndsvda": [1.7, 0.342], "nndsvdar": [0.5, 0.35]}, 100)
    assert "closer to the data" in behind and "0.536 against 4.800" in behind
    assert "behind NNDSVDa (0.342) and the random start (0.346)" in behind
    ahead = derivation.nndsvd_summary({"random": [4.8, 0.346], "nndsvd": [0.536, 0.30],
                                       "nndsvda": [1.7, 0.342], "nndsvdar": [0.5, 0.35]}, 100)
    assert "still ahead (0.300)" in ahead and "behind" not in ahead
    assert isinstance(ahead, derivation.Prose)


def test_derivation_values_smoke():
    P = params(profile="smoke", dataset="digits", rank=4, lam=100.0, seed=0)
    V = derivation.values(P)
    assert (V.n_samples, V.n_features, V.rank, V.budget) == (300, 64, 4, 10)
    assert V.gradients_agree and V.updates_agree and V.never_increases
    assert 0 < V.neg_fraction < 1 and 0.5 < V.same_label <= 1
    assert V.n_edges >= V.n_samples * 5 / 2  # every sample has 5 neighbours
    assert 0 < V.nndsvd_zero_W < 1 and V.nndsvd_zero_W_after >= V.nndsvd_zero_W - 1e-12
    for fig in (V.fig_knn_graph, V.fig_objective_decrease, V.fig_nndsvd_components):
        assert display.smallest_text_px(fig) >= display.MIN_FONT_PX
    grad = html(V.table_gradient_check)
    assert "gradient in H" in grad and "× 10" in grad and "nan" not in grad.lower()
    err = html(V.table_nndsvd_error)
    assert "NNDSVDa" in err and "after 10 iterations" in err and "at the start" in err


# ------------------------------------------------------------------------------------------
# Algorithm
# ------------------------------------------------------------------------------------------

def test_one_epoch_is_metanmfs_first_epoch():
    X, _ = load_dataset("digits")
    X = X[:400]
    rank, inner = 3, 5
    rng = np.random.RandomState(7)
    split = make_tasks(len(X), n_tasks=3, task_size=40, random_state=rng, min_size=rank)
    H_tasks = [rng.uniform(0, 1, (rank, 64)) for _ in split.meta]
    H_target = rng.uniform(0, 1, (rank, 64))
    tasks, target = algorithm.one_epoch([X[i] for i in split.meta], X[split.target], H_tasks,
                                        H_target, rank, inner)
    assert len(tasks) == 3 and target.shape == (rank, 64)
    meta = MetaNMF(rank, n_tasks=3, task_size=40, n_epochs=1, inner_iter=inner,
                   random_state=7).fit(X)
    ours = target / target.max(axis=1, keepdims=True)
    theirs = meta.components_ / meta.components_.max(axis=1, keepdims=True)
    np.testing.assert_allclose(theirs, ours, rtol=1e-9, atol=1e-12)


def test_protocol_table_reads_the_presets_in_words():
    from metanmf_lab.core.protocols import FIELDS, PRESETS, get_protocol

    table = algorithm.protocol_table()
    assert len(table) == len(algorithm.FIELD_TEXT)
    assert list(table.columns) == ["what", "thesis", "authors"]
    # every field on which the presets differ has its row, or is shown in another's
    differ = {f for f in FIELDS
              if getattr(PRESETS["thesis"], f) != getattr(PRESETS["authors"], f)}
    assert differ == set(algorithm.FIELD_TEXT) | set(algorithm.FOLDED)
    assert not table.isin([True, False, "True", "False"]).any().any()
    row = table.set_index("what")
    assert row.loc["meta-task size", "thesis"] == "50 samples"
    assert row.loc["meta-task size", "authors"] == "100 samples"
    assert row.loc["target task", "authors"] == "the whole learning half"
    custom = algorithm.protocol_table({"mine": get_protocol("thesis", task_size=20)})
    assert custom.set_index("what").loc["meta-task size", "mine"] == "20 samples"


def test_split_sentence_names_the_fallback():
    assert algorithm.split_sentence(5, 50, 648, None) == \
        "5 disjoint meta-tasks of 50 samples and a target of the remaining 648"
    assert "does not fit: shrunk" in algorithm.split_sentence(5, 20, 100, "shrunk")


def test_algorithm_values_smoke():
    P = params(profile="smoke", dataset="digits", rank=3, seed=0)
    V = algorithm.values(P)
    assert (V.n_samples, V.n_learn, V.n_eval) == (1797, 898, 899)
    assert (V.n_tasks, V.task_size, V.n_target, V.n_split_warnings) == (5, 50, 648, 0)
    assert V.same_split and V.same_basis and V.rescaled_as_raw
    assert V.n_epochs == 3 and V.lam_small == 0.1 and V.lam_large == 100.0
    assert 0 <= V.nmi_meta <= 1 and 0 <= V.nmi_nmf <= 1
    for fig in (V.fig_meta_epoch, V.fig_meta_traces, V.fig_basis_epochs):
        assert display.smallest_text_px(fig) >= display.MIN_FONT_PX
    assert "authors' code" in html(V.table_protocols)
    assert "graph weight λ" in html(V.table_gnmf_scale)


# ------------------------------------------------------------------------------------------
# Data
# ------------------------------------------------------------------------------------------

def test_dataset_and_noise_rows():
    X = np.array([[0.0, 1.0], [1.0, 0.0], [0.5, 0.0]])
    y = np.array([0, 1, 1])
    row = data.dataset_row("digits", X, y)
    assert row == {"data set": "Digits", "samples": 3, "features": 2, "classes": 2,
                   "image": "8 × 8", "zeros (%)": pytest.approx(50.0)}
    assert data.dataset_row("blobs", X, y)["image"] == "–"
    noisy = X + 0.25
    n = data.noise_row("fmnist", X, noisy)
    assert n["level from"] == "our choice" and n["σ"] == "0.4"
    assert n["zero pixel, noisy"] == pytest.approx(0.25) and n["std of change"] == 0
    assert data.noise_row("digits", X, noisy)["level from"] == "authors' code"


def test_split_rows_and_the_infeasible_split():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sizes = {(n, p): split_sizes(m, p) for n, m in (("digits", 1797), ("faces", 400))
                 for p in ("thesis", "authors")}
    rows = data.split_rows(sizes)
    assert rows.shape == (2, 7)
    assert list(rows[("thesis protocol", "meta-tasks")]) == ["5 × 50", "5 × 20"]
    assert list(rows[("authors' code", "target")]) == [898, 200]
    text = data.infeasible_sentence(sizes)
    assert text.startswith("Faces has only 200 samples") and "fewer than the 250" in text
    assert "meta-tasks of 20 samples" in text and "target (100 samples)" in text
    assert "Warning" not in text  # an executed page shows no warning
    fits = {k: v for k, v in sizes.items() if k[0] == "digits"}
    assert data.infeasible_sentence(fits) == "The thesis split fits every data set."
    shown = html(display.table(rows))
    assert "thesis protocol" in shown and "nan" not in shown.lower()


@pytest.mark.needs_data("fmnist", "faces", "coil20")
def test_data_values_smoke():
    P = params(profile="smoke", dataset="digits", noise_seed=0, n_examples=2)
    V = data.values(P)
    assert V.n_datasets == 5 and V.all_scaled
    assert (V.faces_features_32, V.faces_features_64) == (1024, 4096)
    assert V.n_split_warnings == 1 and V.warned == "Faces"
    assert V.fmnist_min_class <= V.fmnist_samples / 10 <= V.fmnist_max_class
    for fig in (V.fig_examples, V.fig_blobs, V.fig_faces_sizes, V.fig_split_protocol):
        assert display.smallest_text_px(fig) >= display.MIN_FONT_PX
    assert len(V.fig_examples.axes) == 2 * 8  # 2 classes x 4 image data sets x clean/noisy


# ------------------------------------------------------------------------------------------
# Performance
# ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name,expected", [
    ("mu_vs_gemm_bound_float64_784x3000_r18",
     ("MU iteration / its two products", "float64, 784 × 3000, r = 18")),
    ("gnmf_sparse_vs_nmf_n50000_m500", ("GNMF / NMF iteration", "n = 50,000, m = 500")),
    ("meta_fit_seconds_fmnist_r18", ("Meta-NMF fit (s)", "FMNIST, r = 18")),
    ("grid_full_minutes_estimate", ("thesis grid, estimate (min)", "float64")),
    ("grid_full_minutes_estimate_float32", ("thesis grid, estimate (min)", "float32")),
    ("meta_fit_scaling_exponent", ("Meta-NMF: exponent of n", "")),
    ("something_new", ("something new", "")),
])
def test_describe_figure(name, expected):
    assert performance.describe_figure(name) == expected


def test_bench_mode(tmp_path):
    assert performance.bench_mode("auto", tmp_path) == "quick"
    (tmp_path / "bench-full.csv").write_text("")
    assert performance.bench_mode("auto", tmp_path) == "full"
    assert performance.bench_mode("quick", tmp_path) == "quick"
    with pytest.raises(ValueError, match="mode must be"):
        performance.bench_mode("fast", tmp_path)


def test_bench_table_and_findings_from_the_committed_run():
    from metanmf_lab.grid.bench import BENCH_DIR

    bench = pd.read_csv(BENCH_DIR / "bench-quick.csv", keep_default_na=False)
    goals = performance.bench_table(bench)
    assert len(goals) == (bench["goal"] != "").sum() and set(goals["met"]) <= {"yes", "no"}
    assert all(g[0] in "≤≥" for g in goals["goal"])
    everything = performance.bench_table(bench, with_goal_only=False)
    assert len(everything) == len(bench) and "note" in everything
    shown = html(display.table(goals))
    assert "_" not in "".join(goals["figure"]) and "nan" not in shown.lower()
    figures = bench.set_index("figure")["value"].astype(float)
    text = performance.findings(figures)
    assert text.count("\n- ") == 5 and text.startswith("- **")
    assert "np." not in text
    assert f"{figures['grid_full_minutes_estimate']:.0f} minutes on two cores" in text


def test_performance_values_from_the_committed_store():
    V = performance.values(params(profile="full", mode="quick"))
    assert V.mode == "quick" and V.n_figures >= V.n_goals >= V.n_met
    assert V.grid_cells <= V.grid_cells_expected and V.grid_core_minutes > 0
    assert V.store_rows > 0 and V.store_two_core_hours == pytest.approx(V.store_core_hours / 2)
    assert display.smallest_text_px(V.fig_scaling) >= display.MIN_FONT_PX
    for styler in (V.table_bench, V.table_grid_cost, V.table_store_cost):
        shown = html(styler)
        assert "nan" not in shown.lower() and "core_hours" not in shown


# ------------------------------------------------------------------------------------------
# Status
# ------------------------------------------------------------------------------------------

RECORD = {
    "date": "2026-01-02",
    "notebooks": {
        "derivation": {"source": "notebooks/derivation.ipynb",
                       "parameters": {"profile": "full"}, "seconds": 5.3},
        "results_faces": {"source": "notebooks/results.ipynb",
                          "parameters": {"profile": "full", "dataset": "faces"},
                          "seconds": 40.7},
        "altbi": {"source": "notebooks/altbi.ipynb", "parameters": {"profile": "full"},
                  "seconds": 96.9}},
    "versions": {"python": "3.11.7", "metanmf_lab": "0.1.0", "algorithm": "2",
                 "numpy": "2.4.6", "jupyter-book": "1.0.4"},
    "stores": {"full": {"path": "data/results/results.csv", "rows": 10812,
                        "MLAM": "data/results/mlam.csv", "MLAM, rows": 14240}},
}


def test_status_pieces():
    chapters = status.chapter_table(RECORD["notebooks"])
    assert list(chapters["notebook"]) == ["derivation.ipynb", "results.ipynb", "altbi.ipynb"]
    assert list(chapters["parameters"]) == ["–", "dataset = faces", "–"]
    assert status.slowest(chapters) == "altbi (97 s) and results_faces (41 s)"
    text = status.software(RECORD["versions"])
    assert text.startswith("Python 3.11.7 and `metanmf_lab` 0.1.0 (version 2")
    assert text.endswith("with NumPy 2.4.6, Jupyter Book 1.0.4.")
    stores = status.store_table(RECORD["stores"])
    assert list(stores.columns) == ["store", "file", "rows"]
    assert list(stores["rows"]) == [10812, 14240]


def test_status_values_and_an_empty_record():
    P = params(profile="full")
    V = status.values(P, record=RECORD)
    assert V.record_complete and V.n_chapters == 3 and V.profiles == "full"
    assert V.total_minutes == pytest.approx((5.3 + 40.7 + 96.9) / 60)
    shown = html(V.table_chapters)
    assert "results_faces" in shown and "notebook" in shown and "profile" not in shown
    empty = status.values(P, record={"date": "2026-01-02", "notebooks": {},
                                     "versions": {"python": "3"}})
    assert not empty.record_complete and empty.n_chapters == 0 and empty.slowest == "none"
