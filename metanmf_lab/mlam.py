"""MLAM: meta-learned alternating minimisation (Xia et al.; seed 004), and its NMF version.

An alternating-minimisation (AM) method splits ``min F(X, W)`` into two sub-problems and
solves them in turn with a fixed rule (gradient steps, or an exact solve). MLAM keeps the
alternating structure but lets a learned optimiser take the steps: one coordinate-wise LSTM
per variable block maps the gradient of the block's sub-problem to an additive step (seed
eqs. 8-9), with its parameters frozen inside an inner loop of ``t_in`` steps. Every ``t_out``
outer iterations the LSTMs are updated by Adam on the *accumulated global loss* of those
iterations (eq. 10-11), back-propagated through the steps that produced them; across a set of
training problems this is the seed's upper level (its Algorithm 1 and Fig. 1).

* :class:`CoordinateLSTM` -- one two-layer LSTM applied to every coordinate of a block
  separately (shared weights, a state per coordinate: Andrychowicz et al., 2016, the
  learned-optimiser design the seed builds on). Its input is the gradient preprocessed to
  ``(log|g| / p, sign g)`` (the same paper's scale-free preprocessing; ``p = 10``), its output
  a step scaled by ``out_scale``.
* Problems, batched over independent instances (the leading dimension), each with a
  per-instance global loss ``F``, its blocks and their projection:
  :class:`CompletionProblems` (seed eq. 13: ``1/2 ||P_Omega(R - U V^T)||^2 +
  lam/2 (||U||^2 + ||V||^2)``), :class:`GMMProblems` (seed eq. 17, the mean negative
  log-likelihood per point with the covariances fixed; the mixing weights are a softmax of
  free logits, our choice: the seed adds steps to the weights directly and says nothing of
  keeping them on the simplex) and :class:`NMFProblems` (``1/2 ||X - W H||^2 / ||X||^2``,
  the blocks projected onto the non-negative orthant after every step: the NMF version).
* :class:`MLAM` -- the two (or more) LSTMs, :meth:`MLAM.run` (Algorithm 1 on a batch of
  problems, with or without meta-updates) and :meth:`MLAM.fit` (the upper level over a set
  of training problems).
* Baselines with the same problems and starts: :func:`alternating_gd` (fixed-step gradient
  descent on each sub-problem, ``t_in`` steps per block and outer iteration: the seed's
  "SGD" without the sampling), :func:`als_completion` (exact ridge solve of each
  sub-problem) and :func:`em_gmm` (EM with the covariances fixed).

Two readings of the seed that are ours and said here: the gradient fed to an LSTM is treated
as a constant when back-propagating the global loss (the first-order simplification of
Andrychowicz et al.; the seed does not say), and each inner loop starts from the block's
current value (``inner_start="previous"``); the seed's text says inner loops start "from a
random initialization", which :meth:`MLAM.run` offers as ``inner_start="random"``.

Orientation: ``R ~ U V^T`` for completion (seed); for NMF ``X ~ W H`` with X samples x
features, as everywhere in this package.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

try:
    import torch
    from torch import nn
except ImportError as exc:  # pragma: no cover  (torch is pinned in requirements.txt)
    raise ImportError("metanmf_lab.mlam needs PyTorch (torch==2.13.0, the CPU build, as "
                      "pinned in requirements.txt).") from exc

from .metaprior import torch_threads

#: Version of this module's numerical method; part of the key of every stored row.
MLAM_VERSION = "1"

INNER_STARTS = ("previous", "random")


def _generator(seed):
    g = torch.Generator()
    g.manual_seed(int(seed))
    return g


# -- the learned optimiser ------------------------------------------------------------------------

class CoordinateLSTM(nn.Module):
    """A coordinate-wise LSTM optimiser: gradient entries in, additive steps out.

    Parameters
    ----------
    hidden : units per LSTM layer (seed: 500; default 20, Andrychowicz et al.'s size)
    n_layers : LSTM layers (seed: 2)
    preprocess : p of the gradient preprocessing ``(log|g|/p, sign g)``; gradients smaller
        than ``exp(-p)`` enter as ``(-1, exp(p) g)``
    out_scale : the output layer's value is multiplied by this
    """

    def __init__(self, hidden=20, n_layers=2, preprocess=10.0, out_scale=0.1):
        super().__init__()
        if int(hidden) < 1 or int(n_layers) < 1:
            raise ValueError(f"hidden and n_layers must be >= 1, got {hidden}, {n_layers}.")
        self.hidden, self.n_layers = int(hidden), int(n_layers)
        self.preprocess, self.out_scale = float(preprocess), float(out_scale)
        self.cells = nn.ModuleList(nn.LSTMCell(2 if i == 0 else self.hidden, self.hidden)
                                   for i in range(self.n_layers))
        self.out = nn.Linear(self.hidden, 1)

    def init_state(self, n):
        """Zero hidden and cell states for ``n`` coordinates (in the weights' dtype)."""
        dtype = self.out.weight.dtype
        return [(torch.zeros(n, self.hidden, dtype=dtype), torch.zeros(n, self.hidden,
                                                                       dtype=dtype))
                for _ in range(self.n_layers)]

    def features(self, g):
        """Andrychowicz et al.'s preprocessing of a flat gradient ``g`` -> (n, 2)."""
        p = self.preprocess
        a = g.abs()
        big = a >= math.exp(-p)
        first = torch.where(big, torch.log(a.clamp_min(math.exp(-p))) / p,
                            torch.full_like(g, -1.0))
        second = torch.where(big, torch.sign(g), math.exp(p) * g)
        return torch.stack([first, second], dim=-1)

    def forward(self, g, state):
        """Steps for the flat gradient ``g`` (n,) and the new state; the network computes in
        its own dtype (float32), the steps are returned in ``g``'s."""
        x = self.features(g).to(self.out.weight.dtype)
        new = []
        for cell, (h, c) in zip(self.cells, state):
            h, c = cell(x, (h, c))
            new.append((h, c))
            x = h
        return (self.out(x).squeeze(-1) * self.out_scale).to(g.dtype), new


def _detach_state(state):
    return [(h.detach(), c.detach()) for h, c in state]


# -- problems -------------------------------------------------------------------------------------

class _Problems:
    """A batch of independent problems: ``loss(blocks)`` returns one global loss per problem."""

    names = ()
    nonnegative = False

    def loss(self, blocks):  # pragma: no cover - abstract
        raise NotImplementedError

    def start(self, generator):  # pragma: no cover - abstract
        raise NotImplementedError

    def project(self, value):
        return value.clamp_min(0.0) if self.nonnegative else value

    def block_gradient(self, blocks, b):
        """Gradient of the b-th sub-problem (the global loss with the other blocks fixed) at
        the current blocks, detached (one per problem: the losses are summed)."""
        with torch.enable_grad():
            v = [x.detach() for x in blocks]
            v[b].requires_grad_(True)
            (g,) = torch.autograd.grad(self.loss(v).sum(), v[b])
        return g


class CompletionProblems(_Problems):
    """Matrix completion (seed eq. 13) for a batch of matrices ``R`` (B, n, m) observed where
    ``mask`` is 1, factors ``U`` (B, n, p) and ``V`` (B, m, p)."""

    names = ("U", "V")

    def __init__(self, R, mask, p, lam):
        self.R = torch.as_tensor(R)
        self.mask = torch.as_tensor(mask, dtype=self.R.dtype)
        if self.R.ndim != 3 or self.R.shape != self.mask.shape:
            raise ValueError("R and mask must be (batch, n, m) arrays of one shape.")
        self.p, self.lam = int(p), float(lam)

    def loss(self, blocks):
        U, V = blocks
        resid = self.mask * (self.R - U @ V.transpose(-1, -2))
        return 0.5 * (resid ** 2).sum((-2, -1)) + 0.5 * self.lam * (
            (U ** 2).sum((-2, -1)) + (V ** 2).sum((-2, -1)))

    def start(self, generator):
        """Entries N(0, p^-1/2): U V^T then has entries of unit variance, like R."""
        B, n, m = self.R.shape
        s = self.p ** -0.25
        return [s * torch.randn(B, n, self.p, generator=generator, dtype=self.R.dtype),
                s * torch.randn(B, m, self.p, generator=generator, dtype=self.R.dtype)]

    def rmse(self, blocks):
        """The seed's RMSE, ``||R - U V^T||_F / ||R||_F``, per problem."""
        U, V = blocks
        return (torch.linalg.norm(self.R - U @ V.transpose(-1, -2), dim=(-2, -1))
                / torch.linalg.norm(self.R, dim=(-2, -1)))


def completion_problems(n_problems, size=100, rank=5, rate=0.2, seed=0, dtype=np.float64):
    """Synthetic completion problems as in the seed's Sec. V-A: ``R = U* V*^T`` (size x size,
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


class GMMProblems(_Problems):
    """Gaussian mixtures with fixed identity covariances (seed eq. 17) for a batch of data
    sets ``X`` (B, G, D): blocks ``logits`` (B, K) of the mixing weights and ``mu``
    (B, K, D); the global loss is the mean negative log-likelihood per point."""

    names = ("logits", "mu")

    def __init__(self, X, K):
        self.X = torch.as_tensor(X)
        if self.X.ndim != 3:
            raise ValueError("X must be a (batch, points, dimensions) array.")
        self.K = int(K)

    def loss(self, blocks):
        logits, mu = blocks
        D = self.X.shape[-1]
        sq = ((self.X.unsqueeze(-2) - mu.unsqueeze(-3)) ** 2).sum(-1)  # (B, G, K)
        logp = (torch.log_softmax(logits, -1).unsqueeze(-2) - 0.5 * sq
                - 0.5 * D * math.log(2 * math.pi))
        return -torch.logsumexp(logp, -1).mean(-1)

    def start(self, generator):
        """Uniform weights and K distinct data points of each set as the means."""
        B, G, _ = self.X.shape
        idx = torch.stack([torch.randperm(G, generator=generator)[:self.K] for _ in range(B)])
        mu = torch.gather(self.X, 1, idx.unsqueeze(-1).expand(-1, -1, self.X.shape[-1]))
        return [torch.zeros(B, self.K, dtype=self.X.dtype), mu.clone()]


def gmm_problems(n_problems, n_points=500, K=4, dim=2, spread=2.0, seed=0, dtype=np.float64):
    """Synthetic GMM problems (seed Sec. V-B): ``K`` components with identity covariances,
    means N(0, spread^2 I), equal weights, ``n_points`` points. Returns X (n_problems,
    n_points, dim)."""
    rng = np.random.default_rng(seed)
    means = spread * rng.standard_normal((n_problems, K, dim))
    labels = rng.integers(K, size=(n_problems, n_points))
    X = np.take_along_axis(means, labels[..., None], axis=1)
    return (X + rng.standard_normal(X.shape)).astype(dtype)


class NMFProblems(_Problems):
    """NMF, ``X ~ W H`` with X (B, n, m) non-negative, W (B, n, r), H (B, r, m); the global
    loss is ``1/2 ||X - W H||^2 / ||X||^2`` (scale-free across data sets) and every step is
    projected onto W, H >= 0."""

    names = ("W", "H")
    nonnegative = True

    def __init__(self, X, rank):
        self.X = torch.as_tensor(X)
        if self.X.ndim != 3:
            raise ValueError("X must be a (batch, samples, features) array.")
        if torch.any(self.X < 0) or not torch.all(torch.isfinite(self.X)):
            raise ValueError("NMF problems need finite, non-negative X.")
        self.rank = int(rank)
        self._norm2 = (self.X ** 2).sum((-2, -1)).clamp_min(1e-300)

    def loss(self, blocks):
        W, H = blocks
        return 0.5 * ((self.X - W @ H) ** 2).sum((-2, -1)) / self._norm2

    def start(self, generator):
        """scikit-learn's random start: uniform entries scaled by sqrt(mean(X) / r)."""
        B, n, m = self.X.shape
        scale = torch.sqrt(self.X.mean((-2, -1)) / self.rank).view(B, 1, 1)
        return [scale * torch.rand(B, n, self.rank, generator=generator, dtype=self.X.dtype),
                scale * torch.rand(B, self.rank, m, generator=generator, dtype=self.X.dtype)]

    def relative_error(self, blocks):
        """``||X - W H||_F / ||X||_F`` per problem."""
        return torch.sqrt(2 * self.loss(blocks))


# -- MLAM -----------------------------------------------------------------------------------------

class MLAM(nn.Module):
    """Meta-learned alternating minimisation: one :class:`CoordinateLSTM` per block.

    Parameters
    ----------
    n_blocks : number of variable blocks (2 in every experiment here)
    hidden, n_layers, preprocess, out_scale : of each :class:`CoordinateLSTM`
    """

    def __init__(self, n_blocks=2, hidden=20, n_layers=2, preprocess=10.0, out_scale=0.1):
        super().__init__()
        self.nets = nn.ModuleList(CoordinateLSTM(hidden, n_layers, preprocess, out_scale)
                                  for _ in range(int(n_blocks)))

    def run(self, problems, blocks, n_outer=100, t_in=10, t_out=10, optimizer=None,
            inner_start="previous", generator=None, clip=1.0, record=None):
        """Algorithm 1 on a batch of problems from ``blocks`` (their starting values).

        Each outer iteration runs, block after block, ``t_in`` LSTM steps on the block's
        sub-problem. With an ``optimizer``, every ``t_out`` outer iterations the mean over
        those iterations and over the batch of ``F / F(start)`` (eq. 10, weights 1, each
        problem's loss relative to its starting value) is back-propagated through the steps
        taken since the last update, the LSTMs are updated (eq. 11; gradient norm clipped
        at ``clip``) and the graph is cut (truncated back-propagation through time).

        ``record`` (optional callable of the blocks) is evaluated after every outer
        iteration. Returns ``(blocks, losses, records)``: the final blocks, the global losses
        (B, n_outer + 1) from the start on, and the list of records.
        """
        if inner_start not in INNER_STARTS:
            raise ValueError(f"inner_start must be one of {INNER_STARTS}, got {inner_start!r}.")
        if len(blocks) != len(self.nets):
            raise ValueError(f"{len(self.nets)} blocks expected, got {len(blocks)}.")
        for name, v in (("n_outer", n_outer), ("t_in", t_in), ("t_out", t_out)):
            if int(v) < 1:
                raise ValueError(f"{name} must be >= 1, got {v}.")
        train = optimizer is not None
        blocks = [b.detach() for b in blocks]
        states = [net.init_state(b.numel()) for net, b in zip(self.nets, blocks)]
        with torch.no_grad():
            F0 = problems.loss(blocks).clamp_min(1e-300)
        losses, records, acc = [F0], [], []
        if generator is None and inner_start == "random":
            generator = _generator(0)
        grad_mode = torch.enable_grad() if train else torch.no_grad()
        with grad_mode:
            for t in range(int(n_outer)):
                for b, net in enumerate(self.nets):
                    if inner_start == "random":
                        blocks[b] = problems.start(generator)[b]
                    for _ in range(int(t_in)):
                        g = problems.block_gradient(blocks, b)
                        step, states[b] = net(g.reshape(-1), states[b])
                        blocks[b] = problems.project(blocks[b] + step.view_as(blocks[b]))
                F = problems.loss(blocks)
                losses.append(F.detach())
                if record is not None:
                    records.append(record([x.detach() for x in blocks]))
                if train:
                    acc.append(F / F0)
                    if (t + 1) % int(t_out) == 0 or t + 1 == int(n_outer):
                        L = torch.stack(acc).mean()
                        optimizer.zero_grad()
                        L.backward()
                        nn.utils.clip_grad_norm_(self.parameters(), clip)
                        optimizer.step()
                        blocks = [x.detach() for x in blocks]
                        states = [_detach_state(s) for s in states]
                        acc = []
        return [x.detach() for x in blocks], torch.stack(losses, -1), records

    def fit(self, make_problems, n_train, *, n_epochs=5, batch=10, n_outer=100, t_in=10,
            t_out=10, lr=1e-3, inner_start="previous", random_state=0, progress=False):
        """The upper level: ``n_epochs`` passes over ``n_train`` training problems in
        batches of ``batch``; ``make_problems(indices)`` returns the problems of a batch.
        Each batch is solved from a fresh random start while the LSTMs are updated every
        ``t_out`` outer iterations (one Adam, lr ``lr``, for the whole training).
        Returns the mean final ``F / F(start)`` of each batch, in order."""
        rng = np.random.default_rng(random_state)
        torch.manual_seed(int(rng.integers(2**31)))
        opt = torch.optim.Adam(self.parameters(), lr=lr)
        curve = []
        n_batches = max(1, math.ceil(n_train / batch))
        bar = None
        if progress:
            from tqdm.auto import tqdm
            bar = tqdm(total=n_epochs * n_batches, desc="MLAM training", unit="batch")
        self.train()
        with torch_threads(1):
            for _ in range(int(n_epochs)):
                order = rng.permutation(n_train)
                for k in range(n_batches):
                    idx = order[k * batch:(k + 1) * batch]
                    problems = make_problems(idx)
                    start = problems.start(_generator(int(rng.integers(2**31))))
                    _, losses, _ = self.run(problems, start, n_outer, t_in, t_out, opt,
                                            inner_start, _generator(int(rng.integers(2**31))))
                    curve.append(float((losses[:, -1] / losses[:, 0]).mean()))
                    if bar is not None:
                        bar.update()
        if bar is not None:
            bar.close()
        self.eval()
        return curve

    def solve(self, problems, blocks, n_outer=100, t_in=10, inner_start="previous",
              random_state=0, record=None):
        """Run the trained MLAM (frozen) on ``problems`` from ``blocks``; see :meth:`run`."""
        with torch_threads(1):
            return self.run(problems, blocks, n_outer, t_in, t_out=1, optimizer=None,
                            inner_start=inner_start, generator=_generator(random_state),
                            record=record)


# -- baselines ------------------------------------------------------------------------------------

def alternating_gd(problems, blocks, lr, n_outer=100, t_in=10, record=None):
    """Alternating gradient descent: ``t_in`` steps of size ``lr`` on each block's
    sub-problem per outer iteration (projected for non-negative problems). Returns
    ``(blocks, losses, records)`` like :meth:`MLAM.run`; a diverging run gives inf/nan
    losses, which the caller reads as failure."""
    blocks = [b.detach().clone() for b in blocks]
    with torch.no_grad():
        losses, records = [problems.loss(blocks)], []
        for _ in range(int(n_outer)):
            for b in range(len(blocks)):
                for _ in range(int(t_in)):
                    g = problems.block_gradient(blocks, b)
                    blocks[b] = problems.project(blocks[b] - lr * g)
            losses.append(problems.loss(blocks))
            if record is not None:
                records.append(record(blocks))
    return blocks, torch.stack(losses, -1), records


def als_completion(problems, blocks, n_outer=100):
    """Alternating least squares for :class:`CompletionProblems`: each outer iteration
    solves the U sub-problem exactly (a ridge regression per row over its observed entries)
    and then the V sub-problem. Returns ``(blocks, losses)``."""
    R, M, lam = problems.R, problems.mask, problems.lam
    U, V = [b.detach().clone() for b in blocks]
    eye = lam * torch.eye(problems.p, dtype=R.dtype)

    def solve(Y, Mk, F):  # rows of Y (B, n, m) observed where Mk, fixed factor F (B, m, p)
        A = torch.einsum("bij,bjk,bjl->bikl", Mk, F, F) + eye
        rhs = torch.einsum("bij,bjk->bik", Mk * Y, F)
        return torch.linalg.solve(A, rhs.unsqueeze(-1)).squeeze(-1)

    with torch.no_grad():
        losses = [problems.loss([U, V])]
        for _ in range(int(n_outer)):
            U = solve(R, M, V)
            V = solve(R.transpose(-1, -2), M.transpose(-1, -2), U)
            losses.append(problems.loss([U, V]))
    return [U, V], torch.stack(losses, -1)


def em_gmm(problems, blocks, max_iter=100, tol=1e-4):
    """EM for :class:`GMMProblems` (identity covariances fixed): E-step responsibilities,
    M-step weights and means, per problem until the mean negative log-likelihood changes by
    less than ``tol`` (the seed's criterion) or ``max_iter`` iterations. Returns
    ``(blocks, losses (B,), n_iter (B,))``."""
    X = problems.X
    logits, mu = [b.detach().clone() for b in blocks]
    B = X.shape[0]
    done = torch.zeros(B, dtype=torch.bool)
    n_iter = torch.zeros(B, dtype=torch.long)
    with torch.no_grad():
        F = problems.loss([logits, mu])
        for _ in range(int(max_iter)):
            sq = ((X.unsqueeze(-2) - mu.unsqueeze(-3)) ** 2).sum(-1)
            resp = torch.softmax(torch.log_softmax(logits, -1).unsqueeze(-2) - 0.5 * sq, -1)
            Nk = resp.sum(-2).clamp_min(1e-12)  # (B, K)
            new_logits = torch.log(Nk / X.shape[-2])
            new_mu = (resp.transpose(-1, -2) @ X) / Nk.unsqueeze(-1)
            keep = (~done).view(B, 1)
            logits = torch.where(keep, new_logits, logits)
            mu = torch.where(keep.unsqueeze(-1), new_mu, mu)
            F_new = problems.loss([logits, mu])
            n_iter += (~done).long()
            done = done | ((F - F_new).abs() < tol)
            F = F_new
            if bool(done.all()):
                break
    return [logits, mu], F, n_iter


@dataclass(frozen=True)
class MLAMSettings:
    """Everything that defines an MLAM result besides the experiment's setting and seed.

    Seed Sec. V: T = ``n_outer`` = 100 outer iterations, ``t_in`` = ``t_out`` = 10, Adam,
    two LSTM layers. Ours differ where a 2-core CPU budget asks: LSTM layers of ``hidden`` =
    10 units (seed: 500), two passes (``n_epochs``) over the training problems in batches of
    ``batch`` (the seed gives neither), and an Adam rate ``lr`` of 3e-3 (seed: 1e-3), which
    with so few updates trained better in a trial on rank-5 completion (test RMSE 0.36
    against 0.48 at 1e-3 with 20 units). ``lam`` weighs eq. (13)'s regulariser
    (not given in the seed). GD's step size is the value of ``gd_lrs`` with the lowest final
    global loss on the training problems (no ground truth used); "ALS (tuned ridge)" takes
    the ridge weight of ``als_lams`` with the best RMSE on the training problems (their
    ground truth used, as the seed's "carefully adjusted" baselines). GMM: ``gmm_k``
    components, ``gmm_points`` points, means N(0, ``gmm_spread``^2 I), EM stopped when the
    mean negative log-likelihood changes by less than ``em_tol`` (seed: 1e-4). NMF: MLAM is
    trained on ``nmf_rows``-sample sub-matrices of the learning half for ``nmf_train_outer``
    outer iterations each, then run on the evaluation half for 100.
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

    def to_json(self):
        import json
        from dataclasses import asdict
        return json.dumps(asdict(self), sort_keys=True, separators=(",", ":"))

    @property
    def hash(self):
        import hashlib
        payload = f"{self.to_json()}|mlam={MLAM_VERSION}".encode()
        return hashlib.sha256(payload).hexdigest()[:12]


# -- the experiments ------------------------------------------------------------------------------

#: Experiments of :func:`mlam_cell` and the parameters of their settings.
EXPERIMENTS = {"completion": ("rate", "rank", "p"), "gmm": ("dim",),
               "nmf": ("dataset", "rank", "train_batch")}

#: Outer iterations at which the global loss is kept (besides the last).
LOSS_POINTS = (0, 1, 2, 5, 10, 20, 50)

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


def _rows(base, method, measure, values, t):
    return [dict(base, method=method, problem=int(i), measure=measure, t=int(t),
                 value=float(v)) for i, v in enumerate(np.asarray(values, dtype=float))]


def _loss_rows(base, method, losses, n_outer):
    out = []
    for t in sorted(set(LOSS_POINTS) | {int(n_outer)}):
        if t < losses.shape[-1]:
            out += _rows(base, method, "loss", losses[:, t].numpy(), t)
    return out


def _best_gd_lr(problems, start, settings):
    """GD's step size: the grid value with the lowest mean final global loss on the
    training problems (diverging ones are out)."""
    best, best_lr = math.inf, settings.gd_lrs[0]
    for lr in settings.gd_lrs:
        _, L, _ = alternating_gd(problems, start, lr, settings.n_outer, settings.t_in)
        final = float(L[:, -1].mean())
        if math.isfinite(final) and final < best:
            best, best_lr = final, lr
    return best_lr


def _completion_cell(params, seed, settings, base):
    import time

    n_train, n_test = params["n_train"], params["n_test"]
    R, mask = completion_problems(n_train + n_test, rank=params["rank"], rate=params["rate"],
                                  seed=seed)

    def make(idx):
        return CompletionProblems(torch.as_tensor(R[idx]), torch.as_tensor(mask[idx]),
                                  params["p"], settings.lam)

    train_idx, test_idx = np.arange(n_train), np.arange(n_train, n_train + n_test)
    test, train = make(test_idx), make(train_idx)
    start = test.start(_generator(seed + 1))
    rows = []
    torch.manual_seed(seed)
    model = MLAM(2, settings.hidden, settings.n_layers, out_scale=settings.out_scale)
    t0 = time.perf_counter()
    model.fit(make, n_train, n_epochs=settings.n_epochs, batch=settings.batch,
              n_outer=settings.n_outer, t_in=settings.t_in, t_out=settings.t_out,
              lr=settings.lr, inner_start=settings.inner_start, random_state=seed)
    train_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    blocks, L, _ = model.solve(test, start, settings.n_outer, settings.t_in,
                               settings.inner_start, random_state=seed)
    rows += _rows(base, "MLAM", "rmse", test.rmse(blocks).numpy(), settings.n_outer)
    rows += _loss_rows(base, "MLAM", L, settings.n_outer)
    rows += _rows(base, "MLAM", "seconds", [(time.perf_counter() - t0) / n_test] * n_test,
                  settings.n_outer)
    rows += _rows(base, "MLAM", "train_seconds", [train_s] * n_test, settings.n_outer)
    with torch_threads(1):
        lr = _best_gd_lr(train, train.start(_generator(seed + 2)), settings)
        t0 = time.perf_counter()
        blocks, L, _ = alternating_gd(test, start, lr, settings.n_outer, settings.t_in)
        rows += _rows(base, "GD", "rmse", test.rmse(blocks).numpy(), settings.n_outer)
        rows += _loss_rows(base, "GD", L, settings.n_outer)
        rows += _rows(base, "GD", "seconds", [(time.perf_counter() - t0) / n_test] * n_test,
                      settings.n_outer)
        rows += _rows(base, "GD", "step_size", [lr] * n_test, settings.n_outer)
        t0 = time.perf_counter()
        blocks, L = als_completion(test, start, settings.n_outer)
        rows += _rows(base, "ALS", "rmse", test.rmse(blocks).numpy(), settings.n_outer)
        rows += _loss_rows(base, "ALS", L, settings.n_outer)
        rows += _rows(base, "ALS", "seconds", [(time.perf_counter() - t0) / n_test] * n_test,
                      settings.n_outer)
        # ALS with its ridge weight chosen for the best RMSE on the training problems (uses
        # their ground truth: the seed's "carefully adjusted" baselines)
        best, best_lam = math.inf, settings.lam
        tstart = train.start(_generator(seed + 2))
        for lam in settings.als_lams:
            probe = CompletionProblems(train.R, train.mask, params["p"], lam)
            b, _ = als_completion(probe, tstart, settings.n_outer)
            r = float(probe.rmse(b).mean())
            if r < best:
                best, best_lam = r, lam
        tuned = CompletionProblems(test.R, test.mask, params["p"], best_lam)
        blocks, _ = als_completion(tuned, start, settings.n_outer)
        rows += _rows(base, "ALS (tuned ridge)", "rmse", tuned.rmse(blocks).numpy(),
                      settings.n_outer)
        rows += _rows(base, "ALS (tuned ridge)", "ridge", [best_lam] * n_test,
                      settings.n_outer)
    return rows


def _gmm_cell(params, seed, settings, base):
    import time

    n_train, n_test = params["n_train"], params["n_test"]
    X = gmm_problems(n_train + n_test, dim=params["dim"], K=settings.gmm_k,
                     n_points=settings.gmm_points, spread=settings.gmm_spread, seed=seed)

    def make(idx):
        return GMMProblems(torch.as_tensor(X[idx]), settings.gmm_k)

    test = make(np.arange(n_train, n_train + n_test))
    start = test.start(_generator(seed + 1))
    torch.manual_seed(seed)
    model = MLAM(2, settings.hidden, settings.n_layers, out_scale=settings.out_scale)
    t0 = time.perf_counter()
    model.fit(make, n_train, n_epochs=settings.n_epochs, batch=settings.batch,
              n_outer=settings.n_outer, t_in=settings.t_in, t_out=settings.t_out,
              lr=settings.lr, inner_start=settings.inner_start, random_state=seed)
    train_s = time.perf_counter() - t0
    rows = []
    t0 = time.perf_counter()
    _, L, _ = model.solve(test, start, settings.n_outer, settings.t_in, settings.inner_start,
                          random_state=seed)
    rows += _rows(base, "MLAM", "nll", L[:, -1].numpy(), settings.n_outer)
    rows += _loss_rows(base, "MLAM", L, settings.n_outer)
    rows += _rows(base, "MLAM", "seconds", [(time.perf_counter() - t0) / n_test] * n_test,
                  settings.n_outer)
    rows += _rows(base, "MLAM", "train_seconds", [train_s] * n_test, settings.n_outer)
    with torch_threads(1):
        t0 = time.perf_counter()
        _, F, n_iter = em_gmm(test, start, settings.n_outer, settings.em_tol)
        rows += _rows(base, "EM", "nll", F.numpy(), settings.n_outer)
        rows += _rows(base, "EM", "iterations", n_iter.numpy(), settings.n_outer)
        rows += _rows(base, "EM", "seconds", [(time.perf_counter() - t0) / n_test] * n_test,
                      settings.n_outer)
    return rows


def _nmf_cell(params, seed, settings, base, thesis_settings=None):
    import time
    import warnings

    from sklearn.exceptions import ConvergenceWarning

    from ._nmf import NMF
    from .evaluation import cluster_nmi
    from .experiments import Settings, load_cell_data

    thesis_settings = Settings() if thesis_settings is None else thesis_settings
    X_learn, X_eval, _, y_eval = load_cell_data(params["dataset"], 0.0, thesis_settings)
    rank, n_train = params["rank"], params["n_train"]
    rng = np.random.default_rng(seed)
    size = min(settings.nmf_rows, X_learn.shape[0])
    subsets = [rng.choice(X_learn.shape[0], size, replace=False) for _ in range(n_train)]

    def make(idx):
        return NMFProblems(torch.as_tensor(np.stack([X_learn[subsets[i]] for i in idx]),
                                           dtype=torch.float32), rank)

    torch.manual_seed(seed)
    model = MLAM(2, settings.hidden, settings.n_layers, out_scale=settings.out_scale)
    t0 = time.perf_counter()
    model.fit(make, n_train, n_epochs=settings.n_epochs, batch=params["train_batch"],
              n_outer=settings.nmf_train_outer, t_in=settings.t_in,
              t_out=settings.t_out, lr=settings.lr, inner_start=settings.inner_start,
              random_state=seed)
    train_s = time.perf_counter() - t0
    test = NMFProblems(torch.as_tensor(X_eval[None], dtype=torch.float32), rank)
    start = test.start(_generator(seed + 1))
    rows = []

    def nmi(W):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            return cluster_nmi(np.asarray(W, dtype=np.float64), y_eval, random_state=seed)

    outers = [u // settings.t_in for u in NMF_UPDATES]
    keep = {}
    t0 = time.perf_counter()
    _, L, recs = model.solve(test, start, max(outers), settings.t_in, settings.inner_start,
                             random_state=seed, record=lambda b: b[0][0].numpy().copy())
    secs = time.perf_counter() - t0
    for u, o in zip(NMF_UPDATES, outers):
        keep[u] = recs[o - 1]
        rows += _rows(base, "MLAM", "error", [math.sqrt(2 * float(L[0, o]))], u)
        rows += _rows(base, "MLAM", "nmi", [nmi(keep[u])], u)
    rows += _rows(base, "MLAM", "seconds", [secs], max(NMF_UPDATES))
    rows += _rows(base, "MLAM", "train_seconds", [train_s], max(NMF_UPDATES))
    W0, H0 = (x[0].numpy().astype(np.float64) for x in start)
    X64 = np.asarray(X_eval, dtype=np.float64)
    for u in NMF_UPDATES:
        t0 = time.perf_counter()
        est = NMF(rank, init="custom", max_iter=u, tol=0.0, random_state=seed)
        W = est.fit_transform(X64, W=W0.copy(), H=H0.copy())
        err = np.linalg.norm(X64 - W @ est.components_) / np.linalg.norm(X64)
        rows += _rows(base, "MU", "error", [err], u)
        rows += _rows(base, "MU", "nmi", [nmi(W)], u)
        if u == max(NMF_UPDATES):
            rows += _rows(base, "MU", "seconds", [time.perf_counter() - t0], u)
    return rows


def mlam_cell(experiment, params, seed, settings=None, thesis_settings=None):
    """Rows of one experiment setting and seed: MLAM trained on ``params["n_train"]``
    problems, then MLAM and the baselines on ``params["n_test"]`` test problems from the
    same starts (``problem`` indexes the test problems; NMF has one, the evaluation half)."""
    from datetime import datetime, timezone

    from ._config import __version__
    from .metaprior import _environment

    settings = MLAMSettings() if settings is None else settings
    key = setting_key(experiment, **params)
    base = {"experiment": experiment, "setting": key, "seed": int(seed),
            "settings_hash": settings.hash, "algorithm_version": MLAM_VERSION}
    with torch_threads(1):
        if experiment == "completion":
            rows = _completion_cell(params, seed, settings, base)
        elif experiment == "gmm":
            rows = _gmm_cell(params, seed, settings, base)
        else:
            rows = _nmf_cell(params, seed, settings, base, thesis_settings)
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    extra = {"package_version": __version__, "environment": _environment(),
             "settings": settings.to_json(), "created_utc": stamp}
    return [dict(r, **extra) for r in rows]


def run_mlam(cells, settings=None, store=None, progress=False, thesis_settings=None):
    """Every ``(experiment, params, seed)`` of ``cells`` not yet in ``store`` (default
    ``data/results/mlam.csv``; False: keep nothing) is computed whole and added. Returns the
    rows of the given cells (with the parsed setting columns)."""
    import pandas as pd

    from .store import MLAMStore

    settings = MLAMSettings() if settings is None else settings
    if store is not False and not isinstance(store, MLAMStore):
        store = MLAMStore(store)
    wanted = [(e, setting_key(e, **p), int(s)) for e, p, s in cells]
    have = set()
    if store is not False:
        df = store.load()
        ok = (df.settings_hash == settings.hash) & (df.algorithm_version == MLAM_VERSION)
        have = set(zip(df.experiment[ok], df.setting[ok], df.seed[ok].astype(int)))
    todo = [(c, w) for c, w in zip(cells, wanted) if w not in have]
    it = todo
    if progress and todo:
        from tqdm.auto import tqdm
        it = tqdm(todo, desc="MLAM cells", unit="cell")
    rows = []
    for (e, p, s), _ in it:
        new = mlam_cell(e, p, s, settings, thesis_settings)
        if store is False:
            rows += new
        else:
            store.add(new)
    df = pd.DataFrame(rows) if store is False else store.load()
    df = df[(df.settings_hash == settings.hash) & (df.algorithm_version == MLAM_VERSION)]
    keys = set(wanted)
    df = df[[k in keys for k in zip(df.experiment, df.setting, df.seed.astype(int))]].copy()
    for c in ("seed", "problem", "t"):
        df[c] = df[c].astype(int)
    df["value"] = df["value"].astype(float)
    return df.reset_index(drop=True)


#: Ranks (Table II) and factor dimensions of a rank-10 matrix (Table III) of the full profile,
#: the seed's. MLAM's cost grows with the number of coordinates (p times the two dimensions):
#: the training at rank or p = 100 takes about half an hour on one core.
BIG_RANKS = (10, 20, 40, 80, 100)
BIG_PS = (20, 40, 80, 100)

#: The image datasets of the NMF version.
NMF_DATASETS = ("digits", "fmnist", "faces", "coil20")


def profile_cells(profile):
    """The ``(experiment, params, seed)`` cells of a book profile, cheapest first.

    full: the seed's experiments with 50 training and 50 test problems for the rank-5
    completion at the four observation rates and for the GMM (2-D as Fig. 6, and the
    dimensions of Table VI), 10 and 10 for the larger ranks and factor dimensions of
    :data:`BIG_RANKS` and :data:`BIG_PS` (Tables II and III), and the NMF version on the four
    image datasets at rank 10 (three seeds, 10 training sub-matrices each, one per batch: with
    ``nmf_train_outer`` = 20 outer iterations a batch gives two updates of the networks, and
    batches of 10 would leave them with four in all).
    smoke: seconds-long versions of one cell per experiment.
    """
    if profile == "smoke":
        return [("completion", dict(rate=r, rank=5, p=5, n_train=2, n_test=3), 0)
                for r in (0.2, 0.4)] + [
                ("gmm", dict(dim=d, n_train=2, n_test=3), 0) for d in (2, 4)] + [
                ("nmf", dict(dataset="digits", rank=3, n_train=2, n_test=1, train_batch=1), 0)]
    if profile != "full":
        raise ValueError(f"Unknown profile {profile!r}.")
    cells = [("gmm", dict(dim=d, n_train=50, n_test=50), 0) for d in (2, 4, 8, 16, 32, 64)]
    cells += [("completion", dict(rate=r, rank=5, p=5, n_train=50, n_test=50), 0)
              for r in (0.2, 0.4, 0.6, 0.8)]
    cells += [("nmf", dict(dataset=d, rank=10, n_train=10, n_test=1, train_batch=1), s)
              for d in NMF_DATASETS for s in (0, 1, 2)]
    cells += [("completion", dict(rate=0.2, rank=k, p=k, n_train=10, n_test=10), 0)
              for k in BIG_RANKS]
    cells += [("completion", dict(rate=0.2, rank=10, p=p, n_train=10, n_test=10), 0)
              for p in BIG_PS]
    return cells


#: The settings of the book's profiles.
PROFILE_SETTINGS = {
    "full": MLAMSettings(),
    "smoke": MLAMSettings(hidden=4, n_outer=5, t_in=2, t_out=2, batch=2, nmf_rows=30,
                          nmf_train_outer=2, gd_lrs=(1e-2,), als_lams=(0.1, 1.0)),
}


#: The seed's tables read by :func:`seed_tables`: name -> (caption start, column parameter).
SEED_TABLES = {"I": ("RMSE OF RANK-5 MATRIX COMPLETION", "rate"),
               "II": ("RMSE OF MATRIX COMPLETION WITH DIFFERENT RANKS", "rank"),
               "III": ("RMSE OF RANK-10 MATRIX COMPLETION", "p"),
               "VI": ("HIGH DIMENSIONAL GMM", "dim")}


def seed_tables(path=None):
    """The seed's Tables I, II, III and VI, read from the seed text in the reference folder
    (``../shared/seeds/004_*.txt``) at build time, as a long DataFrame (table, parameter,
    method, value; ``>1`` entries as inf), or None with the reason if the text is not there.
    Never stored in this project."""
    import re

    import pandas as pd

    from ._config import PROJECT_ROOT

    if path is None:
        found = sorted((PROJECT_ROOT.parent / "shared" / "seeds").glob("004_*.txt"))
        if not found:
            return None, "the seed text ../shared/seeds/004_*.txt is not beside the project"
        path = found[0]
    lines = open(path, encoding="utf-8").read().splitlines()
    rows = []
    for name, (caption, param) in SEED_TABLES.items():
        at = next((i for i, s in enumerate(lines) if s.strip().startswith(caption)), None)
        if at is None:
            continue
        header = None
        for s in lines[at + 1:at + 12]:
            cells = [c.strip() for c in s.split("\t") if c.strip()]
            if not cells:
                continue
            if cells[0].startswith("Methods"):
                header = [float(c) for c in cells if re.fullmatch(r"\d+(\.\d+)?", c)]
                continue
            if header is None:
                continue
            values = [re.sub(r"</?b>", "", c) for c in cells[1:]]
            if len(values) != len(header):
                break
            for h, v in zip(header, values):
                rows.append(dict(table=name, parameter=param,
                                 value_of=int(h) if h.is_integer() else h,
                                 method=cells[0], value=math.inf if v.startswith(">")
                                 else float(v)))
    if not rows:
        return None, f"no MLAM tables found in {path}"
    return pd.DataFrame(rows), ""


# -- reporting -----------------------------------------------------------------------------------

def with_parameters(rows):
    """``rows`` with one column per parameter of their settings (``rate``, ``rank``, ...)."""
    import pandas as pd

    params = pd.DataFrame([parse_setting(s) for s in rows["setting"]], index=rows.index)
    return pd.concat([rows, params.drop(columns=[c for c in params if c in rows])], axis=1)


def summary(rows, measure, by):
    """Mean of ``measure`` per ``by`` (parameter column(s)) and method, with the Student-t
    95% interval over test problems (and seeds): columns ``mean``, ``low``, ``high``, ``n``."""
    import pandas as pd

    from .stats import mean_interval

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
    same way, :func:`metanmf_lab.stats.significant_sign`; else "undecided")."""
    import pandas as pd

    from .stats import (ALPHA, holm, mean_interval, significant_sign, signed_rank_direction,
                        signed_rank_p)

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
