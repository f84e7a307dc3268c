"""The result store: one tidy CSV row per evaluated cell, committed under ``data/results/``.

A row is identified by its *key* -- dataset, noise, model, rank, seed, protocol, the hash of
every other setting, and the algorithm version -- so a changed setting or a changed algorithm
makes a new cell and an old row is never silently reused. Rows are only ever added whole:
every write goes to a temporary file that then atomically replaces the store.

Every row carries its full settings (the ``settings`` column of :meth:`ResultStore.load`), but
the file keeps each settings text once: ``<store>.csv`` holds the rows without it and the
sidecar ``<store>.settings.json`` maps each ``settings_hash`` to its settings text, exactly as
the run recorded it. Likewise each row's ``environment`` (versions and BLAS kernels, a long
text common to every row run on one machine) is kept once, in ``<store>.environments.json``,
and the row names it ``env-`` plus the first 10 hex digits of its SHA-1. Every file is
committed; :meth:`ResultStore.load` joins them (and still reads an older store whose CSV holds
the texts themselves, or a mixture).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path

import pandas as pd

from ._config import RESULTS_DIR

#: Columns that identify a cell.
KEY = ("dataset", "noise", "model", "rank", "seed", "protocol", "settings_hash",
       "algorithm_version")

#: Every column of the store, in order. ``seconds`` and ``created_utc`` describe the run that
#: produced the row, not the result, and are left out of reproducibility comparisons.
COLUMNS = KEY + ("nmi", "recon_error", "n_iter", "train_iter", "task_size", "seconds", "package_version",
                 "environment", "settings", "created_utc")

#: How a row names an environment text kept in the sidecar ``<store>.environments.json``.
ENV_PREFIX = "env-"

#: Columns that depend on the machine and the moment, not on the computation.
RUN_COLUMNS = ("seconds", "created_utc")

DEFAULT_STORE = RESULTS_DIR / "results.csv"

_DTYPES = {"dataset": str, "model": str, "protocol": str, "settings_hash": str,
           "algorithm_version": str, "package_version": str, "environment": str,
           "settings": str, "created_utc": str}


def replace_atomically(path, write, suffix=""):
    """Replace ``path`` by what ``write(fh)`` writes to a text file handle: a temporary file in
    the same folder, renamed over ``path`` only when complete, so a reader sees the old file or
    the new one, never part of one. The new file is readable by all (0644), as a file written
    the ordinary way would be (``mkstemp`` makes its files private)."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}-", suffix=suffix)
    try:
        with os.fdopen(fd, "w", newline="") as fh:
            write(fh)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _restore_hint(path):
    """How to get a committed store file back, for error messages."""
    return f"restore it with `git checkout -- {path.name}` in {path.parent.name}/."


def key_of(row):
    """The key tuple of a row (a mapping), normalised for comparisons."""
    return (str(row["dataset"]), round(float(row["noise"]), 10), str(row["model"]),
            int(row["rank"]), int(row["seed"]), str(row["protocol"]), str(row["settings_hash"]),
            str(row["algorithm_version"]))


