"""The result store: one tidy CSV row per evaluated cell, committed under ``data/results/``.

A row is identified by its *key* -- dataset, noise, model, rank, seed, protocol, the hash of
every other setting, and the algorithm version -- so a changed setting or a changed algorithm
makes a new cell and an old row is never silently reused. Rows are only ever added whole:
every write goes to a temporary file that then atomically replaces the store. Each row also
names its *effective protocol* (``effective_protocol``, after ``protocol``): the preset with
every departure the settings make, e.g. ``thesis+transfer=running_sum``
(:meth:`metanmf_lab.grid.Settings.protocol`).

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

import argparse
import csv
import fcntl
import hashlib
import io
import json
import math
import os
import re
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path

import pandas as pd

from .._config import PROJECT_ROOT, RESULTS_DIR


class StoreError(ValueError):
    """A store file that cannot be used as it is: damaged, of another kind, or not writable.

    The message names the file, the damaged line(s) and how to repair it.
    """

#: Columns that identify a cell.
KEY = ("dataset", "noise", "model", "rank", "seed", "protocol", "settings_hash",
       "algorithm_version")


def _with_effective_protocol(columns):
    """``columns`` with ``effective_protocol`` after ``protocol``: the name of the protocol the
    row was computed under (``Settings.protocol(protocol).name``, e.g.
    ``thesis+transfer=running_sum``), which the settings hash alone does not show. It is not
    part of the key: the preset and the settings hash determine it."""
    i = columns.index("protocol") + 1
    return columns[:i] + ("effective_protocol",) + columns[i:]


#: Every column of the store, in order. ``seconds`` and ``created_utc`` describe the run that
#: produced the row, not the result, and are left out of reproducibility comparisons.
COLUMNS = _with_effective_protocol(KEY + (
    "nmi", "recon_error", "n_iter", "train_iter", "task_size", "seconds", "package_version",
    "environment", "settings", "created_utc"))

#: How a row names an environment text kept in the sidecar ``<store>.environments.json``.
ENV_PREFIX = "env-"

#: Columns that depend on the machine and the moment, not on the computation.
RUN_COLUMNS = ("seconds", "created_utc")

DEFAULT_STORE = RESULTS_DIR / "results.csv"

_DTYPES = {"dataset": str, "model": str, "protocol": str, "effective_protocol": str,
           "settings_hash": str, "algorithm_version": str, "package_version": str,
           "environment": str, "settings": str, "created_utc": str}


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


def shown_path(path):
    """``path`` as a message shows it: relative to the current folder or to the project when
    it lies inside them, never the machine's absolute path to the checkout."""
    path = Path(path)
    if not path.is_absolute():
        return str(path)
    for base in (Path.cwd(), PROJECT_ROOT):
        try:
            return str(path.resolve().relative_to(base.resolve()))
        except ValueError:
            pass
    return str(path)


def _restore_hint(path):
    """How to get a committed store file back, for error messages."""
    return f"restore it with `git checkout -- {path.name}` in {path.parent.name}/."


def settings_hash(settings_text, version, tag="algorithm"):
    """The hash that names a settings text in a store: the first 12 hex digits of the SHA-256
    of ``"<settings>|<tag>=<version>"`` (the recipe of every experiment's ``Settings.hash``)."""
    return hashlib.sha256(f"{settings_text}|{tag}={version}".encode()).hexdigest()[:12]


ENV_PREFIX_RE = "env-"

# -- what a valid value of each column looks like ---------------------------------------------
_INT = re.compile(r"-?[0-9]+\Z")
_HASH = re.compile(r"[0-9a-f]{12}\Z")
_ENV = re.compile(ENV_PREFIX_RE + r"[0-9a-f]{10}\Z")
_UTC = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z\Z")


def _check_int(low):
    def check(v):
        if not _INT.match(v):
            return "is not an integer"
        if low is not None and int(v) < low:
            return f"is below {low}"
    return check


