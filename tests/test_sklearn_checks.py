"""scikit-learn's estimator checks on NMF, GNMF, MetaNMF and WarmStartNMF (small, fast
settings). Every check expected to fail is listed below with its reason."""

import pytest
from metanmf_lab.core._meta import MetaNMF
from metanmf_lab.core._meta import WarmStartNMF
from metanmf_lab.core._nmf import GNMF, NMF
from sklearn.utils.estimator_checks import parametrize_with_checks

pytestmark = pytest.mark.filterwarnings("ignore::metanmf_lab.core.splits.TaskSplitWarning")

ESTIMATORS = [
    NMF(2, max_iter=20),
    GNMF(2, max_iter=20, n_neighbors=3),
    MetaNMF(2, n_tasks=2, task_size=5, n_epochs=2, inner_iter=5),
    WarmStartNMF(2, learn_iter=20, inner_iter=5),
]

_JOINT = ("transform solves for the coefficients with the fitted components; fit_transform "
          "returns the jointly fitted ones, as scikit-learn's NMF does")

#: check name -> reason, per estimator class. MetaNMF and WarmStartNMF have no fit_transform of
#: their own (TransformerMixin's fit().transform()), so they pass these two.
EXPECTED_FAILED = {
    "NMF": {"check_transformer_general": _JOINT,
            "check_transformer_data_not_an_array": _JOINT},
    "GNMF": {"check_transformer_general": _JOINT + " (GNMF's transform also has no graph)",
             "check_transformer_data_not_an_array": _JOINT + " (GNMF's transform also has no "
                                                             "graph)"},
}


def expected_failed(est):
    return EXPECTED_FAILED.get(type(est).__name__, {})


@parametrize_with_checks(ESTIMATORS, expected_failed_checks=expected_failed)
def test_sklearn_compatible(estimator, check):
    check(estimator)
