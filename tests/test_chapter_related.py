"""The related-methods chapters' values (metanmf_lab.chapters.altbi, .metaprior, .mlam): the
tables and sentences they build from results, their figures' text size, the calls their
pages teach, and that the full profile reads the stores without PyTorch."""

import json
import re
import subprocess
import sys
import textwrap

import nbformat
import numpy as np
import pandas as pd
import pytest
from metanmf_lab._config import PROJECT_ROOT
from metanmf_lab.book import display
from metanmf_lab.book.chapters import altbi as ch_altbi
from metanmf_lab.book.chapters import metaprior as ch_metaprior
from metanmf_lab.book.chapters import mlam as ch_mlam
from metanmf_lab.book.chapters import Prose
from metanmf_lab.grid import published


def _cells(styler):
    return styler.data


# -- MetaPrior ---------------------------------------------------------------------------------

def _per_split(n=10, gain=0.1, seed=0):
    rng = np.random.default_rng(seed)
    base = 1 + 0.05 * rng.standard_normal(n)
    return pd.DataFrame({"ours": base - gain + 0.01 * rng.standard_normal(n),
                         "MF": base, "Mean": base + 0.02}, index=pd.Index(range(n), name="split"))


def test_metaprior_interval_and_verdict_cells():
    assert ch_metaprior.interval_text(-0.0923, -0.1191, -0.0651) == "−0.092 [−0.119, −0.065]"
    assert ch_metaprior.interval_text(0.5, np.nan, np.nan) == "+0.500"
    assert ch_metaprior.verdict_cell(["worse", "better", "better", "undecided"]) == \
        "2\u00a0better, 1\u00a0worse, 1\u00a0undecided"
    assert ch_metaprior.verdict_cell([]) == "–"


def test_metaprior_ml100k_comparisons_read_from_the_prior_side():
    cmp = ch_metaprior.ml100k_comparisons(_per_split()).set_index("reference")
    assert list(cmp.index) == ["MF", "Mean"]
    assert (cmp["difference"] < 0).all() and (cmp["verdict"] == "better").all()
    assert np.allclose(cmp.loc["Mean", "difference"], cmp.loc["MF", "difference"] - 0.02)
    worse = ch_metaprior.ml100k_comparisons(_per_split(gain=-0.1))
    assert (worse["verdict"] == "worse").all()
    few = ch_metaprior.ml100k_comparisons(_per_split(n=2))  # 2 splits can never be significant
    assert (few["verdict"] == "undecided").all()


def test_metaprior_ml100k_table_keeps_the_papers_cells_whole():
    paper = published.metaprior_table1()
    ml = paper[paper.dataset == "ML100K"].set_index("method")
    table = ch_metaprior.ml100k_table(_per_split(), paper)
    assert list(table["method"]) == ["meta-learned prior", "MF", "Mean"]
    assert table.loc[1, "paper"] == f"{ml.loc['MF', 'mse']:.3f} ± {ml.loc['MF', 'se']:.3f}"
    assert re.fullmatch(r"\d\.\d{3} ± \d\.\d{3}", table.loc[0, "ours"])
    sentence = ch_metaprior.ml100k_sentence(_per_split(), ch_metaprior.ml100k_comparisons(
        _per_split()), paper)
    assert isinstance(sentence, Prose)
    assert "better than MF and than Mean" in sentence and "paired over 10 splits" in sentence
    assert f"{ml.loc['Ours', 'mse']:.3f}" in sentence


def _nmf_rows(datasets=("digits", "faces"), ranks=(2, 3, 5, 10), seeds=tuple(range(5)),
              iters=(0, 10, 100)):
    from metanmf_lab.related.metaprior import NMF_STARTS

    rng = np.random.default_rng(0)
    rows = []
    for d in datasets:
        for r in ranks:
            for s in seeds:
                for k, init in enumerate(NMF_STARTS):
                    for t in iters:
                        # the prior (last start) fits best at t = 0 and clusters worst
                        prior = init == "meta-learned prior"
                        rows.append(dict(dataset=d, rank=r, seed=s, init=init, n_iter=t,
                                         recon_error=(0.3 if prior and t == 0 else 1.0 + k)
                                         / (1 + t) + 0.01 * rng.random(),
                                         nmi=(0.2 if prior else 0.5 + 0.1 * k)
                                         + 0.01 * rng.random()))
    return pd.DataFrame(rows)


