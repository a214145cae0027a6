"""Prediction (skrnn/_predicting.py): predict, predict_proba and
predict_log_proba on any valid input -- zero-length sequences, batch mates,
long sequences streamed in blocks -- their memory, and the properties
(shapes, finiteness, permutation and subset invariance) that must hold for
any input.
"""
import tracemalloc
import warnings

import numpy as np
import pytest
from _helpers import (
    CELLS,
    FAST,
    N_FEATURES,
    SEED,
    THREE_ESTIMATORS,
    ignore_convergence,
    outputs,
    per_sequence,
    small_problem,
    small_sequences,
    stacked,
    take,
    tiny_fitted,
    tiny_sequences,
    with_empty_sequence,
)
from hypothesis import given, seed, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.exceptions import (
    ConvergenceWarning,
)

from skrnn import (
    RNNClassifier,
    RNNRegressor,
    SequenceTagger,
)
from skrnn._network import Workspace
from skrnn._packing import PackedBatch


def _labels(est, X):
    return stacked(est.predict(X))


@ignore_convergence
@pytest.mark.parametrize("Estimator", [RNNClassifier, RNNRegressor])
def test_zero_length_sequence_in_predict_raises(Estimator, rng):
    # A many-to-one model has no state to read a prediction from.
    X = with_empty_sequence(tiny_sequences(rng))
    with pytest.raises(ValueError, match=r"^Sequence 3 has length 0"):
        tiny_fitted(Estimator).predict(X)
    if Estimator is RNNClassifier:
        with pytest.raises(ValueError, match=r"^Sequence 3 has length 0"):
            tiny_fitted(Estimator).predict_proba(X)


@ignore_convergence
def test_tagger_predicts_empty_array_for_zero_length_sequence(rng):
    tagger = tiny_fitted(SequenceTagger)
    X = tiny_sequences(rng)
    with_empty = with_empty_sequence(X)
    others = [i for i in range(len(X)) if i != 3]
    predicted = tagger.predict(with_empty)
    proba = tagger.predict_proba(with_empty)
    assert len(predicted) == len(X) and len(proba) == len(X)
    assert predicted[3].shape == (0,)
    assert proba[3].shape == (0, tagger.classes_.shape[0])
    expected = tagger.predict(take(X, others))
    for got, want in zip(take(predicted, others), expected):
        assert_array_equal(got, want)


def _long_sequence_data(Estimator, n_steps, rng):
    X = [rng.standard_normal((n_steps, 1))]
    if Estimator is RNNClassifier:
        # A classifier needs a second class, hence a second (short) sequence.
        return X + [rng.standard_normal((3, 1))], np.array([0, 1])
    if Estimator is RNNRegressor:
        return X, np.array([0.5])
    return X, [np.arange(n_steps) % 2]


def _predict_peak_bytes(est, X):
    tracemalloc.start()
    try:
        est.predict(X)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@ignore_convergence
