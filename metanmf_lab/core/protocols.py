"""The two experimental protocols -- the thesis text and the authors' public code -- as data.

Each difference between the thesis (Khan 2025, Algorithm 1 and Sec. 4.2) and the authors'
reference implementation is one field of :class:`Protocol`, so that the book can switch
them one at a time and measure what each does. ``get_protocol("thesis")`` and
``get_protocol("reference")`` give the two presets; keyword overrides give any mixture::

    get_protocol("thesis", transfer="running_sum")   # the thesis, but never reset the sum
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace

from .._validation import check_choice, check_int


@dataclass(frozen=True)
class Protocol:
    """Every protocol choice on which the thesis text and the reference code differ."""

    name: str
    task_size: int
    """Samples per meta-task (thesis Table 4.2: 50; the reference code overrides its own
    argument of 50 with 100)."""
    disjoint_tasks: bool
    """Meta-tasks are disjoint slices of the learning set (thesis) or drawn independently
    of one another, so they overlap (reference)."""
    target: str
    """``"rest"``: the learning set minus the meta-tasks (thesis); ``"all"``: the whole
    learning set (reference)."""
    transfer: str
    """``"average"``: W_t is started from W_t + mean of this epoch's task bases (thesis eq.
    3.4); ``"running_sum"``: the sum of task bases is never reset between epochs (reference)."""
    target_start: str
    """Initial W_t: ``"init"``, the base model's initialisation (U(0, 1), thesis Algorithm 1
    line 1; NNDSVD for NNDSVD bases), or ``"zero"`` (reference)."""
    normalize_calls: bool
    """Every call of an NMF base max-normalises its basis at the end (reference)."""
    nndsvd_override: bool
    """An NMF base with NNDSVD init restarts from NNDSVD on every call, discarding the
    transferred basis (reference)."""
    baseline_stopping: str
    """Baseline NMF: ``"fixed"``, exactly the iteration budget (thesis Sec. 4.2), or
    ``"factors"``, stop when both factor changes fall below 1e-3 (reference)."""
    gnmf: str
    """``"cai"``: Cai et al.'s GNMF (Frobenius, kNN graph p = 5, 0-1 weights, lambda = 100),
    which the thesis cites; ``"reference"``: the code's KL GNMF with a dense RBF graph
    (sigma = 0.5, lambda = 0.3) and split-gradient updates."""

    def __post_init__(self):
        check_int(self.task_size, name="task_size", low=1)
        for name in ("disjoint_tasks", "normalize_calls", "nndsvd_override"):
            if not isinstance(getattr(self, name), bool):
                raise TypeError(f"Protocol.{name} must be True or False, got "
                                f"{getattr(self, name)!r}.")
        check_choice(self.target, ("rest", "all"), name="target")
        check_choice(self.transfer, ("average", "running_sum"), name="transfer")
        check_choice(self.target_start, ("init", "zero"), name="target_start")
        check_choice(self.baseline_stopping, ("fixed", "factors"), name="baseline_stopping")
        check_choice(self.gnmf, ("cai", "reference"), name="gnmf")
        if self.disjoint_tasks is False and self.target == "rest":
            raise ValueError("target='rest' needs disjoint meta-tasks (the rest of what?).")

    def as_dict(self):
        return asdict(self)


THESIS = Protocol(name="thesis", task_size=50, disjoint_tasks=True, target="rest",
                  transfer="average", target_start="init", normalize_calls=False,
                  nndsvd_override=False, baseline_stopping="fixed", gnmf="cai")

REFERENCE = Protocol(name="reference", task_size=100, disjoint_tasks=False, target="all",
                     transfer="running_sum", target_start="zero", normalize_calls=True,
                     nndsvd_override=True, baseline_stopping="factors", gnmf="reference")

PRESETS = {"thesis": THESIS, "reference": REFERENCE}
PROTOCOLS = tuple(PRESETS)
FIELDS = tuple(f.name for f in fields(Protocol) if f.name != "name")


def get_protocol(protocol="thesis", **overrides):
    """A :class:`Protocol` from a preset name (or a Protocol), with fields overridden.

    The name of an overridden protocol records the overrides, e.g.
    ``"thesis+transfer=running_sum"``.
    """
    if isinstance(protocol, Protocol):
        base = protocol
    else:
        base = PRESETS[check_choice(protocol, PROTOCOLS, name="protocol")]
    unknown = set(overrides) - set(FIELDS)
    if unknown:
        raise ValueError(f"Unknown protocol field(s) {sorted(unknown)}; the fields are "
                         f"{', '.join(FIELDS)}.")
    changed = {k: v for k, v in overrides.items() if getattr(base, k) != v}
    if not changed:
        return base
    name = base.name + "".join(f"+{k}={v}" for k, v in sorted(changed.items()))
    return replace(base, name=name, **changed)
