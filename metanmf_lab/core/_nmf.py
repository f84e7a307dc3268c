"""NMF and GNMF estimators with scikit-learn conventions.

Orientation: ``X`` is (n_samples, n_features) and ``X ~ W H`` where ``W = fit_transform(X)``
holds the coefficients (n_samples, n_components) and ``components_ = H`` the basis
(n_components, n_features). The thesis writes X transposed (features x samples) = W H with
the basis W: **the thesis' W is our ``components_.T`` and its H is our ``W.T``** (see the
book's notation page). This is scikit-learn's convention too.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils.validation import check_is_fitted

from .._validation import (check_choice, check_coefficients_sound, check_factors_sound, check_int,
                           check_nonnegative_data, check_rank, check_real, ldexp_as,
                           scale_exponent)
from ._graph import GRAPHS, WEIGHTS, build_graph
from ._init import INITS, initialize
from ._losses import LOSSES
from ._solvers import MUCall, run_steps

STOPPING = ("objective", "factors")
KL_UPDATES = ("mm", "split")


class _BaseMU(TransformerMixin, BaseEstimator):
    """Shared fit/transform logic of :class:`NMF` and :class:`GNMF` (not public)."""

    # -- hooks overridden by GNMF ----------------------------------------------------------
    def _graph_for(self, X, scale_exp=0):
        return None

    def _lam(self):
        return 0.0

    def _hint(self):
        """The likely causes of a degenerate fit among this estimator's parameters."""
        return ""

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.positive_only = True
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags

    # -- parameters ------------------------------------------------------------------------
    def _check_params(self, X):
        """Validate every parameter against X; return the resolved rank."""
        rank = self.n_components
        rank = min(X.shape) if rank is None else check_rank(rank, X.shape)
        check_choice(self.loss, LOSSES, name="loss")
        check_choice(self.init, INITS, name="init")
        check_int(self.max_iter, name="max_iter", low=0)
        check_real(self.tol, name="tol", low=0)
        check_choice(self.stopping, STOPPING, name="stopping")
        if not isinstance(self.normalize, (bool, np.bool_)):
            raise TypeError(f"normalize must be True or False, got {self.normalize!r}.")
        if check_real(self._add_eps(), name="denominator_eps", low=0) and \
                str(self.loss).lower() != "frobenius":
            raise ValueError("denominator_eps > 0 (the authors' '+eps' denominators) is "
                             "implemented for the Frobenius loss only.")
        return rank

    def _add_eps(self):
        return getattr(self, "denominator_eps", 0.0)

    # -- fitting ---------------------------------------------------------------------------
    def _solver_call(self, X, W, H, graph, *, update_H=True, max_iter=None, lam_exp=0):
        """The :func:`solve_mu` call of this model, as a value (:class:`MUCall`)."""
        return MUCall(X, W, H, dict(
            loss=check_choice(self.loss, LOSSES, name="loss"),
            max_iter=self.max_iter if max_iter is None else max_iter, tol=self.tol,
            stopping=check_choice(self.stopping, STOPPING, name="stopping"),
            graph=graph, lam=float(np.ldexp(self._lam(), lam_exp)) if lam_exp else self._lam(),
            kl_update=check_choice(getattr(self, "kl_update", "mm"), KL_UPDATES,
                                   name="kl_update"),
            update_H=update_H, normalize=bool(self.normalize) and update_H,
            add_eps=float(self._add_eps())))

    def fit_transform(self, X, y=None, W=None, H=None):
        """Learn the factorisation of X and return the coefficients W.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Non-negative, finite data.
        y : ignored
        W : array-like of shape (n_samples, n_components), optional
            Initial coefficients, used when ``init="custom"``.
        H : array-like of shape (n_components, n_features), optional
            Initial components, used when ``init="custom"``.

        Returns
        -------
        W : ndarray of shape (n_samples, n_components)

        Raises
        ------
        DegenerateFitError
            (a :class:`FloatingPointError`) if the fit ends with NaN or infinite factors, or
            with an all-zero factor: never a silent NaN or zero reconstruction.
        """
        return run_steps(self._fit_transform_steps(X, W, H))

    def _fit_transform_steps(self, X, W=None, H=None):
        """:meth:`fit_transform` as a generator of its solver call (see
        :class:`~metanmf_lab.core._solvers.MUCall`); returns W."""
        X = check_nonnegative_data(X)
        rank = self._check_params(X)
        loss = check_choice(self.loss, LOSSES, name="loss")
        # Data outside the safe range is factorised as X / 2^e (exact), see the class Notes.
        e = scale_exponent(X, loss)
        Xs = ldexp_as(X, -e)
        W0, H0 = initialize(Xs, rank, self.init, random_state=self.random_state, W=W, H=H)
        # The coefficients carry the scale (W = 2^a W', components_ = 2^b H', a + b = e): all
        # of it (b = 0), except from a custom start, whose components keep their own scale.
        custom = bool(e) and str(self.init).lower() == "custom"
        b = scale_exponent(H0) if custom else 0
        a = e - b
        if custom:  # the given start is in data units: W0 H0 must approximate Xs = X / 2^e
            W0, H0 = ldexp_as(W0, -a), ldexp_as(H0, -b)
        # The objective in data units is 2^(p e) times that of the scaled problem (p = 2 for
        # Frobenius, 1 for KL) when lam is replaced by lam 2^(2a - p e): the same problem.
        p = 2 if loss == "frobenius" else 1
        graph = self._graph_for(Xs, e)
        res = yield self._solver_call(Xs, W0, H0, graph, lam_exp=2 * a - p * e)
        W_out, H_out = ldexp_as(res.W, a), ldexp_as(res.H, b)
        check_factors_sound(f"{type(self).__name__}.fit", {"the coefficients W": W_out,
                                                           "components_": H_out},
                            hint=self._hint())
        self.components_ = H_out
        self.n_components_ = rank
        self.n_iter_ = res.n_iter
        with np.errstate(over="ignore"):
            self.objective_history_ = np.ldexp(res.objective, p * e) if e else res.objective
        # sqrt(2 * beta-divergence), as scikit-learn: ||X - WH||_F, or sqrt(2 KL). After
        # normalize=True W H is unchanged, so the solver's final data term still holds.
        scale = 1.0 if loss == "frobenius" else 2.0
        self.reconstruction_err_ = float(np.sqrt(scale * res.loss))
        if e:
            self.reconstruction_err_ *= 2.0 ** (p * e / 2)
        self.n_features_in_ = X.shape[1]
        return W_out

    def fit(self, X, y=None, **params):
        """Learn the factorisation of X. See :meth:`fit_transform`."""
        self.fit_transform(X, y, **params)
        return self

    def transform(self, X):
        """Coefficients of X on the learned components (the components stay fixed).

        Starts from the constant ``sqrt(mean(X) / n_components)`` (as scikit-learn does) and
        runs ``max_iter`` updates of W only, with the same loss and stopping rule as ``fit``.
        For GNMF the graph is not used here: it is defined over the training samples, and a
        graph over the new batch would make each sample's coefficients depend on the others.

        Only the fitted attributes are used (the rank is ``components_.shape[0]``): a parameter
        changed by ``set_params`` after ``fit`` takes effect at the next ``fit``, as in
        scikit-learn; the loss, ``max_iter``, ``tol`` and ``stopping`` are read as they are.
        Data outside the safe range is scaled as in ``fit`` (see Notes).

        Raises
        ------
        DegenerateFitError
            If the coefficients end non-finite, or all zero although ``X @ components_.T`` is
            not.
        """
        check_is_fitted(self, "components_")
        X = check_nonnegative_data(X, dtype=self.components_.dtype)
        if X.shape[1] != self.n_features_in_:
            raise ValueError(f"X has {X.shape[1]} features, but {type(self).__name__} is "
                             f"expecting {self.n_features_in_} features as input (it was "
                             f"fitted with {self.n_features_in_}).")
        rank = self.components_.shape[0]
        e = scale_exponent(X, check_choice(self.loss, LOSSES, name="loss"))
        b = scale_exponent(self.components_) if e else 0
        X = ldexp_as(X, -e)
        W = np.full((X.shape[0], rank), np.sqrt(X.mean() / rank), dtype=X.dtype)
        res = self._solver_call(X, W, ldexp_as(self.components_, -b).copy(), None,
                                update_H=False).solve()
        W = ldexp_as(res.W, e - b)
        check_coefficients_sound(f"{type(self).__name__}.transform", W, X,
                                 self.components_)
        return W

    def inverse_transform(self, W):
        """Reconstruct data from coefficients: ``W @ components_``."""
        check_is_fitted(self, "components_")
        return np.asarray(W) @ self.components_


