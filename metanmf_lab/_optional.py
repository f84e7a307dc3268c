"""PyTorch, an optional dependency: only computing the related-methods results needs it.

The book's full profile reads those results from the committed stores, so ``make book``
installs no PyTorch (several GB where PyPI's Linux build is the CUDA one); ``make torch``
(and ``make test``) install ``requirements-torch.txt``.
"""

from __future__ import annotations

import importlib
import sys

#: How to install PyTorch, as the error messages say it.
TORCH_HINT = ("run `make torch` (or `.venv/bin/pip install -r requirements-torch.txt "
              "-c requirements-lock.txt`)")


def require_torch(what):
    """The ``torch`` module, or an ImportError saying that ``what`` (e.g. "Computing 3 missing
    cells of the MLAM store") needs PyTorch and how to install it."""
    try:
        import torch
    except ImportError as exc:
        missing = isinstance(exc, ModuleNotFoundError) and exc.name == "torch"
        raise ImportError(f"{what} needs PyTorch: {TORCH_HINT}.",
                          name="torch") from (None if missing else exc)
    return torch


def computing(n, unit, store):
    """What a run is about to compute, as :func:`require_torch` says it: ``n`` ``unit``\\ s,
    missing from ``store`` (a result store, or False for none)."""
    units = unit if n == 1 else f"{unit}s"
    if store is False:
        return f"Computing {n} {units}"
    return f"Computing {n} missing {units} of the {store.NAME} ({store.path.name})"


def lazy_torch_names(module, names, private):
    """``__getattr__`` and ``__dir__`` for ``module`` (its ``__name__``), whose ``names`` live
    in the torch module ``private`` (relative to ``module``'s package, e.g.
    ``"._mlam_torch"``), imported on first use only: PyTorch is a heavy optional dependency
    (``requirements-torch.txt``)."""
    names = frozenset(names)

    def __getattr__(name):
        if name in names:
            require_torch(f"{module}.{name}")
            package = module.rpartition(".")[0]
            return getattr(importlib.import_module(private, package), name)
        raise AttributeError(f"module {module!r} has no attribute {name!r}")

    def __dir__():
        return sorted(set(vars(sys.modules[module])) | names)

    return __getattr__, __dir__