def test_metaprior_nmf_tables_and_sentence():
    from metanmf_lab.related.metaprior import NMF_STARTS, nmf_prior_comparisons

    rows = _nmf_rows()
    err, nmi = (nmf_prior_comparisons(rows, v) for v in ("recon_error", "nmi"))
    summary = ch_metaprior.verdict_summary({"recon_error": err, "nmi": nmi}, NMF_STARTS)
    assert list(summary.columns) == ["measure", "against", "t = 0", "t = 10", "t = 100"]
    assert len(summary) == 6 and set(summary["measure"]) == {"error", "NMI"}
    nmi_rows = summary[summary.measure == "NMI"]
    assert (nmi_rows[["t = 0", "t = 10", "t = 100"]] == "2\u00a0worse").all().all()
    full = ch_metaprior.comparisons_table(err, NMF_STARTS)
    assert list(full["dataset"]) == ["Digits"] * 3 + ["Faces"] * 3
    assert list(full["against"][:3]) == list(NMF_STARTS[:3])
    assert full.loc[0, "t = 0"].endswith(" better")  # the prior's error is lower at t = 0
    means = ch_metaprior.nmf_means(rows, NMF_STARTS)
    assert len(means) == 8 and list(means["start"][:4]) == list(NMF_STARTS)
    html = ch_metaprior.nmf_means_table(means).to_html()
    assert "relative error" in html and "t = 100" in html and "nan" not in html.lower()
    sentence = ch_metaprior.nmf_sentence(err, nmi, 100, 2)
    assert "below the random start's on 2 of the 2 datasets" in sentence
    assert "significantly below that of Meta-NMF's basis on 2 datasets" in sentence


@pytest.mark.parametrize("datasets", [("digits",), ("blobs", "digits", "fmnist", "faces",
                                                     "coil20")])
def test_metaprior_figures_are_readable(datasets):
    from metanmf_lab.related.metaprior import NMF_STARTS

    rows = _nmf_rows(datasets=datasets, ranks=(2,), seeds=(0,))
    for value in ("nmi", "recon_error"):
        fig = ch_metaprior.nmf_figure(rows, value, list(datasets), NMF_STARTS)
        assert display.smallest_text_px(fig) >= display.MIN_FONT_PX
        assert fig.get_figwidth() == pytest.approx(6.6)
    ml = pd.DataFrame({"method": ["ours"] * 4 + ["MF", "Mean"], "n_steps": [0, 10, 0, 10, -1, -1],
                       "mse": [1.0, 0.9, 1.1, 0.95, 1.0, 1.05]})
    fig = ch_metaprior.steps_figure(ml, 10)
    assert display.smallest_text_px(fig) >= display.MIN_FONT_PX


# -- MLAM --------------------------------------------------------------------------------------

def _summary(param, values, methods=("MLAM", "GD")):
    return pd.DataFrame([dict({param: v}, method=m, mean=0.1 * (i + 1) + v / 1000, low=0.0,
                              high=1.0, n=5)
                         for v in values for i, m in enumerate(methods)])


def test_mlam_side_by_side_keeps_the_papers_cells_whole_and_only_our_settings():
    paper = published.mlam_tables()
    s = _summary("rate", [0.2, 0.4])
    t = ch_mlam.side_by_side(s, paper, "rate", "I")
    assert list(t.columns) == ["method", "from", "θ = 0.2", "θ = 0.4"]
    assert list(t["method"][:2]) == ["MLAM", "GD"] and set(t["from"][:2]) == {ch_mlam.OURS}
    theirs = t[t["from"] == ch_mlam.PAPER].set_index("method")
    assert "DMF" not in theirs.index  # not rebuilt, left out
    row = paper[(paper.table == "I") & (paper.method == "SGD")
                & (paper.value_of.astype(float) == 0.2)].iloc[0]
    assert theirs.loc["SGD", "θ = 0.2"] == f"{row.value:g}"
    t2 = ch_mlam.side_by_side(_summary("rank", [5, 100]), paper, "rank", "II")
    assert ">1" in set(t2[t2["from"] == ch_mlam.PAPER]["rank = 100"])  # printed as the paper
    headers = ch_mlam.grouped_headers(t2, "rank")
    assert headers["rank = 100"] == ("rank", "100") and headers["method"] == ("", "method")


