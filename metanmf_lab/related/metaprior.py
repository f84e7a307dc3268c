"""Meta-learned priors for matrix factorisation (Iwata 2021), and their NMF version.

A network reads a matrix with missing entries ``X`` (N x M) and its indicator ``B`` and returns
prior means ``U0`` (N x K) and ``V0`` (M x K) of its factors; the factors are then adapted to
the observed entries by ``T`` unrolled steps, and the whole chain is trained, across many
small matrices, to minimise the error on held-out entries. The models are PyTorch, on the CPU,
in :mod:`metanmf_lab.related._metaprior_torch` (imported only to compute results: reading the
stores needs no PyTorch; the names below are available here). Orientation: ``X ~ U V^T`` as in
the source (rows of X are, e.g., users; for the NMF version on images a row is a sample, so ``U``
plays our ``W`` and ``V^T`` our ``H``).

* :class:`ExchangeableLayer` -- Iwata 2021 eq. (4): each element's new representation mixes, per
  channel, the element itself, the mean of its column, the mean of its row and the mean of the
  matrix (observed entries only), plus a bias. Permuting the rows or the columns of the input
  permutes the output the same way (equivariance).
* :class:`PriorNet` -- Iwata 2021 eq. (5): exchangeable layers, then the mean of the element
  representations over each row (for ``U0``) and over each column (for ``V0``), each through a
  feed-forward network. Permuting rows permutes the rows of ``U0`` and leaves ``V0``
  unchanged (invariance), and vice versa.
* :func:`gd_steps` -- Iwata 2021 eqs. (6)-(7): MAP gradient steps on
  ``||B * (X - U V^T)||^2 + lam (||U - U0||^2 + ||V - V0||^2)`` (both factors from the same
  iterate, as written).
* :func:`mu_steps` -- the NMF version: multiplicative steps on the same objective with
  non-negative ``X``, ``U0``, ``V0`` (the prior means then come out of a softplus)::

      U <- U * ((B*X) V + lam U0) / ((B*(U V^T)) V + lam U)
      V <- V * ((B*X)^T U + lam V0) / ((B*(U V^T))^T U + lam V)

  (each the ratio of the negative and positive parts of the gradient; U is updated first and
  V uses the new U, the alternating order of Lee & Seung). It keeps the factors non-negative
  and never increases that objective.
* :class:`MetaPriorMF` -- the model: a :class:`PriorNet` and ``T`` steps of either kind, with
  a learnable ``lam`` (kept positive through its logarithm).
* :func:`meta_train` -- Iwata 2021 Algorithm 2: episodes of random N x M sub-matrices of the
  meta-training matrices, their observed entries split into training and test entries with
  ratio R, Adam on the test error, early stopping on validation episodes.
"""

from __future__ import annotations

import json
import time
import warnings
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
from sklearn.exceptions import ConvergenceWarning

from .._optional import computing, lazy_torch_names, require_torch
from ..core import NMF, initialize
from ..core.evaluation import cluster_nmi
from ..core.splits import TaskSplitWarning
from ..data.datasets import load_movielens
from ..grid import stats
from ..grid.cells import Settings
from ..grid.models import load_cell_data, make_model
from ..grid.spine import SettingsBase, canonical_json, provenance, run_missing
from ..grid.store import ML100KStore, NMFPriorStore, settings_hash

#: The PyTorch part (models, steps, training), in :mod:`metanmf_lab.related._metaprior_torch`: this
#: module's names for it are resolved on first use, so reading the stores needs no PyTorch.
_TORCH_NAMES = ("EPS", "Episodes", "ExchangeableLayer", "MetaPriorMF", "PriorNet", "STEPS",
                "evaluate", "gd_steps", "linear", "masked_mse", "meta_train", "mu_steps",
                "torch_generator", "torch_threads")


__getattr__, __dir__ = lazy_torch_names(__name__, _TORCH_NAMES, "._metaprior_torch")


# -- the source's MovieLens 100K protocol ---------------------------------------------------------


