"""The PyTorch part of :mod:`metanmf_lab.related.metaprior`: the prior network, the unrolled
steps and the episodic meta-training (see that module's docstring).

Only computing results needs it: :mod:`metanmf_lab.related.metaprior` imports this module lazily,
inside the functions that train or evaluate a model, and re-exports its public names, so that
reading the stored results needs no PyTorch.
"""

from __future__ import annotations

import math
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from ..grid.spine import progress_bar

#: The unrolled steps of :class:`MetaPriorMF`: gradient (the source's) or multiplicative (NMF).
STEPS = ("gd", "mu")

#: Denominators of the multiplicative steps are floored at this value.
EPS = 1e-12


def torch_generator(seed):
    """A CPU :class:`torch.Generator` seeded with ``seed``.

    Every random draw of a run (parameters, dropout masks, random starts) takes such a
    generator explicitly: no run reads or changes torch's global generator. Seeded with ``s``,
    it gives the numbers ``torch.manual_seed(s)`` gives the global one for the same draws."""
    return torch.Generator().manual_seed(int(seed))


def linear(c_in, c_out, generator):
    """``nn.Linear(c_in, c_out)`` with PyTorch's default initialisation (weight, then bias)
    drawn from ``generator``; building it draws nothing from the global generator."""
    layer = nn.utils.skip_init(nn.Linear, c_in, c_out)
    nn.init.kaiming_uniform_(layer.weight, a=math.sqrt(5), generator=generator)
    bound = 1 / math.sqrt(c_in) if c_in > 0 else 0
    nn.init.uniform_(layer.bias, -bound, bound, generator=generator)
    return layer


@contextmanager
def torch_threads(n):
    """Run torch with ``n`` intra-op threads (one thread: bit-reproducible sums)."""
    old = torch.get_num_threads()
    torch.set_num_threads(int(n))
    try:
        yield
    finally:
        torch.set_num_threads(old)


def _masked_means(Z, B):
    """Means of Z (..., N, M, C) over the observed entries of each column, of each row and of
    the whole matrix (B (..., N, M) in {0, 1}); empty sets give 0."""
    Bz = B.unsqueeze(-1) * Z
    col = Bz.sum(-3, keepdim=True) / B.sum(-2, keepdim=True).unsqueeze(-1).clamp_min(1.0)
    row = Bz.sum(-2, keepdim=True) / B.sum(-1, keepdim=True).unsqueeze(-1).clamp_min(1.0)
    tot = Bz.sum((-3, -2), keepdim=True) / B.sum((-2, -1), keepdim=True).unsqueeze(
        -1).clamp_min(1.0)
    return Bz, col, row, tot


class ExchangeableLayer(nn.Module):
    """Iwata 2021 eq. (4): ``z' = w1 (b z) + w2 colmean + w3 rowmean + w4 mean + w5`` per channel,
    the means over observed entries; input (..., N, M, c_in), output (..., N, M, c_out).
    ``generator`` draws the weights (default: one seeded with 0)."""

    def __init__(self, c_in, c_out, generator=None):
        super().__init__()
        generator = torch_generator(0) if generator is None else generator
        self.linear = linear(4 * c_in, c_out, generator)  # w1..w4 stacked; its bias is w5

    def forward(self, Z, B):
        Bz, col, row, tot = _masked_means(Z, B)
        return self.linear(torch.cat([Bz, col.expand_as(Z), row.expand_as(Z),
                                      tot.expand_as(Z)], dim=-1))


class _Dropout(nn.Module):
    """Dropout with its masks drawn from the generator given to each call in training mode:
    the masks and scaling of ``nn.functional.dropout`` (bit for bit, for the same stream)."""

    def __init__(self, p):
        super().__init__()
        if not 0 <= p <= 1:
            raise ValueError(f"dropout must be in [0, 1], got {p!r}.")
        self.p = float(p)

    def forward(self, x, generator=None):
        if not self.training or self.p == 0:
            return x
        if generator is None:
            raise ValueError("Dropout in training mode draws its masks from a generator; "
                             "pass one (meta_train does).")
        if self.p == 1:
            return x * 0.0
        keep = 1.0 - self.p
        return x * torch.empty_like(x).bernoulli_(keep, generator=generator).div_(keep)


class _MLP(nn.Sequential):
    """A feed-forward network whose dropout layers draw from the generator of each call."""

    def forward(self, x, generator=None):
        for layer in self:
            x = layer(x, generator) if isinstance(layer, _Dropout) else layer(x)
        return x


def _mlp(c_in, hidden, c_out, n_layers, dropout, generator):
    layers, width = [], c_in
    for _ in range(n_layers - 1):
        layers += [linear(width, hidden, generator), nn.ReLU(), _Dropout(dropout)]
        width = hidden
    layers.append(linear(width, c_out, generator))
    return _MLP(*layers)


