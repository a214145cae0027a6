"""Pooled readouts: against a per-sequence NumPy reference, finite differences,
chunked statistics, and learning where the readout matters."""

import itertools
import warnings

import _reference as ref
import numpy as np
import pytest
from numpy.testing import assert_allclose
from sklearn.exceptions import ConvergenceWarning

from skrnn import RNNClassifier, RNNRegressor, _readout
from skrnn._network import RecurrentNetwork, Workspace
from skrnn._packing import PackedBatch
from skrnn._sequences import Sequences

N_FEATURES = 3
LENGTHS = [3, 6, 1, 5, 3, 6]
INDICES = [3, 0, 4, 1, 5, 2]  # not sorted: packing reorders the sequences
READOUTS = ["mean", "max", "attention"]
CELLS = ["rnn-tanh", "rnn-relu", "lstm", "gru"]
GRID = list(itertools.product(READOUTS, CELLS, [1, 2], [False, True]))
GRID_IDS = [f"{r}-{c}-{n}L-{'bi' if bi else 'uni'}" for r, c, n, bi in GRID]
FD_STEP = 1e-6


def _network(readout, cell, n_layers, bidirectional, per_step=False, n_outputs=2):
    kind, activation = ("rnn", cell[4:]) if cell.startswith("rnn") else (cell, "tanh")
    return RecurrentNetwork(
        cell=kind, activation=activation, n_features=N_FEATURES,
        hidden_layer_sizes=(4, 3)[:n_layers], bidirectional=bidirectional,
        n_outputs=n_outputs, per_step=per_step, readout=readout)


def _container(rng, dtype=np.float64, lengths=LENGTHS):
    data = rng.standard_normal((sum(lengths), N_FEATURES)).astype(dtype)
    return Sequences.from_lengths(data, np.array(lengths))


def _recurrent_params(net, flat):
    """Every recurrent layer direction's named views into a flat vector."""
    return [d for layer in net.views(flat).layers for d in layer]


def _copy_recurrent(src_net, src, dst_net, dst):
    for a, b in zip(_recurrent_params(src_net, src), _recurrent_params(dst_net, dst)):
        for key in a:
            b[key][...] = a[key]


@pytest.mark.parametrize("readout, cell, n_layers, bidirectional", GRID, ids=GRID_IDS)
def test_pooled_features_match_reference(rng, readout, cell, n_layers,
                                         bidirectional):
    """The head reads each sequence's top-layer states pooled by the definition.

    The reference states come from the per-step network (checked against the
    NumPy reference cells in test_network.py) with an identity head.
    """
    seqs = _container(rng)
    net = _network(readout, cell, n_layers, bidirectional)
    flat = rng.uniform(-0.6, 0.6, net.n_params)
    D = net.n_head_in
    steps_net = _network("last", cell, n_layers, bidirectional, per_step=True,
                         n_outputs=D)
    steps_flat = np.zeros(steps_net.n_params)
    _copy_recurrent(net, flat, steps_net, steps_flat)
    steps_net.views(steps_flat).W_out[...] = np.eye(D)
    batch = PackedBatch(seqs, INDICES)
    S = np.empty((seqs.n_steps, D))
    S[batch.gather] = steps_net.predict(steps_net.views(steps_flat), batch,
                                        Workspace(np.float64))
    params = net.views(flat)
    expected = np.stack([
        ref.pool(readout, S[seqs.offsets[i]:seqs.offsets[i + 1]], params.w_att)
        for i in batch.order]) @ params.W_out + params.b_out
    Z_train = net.forward(params, batch, Workspace(np.float64))
    Z_predict = net.predict(params, batch, Workspace(np.float64))
    assert_allclose(Z_train, expected, rtol=1e-12, atol=1e-13)
    assert_allclose(Z_predict, Z_train, rtol=0, atol=0)