def standardized_ratings(ratings):
    """MovieLens ratings (``load_movielens`` dict) as a dense users x items matrix, NaN where
    unrated, standardised to zero mean and unit variance over all ratings (Iwata 2021 Sec. 4.1)."""
    u, i = ratings["user"] - 1, ratings["item"] - 1
    y = ratings["rating"].astype(np.float64)
    A = np.full((int(u.max()) + 1, int(i.max()) + 1), np.nan)
    A[u, i] = (y - y.mean()) / y.std()
    return A


def split_users_items(A, random_state, fractions=(0.7, 0.1, 0.2)):
    """Meta-training, validation and meta-test matrices: the users and the items are each
    split at random in ``fractions``, and each part keeps only its own users' ratings of its
    own items, so the parts have no user and no item in common (Iwata 2021 Sec. 4.1)."""
    rng = np.random.default_rng(random_state)
    parts = []
    for size in A.shape:
        perm = rng.permutation(size)
        cuts = np.cumsum([int(round(f * size)) for f in fractions[:-1]])
        parts.append(np.split(perm, cuts))
    return [A[np.ix_(r, c)] for r, c in zip(*parts)]


def meta_test_matrices(A, n_matrices, random_state, n_rows=30, n_cols=30, held_out=0.5):
    """``n_matrices`` random ``n_rows x n_cols`` sub-matrices of ``A``, each with a fraction
    ``held_out`` of its ratings hidden for evaluation; a draw with fewer than two ratings is
    redrawn. Returns a list of ``(X, B, X_test, B_test)`` float arrays."""
    rng = np.random.default_rng(random_state)
    out = []
    while len(out) < n_matrices:
        sub = A[np.ix_(rng.choice(A.shape[0], n_rows, replace=False),
                       rng.choice(A.shape[1], n_cols, replace=False))]
        obs = ~np.isnan(sub)
        if obs.sum() < 2:
            continue
        idx = np.flatnonzero(obs)
        test = np.zeros(sub.size, bool)
        test[rng.choice(idx, int(round(held_out * idx.size)), replace=False)] = True
        test = test.reshape(sub.shape)
        train = obs & ~test
        filled = np.where(obs, sub, 0.0)
        out.append((np.where(train, filled, 0.0), train.astype(float),
                    np.where(test, filled, 0.0), test.astype(float)))
    return out


def mean_prediction(X, B):
    """The "Mean" baseline: every entry predicted by the mean of the observed ratings."""
    return np.full(X.shape, X[B > 0].mean())


def mf_prediction(X, B, rank=32, reg=1.0, n_iter=30, random_state=0):
    """The "MF" baseline: ``min sum_obs (u_n . v_m - x_nm)^2 + reg (||U||^2 + ||V||^2)`` on
    the observed entries of this one matrix, by alternating least squares from a small
    random start (rows without observations get zero factors).

    The penalty is that of ``2 reg ||U V^T||_*`` (nuclear norm), so ``U V^T = 0`` is the
    best fit once ``reg`` reaches the largest singular value of ``X`` (observed entries, 0
    elsewhere): from there on MF predicts 0 -- for standardised ratings, their mean -- for
    every entry."""
    rng = np.random.default_rng(random_state)
    N, M = X.shape
    U = 0.1 * rng.standard_normal((N, rank))
    V = 0.1 * rng.standard_normal((M, rank))
    eye = reg * np.eye(rank)
    for _ in range(n_iter):
        for A_, Bm, Xm, F, G in ((U, B, X, U, V), (V, B.T, X.T, V, U)):
            for n in range(A_.shape[0]):
                o = Bm[n] > 0
                F[n] = np.linalg.solve(G[o].T @ G[o] + eye, G[o].T @ Xm[n, o])
    return U @ V.T


def matrix_mse(pred, X_test, B_test):
    """MSE of ``pred`` over the held-out entries of one matrix."""
    return float(((pred - X_test) ** 2 * B_test).sum() / B_test.sum())


#: Version of this module's numerical method; part of the key of every stored row.
METAPRIOR_VERSION = "1"