def test_mlam_gmm_table_dims_without_a_paper_column_show_a_dash():
    paper = published.mlam_tables()
    s = _summary("dim", [2.0, 4.0], methods=("EM", "MLAM"))
    cmp = pd.DataFrame({"dim": [2.0, 4.0], "difference": [0.015, -0.5], "low": [-0.01, -0.9],
                        "high": [0.04, -0.1], "p_holm": [2.8e-8, 0.01],
                        "verdict": ["worse", "better"]})
    t = ch_mlam.gmm_table(s, cmp, paper)
    assert pd.isna(t[("paper", "EM")].iloc[0])  # the paper's Table VI starts at 4 dimensions
    assert t[("MLAM minus EM", "verdict")].tolist() == ["worse", "better"]
    html = display.table(t).to_html()
    assert display.MISSING in html and "nan" not in html.lower()
    assert ch_mlam.p_range(cmp) == "2.8e-08 to 0.01"
    assert ch_mlam.p_range(cmp.iloc[:1]) == "2.8e-08"


def _completion_rows():
    """Rank-5 completion at two rates: MLAM best at 0.2, worst at 0.4."""
    rng = np.random.default_rng(1)
    level = {0.2: {"MLAM": 0.2, "GD": 0.4, "ALS": 0.6, "ALS (tuned ridge)": 0.1},
             0.4: {"MLAM": 0.09, "GD": 0.001, "ALS": 0.002, "ALS (tuned ridge)": 0.002}}
    rows = []
    for rate, methods in level.items():
        for problem in range(12):
            for m, v in methods.items():
                rows.append(dict(experiment="completion", rate=rate, rank=5, p=5, seed=0,
                                 problem=problem, method=m, measure="rmse", t=100,
                                 value=v * (1 + 0.05 * rng.random()),
                                 setting=f"completion rate={rate}"))
    return pd.DataFrame(rows)


def test_mlam_completion_sentence_follows_the_numbers():
    from metanmf_lab.related import mlam

    rows = _completion_rows()
    cmp = mlam.comparisons(rows, "rmse", "rate")
    text = ch_mlam.completion_sentence(rows, cmp, published.mlam_tables())
    assert "at observation rate 0.2 our MLAM reaches an RMSE of 0.2" in text
    assert "the paper's ordering of these three holds" in text
    assert "below MLAM's" in text and "From rate 0.4 on" in text
    shown = ch_mlam.comparisons_shown(cmp, "rate")
    assert list(shown.columns) == ["θ", "against", "MLAM minus method", "p (Holm)", "verdict"]


def test_mlam_sentences_of_gmm_nmf_and_wall_time():
    paper = published.mlam_tables()
    cmp = pd.DataFrame({"verdict": ["better", "worse", "worse"]})
    text = ch_mlam.gmm_sentence(cmp, paper)
    t = paper[paper.table == "VI"].pivot_table(index="value_of", columns="method",
                                               values="value")
    assert "better than EM from the same starts at 1 of the 3 dimensions and worse at 2" in text
    assert f"better at {int((t['MLAM'] < t['EM']).sum())} of its {len(t)}" in text
    assert "in 0 of the 12 (dataset, seed)" in ch_mlam.nmf_sentence(0, 12, 200, 1000)
    wall = pd.DataFrame({"experiment": ["NMF", "NMF"], "method": ["MLAM", "MU"],
                         "s per test problem": [33.66, 7.022], "training, s": [111.0, np.nan]})
    assert ch_mlam.wall_sentence(wall) == ("Our MLAM takes 34 s per test problem against 7 s "
                                           "for MU on NMF, after 111 s of training.")


