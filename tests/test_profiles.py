"""The one profiles table (metanmf_lab.book.profiles) holds the values of the four tables it
replaced, literally: the book's glued values and the smoke golden files rest on them."""

import dataclasses
import json
from pathlib import Path

import pytest
from metanmf_lab._config import PROJECT_ROOT
from metanmf_lab.book import notebook as nb
from metanmf_lab.book.profiles import PARAMETER_DEFAULTS, PROFILES, Profile
from metanmf_lab.grid.catalogue import THESIS_RANKS
from metanmf_lab.grid.cells import Settings
from metanmf_lab.grid.replication import Plan
from metanmf_lab.grid.store import (DEFAULT_MEASURE_STORE, DEFAULT_ML100K_STORE,
                                    DEFAULT_MLAM_STORE, DEFAULT_NMF_PRIOR_STORE, DEFAULT_STORE)
from metanmf_lab.related.metaprior import ML100KSettings, NMFPriorSettings
from metanmf_lab.related.mlam import BIG_PS, BIG_RANKS, NMF_DATASETS, MLAMSettings

FIVE = ("blobs", "digits", "fmnist", "faces", "coil20")
BUILD = PROJECT_ROOT / "_build"

# -- the former tables, as they were written ----------------------------------------------------

#: book/notebook.py's PROFILES: the fields and the ``extra`` dict.
OLD_NOTEBOOK = {
    "full": dict(settings=Settings(), ranks=tuple(THESIS_RANKS), seeds=tuple(range(5)),
                 store=DEFAULT_STORE, datasets=FIVE,
                 measure_store=DEFAULT_MEASURE_STORE, ml100k_store=DEFAULT_ML100K_STORE,
                 nmf_prior_store=DEFAULT_NMF_PRIOR_STORE, mlam_store=DEFAULT_MLAM_STORE,
                 own_store=PROJECT_ROOT / "data" / "own-results.csv"),
    "smoke": dict(settings=Settings(n_epochs=3, inner_iter=10, baseline_iter=10), ranks=(2, 5),
                  seeds=(0, 1), store=BUILD / "smoke-results.csv", datasets=("digits", "faces"),
                  measure_store=BUILD / "smoke-basis-measures.csv",
                  ml100k_store=BUILD / "smoke-metaprior-ml100k.csv",
                  nmf_prior_store=BUILD / "smoke-metaprior-nmf.csv",
                  mlam_store=BUILD / "smoke-mlam.csv",
                  own_store=BUILD / "smoke-own-results.csv"),
}
OLD_EXTRA = {
    "full": dict(pair_seeds=tuple(range(10)), noise_datasets=("digits", "faces", "coil20"),
                 noise_ranks=(5, 10, 18), basis_datasets=("digits", "faces", "coil20"),
                 ablation_seeds=(0,), ablation_datasets=FIVE, fair_datasets=FIVE,
                 pair_datasets=FIVE, authors_datasets=FIVE,
                 benchmarks=("A", "B", "C", "D-synthetic"), bench_seeds=tuple(range(10)),
                 max_iter=500, splits=tuple(range(10)), nmf_datasets=FIVE,
                 nmf_ranks=tuple(THESIS_RANKS), nmf_seeds=(0, 1, 2)),
    "smoke": dict(pair_seeds=(0, 1, 2), noise_datasets=("digits",), noise_ranks=(5,),
                  basis_datasets=("digits",), ablation_seeds=(0,), ablation_datasets=("digits",),
                  fair_datasets=("digits", "faces"), pair_datasets=("digits", "faces"),
                  authors_datasets=("digits", "faces"), benchmarks=("A", "B"),
                  bench_seeds=(0, 1), max_iter=30, splits=(0, 1), nmf_datasets=("digits",),
                  nmf_ranks=(3,), nmf_seeds=(0,)),
}
#: grid/replication.py's FULL and SMOKE (``extra["plan"]``).
OLD_PLAN = {
    "full": Plan(datasets=FIVE, splits=(1, 2, 3, 4),
                 split_ranks={d: (5, 10) for d in ("blobs", "fmnist", "digits", "faces",
                                                   "coil20")},
                 calibration_levels=(0.2, 0.4, 0.6, 0.8, 1.0, 1.25, 1.5, 2.0),
                 calibration_ranks=tuple(THESIS_RANKS), calibration_seeds=(0, 1, 2),
                 calibrated_seeds=(0, 1), sweep_datasets=("digits", "faces", "coil20"),
                 sweep_levels=(0.1, 0.2, 0.6), sweep_ranks=(5, 10, 18), sweep_seeds=(0, 1),
                 authors_ranks=(10,), authors_seeds=(0,), lambda_dataset="blobs",
                 lambdas=(1.0, 10.0, 1000.0), lambda_ranks=(5, 18),
                 raw_datasets=("blobs", "digits"), raw_ranks=tuple(THESIS_RANKS),
                 iteration_dataset="blobs", iterations=(25, 50, 100, 200, 400, 800, 1600, 3200),
                 iteration_ranks=(5, 10), iteration_seeds=(0, 1, 2)),
    "smoke": Plan(datasets=("digits", "faces"), splits=(1, 2),
                  split_ranks={"digits": (5,), "faces": (5,)},
                  calibration_levels=(0.4, 1.0), calibration_ranks=(5,), calibration_seeds=(0, 1),
                  calibrated_seeds=(0,), sweep_datasets=("digits",), sweep_levels=(0.6,),
                  sweep_ranks=(5,), sweep_seeds=(0,), authors_ranks=(5,), authors_seeds=(0,),
                  lambda_dataset="digits", lambdas=(10.0,), lambda_ranks=(5,),
                  raw_datasets=("digits",), raw_ranks=(5,), iteration_dataset="digits",
                  iterations=(10, 40), iteration_ranks=(5,), iteration_seeds=(0,)),
}
#: related/metaprior.py's PROFILE_SETTINGS and NMF_PROFILE_SETTINGS, related/mlam.py's
#: PROFILE_SETTINGS.
OLD_ML100K = {
    "full": ML100KSettings(),
    "smoke": ML100KSettings(rank=4, channels=4, n_layers=2, hidden=8, ff_layers=2, n_iter=20,
                            eval_every=10, n_valid=16, n_test=4, mf_regs=(1.0,),
                            eval_steps=(0, 10)),
}
OLD_NMF_PRIOR = {
    "full": NMFPriorSettings(),
    "smoke": NMFPriorSettings(channels=4, n_layers=2, hidden=8, ff_layers=2, n_steps=3,
                              size=16, batch=4, n_iter=10, eval_every=5, n_valid=8,
                              eval_iters=(0, 10)),
}
OLD_MLAM = {
    "full": MLAMSettings(),
    "smoke": MLAMSettings(hidden=4, n_outer=5, t_in=2, t_out=2, batch=2, nmf_rows=30,
                          nmf_train_outer=2, gd_lrs=(1e-2,), als_lams=(0.1, 1.0)),
}