class ResultStore:
    """A CSV file of result rows with set-like access by key.

    Parameters
    ----------
    path : str or Path, default=``data/results/results.csv``
    """

    #: The columns identifying a row, every column in order, and how to read them.
    KEY, COLUMNS, DTYPES = KEY, COLUMNS, _DTYPES
    DEFAULT = DEFAULT_STORE
    SORT = KEY[:6]
    NAME = "result store"

    def __init__(self, path=None):
        self.path = Path(self.DEFAULT if path is None else path)

    def key_of(self, row):
        """The key tuple of a row (a mapping), normalised for comparisons."""
        return key_of(row)

    @property
    def settings_path(self):
        """The sidecar that keeps each settings text once: ``{settings_hash: settings}``."""
        return self.path.with_name(self.path.stem + ".settings.json")

    def load(self):
        """All rows as a DataFrame (empty, with the store's columns, if there is no file)."""
        if not self.path.exists():
            return pd.DataFrame(columns=list(self.COLUMNS))
        df = pd.read_csv(self.path, dtype=self.DTYPES, keep_default_na=False)
        if "settings" not in df.columns and "settings_hash" in df.columns:
            df["settings"] = self._settings_of(df["settings_hash"])
        if "environment" in df.columns:
            df["environment"] = self._environments_of(df["environment"])
        missing = set(self.COLUMNS) - set(df.columns)
        if missing:
            raise ValueError(f"{self.path} is not a {self.NAME}: missing columns "
                             f"{sorted(missing)}.")
        return df[list(self.COLUMNS)]

    def _read_settings(self):
        """The sidecar's ``{settings_hash: settings}`` (empty if there is none)."""
        if not self.settings_path.exists():
            return {}
        try:
            table = json.loads(self.settings_path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ValueError(f"{self.settings_path} is not a settings file of the {self.NAME} "
                             f"({exc}); " + _restore_hint(self.settings_path)) from exc
        if not isinstance(table, dict) or not all(isinstance(v, str) for v in table.values()):
            raise ValueError(f"{self.settings_path} is not a settings file of the {self.NAME}: "
                             "expected an object of settings texts by settings hash.")
        return table

    def _settings_of(self, hashes):
        """The settings text of each hash, from the sidecar; every hash must be there."""
        table = self._read_settings()
        absent = sorted(set(hashes) - set(table))
        if absent:
            raise ValueError(f"{self.settings_path} lacks the settings of {len(absent)} "
                             f"settings hash(es) of {self.path.name} (e.g. {absent[0]}); the two "
                             "files are written together: restore both from git.")
        return hashes.map(table)

    @property
    def environments_path(self):
        """The sidecar that keeps each environment text once: ``{env-<sha1>: environment}``."""
        return self.path.with_name(self.path.stem + ".environments.json")

    @staticmethod
    def environment_id(text):
        """The short name a row gives its environment text."""
        return ENV_PREFIX + hashlib.sha1(text.encode()).hexdigest()[:10]

    def _read_environments(self):
        path = self.environments_path
        if not path.exists():
            return {}
        try:
            table = json.loads(path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            table = exc
        if not isinstance(table, dict) or not all(
                isinstance(v, str) and self.environment_id(v) == k for k, v in table.items()):
            raise ValueError(f"{path} is not an environments file of the {self.NAME}; "
                             + _restore_hint(path))
        return table

    def _environments_of(self, values):
        """Each row's environment text: a name from the sidecar, or a text stored as is."""
        named = values.str.startswith(ENV_PREFIX)
        if not named.any():
            return values
        table = self._read_environments()
        absent = sorted(set(values[named]) - set(table))
        if absent:
            raise ValueError(f"{self.environments_path} lacks {len(absent)} environment(s) "
                             f"that rows of {self.path.name} name (e.g. {absent[0]}); the files "
                             "are written together: restore both from git.")
        return values.where(~named, values.map(table))

    def _write_environments(self, df):
        """The sidecar of the environment texts of ``df``; returns ``df`` naming them."""
        texts = df["environment"].astype(str)
        if texts.str.startswith(ENV_PREFIX).any():
            raise ValueError(f"An environment text of the {self.NAME} starts with "
                             f"{ENV_PREFIX!r}, which names a text in the sidecar.")
        ids = {t: self.environment_id(t) for t in texts.unique()}
        table = {i: t for t, i in sorted(ids.items(), key=lambda ti: ti[1])}
        text = json.dumps(table, indent=1) + "\n"
        replace_atomically(self.environments_path, lambda fh: fh.write(text), ".json")
        return df.assign(environment=texts.map(ids))

    def keys(self):
        """The set of keys already stored."""
        df = self.load()
        return {self.key_of(r) for r in df[list(self.KEY)].to_dict("records")}

    @contextmanager
    def _locked(self):
        """Exclusive lock for a read-modify-write (notebooks may fill the store in parallel)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path.parent / f".{self.path.name}.lock", "w") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def add(self, rows):
        """Add complete rows (mappings with every column); existing keys are not duplicated.

        Safe against concurrent writers (an exclusive file lock). Returns the number of rows
        actually added.
        """
        rows = [dict(r) for r in rows]
        for r in rows:
            absent = set(self.COLUMNS) - set(r)
            if absent:
                raise ValueError(f"Incomplete result row, missing {sorted(absent)}: {r}")
        with self._locked():
            return self._add(rows)

    def _add(self, rows):
        old = self.load()
        seen = {self.key_of(r) for r in old[list(self.KEY)].to_dict("records")}
        new = []
        for r in rows:
            k = self.key_of(r)
            if k not in seen:
                seen.add(k)
                new.append({c: r[c] for c in self.COLUMNS})
        if not new:
            return 0
        df = pd.concat([old, pd.DataFrame(new, columns=list(self.COLUMNS))],
                       ignore_index=True)
        self._write(df)
        return len(new)

    def _write(self, df):
        """Replace the store with ``df`` (every column): the settings texts into their
        sidecar, once per hash, the environment texts into theirs, then the rows without
        them, each file atomically. A sidecar that is new and a CSV that is not yet is
        harmless (an unused entry); never the reverse."""
        df = df.sort_values(list(self.SORT), kind="stable").reset_index(drop=True)
        self._write_settings(df)
        df = self._write_environments(df)
        rows = df[[c for c in self.COLUMNS if c != "settings"]]
        replace_atomically(self.path, lambda fh: rows.to_csv(fh, index=False), ".csv")  # floats
        # as repr: exact round trip

    def _write_settings(self, df):
        """The sidecar of settings texts for the rows ``df``, one per settings hash."""
        table = {}
        for h, s in zip(df["settings_hash"].astype(str), df["settings"].astype(str)):
            if table.setdefault(h, s) != s:
                raise ValueError(f"Two different settings for settings hash {h} in the "
                                 f"{self.NAME}; a hash must identify its settings.")
        text = json.dumps(dict(sorted(table.items())), indent=1) + "\n"
        replace_atomically(self.settings_path, lambda fh: fh.write(text), ".json")

    def compact(self):
        """Rewrite a store whose CSV still holds the ``settings`` column in the sidecar form
        (the rows, their order and every value unchanged). Returns the number of rows."""
        with self._locked():
            df = self.load()
            if len(df):
                self._write(df)
            return len(df)


#: Columns that identify a basis measurement: the cell's key, the other seed of a measure of
#: two bases (-1 for a measure of one basis) and the measure's name.
MEASURE_KEY = KEY + ("other_seed", "measure")

#: Every column of the basis-measure store.
MEASURE_COLUMNS = MEASURE_KEY + ("value", "package_version", "environment", "settings",
                                 "created_utc")

DEFAULT_MEASURE_STORE = RESULTS_DIR / "basis_measures.csv"


class MeasureStore(ResultStore):
    """Scalar measurements of learned bases (one CSV row each), keyed like the result store.

    The bases themselves are derived from the datasets and are never committed; what is kept is
    a number per basis (e.g. its Hoyer sparsity) or per pair of bases learned from two seeds
    (their subspace distance, ``other_seed`` < ``seed``), with the same provenance columns as
    the result store. See :func:`metanmf_lab.analysis.basis_measures`.
    """

    KEY, COLUMNS = MEASURE_KEY, MEASURE_COLUMNS
    DTYPES = dict(_DTYPES, measure=str)
    DEFAULT = DEFAULT_MEASURE_STORE
    SORT = KEY[:6] + ("other_seed", "measure")
    NAME = "basis-measure store"

    def key_of(self, row):
        return key_of(row) + (int(row["other_seed"]), str(row["measure"]))


#: Columns identifying a row of the MovieLens experiment of the meta-learned priors.
ML100K_KEY = ("split", "method", "n_steps", "settings_hash", "algorithm_version")

ML100K_COLUMNS = ML100K_KEY + ("mse", "n_matrices", "detail", "seconds", "package_version",
                               "environment", "settings", "created_utc")

DEFAULT_ML100K_STORE = RESULTS_DIR / "metaprior_ml100k.csv"


class ML100KStore(ResultStore):
    """Test errors of the MovieLens 100K experiment (:func:`metanmf_lab.metaprior.run_ml100k`):
    one row per (split, method, number of unrolled steps at test), with provenance."""

    KEY, COLUMNS = ML100K_KEY, ML100K_COLUMNS
    DTYPES = dict(_DTYPES, method=str, detail=str)
    DEFAULT = DEFAULT_ML100K_STORE
    SORT = ("split", "method", "n_steps")
    NAME = "MovieLens result store"

    def key_of(self, row):
        return (int(row["split"]), str(row["method"]), int(row["n_steps"]),
                str(row["settings_hash"]), str(row["algorithm_version"]))


#: Columns identifying a row of the NMF-version experiment of the meta-learned priors.
NMF_PRIOR_KEY = ("dataset", "rank", "seed", "init", "n_iter", "settings_hash",
                 "algorithm_version")

NMF_PRIOR_COLUMNS = NMF_PRIOR_KEY + ("recon_error", "nmi", "seconds", "package_version",
                                     "environment", "settings", "created_utc")

DEFAULT_NMF_PRIOR_STORE = RESULTS_DIR / "metaprior_nmf.csv"


class NMFPriorStore(ResultStore):
    """Results of the NMF version of the meta-learned priors
    (:func:`metanmf_lab.metaprior.run_nmf_prior`): one row per (dataset, rank, seed, start,
    number of MU iterations), with provenance."""

    KEY, COLUMNS = NMF_PRIOR_KEY, NMF_PRIOR_COLUMNS
    DTYPES = dict(_DTYPES, init=str)
    DEFAULT = DEFAULT_NMF_PRIOR_STORE
    SORT = ("dataset", "rank", "seed", "init", "n_iter")
    NAME = "NMF-prior result store"

    def key_of(self, row):
        return (str(row["dataset"]), int(row["rank"]), int(row["seed"]), str(row["init"]),
                int(row["n_iter"]), str(row["settings_hash"]), str(row["algorithm_version"]))


#: Columns identifying a row of the MLAM experiments.
MLAM_KEY = ("experiment", "setting", "seed", "method", "problem", "measure", "t",
            "settings_hash", "algorithm_version")

MLAM_COLUMNS = MLAM_KEY + ("value", "package_version", "environment", "settings",
                           "created_utc")

DEFAULT_MLAM_STORE = RESULTS_DIR / "mlam.csv"


class MLAMStore(ResultStore):
    """Results of the MLAM experiments (:func:`metanmf_lab.mlam.run_mlam`): one row per
    (experiment setting, seed, method, test problem, measure, outer iteration or number of
    updates), with provenance."""

    KEY, COLUMNS = MLAM_KEY, MLAM_COLUMNS
    DTYPES = dict(_DTYPES, experiment=str, setting=str, method=str, measure=str)
    DEFAULT = DEFAULT_MLAM_STORE
    SORT = ("experiment", "setting", "seed", "method", "measure", "problem", "t")
    NAME = "MLAM result store"

    #: Columns that are the same on every row of one computed cell (one experiment setting
    #: and seed, run once): the file keeps them once per cell, in the sidecar
    #: ``<store>.cells.csv``, and each row names its cell by a number. The first five
    #: identify the cell; the rest is its provenance.
    CELL = ("experiment", "setting", "seed", "settings_hash", "algorithm_version",
            "package_version", "environment", "created_utc")
    CELL_KEY = CELL[:5]

    @property
    def cells_path(self):
        """The sidecar with one row per computed cell: ``cell`` and the :attr:`CELL` columns."""
        return self.path.with_name(self.path.stem + ".cells.csv")

    def load(self):
        """All rows, each joined with its cell's columns and its settings text (an older
        store whose CSV holds every column on every row is read as it is)."""
        if not self.path.exists() or "cell" not in pd.read_csv(self.path, nrows=0).columns:
            return super().load()
        rows = pd.read_csv(self.path, dtype=self.DTYPES, keep_default_na=False)
        cells = self._read_cells()
        absent = sorted(set(rows["cell"]) - set(cells["cell"]))
        if absent:
            raise ValueError(f"{self.cells_path} lacks {len(absent)} cell(s) that rows of "
                             f"{self.path.name} name (e.g. cell {absent[0]}); the files are "
                             "written together: restore both from git.")
        df = rows.merge(cells, on="cell", how="left", validate="many_to_one", sort=False)
        df["settings"] = self._settings_of(df["settings_hash"])
        return df[list(self.COLUMNS)]

    def _read_cells(self):
        """The cells sidecar (empty, with its columns, if there is none)."""
        columns = ["cell", *self.CELL]
        if not self.cells_path.exists():
            return pd.DataFrame({c: pd.Series(dtype=int if c in ("cell", "seed") else str)
                                 for c in columns})
        try:
            cells = pd.read_csv(self.cells_path, dtype=self.DTYPES, keep_default_na=False)
        except (pd.errors.ParserError, UnicodeDecodeError) as exc:
            cells = exc
        if isinstance(cells, Exception) or set(columns) - set(cells.columns) \
                or cells["cell"].duplicated().any():
            raise ValueError(f"{self.cells_path} is not the cells file of the {self.NAME}; "
                             + _restore_hint(self.cells_path))
        return cells[columns]

    def _write(self, df):
        """Replace the store with ``df``: the settings texts into their sidecar, each cell's
        columns once into the cells sidecar (a stored cell keeps its number; a new one gets
        the next), then the rows with their cell's number, each file atomically and in that
        order, so a row never names a cell or settings that are not written yet."""
        df = df.sort_values(list(self.SORT), kind="stable").reset_index(drop=True)
        key, cell_cols = list(self.CELL_KEY), list(self.CELL)
        cells = df[cell_cols].astype(str).drop_duplicates()
        clash = cells[cells.duplicated(key, keep=False)]
        if len(clash):
            raise ValueError(f"Rows of one cell of the {self.NAME} disagree on "
                             f"{[c for c in self.CELL if c not in key]}: "
                             f"{clash.iloc[0][key].to_dict()}; a cell is computed whole, once.")
        old = self._read_cells().astype({c: str for c in cell_cols})
        numbers = dict(zip(map(tuple, old[key].to_numpy()), old["cell"].astype(int)))
        nxt = max(numbers.values(), default=-1) + 1
        for k in map(tuple, cells[key].to_numpy()):
            if k not in numbers:
                numbers[k], nxt = nxt, nxt + 1
        cells.insert(0, "cell", [numbers[k] for k in map(tuple, cells[key].to_numpy())])
        cells = cells.sort_values("cell").reset_index(drop=True)
        self._write_settings(df)
        replace_atomically(self.cells_path, lambda fh: cells.to_csv(fh, index=False), ".csv")
        df = df.assign(cell=[numbers[k] for k in map(tuple, df[key].astype(str).to_numpy())])
        rows = df[["cell"] + [c for c in self.COLUMNS if c not in self.CELL and c != "settings"]]
        replace_atomically(self.path, lambda fh: rows.to_csv(fh, index=False), ".csv")

    def key_of(self, row):
        return (str(row["experiment"]), str(row["setting"]), int(row["seed"]),
                str(row["method"]), int(row["problem"]), str(row["measure"]), int(row["t"]),
                str(row["settings_hash"]), str(row["algorithm_version"]))