def test_mlam_intervals_and_nmf_tables():
    s = pd.DataFrame({"rate": [0.2, 0.2, 0.2], "rank": [5, 5, 10], "p": [5, 5, 10],
                      "method": ["MLAM", "GD", "MLAM"], "mean": [0.1, 0.2, 1.5],
                      "low": [0.05, 0.1, 1.4], "high": [0.15, 0.3, 1.6]})
    t = ch_mlam.intervals_table([s, s.iloc[:2]])  # a setting in two tables is shown once
    assert len(t) == 2 and t.loc[0, "MLAM"] == "0.100 [0.050, 0.150]"
    assert list(t.columns[:3]) == ["θ", "rank", "p"]
    nmf = pd.DataFrame([dict(dataset="digits", method=m, measure=ms, t=t_, seed=s_,
                             value=v + 0.01 * s_)
                        for m, v in (("MLAM", 0.7), ("MU", 0.3)) for ms in ("error", "nmi")
                        for t_ in (10, 1000) for s_ in (0, 1)])
    last = ch_mlam.nmf_last_table(nmf)
    assert last[("relative error", "MLAM")].iloc[0] == pytest.approx(0.705)
    assert last[("", "dataset")].iloc[0] == "Digits"
    full = ch_mlam.nmf_table(nmf)
    assert ("NMI", "1,000 updates") in full.columns


def test_mlam_loss_figure_is_readable():
    rows = []
    for rate in (0.2, 0.4, 0.6, 0.8):
        for m in ("MLAM", "GD", "ALS"):
            for t in (0, 1, 10, 100):
                rows.append(dict(rate=rate, seed=0, problem=0, method=m, t=t,
                                 value=1.0 / (1 + t)))
    fig = ch_mlam.loss_figure(pd.DataFrame(rows))
    assert display.smallest_text_px(fig) >= display.MIN_FONT_PX
    assert len([a for a in fig.axes if a.get_visible() and a.lines]) == 4


# -- AltBi -------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def altbi_runs():
    from metanmf_lab.related import altbi

    results, curves = [], []
    for bench in ("A", "B"):
        r, c = altbi.run_benchmark(bench, [0, 1, 2], [0.1, 1.0], lam0=1.0, lam_lr=1.0,
                                   inner_iter=2, max_iter=5)
        results.append(r)
        curves.append(c)
    return pd.concat(results, ignore_index=True), pd.concat(curves, ignore_index=True)


def test_altbi_reference_kinds_and_smallest_p():
    assert ch_altbi.reference_kind("MU") == "MU"
    assert ch_altbi.reference_kind("MU-P (λ=0.01)") == "MU-P, best of grid"
    assert ch_altbi.reference_kind("MU-P, bunches") == "MU-P, bunches (control)"
    with pytest.raises(ValueError):
        ch_altbi.reference_kind("AltBi")
    p, p_holm = ch_altbi.smallest_p(10, 24)
    assert p == pytest.approx(2 / 2 ** 10) and p_holm == pytest.approx(24 * 2 / 2 ** 10)
    assert ch_altbi.smallest_p(3, 24)[1] == 1.0
    assert "smallest possible p-value is 0.002, 0.047 after" in ch_altbi.sure_sentence(10, 24)


def test_altbi_found_sentence_counts_the_verdicts():
    cmp = pd.DataFrame({"benchmark": ["A"] * 4, "measure": ["sir_W", "sir_H"] * 2,
                        "reference": ["MU", "MU", "MU-P, bunches", "MU-P, bunches"],
                        "difference": [1.0, -2.0, 0.4, 0.2],
                        "verdict": ["better", "worse", "better", "undecided"]})
    text = ch_altbi.found_sentence(cmp, pd.Series({"A": "0.01"}), 1.0)
    assert "better in 2, worse in 1 and undecided in 1 of the 4 comparisons" in text
    assert "it is better in 1 (by at most 0.4 dB), worse in 0 and undecided in 1 of 2" in text
    assert "fall from 1 (their mean at the end: A: 0.01)" in text


