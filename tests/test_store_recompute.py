"""The committed result store can be recomputed: it never drifts away from the code.

A few cells of the committed store, drawn at random among the cheap ones (a fixed draw, so
CI is reproducible; it changes as the store grows), are recomputed from their own recorded
settings and must give exactly the stored NMI and iteration counts, and the stored
reconstruction error bit for bit where the row was made with the same versions and OpenBLAS
kernels (its ``environment``), else to a few ulps. Cells run with one BLAS thread, so the
numbers are bit-identical on the kind of processor a row was made on; across kinds (the store
was filled on more than one) OpenBLAS's processor-specific kernels may round a sum differently
in its last bit, which is all :data:`RTOL_PROCESSOR` allows.
"""

import numpy as np
import pandas as pd
import pytest
from conftest import require_data
from metanmf_lab._config import ALGORITHM_VERSION
from metanmf_lab.data import datasets
from metanmf_lab.grid.catalogue import model_kind
from metanmf_lab.grid.spine import environment
from metanmf_lab.grid.cells import Cell, Settings
from metanmf_lab.grid.runner import run_block, run_cell
from metanmf_lab.grid.store import DEFAULT_STORE, ResultStore

#: Cells drawn per kind of model (the fair baselines run thousands of iterations: one each).
N_CELLS = {"baseline": 2, "meta": 2, "equal_compute": 1, "warm_start": 1}


#: Relative difference allowed between a stored float and its recomputation: last-bit
#: rounding of BLAS sums between kinds of processor, nothing that any result could show.
RTOL_PROCESSOR = 1e-12


def _committed_rows():
    assert DEFAULT_STORE.exists(), f"the committed result store {DEFAULT_STORE} is missing"
    df = ResultStore(DEFAULT_STORE).load()  # floats round-trip exactly
    assert len(df) > 0, "the committed result store is empty"
    return df


def _per_cell(df):
    """The rows the per-cell engine made: a batched row's last bits depend on the other cells
    of its block (:func:`test_a_stored_batched_block_recomputes`)."""
    return df[~df.settings.str.contains('"engine":"batched"', regex=False)]


def _draw():
    df = _per_cell(_committed_rows())
    df = df[df.algorithm_version.astype(str) == ALGORITHM_VERSION]
    kinds = df.model.map(model_kind)
    rng = np.random.default_rng(20261123)
    picks = []
    for kind, n in N_CELLS.items():
        part = df[kinds == kind].sort_values("seconds", kind="stable")
        assert len(part) >= n, f"too few {kind} cells in the store"
        # the cheap ones: under 2 s, or the ten cheapest if fewer are
        part = part[(part.seconds < 2.0) | (np.arange(len(part)) < 10)]
        picks += [part.iloc[i] for i in rng.choice(len(part), n, replace=False)]
    return picks


@pytest.mark.parametrize("row", _draw(), ids=lambda r: f"{r.dataset}-{r.model}-r{r['rank']}"
                         f"-s{r.seed}-n{r.noise}")
def test_stored_cell_recomputes_exactly(row):
    require_data(row.dataset)
    settings = Settings.from_json(row.settings)
    assert settings.hash == row.settings_hash, "stored settings do not match their hash"
    cell = Cell(row.dataset, float(row.noise), row.model, int(row["rank"]), int(row.seed),
                row.protocol)
    new = run_cell(cell, settings)
    assert new["nmi"] == float(row.nmi)
    assert new["n_iter"] == int(row.n_iter) and new["train_iter"] == int(row.train_iter)
    # The same code on another kind of processor: OpenBLAS picks its kernels by processor, so
    # a long sum may round differently in its last bit (seen: 1 ulp between an Intel AVX-512
    # and an AMD EPYC machine). Rows record the kernels in `environment` (its blas= field;
    # rows older than that field do not): bit for bit where it matches this run's, a few ulps
    # otherwise; anything more is drift.
    assert new["recon_error"] == pytest.approx(float(row.recon_error), rel=_rtol(row), abs=0)


def _rtol(row):
    """0 (bit for bit) for a row made in this environment, else :data:`RTOL_PROCESSOR`."""
    return 0.0 if row.environment == environment() else RTOL_PROCESSOR


def test_a_row_made_in_this_environment_recomputes_bit_for_bit():
    df = _per_cell(_committed_rows())
    here = df[(df.environment == environment())
              & (df.algorithm_version.astype(str) == ALGORITHM_VERSION)]
    if here.empty:
        pytest.skip("no stored row was made with this machine's versions and OpenBLAS kernels")
    here = here.sort_values(list(ResultStore.SORT), kind="stable").sort_values(
        "seconds", kind="stable")
    usable = here[~here.dataset.isin(list(datasets.missing_files()))]
    if usable.empty:  # skips (or fails in CI), naming the missing file
        require_data(here.dataset.iloc[0])
    row = usable.iloc[0]  # the cheapest whose data are here
    assert _rtol(row) == 0.0
    test_stored_cell_recomputes_exactly(row)


