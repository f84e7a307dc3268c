"""The grid on a local dask.distributed cluster (loopback, 2 worker processes) gives exactly
the rows of a serial run."""

import pandas as pd
import pytest
from metanmf_lab import grid as ex
from metanmf_lab.grid.store import COLUMNS, RUN_COLUMNS

distributed = pytest.importorskip("dask.distributed")

TINY = ex.Settings(n_epochs=2, inner_iter=5, baseline_iter=10)


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       host="127.0.0.1", dashboard_address=None)
    with cluster, distributed.Client(cluster) as c:
        yield c


def test_dask_grid_equals_serial_grid(client, tmp_path):
    cells = ex.make_grid(["digits"], models=["NMF", "Meta-NMF", "GNMF", "Meta-GNMF NNDSVD"],
                         ranks=[2, 5], seeds=[0, 1], noises=["none", "added"])
    serial = ex.run_grid(cells, TINY, store=tmp_path / "serial.csv", progress=False)
    with distributed.get_task_stream(client) as tasks:
        remote = ex.run_grid(cells, TINY, store=tmp_path / "dask.csv", backend="dask",
                             n_jobs=-1, progress=False)
    assert len(tasks.data) >= 1  # the work really went through the cluster
    workers = {t["worker"] for t in tasks.data}
    assert len(workers) == 2
    keep = [c for c in COLUMNS if c not in RUN_COLUMNS]
    assert len(serial) == len(remote) == len(cells)
    pd.testing.assert_frame_equal(serial[keep], remote[keep])


def test_dask_backend_without_client_says_how_to_start_one(monkeypatch):
    monkeypatch.setattr(distributed, "default_client",
                        lambda: (_ for _ in ()).throw(ValueError("No clients found")))
    with pytest.raises(RuntimeError, match="dask scheduler"):
        ex.run_grid([ex.Cell("digits", 0.0, "NMF", 2, 0)], TINY, store=None, backend="dask")
