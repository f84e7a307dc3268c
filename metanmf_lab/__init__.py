"""Meta-NMF Lab: NMF, GNMF, NNDSVD and Meta-NMF (Khan 2025, Algorithm 1), with the datasets,
task split, evaluation and experiment grid of the thesis' reproduction.

Orientation: as in scikit-learn, ``X`` is (n_samples, n_features) and ``X ~ W H`` with
coefficients ``W`` (n_samples, n_components) and components ``H`` (n_components, n_features).
The thesis writes the transpose (X features x samples, basis W): its W is our ``H.T`` (the
``components_``), its H is our ``W.T``.
"""

from ._config import ALGORITHM_VERSION, __version__, data_dir
from ._validation import DegenerateFitError
from .core import (GNMF, Graph, MetaNMF, NMF, build_graph, frobenius_gradients, frobenius_loss,
                   graph_penalty, initialize, kl_gradients, kl_loss, knn_graph, nndsvd, objective,
                   objective_gradients, rbf_graph, reconstruction_error)
from .core.evaluation import cluster_nmi, hoyer_sparsity
from .core.splits import TaskSplit, TaskSplitWarning, learning_evaluation_split, make_tasks
from .data.datasets import DATASETS, load_dataset

__all__ = [
    "ALGORITHM_VERSION", "DATASETS", "DegenerateFitError", "GNMF", "Graph", "MetaNMF", "NMF",
    "TaskSplit", "TaskSplitWarning", "__version__", "build_graph", "cluster_nmi", "data_dir",
    "frobenius_gradients", "frobenius_loss", "graph_penalty", "hoyer_sparsity", "initialize",
    "kl_gradients", "kl_loss", "knn_graph", "learning_evaluation_split", "load_dataset",
    "make_tasks", "nndsvd", "objective", "objective_gradients", "rbf_graph",
    "reconstruction_error",
]
