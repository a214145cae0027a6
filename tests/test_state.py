"""RecurrentState: predicting in chunks with the state carried over equals
predicting whole sequences, for every estimator; mismatched states are refused."""

import pickle

import numpy as np
import pytest
from _helpers import stacked
from numpy.testing import assert_allclose, assert_array_equal

from skrnn import (
    RecurrentState,
    RNNClassifier,
    RNNRegressor,
    SequenceRegressor,
    SequenceTagger,
)

pytestmark = pytest.mark.filterwarnings(
    "ignore::sklearn.exceptions.ConvergenceWarning")

TOL = {np.float64: {"rtol": 1e-12, "atol": 1e-13},
       np.float32: {"rtol": 1e-5, "atol": 1e-6}}
CUTS = [0, 3, 4, 9]  # chunks of 3, 1 and 5 steps, then the rest


def _data(Estimator, rng, dtype, n=12, n_features=2):
    X = [rng.standard_normal((int(rng.integers(10, 16)), n_features)).astype(dtype)
         for _ in range(n)]
    if Estimator is SequenceTagger:
        return X, [(np.cumsum(x[:, 0]) > 0).astype(int) for x in X]
    if Estimator is SequenceRegressor:
        return X, [np.cumsum(x, axis=0) for x in X]
    means = np.array([x[:, 0].mean() for x in X])
    if Estimator is RNNRegressor:
        return X, means
    return X, (means > np.median(means)).astype(int)


def _fit(Estimator, rng, dtype, **params):
    X, y = _data(Estimator, rng, dtype)
    # The model computes in the data's dtype, which TOL's tolerances are for.
    # One direction: a state carries over only in the reading direction.
    est = Estimator(**{"hidden_layer_sizes": (5,), "max_iter": 2, "batch_size": 4,
                       "random_state": 0, "dtype": np.dtype(dtype).name,
                       "bidirectional": False, **params}).fit(X, y)
    return est, X


def _chunks(X, cuts=CUTS):
    bounds = list(cuts) + [None]
    return [[x[a:b] for x in X] for a, b in zip(bounds[:-1], bounds[1:])]


def _methods(est):
    return [m for m in ("predict", "predict_proba", "predict_log_proba")
            if hasattr(est, m)]


def _per_step(est):
    return isinstance(est, (SequenceTagger, SequenceRegressor))


def _assert_chunked_equals_whole(est, X, dtype):
    for method in _methods(est):
        whole = getattr(est, method)(X)
        state, parts = None, []
        for chunk in _chunks(X):
            out, state = getattr(est, method)(chunk, initial_state=state,
                                              return_state=True)
            parts.append(out)
        assert isinstance(state, RecurrentState) and len(state) == len(X)
        if _per_step(est):
            joined = [np.concatenate([p[i] for p in parts]) for i in range(len(X))]
            if method == "predict" and isinstance(est, SequenceTagger):
                assert_array_equal(stacked(joined), stacked(whole))
            else:
                assert_allclose(stacked(joined), stacked(whole), **TOL[dtype])
        elif method == "predict" and isinstance(est, RNNClassifier):
            assert_array_equal(parts[-1], whole)
        else:
            assert_allclose(parts[-1], whole, **TOL[dtype])


ESTIMATORS = [RNNClassifier, RNNRegressor, SequenceTagger, SequenceRegressor]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("n_layers", [1, 2])
@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_chunked_prediction_equals_whole(Estimator, cell, n_layers, dtype, rng):
    est, X = _fit(Estimator, rng, dtype, cell=cell,
                  hidden_layer_sizes=(5, 4)[:n_layers])
    _assert_chunked_equals_whole(est, X, dtype)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("readout", ["mean", "max", "attention"])
@pytest.mark.parametrize("Estimator", [RNNClassifier, RNNRegressor])
def test_chunked_prediction_equals_whole_pooled(Estimator, readout, dtype, rng):
    est, X = _fit(Estimator, rng, dtype, readout=readout, cell="gru",
                  hidden_layer_sizes=(5, 4))
    _assert_chunked_equals_whole(est, X, dtype)


@pytest.mark.parametrize("Estimator, params", [
    (RNNClassifier, {}), (RNNClassifier, {"readout": "attention"}),
    (RNNRegressor, {"readout": "mean"}), (SequenceTagger, {}),
    (SequenceRegressor, {})])
def test_long_sequences_predicted_in_time_chunks_keep_their_state(
        Estimator, params, rng, monkeypatch):
    """A sequence longer than predict's step budget runs in chunks of time
    inside one call; with a state in and out it equals the short-budget run."""
    est, X = _fit(Estimator, rng, np.float64, cell="lstm", **params)
    whole = est.predict(X)
    first, state = est.predict([x[:4] for x in X], return_state=True)
    monkeypatch.setattr(type(est._network), "steps_per_batch",
                        lambda self, itemsize=4: 3)
    rest, state_small = est.predict([x[4:] for x in X], initial_state=state,
                                    return_state=True)
    if _per_step(est):
        joined = [np.concatenate([a, b]) for a, b in zip(first, rest)]
        assert_allclose(stacked(joined).astype(float), stacked(whole).astype(float),
                        rtol=1e-12, atol=1e-13)
    elif isinstance(est, RNNClassifier):
        assert_array_equal(rest, whole)
    else:
        assert_allclose(rest, whole, rtol=1e-12, atol=1e-13)
    monkeypatch.undo()
    _, state_big = est.predict([x[4:] for x in X], initial_state=state,
                               return_state=True)
    for a, b in zip(state_small.h + (state_small.c or []),
                    state_big.h + (state_big.c or [])):
        assert_allclose(a, b, rtol=1e-12, atol=1e-13)


