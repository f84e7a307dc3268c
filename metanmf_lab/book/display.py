"""How the book shows a table: human headers, no index, three decimals, nothing shown as NaN;
long tables as a short summary plus the whole table as a CSV file to download.

A chapter glues ``display.table(df)`` and pastes it with ``{glue:figure}`` and ``:figclass:
table`` (:mod:`metanmf_lab.book.sphinxext` captions it as a table)::

    glue("table_means", display.table(df, headers={"nmi": "NMI"}), display=False)
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

import numpy as np
import pandas as pd

#: Decimals of every float the book shows in a table.
DIGITS = 3

#: What a missing value shows as.
MISSING = "–"

#: The longest table shown whole; a longer one is summarised and offered as a CSV file.
MAX_ROWS = 15


def header(name):
    """A column name as a reader reads it: ``"p_holm"`` -> ``"p holm"``; strings that are not
    snake_case are kept; numbers lose a trailing ``.0`` (``2.0`` -> ``"2"``)."""
    if isinstance(name, tuple):
        return tuple(header(n) for n in name)
    if isinstance(name, (float, np.floating)) and float(name).is_integer():
        return str(int(name))
    text = str(name)
    return text.replace("_", " ") if re.fullmatch(r"[a-z0-9]+(_[a-z0-9]+)+", text) else text


def _cell(value, digits):
    if value is None or (isinstance(value, (float, np.floating)) and np.isnan(value)):
        return MISSING
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (int, np.integer)):
        return f"{int(value):,}" if abs(int(value)) >= 10_000 else str(int(value))
    if isinstance(value, (float, np.floating)):
        return f"{value:.{digits}f}"
    return str(value)


def table(df, headers=None, *, index=False, digits=DIGITS):
    """``df`` as the book shows a table (a pandas Styler, to glue).

    Parameters
    ----------
    df : DataFrame
    headers : dict, optional
        Column name -> header shown; other columns go through :func:`header`.
    index : bool, default=False
        Show the index as leading columns (its levels' names as their headers); by default
        it is dropped, so a meaningful index must be a column or ``index=True``.
    digits : int, default=3
        Decimals of floats; integers stay whole, booleans read yes/no, NaN reads "–".

    Returns
    -------
    pandas.io.formats.style.Styler
        Without the pandas index; every cell already formatted as text.
    """
    out = df.reset_index() if index else df.reset_index(drop=True)
    out = out.map(lambda v: _cell(v, digits))
    names = dict(headers or {})
    out.columns = [names.get(c, header(c)) for c in out.columns]
    if isinstance(out.columns[0], tuple):
        out.columns = pd.MultiIndex.from_tuples(out.columns)
    uuid = hashlib.sha256(out.to_csv().encode()).hexdigest()[:8]  # stable HTML ids
    return out.style.hide(axis="index").set_uuid(uuid)


#: Environment variable naming where a reader's ``pipeline run`` writes its notebook (the
#: downloadable CSV files go beside it).
DOWNLOADS_ENV = "METANMF_DOWNLOADS"


def executed_dir():
    """Where the executed chapter is written: beside a reader's ``pipeline run`` output
    (``$METANMF_DOWNLOADS``) or the book's executed folder (``$METANMF_EXECUTED``); None when
    the notebook runs elsewhere (JupyterLab)."""
    for name in (DOWNLOADS_ENV, "METANMF_EXECUTED"):
        folder = os.environ.get(name, "").strip()
        if folder:
            return Path(folder)
    return None


def save_csv(df, filename):
    """Write ``df`` (all of it, full precision) beside the executed chapter, for a
    ``{download}`` link; returns ``filename``. Outside the book's pipeline nothing is written
    (the notebook shows the table itself)."""
    folder = executed_dir()
    if folder is not None:
        folder.mkdir(parents=True, exist_ok=True)
        df.to_csv(folder / filename, index=False, lineterminator="\n")
    return filename


#: Width, in CSS pixels, at which the book shows a full-width figure at 1280 px (the text
#: column of sphinx-book-theme, less the figure's margins).
COLUMN_PX = 660

#: The smallest text on a figure as rendered, in CSS pixels (9 pt).
MIN_FONT_PX = 12.0


def smallest_text_px(fig, column_px=COLUMN_PX):
    """The size, in CSS pixels as a reader sees it, of the smallest visible text of ``fig``
    (labels, tick labels, titles, legends, annotations) when the book shows it ``column_px``
    wide at most (a wider figure is scaled down to the column). Figures are drawn at
    ``fig.dpi`` dots per inch, one dot per CSS pixel."""
    fig.canvas.draw()
    width = fig.get_figwidth() * fig.dpi
    scale = min(1.0, column_px / width)
    sizes = [t.get_fontsize() for t in fig.findobj(lambda a: hasattr(a, "get_text")
                                                   and hasattr(a, "get_fontsize"))
             if t.get_visible() and str(t.get_text()).strip()]
    return min(sizes, default=float("inf")) * fig.dpi / 72 * scale
