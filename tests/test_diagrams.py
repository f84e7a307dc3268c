"""Drawn figures (metanmf_lab.book.diagrams): they return Figures with the expected labels and
shapes, handle the infeasible split loudly, and are deterministic to the byte."""

import io
import warnings

import numpy as np
import pytest
from matplotlib.figure import Figure
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch
from matplotlib.text import Text
from metanmf_lab.book.diagrams import meta_epoch_flowchart, split_protocol, split_sizes
from metanmf_lab.book.plotting import image_grid
from metanmf_lab.core.splits import TaskSplitWarning


def texts(fig):
    return [t.get_text() for t in fig.findobj(Text) if t.get_text()]


def png(fig):
    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Software": None})
    return buf.getvalue()


def n_boxes(fig):
    # Every box is drawn as a filled patch plus an outline: count the outlines.
    return sum(1 for p in fig.findobj(FancyBboxPatch) if p.get_facecolor()[3] == 0)


@pytest.mark.parametrize("n_tasks,shown", [(1, 1), (2, 2), (3, 3), (5, 3)])
def test_flowchart_draws_every_task_and_the_target(n_tasks, shown):
    fig = meta_epoch_flowchart(n_tasks)
    assert isinstance(fig, Figure)
    t = texts(fig)
    # start and result per task shown, W_t^(k), the average, the target start and result
    assert n_boxes(fig) == 2 * shown + 4
    assert sum("NMF on $X_{s_" in s for s in t) == shown
    assert "NMF on $X_t$" in t and r"$W_t^{(k)}$" in t and r"$W_t^{(k+1)}$" in t
    assert rf"$W_t^{{(k)}} + W_{{s_{n_tasks}}}^{{(k)}}$" in t
    assert any(r"\alpha_i" in s for s in t)
    assert (r"$\vdots$" in t) == (n_tasks > 3)


def test_flowchart_rejects_bad_task_counts():
    with pytest.raises(ValueError, match="n_tasks must be >= 1"):
        meta_epoch_flowchart(0)
    with pytest.raises(TypeError, match="n_tasks must be an integer"):
        meta_epoch_flowchart(2.0)


def test_split_sizes_follow_the_protocols():
    s = split_sizes(1797)
    assert (s["n_learn"], s["n_eval"], s["task_size"], s["n_target"]) == (898, 899, 50, 648)
    assert s["fallback"] is None and not s["tasks_overlap"]
    r = split_sizes(1797, "authors")
    assert (r["task_size"], r["n_target"], r["tasks_overlap"], r["target_is_learning_set"]) \
        == (100, 898, True, True)


def test_infeasible_split_warns_and_is_recorded():
    with pytest.warns(TaskSplitWarning, match="only 200 samples"):
        s = split_sizes(400)
    assert s["task_size"] == 20 and s["requested_task_size"] == 50 and s["n_target"] == 100
    fig = split_protocol(s)
    assert any("infeasible" in x for x in texts(fig))


def test_split_protocol_draws_one_panel_per_split():
    s = [split_sizes(1797), split_sizes(1797, "authors")]
    fig = split_protocol(s, titles=["A", "B"])
    t = texts(fig)
    assert "A" in t and "B" in t
    assert "meta-task 5\n50" in t and "meta-task 5\n100" in t
    assert "target (the rest)\nn = 648" in t
    assert "target = whole\nlearning set, n = 898" in t
    assert n_boxes(fig) == 2 * (3 + 5 + 1)
    # the authors' code's tasks are dashed (drawn independently)
    assert any(p.get_linestyle() == "--" for p in fig.findobj(FancyArrowPatch))
    with pytest.raises(ValueError, match="2 titles for 1 splits"):
        split_protocol(s[0], titles=["a", "b"])
    with pytest.raises(ValueError, match="at least one"):
        split_protocol([])


def test_many_tasks_are_elided():
    fig = split_protocol(split_sizes(5000, n_tasks=8))
    assert r"$\cdots$" in texts(fig)


def test_image_grid_layout_and_checks():
    rng = np.random.default_rng(0)
    fig = image_grid(rng.random((2, 3, 12)), (3, 4), row_labels=["a", "b"],
                     col_labels=["x", "y", "z"])
    assert len(fig.axes) == 6
    assert fig.axes[0].images[0].get_array().shape == (3, 4)
    assert {"a", "b", "x", "y", "z"} <= set(texts(fig))
    strip = image_grid(rng.random((4, 10)))  # non-image vectors: one row of strips
    assert len(strip.axes) == 4 and strip.axes[0].images[0].get_array().shape == (1, 10)
    with pytest.raises(ValueError, match="does not match 12 pixels"):
        image_grid(rng.random((2, 12)), (5, 5))
    with pytest.raises(ValueError, match="scale must be"):
        image_grid(rng.random((2, 12)), (3, 4), scale="global")
    with pytest.raises(ValueError, match="images must be"):
        image_grid(rng.random(12))


def test_image_grid_scales():
    img = np.array([[[0.0, 1.0], [0.0, 4.0]]])
    for scale, vmax in [("each", 1.0), ("row", 4.0), ("all", 4.0)]:
        fig = image_grid(img, (1, 2), scale=scale)
        assert fig.axes[0].images[0].get_clim() == (0.0, vmax)


@pytest.mark.parametrize("make", [
    lambda: meta_epoch_flowchart(2),
    lambda: meta_epoch_flowchart(5),
    lambda: split_protocol([split_sizes(1797), split_sizes(1797, "authors")]),
    lambda: image_grid(np.linspace(0, 1, 2 * 3 * 64).reshape(2, 3, 64), (8, 8),
                       row_labels=["r1", "r2"]),
])
def test_figures_are_deterministic(make):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # and draw without any warning
        assert png(make()) == png(make())


def test_image_grid_rows_of_different_sizes():
    rng = np.random.default_rng(1)
    rows = [rng.random((3, 64)), rng.random((2, 12)), rng.random((3, 5))]
    fig = image_grid(rows, [(8, 8), (3, 4), None], row_labels=["a", "b", "c"])
    assert len(fig.axes) == 8
    shapes = [ax.images[0].get_array().shape for ax in fig.axes]
    assert shapes == [(8, 8)] * 3 + [(3, 4)] * 2 + [(1, 5)] * 3
    with pytest.raises(ValueError, match="2 image shapes for 3 rows"):
        image_grid(rows, [(8, 8), (3, 4)])
    with pytest.raises(ValueError, match="one \\(n_cols, n_pixels\\) array per row"):
        image_grid([rng.random(4)])