@pytest.mark.parametrize("Estimator", THREE_ESTIMATORS)
def test_very_long_sequence_trains_and_predicts_in_linear_memory(Estimator, rng):
    n_steps, hidden = 100_000, 4
    X, y = _long_sequence_data(Estimator, n_steps, rng)
    est = Estimator((hidden,), max_iter=1, random_state=SEED).fit(X, y)
    long = X[:1]
    assert len(_labels(est, long)) == (n_steps if Estimator is SequenceTagger else 1)
    assert np.isfinite(outputs(est, long)).all()

    peak = _predict_peak_bytes(est, long)
    # predict keeps, per step, the input copy, the packed input, row indices,
    # the states for a per-step head and its outputs, a few H + 10 floats; the
    # gates of one cache-sized chunk only. The bound, 3 arrays of n_steps x 4H
    # floats, is about what the training forward's trace of gates and states
    # takes; predict must stay under it.
    bound = 3 * n_steps * 4 * hidden * 8
    assert peak < bound, f"predict peak {peak / 1e6:.1f} MB > {bound / 1e6:.1f} MB"
    # At most linear in the length: a fifth of the steps takes no less than
    # a sixth (a long sequence now runs in chunks of time, so only per-step
    # outputs and the input copy grow with it; see the 10**6-step test).
    short_peak = _predict_peak_bytes(est, [long[0][: n_steps // 5]])
    assert peak / short_peak < 6.0, (peak, short_peak)


@st.composite
def ragged_inputs(draw):
    """Ragged X of the fitted feature count: 1 to 8 sequences of 1 to 15 steps,
    float32 or float64, finite values within +-1e3."""
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    lengths = draw(st.lists(st.integers(1, 15), min_size=1, max_size=8))
    elements = st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False,
                         width=np.dtype(dtype).itemsize * 8)
    return [draw(hnp.arrays(dtype, (t, N_FEATURES), elements=elements))
            for t in lengths]


def _assert_outputs_close(got, want):
    # A sequence's minibatch neighbours change the BLAS blocking of its rows,
    # hence the last bits of its outputs (a few ulps), never more.
    assert_allclose(got, want, rtol=1e-12, atol=1e-14)


def _assert_predictions_equal(est, got, want):
    """Labels exactly; regression values up to packing round-off."""
    if isinstance(est, SequenceTagger):
        assert len(got) == len(want)
        for g, w in zip(got, want):
            assert_array_equal(g, w)
    elif isinstance(est, RNNRegressor):
        _assert_outputs_close(got, want)
    else:
        assert_array_equal(got, want)


def _assert_predictions_of_rows(est, X, indices):
    """Predictions and outputs (per sequence for a tagger) on the sequences
    ``indices`` of X are those on X at ``indices``."""
    taken = take(X, indices)
    _assert_predictions_equal(est, est.predict(taken), take(est.predict(X), indices))
    if not isinstance(est, SequenceTagger):
        _assert_outputs_close(outputs(est, taken), take(outputs(est, X), indices))
    else:
        proba = est.predict_proba(X)
        for got, i in zip(est.predict_proba(taken), indices):
            _assert_outputs_close(got, proba[i])


@ignore_convergence
@seed(SEED)
@settings(max_examples=25, deadline=None)
@given(X=ragged_inputs())
@pytest.mark.parametrize("Estimator", THREE_ESTIMATORS)
def test_predict_shapes_and_finiteness_property(Estimator, X):
    est = tiny_fitted(Estimator)
    n = len(X)
    predicted = est.predict(X)
    if Estimator is SequenceTagger:
        assert predicted.dtype == object and predicted.shape == (n,)
        for p, x in zip(predicted, X):
            assert p.shape == (len(x),)
            assert set(p) <= set(est.classes_)
    else:
        assert predicted.shape == (n,)
    if Estimator is RNNRegressor:
        assert np.isfinite(predicted).all()
        return
    if Estimator is RNNClassifier:
        assert set(predicted) <= set(est.classes_)
    proba = est.predict_proba(X)
    log_proba = est.predict_log_proba(X)
    if Estimator is SequenceTagger:
        assert [p.shape for p in proba] == [(len(x), 2) for x in X]
        proba, log_proba = np.concatenate(proba), np.concatenate(log_proba)
    n_rows = sum(len(x) for x in X) if Estimator is SequenceTagger else n
    assert proba.shape == log_proba.shape == (n_rows, 2)
    assert np.isfinite(proba).all() and np.isfinite(log_proba).all()
    assert ((proba >= 0) & (proba <= 1)).all()
    assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-12)
    assert_allclose(np.exp(log_proba), proba, rtol=1e-12, atol=1e-300)
    assert_array_equal(_labels(est, X), est.classes_[proba.argmax(axis=1)])


# The sequences of an X of n to predict again: all of them in another order,
# or some of them, repeats allowed.
ROWS_OF = {
    "permutation": lambda n: st.permutations(range(n)),
    "subset": lambda n: st.lists(st.integers(0, n - 1), min_size=1, max_size=n),
}


@ignore_convergence
@seed(SEED)
@settings(max_examples=25, deadline=None)
@given(data=st.data())
@pytest.mark.parametrize("Estimator", THREE_ESTIMATORS)
@pytest.mark.parametrize("rows", list(ROWS_OF))
def test_predict_permutation_and_subset_property(rows, Estimator, data):
    est = tiny_fitted(Estimator)
    X = data.draw(ragged_inputs())
    indices = data.draw(ROWS_OF[rows](len(X)))
    _assert_predictions_of_rows(est, X, indices)


# Memory at scale. tracemalloc counts numpy's buffers, so the peak of a call
# minus what it must hold (its input's validated copy, and for predict the
# output) is its working memory.


def _predict_memory_beyond_the_data(est, n_steps, rng):
    x = rng.standard_normal((n_steps, 1))
    tracemalloc.start()
    try:
        out = est.predict([x])
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    out_bytes = (sum(o.nbytes for o in out) if per_sequence(out)
                 else out.nbytes)
    # The validated copy of x, in the model's dtype, is the data.
    return peak - x.size * est._params.itemsize - out_bytes, out_bytes


@ignore_convergence
@pytest.mark.parametrize("Estimator", [RNNRegressor, SequenceTagger])
def test_million_step_sequence_predicts_in_memory_independent_of_its_length(
        Estimator, rng):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        X, y = _long_sequence_data(Estimator, 50, rng)
        # One direction: a bidirectional model cannot predict in time chunks.
        est = Estimator((4,), bidirectional=False, max_iter=1,
                        random_state=SEED).fit(X, y)
    extra, outb = {}, {}
    for n in (10**5, 10**6):
        extra[n], outb[n] = _predict_memory_beyond_the_data(est, n, rng)
        print(f"{Estimator.__name__}: {n} steps, beyond the data and output "
              f"{extra[n] / 1e6:.2f} MB")
    # A chunk of the step budget at a time: its packed input, indices, gates
    # and states, a few MB, whatever the length (beyond per-step outputs).
    if Estimator is SequenceTagger:
        # Per-step outputs pass through per-step raw scores and class codes
        # (float64 and intp), 2 output-sized arrays beyond the labels.
        assert extra[10**6] - extra[10**5] < 2.2 * (outb[10**6] - outb[10**5]), (
            extra, outb)
    else:
        assert extra[10**6] < 8e6, extra
        assert abs(extra[10**6] - extra[10**5]) < 1e6, extra


# --------------------------------------------------------------------------
# Batch mates and streaming
# --------------------------------------------------------------------------


@ignore_convergence
@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("Estimator", THREE_ESTIMATORS)
def test_prediction_does_not_depend_on_batch_mates(Estimator, cell):
    # Lengths 1..5, so the packed minibatches are ragged down to one step.
    X, y = small_problem(Estimator, n=30)
    X = [x[: 1 + i % 5] for i, x in enumerate(X)]
    if Estimator is SequenceTagger:
        y = [yi[: 1 + i % 5] for i, yi in enumerate(y)]
    # float64: the tolerances are float64 round-off.
    est = Estimator(**dict(FAST, cell=cell, hidden_layer_sizes=(4, 3),
                           bidirectional=True, dtype="float64")).fit(X, y)
    together = outputs(est, X)
    reversed_order = outputs(est, X[::-1])
    one_by_one = [outputs(est, [x]) for x in X]
    if Estimator is SequenceTagger:
        lengths = [x.shape[0] for x in X]
        reversed_order = np.concatenate(
            np.split(reversed_order, np.cumsum(lengths[::-1])[:-1])[::-1])
    else:
        reversed_order = reversed_order[::-1]
    one_by_one = np.concatenate(one_by_one)
    assert_allclose(reversed_order, together, rtol=1e-12, atol=1e-14)
    assert_allclose(one_by_one, together, rtol=1e-12, atol=1e-14)


@ignore_convergence
def test_prediction_streams_over_many_steps():
    # 1000 x 40 steps is more than one predict minibatch holds (2**15 steps).
    X, y = small_problem(RNNRegressor, n=20)
    reg = RNNRegressor(**FAST, dtype="float64").fit(X, y)
    many = small_sequences(1000, lengths=(40, 40), stream=2)
    chunked = np.concatenate([reg.predict(many[i:i + 100])
                              for i in range(0, 1000, 100)])
    assert_allclose(reg.predict(many), chunked, rtol=1e-12, atol=1e-14)
    # One sequence longer than the budget is one minibatch of its own: its
    # prediction is the training forward pass over the whole sequence.
    long = small_sequences(1, lengths=(40_000, 40_000), stream=3)
    net = reg._network
    batch = PackedBatch(reg._validate_sequences(long, reset=False), [0])
    whole = net.forward(net.views(reg._params), batch, Workspace(np.float64))
    assert_allclose(reg.predict(long), whole.ravel(), rtol=1e-12, atol=1e-14)
