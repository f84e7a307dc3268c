"""The facial-parts chapter (thesis Figs. 4.14-4.21): each baseline's basis images of Olivetti
Faces beside its Meta model's, with and without noise, and two numbers a reader can check
without squinting, Hoyer's sparsity and the spatial spread of each basis image."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ...core.evaluation import hoyer_sparsity
from ...data.datasets import image_shape
from ...grid.analysis import spatial_spread
from ...grid.catalogue import PAIRS
from ...grid.cells import CONDITIONS, Cell, resolve_noise
from ...grid.models import fit_cell
from ...grid.reporting import THESIS_FACE_FIGURES
from .. import display
from ..plotting import basis_pair
from . import Prose


def thesis_order(pairs):
    """``pairs`` in the order of the thesis' figures (Figs. 4.14-4.21)."""

    def figure(pair):  # "4.14" -> (4, 14)
        return tuple(int(k) for k in THESIS_FACE_FIGURES[tuple(pair)][0].split("."))

    return sorted(pairs, key=figure)


def figure_name(pair, condition):
    """The glued name of a pair's figure: ``("NMF", "Meta-NMF"), "none"`` -> ``fig_nmf_none``."""
    return f"fig_{pair[0].lower().replace(' ', '_')}_{condition}"


def measure(bases, shape):
    """Per basis (``bases``: (condition, model) -> (rank, n_pixels) array): the mean and
    standard deviation over its images of Hoyer's sparsity and of the spatial spread, as
    plain floats. Columns: condition, model, hoyer, hoyer_sd, spread, spread_sd."""

    rows = []
    for (condition, model), H in bases.items():
        h, s = hoyer_sparsity(H), spatial_spread(H, shape)
        rows.append(dict(condition=condition, model=model,
                         hoyer=float(np.mean(h)), hoyer_sd=float(np.std(h, ddof=1)),
                         spread=float(np.nanmean(s)), spread_sd=float(np.nanstd(s, ddof=1))))
    return pd.DataFrame(rows, columns=["condition", "model", "hoyer", "hoyer_sd", "spread",
                                       "spread_sd"])


def pair_gains(parts, pairs):
    """Per pair and condition of ``parts`` (:func:`measure`): the Meta model's mean Hoyer
    sparsity minus its baseline's and its mean spatial spread minus its baseline's (a
    negative spread difference is a more local basis)."""
    p = parts.set_index(["condition", "model"])
    rows = []
    for condition in dict.fromkeys(parts["condition"]):
        for base, meta in pairs:
            if (condition, base) in p.index and (condition, meta) in p.index:
                rows.append(dict(condition=condition, baseline=base, model=meta,
                                 hoyer_gain=p.loc[(condition, meta), "hoyer"]
                                 - p.loc[(condition, base), "hoyer"],
                                 spread_gain=p.loc[(condition, meta), "spread"]
                                 - p.loc[(condition, base), "spread"]))
    return pd.DataFrame(rows, columns=["condition", "baseline", "model", "hoyer_gain",
                                       "spread_gain"])


def gains_sentence(gains):
    """How many pair-condition comparisons find the Meta basis sparser and more local, in
    words (the counts are whole numbers, never numpy scalars)."""
    n = len(gains)
    if not n:
        return Prose("No pair was drawn, so nothing is compared.")
    sparser = int((gains["hoyer_gain"] > 0).sum())
    local = int((gains["spread_gain"] < 0).sum())
    both = int(((gains["hoyer_gain"] > 0) & (gains["spread_gain"] < 0)).sum())
    return Prose(
        f"In {sparser} of the {n} pair-and-condition comparisons the Meta model's basis "
        f"images are sparser than its baseline's, and in {local} of {n} more local (a "
        f"smaller spatial spread); in {both} they are both.")


def note(row):
    """The line under a basis' title: its mean Hoyer sparsity and spatial spread."""
    return f"Hoyer {row['hoyer']:.3f} · spread {row['spread']:.3f}"


def parts_table(parts, pairs):
    """The table of the chapter: per model (in the order of ``pairs``, each baseline before
    its Meta model), mean ± s.d. over its basis images of Hoyer's sparsity and of the spatial
    spread, without and with added noise."""
    order = [m for pair in pairs for m in pair]
    out = pd.DataFrame({"model": order})
    p = parts.set_index(["condition", "model"])
    for condition, label in CONDITIONS.items():
        for value, name in (("hoyer", "Hoyer"), ("spread", "spread")):
            out[f"{name}, {label}"] = [
                f"{p.loc[(condition, m), value]:.3f} ± {p.loc[(condition, m), value + '_sd']:.3f}"
                if (condition, m) in p.index else None for m in order]
    return out


@dataclass
class Faces:
    """What the facial-parts chapter shows (:func:`values`)."""

    side: int
    """Pixels of a face image, per side."""
    rank: int
    """Basis images per model."""
    seed: int
    noise_level: float
    """Standard deviation of the added noise."""
    n_models: int
    n_comparisons: int
    """Pair-and-condition comparisons (pairs x conditions)."""
    n_sparser: int
    n_more_local: int
    gains_sentence: Prose
    table_parts: object
    """Styled table (:func:`parts_table`)."""
    fig_nmf_none: object = None
    fig_nmf_added: object = None
    fig_gnmf_none: object = None
    fig_gnmf_added: object = None
    fig_nmf_nndsvd_none: object = None
    fig_nmf_nndsvd_added: object = None
    fig_gnmf_nndsvd_none: object = None
    fig_gnmf_nndsvd_added: object = None
    bases: dict = field(default_factory=dict, repr=False)
    """(condition, model) -> basis images (rank x pixels); not glued."""
    shape: tuple = ()
    """Shape of one image; not glued."""
    parts: object = None
    """:func:`measure` of ``bases``; not glued."""

    #: Fields that are data for the notebook's code, not values for the page.
    NOT_GLUED = ("bases", "shape", "parts")


def values(params):
    """The chapter's values for its checked parameters ``params`` (profile, protocol, rank,
    seed, noise): fits each model of the four pairs once per condition on the evaluation half
    of Faces (as the result store's cells are fitted) and measures the bases."""

    level = float(resolve_noise("faces", params.noise))
    shape = tuple(image_shape("faces", params.settings.faces_size))
    bases = {}
    for condition, nz in (("none", 0.0), ("added", level)):
        for pair in PAIRS:
            for model in pair:
                cell = Cell("faces", nz, model, params.rank, params.seed, params.protocol)
                bases[condition, model] = fit_cell(cell, params.settings).H
    parts = measure(bases, shape)
    pairs = thesis_order(PAIRS)
    gains = pair_gains(parts, pairs)
    p = parts.set_index(["condition", "model"])
    figures = {}
    for condition in CONDITIONS:
        for pair in pairs:
            figures[figure_name(pair, condition)] = basis_pair(
                bases[condition, pair[0]], bases[condition, pair[1]], shape, titles=pair,
                notes=[note(p.loc[(condition, m)]) for m in pair])
    return Faces(
        side=int(shape[0]), rank=int(params.rank), seed=int(params.seed), noise_level=level,
        n_models=len(PAIRS) * 2, n_comparisons=len(gains),
        n_sparser=int((gains["hoyer_gain"] > 0).sum()),
        n_more_local=int((gains["spread_gain"] < 0).sum()),
        gains_sentence=gains_sentence(gains),
        table_parts=display.table(parts_table(parts, pairs), headers={"model": "Model"}),
        bases=bases, shape=shape, parts=parts, **figures)