#: MF's ridge weights, among which validation chooses: 0.1 to 1,000, eight per decade (three
#: significant digits). From the largest singular value of a matrix's observed ratings on
#: (a few units for the sparse 30 x 30 meta-test matrices) every weight gives MF's zero fit
#: (:func:`mf_prediction`), where a coarser grid, (0.1, 1, 10), left validation nothing
#: better in any split; this one is fine below that point and reaches well past it.
MF_REGS = tuple(float(f"{10 ** (k / 8):.3g}") for k in range(-8, 25))

#: A prediction whose largest entry is below this (in standard deviations of the ratings) is
#: MF's zero fit.
ZERO_FIT = 1e-8


@dataclass(frozen=True)
class TrainingSettings(SettingsBase):
    """What the prior network and its meta-training share in both experiments (Iwata 2021 Sec. 4.2:
    three exchangeable layers of 32 channels, four-layer heads of 32 units, dropout 0.1,
    T = 10 steps, batches of 16 episodes with half of their entries held out)."""

    VERSION, VERSION_TAG = METAPRIOR_VERSION, "metaprior"

    channels: int = 32
    n_layers: int = 3
    hidden: int = 32
    ff_layers: int = 4
    dropout: float = 0.1
    n_steps: int = 10
    lam: float = 1.0
    size: int = 30
    train_ratio: float = 0.5
    lr: float = 1e-3
    batch: int = 16
    n_iter: int = 2000
    eval_every: int = 100
    n_valid: int = 256


@dataclass(frozen=True)
class ML100KSettings(TrainingSettings):
    """Everything that defines a MovieLens result besides the split (Iwata 2021 Sec. 4.2 defaults,
    except the Adam rate, 1e-3 instead of 1e-4, and a fixed number of iterations with
    early stopping on validation episodes instead of 1,000 epochs: a CPU budget). The source's
    values are in ``data/published/iwata2021_settings.csv``; ``tests/test_published.py`` says
    which fields follow them and which depart."""

    rank: int = 32
    eta: float = 1e-2
    n_test: int = 10
    mf_regs: tuple = MF_REGS
    eval_steps: tuple = (0, 1, 2, 5, 10, 20)

    #: The fields only the baselines (MF, Mean) read. The meta-learned prior's rows are
    #: stored under settings without them (:meth:`prior_json`, :attr:`prior_hash`), so a new
    #: MF grid recomputes the baselines (seconds) and not the prior's training (minutes).
    BASELINE_ONLY = ("mf_regs",)

    def prior_json(self):
        """The settings of the meta-learned prior's rows: every field but
        :attr:`BASELINE_ONLY`, in :meth:`to_json`'s form."""
        return canonical_json({k: v for k, v in asdict(self).items()
                               if k not in self.BASELINE_ONLY})

    @property
    def prior_hash(self):
        """The settings hash of the meta-learned prior's rows (:meth:`prior_json`); the
        baselines' rows carry :attr:`hash`, that of every field."""
        return settings_hash(self.prior_json(), self.VERSION, self.VERSION_TAG)


#: The offsets of a split's named NumPy streams from the split (:func:`stream_seed`).
STREAM_OFFSETS = {"meta-test": 10_000, "validation": 20_000}


def stream_seed(stream, split):
    """The seed of one named random stream of a MovieLens split: ``split`` plus the stream's
    offset in :data:`STREAM_OFFSETS` (the split itself seeds the user/item split, the prior
    network and its meta-training). Distinct for every stream and split below 10,000."""
    return STREAM_OFFSETS[stream] + int(split)


def _ml100k_matrices(split, settings, ratings=None):
    """The meta-training and validation parts of one split, and its validation and meta-test
    matrices (:func:`meta_test_matrices`)."""

    s = settings
    A = standardized_ratings(load_movielens(download=True) if ratings is None else ratings)
    train, valid, test = split_users_items(A, random_state=split)
    tests = meta_test_matrices(test, s.n_test, random_state=stream_seed("meta-test", split),
                               n_rows=s.size, n_cols=s.size)
    valids = meta_test_matrices(valid, s.n_test, random_state=stream_seed("validation", split),
                                n_rows=s.size, n_cols=s.size)
    return train, valid, valids, tests