class NMF(_BaseMU):
    """Non-negative matrix factorisation by Lee-Seung multiplicative updates.

    Finds non-negative ``W`` (n_samples, n_components) and ``H`` (n_components, n_features)
    with ``X ~ W H`` by minimising the squared Frobenius norm ``||X - W H||_F^2`` or the
    generalised Kullback-Leibler divergence ``D(X || W H)``.

    **Orientation.** Like scikit-learn, X is (n_samples, n_features). The thesis (Khan 2025,
    eq. 2.1) writes ``X`` as features x samples with basis ``W`` and coefficients ``H``; its
    W is our ``components_.T`` and its H is our ``fit_transform(X).T``.

    Parameters
    ----------
    n_components : int or None, default=None
        Rank k, ``1 <= k <= min(n_samples, n_features)``; None uses ``min(n_samples,
        n_features)``.
    loss : {"frobenius", "kl"}, default="frobenius"
    init : {"random", "nndsvd", "nndsvda", "nndsvdar", "custom"}, default="random"
        ``"random"``: U(0, 1) entries (thesis Algorithm 1); NNDSVD variants: Boutsidis &
        Gallopoulos (2008); ``"custom"``: the ``W`` and ``H`` passed to ``fit``. The zeros of
        plain ``"nndsvd"`` stay zero under multiplicative updates; ``"nndsvda"`` and
        ``"nndsvdar"`` fill them.
    max_iter : int, default=200
        Maximum number of iterations (each updates W, then H).
    tol : float, default=1e-4
        Stopping tolerance (see ``stopping``); 0 runs exactly ``max_iter`` iterations.
    stopping : {"objective", "factors"}, default="objective"
        ``"objective"``: stop when the relative decrease of the objective in one iteration is
        at most ``tol``. ``"factors"``: the authors' code's rule, stop when both
        ``||W - W_prev||_F`` and ``||H - H_prev||_F`` fall below ``tol`` (they use 1e-3).
    normalize : bool, default=False
        Rescale each component (row of ``components_``) to a maximum of 1 at the end of the
        fit, and the coefficients inversely (the authors' code's column max-normalisation of
        its basis). W H is unchanged; ``objective_history_`` ends before the rescaling (for
        GNMF the rescaling changes the graph term).
    denominator_eps : float, default=0.0
        0: an exactly zero denominator of an update is replaced by a tiny EPS (scikit-learn's
        rule), which keeps the updates equivariant to the factors' scale. > 0: added to every
        denominator, as the authors' code does (with float32's epsilon, ``1.19e-07``); it
        changes the updates wherever a denominator is that small, e.g. when Meta-NMF's raw
        algorithm shrinks the coefficients (``MetaNMF(rescale_bases=False)``). Frobenius
        only.
    random_state : int, RandomState instance or None, default=None
        Seeds the random and ``nndsvdar`` initialisations.

    Attributes
    ----------
    components_ : ndarray of shape (n_components, n_features)
    n_components_ : int
    n_iter_ : int
    reconstruction_err_ : float
        ``||X - W H||_F`` (Frobenius) or ``sqrt(2 D(X || W H))`` (KL), as in scikit-learn.
    objective_history_ : ndarray of shape (n_iter_ + 1,)
        The objective after 0, 1, ..., n_iter_ iterations.
    n_features_in_ : int

    Raises
    ------
    DegenerateFitError
        (``metanmf_lab._validation.DegenerateFitError``, a :class:`FloatingPointError`) from
        ``fit``, ``fit_transform`` and ``transform`` when the factors end with NaN or infinite
        values, or a factor ends all zero although X is not: the message names the estimator,
        the factor, the likely cause and what to try. No degenerate fit returns silently.

    Notes
    -----
    **Scale.** Data whose largest value lies in ``[2**-50, 2**50]`` (``[2**-10, 2**50]`` for
    KL, whose model is floored at the float32 epsilon) is factorised as given. Other data
    would overflow or underflow the updates (``||X||^2`` and the products are quadratic in the
    data's scale); it is divided by the power of two that brings its maximum into [0.5, 1),
    which is exact in floating point, and the results are mapped back: the coefficients
    carry the data's scale (``components_`` are those found on the scaled data, except from a
    custom start, whose components keep the scale they were given), and
    ``reconstruction_err_`` and ``objective_history_`` are in the data's units
    (``objective_history_`` of squared errors beyond ~1e154 overflows to inf). For GNMF with
    the KL loss, ``lam`` is scaled with the data so that the problem is the same, and the
    graph is built for the unscaled data. NMF from a random start then gives the same
    results for X and c X up to the factor c (to rounding; with KL, as long as the model stays
    well above its floor; NNDSVD starts are not scale-equivariant themselves). GNMF's updates
    do not forget the scale of their random start, so GNMF on c X is c times GNMF on X only
    for powers of two c whose scaling maps the data back onto itself, with or without this
    scaling; an RBF graph, or heat weights with a given ``heat_t``, depend on the data's
    scale by design.

    References
    ----------
    D. D. Lee and H. S. Seung, "Algorithms for non-negative matrix factorization", NIPS 2000.
    C. Boutsidis and E. Gallopoulos, "SVD based initialization: A head start for nonnegative
    matrix factorization", Pattern Recognition 41(4), 2008.

    Examples
    --------
    >>> import numpy as np
    >>> from metanmf_lab import NMF
    >>> X = np.random.default_rng(0).random((20, 6))
    >>> W = NMF(n_components=2, random_state=0).fit_transform(X)
    >>> W.shape
    (20, 2)
    """

    def __init__(self, n_components=None, *, loss="frobenius", init="random", max_iter=200,
                 tol=1e-4, stopping="objective", normalize=False, denominator_eps=0.0,
                 random_state=None):
        self.n_components = n_components
        self.loss = loss
        self.init = init
        self.max_iter = max_iter
        self.tol = tol
        self.stopping = stopping
        self.normalize = normalize
        self.denominator_eps = denominator_eps
        self.random_state = random_state


