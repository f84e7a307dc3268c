"""The results chapter's page (metanmf_lab.chapters.results): its sentences, tables and
figures, built from made-up store rows (nothing is fitted, no data file is read)."""

from __future__ import annotations

import itertools

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from metanmf_lab.book import display, plotting  # noqa: E402
from metanmf_lab.grid import reporting  # noqa: E402
from metanmf_lab import grid as ex  # noqa: E402
from metanmf_lab.book import notebook as nb  # noqa: E402
from metanmf_lab.grid.catalogue import REFERENCE_KINDS  # noqa: E402
from metanmf_lab.book.chapters import Prose  # noqa: E402
from metanmf_lab.book.chapters import results as R  # noqa: E402
from metanmf_lab.data.datasets import DATASETS, DatasetInfo  # noqa: E402

RANKS = (2, 3, 5, 10, 14, 18)


def _nmi(model, rank, seed, condition):
    """A made-up NMI: each model its own level (Meta above its base), rising with rank."""
    level = 0.30 + 0.02 * ex.ALL_MODELS.index(model) + (0.1 if model.startswith("Meta") else 0)
    return level + 0.005 * rank + 0.001 * seed - (0.1 if condition == "added" else 0.0)


def rows_of(dataset="digits", models=ex.ALL_MODELS, ranks=RANKS, seeds=range(3), noise=0.4):
    out = []
    for model, rank, seed, (cond, nz) in itertools.product(
            models, ranks, seeds, (("none", 0.0), ("added", noise))):
        out.append(dict(dataset=dataset, condition=cond, noise=nz, model=model, rank=rank,
                        seed=seed, nmi=_nmi(model, rank, seed, cond)))
    return pd.DataFrame(out)


def params(dataset="digits", noise="added"):
    return nb.check_parameters({"__annotations__": {"profile": str, "dataset": str,
                                                    "protocol": str, "noise": object,
                                                    "ranks": list, "seeds": list,
                                                    "n_jobs": int},
                                "profile": "smoke", "dataset": dataset, "protocol": "thesis",
                                "noise": noise, "ranks": list(RANKS), "seeds": [0, 1, 2],
                                "n_jobs": 1})


# -- sentences ------------------------------------------------------------------------------

def test_listing_names_the_ranks():
    assert R.listing([2, 3, 5]) == "2, 3, 5" and R.listing([7]) == "7"


def test_noise_origin_says_who_chose_the_level():
    assert R.noise_origin("digits", "added") == "the level of the authors' code"
    assert R.noise_origin("faces", "added") == "the level of the authors' code"
    assert R.noise_origin("fmnist", "added") == "our choice: the thesis names none"
    assert R.noise_origin("coil20", "added") == "our choice: the thesis names none"
    assert R.noise_origin("mine-0123456789ab", "added", own=True).startswith("our choice")
    assert "parameter" in R.noise_origin("digits", 0.2)


def test_context_states_the_dataset_and_what_the_page_rests_on():
    text = R.context(DATASETS["digits"], level=0.4, origin="the level of the authors' code",
                     n_cells=480, n_seeds=5, ranks=[2, 3, 5, 10, 14, 18])
    assert isinstance(text, Prose)
    assert text.startswith("Digits holds 1,797 images of handwritten digits (8 × 8 pixels) "
                           "in 10 classes.")
    assert "480 cells" in text and "ranks 2, 3, 5, 10, 14, 18, 5 seeds each" in text
    assert "without and with Gaussian noise of s.d. 0.4 (the level of the authors' code)." in text
    blobs = R.context(DATASETS["blobs"], level=0.1, origin="o", n_cells=8, n_seeds=1,
                      ranks=[2])
    assert "(500 features)" in blobs and "1 seed each" in blobs and "10,000" in blobs
    own = R.context(DatasetInfo("mine-0123456789ab", "mine", 120, 20, 3, 0.4, None),
                    level=0.4, origin="o", n_cells=64, n_seeds=2, ranks=[2, 5], own=True)
    assert own.startswith("mine holds 120 samples of your file (20 features) in 3 classes.")