def test_a_stored_batched_block_recomputes():
    """The batched engine is deterministic: its cheapest stored block (one dataset and noise
    condition, every model, rank and seed), run again, gives the stored rows -- bit for bit in
    the environment that made them; elsewhere float32 rounds differently, so the
    reconstruction errors agree to 1e-4 and the NMI on average to 0.01."""
    df = _committed_rows()
    batched = df[df.settings.str.contains('"engine":"batched"', regex=False)
                 & ~df.dataset.isin(list(datasets.missing_files()))]
    if batched.empty:
        pytest.skip("no stored batched rows whose data are here")
    cost = batched.groupby(["dataset", "noise", "protocol", "settings_hash"])["seconds"].sum()
    dataset, noise, protocol, h = cost.idxmin()
    rows = batched[(batched.dataset == dataset) & (batched.noise == noise)
                   & (batched.protocol == protocol) & (batched.settings_hash == h)]
    settings = Settings.from_json(rows.settings.iloc[0])
    assert settings.hash == h and settings.engine == "batched"
    cells = [Cell(r.dataset, float(r.noise), r.model, int(r.rank), int(r.seed), r.protocol)
             for r in rows.itertuples()]
    new = pd.DataFrame(run_block(cells, settings))
    key = ["model", "rank", "seed"]
    both = rows.astype({"rank": int, "seed": int}).merge(new, on=key, suffixes=("", "_new"))
    assert len(both) == len(rows)
    if (rows.environment == environment()).all():
        assert (both.nmi == both.nmi_new).all()
        assert (both.recon_error == both.recon_error_new).all()
    else:
        assert (both.nmi - both.nmi_new).abs().mean() < 0.01
        np.testing.assert_allclose(both.recon_error_new, both.recon_error, rtol=1e-4)


def test_environment_names_the_blas_kernels():
    env = dict(part.split("=", 1) for part in environment().split(";"))
    assert {"python", "numpy", "scipy", "scikit-learn", "blas"} <= set(env)
    for lib in env["blas"].split(","):  # e.g. openblas-0.3.30/Haswell
        name, arch = lib.split("/")
        assert name.startswith("openblas-") and arch and arch != "?"


def test_store_rows_are_complete_and_unique():
    df = _committed_rows()
    store = ResultStore(DEFAULT_STORE)
    assert len(store.keys()) == len(df), "duplicate keys in the committed store"
    for col in ("nmi", "recon_error", "seconds"):
        v = df[col].astype(float)
        assert np.isfinite(v).all(), f"non-finite {col} in the store"
    assert ((df.nmi >= 0) & (df.nmi <= 1)).all()
    assert (df.settings_hash.str.len() == 12).all()


# -- the basis-measure store (hypotheses 2 and 4) ---------------------------------------------

def _measure_draw():
    from metanmf_lab.grid.store import DEFAULT_MEASURE_STORE, MeasureStore

    assert DEFAULT_MEASURE_STORE.exists(), \
        f"the committed basis-measure store {DEFAULT_MEASURE_STORE} is missing"
    df = MeasureStore().load()
    df = df[(df.algorithm_version == ALGORITHM_VERSION) & (df.measure == "subspace_distance")
            & (df.dataset == "digits")]  # the cheapest refits
    assert len(df) > 0, "no Digits subspace distance in the basis-measure store"
    rng = np.random.default_rng(20261123)
    return [df.iloc[i] for i in rng.choice(len(df), 2, replace=False)]


@pytest.mark.parametrize("row", _measure_draw(), ids=lambda r: f"{r.model}-r{r['rank']}"
                         f"-s{r.other_seed}-{r.seed}-n{r.noise}")
def test_stored_basis_measures_recompute_exactly(row):
    from metanmf_lab.grid import analysis
    from metanmf_lab.grid.store import MeasureStore

    settings = Settings.from_json(row.settings)
    assert settings.hash == row.settings_hash, "stored settings do not match their hash"
    cells = [Cell(row.dataset, float(row.noise), row.model, int(row["rank"]), int(s),
                  row.protocol) for s in (row.other_seed, row.seed)]
    new = analysis.basis_measures(cells, settings, store=False, cache=False)
    stored = MeasureStore().load()
    key = ["dataset", "model", "rank", "seed", "other_seed", "measure"]
    stored = stored[(stored.dataset == row.dataset) & (stored.model == row.model)
                    & (stored["rank"] == row["rank"]) & (stored.noise == row.noise)
                    & (stored.settings_hash == row.settings_hash)
                    & stored.seed.isin([row.seed, row.other_seed])
                    & stored.other_seed.isin([-1, row.other_seed])]
    merged = new.merge(stored, on=key, suffixes=("_new", "_stored"))
    assert len(merged) == len(new) == 5  # two bases x two measures, one pair
    # a few ulps across processor kinds (see test_stored_cell_recomputes_exactly)
    np.testing.assert_allclose(merged.value_new, merged.value_stored.astype(float),
                               rtol=_rtol(row), atol=0)
