"""Published numbers the book sets beside ours, loaded from the project's ``data/published``.

The thesis (Khan, 2025) and the two related papers the book rebuilds (Iwata, 2021; Xia et
al., 2023) report numbers that the chapters compare with their own, and settings of their
experiments that the chapters state (:func:`thesis_settings`, :func:`metaprior_settings`,
:func:`mlam_settings`). Those numbers travel with the project as small CSV files in
``data/published/`` (see its README for the citations, the columns and how every number was
checked against its source). Each row cites where its number comes from in a ``source``
column (document, table or section, row, column).

There is one loader per file. Each checks the file's shape (its columns, its number of
rows, no empty cell, a source on every row, numbers where numbers belong) and raises
:class:`PublishedFileError`, naming the file, when the file is missing or malformed; a
published number is never typed anywhere else in the project.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from .._config import PROJECT_ROOT
from ..data.datasets import DATASETS
from .catalogue import MODELS

#: The folder holding the files of published numbers (committed with the project).
PUBLISHED_DIR = PROJECT_ROOT / "data" / "published"

#: Each loader's file and what it holds: loader name -> (file name, short description).
FILES = {
    "thesis_nmi_tables": ("khan2025_tables_4_3-4_10.csv", "thesis Tables 4.3-4.10"),
    "thesis_datasets": ("khan2025_table_4_1.csv", "thesis Table 4.1"),
    "thesis_settings": ("khan2025_table_4_2.csv", "thesis Table 4.2 and Sec. 4.2"),
    "metaprior_table1": ("iwata2021_table_1.csv", "Iwata (2021), Table 1"),
    "mlam_tables": ("xia2023_tables_i_ii_iii_vi.csv", "Xia et al. (2023), Tables I-III and VI"),
    "mlam_times": ("xia2023_table_iv.csv", "Xia et al. (2023), Table IV"),
    "metaprior_settings": ("iwata2021_settings.csv", "Iwata (2021), Secs. 4.1-4.3"),
    "mlam_settings": ("xia2023_settings.csv", "Xia et al. (2023), Sec. V"),
}

#: How every ``source`` of a file begins: the document it cites.
SOURCE_PREFIX = {"thesis_nmi_tables": "Khan 2025, Table 4.",
                 "thesis_datasets": "Khan 2025, Table 4.1,",
                 "thesis_settings": "Khan 2025, ",
                 "metaprior_table1": "Iwata 2021, Table 1,",
                 "mlam_tables": "Xia et al. 2023, Table ",
                 "mlam_times": "Xia et al. 2023, Table IV,",
                 "metaprior_settings": "Iwata 2021, Sec. 4.",
                 "mlam_settings": "Xia et al. 2023, "}

#: Thesis Tables 4.3-4.10, in order: each holds 5 datasets x 2 models.
THESIS_TABLE_IDS = ("4.3", "4.4", "4.5", "4.6", "4.7", "4.8", "4.9", "4.10")

#: The rows of the Table 4.2 file: parameter name -> how its value is read.
THESIS_SETTINGS = {"ranks": "ints", "outer_epochs": "int", "inner_epochs": "int",
                   "n_meta_tasks": "int", "meta_task_size": "int", "learning_fraction": "float",
                   "baseline_iterations": "int"}

#: The rows of Iwata (2021)'s settings file: parameter name -> how its value is read. Shares
#: (of users and items, of ratings) and rates are fractions; numbers printed as words or as
#: powers of ten are written as numbers.
METAPRIOR_SETTINGS = {"meta_training_fraction": "float", "meta_validation_fraction": "float",
                      "n_test_matrices": "int", "test_matrix_rows": "int",
                      "test_matrix_columns": "int", "test_held_out_fraction": "float",
                      "n_splits": "int", "exchangeable_layers": "int", "channels": "int",
                      "ff_layers": "int", "ff_hidden": "int", "rank": "int", "eta": "float",
                      "n_steps": "int", "train_rows": "int", "train_columns": "int",
                      "train_ratio": "float", "adam_lr": "float", "batch_size": "int",
                      "dropout": "float", "epochs": "int", "mf_rank": "int",
                      "mf_weight_decays": "floats"}

#: The rows of Xia et al. (2023)'s settings file: parameter name -> how its value is read.
MLAM_SETTINGS = {"lstm_layers": "int", "lstm_hidden": "int", "adam_lr": "float",
                 "matrix_size": "int", "n_train": "int", "n_test": "int", "n_outer": "int",
                 "t_in": "int", "t_out": "int", "table_i_rank": "int", "table_ii_rate": "float",
                 "table_iii_rank": "int", "gmm_max_steps": "int", "em_tol": "float",
                 "gmm_k": "int", "gmm_points": "int"}

#: The tables of the MLAM file: table -> (parameter of its columns, number of entries).
MLAM_TABLES = {"I": ("rate", 20), "II": ("rank", 30), "III": ("p", 25), "VI": ("dim", 10)}


class PublishedFileError(ValueError):
    """A file of published numbers is missing or does not have the shape its loader expects."""


def where(name):
    """Where a loader's numbers come from, for a caption: the file and the table it holds.

    Parameters
    ----------
    name : str
        A loader of this module, a key of :data:`FILES` (e.g. ``"thesis_nmi_tables"``).

    Returns
    -------
    str
        E.g. ``"data/published/khan2025_tables_4_3-4_10.csv (thesis Tables 4.3-4.10)"``.
    """
    if name not in FILES:
        raise ValueError(f"no published file for {name!r}; expected one of {sorted(FILES)}.")
    file, what = FILES[name]
    return f"data/published/{file} ({what})"


def _failer(name, path):
    """A function raising :class:`PublishedFileError` about ``name``'s file, naming it."""
    label = Path(path).name if path is not None else FILES[name][0]

    def fail(why):
        raise PublishedFileError(f"{label} ({FILES[name][1]}): {why}")
    return fail