def _check_float(low=None, high=None):
    def check(v):
        try:
            x = float(v)
        except ValueError:
            return "is not a number"
        if not math.isfinite(x):
            return "is not a finite number"
        if (low is not None and x < low) or (high is not None and x > high):
            return f"lies outside [{low}, {high}]"
    return check


def _check_text(v):
    if not v.strip():
        return "is empty"


def _check_utc(v):
    if not _UTC.match(v):
        return "is not a UTC time like 2026-01-31T12:00:00Z (cut short?)"


def _check_optional_count(v):
    if v != "" and (not _INT.match(v) or int(v) < 1):
        return "is neither empty nor a positive integer"


def _check_any(v):
    return None


TEXT, ANY, UTC = _check_text, _check_any, _check_utc
COUNT, INDEX, POSITIVE = _check_int(0), _check_int(None), _check_int(1)
NUMBER, NONNEG, FRACTION = _check_float(), _check_float(0), _check_float(0, 1)

#: How each column of the result store is checked on load (and on add).
_CHECKS = {"dataset": TEXT, "noise": NONNEG, "model": TEXT, "rank": POSITIVE, "seed": COUNT,
           "protocol": TEXT, "effective_protocol": TEXT, "settings_hash": TEXT,
           "algorithm_version": TEXT, "nmi": FRACTION, "recon_error": NONNEG, "n_iter": COUNT,
           "train_iter": COUNT, "task_size": _check_optional_count, "seconds": NONNEG,
           "package_version": TEXT, "environment": TEXT, "settings": TEXT, "created_utc": UTC}

#: How many damaged lines an error message lists.
_SHOWN_PROBLEMS = 5


def _writable(path):
    """Whether ``path`` may be written: the process may, and its mode says it is meant to be
    (a file or folder made read-only is respected even by a process that could override it)."""
    return bool(os.access(path, os.W_OK) and path.stat().st_mode & 0o222)


def _short(value, width=40):
    text = repr(value)
    return text if len(text) <= width else text[:width - 4] + "...'"


