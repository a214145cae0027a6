"""Helpers and data factories the test modules share.

The ``rng`` fixture is in conftest.py; the hypothesis strategies and the
oracle of the fuzz tests are in _fuzzing.py; the NumPy reference cells in
_reference.py.
"""

import functools
import os
from numbers import Integral

import numpy as np
import pytest
import scipy.sparse as sp
from numpy.testing import assert_array_equal
from sklearn.utils._param_validation import (
    Interval,
    generate_invalid_param_val,
    make_constraint,
)

from skrnn import RNNClassifier, RNNRegressor, SequenceRegressor, SequenceTagger


def per_sequence(output):
    """Whether `output` holds one array per sequence (a per-step model's)."""
    return isinstance(output, list) or (isinstance(output, np.ndarray)
                                        and output.dtype == object)


def stacked(output):
    """A per-step model's per-sequence outputs as one array; others unchanged."""
    return np.concatenate(list(output)) if per_sequence(output) else output


def outputs(est, X):
    """predict_proba of a classifier or tagger, predict of a regressor (stacked)."""
    if isinstance(est, (RNNRegressor, SequenceRegressor)):
        return stacked(est.predict(X))
    return stacked(est.predict_proba(X))


def take(values, indices):
    """The entries `indices` of a list (sequences, tagger targets) or an array."""
    if isinstance(values, list):
        return [values[i] for i in indices]
    return np.asarray(values)[indices]


def targets_for(Estimator, y_seq, y_step):
    """The targets Estimator fits from one label per sequence (``y_seq``)
    and one array of labels per sequence's steps (``y_step``)."""
    if Estimator is SequenceTagger:
        return y_step
    if Estimator is SequenceRegressor:
        return [y.astype(float) - 0.5 for y in y_step]
    if Estimator is RNNRegressor:
        return y_seq.astype(float) + 0.5
    return y_seq


# --------------------------------------------------------------------------
# The test seed, warning filters
# --------------------------------------------------------------------------

# The data seed of every test file (the `rng` fixture of conftest.py reads
# the same variable).
SEED = int(os.environ.get("SKRNN_TEST_SEED", "0"))

# Fits that run to max_iter on purpose warn that they did not converge.
ignore_convergence = pytest.mark.filterwarnings(
    "ignore::sklearn.exceptions.ConvergenceWarning")

# The overflow on the way to a non-finite loss is expected where marked.
overflow_expected = pytest.mark.filterwarnings(
    "ignore:overflow encountered:RuntimeWarning",
    "ignore:invalid value encountered:RuntimeWarning")


# --------------------------------------------------------------------------
# Tiny fits: 8 sequences of 2 to 6 steps, 3 features, 4 hidden units,
# 2 epochs; each error case costs milliseconds
# --------------------------------------------------------------------------

N_FEATURES = 3
TINY = dict(hidden_layer_sizes=(4,), max_iter=2, random_state=SEED)


def tiny_sequences(rng, n=8, n_features=N_FEATURES, low=2, high=7):
    """n ragged Gaussian sequences of low to high - 1 steps."""
    return [rng.standard_normal((int(rng.integers(low, high)), n_features))
            for _ in range(n)]