def test_thesis_figure_cites_the_figure_of_each_condition():
    assert R.thesis_figure("digits", "none") == "Thesis Fig. 4.4."
    assert R.thesis_figure("digits", "added") == "Thesis Fig. 4.9."
    assert R.thesis_figure("mine-0123456789ab", "none") == ""


def test_means_source_names_the_file_or_the_own_dataset():
    info = DATASETS["digits"]
    assert "data/published/khan2025_tables_4_3-4_10.csv" in R.means_source(info, "digits", False)
    own = R.means_source(DatasetInfo("mine-x", "mine", 1, 1, 2, 0.4, None), "mine-x", True)
    assert "kept in the result store as mine-x" in own and "ours only" in own


def test_means_what_says_whose_numbers_the_table_holds():
    assert R.means_what(False) == "the thesis' and ours" and R.means_what(True) == "ours"


def test_beyond_text_counts_or_says_there_is_no_thesis():
    assert R.beyond_text("Digits", None, 16) == "The thesis has no numbers for this dataset"
    text = R.beyond_text("Digits", 12, 16)
    assert text == (f"On Digits, 12 of the 16 means differ from the thesis' by more than "
                    f"{reporting.DIFFERENCE_THRESHOLD:g}")


# -- tables ---------------------------------------------------------------------------------

def test_means_table_keeps_the_thesis_numbers_as_cells():
    rows = rows_of()
    means, n_beyond = reporting.dataset_means(
        reporting.mean_over_ranks(rows[rows.model.isin(ex.MODELS)]), "digits")
    assert list(means["model"][:8]) == list(ex.MODELS) and len(means) == 16
    table = R.means_table(means)
    shown = table.frame
    assert shown.shape == (8, 7) and list(shown[("", "Model")]) == list(ex.MODELS)
    html = table._repr_html_()
    thesis = reporting.thesis_tables()
    mine = thesis[(thesis.dataset == "digits") & (thesis.noise == "none")]
    for value in mine["thesis_nmi"]:
        assert f">{value:.3f}<" in html  # as the thesis prints it, a cell of its own
    assert "NMI, thesis" in html and "NMI, ours" in html and "Ours − thesis" in html
    assert " ± " in html and "nan" not in html.lower() and "white-space: nowrap" in html
    first = means.iloc[0]
    assert shown[("No noise", "Ours − thesis")].iloc[0] == f"{first.difference:+.3f}"
    assert n_beyond == int(means["beyond"].sum())
    assert "thesis" in repr(table) and "NMF" in repr(table)  # plain text: the tidy rows


def test_means_table_without_thesis_numbers_shows_ours_only():
    rows = rows_of(dataset="mine-0123456789ab")
    means, n_beyond = reporting.dataset_means(
        reporting.mean_over_ranks(rows[rows.model.isin(ex.MODELS)]), "mine-0123456789ab")
    assert n_beyond is None
    table = R.means_table(means)
    assert [c[1] for c in table.frame.columns] == ["Model", "NMI, ours", "NMI, ours"]
    assert "thesis" not in repr(table) and "ours" in repr(table)


def test_means_table_shows_a_dash_for_a_model_without_rows():
    rows = rows_of(models=[m for m in ex.MODELS if m != "GNMF"])
    means, _ = reporting.dataset_means(reporting.mean_over_ranks(rows), "digits")
    html = R.means_table(means)._repr_html_()
    assert display.MISSING in html and "nan" not in html.lower()


