"""The catalogue of the grid: one entry per model (the thesis' eight and the fair baselines),
from which the model lists, pairs and fair baselines are derived; the thesis' ranks and the
protocol ablations.

Adding a model is one :class:`ModelInfo` entry in :data:`CATALOGUE`; a new kind or family also
needs its estimator in :func:`metanmf_lab.grid.models.make_model`.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType

from .._validation import check_choice

#: What each kind of model is, in a sentence (the book's "what is implemented" table).
KINDS = MappingProxyType({
    "baseline": "The thesis' baselines, NMF (Lee and Seung) and graph-regularised NMF (GNMF, "
                "Cai et al.), each from a random and from an NNDSVD start",
    "meta": "The thesis' Meta models (its Algorithm 1), each a baseline whose basis is "
            "meta-learned on small tasks of the learning half",
    "equal_compute": "Fair baselines at equal compute, each the base model run for as many "
                     "iterations as its Meta model spends in all",
    "warm_start": "Fair baselines with a warm start, each the base model started from a basis "
                  "fitted on the learning half, without meta-tasks",
})

#: The base models' families and initialisations.
FAMILIES = ("nmf", "gnmf")
INITS = ("random", "nndsvd")

#: The kinds of the thesis' own models; the other kinds are our fair baselines.
THESIS_KINDS = ("baseline", "meta")


@dataclass(frozen=True)
class ModelInfo:
    """One model of the grid.

    Attributes
    ----------
    name : str
        The model's name, as in the thesis tables and the result store.
    kind : str
        One of :data:`KINDS`.
    family, init : str
        The base model's family (:data:`FAMILIES`) and initialisation (:data:`INITS`).
    base : str or None
        The model this one is built around: a Meta model's thesis baseline, a fair
        baseline's base model; None for a baseline.
    fair : tuple of str
        A Meta model's fair baselines, in the order of :data:`REFERENCE_KINDS` after the
        thesis baseline: its base model at equal compute from the base's own init and from
        the other init, and the warm start of its base model.
    tables : tuple of str
        The thesis tables of a Meta model's pair, without and with added noise.
    headline : bool
        A Meta model of the two headline pairs of the hypotheses chapter.
    """

    name: str
    kind: str
    family: str
    init: str
    base: str | None = None
    fair: tuple = ()
    tables: tuple = ()
    headline: bool = False

    def __post_init__(self):
        check_choice(self.kind, tuple(KINDS), name="kind")
        check_choice(self.family, FAMILIES, name="family")
        check_choice(self.init, INITS, name="init")


#: Every model, by name, in the order of the thesis tables (its eight models), then our fair
#: baselines.
CATALOGUE = MappingProxyType({m.name: m for m in (
    ModelInfo("NMF", "baseline", "nmf", "random"),
    ModelInfo("Meta-NMF", "meta", "nmf", "random", "NMF",
              ("NMF (equal compute)", "NMF NNDSVD (equal compute)", "NMF (warm start)"),
              ("4.3", "4.7"), headline=True),
    ModelInfo("GNMF", "baseline", "gnmf", "random"),
    ModelInfo("Meta-GNMF", "meta", "gnmf", "random", "GNMF",
              ("GNMF (equal compute)", "GNMF NNDSVD (equal compute)", "GNMF (warm start)"),
              ("4.4", "4.8")),
    ModelInfo("NMF NNDSVD", "baseline", "nmf", "nndsvd"),
    ModelInfo("Meta-NMF NNDSVD", "meta", "nmf", "nndsvd", "NMF NNDSVD",
              ("NMF NNDSVD (equal compute)", "NMF (equal compute)", "NMF NNDSVD (warm start)"),
              ("4.6", "4.9")),
    ModelInfo("GNMF NNDSVD", "baseline", "gnmf", "nndsvd"),
    ModelInfo("Meta-GNMF NNDSVD", "meta", "gnmf", "nndsvd", "GNMF NNDSVD",
              ("GNMF NNDSVD (equal compute)", "GNMF (equal compute)",
               "GNMF NNDSVD (warm start)"),
              ("4.5", "4.10"), headline=True),
    ModelInfo("NMF (equal compute)", "equal_compute", "nmf", "random", "NMF"),
    ModelInfo("NMF NNDSVD (equal compute)", "equal_compute", "nmf", "nndsvd", "NMF NNDSVD"),
    ModelInfo("GNMF (equal compute)", "equal_compute", "gnmf", "random", "GNMF"),
    ModelInfo("GNMF NNDSVD (equal compute)", "equal_compute", "gnmf", "nndsvd", "GNMF NNDSVD"),
    ModelInfo("NMF (warm start)", "warm_start", "nmf", "random", "NMF"),
    ModelInfo("NMF NNDSVD (warm start)", "warm_start", "nmf", "nndsvd", "NMF NNDSVD"),
    ModelInfo("GNMF (warm start)", "warm_start", "gnmf", "random", "GNMF"),
    ModelInfo("GNMF NNDSVD (warm start)", "warm_start", "gnmf", "nndsvd", "GNMF NNDSVD"),
)})

#: Every model's name, in the catalogue's order.
ALL_MODELS = tuple(CATALOGUE)

#: The eight models of the thesis, named as in its tables.
MODELS = tuple(m.name for m in CATALOGUE.values() if m.kind in THESIS_KINDS)

#: Fair baselines (not in the thesis): the base model given the Meta model's compute, from
#: random and from NNDSVD init; and a warm start without meta-tasks (see fit_cell).
FAIR_MODELS = tuple(m.name for m in CATALOGUE.values() if m.kind not in THESIS_KINDS)

_META = [m for m in CATALOGUE.values() if m.kind == "meta"]

#: The fair baselines of each Meta model (:attr:`ModelInfo.fair`), family by family.
FAIR_BASELINES = {m.name: m.fair for m in sorted(
    _META, key=lambda m: (FAMILIES.index(m.family), INITS.index(m.init)))}

#: (baseline, Meta model) pairs in the order of thesis Tables 4.3-4.6.
PAIRS = tuple((m.base, m.name) for m in sorted(
    _META, key=lambda m: tuple(int(part) for part in m.tables[0].split("."))))

#: The two headline pairs of the hypotheses chapter: the plain pair, and the pair the thesis
#: reports as its best (GNMF from NNDSVD).
HEADLINE_PAIRS = tuple(pair for pair in PAIRS if CATALOGUE[pair[1]].headline)


#: One-at-a-time protocol ablations: each switches one difference between the thesis text and
#: the authors' code (or one unstated choice) over the thesis settings. Name -> changes to
#: :class:`Settings` (``protocol_overrides`` as a dict). Noise level and rank are cell
#: coordinates, not settings, so their sweeps are grids of cells instead.
ABLATIONS = {
    "task size 100": dict(task_size=100),
    "overlapping tasks, target = whole learning set": dict(
        protocol_overrides=dict(disjoint_tasks=False, target="all")),
    "running sum never reset": dict(protocol_overrides=dict(transfer="running_sum")),
    "W_t starts at zero": dict(protocol_overrides=dict(target_start="zero")),
    "column max-normalisation": dict(protocol_overrides=dict(normalize_calls=True)),
    "NNDSVD override": dict(protocol_overrides=dict(nndsvd_override=True)),
    "GNMF: KL + dense RBF graph": dict(protocol_overrides=dict(gnmf="authors")),
    "baseline stops on factor change": dict(protocol_overrides=dict(baseline_stopping="factors")),
    "Faces at 64x64": dict(faces_size=64),
    "Faces: NMI over all 400 images": dict(faces_eval_all=True),
    "another learning/evaluation split": dict(split_seed=0),
    "another Fashion-MNIST subset": dict(fmnist_subset_seed=0),
    "noise s.d. halved": dict(noise_scale=0.5),
    "noise s.d. doubled": dict(noise_scale=2.0),
}


#: Ranks of thesis Table 4.2.
THESIS_RANKS = (2, 3, 5, 10, 14, 18)


def model_info(name):
    """The :class:`ModelInfo` of a model name (case-insensitive)."""
    return CATALOGUE[check_choice(name, ALL_MODELS, name="model")]


def model_kind(name):
    """``"baseline"``, ``"meta"``, ``"equal_compute"`` or ``"warm_start"``."""
    return model_info(name).kind


def parse_model(name):
    """Split a model name into ``(is_meta, family, init)``, e.g. ``(True, "gnmf", "nndsvd")``."""
    info = model_info(name)
    return info.kind == "meta", info.family, info.init


#: What each Meta model's references are, in the order of (thesis baseline,) + its
#: :data:`~metanmf_lab.grid.FAIR_BASELINES`.
REFERENCE_KINDS = ("thesis baseline", "equal compute", "equal compute, other init",
                   "warm start")


def reference_kind(reference, model):
    """Which of :data:`REFERENCE_KINDS` ``reference`` is for the Meta model ``model``."""
    info = CATALOGUE[model]
    return REFERENCE_KINDS[((info.base,) + info.fair).index(reference)]
