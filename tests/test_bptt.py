"""Truncated BPTT (bptt_steps) and recurrent dropout at the estimator level.

The kernels' and the network's recurrent masks are checked against the NumPy
reference in test_kernels.py and test_network.py; here: the training loop's
window logic against a NumPy reference that detaches the state at every
window boundary, bit-identity with full BPTT when one window covers every
sequence, memory that does not grow with the length, learning, and the
parameters' validation.
"""

import itertools
import tracemalloc
import warnings

import _reference as ref
import numpy as np
import pytest
import scipy.sparse as sp
from _helpers import ESTIMATORS, targets_for
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils._param_validation import InvalidParameterError

from skrnn import (
    RNNClassifier,
    RNNRegressor,
    SequenceRegressor,
    SequenceTagger,
    SequenceTranscriber,
)
from skrnn._network import RecurrentNetwork, Workspace

LENGTHS = [11, 7, 4, 9, 1, 6]
BPTT = 3
FD_STEP = 1e-5
GRID = list(itertools.product(["rnn-tanh", "lstm", "gru"], [1, 2],
                              [False, True], ["many-to-one", "per-step",
                                              "mean", "max", "attention"]))
GRID_IDS = [f"{c}-{n}L-{'bi' if b else 'uni'}-{h}" for c, n, b, h in GRID]