def _ml100k_row(split, method, n_steps, errors, detail, settings, t0, torch=False):
    """One store row of the MovieLens experiment; ``settings``: its ``(hash, text)``,
    ``torch``: whether PyTorch computed it (:func:`~metanmf_lab.grid.spine.provenance`)."""
    return {"split": split, "method": method, "n_steps": n_steps, "settings_hash": settings[0],
            "algorithm_version": METAPRIOR_VERSION, "mse": float(np.mean(errors)),
            "n_matrices": len(errors), "detail": detail,
            "seconds": round(time.perf_counter() - t0, 3), "settings": settings[1],
            **provenance(torch)}


def mf_choice(valids, rank, regs):
    """MF's ridge weight chosen on the validation matrices ``valids``: the weight of ``regs``
    with the lowest mean validation MSE (ties: the smallest weight). Returns it, the smallest
    weight at which every validation prediction is the zero fit (:data:`ZERO_FIT`; None if
    none is), and the validation MSE of each weight."""
    val_err, zero_from = {}, None
    for reg in sorted(regs):
        preds = [mf_prediction(X, B, rank, reg) for X, B, _, _ in valids]
        val_err[reg] = float(np.mean([matrix_mse(p, Xt, Bt)
                                      for p, (_, _, Xt, Bt) in zip(preds, valids)]))
        if zero_from is None and max(float(np.abs(p).max()) for p in preds) < ZERO_FIT:
            zero_from = reg
    return min(val_err, key=val_err.get), zero_from, val_err


def ml100k_baselines(split, settings, ratings=None, matrices=None):
    """The baselines' rows of one split: MF (its ridge weight chosen on the validation
    matrices, :func:`mf_choice`) and Mean, under :attr:`ML100KSettings.hash`. NumPy only, in
    seconds; deterministic for a given split and settings. ``matrices``: the split's
    ``(valids, tests)`` if already drawn."""
    s = settings
    t0 = time.perf_counter()
    valids, tests = (_ml100k_matrices(split, s, ratings)[2:] if matrices is None
                     else matrices)
    own = (s.hash, s.to_json())
    reg, zero_from, _ = mf_choice(valids, s.rank, s.mf_regs)
    zero = "" if zero_from is None else f"; MF predicts 0 from reg={zero_from:g}"
    mf = [matrix_mse(mf_prediction(X, B, s.rank, reg), Xt, Bt) for X, B, Xt, Bt in tests]
    rows = [_ml100k_row(split, "MF", -1, mf, f"reg={reg:g} (chosen on validation{zero})",
                        own, t0)]
    rows.append(_ml100k_row(split, "Mean", -1, [matrix_mse(mean_prediction(X, B), Xt, Bt)
                                                for X, B, Xt, Bt in tests], "", own, t0))
    return rows


def ml100k_split(split, settings, ratings=None):
    """Everything one split of the experiment needs: the trained model's results (under
    :attr:`ML100KSettings.prior_hash`) and the baselines' (:func:`ml100k_baselines`), a list
    of store rows. Deterministic for a given split and settings."""

    torch = require_torch("Training the meta-learned prior (metaprior.ml100k_split)")
    # lazy: PyTorch is a heavy optional dependency (requirements-torch.txt)
    from ._metaprior_torch import (Episodes, MetaPriorMF, meta_train, torch_generator,
                                   torch_threads)

    s = settings
    t0 = time.perf_counter()
    train, valid, valids, tests = _ml100k_matrices(split, s, ratings)
    model = MetaPriorMF(s.rank, n_steps=s.n_steps, eta=s.eta, lam=s.lam, channels=s.channels,
                        n_layers=s.n_layers, hidden=s.hidden, ff_layers=s.ff_layers,
                        dropout=s.dropout, generator=torch_generator(split))
    info = meta_train(model, Episodes([train], s.size, s.size, s.train_ratio),
                      Episodes([valid], s.size, s.size, s.train_ratio), n_iter=s.n_iter,
                      batch=s.batch, lr=s.lr, eval_every=s.eval_every, n_valid=s.n_valid,
                      random_state=split)
    rows = []
    as_t = lambda a: torch.as_tensor(a, dtype=torch.float32)  # noqa: E731
    model.eval()
    prior = (s.prior_hash, s.prior_json())
    for T in sorted(set(s.eval_steps) | {s.n_steps}):
        with torch.no_grad(), torch_threads(1):
            errs = [matrix_mse(model(as_t(X), as_t(B), n_steps=T).numpy(), Xt, Bt)
                    for X, B, Xt, Bt in tests]
        detail = (f"trained with T={s.n_steps}; best validation at iteration "
                  f"{info['best_iter']}; lambda={float(model.lam.detach()):.4g}")
        rows.append(_ml100k_row(split, "ours", T, errs, detail, prior, t0, torch=True))
    return rows + ml100k_baselines(split, s, matrices=(valids, tests))