def test_fair_table_puts_each_reference_in_its_column():
    rows = rows_of()
    table = R.fair_table(rows)
    shown = table.frame
    assert len(R.FAIR_HEADERS) == len(REFERENCE_KINDS)
    assert shown.shape == (8, 7) and len(shown) <= display.MAX_ROWS
    assert list(shown[("", "Condition")]) == ["no noise", "", "", "", "added noise", "", "", ""]
    means = reporting.mean_over_ranks(rows).set_index(["condition", "model"])["ours"]
    base_of = {meta: base for base, meta in ex.PAIRS}
    for i, (_, meta) in enumerate(ex.PAIRS):
        row = shown.iloc[4 + i]  # added noise
        assert row[("", "Meta model")] == meta
        assert row[("", "Meta")] == means[("added", meta)]
        assert row[("", "Thesis baseline")] == means[("added", base_of[meta])]
        for header, ref in zip(R.FAIR_HEADERS[1:], ex.FAIR_BASELINES[meta]):
            assert row[header] == means[("added", ref)]
    text = repr(table)  # plain text names every model it shows
    for model in ex.ALL_MODELS:
        assert model in text
    assert "nan" not in table._repr_html_().lower()


# -- figure ---------------------------------------------------------------------------------

def test_readable_ticks_keep_the_ends_and_drop_collisions():
    assert plotting._readable_ticks(RANKS, 16 / 6) == [2, 5, 10, 14, 18]
    assert plotting._readable_ticks([2, 5], 0.5) == [2, 5]
    assert plotting._readable_ticks([2, 3], 10) == [2, 3]
    assert plotting._readable_ticks([], 1) == []


@pytest.mark.parametrize("condition", ["none", "added"])
def test_nmi_figure_fits_the_column_with_readable_text_and_legend_off_the_data(condition):
    import matplotlib.pyplot as plt

    nb.setup_plotting()
    rows = rows_of()
    fig = plotting.nmi_vs_rank_pairs(reporting.nmi_by_rank(rows), "digits", condition)
    try:
        assert display.smallest_text_px(fig) >= display.MIN_FONT_PX
        assert fig.get_figwidth() * fig.dpi <= display.COLUMN_PX
        axes = fig.axes
        assert len(axes) == len(ex.PAIRS)
        assert [ax.get_title() for ax in axes] == [base for base, _ in ex.PAIRS]
        assert all(ax.get_ylabel() == "" for ax in axes)  # one shared label
        assert fig._supylabel.get_text() == "NMI"
        renderer = fig.canvas.get_renderer()
        legend = fig.legends[0].get_window_extent(renderer)
        assert not any(legend.overlaps(ax.get_window_extent(renderer)) for ax in axes)
        labels = [t.get_window_extent(renderer) for t in axes[0].get_xticklabels()
                  if t.get_text()]
        assert not any(a.overlaps(b) for a, b in zip(labels, labels[1:]))
        for ax in axes:  # every point drawn: two lines of one point per rank
            assert sum(len(line.get_xdata()) for line in ax.get_lines()
                       if len(line.get_xdata()) == len(RANKS)) >= 2 * len(RANKS)
    finally:
        plt.close(fig)


# -- the page -------------------------------------------------------------------------------

def test_dataset_page_from_rows():
    import matplotlib.pyplot as plt

    nb.setup_plotting()
    page = R.dataset_page(params(), rows_of())
    try:
        assert page.dataset == "digits" and page.n_cells == len(ex.MODELS) * 6 * 3 * 2
        assert page.n_seeds == 3 and page.ranks == "2, 3, 5, 10, 14, 18"
        assert page.noise_level == 0.4 and page.all_models
        assert page.thesis_fig_none == "Thesis Fig. 4.4."
        assert page.context.startswith("Digits holds") and "288 cells" in page.context
        assert isinstance(page.beyond_text, Prose) and page.n_beyond is not None
        assert "Meta-GNMF NNDSVD" in repr(page.table_fair_baselines)
    finally:
        plt.close(page.fig_nmi_none)
        plt.close(page.fig_nmi_added)


def test_dataset_page_with_a_noise_parameter_and_missing_fair_baselines():
    import matplotlib.pyplot as plt

    page = R.dataset_page(params(noise=0.2), rows_of(models=ex.MODELS, noise=0.2))
    try:
        assert page.noise_level == 0.2 and not page.all_models
        assert "set by the parameter `noise`" in page.context
        assert "nan" not in page.table_fair_baselines._repr_html_().lower()
    finally:
        plt.close(page.fig_nmi_none)
        plt.close(page.fig_nmi_added)
