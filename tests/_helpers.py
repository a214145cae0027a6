"""Helpers the estimator-level test modules share."""

import numpy as np

from skrnn import RNNRegressor, SequenceRegressor


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