def _read(name, columns, n_rows, numeric=(), path=None):
    """Read one file as text, check its shape, and convert its ``numeric`` columns."""
    path = Path(path) if path is not None else PUBLISHED_DIR / FILES[name][0]
    fail = _failer(name, path)
    if not path.is_file():
        fail(f"the file is missing from {path.parent}; it is part of the project "
             "(data/published/, see its README).")
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        fail(f"not a readable CSV file ({exc}).")
    if list(df.columns) != list(columns):
        fail(f"expected the columns {list(columns)}, found {list(df.columns)}.")
    if len(df) != n_rows:
        fail(f"expected {n_rows} rows, found {len(df)}.")
    df = df.apply(lambda c: c.str.strip())
    empty = [(i + 2, c) for c in df.columns for i in np.flatnonzero(df[c].to_numpy() == "")]
    if empty:
        fail(f"empty cells (line, column): {empty[:5]}.")
    bad = np.flatnonzero(~df["source"].str.startswith(SOURCE_PREFIX[name]).to_numpy())
    if len(bad):
        fail(f"line {bad[0] + 2} does not cite its source (a source beginning "
             f"{SOURCE_PREFIX[name]!r}): {df['source'].iloc[bad[0]]!r}.")
    for c in numeric:
        values = pd.to_numeric(df[c], errors="coerce").to_numpy(dtype=float)
        bad = np.flatnonzero(~np.isfinite(values))
        if len(bad):
            fail(f"column {c!r}, line {bad[0] + 2}: {df[c].iloc[bad[0]]!r} is not a number.")
        df[c] = values
    return df


def _unique(df, keys, fail):
    """Fail if an entry (a combination of ``keys``) occurs twice."""
    dup = df[df.duplicated(list(keys), keep=False)]
    if len(dup):
        fail(f"repeated entries: {dup[list(keys)].drop_duplicates().values.tolist()[:3]}.")