def _ml100k_parts(df, settings):
    """Which rows of ``df`` are the results of ``settings``: the prior's under its
    :attr:`~ML100KSettings.prior_hash`, the baselines' under its :attr:`~ML100KSettings.hash`."""
    ours = df.method == "ours"
    return ((df.algorithm_version == METAPRIOR_VERSION)
            & ((ours & (df.settings_hash == settings.prior_hash))
               | (~ours & (df.settings_hash == settings.hash))))


def run_ml100k(splits, settings=None, store=None, progress=False, ratings=None):
    """The MovieLens 100K experiment (Iwata 2021 Sec. 4) over ``splits``: what each split lacks in
    ``store`` (default ``data/results/metaprior_ml100k.csv``; False: keep nothing) is
    computed and added whole -- the trained prior's rows with the baselines', or the
    baselines' alone (:func:`ml100k_baselines`, no training) where only settings that the
    prior does not read changed (:attr:`ML100KSettings.BASELINE_ONLY`) -- so an interrupted
    run keeps every finished split. Returns the rows of the requested splits under
    ``settings`` as a DataFrame. ``ratings``: another ratings dict in ``load_movielens``'s
    format (the tests use a small synthetic one)."""
    settings = ML100KSettings() if settings is None else settings
    if store is not False and not isinstance(store, ML100KStore):
        store = ML100KStore(store)
    have_prior, have_baselines = set(), set()
    if store is not False:
        df = store.load()
        df = df[_ml100k_parts(df, settings)]
        have_prior = {int(v) for v in df.split[df.method == "ours"]}
        have_baselines = {int(v) for v in df.split[df.method != "ours"]}

    def compute(split):
        return (ml100k_baselines(split, settings, ratings) if split in have_prior
                else ml100k_split(split, settings, ratings))

    def check(todo):
        train = [sp for sp in todo if sp not in have_prior]
        if train:
            require_torch(computing(len(train), "split", store))

    rows = run_missing(splits, compute, None if store is False else store, key=int,
                       have=have_prior & have_baselines, check=check, progress=progress,
                       desc="MovieLens splits", unit="split", flush_every=1)
    if store is not False:
        df = store.load()
        df = df[_ml100k_parts(df, settings) & df.split.astype(int).isin(list(splits))]
    else:
        df = pd.DataFrame(rows)
    df = df.copy()
    for c in ("split", "n_steps", "n_matrices"):
        df[c] = df[c].astype(int)
    df["mse"] = df["mse"].astype(float)
    return df.reset_index(drop=True)


# -- the NMF version on the thesis' datasets ----------------------------------------------------

#: The starts compared by the NMF version's experiment.
NMF_STARTS = ("random", "nndsvd", "Meta-NMF basis", "meta-learned prior")


@dataclass(frozen=True)
class NMFPriorSettings(TrainingSettings):
    """The NMF version: a prior network with multiplicative unrolled steps, meta-trained on
    random ``size x size`` sub-matrices (samples x pixels) of a dataset's learning half, its
    prior means then starting the factorisation of the evaluation half."""

    size: int = 32
    n_iter: int = 1000
    n_valid: int = 64
    eval_iters: tuple = (0, 10, 100)