def tiny_targets(Estimator, X):
    """Targets for X: both classes present for every seed and every n >= 2
    (a tagger needs only one sequence of 2 or more steps)."""
    n = len(X)
    if Estimator is RNNClassifier:
        return np.array(["neg", "pos"] * (n // 2) + ["neg"] * (n % 2))
    if Estimator is RNNRegressor:
        return np.array([x[:, 0].mean() for x in X])
    if Estimator is SequenceRegressor:
        return [np.cumsum(np.asarray(x)[:, 0]) / 3 for x in X]
    y = [np.where(np.asarray(x)[:, 0] > 0, "pos", "neg") for x in X]
    y[0][0], y[-1][-1] = "pos", "neg"
    return y


def tiny_data(Estimator, rng, n=8, **kwargs):
    """tiny_sequences and their tiny_targets."""
    X = tiny_sequences(rng, n, **kwargs)
    return X, tiny_targets(Estimator, X)


@functools.cache
def tiny_fitted(Estimator):
    """One fitted model per estimator, shared by the tests that only predict."""
    X, y = tiny_data(Estimator, np.random.default_rng(SEED), n=16)
    # float64: the predict properties compare outputs to float64 round-off.
    return Estimator(**TINY, dtype="float64").fit(X, y)


def with_empty_sequence(X, index=3):
    """X with sequence ``index`` replaced by one of no steps."""
    X = list(X)
    X[index] = np.empty((0, N_FEATURES))
    return X


def assert_same_fit(a, b, X):
    """Two fits with the same weights (dtype included) and outputs on X."""
    assert a._params.dtype == b._params.dtype
    assert_array_equal(a._params, b._params)
    assert_array_equal(outputs(a, X), outputs(b, X))


# --------------------------------------------------------------------------
# Small problems for the API tests: 30 sequences of 3 to 8 steps, 3 features,
# drawn from independent streams of SEED; 4 hidden units, 3 epochs
# --------------------------------------------------------------------------

CELLS = ["lstm", "gru", "rnn"]
FAST = dict(hidden_layer_sizes=(4,), max_iter=3, random_state=0)


def data_rng(*stream):
    """An independent generator per data set, all derived from SEED."""
    return np.random.default_rng([SEED, *stream])


def small_sequences(n, n_features=3, lengths=(3, 8), stream=0):
    """Small ragged Gaussian sequences for the API tests."""
    rng = data_rng(4, stream)
    return [rng.standard_normal((int(rng.integers(lengths[0], lengths[1] + 1)),
                                 n_features)) for _ in range(n)]


def small_problem(Estimator, n=30, n_features=3, n_classes=2, stream=0):
    """Learnable small data for any estimator: X and a matching y."""
    X = small_sequences(n, n_features, stream=stream)
    if Estimator is RNNRegressor:
        return X, np.array([x[:, 0].mean() for x in X])
    if Estimator is SequenceTagger:
        edges = np.linspace(-1, 1, n_classes + 1)[1:-1]
        return X, [np.digitize(x[:, 0], edges) for x in X]
    means = np.array([x[:, 0].mean() for x in X])
    edges = np.quantile(means, np.linspace(0, 1, n_classes + 1)[1:-1])
    return X, np.digitize(means, edges)


# Every estimator of aligned targets; the ones the older tests run on
# (SequenceRegressor came later); the classifiers.
ESTIMATORS = [RNNClassifier, RNNRegressor, SequenceTagger, SequenceRegressor]
THREE_ESTIMATORS = [RNNClassifier, RNNRegressor, SequenceTagger]
CLASSIFIERS = [RNNClassifier, SequenceTagger]


# --------------------------------------------------------------------------
# Deep equality of state, and invalid parameter values
# --------------------------------------------------------------------------


def assert_same_state(a, b, path="state", layout=False):
    """Deep equality of (estimator) state: the same types all the way down,
    arrays by dtype, shape and value (and C-contiguity with ``layout``),
    sparse matrices by value, random states by state, NaN equal to NaN."""
    assert type(a) is type(b), path
    if isinstance(a, np.ndarray):
        assert (a.dtype, a.shape) == (b.dtype, b.shape), path
        if layout:
            assert a.flags.c_contiguous == b.flags.c_contiguous, path
        assert_array_equal(a, b, err_msg=path)
    elif sp.issparse(a):
        assert_same_state(a.toarray(), b.toarray(), path, layout)
    elif isinstance(a, np.random.RandomState):
        assert_same_state(a.get_state(legacy=False), b.get_state(legacy=False),
                          f"{path}.state", layout)
    elif isinstance(a, dict):
        assert a.keys() == b.keys(), path
        for key in a:
            assert_same_state(a[key], b[key], f"{path}[{key!r}]", layout)
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), path
        for i, (u, v) in enumerate(zip(a, b)):
            assert_same_state(u, v, f"{path}[{i}]", layout)
    elif isinstance(a, float) and np.isnan(a):
        assert np.isnan(b), path
    elif hasattr(a, "__dict__") or hasattr(type(a), "__slots__"):
        slots = getattr(type(a), "__slots__", ())
        assert [hasattr(a, s) for s in slots] == [hasattr(b, s) for s in slots], path
        assert_same_state(_state(a, slots), _state(b, slots), path, layout)
    else:
        assert a == b, path


def _state(obj, slots):
    return {**getattr(obj, "__dict__", {}),
            **{s: getattr(obj, s) for s in slots if hasattr(obj, s)}}


class BadType:
    """An object no constraint accepts."""

    def __repr__(self):
        return "BadType()"


def invalid_values(constraints):
    """Values that violate every constraint of a parameter.

    sklearn's generator (a value beyond each interval's left end, a string
    outside the options, ...) plus, for intervals, a value beyond the right
    end and the excluded end points themselves.
    """
    constraints = [make_constraint(c) for c in constraints]
    values = [BadType()]
    for constraint in constraints:
        try:
            values.append(generate_invalid_param_val(constraint))
        except NotImplementedError:
            pass
        if isinstance(constraint, Interval):
            if constraint.right is not None:
                step = 1 if constraint.type is Integral else 1e-6
                values.append(constraint.right + step)
            if constraint.left is not None and constraint.closed in ("right",
                                                                    "neither"):
                values.append(constraint.left)
            if constraint.right is not None and constraint.closed in ("left",
                                                                     "neither"):
                values.append(constraint.right)
    return [v for v in values
            if not any(c.is_satisfied_by(v) for c in constraints)]