def thesis_nmi_tables(path=None):
    """Thesis Tables 4.3-4.10: the mean NMI over ranks of every model on every dataset.

    Parameters
    ----------
    path : path-like, optional
        Another file of the same shape (for tests); by default the project's
        ``data/published/khan2025_tables_4_3-4_10.csv``.

    Returns
    -------
    DataFrame
        80 rows (8 tables x 5 datasets x 2 models), columns ``table`` ("4.3" ... "4.10"),
        ``noise`` ("none" or "added"), ``dataset`` (the package's name, a key of
        :data:`~metanmf_lab.data.datasets.DATASETS`), ``model`` (one of
        :data:`~metanmf_lab.grid.MODELS`), ``mean_nmi_over_ranks`` (float) and
        ``source``.

    Raises
    ------
    PublishedFileError
        If the file is missing or its shape is not the above.
    """

    name = "thesis_nmi_tables"
    df = _read(name, ["table", "noise", "dataset", "model", "mean_nmi_over_ranks", "source"],
               80, numeric=["mean_nmi_over_ranks"], path=path)
    fail = _failer(name, path)
    counts = df["table"].value_counts()
    if set(counts.index) != set(THESIS_TABLE_IDS) or (counts != 10).any():
        fail(f"expected 10 entries in each of Tables {', '.join(THESIS_TABLE_IDS)}, found "
             f"{counts.to_dict()}.")
    for column, allowed in (("noise", ("none", "added")), ("dataset", tuple(DATASETS)),
                            ("model", MODELS)):
        unknown = sorted(set(df[column]) - set(allowed))
        if unknown:
            fail(f"unknown {column} {unknown}; expected one of {list(allowed)}.")
    if not df["mean_nmi_over_ranks"].between(0, 1).all():
        fail("an NMI outside [0, 1].")
    _unique(df, ["noise", "dataset", "model"], fail)
    for table, part in df.groupby("table"):
        if part["noise"].nunique() != 1 or part["model"].nunique() != 2 \
                or set(part["dataset"]) != set(DATASETS):
            fail(f"Table {table} is not one noise condition x 2 models x the 5 datasets.")
        if not part["source"].str.startswith(f"Khan 2025, Table {table}, row ").all():
            fail(f"a row of Table {table} cites another table.")
    return df


def thesis_datasets(path=None):
    """Thesis Table 4.1: samples, features and classes of the five datasets.

    Parameters
    ----------
    path : path-like, optional
        Another file of the same shape (for tests); by default the project's
        ``data/published/khan2025_table_4_1.csv``.

    Returns
    -------
    DataFrame
        5 rows, columns ``dataset`` (the package's name), ``thesis_name`` (the row label of
        the thesis), ``samples``, ``features``, ``classes`` (int; the thesis' column says
        "# of clusters", the number of classes of the labels) and ``source``.

    Raises
    ------
    PublishedFileError
        If the file is missing or its shape is not the above.
    """

    name = "thesis_datasets"
    count = ["samples", "features", "classes"]
    df = _read(name, ["dataset", "thesis_name", *count, "source"], len(DATASETS),
               numeric=count, path=path)
    fail = _failer(name, path)
    if sorted(df["dataset"]) != sorted(DATASETS):
        fail(f"expected one row per dataset {list(DATASETS)}, found {list(df['dataset'])}.")
    values = df[count].to_numpy()
    if (values < 1).any() or (values != np.round(values)).any():
        fail("samples, features and classes must be positive whole numbers.")
    df[count] = df[count].astype(int)
    return df


def _parameters(name, kinds, path):
    """A file of ``parameter,value,source`` rows, one per key of ``kinds`` (parameter -> "int",
    "float", "ints" or "floats", the last two separated by spaces), indexed by parameter."""
    df = _read(name, ["parameter", "value", "source"], len(kinds), path=path)
    fail = _failer(name, path)
    if sorted(df["parameter"]) != sorted(kinds):
        fail(f"expected the parameters {list(kinds)}, found {list(df['parameter'])}.")
    values = []
    for parameter, value in zip(df["parameter"], df["value"]):
        kind = kinds[parameter]
        try:
            values.append(tuple(int(v) for v in value.split()) if kind == "ints"
                          else tuple(float(v) for v in value.split()) if kind == "floats"
                          else int(value) if kind == "int" else float(value))
        except ValueError:
            fail(f"{parameter}: {value!r} is not "
                 f"{'a list of ' if kind in ('ints', 'floats') else 'a '}"
                 f"{'whole number' if kind.startswith('int') else 'number'}"
                 f"{'s' if kind in ('ints', 'floats') else ''}.")
        numbers = np.atleast_1d(np.asarray(values[-1], dtype=float))
        if not len(numbers) or not np.isfinite(numbers).all() or (numbers <= 0).any():
            fail(f"{parameter}: {value!r} is not positive.")
    # object dtype: each value keeps its kind (an int stays an int beside floats)
    return pd.DataFrame({"value": pd.Series(values, dtype=object).to_numpy(),
                         "source": df["source"].to_numpy()},
                        index=pd.Index(df["parameter"].to_numpy(), name="parameter"))


