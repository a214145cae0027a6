"""Helpers the estimator-level test modules share."""

import numpy as np

from skrnn import RNNRegressor


def stacked(output):
    """A tagger's list of per-sequence outputs as one array; others unchanged."""
    return np.concatenate(output) if isinstance(output, list) else output


def outputs(est, X):
    """predict_proba of a classifier or tagger (stacked), predict of a regressor."""
    if isinstance(est, RNNRegressor):
        return est.predict(X)
    return stacked(est.predict_proba(X))


def take(values, indices):
    """The entries `indices` of a list (sequences, tagger targets) or an array."""
    if isinstance(values, list):
        return [values[i] for i in indices]
    return np.asarray(values)[indices]