class GNMF(_BaseMU):
    """Graph-regularised NMF (Cai, He, Han & Huang 2011).

    Minimises ``||X - W H||_F^2 + lam * tr(W^T L W)`` (or the KL divergence plus the same
    graph term), where ``L = D - A`` is the Laplacian of an affinity graph over the samples:
    samples that are neighbours in data space are pushed to have similar coefficients.

    Parameters
    ----------
    n_components : int or None, default=None
    lam : float, default=100.0
        Graph weight lambda (>= 0; 0 gives plain NMF). The thesis gives no value; 100 is the
        value Cai et al. use throughout their experiments (with p = 5 and 0-1 weights). The
        authors' code uses 0.3 with its dense RBF graph and the KL loss.
    loss : {"frobenius", "kl"}, default="frobenius"
    graph : {"knn", "rbf"}, default="knn"
        ``"knn"``: Cai et al.'s sparse symmetric p-nearest-neighbour graph. ``"rbf"``: the
        authors' code's dense ``exp(-||x_i - x_j||^2 / sigma^2)`` affinity over all pairs
        (n^2 memory).
    n_neighbors : int, default=5
        p of the kNN graph.
    weight : {"binary", "heat"}, default="binary"
        kNN edge weights: 0-1 or heat kernel.
    heat_t : float or None, default=None
        Heat-kernel bandwidth; None uses the mean squared edge length.
    sigma : float, default=0.5
        Width of the dense RBF graph.
    kl_update : {"mm", "split"}, default="mm"
        W update for the KL loss with a graph: ``"mm"`` is a monotone majorise-minimise closed
        form; ``"split"`` the split-gradient heuristic of the authors' code (not monotone in
        general). Ignored for the Frobenius loss (Cai et al.'s update, monotone).
    init, max_iter, tol, stopping, normalize, random_state
        As in :class:`NMF`.

    Attributes
    ----------
    components_, n_components_, n_iter_, reconstruction_err_, objective_history_,
    n_features_in_
        As in :class:`NMF`; ``objective_history_`` includes the graph term.

    Raises
    ------
    DegenerateFitError
        As in :class:`NMF` (e.g. from a ``lam`` so large that the graph term overflows).

    Notes
    -----
    Data outside the safe range is scaled as in :class:`NMF` (see its Notes). A dense RBF
    graph whose off-diagonal weights all underflow (``sigma`` far below the distances between
    samples, e.g. ``sigma=1e-300``) is empty: the graph term is zero, and the fit is NMF with
    damped W updates (see :func:`metanmf_lab.rbf_graph`); no NaN.

    References
    ----------
    D. Cai, X. He, J. Han and T. S. Huang, "Graph regularized nonnegative matrix factorization
    for data representation", IEEE TPAMI 33(8), 2011.
    """

    def __init__(self, n_components=None, *, lam=100.0, loss="frobenius", graph="knn",
                 n_neighbors=5, weight="binary", heat_t=None, sigma=0.5, kl_update="mm",
                 init="random", max_iter=200, tol=1e-4, stopping="objective", normalize=False,
                 random_state=None):
        self.n_components = n_components
        self.lam = lam
        self.loss = loss
        self.graph = graph
        self.n_neighbors = n_neighbors
        self.weight = weight
        self.heat_t = heat_t
        self.sigma = sigma
        self.kl_update = kl_update
        self.init = init
        self.max_iter = max_iter
        self.tol = tol
        self.stopping = stopping
        self.normalize = normalize
        self.random_state = random_state

    def _check_params(self, X):
        rank = super()._check_params(X)
        check_real(self.lam, name="lam", low=0)
        check_choice(self.graph, GRAPHS, name="graph")
        check_int(self.n_neighbors, name="n_neighbors", low=1)
        check_choice(self.weight, WEIGHTS, name="weight")
        if self.heat_t is not None:
            check_real(self.heat_t, name="heat_t", low=0, low_inclusive=False)
        check_real(self.sigma, name="sigma", low=0, low_inclusive=False)
        check_choice(self.kl_update, KL_UPDATES, name="kl_update")
        return rank

    def _lam(self):
        return float(self.lam)

    def _graph_for(self, X, scale_exp=0):
        if self.lam == 0:
            return None
        return build_graph(X, self.graph, n_neighbors=self.n_neighbors, weight=self.weight,
                           heat_t=self.heat_t, sigma=self.sigma, scale_exp=scale_exp)

    def _hint(self):
        hint = f"For GNMF, a very large lam (here {self.lam}) can make the graph term overflow"
        if str(self.loss).lower() == "kl":
            hint += (": with the KL loss the data term grows like the data's scale and the "
                     "graph term like its square, so on data of large values lam acts "
                     "as lam times that scale")
        return hint + ". "