def old_mlam_cells(profile):
    """related/mlam.py's ``profile_cells``, as it was."""
    if profile == "smoke":
        return [("completion", dict(rate=r, rank=5, p=5, n_train=2, n_test=3), 0)
                for r in (0.2, 0.4)] + [
                ("gmm", dict(dim=d, n_train=2, n_test=3), 0) for d in (2, 4)] + [
                ("nmf", dict(dataset="digits", rank=3, n_train=2, n_test=1, train_batch=1), 0)]
    cells = [("gmm", dict(dim=d, n_train=50, n_test=50), 0) for d in (2, 4, 8, 16, 32, 64)]
    cells += [("completion", dict(rate=r, rank=5, p=5, n_train=50, n_test=50), 0)
              for r in (0.2, 0.4, 0.6, 0.8)]
    cells += [("nmf", dict(dataset=d, rank=10, n_train=10, n_test=1, train_batch=1), s)
              for d in NMF_DATASETS for s in (0, 1, 2)]
    cells += [("completion", dict(rate=0.2, rank=k, p=k, n_train=10, n_test=10), 0)
              for k in BIG_RANKS]
    cells += [("completion", dict(rate=0.2, rank=10, p=p, n_train=10, n_test=10), 0)
              for p in BIG_PS]
    return cells


@pytest.mark.parametrize("name", ["full", "smoke"])
def test_the_table_holds_the_former_tables_values(name):
    profile = PROFILES[name]
    assert profile.name == name
    for field, value in {**OLD_NOTEBOOK[name], **OLD_EXTRA[name]}.items():
        assert getattr(profile, field) == value, field
        assert type(getattr(profile, field)) is type(value), field
    assert profile.plan == OLD_PLAN[name]
    assert profile.ml100k == OLD_ML100K[name]
    assert profile.nmf_prior == OLD_NMF_PRIOR[name]
    assert profile.mlam == OLD_MLAM[name]
    assert list(profile.mlam_cells) == old_mlam_cells(name)
    # equal settings, equal keys of the stored rows
    for new, old in ((profile.settings, OLD_NOTEBOOK[name]["settings"]),
                     (profile.ml100k, OLD_ML100K[name]), (profile.nmf_prior, OLD_NMF_PRIOR[name]),
                     (profile.mlam, OLD_MLAM[name])):
        assert new.hash == old.hash


def test_every_field_is_named_and_the_full_profile_is_the_defaults():
    fields = {f.name for f in dataclasses.fields(Profile)}
    assert fields == ({"name", "plan", "ml100k", "nmf_prior", "mlam", "mlam_cells"}
                      | set(OLD_NOTEBOOK["full"]) | set(OLD_EXTRA["full"]))
    assert set(PARAMETER_DEFAULTS) == set(OLD_EXTRA["full"])
    full = PROFILES["full"]
    assert (full.settings, full.plan, full.ml100k, full.nmf_prior, full.mlam) == (
        Settings(), Plan(), ML100KSettings(), NMFPriorSettings(), MLAMSettings())


def _parameters(path):
    cells = json.loads(Path(path).read_text())["cells"]
    ns = {}
    for cell in cells:
        if "parameters" in cell["metadata"].get("tags", []):
            exec("".join(cell["source"]), ns)
    ns.pop("__builtins__", None)
    return ns


@pytest.mark.parametrize("name", ["full", "smoke"])
def test_empty_parameters_take_the_profiles_fields(name):
    """Every notebook parameter named like a profile field, left empty (or 0), resolves to
    that field, as it did from the former ``extra`` dict."""
    seen = set()
    for path in sorted((PROJECT_ROOT / "notebooks").glob("*.ipynb")):
        ns = _parameters(path)
        declared = [n for n in ns.get("__annotations__", {}) if n in PARAMETER_DEFAULTS]
        if not declared:
            continue
        empty = {n: ([] if isinstance(ns[n], list) else 0) for n in declared}
        P = nb.check_parameters({**ns, **empty, "profile": name})
        for n in declared:
            value = getattr(PROFILES[name], n)
            assert P[n] == (list(value) if isinstance(value, tuple) else value), (path.name, n)
        seen |= set(declared)
    assert seen == set(PARAMETER_DEFAULTS)