class PriorNet(nn.Module):
    """Iwata 2021 eqs. (4)-(5): prior means ``U0`` (..., N, K) and ``V0`` (..., M, K) of a matrix.

    Parameters
    ----------
    rank : K
    channels : channels of the exchangeable layers (source: 32)
    n_layers : exchangeable layers (source: 3; no activation after the last)
    hidden, ff_layers : width and depth of the feed-forward networks f_U, f_V (source: 32, 4)
    dropout : dropout rate inside f_U, f_V (source: 0.1)
    nonnegative : pass the prior means through a softplus (the NMF version)
    generator : draws the parameters, layer after layer (default: one seeded with 0)

    The dropout masks of a forward pass in training mode are drawn from the ``generator``
    given to :meth:`forward`.
    """

    def __init__(self, rank, channels=32, n_layers=3, hidden=32, ff_layers=4, dropout=0.1,
                 nonnegative=False, generator=None):
        super().__init__()
        generator = torch_generator(0) if generator is None else generator
        widths = [1] + [channels] * n_layers
        self.layers = nn.ModuleList(ExchangeableLayer(a, b, generator)
                                    for a, b in zip(widths[:-1], widths[1:]))
        self.f_u = _mlp(channels, hidden, rank, ff_layers, dropout, generator)
        self.f_v = _mlp(channels, hidden, rank, ff_layers, dropout, generator)
        self.nonnegative = nonnegative

    def forward(self, X, B, generator=None):
        Z = (B * X).unsqueeze(-1)
        for i, layer in enumerate(self.layers):
            Z = layer(Z, B)
            if i < len(self.layers) - 1:
                Z = torch.relu(Z)
        U0 = self.f_u(Z.mean(dim=-2), generator)  # mean over the columns of each row (N, C)
        V0 = self.f_v(Z.mean(dim=-3), generator)  # mean over the rows of each column (M, C)
        if self.nonnegative:
            U0, V0 = nn.functional.softplus(U0), nn.functional.softplus(V0)
        return U0, V0


def gd_steps(X, B, U0, V0, lam, eta, n_steps):
    """Iwata 2021 eqs. (6)-(7): ``n_steps`` MAP gradient steps from the prior means."""
    U, V = U0, V0
    for _ in range(n_steps):
        R = B * (U @ V.transpose(-1, -2) - X)
        U, V = (U - eta * (R @ V + lam * (U - U0)),
                V - eta * (R.transpose(-1, -2) @ U + lam * (V - V0)))
    return U, V


def mu_steps(X, B, U0, V0, lam, n_steps):
    """The NMF version: ``n_steps`` multiplicative steps (U then V) from the prior means on
    ``||B*(X - U V^T)||^2 / 2 + lam/2 (||U - U0||^2 + ||V - V0||^2)``; X, U0, V0 >= 0."""
    BX = B * X
    U, V = U0, V0
    for _ in range(n_steps):
        U = U * (BX @ V + lam * U0) / ((B * (U @ V.transpose(-1, -2))) @ V + lam * U
                                        ).clamp_min(EPS)
        Vt = V.transpose(-1, -2)
        V = V * (BX.transpose(-1, -2) @ U + lam * V0) / (
            (B * (U @ Vt)).transpose(-1, -2) @ U + lam * V).clamp_min(EPS)
    return U, V


class MetaPriorMF(nn.Module):
    """The meta-learned model: prior means from :class:`PriorNet`, then ``n_steps`` unrolled
    steps (``step="gd"``: Iwata 2021 eqs. 6-7 with rate ``eta``; ``"mu"``: :func:`mu_steps`, the
    NMF version), with a learnable ``lam`` (initial value ``lam``); ``generator`` draws the
    prior network's parameters (default: one seeded with 0), the ``generator`` of a forward
    pass in training mode its dropout masks."""

    def __init__(self, rank, *, step="gd", n_steps=10, eta=1e-2, lam=1.0, channels=32,
                 n_layers=3, hidden=32, ff_layers=4, dropout=0.1, generator=None):
        super().__init__()
        if step not in STEPS:
            raise ValueError(f"step must be one of {STEPS}, got {step!r}.")
        if not (isinstance(n_steps, int) and n_steps >= 0):
            raise ValueError(f"n_steps must be an int >= 0, got {n_steps!r}.")
        if not (isinstance(rank, int) and rank >= 1):
            raise ValueError(f"rank must be an int >= 1, got {rank!r}.")
        if not (eta > 0 and math.isfinite(eta)):
            raise ValueError(f"eta must be > 0, got {eta!r}.")
        if not (lam > 0 and math.isfinite(lam)):
            raise ValueError(f"lam must be > 0, got {lam!r}.")
        self.step, self.n_steps, self.eta = step, n_steps, float(eta)
        self.prior = PriorNet(rank, channels, n_layers, hidden, ff_layers, dropout,
                              nonnegative=step == "mu", generator=generator)
        self.log_lam = nn.Parameter(torch.tensor(math.log(lam)))

    @property
    def lam(self):
        return self.log_lam.exp()

    def factors(self, X, B, n_steps=None, generator=None):
        """``(U, V)`` after the unrolled steps (``n_steps``: override the trained number;
        ``generator``: the dropout masks' in training mode)."""
        T = self.n_steps if n_steps is None else n_steps
        U0, V0 = self.prior(X, B, generator)
        if self.step == "gd":
            return gd_steps(X, B, U0, V0, self.lam, self.eta, T)
        return mu_steps(X, B, U0, V0, self.lam, T)

    def forward(self, X, B, n_steps=None, generator=None):
        """The completed matrix ``U V^T`` (see :meth:`factors`)."""
        U, V = self.factors(X, B, n_steps, generator)
        return U @ V.transpose(-1, -2)