def thesis_settings(path=None):
    """Thesis Table 4.2, and two settings its Sec. 4.2 states in the text.

    Parameters
    ----------
    path : path-like, optional
        Another file of the same shape (for tests); by default the project's
        ``data/published/khan2025_table_4_2.csv``.

    Returns
    -------
    DataFrame
        Indexed by ``parameter``, one row per key of :data:`THESIS_SETTINGS`: ``ranks``
        (tuple of int), ``outer_epochs``, ``inner_epochs`` (multiplicative updates per NMF
        call), ``n_meta_tasks``, ``meta_task_size``, ``baseline_iterations`` (int) and
        ``learning_fraction`` (float); columns ``value`` (as above) and ``source``.

    Raises
    ------
    PublishedFileError
        If the file is missing or its shape is not the above.
    """
    return _parameters("thesis_settings", THESIS_SETTINGS, path)


def metaprior_settings(path=None):
    """Iwata (2021): the settings of its MovieLens protocol (Sec. 4.1), of its method
    (Sec. 4.2) and of its MF baseline (Sec. 4.3).

    Parameters
    ----------
    path : path-like, optional
        Another file of the same shape (for tests); by default the project's
        ``data/published/iwata2021_settings.csv``.

    Returns
    -------
    DataFrame
        Indexed by ``parameter``, one row per key of :data:`METAPRIOR_SETTINGS` (e.g.
        ``adam_lr`` 0.0001, ``epochs`` 1000, ``train_rows`` 30); columns ``value`` (int,
        float, or a tuple of floats for ``mf_weight_decays``, as the key's kind says) and
        ``source``. Shares are fractions (``meta_training_fraction`` 0.7 for the paper's 70%).

    Raises
    ------
    PublishedFileError
        If the file is missing or its shape is not the above.
    """
    df = _parameters("metaprior_settings", METAPRIOR_SETTINGS, path)
    fail = _failer("metaprior_settings", path)
    shares = [p for p in METAPRIOR_SETTINGS if p.endswith(("_fraction", "_ratio"))]
    if df.loc[shares, "value"].gt(1).any() or \
            df.loc[["meta_training_fraction", "meta_validation_fraction"], "value"].sum() >= 1:
        fail("a share above 1, or no users and items left for meta-test.")
    return df


def mlam_settings(path=None):
    """Xia et al. (2023): the settings of its experiments (Sec. V, V-A and V-B, and the ranks
    in the captions of Tables I and III).

    Parameters
    ----------
    path : path-like, optional
        Another file of the same shape (for tests); by default the project's
        ``data/published/xia2023_settings.csv``.

    Returns
    -------
    DataFrame
        Indexed by ``parameter``, one row per key of :data:`MLAM_SETTINGS` (e.g.
        ``lstm_hidden`` 500, ``adam_lr`` 0.001, ``em_tol`` 0.0001, ``table_ii_rate`` 0.2);
        columns ``value`` (int or float, as the key's kind says) and ``source``.

    Raises
    ------
    PublishedFileError
        If the file is missing or its shape is not the above.
    """
    df = _parameters("mlam_settings", MLAM_SETTINGS, path)
    fail = _failer("mlam_settings", path)
    if df.loc["table_ii_rate", "value"] > 1:
        fail("table_ii_rate: an observation rate above 1.")
    if max(df.loc[["table_i_rank", "table_iii_rank"], "value"]) > df.loc["matrix_size", "value"]:
        fail("a rank above the matrices' size.")
    return df


