"""The status chapter: the pipeline's record of the build (how long each chapter took, with which
parameters, which software computed it, and the stores it read).

:func:`values` reads the record (:func:`metanmf_lab.book.pipeline.read_record`).
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from ..display import table
from ..pipeline import read_record
from . import Prose

__all__ = ["StatusValues", "chapter_table", "slowest", "software", "store_table", "values"]

#: How the status page names the software of the record (others keep their names).
SOFTWARE_NAMES = {"python": "Python", "metanmf_lab": "metanmf_lab", "numpy": "NumPy",
                  "scipy": "SciPy", "scikit-learn": "scikit-learn", "pandas": "pandas",
                  "matplotlib": "Matplotlib", "seaborn": "seaborn", "joblib": "joblib",
                  "papermill": "papermill", "ipykernel": "ipykernel",
                  "jupyter-book": "Jupyter Book", "sphinx": "Sphinx", "myst-nb": "MyST-NB",
                  "sphinxcontrib-bibtex": "sphinxcontrib-bibtex",
                  "sphinx-mathjax-offline": "sphinx-mathjax-offline"}


def _parameters(params):
    shown = {k: v for k, v in params.items() if k != "profile"}
    return ", ".join(f"{k} = {v}" for k, v in shown.items()) or "–"


def chapter_table(notebooks):
    """One row per executed chapter: its notebook, the parameters besides the profile, the
    profile and the seconds it took (``notebooks``: the record's ``notebooks``)."""
    columns = ["chapter", "notebook", "parameters", "profile", "seconds"]
    return pd.DataFrame([{"chapter": name, "notebook": r["source"].rsplit("/", 1)[-1],
                          "parameters": _parameters(r["parameters"]),
                          "profile": r["parameters"].get("profile", "–"),
                          "seconds": float(r["seconds"])}
                         for name, r in notebooks.items()],
                        columns=columns).astype({"seconds": float})


def slowest(chapters, n=2):
    """The ``n`` slowest chapters in words: ``"altbi (97 s) and faces (41 s)"``."""
    top = chapters.nlargest(n, "seconds")
    return Prose(" and ".join(f"{r.chapter} ({r.seconds:.0f} s)" for r in top.itertuples())
                 or "none")


def software(versions):
    """The versions of the record as one sentence (Markdown)."""
    v = dict(versions)
    head = (f"Python {v.pop('python', '?')} and `metanmf_lab` {v.pop('metanmf_lab', '?')} "
            f"(version {v.pop('algorithm', '?')} of its numerical algorithms, part of the key "
            "of every row of the result store)")
    rest = ", ".join(f"{SOFTWARE_NAMES.get(k, k)} {x}" for k, x in v.items())
    return Prose(f"{head}, with {rest}." if rest else f"{head}.")


def store_table(stores):
    """One row per store and profile (``stores``: the record's ``stores``, profile -> summary
    of :func:`metanmf_lab.book.pipeline.store_summary`): the store, its file and its rows."""
    rows = []
    for profile, s in stores.items():
        rows.append({"store": "results", "profile": profile, "file": s["path"],
                     "rows": int(s["rows"])})
        for key, value in s.items():
            if key in ("path", "rows") or key.endswith(", rows"):
                continue
            rows.append({"store": key, "profile": profile, "file": value,
                         "rows": int(s.get(f"{key}, rows", 0))})
    out = pd.DataFrame(rows, columns=["store", "profile", "file", "rows"])
    if out["profile"].nunique() <= 1:
        out = out.drop(columns="profile")
    return out


@dataclass
class StatusValues:
    """What the status chapter shows (glued by field name)."""

    build_date: str
    record_complete: bool
    n_chapters: int
    total_minutes: float
    profiles: str
    slowest: Prose
    software: Prose
    n_stores: int
    table_chapters: object
    table_stores: object


def values(P, record=None):
    """Everything the status chapter shows, from the pipeline's record (``record``: read with
    :func:`metanmf_lab.book.pipeline.read_record` if not given)."""

    record = read_record() if record is None else record
    chapters = chapter_table(record["notebooks"])
    stores = store_table(record.get("stores", {}))
    return StatusValues(
        build_date=record["date"],
        record_complete={"date", "notebooks", "versions", "stores"} <= set(record),
        n_chapters=len(chapters),
        total_minutes=float(chapters["seconds"].sum()) / 60,
        profiles=" and ".join(sorted(chapters["profile"].unique())),
        slowest=slowest(chapters), software=software(record["versions"]),
        n_stores=len(stores),
        table_chapters=table(chapters.drop(columns="profile"), digits=1),
        table_stores=table(stores))