# -- episodes (Iwata 2021 Algorithm 2) ------------------------------------------------------------


@dataclass
class Episodes:
    """Random N x M sub-matrices of a list of (dense, NaN = missing) matrices, their observed
    entries split into training and test entries with ratio ``train_ratio``."""

    matrices: list
    n_rows: int = 30
    n_cols: int = 30
    train_ratio: float = 0.5

    def sample(self, rng, batch):
        """Tensors ``X, B, X_test, B_test`` of shape (batch, N, M) (float32)."""
        Xs, Bs, Ts, Cs = [], [], [], []
        for _ in range(batch):
            A = self.matrices[rng.integers(len(self.matrices))]
            rows = rng.choice(A.shape[0], self.n_rows, replace=A.shape[0] < self.n_rows)
            cols = rng.choice(A.shape[1], self.n_cols, replace=A.shape[1] < self.n_cols)
            sub = A[np.ix_(rows, cols)]
            obs = ~np.isnan(sub)
            train = obs & (rng.random(sub.shape) < self.train_ratio)
            test = obs & ~train
            filled = np.where(obs, sub, 0.0)
            Xs.append(np.where(train, filled, 0.0))
            Bs.append(train)
            Ts.append(np.where(test, filled, 0.0))
            Cs.append(test)
        f = lambda a: torch.as_tensor(np.stack(a), dtype=torch.float32)  # noqa: E731
        return f(Xs), f(Bs), f(Ts), f(Cs)


def masked_mse(pred, X, B):
    """Mean squared error over the entries with ``B == 1`` (summed over the batch)."""
    return ((B * (pred - X)) ** 2).sum() / B.sum().clamp_min(1.0)


def meta_train(model, train, valid=None, *, n_iter=1000, batch=16, lr=1e-3, eval_every=50,
               n_valid=64, patience=None, random_state=0, progress=False):
    """Meta-train ``model`` on :class:`Episodes` ``train`` (Adam on the held-out test error of
    each episode); with ``valid`` episodes, keep the parameters of the best validation error
    (early stopping; stop after ``patience`` evaluations without improvement).

    Returns a dict with the validation curve (``iteration``, ``valid_mse``) and ``best_iter``.
    Deterministic for a given ``random_state`` (one torch thread): it seeds the episodes'
    draws and, through their first draw, the generator of the dropout masks."""
    rng = np.random.default_rng(random_state)
    generator = torch_generator(rng.integers(2**31))
    valid_set = None
    if valid is not None:
        valid_set = valid.sample(np.random.default_rng(int(rng.integers(2**31))), n_valid)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    curve, best, best_state, best_iter, waited = [], math.inf, None, 0, 0
    bar = None
    if progress:
        bar = progress_bar(n_iter, "meta-training", "it")
    with torch_threads(1):
        for it in range(1, n_iter + 1):
            model.train()
            X, B, Xt, Bt = train.sample(rng, batch)
            loss = masked_mse(model(X, B, generator=generator), Xt, Bt)
            opt.zero_grad()
            loss.backward()
            opt.step()
            if bar is not None:
                bar.update()
            if valid_set is not None and (it % eval_every == 0 or it == n_iter):
                v = evaluate(model, *valid_set)
                curve.append((it, v))
                if v < best:
                    best, best_iter, waited = v, it, 0
                    best_state = {k: t.detach().clone() for k, t in model.state_dict().items()}
                else:
                    waited += 1
                    if patience is not None and waited >= patience:
                        break
    if bar is not None:
        bar.close()
    if best_state is not None:
        model.load_state_dict(best_state)
    return {"iteration": [c[0] for c in curve], "valid_mse": [c[1] for c in curve],
            "best_iter": best_iter}


def evaluate(model, X, B, Xt, Bt, n_steps=None):
    """Test MSE of ``model`` (eval mode, no gradient) on a batch of episodes."""
    model.eval()
    with torch.no_grad(), torch_threads(1):
        return float(masked_mse(model(X, B, n_steps), Xt, Bt))
