"""The PyTorch part of :mod:`metanmf_lab.related.mlam`: the learned optimiser, the problems, MLAM,
the baselines and the experiments' cells (see that module's docstring).

Only computing results needs it: :mod:`metanmf_lab.related.mlam` imports this module lazily, inside
:func:`metanmf_lab.related.mlam.mlam_cell`, and re-exports its public names, so that reading the
stored results needs no PyTorch.
"""

from __future__ import annotations

import math
import time
import warnings

import numpy as np
import torch
from sklearn.exceptions import ConvergenceWarning
from torch import nn

from ..core import NMF
from ..core.evaluation import cluster_nmi
from ..grid.cells import Settings
from ..grid.models import load_cell_data
from ..grid.spine import progress_bar
from ._metaprior_torch import linear, torch_generator, torch_threads

#: How :meth:`MLAM.run` starts each inner loop: from the block's current value, or at random.
INNER_STARTS = ("previous", "random")

#: Outer iterations at which the global loss is kept (besides the last).
LOSS_POINTS = (0, 1, 2, 5, 10, 20, 50)

#: The seeds of a cell's random starts: offsets from the cell's seed, which itself seeds the
#: networks' parameters, their training and the inner loops' random starts.
START_OFFSETS = {"test": 1, "train": 2}


def _lstm_cell(n_in, hidden, generator):
    """``nn.LSTMCell(n_in, hidden)`` with PyTorch's default initialisation (every parameter
    uniform in +-1/sqrt(hidden), in order) drawn from ``generator``."""
    cell = nn.utils.skip_init(nn.LSTMCell, n_in, hidden)
    bound = 1.0 / math.sqrt(hidden)
    for weight in cell.parameters():
        nn.init.uniform_(weight, -bound, bound, generator=generator)
    return cell


# -- the learned optimiser ------------------------------------------------------------------------


class CoordinateLSTM(nn.Module):
    """A coordinate-wise LSTM optimiser: gradient entries in, additive steps out.

    Parameters
    ----------
    hidden : units per LSTM layer (source: 500; default 20, Andrychowicz et al.'s size)
    n_layers : LSTM layers (source: 2)
    preprocess : p of the gradient preprocessing ``(log|g|/p, sign g)``; gradients smaller
        than ``exp(-p)`` enter as ``(-1, exp(p) g)``
    out_scale : the output layer's value is multiplied by this
    generator : draws the parameters, layer after layer (default: one seeded with 0)
    """

    def __init__(self, hidden=20, n_layers=2, preprocess=10.0, out_scale=0.1, generator=None):
        super().__init__()
        if int(hidden) < 1 or int(n_layers) < 1:
            raise ValueError(f"hidden and n_layers must be >= 1, got {hidden}, {n_layers}.")
        generator = torch_generator(0) if generator is None else generator
        self.hidden, self.n_layers = int(hidden), int(n_layers)
        self.preprocess, self.out_scale = float(preprocess), float(out_scale)
        self.cells = nn.ModuleList(_lstm_cell(2 if i == 0 else self.hidden, self.hidden,
                                              generator) for i in range(self.n_layers))
        self.out = linear(self.hidden, 1, generator)

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
    """Matrix completion (Xia et al. 2023, eq. 13) for a batch of matrices ``R`` (B, n, m)
    observed where ``mask`` is 1, factors ``U`` (B, n, p) and ``V`` (B, m, p)."""

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
        """The source's RMSE, ``||R - U V^T||_F / ||R||_F``, per problem."""
        U, V = blocks
        return (torch.linalg.norm(self.R - U @ V.transpose(-1, -2), dim=(-2, -1))
                / torch.linalg.norm(self.R, dim=(-2, -1)))


