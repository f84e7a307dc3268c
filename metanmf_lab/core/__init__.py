"""The numerical core: losses, multiplicative-update solvers, initialisations, graphs, the
NMF/GNMF/MetaNMF estimators, the protocol presets, the task split and the evaluation
measures. It depends on nothing else in the package but the validation helpers.

Other layers import the estimators and functions from here (``metanmf_lab.core``), never
from the private modules; :mod:`.protocols`, :mod:`.splits` and :mod:`.evaluation` are public
modules of their own.
"""

from ._graph import Graph, build_graph, knn_graph, rbf_graph
from ._init import initialize, nndsvd
from ._losses import (EPS, frobenius_gradients, frobenius_loss, graph_penalty, kl_gradients,
                      kl_loss, objective, objective_gradients, reconstruction_error)
from ._meta import MetaNMF, WarmStartNMF
from ._nmf import GNMF, NMF
from ._solvers import mu_frobenius, solve_mu

__all__ = [
    "EPS", "GNMF", "Graph", "MetaNMF", "NMF", "WarmStartNMF", "build_graph",
    "frobenius_gradients", "frobenius_loss", "graph_penalty", "initialize", "kl_gradients",
    "kl_loss", "knn_graph", "mu_frobenius", "nndsvd", "objective", "objective_gradients",
    "rbf_graph", "reconstruction_error", "solve_mu",
]