@pytest.mark.parametrize("readout, cell, n_layers, bidirectional", GRID, ids=GRID_IDS)
def test_pooled_gradients_match_finite_differences(rng, readout, cell, n_layers,
                                                   bidirectional):
    seqs = _container(rng)
    net = _network(readout, cell, n_layers, bidirectional)
    flat = rng.uniform(-0.6, 0.6, net.n_params)
    batch = PackedBatch(seqs, INDICES)
    ws = Workspace(np.float64)
    R = rng.standard_normal((len(LENGTHS), 2))

    def objective(values):
        return float(np.sum(R * net.forward(net.views(values), batch, ws)))

    objective(flat)
    grad = np.zeros_like(flat)
    dX = net.backward(net.views(flat), net.views(grad), batch, R.copy(), ws,
                      input_grad=True)
    fd = np.empty_like(flat)
    for i in range(flat.size):
        up, down = flat.copy(), flat.copy()
        up[i] += FD_STEP
        down[i] -= FD_STEP
        fd[i] = (objective(up) - objective(down)) / (2 * FD_STEP)
    assert_allclose(grad, fd, rtol=1e-5, atol=1e-7)
    # and the gradient with respect to the input, which every step receives
    X0 = batch.X.copy()
    fd_x = np.empty_like(X0)
    for idx in np.ndindex(*X0.shape):
        values = []
        for sign in (1, -1):
            batch.X[...] = X0
            batch.X[idx] += sign * FD_STEP
            values.append(objective(flat))
        fd_x[idx] = (values[0] - values[1]) / (2 * FD_STEP)
    batch.X[...] = X0
    assert_allclose(dX, fd_x, rtol=1e-5, atol=1e-7)
    if readout != "max" and cell != "rnn-relu":
        # Every step is read (max passes only the maxima; relu units can die).
        assert np.all(np.abs(dX).sum(axis=1) > 0), "a step got no gradient"


@pytest.mark.parametrize("readout", READOUTS)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_statistics_merge_chunk_by_chunk(rng, readout, dtype):
    """Pooling chunk after chunk, the state carried, equals pooling whole."""
    net = _network(readout, "lstm", 2, False)
    flat = rng.uniform(-0.6, 0.6, net.n_params).astype(dtype)
    params = net.views(flat)
    lengths = [9, 9, 9]
    seqs = _container(rng, dtype, lengths)
    whole = net.predict(params, PackedBatch(seqs, [0, 1, 2]), Workspace(dtype))
    state = stats = None
    for a, b in [(0, 2), (2, 7), (7, 9)]:
        chunk = np.concatenate([seqs[i][a:b] for i in range(3)])
        part = Sequences.from_lengths(chunk, np.array([b - a] * 3))
        Z, state, stats = net.predict(params, PackedBatch(part, [0, 1, 2]),
                                      Workspace(dtype), initial_state=state,
                                      return_state=True, pool_state=stats)
    tol = {"rtol": 1e-12, "atol": 1e-14} if dtype == np.float64 else {
        "rtol": 1e-5, "atol": 1e-6}
    assert_allclose(Z, whole, **tol)


def test_max_gives_the_gradient_to_the_first_maximum():
    S = np.array([[1.0, 5.0], [3.0, 5.0], [3.0, 2.0]])  # one sequence of 3 steps
    seqs = Sequences.from_lengths(S, np.array([3]))
    batch = PackedBatch(seqs, [0])
    F, cache = _readout.forward("max", S, batch)
    assert_allclose(F, [[3.0, 5.0]])
    dS = _readout.backward("max", np.array([[1.0, 2.0]]), cache, batch)
    assert_allclose(dS, [[0, 2.0], [1.0, 0], [0, 0]])