class GMMProblems(_Problems):
    """Gaussian mixtures with fixed identity covariances (Xia et al. 2023, eq. 17) for a batch
    of data sets ``X`` (B, G, D): blocks ``logits`` (B, K) of the mixing weights and ``mu``
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
    generator : draws the parameters, network after network (default: one seeded with 0)
    """

    def __init__(self, n_blocks=2, hidden=20, n_layers=2, preprocess=10.0, out_scale=0.1,
                 generator=None):
        super().__init__()
        generator = torch_generator(0) if generator is None else generator
        self.nets = nn.ModuleList(CoordinateLSTM(hidden, n_layers, preprocess, out_scale,
                                                 generator) for _ in range(int(n_blocks)))

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
            generator = torch_generator(0)
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
        Returns the mean final ``F / F(start)`` of each batch, in order. ``random_state``
        seeds the order of the problems and the generators of each batch's starts."""
        rng = np.random.default_rng(random_state)
        rng.integers(2**31)  # seeded torch's global generator, which nothing here reads: kept
        # so that the draws below, and the stored rows, stay the same
        opt = torch.optim.Adam(self.parameters(), lr=lr)
        curve = []
        n_batches = max(1, math.ceil(n_train / batch))
        bar = None
        if progress:
            bar = progress_bar(n_epochs * n_batches, "MLAM training", "batch")
        self.train()
        with torch_threads(1):
            for _ in range(int(n_epochs)):
                order = rng.permutation(n_train)
                for k in range(n_batches):
                    idx = order[k * batch:(k + 1) * batch]
                    problems = make_problems(idx)
                    start = problems.start(torch_generator(rng.integers(2**31)))
                    _, losses, _ = self.run(problems, start, n_outer, t_in, t_out, opt,
                                            inner_start, torch_generator(rng.integers(2**31)))
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
                            inner_start=inner_start, generator=torch_generator(random_state),
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
    less than ``tol`` (the source's criterion) or ``max_iter`` iterations. Returns
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


# -- the experiments' cells (called by metanmf_lab.related.mlam.mlam_cell) ------------------------


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


def completion_cell(R, mask, params, seed, settings, base):
    """Rows of a completion setting: MLAM, GD, ALS and tuned ALS on the problems ``R, mask``
    (the first ``n_train`` to train MLAM and tune the baselines, the rest to test)."""
    n_train, n_test = params["n_train"], params["n_test"]

    def make(idx):
        return CompletionProblems(torch.as_tensor(R[idx]), torch.as_tensor(mask[idx]),
                                  params["p"], settings.lam)

    train_idx, test_idx = np.arange(n_train), np.arange(n_train, n_train + n_test)
    test, train = make(test_idx), make(train_idx)
    start = test.start(torch_generator(seed + START_OFFSETS["test"]))
    rows = []
    model = MLAM(2, settings.hidden, settings.n_layers, out_scale=settings.out_scale,
                 generator=torch_generator(seed))
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
        tstart = train.start(torch_generator(seed + START_OFFSETS["train"]))
        lr = _best_gd_lr(train, tstart, settings)
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
        # their ground truth: the source's "carefully adjusted" baselines)
        best, best_lam = math.inf, settings.lam
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


def gmm_cell(X, params, seed, settings, base):
    """Rows of a GMM setting: MLAM and EM on the point sets ``X`` (the first ``n_train`` to
    train MLAM, the rest to test)."""
    n_train, n_test = params["n_train"], params["n_test"]

    def make(idx):
        return GMMProblems(torch.as_tensor(X[idx]), settings.gmm_k)

    test = make(np.arange(n_train, n_train + n_test))
    start = test.start(torch_generator(seed + START_OFFSETS["test"]))
    model = MLAM(2, settings.hidden, settings.n_layers, out_scale=settings.out_scale,
                 generator=torch_generator(seed))
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


def nmf_cell(params, seed, settings, base, updates, thesis_settings=None):
    """Rows of an NMF setting: MLAM trained on sub-matrices of the learning half, then MLAM
    and MU on the evaluation half, compared after each number of block ``updates``."""
    thesis_settings = Settings() if thesis_settings is None else thesis_settings
    X_learn, X_eval, _, y_eval = load_cell_data(params["dataset"], 0.0, thesis_settings)
    rank, n_train = params["rank"], params["n_train"]
    rng = np.random.default_rng(seed)
    size = min(settings.nmf_rows, X_learn.shape[0])
    subsets = [rng.choice(X_learn.shape[0], size, replace=False) for _ in range(n_train)]

    def make(idx):
        return NMFProblems(torch.as_tensor(np.stack([X_learn[subsets[i]] for i in idx]),
                                           dtype=torch.float32), rank)

    model = MLAM(2, settings.hidden, settings.n_layers, out_scale=settings.out_scale,
                 generator=torch_generator(seed))
    t0 = time.perf_counter()
    model.fit(make, n_train, n_epochs=settings.n_epochs, batch=params["train_batch"],
              n_outer=settings.nmf_train_outer, t_in=settings.t_in,
              t_out=settings.t_out, lr=settings.lr, inner_start=settings.inner_start,
              random_state=seed)
    train_s = time.perf_counter() - t0
    test = NMFProblems(torch.as_tensor(X_eval[None], dtype=torch.float32), rank)
    start = test.start(torch_generator(seed + START_OFFSETS["test"]))
    rows = []

    def nmi(W):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            return cluster_nmi(np.asarray(W, dtype=np.float64), y_eval, random_state=seed)

    outers = [u // settings.t_in for u in updates]
    keep = {}
    t0 = time.perf_counter()
    _, L, recs = model.solve(test, start, max(outers), settings.t_in, settings.inner_start,
                             random_state=seed, record=lambda b: b[0][0].numpy().copy())
    secs = time.perf_counter() - t0
    for u, o in zip(updates, outers):
        keep[u] = recs[o - 1]
        rows += _rows(base, "MLAM", "error", [math.sqrt(2 * float(L[0, o]))], u)
        rows += _rows(base, "MLAM", "nmi", [nmi(keep[u])], u)
    rows += _rows(base, "MLAM", "seconds", [secs], max(updates))
    rows += _rows(base, "MLAM", "train_seconds", [train_s], max(updates))
    W0, H0 = (x[0].numpy().astype(np.float64) for x in start)
    X64 = np.asarray(X_eval, dtype=np.float64)
    for u in updates:
        t0 = time.perf_counter()
        est = NMF(rank, init="custom", max_iter=u, tol=0.0, random_state=seed)
        W = est.fit_transform(X64, W=W0.copy(), H=H0.copy())
        err = np.linalg.norm(X64 - W @ est.components_) / np.linalg.norm(X64)
        rows += _rows(base, "MU", "error", [err], u)
        rows += _rows(base, "MU", "nmi", [nmi(W)], u)
        if u == max(updates):
            rows += _rows(base, "MU", "seconds", [time.perf_counter() - t0], u)
    return rows
