"""The committed stores hold every cell the book's full profile reads in the reproduction
notes, the hypotheses and the conclusions, so that `make book` on a fresh clone computes
nothing: each chapter's measurements run here with computing forbidden."""

import pytest
from metanmf_lab import grid
from metanmf_lab.book import notebook as nb
from metanmf_lab.book.profiles import PROFILES
from metanmf_lab.grid import analysis


def _forbid(*args, **kwargs):
    raise AssertionError("the full profile asked for a cell the committed store lacks")


def _params(**declared):
    ns = {"__annotations__": {k: type(v) for k, v in declared.items()}, **declared}
    return nb.check_parameters(ns)


HYPOTHESES = dict(profile="full", datasets=[], ranks=[], seeds=[], fair_datasets=[],
                  pair_seeds=[], pair_datasets=[],
                  noise_datasets=[], noise_ranks=[], noise_levels=[0.0, 0.1, 0.2, 0.4, 0.6],
                  basis_datasets=[], basis_rank=10, face_rank=18, n_jobs=1)
NOTES = dict(profile="full", datasets=[], ranks=[], seeds=[], ablation_datasets=[],
             authors_datasets=[],
             ablation_seeds=[], n_jobs=1)


@pytest.fixture
def no_compute(monkeypatch):
    monkeypatch.setattr(grid.runner, "run_cell", _forbid)
    monkeypatch.setattr(analysis, "fit_components", _forbid)


def test_full_profile_hypotheses_are_all_stored(no_compute):
    H = nb.hypotheses(_params(**HYPOTHESES))
    assert len(H.clustering) and len(H.noise) and len(H.part_tests) and len(H.basis)
    # every comparison has both halves over the seeds it should
    assert (H.clustering["n_seeds"] >= 5).all()


def test_full_profile_notes_are_all_stored(no_compute):
    N = nb.notes(_params(**NOTES))
    assert N.entries and N.n_ablation_cells > 0
    measured = N.explained[N.explained["explanation"] != "not measured"]
    assert len(measured) > 0
    authors_on = PROFILES["full"].authors_datasets
    if authors_on:  # every entry of those datasets, under the authors' code in full
        assert N.authors is not None and set(N.authors["dataset"]) == set(authors_on)
        assert N.authors["authors"].notna().all()
    # the datasets not run in full are named, with what the store holds of them (a dataset
    # the store holds in full belongs in the profile's authors_datasets)
    others = [d for d in PROFILES["full"].datasets if d not in authors_on]
    assert [d for d, _, _ in N.authors_pending] == others
    assert all(0 <= stored < total for _, stored, total in N.authors_pending)


ROBUSTNESS = dict(profile="full", datasets=[], ranks=[], seeds=[], fair_datasets=[],
                  pair_seeds=[], pair_datasets=[], n_jobs=1)


def test_full_profile_robustness_is_all_stored(no_compute):
    """The robustness chapter's replications are committed: every design of the full plan."""
    from metanmf_lab.book.chapters import robustness

    V = robustness.values(_params(**ROBUSTNESS))
    plan = PROFILES["full"].plan
    assert V.n_replications == len(plan.splits) + 1 >= 5
    assert set(V._splits["replication"]) == set(range(len(plan.splits) + 1))
    # every headline comparison measured on every split, on every dataset and condition
    per = V._splits.groupby(["dataset", "condition", "label"])["replication"].nunique()
    assert len(per) == len(plan.datasets) * 2 * 4 and (per == V.n_replications).all()
    assert set(V._beats["setting"]) >= {"thesis protocol, our noise",
                                        "authors'-code protocol (equal compute, own init)"}
