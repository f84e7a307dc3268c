"""MLAM: meta-learned alternating minimisation (Xia et al. 2023), and its NMF version.

An alternating-minimisation (AM) method splits ``min F(X, W)`` into two sub-problems and
solves them in turn with a fixed rule (gradient steps, or an exact solve). MLAM keeps the
alternating structure but lets a learned optimiser take the steps: one coordinate-wise LSTM
per variable block maps the gradient of the block's sub-problem to an additive step (seed
eqs. 8-9), with its parameters frozen inside an inner loop of ``t_in`` steps. Every ``t_out``
outer iterations the LSTMs are updated by Adam on the *accumulated global loss* of those
iterations (eq. 10-11), back-propagated through the steps that produced them; across a set of
training problems this is the source's upper level (its Algorithm 1 and Fig. 1).

* :class:`CoordinateLSTM` -- one two-layer LSTM applied to every coordinate of a block
  separately (the same weights for all, a state per coordinate: Andrychowicz et al., 2016, the
  learned-optimiser design the source builds on). Its input is the gradient preprocessed to
  ``(log|g| / p, sign g)`` (the same paper's scale-free preprocessing; ``p = 10``), its output
  a step scaled by ``out_scale``.
* Problems, batched over independent instances (the leading dimension), each with a
  per-instance global loss ``F``, its blocks and their projection:
  :class:`CompletionProblems` (Xia et al. 2023, eq. 13: ``1/2 ||P_Omega(R - U V^T)||^2 +
  lam/2 (||U||^2 + ||V||^2)``), :class:`GMMProblems` (Xia et al. 2023, eq. 17, the mean negative
  log-likelihood per point with the covariances fixed; the mixing weights are a softmax of
  free logits, our choice: the source adds steps to the weights directly and says nothing of
  keeping them on the simplex) and :class:`NMFProblems` (``1/2 ||X - W H||^2 / ||X||^2``,
  the blocks projected onto the non-negative orthant after every step: the NMF version).
* :class:`MLAM` -- the two (or more) LSTMs, :meth:`MLAM.run` (Algorithm 1 on a batch of
  problems, with or without meta-updates) and :meth:`MLAM.fit` (the upper level over a set
  of training problems).
* Baselines with the same problems and starts: :func:`alternating_gd` (fixed-step gradient
  descent on each sub-problem, ``t_in`` steps per block and outer iteration: the source's
  "SGD" without the sampling), :func:`als_completion` (exact ridge solve of each
  sub-problem) and :func:`em_gmm` (EM with the covariances fixed).

Two readings of the source that are ours and said here: the gradient fed to an LSTM is treated
as a constant when back-propagating the global loss (the first-order simplification of
Andrychowicz et al.; the source does not say), and each inner loop starts from the block's
current value (``inner_start="previous"``); the source's text says inner loops start "from a
random initialization", which :meth:`MLAM.run` offers as ``inner_start="random"``.

Orientation: ``R ~ U V^T`` for completion (seed); for NMF ``X ~ W H`` with X samples x
features, as everywhere in this package.

The PyTorch part (the classes and functions above, and the cells of :func:`mlam_cell`) is in
:mod:`metanmf_lab.related._mlam_torch`, imported only to compute results: the names above are
available here, and reading the store, summaries and comparisons need no PyTorch.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from .._optional import computing, lazy_torch_names, require_torch
from ..grid.spine import SettingsBase, provenance, run_missing
from ..grid.stats import (holm, mean_interval, signed_rank_direction, signed_rank_p,
                          significant_sign)
from ..grid.store import MLAMStore

#: Version of this module's numerical method; part of the key of every stored row.
MLAM_VERSION = "1"

#: The PyTorch part (optimiser, problems, MLAM, baselines, cells), in
#: :mod:`metanmf_lab.related._mlam_torch`: this module's names for it are resolved on first use, so
#: reading the store needs no PyTorch.
_TORCH_NAMES = ("CompletionProblems", "CoordinateLSTM", "GMMProblems", "INNER_STARTS",
                "LOSS_POINTS", "MLAM", "NMFProblems", "START_OFFSETS", "als_completion",
                "alternating_gd", "em_gmm", "torch_generator")


__getattr__, __dir__ = lazy_torch_names(__name__, _TORCH_NAMES, "._mlam_torch")


# -- synthetic problems ---------------------------------------------------------------------------


def completion_problems(n_problems, size=100, rank=5, rate=0.2, seed=0, dtype=np.float64):
    """Synthetic completion problems as in the source's Sec. V-A: ``R = U* V*^T`` (size x size,
    rank ``rank``, factor entries N(0, rank^-1/2) so R's entries have unit variance), each
    entry observed with probability ``rate``. Returns ``(R, mask)``, (n_problems, size,
    size) each."""
    if not 0 < rate <= 1:
        raise ValueError(f"rate must lie in (0, 1], got {rate}.")
    if not 1 <= rank <= size:
        raise ValueError(f"rank must lie in [1, size={size}], got {rank}.")
    rng = np.random.default_rng(seed)
    s = rank ** -0.25
    U = s * rng.standard_normal((n_problems, size, rank))
    V = s * rng.standard_normal((n_problems, size, rank))
    R = U @ V.transpose(0, 2, 1)
    mask = rng.random(R.shape) < rate
    return R.astype(dtype), mask.astype(dtype)


def gmm_problems(n_problems, n_points=500, K=4, dim=2, spread=2.0, seed=0, dtype=np.float64):
    """Synthetic GMM problems (Xia et al. 2023, Sec. V-B): ``K`` components with identity
    covariances, means N(0, spread^2 I), equal weights, ``n_points`` points. Returns X (n_problems,
    n_points, dim)."""
    rng = np.random.default_rng(seed)
    means = spread * rng.standard_normal((n_problems, K, dim))
    labels = rng.integers(K, size=(n_problems, n_points))
    X = np.take_along_axis(means, labels[..., None], axis=1)
    return (X + rng.standard_normal(X.shape)).astype(dtype)


@dataclass(frozen=True)
class MLAMSettings(SettingsBase):
    """Everything that defines an MLAM result besides the experiment's setting and seed.

    Xia et al. 2023, Sec. V: T = ``n_outer`` = 100 outer iterations, ``t_in`` = ``t_out`` =
    10, Adam, two LSTM layers. Ours differ where a 2-core CPU budget asks: LSTM layers of
    ``hidden`` = 10 units (source: 500), two passes (``n_epochs``) over the training
    problems in batches of ``batch`` (the source gives neither), and an Adam rate ``lr`` of
    3e-3 (source: 1e-3), which with so few updates trained better in a trial on rank-5
    completion (test RMSE 0.36 against 0.48 at 1e-3 with 20 units). ``lam`` weighs eq. (13)'s
    regulariser (not given in the source). GD's step size is the value of ``gd_lrs`` with the
    lowest final global loss on the training problems (no ground truth used); "ALS (tuned
    ridge)" takes the ridge weight of ``als_lams`` with the best RMSE on the training
    problems (their ground truth used, as the source's "carefully adjusted" baselines). GMM:
    ``gmm_k`` components, ``gmm_points`` points, means N(0, ``gmm_spread``^2 I), EM stopped
    when the mean negative log-likelihood changes by less than ``em_tol`` (source: 1e-4). NMF:
    MLAM is trained on ``nmf_rows``-sample sub-matrices of the learning half for
    ``nmf_train_outer`` outer iterations each, then run on the evaluation half for 100. The
    source's values are in ``data/published/xia2023_settings.csv``;
    ``tests/test_published.py`` says which fields follow them and which depart.
    """

    hidden: int = 10
    n_layers: int = 2
    out_scale: float = 0.1
    n_outer: int = 100
    t_in: int = 10
    t_out: int = 10
    lr: float = 3e-3
    n_epochs: int = 2
    batch: int = 10
    n_train: int = 100
    n_test: int = 100
    lam: float = 0.01
    gd_lrs: tuple = (1e-3, 3e-3, 1e-2, 3e-2, 1e-1)
    als_lams: tuple = (0.01, 0.1, 1.0, 10.0)
    inner_start: str = "previous"
    gmm_k: int = 4
    gmm_points: int = 500
    gmm_spread: float = 2.0
    em_tol: float = 1e-4
    nmf_rows: int = 100
    nmf_train_outer: int = 20

    VERSION, VERSION_TAG = MLAM_VERSION, "mlam"


# -- the experiments ------------------------------------------------------------------------------

#: Experiments of :func:`mlam_cell` and the parameters of their settings.
EXPERIMENTS = {"completion": ("rate", "rank", "p"), "gmm": ("dim",),
               "nmf": ("dataset", "rank", "train_batch")}

#: NMF: numbers of block updates at which MLAM (t_in per outer iteration) and MU are compared.
NMF_UPDATES = (10, 100, 1000)


def setting_key(experiment, **params):
    """The canonical text of one experiment setting, e.g. ``"p=5,rank=5,rate=0.2"``."""
    if experiment not in EXPERIMENTS:
        raise ValueError(f"Unknown MLAM experiment {experiment!r}; choose from "
                         f"{sorted(EXPERIMENTS)}.")
    need = set(EXPERIMENTS[experiment]) | {"n_train", "n_test"}
    if set(params) != need:
        raise ValueError(f"A {experiment} setting needs exactly {sorted(need)}, got "
                         f"{sorted(params)}.")
    return ",".join(f"{k}={params[k]}" for k in sorted(params))


def parse_setting(text):
    """Inverse of :func:`setting_key` (numbers as int or float, names as text)."""
    out = {}
    for part in text.split(","):
        k, v = part.split("=")
        try:
            out[k] = int(v)
        except ValueError:
            try:
                out[k] = float(v)
            except ValueError:
                out[k] = v
    return out


def mlam_cell(experiment, params, seed, settings=None, thesis_settings=None):
    """Rows of one experiment setting and seed: MLAM trained on ``params["n_train"]``
    problems, then MLAM and the baselines on ``params["n_test"]`` test problems from the
    same starts (``problem`` indexes the test problems; NMF has one, the evaluation half).
    The test problems are drawn here (:func:`completion_problems`, :func:`gmm_problems`), the
    rest runs in :mod:`metanmf_lab.related._mlam_torch`."""
    settings = MLAMSettings() if settings is None else settings
    key = setting_key(experiment, **params)
    base = {"experiment": experiment, "setting": key, "seed": int(seed),
            "settings_hash": settings.hash, "algorithm_version": MLAM_VERSION}
    require_torch(f"Computing the MLAM cell {experiment} {key} seed {seed}")
    # lazy: PyTorch is a heavy optional dependency (requirements-torch.txt)
    from ._mlam_torch import completion_cell, gmm_cell, nmf_cell, torch_threads

    n = params["n_train"] + params["n_test"]
    with torch_threads(1):
        if experiment == "completion":
            R, mask = completion_problems(n, rank=params["rank"], rate=params["rate"], seed=seed)
            rows = completion_cell(R, mask, params, seed, settings, base)
        elif experiment == "gmm":
            X = gmm_problems(n, dim=params["dim"], K=settings.gmm_k,
                             n_points=settings.gmm_points, spread=settings.gmm_spread,
                             seed=seed)
            rows = gmm_cell(X, params, seed, settings, base)
        else:
            rows = nmf_cell(params, seed, settings, base, NMF_UPDATES, thesis_settings)
    extra = {"settings": settings.to_json(), **provenance(torch=True)}
    return [dict(r, **extra) for r in rows]


def run_mlam(cells, settings=None, store=None, progress=False, thesis_settings=None):
    """Every ``(experiment, params, seed)`` of ``cells`` not yet in ``store`` (default
    ``data/results/mlam.csv``; False: keep nothing) is computed whole and added. Returns the
    rows of the given cells (with the parsed setting columns)."""
    settings = MLAMSettings() if settings is None else settings
    if store is not False and not isinstance(store, MLAMStore):
        store = MLAMStore(store)
    cells = list(cells)

    def key(cell):
        experiment, params, seed = cell
        return experiment, setting_key(experiment, **params), int(seed)

    wanted = {key(c) for c in cells}
    have = set()
    if store is not False:
        df = store.load()
        ok = (df.settings_hash == settings.hash) & (df.algorithm_version == MLAM_VERSION)
        have = set(zip(df.experiment[ok], df.setting[ok], df.seed[ok].astype(int)))
    rows = run_missing(
        cells, lambda c: mlam_cell(*c, settings, thesis_settings),
        None if store is False else store, key=key, have=have,
        check=lambda todo: require_torch(computing(len(todo), "cell", store)),
        progress=progress, desc="MLAM cells", unit="cell", flush_every=1)
    df = pd.DataFrame(rows) if store is False else store.load()
    df = df[(df.settings_hash == settings.hash) & (df.algorithm_version == MLAM_VERSION)]
    df = df[[k in wanted for k in zip(df.experiment, df.setting, df.seed.astype(int))]].copy()
    for c in ("seed", "problem", "t"):
        df[c] = df[c].astype(int)
    df["value"] = df["value"].astype(float)
    return df.reset_index(drop=True)


#: Ranks (Table II) and factor dimensions of a rank-10 matrix (Table III) of the full profile,
#: the source's. MLAM's cost grows with the number of coordinates (p times the two dimensions):
#: the training at rank or p = 100 takes about half an hour on one core.
BIG_RANKS = (10, 20, 40, 80, 100)
BIG_PS = (20, 40, 80, 100)

#: The image datasets of the NMF version.
NMF_DATASETS = ("digits", "fmnist", "faces", "coil20")


# -- reporting -----------------------------------------------------------------------------------


def with_parameters(rows):
    """``rows`` with one column per parameter of their settings (``rate``, ``rank``, ...)."""

    params = pd.DataFrame([parse_setting(s) for s in rows["setting"]], index=rows.index)
    return pd.concat([rows, params.drop(columns=[c for c in params if c in rows])], axis=1)


def summary(rows, measure, by):
    """Mean of ``measure`` per ``by`` (parameter column(s)) and method, with the Student-t
    95% interval over test problems (and seeds): columns ``mean``, ``low``, ``high``, ``n``."""


    by = [by] if isinstance(by, str) else list(by)
    df = with_parameters(rows[rows.measure == measure])
    if measure in ("rmse", "nll"):  # final values only
        df = df[df.t == df.t.max()]
    out = []
    for key, g in df.groupby(by + ["method"], sort=True):
        m, lo, hi = mean_interval(g["value"].to_numpy())
        out.append(dict(zip(by + ["method"], key), mean=m, low=lo, high=hi, n=len(g)))
    return pd.DataFrame(out)


def comparisons(rows, measure, by, reference="MLAM", lower_is_better=True):
    """MLAM against every other method per ``by`` value, paired over (seed, test problem):
    the mean difference MLAM minus method with its 95% interval, Wilcoxon's signed-rank
    p-value (``p_value``; not ``p``, which is a parameter of the completion experiments),
    Holm-adjusted over the table (``p_holm``), and the verdict from MLAM's side ("better" /
    "worse" only where the test is significant and the mean difference and the test point the
    same way, :func:`metanmf_lab.grid.stats.significant_sign`; else "undecided")."""


    by = [by] if isinstance(by, str) else list(by)
    df = with_parameters(rows[rows.measure == measure])
    df = df[df.t == df.t.max()] if measure in ("rmse", "nll") else df
    out = []
    for key, g in df.groupby(by + ["t"], sort=True):
        key = key if isinstance(key, tuple) else (key,)
        wide = g.pivot_table(index=["seed", "problem"], columns="method", values="value")
        if reference not in wide:
            continue
        for other in [m for m in wide.columns if m != reference]:
            d = (wide[reference] - wide[other]).dropna()
            m, lo, hi = mean_interval(d.to_numpy())
            out.append(dict(zip(by + ["t"], key), method=other, n=len(d), difference=m,
                            low=lo, high=hi, p_value=signed_rank_p(d.to_numpy()),
                            direction=signed_rank_direction(d.to_numpy())))
    res = pd.DataFrame(out)
    if res.empty:
        return res
    res["p_holm"] = holm(res["p_value"].to_numpy())
    sign = -1 if lower_is_better else 1
    verdict = {sign: "better", -sign: "worse", 0: "undecided"}
    res["verdict"] = [verdict[significant_sign(r.p_holm, r.difference, r.direction)]
                      for r in res.itertuples()]
    return res


def identifiable_rank(n, m, rate):
    """The largest rank k whose n x m matrices have no more degrees of freedom, k (n + m - k),
    than the expected number of observed entries, ``rate * n * m``: a necessary condition
    for recovering a generic rank-k matrix from its observed entries (no method can do with
    fewer observations than unknowns)."""
    if not 0 < rate <= 1:
        raise ValueError(f"rate must lie in (0, 1], got {rate}.")
    n, m = int(n), int(m)
    budget = rate * n * m
    return max((k for k in range(0, min(n, m) + 1) if k * (n + m - k) <= budget), default=0)