def _as_text(value):
    """A value as the CSV will hold it."""
    if isinstance(value, float) or type(value).__name__.startswith("float"):
        return repr(float(value))
    return "" if value is None else str(value)


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
    #: How each column's text is checked (``None``: fine; otherwise what is wrong).
    CHECKS = _CHECKS
    #: The tag of the settings-hash recipe (:func:`settings_hash`) of this store's runs.
    HASH_TAG = "algorithm"

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
        """All rows as a DataFrame (empty, with the store's columns, if there is no file).

        Every line is checked first (:meth:`problems`): a store with a damaged line -- cut
        short, a value of the wrong type or not finite, a settings hash or environment its
        sidecar does not know, a key stored twice -- is refused with a :class:`StoreError`
        naming the file, the lines and how to repair it, never read in part.
        """
        if not self.path.exists():
            return pd.DataFrame(columns=list(self.COLUMNS))
        text, header, records = self._parse(self.path)
        self._refuse(self._problems(header, records))
        df = pd.read_csv(io.StringIO(text), dtype=self.DTYPES, keep_default_na=False)
        if "settings" not in df.columns and "settings_hash" in df.columns:
            df["settings"] = self._settings_of(df["settings_hash"])
        if "environment" in df.columns:
            df["environment"] = self._environments_of(df["environment"])
        return df[list(self.COLUMNS)]

    # -- checking ------------------------------------------------------------------------
    def _repair_hint(self):
        where = shown_path(self.path)
        return (f"To repair it, drop the damaged rows with `python -m metanmf_lab.grid.store "
                f"repair {where}` (the next run recomputes them), or restore the committed file "
                f"with `git checkout -- {where}`.")

    def _parse(self, path, columns=None, kind=None):
        """The text, header and ``(line number, fields)`` records of a CSV file of the store,
        or a :class:`StoreError` if it is not a CSV text file with the store's columns."""
        columns = self.COLUMNS if columns is None else columns
        kind = f"a {self.NAME}" if kind is None else kind
        where = shown_path(path)
        try:
            raw = Path(path).read_bytes()
        except OSError as exc:
            raise StoreError(f"{where} cannot be read ({exc.strerror}).") from None
        if not raw.strip():
            raise StoreError(f"{where} is empty, not {kind} (it has no header line); "
                             f"delete it to start an empty store, or restore the committed "
                             f"file with `git checkout -- {where}`.")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            line = raw[:exc.start].count(b"\n") + 1
            raise StoreError(f"{where}, line {line}: not text (byte {exc.start} is not UTF-8), "
                             f"so not {kind}; restore the committed file with "
                             f"`git checkout -- {where}`.") from None
        if "\0" in text:
            line = text[:text.index("\0")].count("\n") + 1
            raise StoreError(f"{where}, line {line}: a NUL byte, so not {kind}; "
                             f"restore the committed file with `git checkout -- {where}`.")
        reader = csv.reader(io.StringIO(text, newline=""))
        try:
            header = next(reader)
            records = [(reader.line_num, fields) for fields in reader if fields]
        except csv.Error as exc:
            raise StoreError(f"{where}, line {reader.line_num}: not CSV ({exc}); "
                             + self._repair_hint()) from None
        required = set(columns) - {"settings", "environment"}
        missing = required - set(header)
        if missing:
            raise StoreError(f"{where} is not {kind}: its header line lacks the "
                             f"columns {sorted(missing)}; restore the committed file with "
                             f"`git checkout -- {where}`.")
        return text, header, records

    def _problems(self, header, records, key=None):
        """``[(line, what is wrong)]`` for the records of the store's CSV (see :meth:`load`);
        ``key(row)`` identifies a record (default: the store's key)."""
        key = self._record_key if key is None else key
        checks = [(i, c, self.CHECKS.get(c, _check_any)) for i, c in enumerate(header)]
        settings = None if "settings" in header else self._read_settings()
        environments = None
        width, problems, first_line = len(header), [], {}
        unknown_settings, unknown_envs = set(), set()
        for line, fields in records:
            if len(fields) != width:
                problems.append((line, f"{len(fields)} fields instead of {width} (cut short?)"))
                continue
            bad = next(((c, f[i], why) for i, c, check in checks
                        for f in (fields,) if (why := check(f[i]))), None)
            if bad:
                c, v, why = bad
                problems.append((line, f"{c} {_short(v)} {why}"))
                continue
            row = dict(zip(header, fields))
            h = row["settings_hash"]
            if not _HASH.match(h):
                problems.append((line, f"settings_hash {_short(h)} is not 12 hex digits"))
                continue
            text = row["settings"] if settings is None else settings.get(h)
            if text is None:  # a sound name the sidecar lacks: the sidecar is at fault
                unknown_settings.add(h)
                continue
            if self.HASH_TAG and settings_hash(text, row["algorithm_version"],
                                               self.HASH_TAG) != h:
                problems.append((line, f"settings_hash {h!r} is not the hash of its settings "
                                       f"(version {row['algorithm_version']})"))
                continue
            env = row.get("environment", "")
            if env.startswith(ENV_PREFIX):
                if not _ENV.match(env):
                    problems.append((line, f"environment {_short(env)} is not a sound name"))
                    continue
                if environments is None:
                    environments = self._read_environments()
                if env not in environments:
                    unknown_envs.add(env)
                    continue
            k = key(row)
            if k in first_line:
                problems.append((line, f"the same key as line {first_line[k]} (a duplicate)"))
                continue
            first_line[k] = line
        if unknown_settings:
            some = sorted(unknown_settings)
            raise StoreError(f"{shown_path(self.settings_path)} lacks the settings of "
                             f"{len(some)} settings hash(es) of {self.path.name} (e.g. "
                             f"{some[0]}); the two files are written together: restore both "
                             "from git.")
        if unknown_envs:
            some = sorted(unknown_envs)
            raise StoreError(f"{shown_path(self.environments_path)} lacks {len(some)} "
                             f"environment(s) that rows of {self.path.name} name (e.g. "
                             f"{some[0]}); the files are written together: restore both from "
                             "git.")
        return problems

    def _record_key(self, row):
        return self.key_of(row)

    def _refuse(self, problems, path=None):
        if not problems:
            return
        where = shown_path(self.path if path is None else path)
        listed = "; ".join(f"line {n}: {why}" for n, why in problems[:_SHOWN_PROBLEMS])
        more = (f" (and {len(problems) - _SHOWN_PROBLEMS} more)"
                if len(problems) > _SHOWN_PROBLEMS else "")
        noun = "a damaged line" if len(problems) == 1 else f"{len(problems)} damaged lines"
        raise StoreError(f"{where} has {noun}, so it is not read: {listed}{more}. "
                         + self._repair_hint())

    def problems(self):
        """``[(line, what is wrong)]`` for every damaged line of the store (empty if sound).
        A file that is not a store at all raises :class:`StoreError`."""
        if not self.path.exists():
            return []
        _, header, records = self._parse(self.path)
        return self._problems(header, records)

    def repair(self):
        """Drop the damaged lines of the store (see :meth:`load`) and rewrite it; return
        their line numbers. The dropped cells are missing afterwards, so the next run
        recomputes them. Of two lines with the same key the first is kept. A store that is
        not a CSV text with the store's columns, or a damaged sidecar, cannot be repaired by
        dropping rows: restore those from git."""
        with self._locked():
            if not self.path.exists():
                return []
            text, header, records = self._parse(self.path, self._file_columns())
            bad = self._damaged_lines(header, records)
            if not bad:
                return []
            self._write_lines(self.path, header, [f for n, f in records if n not in bad])
            return sorted(bad)

    @staticmethod
    def _write_lines(path, header, records):
        """Replace a CSV file of the store by ``header`` and ``records`` (lists of fields,
        written back as they were read: the kept rows are unchanged to the byte)."""
        def write(fh):
            csv.writer(fh, lineterminator="\n").writerows([header, *records])
        replace_atomically(path, write, ".csv")

    #: Columns of the unit a run computes whole (several rows), if a row is not one: a unit
    #: that lost a row to :meth:`repair` is dropped whole, so the next run recomputes it.
    UNIT = None
    #: Columns of the units that hold the same number of rows (the unit's columns but its
    #: replicate): a unit with fewer rows than its peers lost some.
    PEERS = None

    def _file_columns(self):
        """The columns the store's CSV must have."""
        return self.COLUMNS

    def _damaged_lines(self, header, records):
        bad = {n for n, _ in self._problems(header, records)}
        if not self.UNIT or not bad:
            return bad
        at = [header.index(c) for c in self.UNIT]
        peers = [header.index(c) for c in self.PEERS]
        units = [self._trusted(header, f, at) for n, f in records if n in bad]
        drop = bad | {n for n, f in records
                      if any(all(i < len(f) and f[i] == v for i, v in u.items())
                             for u in units)}
        joined = any(len(f) != len(header) for n, f in records if n in bad)
        if joined:  # a cut line may have swallowed the start of the next: find what it lost
            good = [f for n, f in records if n not in drop]
            drop |= {n for n, f in records
                     if n not in drop and self._short_unit(f, good, at, peers)}
        return drop

    def _trusted(self, header, fields, at):
        """The fields at ``at`` of a damaged line that can be trusted: whole (not the last
        field of a line cut short) and sound."""
        whole = len(fields) if len(fields) == len(header) else len(fields) - 1
        return {i: fields[i] for i in at if i < whole
                and not self.CHECKS.get(header[i], _check_any)(fields[i])
                and (header[i] != "settings_hash" or _HASH.match(fields[i]))}

    @staticmethod
    def _short_unit(fields, good, at, peers):
        """Whether the unit of ``fields`` holds fewer rows among ``good`` than its peers."""
        counts = {}
        for f in good:
            u = tuple(f[i] for i in at)
            counts[u] = counts.get(u, 0) + 1
        most = {}
        for u, n in counts.items():
            p = tuple(u[at.index(i)] for i in peers)
            most[p] = max(most.get(p, 0), n)
        u = tuple(fields[i] for i in at)
        return counts.get(u, 0) < most[tuple(u[at.index(i)] for i in peers)]

    def check_writable(self):
        """Raise :class:`StoreError` unless the store (its CSV, sidecars and lock file) can be
        written: called before computing anything that will be added to it."""
        where = shown_path(self.path)
        if self.path.is_dir():
            raise StoreError(f"{where} is a folder, not a {self.NAME} file.")
        folder = self.path.parent
        existing = folder
        while not existing.exists() and existing != existing.parent:
            existing = existing.parent
        if not existing.is_dir():
            raise StoreError(f"cannot write the {self.NAME} {where}: "
                             f"{shown_path(existing)} is a file, not a folder.")
        if not _writable(existing):
            raise StoreError(f"cannot write the {self.NAME} {where}: the folder "
                             f"{shown_path(existing)} is read-only; choose another store "
                             "(e.g. --store) or make the folder writable.")
        for p in (self.path, self.settings_path, self.environments_path,
                  *self._other_files()):
            if p.exists() and not _writable(p):
                raise StoreError(f"cannot write the {self.NAME} {where}: {shown_path(p)} is "
                                 "read-only; choose another store (e.g. --store) or make it "
                                 "writable.")
        if existing == folder:  # what the permissions do not show (a read-only file system)
            try:
                with open(folder / f".{self.path.name}.lock", "a"):
                    pass
            except OSError as exc:
                raise StoreError(f"cannot write the {self.NAME} {where}: {exc.strerror}."
                                 ) from None

    def _other_files(self):
        return ()

    def _read_settings(self):
        """The sidecar's ``{settings_hash: settings}`` (empty if there is none)."""
        if not self.settings_path.exists():
            return {}
        try:
            table = json.loads(self.settings_path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise StoreError(f"{shown_path(self.settings_path)} is not a settings file of the "
                             f"{self.NAME} ({exc}); "
                             + _restore_hint(self.settings_path)) from None
        if not isinstance(table, dict) or not all(isinstance(v, str) for v in table.values()):
            raise StoreError(f"{shown_path(self.settings_path)} is not a settings file of the "
                             f"{self.NAME}: expected an object of settings texts by settings "
                             "hash; " + _restore_hint(self.settings_path))
        return table

    def _settings_of(self, hashes):
        """The settings text of each hash, from the sidecar; every hash must be there."""
        table = self._read_settings()
        absent = sorted(set(hashes) - set(table))
        if absent:
            raise StoreError(f"{shown_path(self.settings_path)} lacks the settings of "
                             f"{len(absent)} settings hash(es) of {self.path.name} (e.g. "
                             f"{absent[0]}); the two files are written together: restore both "
                             "from git.")
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
            raise StoreError(f"{shown_path(path)} is not an environments file of the "
                             f"{self.NAME}; " + _restore_hint(path))
        return table

    def _environments_of(self, values):
        """Each row's environment text: a name from the sidecar, or a text stored as is."""
        named = values.str.startswith(ENV_PREFIX)
        if not named.any():
            return values
        table = self._read_environments()
        absent = sorted(set(values[named]) - set(table))
        if absent:
            raise StoreError(f"{shown_path(self.environments_path)} lacks {len(absent)} "
                             f"environment(s) "
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
            for c in self.COLUMNS:
                why = self.CHECKS.get(c, _check_any)(_as_text(r[c]))
                if why:
                    raise ValueError(f"A row for the {self.NAME} {shown_path(self.path)} "
                                     f"has {c} {_short(r[c])}, which {why}; nothing was "
                                     f"written. Row: { {k: r[k] for k in self.KEY} }")
            if self.HASH_TAG and settings_hash(str(r["settings"]), str(r["algorithm_version"]),
                                               self.HASH_TAG) != str(r["settings_hash"]):
                raise ValueError(f"A row for the {self.NAME} {shown_path(self.path)} has "
                                 f"settings_hash {r['settings_hash']!r}, which is not the hash "
                                 f"of its settings (recipe: "
                                 f"metanmf_lab.grid.store.settings_hash); nothing was written. "
                                 f"Row: { {k: r[k] for k in self.KEY} }")
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
MEASURE_COLUMNS = _with_effective_protocol(MEASURE_KEY + (
    "value", "package_version", "environment", "settings", "created_utc"))

DEFAULT_MEASURE_STORE = RESULTS_DIR / "basis_measures.csv"


class MeasureStore(ResultStore):
    """Scalar measurements of learned bases (one CSV row each), keyed like the result store.

    The bases themselves are derived from the datasets and are never committed; what is kept is
    a number per basis (e.g. its Hoyer sparsity) or per pair of bases learned from two seeds
    (their subspace distance, ``other_seed`` < ``seed``), with the same provenance columns as
    the result store. See :func:`metanmf_lab.grid.analysis.basis_measures`.
    """

    KEY, COLUMNS = MEASURE_KEY, MEASURE_COLUMNS
    DTYPES = dict(_DTYPES, measure=str)
    DEFAULT = DEFAULT_MEASURE_STORE
    SORT = KEY[:6] + ("other_seed", "measure")
    NAME = "basis-measure store"
    CHECKS = dict(_CHECKS, other_seed=_check_int(-1), measure=TEXT, value=NUMBER)

    def key_of(self, row):
        return key_of(row) + (int(row["other_seed"]), str(row["measure"]))


#: Columns identifying a row of the MovieLens experiment of the meta-learned priors.
ML100K_KEY = ("split", "method", "n_steps", "settings_hash", "algorithm_version")

ML100K_COLUMNS = ML100K_KEY + ("mse", "n_matrices", "detail", "seconds", "package_version",
                               "environment", "settings", "created_utc")

DEFAULT_ML100K_STORE = RESULTS_DIR / "metaprior_ml100k.csv"


class ML100KStore(ResultStore):
    """Test errors of the MovieLens 100K experiment
    (:func:`metanmf_lab.related.metaprior.run_ml100k`): one row per (split, method, number of
    unrolled steps at test), with provenance."""

    KEY, COLUMNS = ML100K_KEY, ML100K_COLUMNS
    DTYPES = dict(_DTYPES, method=str, detail=str)
    DEFAULT = DEFAULT_ML100K_STORE
    SORT = ("split", "method", "n_steps")
    NAME = "MovieLens result store"
    CHECKS = dict(_CHECKS, split=COUNT, method=TEXT, n_steps=_check_int(-1), mse=NONNEG,
                  n_matrices=COUNT, detail=ANY)
    HASH_TAG = "metaprior"
    UNIT = ("split", "settings_hash", "algorithm_version")
    PEERS = ("settings_hash", "algorithm_version")

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
    (:func:`metanmf_lab.related.metaprior.run_nmf_prior`): one row per (dataset, rank, seed, start,
    number of MU iterations), with provenance."""

    KEY, COLUMNS = NMF_PRIOR_KEY, NMF_PRIOR_COLUMNS
    DTYPES = dict(_DTYPES, init=str)
    DEFAULT = DEFAULT_NMF_PRIOR_STORE
    SORT = ("dataset", "rank", "seed", "init", "n_iter")
    NAME = "NMF-prior result store"
    CHECKS = dict(_CHECKS, init=TEXT, n_iter=COUNT)
    HASH_TAG = "metaprior"
    UNIT = ("dataset", "rank", "seed", "settings_hash", "algorithm_version")
    PEERS = ("settings_hash", "algorithm_version")

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
    """Results of the MLAM experiments (:func:`metanmf_lab.related.mlam.run_mlam`): one row per
    (experiment setting, seed, method, test problem, measure, outer iteration or number of
    updates), with provenance."""

    KEY, COLUMNS = MLAM_KEY, MLAM_COLUMNS
    DTYPES = dict(_DTYPES, experiment=str, setting=str, method=str, measure=str)
    DEFAULT = DEFAULT_MLAM_STORE
    SORT = ("experiment", "setting", "seed", "method", "measure", "problem", "t")
    NAME = "MLAM result store"
    CHECKS = dict(_CHECKS, cell=COUNT, experiment=TEXT, setting=TEXT, method=TEXT,
                  problem=INDEX, measure=TEXT, t=INDEX, value=NUMBER)
    HASH_TAG = "mlam"

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

    def _file_columns(self):
        return self._row_columns() if self.path.exists() and self._cell_form() \
            else self.COLUMNS

    def _row_columns(self):
        return ("cell",) + tuple(c for c in self.COLUMNS if c not in self.CELL
                                 and c != "settings")

    def _cell_form(self):
        """Whether the store's CSV names cells (the current form) rather than holding every
        column on every row (an older form, read as a plain store)."""
        with open(self.path, "rb") as fh:
            first = fh.readline()
        return b"cell" in first.split(b"\n")[0].split(b",")

    def load(self):
        """All rows, each joined with its cell's columns and its settings text (an older
        store whose CSV holds every column on every row is read as it is). Both files are
        checked line by line first, as :meth:`ResultStore.load` does."""
        if not self.path.exists() or not self._cell_form():
            return super().load()
        text, header, records = self._parse(self.path, self._row_columns())
        cells = self._checked_cells()
        self._refuse(self._row_problems(header, records, cells))
        rows = pd.read_csv(io.StringIO(text), dtype=self.DTYPES, keep_default_na=False)
        cells = self._read_cells()
        df = rows.merge(cells, on="cell", how="left", validate="many_to_one", sort=False)
        df["settings"] = self._settings_of(df["settings_hash"])
        return df[list(self.COLUMNS)]

    def problems(self):
        if not self.path.exists() or not self._cell_form():
            return super().problems()
        _, header, records = self._parse(self.path, self._row_columns())
        return self._row_problems(header, records, self._checked_cells())

    def _checked_cells(self):
        """``{cell number: its columns}`` of the cells sidecar, every line checked; a damaged
        sidecar is refused (it cannot be repaired by dropping rows: restore it from git)."""
        if not self.cells_path.exists():
            return {}
        _, header, records = self._parse(self.cells_path, ("cell",) + self.CELL,
                                         kind=f"the cells file of the {self.NAME}")
        problems = self._problems(header, records,
                                  key=lambda r: tuple(r[c] for c in self.CELL_KEY))
        cells = {}
        for line, fields in records:
            if len(fields) == len(header):
                row = dict(zip(header, fields))
                if row["cell"] in cells:
                    problems.append((line, f"cell {row['cell']} is numbered twice"))
                cells[row["cell"]] = row
        if problems:
            where = shown_path(self.cells_path)
            listed = "; ".join(f"line {n}: {why}" for n, why in problems[:_SHOWN_PROBLEMS])
            raise StoreError(f"{where} is damaged, so the {self.NAME} is not read: {listed}. "
                             f"Restore it with `git checkout -- {where}` (its rows name these "
                             "cells, so it cannot be repaired by dropping rows).")
        return cells

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
            raise StoreError(f"{shown_path(self.cells_path)} is not the cells file of the "
                             f"{self.NAME}; "
                             + _restore_hint(self.cells_path))
        return cells[columns]

    def _row_problems(self, header, records, cells):
        checks = [(i, c, self.CHECKS.get(c, _check_any)) for i, c in enumerate(header)]
        width, problems, first_line, absent = len(header), [], {}, set()
        for line, fields in records:
            if len(fields) != width:
                problems.append((line, f"{len(fields)} fields instead of {width} (cut short?)"))
                continue
            bad = next(((c, fields[i], why) for i, c, check in checks
                        if (why := check(fields[i]))), None)
            if bad:
                problems.append((line, f"{bad[0]} {_short(bad[1])} {bad[2]}"))
                continue
            row = dict(zip(header, fields))
            cell = cells.get(row["cell"])
            if cell is None:  # a sound number the sidecar lacks: the sidecar is at fault
                absent.add(int(row["cell"]))
                continue
            k = self.key_of({**cell, **row})
            if k in first_line:
                problems.append((line, f"the same key as line {first_line[k]} (a duplicate)"))
                continue
            first_line[k] = line
        if absent:
            raise StoreError(f"{shown_path(self.cells_path)} lacks {len(absent)} cell(s) that "
                             f"rows of {self.path.name} name (e.g. cell {min(absent)}); the "
                             "files are written together: restore both from git.")
        return problems

    def _damaged_lines(self, header, records):
        """Damaged lines, and every line of a cell that has one: a cell is computed whole, so
        a cell that lost a row is dropped whole and recomputed (and, if a line was cut, every
        cell holding fewer rows than the other seeds of its setting)."""
        if "cell" not in header:
            return super()._damaged_lines(header, records)
        cells = self._checked_cells()
        bad = {n for n, _ in self._row_problems(header, records, cells)}
        i = header.index("cell")
        lost = {self._trusted(header, f, [i]).get(i) for n, f in records if n in bad}
        drop = bad | {n for n, f in records if len(f) > i and f[i] in lost}
        if any(len(f) != len(header) for n, f in records if n in bad):
            peer = {c: tuple(v[k] for k in ("experiment", "setting", "settings_hash",
                                             "algorithm_version")) for c, v in cells.items()}
            count = {}
            for n, f in records:
                if n not in drop:
                    count[f[i]] = count.get(f[i], 0) + 1
            most = {}
            for c, k in count.items():
                most[peer[c]] = max(most.get(peer[c], 0), k)
            short = {c for c, k in count.items() if k < most[peer[c]]}
            drop |= {n for n, f in records if n not in drop and f[i] in short}
        return drop

    def _other_files(self):
        return (self.cells_path,)

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


#: Every kind of store, to recognise a file by its header line.
STORE_KINDS = (ResultStore, MeasureStore, ML100KStore, NMFPriorStore, MLAMStore)


def open_store(path):
    """The store of the right kind for an existing CSV file, recognised by its header line."""
    path = Path(path)
    try:
        with open(path, "rb") as fh:
            first = fh.readline().decode("utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise StoreError(f"{shown_path(path)} cannot be read as a store "
                         f"({getattr(exc, 'strerror', None) or exc}).") from None
    header = set(first.split(","))
    for cls in STORE_KINDS[::-1]:  # the most specific first
        cols = set(cls.COLUMNS) - {"settings", "environment"}
        if cls is MLAMStore and "cell" in header:
            cols = set(MLAMStore(path)._row_columns())
        if cols <= header:
            return cls(path)
    raise StoreError(f"{shown_path(path)} is not a store of this project: its header line "
                     "has the columns of none.")


def main(argv=None):
    """Command line: ``check`` or ``repair`` store files."""

    ap = argparse.ArgumentParser(
        prog="python -m metanmf_lab.grid.store",
        description="Check store files line by line, or repair them by dropping the damaged "
                    "lines (the next run recomputes the cells they held).")
    ap.add_argument("action", choices=["check", "repair"])
    ap.add_argument("paths", nargs="+", help="store CSV files (e.g. data/results/results.csv)")
    args = ap.parse_args(argv)
    status = 0
    for path in args.paths:
        if not Path(path).is_file():
            ap.error(f"{path}: no such store file")
        try:
            store = open_store(path)
            if args.action == "check":
                problems = store.problems()
                for line, why in problems:
                    print(f"{path}, line {line}: {why}")
                print(f"{path}: {'sound' if not problems else f'{len(problems)} damaged lines'}")
                status = status or (1 if problems else 0)
            else:
                dropped = store.repair()
                print(f"{path}: dropped {len(dropped)} damaged line(s)"
                      + (f" ({', '.join(map(str, dropped))}); rerun the experiment to "
                         "recompute their cells" if dropped else ""))
        except StoreError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    return status


if __name__ == "__main__":
    raise SystemExit(main())
