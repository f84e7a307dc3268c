"""The two experimental protocols -- the thesis text and the authors' public code -- as data.

Each difference between the thesis (Khan 2025, Algorithm 1 and Sec. 4.2) and the authors'
code is one field of :class:`Protocol`, and so is every value the two share that an
experiment may vary (the GNMF graph and weight, the stopping tolerance), so that a
:class:`Protocol` holds every protocol value and the book can switch them one at a time.
``get_protocol("thesis")`` and ``get_protocol("authors")`` give the two presets; keyword
overrides give any mixture, named after its departures from the preset::

    get_protocol("thesis", transfer="running_sum")   # "thesis+transfer=running_sum"

This module is the one place a preset name becomes a :class:`Protocol`: the estimators and
:func:`metanmf_lab.core.splits.make_tasks` accept either and call :func:`get_protocol`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace

from .._validation import check_choice, check_int, check_real

#: The graph weight lambda of each GNMF variant: Cai et al.'s (cited by the thesis) and the
#: authors' code's. Switching ``gnmf`` switches to the variant's lambda unless one is given.
GNMF_LAM = {"cai": 100.0, "authors": 0.3}


@dataclass(frozen=True)
class Protocol:
    """Every protocol value: the choices on which the thesis text and the authors' code
    differ, and the parameters of the GNMF variants and of the authors' code's stopping
    rule."""

    name: str
    task_size: int
    """Samples per meta-task (thesis Table 4.2: 50; the authors' code overrides its own
    argument of 50 with 100)."""
    disjoint_tasks: bool
    """Meta-tasks are disjoint slices of the learning set (thesis) or drawn independently
    of one another, so they overlap (authors' code)."""
    target: str
    """``"rest"``: the learning set minus the meta-tasks (thesis); ``"all"``: the whole
    learning set (authors' code)."""
    transfer: str
    """``"average"``: W_t is started from W_t + mean of this epoch's task bases (thesis eq.
    3.4); ``"running_sum"``: the sum of task bases is never reset between epochs (authors'
    code)."""
    target_start: str
    """Initial W_t: ``"init"``, the base model's initialisation (U(0, 1), thesis Algorithm 1
    line 1; NNDSVD for NNDSVD bases), or ``"zero"`` (authors' code)."""
    normalize_calls: bool
    """Every call of an NMF base max-normalises its basis at the end (authors' code)."""
    nndsvd_override: bool
    """An NMF base with NNDSVD init restarts from NNDSVD on every call, discarding the
    transferred basis (authors' code)."""
    baseline_stopping: str
    """Baseline NMF: ``"fixed"``, exactly the iteration budget (thesis Sec. 4.2), or
    ``"factors"``, stop when both factor changes fall below :attr:`stopping_tol`
    (authors' code)."""
    gnmf: str
    """``"cai"``: Cai et al.'s GNMF (Frobenius, kNN graph of :attr:`n_neighbors` neighbours
    weighted by :attr:`graph_weight`), which the thesis cites; ``"authors"``: the code's
    KL GNMF with a dense RBF graph (width :attr:`rbf_sigma`) and split-gradient updates."""
    gnmf_lam: float
    """The GNMF graph weight lambda (:data:`GNMF_LAM`: 100 Cai et al., 0.3 the code)."""
    rbf_sigma: float
    """Width sigma of the dense RBF graph of the authors' GNMF (the code: 0.5)."""
    n_neighbors: int
    """Neighbours p of Cai et al.'s kNN graph (Cai et al.: 5)."""
    graph_weight: str
    """Edge weights of Cai et al.'s kNN graph: ``"binary"`` (0-1, Cai et al.) or ``"heat"``."""
    stopping_tol: float
    """Tolerance of the ``"factors"`` stopping rule of the baselines (the code: 1e-3)."""

    def __post_init__(self):
        check_int(self.task_size, name="task_size", low=1)
        for name in ("disjoint_tasks", "normalize_calls", "nndsvd_override"):
            if not isinstance(getattr(self, name), bool):
                raise TypeError(f"Protocol.{name} must be True or False, got "
                                f"{getattr(self, name)!r}.")
        choices = {"target": ("rest", "all"), "transfer": ("average", "running_sum"),
                   "target_start": ("init", "zero"), "baseline_stopping": ("fixed", "factors"),
                   "gnmf": tuple(GNMF_LAM), "graph_weight": ("binary", "heat")}
        for name, allowed in choices.items():
            object.__setattr__(self, name, check_choice(getattr(self, name), allowed,
                                                        name=name))
        object.__setattr__(self, "gnmf_lam", check_real(self.gnmf_lam, name="gnmf_lam", low=0))
        object.__setattr__(self, "rbf_sigma", check_real(self.rbf_sigma, name="rbf_sigma",
                                                         low=0, low_inclusive=False))
        object.__setattr__(self, "n_neighbors", check_int(self.n_neighbors,
                                                          name="n_neighbors", low=1))
        object.__setattr__(self, "stopping_tol", check_real(self.stopping_tol,
                                                            name="stopping_tol", low=0))
        if self.disjoint_tasks is False and self.target == "rest":
            raise ValueError("target='rest' needs disjoint meta-tasks (the rest of what?).")

    def as_dict(self):
        return asdict(self)


THESIS = Protocol(name="thesis", task_size=50, disjoint_tasks=True, target="rest",
                  transfer="average", target_start="init", normalize_calls=False,
                  nndsvd_override=False, baseline_stopping="fixed", gnmf="cai",
                  gnmf_lam=GNMF_LAM["cai"], rbf_sigma=0.5, n_neighbors=5,
                  graph_weight="binary", stopping_tol=1e-3)

AUTHORS = Protocol(name="authors", task_size=100, disjoint_tasks=False, target="all",
                   transfer="running_sum", target_start="zero", normalize_calls=True,
                   nndsvd_override=True, baseline_stopping="factors", gnmf="authors",
                   gnmf_lam=GNMF_LAM["authors"], rbf_sigma=0.5, n_neighbors=5,
                   graph_weight="binary", stopping_tol=1e-3)

PRESETS = {"thesis": THESIS, "authors": AUTHORS}
PROTOCOLS = tuple(PRESETS)
FIELDS = tuple(f.name for f in fields(Protocol) if f.name != "name")


def _text(value):
    """A field value as a protocol name writes it: a whole float as an integer (``1.0`` ->
    ``1``), other values as ``str`` (exact for floats: their shortest round-trip form)."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _name(protocol, preset):
    """The canonical name of ``protocol``: its preset's name and each field where it departs
    from the preset, sorted, as ``+field=value`` (with ``gnmf_lam`` whenever ``gnmf``
    departs, so that the name alone gives the protocol back)."""
    changed = {f: getattr(protocol, f) for f in FIELDS
               if getattr(protocol, f) != getattr(preset, f)}
    if "gnmf" in changed:
        changed["gnmf_lam"] = protocol.gnmf_lam
    return preset.name + "".join(f"+{k}={_text(v)}" for k, v in sorted(changed.items()))


def get_protocol(protocol="thesis", **overrides):
    """A :class:`Protocol` from a preset name (or a Protocol), with fields overridden.

    Overriding ``gnmf`` alone also sets ``gnmf_lam`` to the variant's (:data:`GNMF_LAM`).
    The name of the result records every departure from the preset in one canonical form,
    e.g. ``"thesis+transfer=running_sum"``, ``"thesis+gnmf_lam=1"`` (fields sorted; a whole
    number without ``.0``), so two protocols with the same values have the same name and
    ``get_protocol(preset, **fields_of_the_name)`` gives the protocol back.
    """
    if isinstance(protocol, Protocol):
        base = protocol
    elif isinstance(protocol, str):
        base = PRESETS[check_choice(protocol, PROTOCOLS, name="protocol")]
    else:
        raise TypeError(f"protocol must be a preset name ({', '.join(map(repr, PROTOCOLS))}) "
                        f"or a Protocol, got {protocol!r}.")
    unknown = set(overrides) - set(FIELDS)
    if unknown:
        raise ValueError(f"Unknown protocol field(s) {sorted(unknown)}; the fields are "
                         f"{', '.join(FIELDS)}.")
    if "gnmf" in overrides and "gnmf_lam" not in overrides:
        variant = check_choice(overrides["gnmf"], tuple(GNMF_LAM), name="gnmf")
        if variant != base.gnmf:
            overrides = {**overrides, "gnmf_lam": GNMF_LAM[variant]}
    changed = {k: v for k, v in overrides.items() if getattr(base, k) != v}
    if not changed:
        return base
    new = replace(base, **changed)
    preset = PRESETS.get(base.name.split("+")[0])
    if preset is None:  # a Protocol of the reader's own: named after its own departures
        return replace(new, name=base.name + "".join(
            f"+{k}={_text(getattr(new, k))}" for k in sorted(changed)))
    return replace(new, name=_name(new, preset))