def test_zero_length_sequences_keep_their_state(rng):
    est, X = _fit(SequenceTagger, rng, np.float64, cell="lstm")
    _, state = est.predict(X[:3], return_state=True)
    out, after = est.predict([X[0][:0], X[1][:2], X[2][:0]], initial_state=state,
                             return_state=True)
    assert [len(o) for o in out] == [0, 2, 0]
    for before, now in zip(state.h + state.c, after.h + after.c):
        assert_array_equal(now[[0, 2]], before[[0, 2]])
        assert not np.array_equal(now[1], before[1])


def test_state_is_picklable_and_indexable(rng):
    est, X = _fit(RNNRegressor, rng, np.float64, cell="lstm", readout="mean",
                  hidden_layer_sizes=(5, 4))
    _, state = est.predict([x[:5] for x in X], return_state=True)
    again = pickle.loads(pickle.dumps(state))
    assert [h.shape for h in again.h] == [(len(X), 5), (len(X), 4)]
    assert sorted(again.pool) == ["count", "sum"]
    assert "n_sequences=12" in repr(again)
    sub = again[[2, 0]]
    assert_array_equal(sub.h[0], state.h[0][[2, 0]])
    assert_array_equal(sub.pool["sum"], state.pool["sum"][[2, 0]])
    # a subset of the sequences continues from its own rows
    assert_allclose(est.predict([X[2][5:], X[0][5:]], initial_state=sub),
                    est.predict([X[2], X[0]]), rtol=1e-12)


def test_bidirectional_models_refuse_to_carry_state(rng):
    est, X = _fit(RNNClassifier, rng, np.float64, bidirectional=True)
    with pytest.raises(ValueError, match="bidirectional=True cannot carry"):
        est.predict(X, return_state=True)


def test_mismatched_states_are_refused(rng):
    lstm, X = _fit(RNNRegressor, rng, np.float64, cell="lstm", readout="last",
                   hidden_layer_sizes=(5, 4))
    gru, _ = _fit(RNNRegressor, rng, np.float64, cell="gru", readout="last",
                  hidden_layer_sizes=(5, 4))
    deep, _ = _fit(RNNRegressor, rng, np.float64, cell="lstm", readout="last",
                   hidden_layer_sizes=(5, 4, 3))
    pooled, _ = _fit(RNNRegressor, rng, np.float64, cell="lstm", readout="max",
                     hidden_layer_sizes=(5, 4))
    _, state = lstm.predict(X, return_state=True)
    with pytest.raises(ValueError, match="holds 12 sequences, but X has 3"):
        lstm.predict(X[:3], initial_state=state)
    with pytest.raises(ValueError, match="has 2 layer"):
        deep.predict(X, initial_state=state)
    with pytest.raises(ValueError, match="has cell states"):
        gru.predict(X, initial_state=state)
    _, gru_state = gru.predict(X, return_state=True)
    with pytest.raises(ValueError, match="lacks cell states"):
        lstm.predict(X, initial_state=gru_state)
    _, pooled_state = pooled.predict(X, return_state=True)
    with pytest.raises(ValueError, match="pooled readout's statistics"):
        lstm.predict(X, initial_state=pooled_state)
    wide = RecurrentState([np.zeros((12, 6)), np.zeros((12, 4))],
                          [np.zeros((12, 6)), np.zeros((12, 4))])
    with pytest.raises(ValueError, match=r"h\[0\] has shape \(12, 6\).*5 units"):
        lstm.predict(X, initial_state=wide)
    with pytest.raises(TypeError, match="must be the RecurrentState"):
        lstm.predict(X, initial_state=[np.zeros((12, 5))])
    bad = RecurrentState([np.full((12, 5), np.nan), np.zeros((12, 4))],
                         [np.zeros((12, 5)), np.zeros((12, 4))])
    with pytest.raises(ValueError, match=r"h\[0\] holds NaN"):
        lstm.predict(X, initial_state=bad)


def test_predicting_with_a_state_leaves_it_unchanged(rng):
    est, X = _fit(SequenceRegressor, rng, np.float64, cell="gru")
    _, state = est.predict([x[:4] for x in X], return_state=True)
    copy = pickle.loads(pickle.dumps(state))
    est.predict([x[4:] for x in X], initial_state=state, return_state=True)
    for a, b in zip(state.h, copy.h):
        assert_array_equal(a, b)
