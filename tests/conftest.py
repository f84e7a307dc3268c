"""What several test files share: the data files a test needs.

A test that reads a dataset file is marked ``@pytest.mark.needs_data("faces", ...)`` (or a
fixture calls :func:`require_data`). Where the files are not in the data folder
(``METANMF_DATA``, else ``data/``), it is skipped with a message naming each missing file and
how to get it; where ``METANMF_DATA`` is set (CI points it at a folder of the files), a missing
file fails the test instead, so that CI can never pass by skipping. No test downloads.
"""

import os

import pytest
from metanmf_lab._config import DATA_ENV
from metanmf_lab.data import datasets

#: Whether the data folder was named explicitly (captured before any test changes it).
ENV_SET = bool(os.environ.get(DATA_ENV, "").strip())


def require_data(*names):
    """Skip the calling test (fail it where ``METANMF_DATA`` is set) unless the files of the
    datasets ``names`` (keys of :data:`metanmf_lab.data.datasets.DATA_FILES`) are all here."""
    missing = datasets.missing_files(names)
    if not missing:
        return
    what = "; ".join(f"{f} (dataset {n}) is missing: {datasets.how_to_get(f)}"
                     for n, f in missing.items())
    if ENV_SET:
        pytest.fail(f"{DATA_ENV} is set, but {what}", pytrace=False)
    pytest.skip(what)


def pytest_runtest_setup(item):
    for mark in item.iter_markers("needs_data"):
        require_data(*mark.args)


@pytest.fixture(autouse=True)
def _close_figures():
    """Every test starts without open matplotlib figures and leaves none open (figures made
    by the plotting functions are kept by pyplot until closed)."""
    yield
    import sys

    if "matplotlib.pyplot" in sys.modules:
        sys.modules["matplotlib.pyplot"].close("all")