def _start(init, X_learn, X_eval, rank, seed, settings, thesis_settings):
    """Initial (W, H) of the evaluation half for one start."""

    if init in ("random", "nndsvd"):
        return initialize(X_eval, rank, init, random_state=seed)
    if init == "Meta-NMF basis":

        meta = make_model("Meta-NMF", rank, seed, "thesis", thesis_settings)
        with warnings.catch_warnings():  # Faces' small learning half: the thesis grid's
            warnings.simplefilter("ignore", TaskSplitWarning)  # fallback, as in fit_cell
            meta.fit(X_learn)
        H = np.array(meta.components_, dtype=np.float64)
        return X_eval @ H.T, H
    torch = require_torch("Training the meta-learned prior of an NMF start")
    # lazy: PyTorch is a heavy optional dependency (requirements-torch.txt)
    from ._metaprior_torch import (Episodes, MetaPriorMF, meta_train, torch_generator,
                                   torch_threads)

    model = MetaPriorMF(rank, step="mu", n_steps=settings.n_steps, lam=settings.lam,
                        channels=settings.channels, n_layers=settings.n_layers,
                        hidden=settings.hidden, ff_layers=settings.ff_layers,
                        dropout=settings.dropout, generator=torch_generator(seed))
    # early stopping on a fifth of the learning half's samples: the evaluation half is never
    # seen before the factorisation it is used for
    perm = np.random.default_rng(seed).permutation(X_learn.shape[0])
    cut = int(0.8 * len(perm))
    episodes = [Episodes([X_learn[part]], settings.size, settings.size, settings.train_ratio)
                for part in (perm[:cut], perm[cut:])]
    meta_train(model, *episodes,
               n_iter=settings.n_iter, batch=settings.batch, lr=settings.lr,
               eval_every=settings.eval_every, n_valid=settings.n_valid, random_state=seed)
    model.eval()
    with torch.no_grad(), torch_threads(1):
        X = torch.as_tensor(X_eval, dtype=torch.float32)
        U0, V0 = model.prior(X, torch.ones_like(X))
    return (np.ascontiguousarray(U0.numpy(), dtype=np.float64),
            np.ascontiguousarray(V0.numpy().T, dtype=np.float64))


def _nmi_quiet(W, y, seed):
    """NMI of k-means on W; coefficients with fewer distinct rows than classes (a prior that
    gives every sample the same start) make k-means warn -- the low NMI is the result."""



    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return cluster_nmi(W, y, random_state=seed)


def _nmf_provenance(settings, thesis_settings):
    """Hash and JSON of the two settings an NMF-prior row depends on."""
    text = canonical_json({"prior": json.loads(settings.to_json()),
                           "thesis": json.loads(thesis_settings.to_json())})
    return settings_hash(text, settings.VERSION, settings.VERSION_TAG), text


def nmf_prior_cell(dataset, rank, seed, settings, thesis_settings=None):
    """Rows of one (dataset, rank, seed): for every start of :data:`NMF_STARTS` and every
    number of MU iterations t in ``settings.eval_iters``, the relative reconstruction error
    ``||X - W H|| / ||X||`` of the evaluation half and the NMI of k-means on W."""
    thesis_settings = Settings() if thesis_settings is None else thesis_settings
    h, text = _nmf_provenance(settings, thesis_settings)
    X_learn, X_eval, _, y_eval = load_cell_data(dataset, 0.0, thesis_settings)
    norm = np.linalg.norm(X_eval)
    rows = []
    for init in NMF_STARTS:
        t0 = time.perf_counter()
        W0, H0 = _start(init, X_learn, X_eval, rank, seed, settings, thesis_settings)
        for t in settings.eval_iters:
            est = NMF(rank, init="custom", max_iter=int(t), tol=0.0, random_state=seed)
            W = est.fit_transform(X_eval, W=W0.copy(), H=H0.copy()) if t > 0 else W0
            H = est.components_ if t > 0 else H0
            rows.append({
                "dataset": dataset, "rank": rank, "seed": seed, "init": init, "n_iter": int(t),
                "settings_hash": h, "algorithm_version": METAPRIOR_VERSION,
                "recon_error": float(np.linalg.norm(X_eval - W @ H) / norm),
                "nmi": _nmi_quiet(W, y_eval, seed),
                "seconds": round(time.perf_counter() - t0, 3), "settings": text,
                **provenance(torch=True)})
    return rows


