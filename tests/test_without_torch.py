"""The book's default set-up has no PyTorch (``requirements-torch.txt`` is for ``make test`` and
``make torch`` only): the related-methods chapters' full profile reads the committed stores
without it, and computing a missing result says, before computing anything, how to install
it. Each test runs in a subprocess in which ``import torch`` fails."""

import json
import subprocess
import sys
import textwrap

import pytest
from metanmf_lab._config import PROJECT_ROOT

NO_TORCH = """\
import sys


class NoTorch:  # `import torch` fails, as where PyTorch is not installed
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] == "torch":
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)


sys.meta_path.insert(0, NoTorch())
"""


def _run(code):
    """Run ``code`` without PyTorch; return what it printed last, as JSON."""
    proc = subprocess.run([sys.executable, "-c", NO_TORCH + textwrap.dedent(code)],
                          cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_full_profile_reads_the_related_methods_stores_without_torch():
    """The calls of notebooks/metaprior.ipynb and notebooks/mlam.ipynb, with the parameters
    their parameters cells declare (the full profile); computing anything would fail."""
    out = _run("""
        import json

        from metanmf_lab.related import metaprior, mlam
        from metanmf_lab.book import notebook as nb
        from metanmf_lab._config import PROJECT_ROOT

        def params(name):
            cells = json.loads((PROJECT_ROOT / "notebooks" / name).read_text())["cells"]
            ns = {}
            for cell in cells:
                if "parameters" in cell["metadata"].get("tags", []):
                    exec("".join(cell["source"]), ns)
            assert ns["profile"] == "full"
            return nb.check_parameters(ns)

        P = params("metaprior.ipynb")
        rows = metaprior.run_ml100k(P.splits, P.profile_.ml100k, P.ml100k_store)
        nmf_rows = metaprior.run_nmf_prior(P.nmf_datasets, P.nmf_ranks, P.nmf_seeds,
                                           P.profile_.nmf_prior, P.nmf_prior_store,
                                           thesis_settings=P.settings)
        cmp = [metaprior.nmf_prior_comparisons(nmf_rows, v) for v in ("recon_error", "nmi")]

        Q = params("mlam.ipynb")
        wanted = Q.experiments or list(mlam.EXPERIMENTS)
        cells = [c for c in Q.profile_.mlam_cells if c[0] in wanted]
        mrows = mlam.with_parameters(mlam.run_mlam(cells, Q.profile_.mlam, Q.mlam_store))
        rates = mrows[(mrows.experiment == "completion") & (mrows["rank"] == 5)]
        gmm = mrows[mrows.experiment == "gmm"]
        summaries = [mlam.summary(rates, "rmse", "rate"), mlam.summary(gmm, "nll", "dim")]
        cmps = [mlam.comparisons(rates, "rmse", "rate"), mlam.comparisons(gmm, "nll", "dim")]
        mlam.identifiable_rank(100, 100, 0.2)

        loaded = sorted(m for m in sys.modules if m.split(".")[0] == "torch")
        print(json.dumps(dict(
            splits=sorted(set(rows.split.astype(int))), want_splits=list(P.splits),
            nmf_cells=len(set(zip(nmf_rows.dataset, nmf_rows["rank"], nmf_rows.seed))),
            want_nmf_cells=len(P.nmf_datasets) * len(P.nmf_ranks) * len(P.nmf_seeds),
            nmf_comparisons=min(len(c) for c in cmp),
            mlam_cells=len(set(zip(mrows.experiment, mrows.setting, mrows.seed))),
            want_mlam_cells=len(cells), summaries=min(len(s) for s in summaries),
            mlam_comparisons=min(len(c) for c in cmps), torch_modules=loaded)))
    """)
    assert out["torch_modules"] == []
    assert out["splits"] == out["want_splits"] and out["splits"]
    assert out["nmf_cells"] == out["want_nmf_cells"] > 0
    assert out["mlam_cells"] == out["want_mlam_cells"] > 0
    assert out["nmf_comparisons"] > 0 and out["summaries"] > 0 and out["mlam_comparisons"] > 0


def test_computing_a_missing_result_without_torch_says_how_to_install_it():
    out = _run("""
        import json
        import tempfile
        from pathlib import Path

        from metanmf_lab.book.profiles import PROFILES
        from metanmf_lab.related import metaprior, mlam
        from metanmf_lab.grid.store import ML100KStore, MLAMStore, NMFPriorStore

        tmp = Path(tempfile.mkdtemp())
        smoke = PROFILES["smoke"]
        cells = smoke.mlam_cells
        calls = {
            "mlam": lambda: mlam.run_mlam(cells[:3], smoke.mlam, MLAMStore(tmp / "mlam.csv")),
            "ml100k": lambda: metaprior.run_ml100k([0, 1], smoke.ml100k,
                                                   ML100KStore(tmp / "ml.csv")),
            "nmf": lambda: metaprior.run_nmf_prior(
                ["digits"], [3], [0], smoke.nmf_prior, NMFPriorStore(tmp / "nmf.csv")),
            "no store": lambda: mlam.run_mlam(cells[:1], smoke.mlam, False),
            "cell": lambda: mlam.mlam_cell(*cells[0], settings=smoke.mlam),
            "model": lambda: metaprior.MetaPriorMF,
            "optimiser": lambda: mlam.MLAM,
        }
        said = {}
        for name, call in calls.items():
            try:
                call()
            except ImportError as exc:
                said[name] = str(exc)
        said["files"] = sorted(p.name for p in tmp.iterdir())
        print(json.dumps(said))
    """)
    assert out.pop("files") == []  # failed before writing anything
    assert out["mlam"] == ("Computing 3 missing cells of the MLAM result store (mlam.csv) needs "
                           "PyTorch: run `make torch` (or `.venv/bin/pip install -r "
                           "requirements-torch.txt -c requirements-lock.txt`).")
    assert out["ml100k"].startswith("Computing 2 missing splits of the MovieLens result store")
    assert out["nmf"].startswith("Computing 1 missing cell of the NMF-prior result store")
    assert out["no store"].startswith("Computing 1 cell needs PyTorch")
    assert out["cell"].startswith("Computing the MLAM cell completion ")
    assert out["model"].startswith("metanmf_lab.related.metaprior.MetaPriorMF needs PyTorch")
    assert out["optimiser"].startswith("metanmf_lab.related.mlam.MLAM needs PyTorch")
    assert all("make torch" in said for said in out.values())


def test_the_pytorch_part_is_imported_only_by_the_functions_that_compute():
    """Where PyTorch is installed, the related-methods modules still leave it unimported until
    a model is asked for (the book's full profile never asks)."""
    pytest.importorskip("torch")
    code = ("import json, sys\n"
            "from metanmf_lab.related import metaprior, mlam\n"
            "before = 'torch' in sys.modules\n"
            "metaprior.MetaPriorMF, mlam.MLAM, mlam.torch_generator\n"
            "print(json.dumps([before, 'torch' in sys.modules, dir(mlam)]))")
    before, after, names = json.loads(subprocess.run(
        [sys.executable, "-c", code], cwd=PROJECT_ROOT, capture_output=True, text=True,
        check=True).stdout)
    assert not before and after
    assert {"MLAM", "CompletionProblems", "run_mlam"} <= set(names)
