"""Project-wide settings that stand alone: where data lives, fixed protocol constants.

The data directory is the one named by the ``METANMF_DATA`` environment variable if it is set,
otherwise the ``data/`` folder at the root of the project (beside this package). Downloads, for
users with internet access, are cached there.
"""

from __future__ import annotations

import os
from pathlib import Path

__version__ = "0.1.0"

#: Root of the project checkout (the folder holding ``metanmf_lab/``, ``data/``, ``book/``).
PROJECT_ROOT = Path(__file__).resolve().parent.parent

#: Environment variable that points at the folder holding the dataset files.
DATA_ENV = "METANMF_DATA"

#: Where the tidy result store lives (committed to the repository).
RESULTS_DIR = PROJECT_ROOT / "data" / "results"

#: Version of the numerical algorithms. Bump it whenever a change to a solver, an
#: initialisation, Meta-NMF, a dataset's preprocessing or the evaluation can change a stored
#: number: the result store keys every row by it, so old rows are never silently reused.
ALGORITHM_VERSION = "2"  # 2: GNMF bases are no longer rescaled between epochs


def data_dir() -> Path:
    """Return the dataset directory: ``$METANMF_DATA`` if set, else ``<project>/data``."""
    env = os.environ.get(DATA_ENV, "").strip()
    return Path(env).expanduser().resolve() if env else PROJECT_ROOT / "data"
