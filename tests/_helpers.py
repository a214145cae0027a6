"""Helpers the estimator-level test modules share."""

import numpy as np

from skrnn import RNNRegressor, SequenceRegressor, SequenceTagger


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