def _quiet_fit(est, X, y, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return est.fit(X, y, **kwargs)


def _data(rng, lengths=LENGTHS, n_features=2):
    X = [rng.standard_normal((T, n_features)) for T in lengths]
    y_seq = np.array([int(x[:, 0].sum() > 0) for x in X])
    y_seq[:2] = [0, 1]
    y_step = [(np.cumsum(x[:, 0]) > 0).astype(int) for x in X]
    return X, y_seq, y_step


# --------------------------------------------------------------------------
# Parameters
# --------------------------------------------------------------------------


@pytest.mark.parametrize("Estimator", ESTIMATORS)
@pytest.mark.parametrize("params", [
    {"bptt_steps": 0}, {"bptt_steps": -3}, {"bptt_steps": 2.5},
    {"bptt_steps": "10"}, {"recurrent_dropout": 1.0},
    {"recurrent_dropout": -0.1}, {"recurrent_dropout": "0.5"},
])
def test_bad_parameters_are_refused(rng, Estimator, params):
    X, y_seq, y_step = _data(rng)
    est = Estimator((3,), max_iter=1, **params)
    with pytest.raises(InvalidParameterError):
        est.fit(X, targets_for(Estimator, y_seq, y_step))


# Each estimator's default, chosen on bench_quality.py (benchmarks/README.md).
DEFAULT_RECURRENT_DROPOUT = {"RNNClassifier": 0.25, "RNNRegressor": 0.25,
                             "SequenceTagger": 0.25, "SequenceRegressor": 0.1}


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_parameters_are_stored_and_cloned(Estimator):
    est = Estimator(bptt_steps=20, recurrent_dropout=0.4)
    params = clone(est).get_params()
    assert params["bptt_steps"] == 20
    assert params["recurrent_dropout"] == 0.4
    assert Estimator().get_params()["bptt_steps"] is None
    assert (Estimator().get_params()["recurrent_dropout"]
            == DEFAULT_RECURRENT_DROPOUT[Estimator.__name__])


def test_bptt_with_lbfgs_is_refused(rng):
    X, y_seq, y_step = _data(rng)
    with pytest.raises(ValueError, match="bptt_steps needs a stochastic"):
        SequenceTagger((3,), solver="lbfgs", bptt_steps=5).fit(X, y_step)


# --------------------------------------------------------------------------
# One window is full BPTT, bit for bit
# --------------------------------------------------------------------------


@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_one_window_is_full_bptt_bit_for_bit(rng, Estimator, cell,
                                             bidirectional):
    X, y_seq, y_step = _data(rng)
    y = targets_for(Estimator, y_seq, y_step)
    common = dict(cell=cell, bidirectional=bidirectional, max_iter=3,
                  batch_size=4, random_state=0, dropout=0.2,
                  recurrent_dropout=0.3, learning_rate_init=0.01,
                  dtype="float64")
    full = _quiet_fit(Estimator((4, 3), **common), X, y)
    for steps in (max(LENGTHS), 1000):
        cut = _quiet_fit(Estimator((4, 3), bptt_steps=steps, **common), X, y)
        assert cut._params.dtype == np.float64
        assert_array_equal(cut._params, full._params)
        assert cut.loss_curve_ == full.loss_curve_
    shorter = _quiet_fit(Estimator((4, 3), bptt_steps=4, **common), X, y)
    assert not np.array_equal(shorter._params, full._params)


@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("readout", ["mean", "max", "attention"])
@pytest.mark.parametrize("Estimator", [RNNClassifier, RNNRegressor])
def test_one_window_is_full_bptt_for_pooled_readouts(rng, Estimator, readout,
                                                     bidirectional):
    X, y_seq, y_step = _data(rng)
    y = targets_for(Estimator, y_seq, y_step)
    common = dict(cell="lstm", bidirectional=bidirectional, readout=readout,
                  max_iter=3, batch_size=4, random_state=0, dropout=0.2,
                  recurrent_dropout=0.3, learning_rate_init=0.01)
    full = _quiet_fit(Estimator((4, 3), **common), X, y)
    cut = _quiet_fit(Estimator((4, 3), bptt_steps=max(LENGTHS), **common), X, y)
    assert_array_equal(cut._params, full._params)
    assert cut.loss_curve_ == full.loss_curve_
    # Several windows replay their dropout draws: reproducible, and a
    # different fit from full BPTT's.
    shorter = [_quiet_fit(Estimator((4, 3), bptt_steps=4, **common), X, y)
               for _ in range(2)]
    assert_array_equal(shorter[0]._params, shorter[1]._params)
    assert not np.array_equal(shorter[0]._params, full._params)


def test_zero_recurrent_dropout_draws_nothing(rng, monkeypatch):
    # Rate 0 draws no mask, so the random stream, hence every fit, is as it
    # was before recurrent dropout existed; full and truncated BPTT alike.
    X, y_seq, y_step = _data(rng)
    dropped = _quiet_fit(SequenceTagger((4,), max_iter=2, random_state=0,
                                        recurrent_dropout=0.3), X, y_step)

    def no_masks(*args, **kwargs):
        raise AssertionError("a recurrent-dropout mask was drawn at rate 0")

    monkeypatch.setattr(RecurrentNetwork, "recurrent_masks", no_masks)
    for steps in (None, BPTT):
        est = _quiet_fit(SequenceTagger((4,), max_iter=2, random_state=0,
                                        recurrent_dropout=0.0, bptt_steps=steps),
                         X, y_step)
        assert not np.array_equal(dropped._params, est._params)


@pytest.mark.parametrize("Estimator", ESTIMATORS)
def test_recurrent_dropout_is_reproducible_and_off_at_predict(rng, Estimator):
    X, y_seq, y_step = _data(rng)
    y = targets_for(Estimator, y_seq, y_step)
    make = lambda: Estimator((4,), max_iter=3, random_state=3,  # noqa: E731
                             recurrent_dropout=0.5, bptt_steps=4)
    a, b = _quiet_fit(make(), X, y), _quiet_fit(make(), X, y)
    assert_array_equal(a._params, b._params)
    # predict is deterministic: no mask at predict time
    out = a.predict(X)
    again = a.predict(X)
    for p, q in zip(out, again):
        assert_array_equal(p, q)


# --------------------------------------------------------------------------
# The truncated gradient against a NumPy reference with detached states
# --------------------------------------------------------------------------


def _estimator_for(cell, n_layers, bidirectional, head):
    name, activation = ("rnn", cell[4:]) if cell.startswith("rnn") else (cell,
                                                                           "tanh")
    # float64: the reference and the finite differences are float64's.
    if head == "per-step":
        return SequenceTagger((4, 3)[:n_layers], cell=name,
                              activation=activation,
                              bidirectional=bidirectional, bptt_steps=BPTT,
                              max_iter=1, random_state=0, dtype="float64")
    return RNNClassifier((4, 3)[:n_layers], cell=name, activation=activation,
                         bidirectional=bidirectional, bptt_steps=BPTT,
                         max_iter=1, random_state=0, dtype="float64",
                         readout="last" if head == "many-to-one" else head)


def _reference_steps(cell, net, params, x, h0):
    """The top layer's output at every step of one window of one sequence,
    from the forward direction's initial states ``h0[layer] = (h, c)``
    (None: zero), and that direction's final states; the reverse direction
    starts from zero."""
    inp, finals = x, []
    for layer in range(len(net.hidden_layer_sizes)):
        p = params.layers[layer]
        h, c = h0[layer] if h0 is not None else (None, None)
        fwd = ref.forward(cell, inp, p[0], h, c)
        finals.append((fwd["h"][-1], fwd["c"][-1] if cell == "lstm" else None))
        outs = [fwd["h"]]
        if net.n_directions == 2:
            outs.append(ref.forward(cell, inp[::-1], p[1])["h"][::-1])
        inp = np.concatenate(outs, axis=1)
    return inp, finals


def _reference_window(cell, net, params, x, h0):
    """Raw outputs of one window of one sequence (see _reference_steps) and
    the forward direction's final states."""
    inp, finals = _reference_steps(cell, net, params, x, h0)
    hidden = net.hidden_layer_sizes[-1]
    feats = inp if net.per_step else np.concatenate([inp[-1, :hidden],
                                                     inp[0, hidden:]])[None]
    return feats @ params.W_out + params.b_out, finals


def _detached_states(cell, net, params, x):
    """The forward direction's state at the start of every window, at the
    current parameters: the constants the truncated gradient holds fixed."""
    states, state = [], None
    for a in range(0, x.shape[0], BPTT):
        states.append(state)
        _, state = _reference_window(cell, net, params, x[a:a + BPTT], state)
    return states


def _truncated_objective(cell, est, params, X, targets, detached):
    """Sum over sequences and windows of the window losses, every window run
    from its detached initial state; a many-to-one loss on the last window."""
    net = est._network
    total_steps = sum(x.shape[0] for x in X)
    loss, row = 0.0, 0
    if net.pooled:
        # Every window's steps, each from its detached state, pooled together.
        for i, x in enumerate(X):
            S = np.concatenate([
                _reference_steps(cell, net, params, x[a:a + BPTT],
                                 detached[i][a // BPTT])[0]
                for a in range(0, x.shape[0], BPTT)])
            F = ref.pool(net.readout, S, params.w_att)
            Z = F[None] @ params.W_out + params.b_out
            loss += est._loss.loss_gradient(Z, targets[i:i + 1],
                                            np.full(1, 1.0 / len(X)))[0]
        return loss
    for i, x in enumerate(X):
        windows = list(range(0, x.shape[0], BPTT))
        if not net.per_step:
            windows = windows[-1:]
        for a in windows:
            Z, _ = _reference_window(cell, net, params, x[a:a + BPTT],
                                     detached[i][a // BPTT])
            if net.per_step:
                y = targets[row + a:row + a + Z.shape[0]]
                w = np.full(Z.shape[0], 1.0 / total_steps)
            else:
                y, w = targets[i:i + 1], np.full(1, 1.0 / len(X))
            loss += est._loss.loss_gradient(Z, y, w)[0]
        row += x.shape[0]
    return loss


@pytest.mark.parametrize(("cell", "n_layers", "bidirectional", "head"), GRID,
                         ids=GRID_IDS)
def test_truncated_gradient_matches_detached_reference(rng, cell, n_layers,
                                                       bidirectional, head):
    X, y_seq, y_step = _data(rng)
    est = _estimator_for(cell, n_layers, bidirectional, head)
    y = y_step if head == "per-step" else y_seq
    _quiet_fit(est, X, y)
    net = est._network
    seqs = est._validate_sequences(X, reset=False)
    targets = est._validate_targets(seqs, y, reset=False)
    weights = est._sample_weights(seqs, targets, None)
    flat = rng.uniform(-0.6, 0.6, net.n_params)
    params = net.views(flat)
    grad = np.full(net.n_params, np.nan)
    # A caller order that is not the packed one.
    idx = np.array([3, 0, 5, 1, 4, 2])
    loss, weight_total = est._truncated_loss_grad(
        seqs, targets, weights, idx, flat, grad, Workspace(np.float64), BPTT)
    assert weight_total == (seqs.n_steps if net.per_step else len(X))
    assert not np.isnan(grad).any()

    detached = [_detached_states(cell, net, params, x) for x in X]
    assert loss == pytest.approx(
        _truncated_objective(cell, est, params, X, targets, detached),
        rel=1e-12)
    sample = rng.choice(net.n_params, min(40, net.n_params), replace=False)
    fd = np.empty(sample.shape[0])
    for k, i in enumerate(sample):
        saved = flat[i]
        flat[i] = saved + FD_STEP
        plus = _truncated_objective(cell, est, params, X, targets, detached)
        flat[i] = saved - FD_STEP
        minus = _truncated_objective(cell, est, params, X, targets, detached)
        flat[i] = saved
        fd[k] = (plus - minus) / (2 * FD_STEP)
    scale = max(1.0, float(np.abs(grad).max()))
    assert_allclose(grad[sample], fd, rtol=1e-6, atol=1e-8 * scale)

    # Truncation changes the gradient: the full one differs.
    full = np.full(net.n_params, np.nan)
    est._truncated_loss_grad(seqs, targets, weights, idx, flat, full,
                             Workspace(np.float64), max(LENGTHS))
    assert not np.allclose(full, grad)


# --------------------------------------------------------------------------
# Memory and learning
# --------------------------------------------------------------------------


def _peak_fit_bytes(Estimator, T, bptt_steps, y_of, **params):
    rng = np.random.default_rng(0)
    X = [rng.standard_normal((T, 1)).astype(np.float32)]
    y = y_of(X)
    est = Estimator((8,), max_iter=1, bptt_steps=bptt_steps, random_state=0,
                    **params)
    tracemalloc.start()
    try:
        _quiet_fit(est, X, y)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize(("Estimator", "params"), [
    (RNNRegressor, {}), (RNNRegressor, {"readout": "attention"}),
    (SequenceTagger, {})])
def test_memory_does_not_grow_with_the_length(Estimator, params):
    # Ten times the steps: full BPTT's peak grows tenfold with its gate
    # buffers; truncated, only the data-sized arrays (input, and a tagger's
    # labels and step weights) grow.
    if Estimator is SequenceTagger:
        def y_of(X):
            return [(x[:, 0] > 0).astype(int) for x in X]
        data_bytes_per_step = 4 + 8 + 8 + 8  # X, labels, codes, step weights
    else:
        def y_of(X):
            return np.array([1.0])
        data_bytes_per_step = 4
    short, long = 2_000, 20_000
    # A first fit pays the one-time allocations (caches, thread pools).
    _peak_fit_bytes(Estimator, short, 50, y_of, **params)
    growth = (_peak_fit_bytes(Estimator, long, 50, y_of, **params)
              - _peak_fit_bytes(Estimator, short, 50, y_of, **params))
    full_growth = (_peak_fit_bytes(Estimator, long, None, y_of, **params)
                   - _peak_fit_bytes(Estimator, short, None, y_of, **params))
    assert growth < 0.1 * full_growth
    assert growth < 2 * data_bytes_per_step * (long - short)


def _delayed_copy(rng, n, T, delay=8):
    """Label at step t: whether the input `delay` steps back was positive."""
    X = [rng.standard_normal((T, 1)).astype(np.float32) for _ in range(n)]
    y = [np.concatenate([np.zeros(delay, int),
                         (x[:-delay, 0] > 0).astype(int)]) for x in X]
    return X, y


def test_truncated_tagger_learns_a_delayed_copy_as_well_as_full_bptt():
    # 2000-step sequences whose labels need the last 5 inputs: windows of 50
    # steps see the whole dependency, and learn it as well as full BPTT.
    rng = np.random.default_rng(0)
    X, y = _delayed_copy(rng, 4, 2000, delay=5)
    X_test, y_test = _delayed_copy(rng, 2, 2000, delay=5)
    scores = {}
    for steps in (None, 50):
        # The network it was measured on: no dropout of either kind.
        est = SequenceTagger((16,), cell="gru", bptt_steps=steps, batch_size=1,
                             learning_rate_init=0.05, max_iter=20,
                             random_state=0, dropout=0.0,
                             recurrent_dropout=0.0)
        scores[steps] = _quiet_fit(est, X, y).score(X_test, y_test)
    assert scores[None] > 0.95
    assert scores[50] >= scores[None] - 0.02


@pytest.mark.parametrize("Estimator", [RNNClassifier, SequenceTagger])
def test_sparse_input_is_windowed_like_dense(rng, Estimator):
    X, y_seq, y_step = _data(rng)
    y = targets_for(Estimator, y_seq, y_step)
    common = dict(max_iter=2, bptt_steps=BPTT, random_state=0,
                  recurrent_dropout=0.2, dtype="float64")
    dense = _quiet_fit(Estimator((4,), **common), X, y)
    sparse = _quiet_fit(Estimator((4,), **common),
                        [sp.csr_matrix(x) for x in X], y)
    assert_allclose(sparse._params, dense._params, rtol=1e-12, atol=1e-14)


def _transcription(rng, n=12):
    X = [rng.standard_normal((int(rng.integers(6, 12)), 2)) for _ in range(n)]
    y = [np.array(["a", "b"]) if x[0, 0] > 0 else np.array(["b"]) for x in X]
    return X, y


def test_transcriber_refuses_bptt_and_takes_recurrent_dropout(rng):
    X, y = _transcription(rng)
    with pytest.raises(ValueError, match="does not support bptt_steps"):
        SequenceTranscriber((4,), bptt_steps=3, max_iter=1).fit(X, y)
    with pytest.raises(InvalidParameterError):
        SequenceTranscriber((4,), recurrent_dropout=1.5, max_iter=1).fit(X, y)

    def fit(rate):
        return _quiet_fit(SequenceTranscriber((4,), recurrent_dropout=rate,
                                              max_iter=2, random_state=0), X, y)

    plain = fit(0.0)
    dropped, again = fit(0.4), fit(0.4)
    assert_array_equal(dropped._params, again._params)
    assert not np.array_equal(dropped._params, plain._params)


@pytest.mark.parametrize("loss", ["absolute_error", "huber"])
@pytest.mark.parametrize("Estimator", [RNNRegressor, SequenceRegressor])
def test_one_window_is_full_bptt_with_other_regression_losses(rng, Estimator,
                                                              loss):
    X, y_seq, y_step = _data(rng)
    y = targets_for(Estimator, y_seq, y_step)
    common = dict(loss=loss, max_iter=2, batch_size=4, random_state=0,
                  recurrent_dropout=0.3)
    full = _quiet_fit(Estimator((4,), **common), X, y)
    cut = _quiet_fit(Estimator((4,), bptt_steps=max(LENGTHS), **common), X, y)
    assert_array_equal(cut._params, full._params)
    _quiet_fit(Estimator((4,), bptt_steps=BPTT, **common), X, y)