def metaprior_table1(path=None):
    """Iwata (2021), Table 1: test MSE and its standard error per method and dataset.

    Parameters
    ----------
    path : path-like, optional
        Another file of the same shape (for tests); by default the project's
        ``data/published/iwata2021_table_1.csv``.

    Returns
    -------
    DataFrame
        27 rows (9 methods x 3 datasets), columns ``method`` (the paper's label, e.g.
        "Ours", "MF", "Mean"), ``dataset`` ("ML100K", "ML1M", "Jester"), ``mse``, ``se``
        (float), ``bold`` (bool: printed in bold, not significantly different from the best
        method of the dataset) and ``source``.

    Raises
    ------
    PublishedFileError
        If the file is missing or its shape is not the above.
    """
    name = "metaprior_table1"
    df = _read(name, ["method", "dataset", "mse", "se", "bold", "source"], 27,
               numeric=["mse", "se"], path=path)
    fail = _failer(name, path)
    if sorted(set(df["dataset"])) != ["Jester", "ML100K", "ML1M"] \
            or df["method"].nunique() != 9:
        fail("expected 9 methods x the datasets ML100K, ML1M and Jester.")
    _unique(df, ["method", "dataset"], fail)
    if not set(df["bold"]) <= {"yes", "no"}:
        fail("column 'bold' must be 'yes' or 'no'.")
    if (df[["mse", "se"]] <= 0).any().any():
        fail("an MSE or standard error that is not positive.")
    df["bold"] = df["bold"] == "yes"
    return df


def mlam_tables(path=None):
    """Xia et al. (2023), Tables I, II, III (RMSE of matrix completion) and VI (negative
    log-likelihood of Gaussian mixtures), one row per entry.

    Parameters
    ----------
    path : path-like, optional
        Another file of the same shape (for tests); by default the project's
        ``data/published/xia2023_tables_i_ii_iii_vi.csv``.

    Returns
    -------
    DataFrame
        85 rows, columns ``table`` ("I", "II", "III", "VI"), ``parameter`` (what the table's
        columns vary: "rate", "rank", "p", "dim"), ``value_of`` (that parameter's value,
        float), ``method``, ``value`` (float; ``inf`` where the paper prints only ">1"),
        ``relation`` ("=" for a printed value, ">" for a printed lower bound; the file keeps
        the bound, 1, in its value column) and ``source``.

    Raises
    ------
    PublishedFileError
        If the file is missing or its shape is not the above.
    """
    name = "mlam_tables"
    df = _read(name, ["table", "parameter", "value_of", "method", "value", "relation", "source"],
               sum(n for _, n in MLAM_TABLES.values()), numeric=["value_of", "value"],
               path=path)
    fail = _failer(name, path)
    for table, (parameter, n) in MLAM_TABLES.items():
        part = df[df["table"] == table]
        if len(part) != n or set(part["parameter"]) != {parameter}:
            fail(f"Table {table}: expected {n} entries over {parameter!r}, found {len(part)} "
                 f"over {sorted(set(part['parameter']))}.")
    if not set(df["relation"]) <= {"=", ">"}:
        fail("column 'relation' must be '=' or '>'.")
    _unique(df, ["table", "value_of", "method"], fail)
    df.loc[df["relation"] == ">", "value"] = np.inf
    return df


def mlam_times(path=None):
    """Xia et al. (2023), Table IV: the time each method takes, in milliseconds.

    Parameters
    ----------
    path : path-like, optional
        Another file of the same shape (for tests); by default the project's
        ``data/published/xia2023_table_iv.csv``.

    Returns
    -------
    DataFrame
        5 rows, columns ``method`` ("MLAM", "DMF", "UMF", "ALS", "SGD"), ``time_ms`` (float)
        and ``source``.

    Raises
    ------
    PublishedFileError
        If the file is missing or its shape is not the above.
    """
    name = "mlam_times"
    df = _read(name, ["method", "time_ms", "source"], 5, numeric=["time_ms"], path=path)
    fail = _failer(name, path)
    _unique(df, ["method"], fail)
    if (df["time_ms"] <= 0).any():
        fail("a time that is not positive.")
    return df