def test_chunked_max_gives_the_gradient_to_the_first_maximum_of_all_chunks():
    # Two sequences in two chunks of steps, as packed rows: sequence 0 at
    # step 0, sequence 1 at step 0, sequence 0 at step 1. Unit 0 of sequence
    # 0 peaks (5) in both chunks, its unit 1 in the second only; sequence 1
    # peaks in the first chunk in both units, tied with the second in unit 1.
    chunks = [np.array([[5.0, 1.0], [4.0, 2.0], [2.0, 0.0]]),
              np.array([[5.0, 7.0], [1.0, 2.0], [0.0, 3.0]])]
    lengths = np.array([2, 1])
    batches = []
    for S in chunks:
        # The container holds each sequence's steps in turn: sequence 0's
        # (packed rows 0 and 2), then sequence 1's (row 1).
        batch = PackedBatch(Sequences.from_lengths(S[[0, 2, 1]], lengths), [0, 1])
        batches.append((batch, S))
    stats = None
    for batch, S in batches:
        stats = _readout.merge("max", stats, _readout.statistics("max", S, batch))
    F = _readout.features("max", stats)
    assert_allclose(F, [[5.0, 7.0], [4.0, 2.0]])
    dF = np.array([[1.0, 2.0], [3.0, 4.0]])
    taken, grads = None, []
    for batch, S in batches:
        dS, _, taken = _readout.chunk_backward("max", dF, S, batch, F, stats,
                                               taken=taken)
        grads.append(dS)
    assert_allclose(grads[0], [[1.0, 0.0], [3.0, 4.0], [0.0, 0.0]])
    assert_allclose(grads[1], [[0.0, 2.0], [0.0, 0.0], [0.0, 0.0]])
    assert taken.all()


def test_attention_starts_as_the_mean(rng):
    seqs = _container(rng)
    batch = PackedBatch(seqs, INDICES)
    mean = _network("mean", "gru", 1, False)
    attention = _network("attention", "gru", 1, False)
    flat = mean.init_params(np.random.RandomState(0), np.float64)
    flat_att = attention.init_params(np.random.RandomState(0), np.float64)
    assert not np.any(attention.views(flat_att).w_att)
    assert_allclose(attention.predict(attention.views(flat_att), batch,
                                      Workspace(np.float64)),
                    mean.predict(mean.views(flat), batch, Workspace(np.float64)),
                    rtol=1e-12)


def test_unknown_readout_is_refused():
    with pytest.raises(ValueError, match="readout must be one of"):
        _network("median", "lstm", 1, False)


# --------------------------------------------------------------------------
# Learning: where the readout matters
# --------------------------------------------------------------------------


def _motif_data(rng, n, low=200, high=1000):
    """Long noisy sequences, labelled by which short motif occurs somewhere."""
    X, y = [], np.arange(n) % 2
    for label in y:
        T = int(rng.integers(low, high))
        x = rng.standard_normal((T, 1))
        start = int(rng.integers(0, T - 5))
        x[start:start + 5, 0] = 3.0 if label else -3.0
        X.append(x)
    return X, y


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_pooling_finds_a_motif_anywhere_where_last_cannot(rng):
    X, y = _motif_data(rng, 120)
    X_test, y_test = _motif_data(rng, 80)
    scores = {}
    for readout in ("last", "max", "attention"):
        # float64: the thresholds were tuned on the float64 fits (the
        # attention score moves with the trajectory in either dtype).
        # One direction, no dropout: where 'last' has to carry the motif.
        # 40 epochs: at 12 or 20, attention's score depends on the BLAS
        # build's round-off (0.91 to 1.0); at 40 it is >= 0.975 for model
        # seeds 0-2 while 'last' stays <= 0.65.
        clf = RNNClassifier((16,), readout=readout, learning_rate_init=0.01,
                            max_iter=40, batch_size=16, random_state=0,
                            dtype="float64", bidirectional=False,
                            recurrent_dropout=0.0)
        scores[readout] = clf.fit(X, y).score(X_test, y_test)
    assert scores["max"] >= 0.95, scores
    assert scores["attention"] >= 0.95, scores
    assert scores["last"] <= 0.75, scores


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_mean_readout_regresses_the_mean_of_long_sequences(rng):
    def data(n):
        X = [rng.normal(rng.normal(), 1.0, (int(rng.integers(200, 1000)), 1))
             for _ in range(n)]
        return X, np.array([x.mean() for x in X])

    X, y = data(100)
    X_test, y_test = data(60)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        reg = RNNRegressor((8,), readout="mean", learning_rate_init=0.01,
                           max_iter=15, batch_size=10, random_state=0).fit(X, y)
    assert reg.score(X_test, y_test) >= 0.95
