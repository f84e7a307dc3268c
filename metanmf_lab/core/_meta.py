"""Meta-NMF: thesis Algorithm 1 (meta-tasks, target task, transfer of the basis).

In the thesis' orientation the transferred object is the basis W (features x rank). In this
package's scikit-learn orientation that is ``components_`` (rank x features); below it is
called the *basis* and written ``H``, as the components in ``X ~ W H`` (``W``: the coefficients).

One epoch (thesis eqs. 3.2 and 3.4, Fig. 3.1)::

    for each meta-task i:  start from H = H_t + H_i, coefficients = X_i H^T;
                           run the base NMF for inner_iter iterations; H_i <- result
    transfer = (1/N) sum_i alpha_i H_i           (thesis: this epoch's bases)
    start from H = H_t + transfer, coefficients = X_t H^T;
    run the base NMF on the target for inner_iter iterations; H_t <- result

Evaluation phase (Algorithm 1 line 14): on unseen X_e, start from H = H_t, coefficients =
X_e H_t^T, and run the base NMF for inner_iter iterations updating both factors; the
coefficients are the representation that is clustered.

``protocol="authors"`` reproduces each documented difference of the authors' code (one
field each of :class:`metanmf_lab.core.protocols.Protocol`, so they can also be switched one at a
time): task size 100; tasks drawn independently (overlapping); target = whole learning set;
the sum of the task bases is a running sum never reset between epochs; H_t starts at zero;
every call of an NMF base ends with the max-normalisation of the components; and, for an NMF
base with NNDSVD init, the NNDSVD initialisation replaces whatever start was passed, on every
call, evaluation included. (For a GNMF base, NNDSVD only gives the meta-tasks' first start:
with H_t starting at zero, the first epoch starts each task from its own NNDSVD, as in the
authors' code.)
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin, clone
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from .._validation import (check_coefficients_sound, check_factors_sound, check_int,
                           check_nonnegative_data, check_rank, ldexp_as, scale_exponent)
from ._graph import build_graph
from ._init import nndsvd
from ._nmf import GNMF, NMF
from ._solvers import MUBatchCall, MUCall, normalize_components, run_steps, solve_mu
from .protocols import get_protocol
from .splits import make_tasks


class _Transfer(TransformerMixin, BaseEstimator):
    """What Meta-NMF and its warm-start baseline share: the base model's calls from a given
    basis, and the evaluation phase (Algorithm 1 line 14). Not public."""

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.positive_only = True
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags

    def _check_base(self, X):
        rank = check_rank(self.n_components, X.shape)
        base = NMF() if self.base is None else self.base
        if not isinstance(base, (NMF, GNMF)):
            raise TypeError(f"base must be a metanmf_lab NMF or GNMF instance, got "
                            f"{type(base).__name__}.")
        # The rank comes from one place: this estimator's n_components. A base that asks for
        # another one is a contradiction, not a setting to ignore silently.
        if base.n_components is not None and base.n_components != rank:
            raise ValueError(
                f"{type(self).__name__}(n_components={rank}) and its base "
                f"{type(base).__name__}(n_components={base.n_components!r}) ask for different "
                f"ranks. The rank is {type(self).__name__}'s n_components: leave the base's "
                f"n_components at None (or set it to {rank}).")
        base = clone(base).set_params(n_components=rank)
        base._check_params(X)
        if str(base.init).lower() == "custom":
            raise ValueError("base.init='custom' has no meaning here: the starting points "
                             "are the transferred bases.")
        check_int(self.inner_iter, name="inner_iter", low=1)
        return rank, base, get_protocol(self.protocol)

    def _setup_base(self, rank, base, protocol):
        self._base = base
        self._loss = base.loss.lower()
        self._add_eps = float(getattr(base, "denominator_eps", 0.0))
        self._kl_update = str(getattr(base, "kl_update", "mm")).lower()
        self._lam = float(base.lam) if isinstance(base, GNMF) else 0.0
        # The authors' code's NMF helper max-normalises its basis at the end of every call,
        # and restarts from NNDSVD when asked for it; its GNMF helper does neither.
        nmf_base = not isinstance(base, GNMF)
        self._normalize = bool(base.normalize) or (protocol.normalize_calls and nmf_base)
        self._nndsvd_init = str(base.init).lower().startswith("nndsvd")
        self._override = protocol.nndsvd_override and self._nndsvd_init and nmf_base
        self._nndsvd_cache = {}
        self.n_components_ = rank

    def _scale_for(self, X):
        """Data outside the safe range is run as X / 2^e (exact; see NMF's Notes). The
        coefficients carry the scale and the bases none, so the problem is the same with
        lam 2^((2 - p) e), p = 2 for Frobenius, 1 for KL; objectives scale by 2^(p e).
        Sets the lam of the base calls; returns (e, p, X / 2^e)."""
        e = scale_exponent(X, self._loss)
        p = 2 if self._loss == "frobenius" else 1
        self._lam_run = float(np.ldexp(self._lam, (2 - p) * e)) if e else self._lam
        return e, p, ldexp_as(X, -e)

    def _hint(self):
        hint = ""
        if self._lam:
            hint += f"A very large base lam ({self._lam}) can make the graph term overflow. "
        return hint

    # -- one base call ---------------------------------------------------------------------
    def _call(self, X, H0, graph, *, override):
        """Run the base model on X from basis H0 (coefficients X H0^T); return (W, H, obj).
        A generator: it yields its solver call (:class:`MUCall`); use ``yield from``."""
        if override:  # the authors' code: NNDSVD replaces the start on every call
            W, H = self._nndsvd(X)
        else:
            H = np.array(H0, dtype=X.dtype, order="C", copy=True)
            W = X @ H.T
        res = yield MUCall(X, W, H, dict(
            loss=self._loss, max_iter=self.inner_iter, tol=0.0, graph=graph,
            lam=self._lam_run, kl_update=self._kl_update, history=False,  # final objective
            add_eps=self._add_eps))
        if self._normalize:
            normalize_components(res.W, res.H)
        return res.W, res.H, float(res.objective[-1])

    def _nndsvd(self, X):
        key = id(X)
        if key not in self._nndsvd_cache:  # NNDSVD is a pure function of X: compute it once
            self._nndsvd_cache[key] = nndsvd(X, self.n_components_, variant=self._base.init,
                                             random_state=self._rng)
        W, H = self._nndsvd_cache[key]
        return W.copy(), H.copy()

    def _graph(self, X, scale_exp=0):
        if not isinstance(self._base, GNMF) or self._lam == 0:
            return None
        b = self._base
        return build_graph(X, b.graph, n_neighbors=b.n_neighbors, weight=b.weight,
                           heat_t=b.heat_t, sigma=b.sigma, scale_exp=scale_exp)

    def _check_eval_data(self, X):
        check_is_fitted(self, "components_")
        X = check_nonnegative_data(X, dtype=self.components_.dtype)
        if X.shape[1] != self.n_features_in_:
            raise ValueError(f"X has {X.shape[1]} features, but {type(self).__name__} is "
                             f"expecting {self.n_features_in_} features as input (it was "
                             f"fitted with {self.n_features_in_}).")
        return X

    # -- evaluation phase ------------------------------------------------------------------
    def factorize(self, X):
        """Evaluation phase on unseen X: return coefficients ``W`` and components ``H``.

        Starts from the learned basis (coefficients ``X @ components_.T``) and runs the base
        model for ``inner_iter`` iterations updating both factors (Algorithm 1, line 14): the
        returned ``H`` is fitted to X, and the coefficients of a sample depend on the whole
        batch. This is what the experiments score. :meth:`transform`, by contrast, keeps the
        learned components fixed.

        Uses the fitted model (rank, base settings), as at the end of ``fit``; ``inner_iter``
        and ``random_state`` are read as they are. Does not change the estimator.

        Raises
        ------
        DegenerateFitError
            If W or H end non-finite or all zero.
        """
        return run_steps(self._factorize_steps(X))

    def _factorize_steps(self, X):
        """:meth:`factorize` as a generator of its solver call; returns (W, H)."""
        X = self._check_eval_data(X)
        rank = self.components_.shape[0]
        check_rank(rank, X.shape)
        e, _, X = self._scale_for(X)
        self._rng = check_random_state(self.random_state)
        self._nndsvd_cache = {}
        try:
            W, H, _ = yield from self._call(X, self.components_, self._graph(X, e),
                                            override=self._override)
        finally:
            del self._nndsvd_cache, self._rng
        W = ldexp_as(W, e)
        check_factors_sound(f"{type(self).__name__}.factorize",
                            {"the coefficients W": W, "the components H": H}, hint=self._hint())
        return W, H

    def transform(self, X):
        """Coefficients of X on the learned components, which stay fixed.

        Each sample is solved on its own: starting from ``x @ components_.T``, ``inner_iter``
        multiplicative updates of its coefficients with the base's loss (no graph: it is
        defined over a batch). The result of a sample does not depend on the rest of the
        batch, and the estimator does not change. This is not the evaluation phase of
        Algorithm 1, which also refits the components on X: see :meth:`factorize`.

        Returns
        -------
        W : ndarray of shape (n_samples, n_components)

        Raises
        ------
        DegenerateFitError
            If the coefficients end non-finite, or all zero although ``X @ components_.T``
            is not.
        """
        X = self._check_eval_data(X)
        e = scale_exponent(X, self._loss)
        b = scale_exponent(self.components_) if e else 0
        Xs, H = ldexp_as(X, -e), ldexp_as(self.components_, -b).copy()
        W = Xs @ H.T
        res = solve_mu(Xs, W, H, loss=self._loss, max_iter=self.inner_iter, tol=0.0,
                       update_H=False, history=False, add_eps=self._add_eps)
        W = ldexp_as(res.W, e - b)
        check_coefficients_sound(f"{type(self).__name__}.transform", W, Xs, H)
        return W


class MetaNMF(_Transfer):
    """Meta-NMF (Khan 2025, Algorithm 1): learn a basis on meta-tasks and a target task, then
    use it to start the factorisation of unseen data.

    ``fit(X_learn)`` runs the meta-learning phase on a learning set; ``factorize(X_eval)``
    runs the evaluation phase on unseen data (Algorithm 1, line 14: both factors refitted from
    the learned basis; what the experiments score) and returns its coefficients and
    components; ``transform(X_eval)`` returns the coefficients of each sample on the learned
    components held fixed (per sample, like :meth:`NMF.transform`).

    Parameters
    ----------
    n_components : int, default=10
        The rank: the one place it is set.
    base : NMF or GNMF instance, default=None
        The base model and its settings (loss, init, graph, lam, normalize); None means
        ``NMF()`` (Frobenius, random init). Its ``n_components`` must be None or equal to
        ``n_components`` (otherwise ``fit`` raises ValueError naming both). Its ``max_iter``,
        ``tol`` and ``random_state`` are not used: every base call runs exactly
        ``inner_iter`` iterations.
        A base with NNDSVD init starts the meta-tasks and the target from the NNDSVD of their
        own data instead of U(0, 1).
    n_tasks : int, default=5
        Number N of meta-tasks.
    task_size : int or None, default=None
        Samples per meta-task; None uses the protocol's ``task_size`` (50 thesis, 100
        authors).
    n_epochs : int, default=50
        Outer epochs of the meta-learning phase.
    inner_iter : int, default=100
        Iterations of every base call (meta-tasks, target, evaluation).
    alpha : float or array-like of shape (n_tasks,), default=1.0
        Weights alpha_i of the task bases in the transfer (thesis eq. 3.4; 1 in the thesis):
        non-negative and finite; one number or one per meta-task (TypeError / ValueError
        otherwise). Weights of order 1 are meant: huge ones (~1e150) make the start of the
        target runs overflow, and ``fit`` raises DegenerateFitError.
    protocol : {"thesis", "authors"} or Protocol, default="thesis"
        Follow the thesis text, or the authors' public code (see module docstring); a preset
        name is resolved by :func:`metanmf_lab.core.protocols.get_protocol`. The protocol's
        GNMF values are not read here: the base model carries its graph and weight.
    on_infeasible : {"shrink", "error"}, default="shrink"
        What to do when the thesis split does not fit the learning set (see
        :func:`metanmf_lab.core.splits.make_tasks`).
    rescale_bases : bool, default=True
        For NMF bases, divide all bases after every epoch by the power of two that brings
        max(H_t) into [0.5, 1), which leaves the algorithm unchanged (see Notes); False runs
        the raw algorithm. Never applied to GNMF bases (where it would change the algorithm)
        nor when the base calls max-normalise their bases (``base.normalize`` or the
        authors'-code protocol's NMF), which already bounds the scale.
    keep_basis_history : bool, default=False
        Keep the target basis after every epoch in ``basis_history_`` (for plots).
    random_state : int, RandomState instance or None, default=None
        Seeds the task draw and the initial bases.

    Notes
    -----
    With an NMF base, the raw Algorithm 1 grows the scale of H_t by a factor of about 2 to 3
    per epoch (each start adds two bases of similar size, and nothing pulls the scale back),
    so after 50 epochs the bases are ~1e20 and the coefficients ~1e-20.
    ``history_["scale_growth"]`` records this. NMF's updates are equivariant to a common
    rescaling of the bases, so dividing all bases after every epoch by the power of two that
    brings max(H_t) into [0.5, 1) changes nothing but that common scale: it is exact in
    floating point (a test checks a short run bit for bit; over long runs the raw algorithm's
    tiny entries fall into the subnormal range and the two then agree only to rounding), and
    float32 no longer overflows.

    A GNMF base is different: its graph term lambda tr(W^T L W) depends on the scale of the
    coefficients, so a rescaling would change the algorithm. With lambda >= 1 the graph term
    also stops the growth by itself (measured in the book), so GNMF bases are never rescaled.

    Attributes
    ----------
    components_ : ndarray of shape (n_components, n_features)
        The learned target basis H_t (the thesis' W_t transposed), up to the common
        power-of-two scale described in the Notes.
    n_components_ : int
    tasks_ : TaskSplit
        Indices of the meta-tasks and the target within the learning set.
    history_ : dict of ndarray
        Per epoch: ``"target_objective"`` (objective of the target call at its end),
        ``"meta_objective"`` (mean over tasks), ``"basis_change"`` (Frobenius distance between
        the unit-norm bases H_t / ||H_t|| of consecutive epochs), ``"scale_growth"``
        (||H_t|| after the epoch / before it, in the raw algorithm).
    basis_history_ : ndarray of shape (n_epochs + 1, n_components, n_features)
        Only with ``keep_basis_history=True``; entry 0 is the initial H_t.
    n_base_iter_ : int
        Total number of base-model iterations spent by ``fit`` (for equal-compute baselines).
    n_features_in_ : int

    Raises
    ------
    DegenerateFitError
        (a :class:`FloatingPointError`) from ``fit``, ``factorize`` and ``transform`` when a
        factor ends with NaN or infinite values, or all zero although the data is not.

    Notes
    -----
    **Scale.** Data outside the safe range is scaled by a power of two as in :class:`NMF`
    (see its Notes): meta-tasks, target and evaluation all see the scaled data, the bases
    carry no scale, the coefficients of ``factorize`` and ``transform`` are in the data's
    units, and so are ``history_``'s objectives. With an NMF base (Frobenius) the results for
    X and c X then agree up to the factor c on the coefficients.

    **Fitted state.** ``factorize`` and ``transform`` use the rank and base settings of the
    last ``fit``; a parameter changed by ``set_params`` takes effect at the next ``fit``.

    References
    ----------
    A. A. Khan, "Meta-Unsupervised Learning: Application to Non-Negative Matrix
    Factorization", M.Sc. thesis, Bishop's University, 2025.
    """

    def __init__(self, n_components=10, *, base=None, n_tasks=5, task_size=None, n_epochs=50,
                 inner_iter=100, alpha=1.0, protocol="thesis", on_infeasible="shrink",
                 rescale_bases=True, keep_basis_history=False, random_state=None):
        self.n_components = n_components
        self.base = base
        self.n_tasks = n_tasks
        self.task_size = task_size
        self.n_epochs = n_epochs
        self.inner_iter = inner_iter
        self.alpha = alpha
        self.protocol = protocol
        self.on_infeasible = on_infeasible
        self.rescale_bases = rescale_bases
        self.keep_basis_history = keep_basis_history
        self.random_state = random_state

    # -- parameters ------------------------------------------------------------------------
    def _check_params(self, X):
        rank, base, protocol = self._check_base(X)
        n_tasks = check_int(self.n_tasks, name="n_tasks", low=1)
        check_int(self.n_epochs, name="n_epochs", low=0)
        for name in ("rescale_bases", "keep_basis_history"):
            value = getattr(self, name)
            if not isinstance(value, (bool, np.bool_)):
                raise TypeError(f"{name} must be True or False, got {value!r}.")
        return rank, base, protocol, _check_alpha(self.alpha, n_tasks)

    def _setup(self, X):
        rank, base, protocol, alpha = self._check_params(X)
        self._setup_base(rank, base, protocol)
        return rank, protocol, alpha

    # -- meta-learning phase ---------------------------------------------------------------
    def fit(self, X, y=None):
        """Run the meta-learning phase on the learning set X (n_samples, n_features).

        Raises
        ------
        DegenerateFitError
            If the learned basis ends non-finite or all zero.
        """
        return run_steps(self._fit_steps(X))

    def _fit_steps(self, X):
        """:meth:`fit` as a generator of its solver calls (:class:`MUCall`,
        :class:`MUBatchCall`); returns self."""
        X = check_nonnegative_data(X)
        rank, protocol, alpha = self._setup(X)
        e, p, X = self._scale_for(X)
        self._rng = rng = check_random_state(self.random_state)
        split = make_tasks(X.shape[0], n_tasks=self.n_tasks, task_size=self.task_size,
                           protocol=protocol, random_state=rng,
                           on_infeasible=self.on_infeasible, min_size=rank)
        Xs = [np.ascontiguousarray(X[idx]) for idx in split.meta]
        Xt = X if protocol.target == "all" else np.ascontiguousarray(X[split.target])
        graphs = [self._graph(Xi, e) for Xi in Xs]
        graph_t = self._graph(Xt, e)

        # Initial bases (Algorithm 1 line 1).
        def start(Xi):
            if self._nndsvd_init:
                return self._nndsvd(Xi)[1]
            return rng.uniform(0.0, 1.0, size=(rank, X.shape[1])).astype(X.dtype)

        H_tasks = [start(Xi) for Xi in Xs]
        H_t = np.zeros((rank, X.shape[1]), X.dtype) if protocol.target_start == "zero" \
            else start(Xt)
        running = np.zeros_like(H_t)
        basis_hist = [H_t.copy()] if self.keep_basis_history else None
        hist = {"target_objective": [], "meta_objective": [], "basis_change": [],
                "scale_growth": []}

        # The meta-tasks are equally sized: update them together (one stacked product per
        # step) unless the authors' code's NNDSVD override restarts every call separately.
        batched = not self._override
        if batched:
            X_stack = np.stack(Xs)

        for epoch in range(self.n_epochs):
            if batched:
                H_stack = np.stack([H_t + H for H in H_tasks])
                W_stack = X_stack @ H_stack.transpose(0, 2, 1)
                task_obj = yield MUBatchCall(X_stack, W_stack, H_stack, graphs, dict(
                    loss=self._loss, max_iter=self.inner_iter, lam=self._lam_run,
                    kl_update=self._kl_update, add_eps=self._add_eps))
                if self._normalize:
                    for W_i, H_i in zip(W_stack, H_stack):
                        normalize_components(W_i, H_i)
                H_tasks = list(H_stack)
            else:
                task_obj = []
                for i, Xi in enumerate(Xs):
                    _, H_tasks[i], obj = yield from self._call(
                        Xi, H_t + H_tasks[i], graphs[i], override=self._override)
                    task_obj.append(obj)
            weighted = sum(a * H for a, H in zip(alpha, H_tasks))
            if protocol.transfer == "running_sum":
                running += weighted  # never reset between epochs
                transfer = running / len(Xs)
            else:
                transfer = weighted / len(Xs)
            H_prev = H_t
            _, H_t, obj_t = yield from self._call(Xt, H_prev + transfer, graph_t,
                                                  override=self._override)
            n_prev, n_new = np.linalg.norm(H_prev), np.linalg.norm(H_t)
            hist["scale_growth"].append(n_new / n_prev if n_prev > 0 else np.inf)
            hist["basis_change"].append(
                np.linalg.norm(H_t / n_new - H_prev / n_prev) if n_prev > 0 and n_new > 0
                else np.inf)
            # With an NMF base the raw algorithm multiplies the scale of H_t by ~2-3 every
            # epoch; bring it back to [0.5, 1) by a power of two, exact in floating point (see
            # Notes). Not for GNMF bases (it would change the algorithm), nor when every call
            # max-normalises its basis (the scale is then bounded, and rescaling the running
            # sum of normalised bases would not be exact).
            rescale = (self.rescale_bases and self._lam == 0 and not self._normalize
                       and H_t.max() > 0)
            shift = np.frexp(H_t.max())[1] if rescale else 0
            if shift:
                H_t = np.ldexp(H_t, -shift).astype(H_t.dtype, copy=False)
                H_tasks = [np.ldexp(H, -shift).astype(H.dtype, copy=False) for H in H_tasks]
                running = np.ldexp(running, -shift).astype(running.dtype, copy=False)
            hist["target_objective"].append(obj_t)
            hist["meta_objective"].append(float(np.mean(task_obj)))
            if basis_hist is not None:
                basis_hist.append(H_t.copy())

        del self._rng
        hint = self._hint()
        if np.max(alpha) > 1e6:
            hint += (f"The weights alpha (up to {np.max(alpha):.3g}) scale the transferred "
                     f"bases: weights of order 1 are meant. ")
        check_factors_sound(f"{type(self).__name__}.fit", {"the learned basis components_": H_t},
                            hint=hint)
        self.components_ = H_t
        self.tasks_ = split
        self.history_ = {key: np.asarray(v, dtype=np.float64) for key, v in hist.items()}
        if e:  # the objectives in data units
            with np.errstate(over="ignore"):
                for key in ("target_objective", "meta_objective"):
                    self.history_[key] = np.ldexp(self.history_[key], p * e)
        if basis_hist is not None:
            self.basis_history_ = np.stack(basis_hist)
        self.n_base_iter_ = self.n_epochs * (len(Xs) + 1) * self.inner_iter
        self.n_features_in_ = X.shape[1]
        del self._nndsvd_cache
        return self


def _check_alpha(alpha, n_tasks):
    """MetaNMF's alpha as a float64 array of shape (n_tasks,), or a clear error."""
    if alpha is None or isinstance(alpha, (str, bytes, bool, np.bool_)):
        raise TypeError(f"alpha must be a non-negative number or a sequence of {n_tasks} "
                        f"(n_tasks) of them, got {alpha!r}.")
    try:
        arr = np.asarray(alpha, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"alpha must be a non-negative number or a sequence of {n_tasks} "
                        f"(n_tasks) of them, got {alpha!r}.") from exc
    if arr.ndim > 1 or (arr.ndim == 1 and arr.shape[0] != n_tasks):
        raise ValueError(f"alpha must be one number or {n_tasks} weights, one per meta-task "
                         f"(n_tasks={n_tasks}); got shape {arr.shape}.")
    if not np.isfinite(arr).all() or (arr < 0).any():
        raise ValueError(f"alpha must be non-negative finite weights, got {alpha!r}.")
    return np.broadcast_to(arr, (n_tasks,))


class WarmStartNMF(_Transfer):
    """Baseline for Meta-NMF: transfer without meta-tasks.

    ``fit(X_learn)`` fits the base model on the whole learning set for ``learn_iter``
    iterations; ``factorize(X_eval)`` then runs exactly Meta-NMF's evaluation phase from that
    basis (coefficients ``X_eval @ components_.T``, ``inner_iter`` iterations, both factors
    updated), and ``transform(X_eval)`` solves for the coefficients with the basis fixed, as
    :meth:`MetaNMF.transform`. Compared with Meta-NMF it separates "transferring a basis
    learned on other data helps" from "meta-learning the basis helps".

    Parameters
    ----------
    n_components : int, default=10
    base : NMF or GNMF instance, default=None
        As in :class:`MetaNMF` (its own initialisation starts the fit on the learning set).
    learn_iter : int, default=5000
        Iterations on the learning set; 5000 = 50 epochs x 100 iterations, as many as
        Meta-NMF's target calls.
    inner_iter : int, default=100
        Iterations of the evaluation phase.
    protocol : {"thesis", "authors"} or Protocol, default="thesis"
        Only the fields that concern a base call apply (normalisation, NNDSVD override); a
        preset name is resolved by :func:`metanmf_lab.core.protocols.get_protocol`.
    random_state : int, RandomState instance or None, default=None

    Attributes
    ----------
    components_, n_components_, n_base_iter_, n_features_in_
        As in :class:`MetaNMF`.
    """

    def __init__(self, n_components=10, *, base=None, learn_iter=5000, inner_iter=100,
                 protocol="thesis", random_state=None):
        self.n_components = n_components
        self.base = base
        self.learn_iter = learn_iter
        self.inner_iter = inner_iter
        self.protocol = protocol
        self.random_state = random_state

    def _setup(self, X):
        rank, base, protocol = self._check_base(X)
        check_int(self.learn_iter, name="learn_iter", low=0)
        self._setup_base(rank, base, protocol)
        return rank, protocol, None

    def fit(self, X, y=None):
        """Fit the base model on the whole learning set X."""
        return run_steps(self._fit_steps(X))

    def _fit_steps(self, X):
        """:meth:`fit` as a generator of its solver call; returns self."""
        X = check_nonnegative_data(X)
        self._setup(X)
        est = clone(self._base).set_params(max_iter=self.learn_iter, tol=0.0,
                                           normalize=self._normalize,
                                           random_state=self.random_state)
        yield from est._fit_transform_steps(X)
        self.components_ = est.components_
        self.n_base_iter_ = self.learn_iter
        self.n_features_in_ = X.shape[1]
        del self._nndsvd_cache
        return self
