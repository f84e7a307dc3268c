"""The catalogue of the grid: the models (thesis and fair baselines), their pairs, the thesis' ranks and the protocol ablations.
"""

from __future__ import annotations

from .._validation import check_choice


#: The eight models, named as in the thesis tables.
MODELS = ("NMF", "Meta-NMF", "GNMF", "Meta-GNMF", "NMF NNDSVD", "Meta-NMF NNDSVD",
          "GNMF NNDSVD", "Meta-GNMF NNDSVD")


#: Fair baselines (not in the thesis): the base model given the Meta model's compute, from
#: random and from NNDSVD init; and a warm start without meta-tasks (see fit_cell).
FAIR_MODELS = ("NMF (equal compute)", "NMF NNDSVD (equal compute)", "GNMF (equal compute)",
               "GNMF NNDSVD (equal compute)", "NMF (warm start)", "NMF NNDSVD (warm start)",
               "GNMF (warm start)", "GNMF NNDSVD (warm start)")


ALL_MODELS = MODELS + FAIR_MODELS


#: The fair baselines of each Meta model: its base model at equal compute from the base's own
#: init and from the other init, and the warm start of its base model.
FAIR_BASELINES = {
    "Meta-NMF": ("NMF (equal compute)", "NMF NNDSVD (equal compute)", "NMF (warm start)"),
    "Meta-NMF NNDSVD": ("NMF NNDSVD (equal compute)", "NMF (equal compute)",
                        "NMF NNDSVD (warm start)"),
    "Meta-GNMF": ("GNMF (equal compute)", "GNMF NNDSVD (equal compute)", "GNMF (warm start)"),
    "Meta-GNMF NNDSVD": ("GNMF NNDSVD (equal compute)", "GNMF (equal compute)",
                         "GNMF NNDSVD (warm start)"),
}


#: (baseline, Meta model) pairs in the order of thesis Tables 4.3-4.6.
PAIRS = (("NMF", "Meta-NMF"), ("GNMF", "Meta-GNMF"), ("GNMF NNDSVD", "Meta-GNMF NNDSVD"),
         ("NMF NNDSVD", "Meta-NMF NNDSVD"))


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
    "GNMF: KL + dense RBF graph": dict(protocol_overrides=dict(gnmf="reference")),
    "baseline stops on factor change": dict(protocol_overrides=dict(baseline_stopping="factors")),
    "Faces at 64x64": dict(faces_size=64),
    "Faces: NMI over all 400 images": dict(faces_eval_all=True),
    "another learning/evaluation split": dict(split_seed=0),
    "another Fashion-MNIST subset": dict(fmnist_subset_seed=0),
    "noise s.d. halved": dict(noise_scale=0.5),
    "noise s.d. doubled": dict(noise_scale=2.0),
}


#: The two headline pairs of the hypotheses chapter: the plain pair, and the pair the thesis
#: reports as its best (GNMF from NNDSVD).
HEADLINE_PAIRS = (PAIRS[0], PAIRS[2])


#: Ranks of thesis Table 4.2.
THESIS_RANKS = (2, 3, 5, 10, 14, 18)


def model_kind(name):
    """``"baseline"``, ``"meta"``, ``"equal_compute"`` or ``"warm_start"``."""
    name = check_choice(name, ALL_MODELS, name="model")
    if name.startswith("Meta-"):
        return "meta"
    if name.endswith("(equal compute)"):
        return "equal_compute"
    return "warm_start" if name.endswith("(warm start)") else "baseline"


def parse_model(name):
    """Split a model name into ``(is_meta, family, init)``, e.g. ``(True, "gnmf", "nndsvd")``."""
    name = check_choice(name, ALL_MODELS, name="model")
    meta = model_kind(name) == "meta"
    stem = (name[5:] if meta else name).split(" (")[0]
    family = "gnmf" if stem.startswith("GNMF") else "nmf"
    init = "nndsvd" if stem.endswith("NNDSVD") else "random"
    return meta, family, init


#: What each Meta model's references are, in the order of (thesis baseline,) + its
#: :data:`~metanmf_lab.grid.FAIR_BASELINES`.
REFERENCE_KINDS = ("thesis baseline", "equal compute", "equal compute, other init",
                   "warm start")


def reference_kind(reference, model):
    """Which of :data:`REFERENCE_KINDS` ``reference`` is for the Meta model ``model``."""
    refs = (dict((m, b) for b, m in PAIRS)[model],) + tuple(FAIR_BASELINES[model])
    return REFERENCE_KINDS[refs.index(reference)]