def run_nmf_prior(datasets, ranks, seeds, settings=None, store=None, progress=False,
                  thesis_settings=None):
    """The NMF version's experiment over a grid of (dataset, rank, seed); each missing cell
    is computed and added to ``store`` whole (default ``data/results/metaprior_nmf.csv``;
    False: keep nothing). ``thesis_settings`` (default: the thesis') define the data split and
    Meta-NMF. Returns the rows of the grid under both settings."""
    settings = NMFPriorSettings() if settings is None else settings
    thesis_settings = Settings() if thesis_settings is None else thesis_settings
    h, _ = _nmf_provenance(settings, thesis_settings)
    if store is not False and not isinstance(store, NMFPriorStore):
        store = NMFPriorStore(store)
    grid = [(d, int(r), int(s)) for d in datasets for r in ranks for s in seeds]
    have = set()
    if store is not False:
        df = store.load()
        ok = (df.settings_hash == h) & (df.algorithm_version == METAPRIOR_VERSION)
        have = set(zip(df.dataset[ok], df["rank"][ok].astype(int), df.seed[ok].astype(int)))
    rows = run_missing(
        grid, lambda g: nmf_prior_cell(*g, settings, thesis_settings),
        None if store is False else store, key=tuple, have=have,
        check=lambda todo: require_torch(computing(len(todo), "cell", store)),
        progress=progress, desc="NMF-prior cells", unit="cell", flush_every=1)
    if store is False:
        df = pd.DataFrame(rows)
    else:
        df = store.load()
        df = df[(df.settings_hash == h) & (df.algorithm_version == METAPRIOR_VERSION)]
        keys = list(zip(df.dataset, df["rank"].astype(int), df.seed.astype(int)))
        df = df[[k in set(grid) for k in keys]]
    df = df.copy()
    for c in ("rank", "seed", "n_iter"):
        df[c] = df[c].astype(int)
    for c in ("recon_error", "nmi"):
        df[c] = df[c].astype(float)
    return df.reset_index(drop=True)


def nmf_prior_comparisons(rows, value="nmi", reference="meta-learned prior", level=0.95,
                          alpha=None):
    """Paired comparisons of the meta-learned prior against every other start of
    :data:`NMF_STARTS`, per dataset and number of MU iterations ``t``.

    The same cells (rank, seed) are compared: a difference is the prior's ``value`` minus the
    other start's, averaged over ranks per seed, with its Student-t interval over seeds and
    Wilcoxon's signed-rank test over the (rank, seed) pairs, Holm-adjusted over the whole
    table (:func:`metanmf_lab.grid.stats.compare`). ``value`` is ``"nmi"`` (higher is better) or
    ``"recon_error"`` (lower is better); ``verdict`` is always from the prior's side.
    """

    if value not in ("nmi", "recon_error"):
        raise ValueError(f"value must be 'nmi' or 'recon_error', got {value!r}.")
    alpha = stats.ALPHA if alpha is None else alpha
    need = {"dataset", "rank", "seed", "init", "n_iter", value}
    if missing := need - set(rows.columns):
        raise ValueError(f"rows lack columns {sorted(missing)}.")
    df = rows.rename(columns={"init": "model"}).assign(condition=rows["n_iter"].astype(int))
    others = [s for s in NMF_STARTS if s != reference and s in set(df["model"])]
    res = stats.compare(df, [(s, reference) for s in others], by=("dataset", "condition"),
                        level=level, alpha=alpha, value=value)
    res = res.rename(columns={"condition": "t", "reference": "start", "model": "prior",
                              "reference_nmi": f"start_{value}", "model_nmi": f"prior_{value}"})
    if value == "recon_error":  # a negative difference is the prior's gain
        res["verdict"] = res["verdict"].replace({"better": "worse", "worse": "better"})
    return res.drop(columns="prior")
