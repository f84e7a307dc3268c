"""Learning/evaluation split and meta-task split (thesis Sec. 4.2 and the authors' code)."""

import numpy as np
import pytest
from metanmf_lab.core.protocols import get_protocol
from metanmf_lab.core.splits import TaskSplitWarning, learning_evaluation_split, make_tasks
from sklearn.model_selection import train_test_split


def test_learning_evaluation_split_is_the_authors_split():
    X = np.arange(200.0).reshape(100, 2)
    y = np.arange(100) % 4
    Xl, Xe, yl, ye = learning_evaluation_split(X, y)
    Xl2, Xe2, yl2, ye2 = train_test_split(X, y, test_size=0.5, random_state=42)
    for a, b in [(Xl, Xl2), (Xe, Xe2), (yl, yl2), (ye, ye2)]:
        np.testing.assert_array_equal(a, b)
    assert Xl.shape == Xe.shape == (50, 2)
    Xl3, Xe3, none1, none2 = learning_evaluation_split(X)
    np.testing.assert_array_equal(Xl3, Xl) and none1 is None and none2 is None


def test_thesis_tasks_are_disjoint_and_target_is_the_rest():
    s = make_tasks(898, n_tasks=5, random_state=0)
    sizes = [t.size for t in s.meta]
    assert sizes == [50] * 5 and s.target.size == 898 - 250 and s.fallback is None
    allidx = np.concatenate(s.meta + (s.target,))
    np.testing.assert_array_equal(np.sort(allidx), np.arange(898))


def test_authors_tasks_overlap_target_is_everything():
    s = make_tasks(898, n_tasks=5, protocol="authors", random_state=0)
    assert [t.size for t in s.meta] == [100] * 5
    np.testing.assert_array_equal(s.target, np.arange(898))
    for t in s.meta:
        assert np.unique(t).size == t.size  # no repeats within a task


def test_a_protocol_brings_its_task_size():
    s = make_tasks(898, n_tasks=5, protocol=get_protocol("authors", task_size=60),
                   random_state=0)
    assert [t.size for t in s.meta] == [60] * 5 and s.protocol == "authors+task_size=60"
    assert make_tasks(898, task_size=70, protocol="authors", random_state=0).task_size == 70


def test_tasks_are_seeded():
    a = make_tasks(500, random_state=1)
    b = make_tasks(500, random_state=1)
    c = make_tasks(500, random_state=2)
    assert all(np.array_equal(x, y) for x, y in zip(a.meta, b.meta))
    assert not all(np.array_equal(x, y) for x, y in zip(a.meta, c.meta))


def test_infeasible_split_shrinks_with_warning_or_raises():
    with pytest.warns(TaskSplitWarning, match="Falling back to meta-tasks of 20"):
        s = make_tasks(200, n_tasks=5, random_state=0)
    assert s.task_size == 20 and s.requested_task_size == 50 and "shrunk" in s.fallback
    assert s.target.size == 100
    with pytest.raises(ValueError, match="only 200 samples"):
        make_tasks(200, n_tasks=5, on_infeasible="error")
    with pytest.raises(ValueError, match="cannot be drawn"):
        make_tasks(50, protocol="authors")
    with pytest.warns(TaskSplitWarning), pytest.raises(ValueError, match="rank"):
        make_tasks(200, n_tasks=5, min_size=30)


@pytest.mark.parametrize("kw,err,match", [
    (dict(protocol="other"), ValueError, "protocol"),
    (dict(protocol=None), TypeError, "protocol"),
    (dict(n_tasks=0), ValueError, "n_tasks"),
    (dict(task_size=0), ValueError, "task_size"),
    (dict(task_size=2.5), TypeError, "task_size"),
    (dict(on_infeasible="ignore"), ValueError, "on_infeasible"),
])
def test_bad_arguments(kw, err, match):
    with pytest.raises(err, match=match):
        make_tasks(500, **kw)