def test_altbi_build_on_a_small_run(altbi_runs):
    results, curves = altbi_runs
    V = ch_altbi.build(results, curves, lam_grid=[0.1, 1.0], lam0=1.0, lam_lr=1.0,
                       inner_iter=2, max_iter=5, hg_errors={"frobenius": 1e-9, "kl": 2e-9})
    assert V.n_runs == len(results) == 2 * 3 * 5 and V.n_comparisons == 12
    assert V.n_bench_seeds == 3 and V.lam0 == "1" and V.hg_error_kl == "2.0e-09"
    sir = _cells(V.table_sir)
    assert list(sir.columns.get_level_values(0)[1:]) == ["A", "A", "B", "B"]
    assert len(sir) == 4  # MU, MU-P best of grid, the control, AltBi
    tests = _cells(V.table_altbi_tests)
    assert len(tests) == 12 and "AltBi minus reference, dB" in tests.columns
    for fig in (V.fig_differences, V.fig_curves, V.fig_objective):
        assert display.smallest_text_px(fig) >= display.MIN_FONT_PX
        assert fig.get_figwidth() == pytest.approx(6.6)
    assert isinstance(V.found, Prose) and isinstance(V.sure, Prose)
    assert "nan" not in V.table_sir_full.to_html().lower()


# -- the calls the pages teach, and the full profile without PyTorch ---------------------------

def _python_blocks(notebook):
    nb = nbformat.read(PROJECT_ROOT / "notebooks" / notebook, as_version=4)
    text = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    return re.findall(r"```python\n(.*?)```", text, re.S)


def test_metaprior_page_teaches_a_call_that_runs():
    torch = pytest.importorskip("torch")
    (block,) = _python_blocks("metaprior.ipynb")
    rng = np.random.default_rng(0)
    train = np.where(rng.random((40, 40)) < 0.5, rng.standard_normal((40, 40)), np.nan)
    X = torch.as_tensor(np.nan_to_num(train[:30, :30]), dtype=torch.float32)[None]
    ns = {"train": train, "valid": train.copy(), "X": X, "B": (X != 0).float()}
    exec(block.replace("n_iter=2000", "n_iter=2").replace("MetaPriorMF(32", "MetaPriorMF(4"),
         ns)
    assert tuple(ns["completed"].shape) == (1, 30, 30)


def test_mlam_page_teaches_a_call_that_runs():
    pytest.importorskip("torch")
    (block,) = _python_blocks("mlam.ipynb")
    small = (block.replace("completion_problems(50,", "completion_problems(4, size=12,")
             .replace("n_epochs=2, batch=10,", "n_epochs=1, batch=2, n_outer=2, t_in=2, t_out=2,")
             .replace("model.solve(test, start)", "model.solve(test, start, n_outer=2, t_in=2)"))
    ns = {}
    exec(small, ns)
    assert tuple(ns["losses"].shape) == (4, 3)


NO_TORCH = """\
import sys


class NoTorch:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "torch":
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)


sys.meta_path.insert(0, NoTorch())
"""


@pytest.mark.slow
def test_full_profile_chapter_values_need_no_torch():
    """The metaprior and mlam chapters' values in the full profile, from the committed stores,
    in a process where ``import torch`` fails."""
    code = NO_TORCH + textwrap.dedent("""
        import json, sys

        from metanmf_lab.book import notebook as nb
        from metanmf_lab.book.chapters import metaprior, mlam

        out = {}
        for name, module in (("metaprior", metaprior), ("mlam", mlam)):
            cells = json.load(open(f"notebooks/{name}.ipynb"))["cells"]
            ns = {"__annotations__": {}}
            exec(next("".join(c["source"]) for c in cells
                      if "parameters" in c["metadata"].get("tags", [])), ns)
            ns.pop("__builtins__")
            V = module.values(nb.check_parameters(ns))
            table = V.table_nmf_verdicts if name == "metaprior" else V.table_nmf
            out[name] = [str(V.found_nmf), len(table.to_html())]
        out["torch"] = sorted(m for m in sys.modules if m.split(".")[0] == "torch")
        print(json.dumps(out))
    """)
    proc = subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["torch"] == []
    assert out["metaprior"][0].startswith("As a start for NMF") and out["mlam"][1] > 0
