"""What each chapter of the book shows, computed in one place: one module per chapter, named
as its notebook, and the book's one verdict per comparison (``verdicts``).

A chapter's notebook calls one function of this subpackage, which returns a small dataclass of
display-ready values (numbers, sentences built from data, tables, figures); the notebook glues
them all by name with :func:`glue_values` and its Markdown pastes them
(``{glue:text}`n_cells```, ``{glue:md}`verdict:myst```, ``{glue:figure} fig_nmi``). The
sentences built from data live here, where the tests call them, not in f-strings of a notebook.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from matplotlib.figure import Figure
from myst_nb import glue

from ...data.datasets import DATASETS
from ..notebook import glue_figure, glue_prose

__all__ = ["Prose", "glue_values", "checkpoint", "dataset_name", "signed", "interval_text"]


class Prose(str):
    """A phrase or sentence of the prose (Markdown), pasted with ``{glue:md}`name:myst``` so
    that it reads as the text around it. Plain strings and numbers are glued as values
    (``{glue:text}``)."""


def _is_figure(value):
    return isinstance(value, Figure)


def glue_values(values, skip=()):
    """Glue every field of the dataclass ``values`` under its field name: figures with
    :func:`metanmf_lab.book.notebook.glue_figure` (then closed), :class:`Prose` as Markdown,
    everything else (numbers, strings, styled tables) as it is. Fields whose value is None and
    those named in ``skip`` are not glued."""


    if not dataclasses.is_dataclass(values):
        raise TypeError(f"glue_values needs a chapter's dataclass, got {type(values).__name__}.")
    for field in dataclasses.fields(values):
        name, value = field.name, getattr(values, field.name)
        if value is None or name in skip or name.startswith("_"):
            continue
        if _is_figure(value):
            glue_figure(name, value)
        elif isinstance(value, Prose):
            glue_prose(name, str(value))
        else:
            glue(name, value, display=False)


def checkpoint(values, *names):
    """The line nbval compares for a chapter: ``name = value`` for each of ``names`` (small,
    stable, meaningful values: counts and verdicts, not last-digit means)."""
    return "; ".join(f"{n} = {getattr(values, n)}" for n in names)


def dataset_name(dataset):
    """A dataset's display name ("Fashion-MNIST"); a name the book does not know as it is."""

    return DATASETS[dataset].display_name if dataset in DATASETS else str(dataset)


def signed(value, digits=3):
    """``value`` with its sign and ``digits`` decimals ("+0.012", "−0.004"); "–" for NaN."""

    if value is None or not np.isfinite(value):
        return "–"
    return f"{value:+.{digits}f}".replace("-", "−")


def comparison_cells(cmp, label, digits=3):
    """The cells every comparison table shows, from a frame of paired comparisons (columns
    ``difference``, ``low``, ``high``, ``p_holm``, ``verdict``): the difference with its
    interval under ``label`` (``digits`` decimals), the Holm-adjusted p-value and the
    verdict, as table columns."""
    return {
        label: [interval_text(d, lo, hi, digits) for d, lo, hi in
                zip(cmp.difference, cmp.low, cmp.high)],
        "p (Holm)": [f"{p:.2g}" for p in cmp.p_holm],
        "verdict": cmp["verdict"].to_numpy(),
    }


def interval_text(difference, low, high, digits=3):
    """A difference and its interval as one cell: "+0.012 [−0.003, +0.027]" (the interval
    left out where it is undefined)."""

    if not (np.isfinite(low) and np.isfinite(high)):
        return signed(difference, digits)
    return f"{signed(difference, digits)} [{signed(low, digits)}, {signed(high, digits)}]"
