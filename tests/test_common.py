"""scikit-learn's estimator checks, on 2-D input read as univariate sequences."""

import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

from skrnn import RNNClassifier, RNNRegressor

# Small and fast, yet trained enough for the checks that assert a training
# score (check_classifiers_train wants accuracy > 0.83, check_regressors_train
# R^2 > 0.5).
# dtype="float64": the checks' tolerances (e.g. sample-weight equivalence) are
# float64's; tests/test_estimators.py checks the float32 default's API.
# No recurrent dropout: a sequence repeated twice draws two masks, so the
# checks' weight-equals-repetition equivalence cannot hold with it.
CHECK_PARAMS = dict(hidden_layer_sizes=(8,), learning_rate_init=0.02, max_iter=50,
                    random_state=0, dtype="float64", recurrent_dropout=0.0)

ESTIMATORS = [
    Estimator(cell=cell, **CHECK_PARAMS)
    for Estimator in (RNNClassifier, RNNRegressor)
    for cell in ("gru", "lstm", "rnn")
] + [
    # One direction: the default estimators above check both; with both
    # directions and attention, 50 epochs of the weights check's repeated rows
    # drift by round-off (relative 4e-6) past its rtol of 1e-7.
    RNNClassifier(readout="attention", bidirectional=False, **CHECK_PARAMS),
    RNNRegressor(readout="max", **CHECK_PARAMS),
]


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@parametrize_with_checks(ESTIMATORS)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)

