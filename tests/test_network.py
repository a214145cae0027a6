"""RecurrentNetwork end to end: NumPy reference, finite differences, invariances."""

import itertools

import _reference as ref
import numpy as np
import pytest
import scipy.sparse as sp
from numpy.testing import assert_allclose, assert_array_equal

import skrnn._network as network_module
from skrnn._loss import BinaryLogLoss, MultinomialLogLoss, SquaredError
from skrnn._network import RecurrentNetwork, Workspace
from skrnn._packing import PackedBatch
from skrnn._sequences import Sequences

N_FEATURES = 3
HIDDEN = {1: (4,), 2: (4, 3)}
# A ragged container and a minibatch of all of it in a non-sorted caller order.
LENGTHS = [3, 6, 1, 5, 3]
INDICES = [3, 0, 4, 1, 2]
HEADS = ["many-to-one", "per-step"]
GRID = list(itertools.product(ref.CELLS, [1, 2], [False, True], HEADS))
GRID_IDS = [f"{cell}-{layers}L-{'bi' if bi else 'uni'}-{head}"
            for cell, layers, bi, head in GRID]
# The two-layer part of the grid, for the checks that need depth but not the
# full product.
DEEP = [(cell, 2, bi, head) for cell, layers, bi, head in GRID if layers == 2]
DEEP_IDS = [i for i, (_, layers, _, _) in zip(GRID_IDS, GRID) if layers == 2]

# Same arithmetic in a different order (other BLAS blocking or batch sizes).
ROUND_OFF = {"rtol": 1e-10, "atol": 1e-13}
# Central differences with step FD_STEP on O(1) functions: truncation error
# ~FD_STEP^2, cancellation ~1e-16 / FD_STEP.
FD_STEP = 1e-5
FD_TOL = {"rtol": 1e-6, "atol": 1e-8}


# --------------------------------------------------------------------------
# Building a network and a minibatch
# --------------------------------------------------------------------------


def _network(cell, n_layers, bidirectional, head, n_outputs=2):
    name, activation = ("rnn", cell[4:]) if cell.startswith("rnn") else (cell,
                                                                           "tanh")
    return RecurrentNetwork(cell=name, activation=activation,
                            n_features=N_FEATURES,
                            hidden_layer_sizes=HIDDEN[n_layers],
                            bidirectional=bidirectional, n_outputs=n_outputs,
                            per_step=head == "per-step")


def _params(net, rng, dtype=np.float64):
    # Random biases too (init_params zeroes most of them), so every bias and
    # b_hn gradient is exercised.
    return rng.uniform(-0.6, 0.6, net.n_params).astype(dtype)


def _container(rng, lengths=LENGTHS, dtype=np.float64):
    data = rng.normal(size=(int(np.sum(lengths)), N_FEATURES)).astype(dtype)
    return Sequences.from_lengths(data, lengths)


def _linear_problem(rng, cell, n_layers, bidirectional, head, lengths=LENGTHS,
                    indices=INDICES):
    """A network, its parameters, a container, a minibatch of ``indices`` of
    it, a _Linear loss over it and a float64 work space, drawn in that order:
    (net, flat, seqs, batch, objective, ws)."""
    net = _network(cell, n_layers, bidirectional, head)
    flat = _params(net, rng)
    seqs = _container(rng, lengths)
    batch = PackedBatch(seqs, indices)
    objective = _Linear(net, seqs, rng)
    return net, flat, seqs, batch, objective, Workspace(np.float64)


def _rows(batch, per_step):
    """Container rows (per step) or sequences (many-to-one) of Z's rows."""
    return batch.gather if per_step else batch.order


class _Linear:
    """loss = sum(R * Z) for a fixed R over the whole container."""

    def __init__(self, net, seqs, rng):
        self.per_step = net.per_step
        n = seqs.n_steps if net.per_step else seqs.n_sequences
        self.R = rng.normal(size=(n, net.n_outputs))

    def __call__(self, Z, batch):
        R = self.R[_rows(batch, self.per_step)]
        return float(np.sum(R * Z)), R.astype(Z.dtype)


class _RealLoss:
    """A loss of skrnn._loss with targets and weights, as the estimators use it."""

    N_OUTPUTS = {"squared": 2, "binary": 1, "multinomial": 3}

    def __init__(self, kind, net, seqs, rng):
        self.per_step = net.per_step
        n = seqs.n_steps if net.per_step else seqs.n_sequences
        if kind == "squared":
            self.loss, self.Y = SquaredError(), rng.normal(size=(n, 2))
        elif kind == "binary":
            self.loss = BinaryLogLoss()
            self.Y = rng.integers(0, 2, n).astype(np.float64)
        else:
            self.loss = MultinomialLogLoss()
            self.Y = rng.integers(0, 3, n).astype(np.intp)
        self.w = rng.uniform(0.5, 2.0, n)

    def __call__(self, Z, batch):
        rows = _rows(batch, self.per_step)
        w = self.w[rows]
        loss, dZ = self.loss.loss_gradient(Z, self.Y[rows], w / w.sum())
        return loss, dZ.astype(Z.dtype, copy=False)


def _run(net, flat, batch, ws, objective, input_grad=False, dropout=0.0,
         seed=None):
    """Forward, loss, backward: (loss, Z, flat gradient, input gradient)."""
    views = net.views(flat)
    rng = None if seed is None else np.random.default_rng(seed)
    Z = net.forward(views, batch, ws, dropout=dropout, rng=rng)
    loss, dZ = objective(Z, batch)
    # NaN-filled: backward must write every entry of the gradient.
    grad = np.full(net.n_params, np.nan, dtype=flat.dtype)
    dX = net.backward(views, net.views(grad), batch, dZ, ws,
                      input_grad=input_grad)
    return loss, Z, grad, dX


def _relu_pattern(ws):
    """Which states of the last forward pass are positive (the relu branch)."""
    cells = ws.trace[0]
    return np.concatenate([(bufs["H"] > 0).ravel()
                           for layer in cells for _, bufs in layer])


def _finite_differences(net, flat, batch, ws, objective, wrt, dropout=0.0,
                        seed=None):
    """Central differences of the loss with respect to every entry of ``wrt``.

    ``wrt`` is ``flat`` or ``batch.X``, perturbed in place and restored. For
    the relu cell, an entry whose perturbation flips the sign of some
    pre-activation is a kink, where the derivative is one-sided: it is
    returned as NaN.
    """
    views = net.views(flat)  # views see the in-place perturbations

    def evaluate():
        rng = None if seed is None else np.random.default_rng(seed)
        Z = net.forward(views, batch, ws, dropout=dropout, rng=rng)
        return objective(Z, batch)[0], (_relu_pattern(ws) if net.relu else None)

    indices = list(np.ndindex(wrt.shape))
    return _central_differences(evaluate, wrt, indices).reshape(wrt.shape)


def _central_differences(evaluate, arr, indices):
    """Central differences of ``evaluate()[0]`` at the entries ``indices`` of
    ``arr``, perturbed in place and restored; NaN where the perturbation
    changes ``evaluate()[1]`` (the relu pattern, None elsewhere): a kink."""
    _, pattern = evaluate()
    fd = np.empty(len(indices))
    for i, idx in enumerate(indices):
        saved = arr[idx]
        arr[idx] = saved + FD_STEP
        plus, pattern_plus = evaluate()
        arr[idx] = saved - FD_STEP
        minus, pattern_minus = evaluate()
        arr[idx] = saved
        fd[i] = (plus - minus) / (2 * FD_STEP)
        if pattern is not None and not (np.array_equal(pattern, pattern_plus)
                                        and np.array_equal(pattern, pattern_minus)):
            fd[i] = np.nan
    return fd


def _assert_matches_fd(grad, fd):
    kinks = np.isnan(fd)
    assert kinks.mean() < 0.05, f"{kinks.sum()} of {fd.size} entries at a kink"
    scale = max(1.0, float(np.abs(grad).max()))
    assert_allclose(grad[~kinks], fd[~kinks], rtol=FD_TOL["rtol"],
                    atol=FD_TOL["atol"] * scale)


def _assert_gradients_match_fd(net, flat, batch, ws, objective, grad, dX,
                               **fd_kwargs):
    """The flat gradient and the input gradient against central differences."""
    _assert_matches_fd(grad, _finite_differences(net, flat, batch, ws,
                                                 objective, flat, **fd_kwargs))
    _assert_matches_fd(dX, _finite_differences(net, flat, batch, ws,
                                               objective, batch.X, **fd_kwargs))


# --------------------------------------------------------------------------
# Plain NumPy network reference, one sequence at a time
# --------------------------------------------------------------------------


def _reference_forward(cell, net, params, x, masks=None, h0=None):
    """Raw outputs of one sequence and what the backward pass needs.

    ``masks[layer][direction]`` (H,): the sequence's recurrent-dropout masks;
    ``h0[layer]`` (H,): the forward direction's initial states (h, c).
    """
    inputs, states = [], []
    inp = x
    for layer in range(len(net.hidden_layer_sizes)):
        p = params.layers[layer]
        m = masks[layer] if masks is not None else (None, None)
        h, c = h0[layer] if h0 is not None else (None, None)
        fwd = ref.forward(cell, inp, p[0], h, c, mask=m[0])
        layer_states, outs = [fwd], [fwd["h"]]
        if net.n_directions == 2:
            bwd = ref.forward(cell, inp[::-1], p[1], mask=m[1])
            layer_states.append(bwd)
            outs.append(bwd["h"][::-1])
        inputs.append(inp)
        states.append(layer_states)
        inp = np.concatenate(outs, axis=1)
    hidden = net.hidden_layer_sizes[-1]
    if net.per_step:
        feats = inp
    else:
        # [last forward state, backward state at time 0]
        feats = np.concatenate([inp[-1, :hidden], inp[0, hidden:]])
    Z = feats @ params.W_out + params.b_out
    return Z, (inputs, states, feats)


def _reference_backward(cell, net, params, grads, trace, dZ):
    """Accumulate one sequence's gradients into ``grads``; returns dLoss/dx."""
    inputs, states, feats = trace
    n_layers = len(net.hidden_layer_sizes)
    if net.per_step:
        grads.W_out += feats.T @ dZ
        grads.b_out += dZ.sum(axis=0)
        d_out = dZ @ params.W_out.T
    else:
        grads.W_out += np.outer(feats, dZ)
        grads.b_out += dZ
        d_feats = params.W_out @ dZ
        hidden = net.hidden_layer_sizes[-1]
        d_out = np.zeros((inputs[-1].shape[0], hidden * net.n_directions))
        d_out[-1, :hidden] = d_feats[:hidden]
        d_out[0, hidden:] = d_feats[hidden:]
    for layer in range(n_layers - 1, -1, -1):
        hidden = net.hidden_layer_sizes[layer]
        inp = inputs[layer]
        p, g = params.layers[layer], grads.layers[layer]
        fwd = ref.backward(cell, inp, p[0], states[layer][0], d_out[:, :hidden])
        d_in = fwd["X"]
        parts = [fwd]
        if net.n_directions == 2:
            bwd = ref.backward(cell, inp[::-1], p[1], states[layer][1],
                               d_out[::-1, hidden:])
            d_in = d_in + bwd["X"][::-1]
            parts.append(bwd)
        for direction, part in enumerate(parts):
            for name, view in g[direction].items():
                view += part[name]
        d_out = d_in
    return d_out


def _reference_run(cell, net, flat, seqs, indices, dZ_of, masks_of=None):
    """Z per sequence, the summed flat gradient, and dLoss/dx per sequence."""
    params = net.views(flat)
    grad = np.zeros(net.n_params)
    grads = net.views(grad)
    Z, dX = {}, {}
    for i in indices:
        masks = None if masks_of is None else masks_of(i)
        Z[i], trace = _reference_forward(cell, net, params, seqs[i], masks)
        dX[i] = _reference_backward(cell, net, params, grads, trace, dZ_of(i))
    return Z, grad, dX


def _reference_of_batch(cell, net, flat, seqs, indices, batch, objective,
                        masks_of=None):
    """The reference run on the sequences ``indices`` of a _Linear loss: the
    outputs in the rows of ``batch``, the flat gradient, and dLoss/dx in the
    rows of ``batch.X``."""
    offsets = seqs.offsets

    def dZ_of(i):
        if net.per_step:
            return objective.R[offsets[i]:offsets[i + 1]]
        return objective.R[i]

    Z_ref, grad_ref, dX_ref = _reference_run(cell, net, flat, seqs, indices,
                                             dZ_of, masks_of)
    if net.per_step:
        by_row = np.empty((seqs.n_steps, net.n_outputs))
        for i in indices:
            by_row[offsets[i]:offsets[i + 1]] = Z_ref[i]
        Z_expected = by_row[batch.gather]
    else:
        Z_expected = np.array([Z_ref[i] for i in batch.order])
    dX_by_row = np.empty((seqs.n_steps, N_FEATURES))
    for i in indices:
        dX_by_row[offsets[i]:offsets[i + 1]] = dX_ref[i]
    return Z_expected, grad_ref, dX_by_row[batch.gather]


REFERENCE_LENGTHS = {
    "ragged": (LENGTHS, INDICES),
    "subset": (LENGTHS, [2, 4, 1]),
    "single-steps": ([1, 1, 1], [1, 2, 0]),
    "one-sequence": ([4], [0]),
}


@pytest.mark.parametrize("case", list(REFERENCE_LENGTHS))
@pytest.mark.parametrize(("cell", "n_layers", "bidirectional", "head"), GRID,
                         ids=GRID_IDS)
def test_matches_numpy_reference(rng, cell, n_layers, bidirectional, head,
                                 case):
    lengths, indices = REFERENCE_LENGTHS[case]
    net, flat, seqs, batch, objective, ws = _linear_problem(
        rng, cell, n_layers, bidirectional, head, lengths, indices)
    _, Z, grad, dX = _run(net, flat, batch, ws, objective, input_grad=True)
    _, _, grad_no_dx, _ = _run(net, flat, batch, ws, objective)
    Z_expected, grad_ref, dX_expected = _reference_of_batch(
        cell, net, flat, seqs, indices, batch, objective)

    assert Z.shape == Z_expected.shape
    assert_allclose(Z, Z_expected, **ROUND_OFF)
    assert not np.isnan(grad).any()
    assert_allclose(grad, grad_ref, **ROUND_OFF)
    assert_array_equal(grad_no_dx, grad)
    assert dX.shape == batch.X.shape
    assert_allclose(dX, dX_expected, **ROUND_OFF)


def test_reference_head_features_by_hand(rng):
    # The many-to-one head of a bidirectional layer reads [h_fwd(T-1),
    # h_bwd(0)], where h_bwd(0) is the reverse direction's state after reading
    # the whole sequence backwards: check this one composition without the
    # reference's own bookkeeping.
    net = _network("gru", 1, True, "many-to-one")
    flat = _params(net, rng)
    params = net.views(flat)
    seqs = _container(rng, [4, 2])
    batch = PackedBatch(seqs, [1, 0])
    Z = net.forward(params, batch, Workspace(np.float64))
    for j, i in enumerate(batch.order):
        x = seqs[i]
        h_fwd = ref.forward("gru", x, params.layers[0][0])["h"][-1]
        h_bwd = ref.forward("gru", x[::-1], params.layers[0][1])["h"][-1]
        expected = np.concatenate([h_fwd, h_bwd]) @ params.W_out + params.b_out
        assert_allclose(Z[j], expected, **ROUND_OFF)


# --------------------------------------------------------------------------
# Finite differences
# --------------------------------------------------------------------------


@pytest.mark.parametrize(("cell", "n_layers", "bidirectional", "head"), GRID,
                         ids=GRID_IDS)
def test_gradients_match_finite_differences(rng, cell, n_layers, bidirectional,
                                            head):
    net, flat, _, batch, objective, ws = _linear_problem(
        rng, cell, n_layers, bidirectional, head)
    _, _, grad, dX = _run(net, flat, batch, ws, objective, input_grad=True)
    _assert_gradients_match_fd(net, flat, batch, ws, objective, grad, dX)


# The full grid, each configuration with one real loss: the four (depth,
# direction) slots of every (cell, head) pair carry all three losses.
LOSS_KINDS = ["squared", "binary", "multinomial"]
REAL_LOSS_GRID = [
    (cell, n_layers, bi, head,
     LOSS_KINDS[(2 * (n_layers - 1) + bi + ref.CELLS.index(cell)) % 3])
    for cell, n_layers, bi, head in GRID
]


@pytest.mark.parametrize(("cell", "n_layers", "bidirectional", "head", "kind"),
                         REAL_LOSS_GRID,
                         ids=[f"{c}-{n}L-{'bi' if b else 'uni'}-{h}-{k}"
                              for c, n, b, h, k in REAL_LOSS_GRID])
def test_real_loss_gradients_match_finite_differences(rng, cell, n_layers,
                                                      bidirectional, head,
                                                      kind):
    net = _network(cell, n_layers, bidirectional, head,
                   n_outputs=_RealLoss.N_OUTPUTS[kind])
    flat = _params(net, rng)
    seqs = _container(rng)
    batch = PackedBatch(seqs, INDICES)
    objective = _RealLoss(kind, net, seqs, rng)
    ws = Workspace(np.float64)
    _, _, grad, dX = _run(net, flat, batch, ws, objective, input_grad=True)
    _assert_gradients_match_fd(net, flat, batch, ws, objective, grad, dX)


# --------------------------------------------------------------------------
# Packing invariance
# --------------------------------------------------------------------------


@pytest.mark.parametrize(("cell", "n_layers", "bidirectional", "head"), DEEP,
                         ids=DEEP_IDS)
def test_packing_invariance(rng, cell, n_layers, bidirectional, head):
    net, flat, seqs, _, objective, ws = _linear_problem(
        rng, cell, n_layers, bidirectional, head)
    alone = {}
    for i in range(seqs.n_sequences):
        batch = PackedBatch(seqs, [i])
        _, Z, grad, dX = _run(net, flat, batch, ws, objective, input_grad=True)
        alone[i] = (Z, grad, dX)

    orders = [INDICES, INDICES[::-1], [2, 0], [1, 3, 4]]
    orders += [list(rng.permutation(seqs.n_sequences)) for _ in range(3)]
    for order in orders:
        batch = PackedBatch(seqs, order)
        _, Z, grad, dX = _run(net, flat, batch, ws, objective, input_grad=True)
        for j, i in enumerate(batch.order):
            if net.per_step:
                # Packed rows of sequence j, in time order.
                rows = batch.starts[:batch.lengths[j]] + j
            else:
                rows = [j]
            assert_allclose(Z[rows], alone[i][0].reshape(-1, net.n_outputs),
                            **ROUND_OFF)
            steps = batch.starts[:batch.lengths[j]] + j
            assert_allclose(dX[steps], alone[i][2], **ROUND_OFF)
        # The loss is summed over sequences, so its gradient is the sum.
        expected = sum(alone[i][1] for i in order)
        assert_allclose(grad, expected, **ROUND_OFF)


# --------------------------------------------------------------------------
# Dropout
# --------------------------------------------------------------------------


DROPOUT_GRID = [(cell, 2, True, head) for cell in ref.CELLS for head in HEADS]
DROPOUT_GRID += [("gru", 2, False, "per-step"), ("lstm", 1, True, "many-to-one"),
                 ("rnn-tanh", 1, False, "per-step")]


@pytest.mark.parametrize(("cell", "n_layers", "bidirectional", "head"),
                         DROPOUT_GRID,
                         ids=[f"{c}-{n}L-{'bi' if b else 'uni'}-{h}"
                              for c, n, b, h in DROPOUT_GRID])
def test_dropout_gradient_matches_finite_differences(rng, cell, n_layers,
                                                     bidirectional, head):
    rate, seed = 0.3, 7
    net, flat, _, batch, objective, ws = _linear_problem(
        rng, cell, n_layers, bidirectional, head)
    _, Z, grad, dX = _run(net, flat, batch, ws, objective, input_grad=True,
                          dropout=rate, seed=seed)
    masks = ws.trace[1]
    assert len(masks) == n_layers
    for mask in masks:
        assert set(np.unique(mask)) <= {0.0, 1.0 / (1.0 - rate)}
    all_masks = np.concatenate([m.ravel() for m in masks])
    assert (all_masks == 0).any() and (all_masks > 0).any()
    Z_plain = net.forward(net.views(flat), batch, Workspace(np.float64))
    assert not np.allclose(Z, Z_plain)
    # The same seed gives the same masks, hence the same outputs.
    _, Z_again, grad_again, _ = _run(net, flat, batch, ws, objective,
                                     dropout=rate, seed=seed)
    assert_array_equal(Z_again, Z)
    assert_array_equal(grad_again, grad)

    _assert_gradients_match_fd(net, flat, batch, ws, objective, grad, dX,
                               dropout=rate, seed=seed)


@pytest.mark.parametrize(("cell", "n_layers", "bidirectional", "head"), DEEP,
                         ids=DEEP_IDS)
def test_zero_dropout_is_no_dropout(rng, cell, n_layers, bidirectional, head):
    net, flat, _, batch, objective, first_ws = _linear_problem(
        rng, cell, n_layers, bidirectional, head)
    _, Z, grad, dX = _run(net, flat, batch, first_ws, objective, input_grad=True)
    draws = np.random.default_rng(5)
    before = draws.bit_generator.state
    ws = Workspace(np.float64)
    views = net.views(flat)
    Z0 = net.forward(views, batch, ws, dropout=0.0, rng=draws)
    assert draws.bit_generator.state == before  # no mask drawn
    assert all(mask is None for mask in ws.trace[1])
    grad0 = np.full(net.n_params, np.nan)
    dX0 = net.backward(views, net.views(grad0), batch, objective(Z0, batch)[1],
                       ws, input_grad=True)
    assert_array_equal(Z0, Z)
    assert_array_equal(grad0, grad)
    assert_array_equal(dX0, dX)


# --------------------------------------------------------------------------
# Sparse input, float32, work space reuse
# --------------------------------------------------------------------------


def _sparse_copy(seqs, rng):
    """Dense and CSR containers holding the same values, about half zeros."""
    data = seqs.data.copy()
    data[rng.random(data.shape) < 0.5] = 0.0
    data[0] = 0.0  # an all-zero row
    dense = Sequences(data, seqs.offsets)
    return dense, Sequences(sp.csr_matrix(data), seqs.offsets)


@pytest.mark.parametrize(("cell", "n_layers", "bidirectional", "head"),
                         DEEP + [("lstm", 1, True, "per-step"),
                                 ("gru", 1, False, "many-to-one")],
                         ids=DEEP_IDS + ["lstm-1L-bi-per-step",
                                         "gru-1L-uni-many-to-one"])
def test_sparse_input_matches_dense(rng, cell, n_layers, bidirectional, head):
    net = _network(cell, n_layers, bidirectional, head)
    flat = _params(net, rng)
    dense, sparse = _sparse_copy(_container(rng), rng)
    objective = _Linear(net, dense, rng)
    batch_dense = PackedBatch(dense, INDICES)
    batch_sparse = PackedBatch(sparse, INDICES)
    assert sp.issparse(batch_sparse.X)
    _, Z, grad, _ = _run(net, flat, batch_dense, Workspace(np.float64),
                         objective)
    _, Z_sp, grad_sp, _ = _run(net, flat, batch_sparse, Workspace(np.float64),
                               objective)
    assert_allclose(Z_sp, Z, **ROUND_OFF)
    assert not np.isnan(grad_sp).any()
    assert_allclose(grad_sp, grad, **ROUND_OFF)


@pytest.mark.parametrize(("cell", "n_layers", "bidirectional", "head"), DEEP,
                         ids=DEEP_IDS)
def test_float32_agrees_with_float64(rng, cell, n_layers, bidirectional, head):
    net, flat, seqs, batch, objective, ws = _linear_problem(
        rng, cell, n_layers, bidirectional, head)
    seqs32 = Sequences(seqs.data.astype(np.float32), seqs.offsets)
    _, Z, grad, dX = _run(net, flat, batch, ws, objective, input_grad=True)
    _, Z32, grad32, dX32 = _run(net, flat.astype(np.float32),
                                PackedBatch(seqs32, INDICES),
                                Workspace(np.float32), objective,
                                input_grad=True)
    assert Z32.dtype == grad32.dtype == dX32.dtype == np.float32
    for got, want in ((Z32, Z), (grad32, grad), (dX32, dX)):
        scale = float(np.abs(want).max())
        assert_allclose(got, want, rtol=1e-4, atol=1e-5 * scale)


@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "sparse"])
@pytest.mark.parametrize(("cell", "n_layers", "bidirectional", "head"), DEEP,
                         ids=DEEP_IDS)
def test_workspace_reuse_leaves_no_stale_state(rng, cell, n_layers,
                                               bidirectional, head, sparse):
    net = _network(cell, n_layers, bidirectional, head)
    flat = _params(net, rng)
    small = _container(rng, [2, 4, 1])
    large = _container(rng, [5, 3, 6, 6, 2, 1, 4])
    if sparse:
        small, large = _sparse_copy(small, rng)[1], _sparse_copy(large, rng)[1]
    objectives = {"small": _Linear(net, small, rng),
                  "large": _Linear(net, large, rng)}
    batches = {"small": PackedBatch(small, [2, 0, 1]),
               "large": PackedBatch(large, [6, 1, 0, 3, 5, 2, 4])}
    fresh = {key: _run(net, flat, batch, Workspace(np.float64),
                       objectives[key], input_grad=not sparse)
             for key, batch in batches.items()}
    ws = Workspace(np.float64)
    # Grow, shrink, grow again; each result must equal a fresh work space's.
    for key in ["small", "large", "small", "large", "small"]:
        _, Z, grad, dX = _run(net, flat, batches[key], ws, objectives[key],
                              input_grad=not sparse)
        assert_allclose(Z, fresh[key][1], rtol=1e-13, atol=1e-15)
        assert_allclose(grad, fresh[key][2], rtol=1e-13, atol=1e-15)
        if not sparse:
            assert_allclose(dX, fresh[key][3], rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("cell", ["lstm", "rnn-tanh"])
def test_sparse_input_gradient_is_refused(rng, cell):
    # The first layer of sparse input never forms dX, so asking for the input
    # gradient must fail loudly rather than return an unwritten buffer.
    net = _network(cell, 2, True, "per-step")
    flat = _params(net, rng)
    dense, sparse = _sparse_copy(_container(rng), rng)
    objective = _Linear(net, dense, rng)
    with pytest.raises(ValueError, match="input_grad=True needs dense input"):
        _run(net, flat, PackedBatch(sparse, INDICES), Workspace(np.float64),
             objective, input_grad=True)


def test_read_only_parameters_and_input(rng):
    # Fitted weights may come back as read-only memmaps after joblib.load.
    net, flat, seqs, batch, objective, ws = _linear_problem(
        rng, "gru", 2, True, "many-to-one")
    _, Z, grad, _ = _run(net, flat, batch, ws, objective)
    flat_ro = flat.copy()
    flat_ro.setflags(write=False)
    data_ro = seqs.data.copy()
    data_ro.setflags(write=False)
    batch = PackedBatch(Sequences(data_ro, seqs.offsets), INDICES)
    _, Z_ro, grad_ro, _ = _run(net, flat_ro, batch, Workspace(np.float64),
                               objective)
    assert_array_equal(Z_ro, Z)
    assert_array_equal(grad_ro, grad)


def test_workspace_buffers_are_reused():
    ws = Workspace(np.float64)
    a = ws.get("k", (4, 3))
    b = ws.get("k", (2, 5))
    assert np.shares_memory(a, b)
    assert b.flags.c_contiguous and b.shape == (2, 5)
    c = ws.zeros("k", (3, 3))
    assert_array_equal(c, 0.0)
    big = ws.get("k", (10, 10))
    assert big.shape == (10, 10) and not np.shares_memory(big, a)
    assert ws.get("other", (0, 3)).shape == (0, 3)


@pytest.mark.parametrize("chunk_bytes", [1, None], ids=["one-step-chunks",
                                                        "default-chunks"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize(("cell", "n_layers", "bidirectional", "head"), GRID,
                         ids=GRID_IDS)
def test_predict_gives_the_outputs_of_forward(rng, monkeypatch, cell, n_layers,
                                              bidirectional, head, dtype,
                                              chunk_bytes):
    # predict keeps no trace and projects the input one chunk at a time; its
    # outputs are those of the training forward, exactly in float64.
    if chunk_bytes is not None:
        monkeypatch.setattr(network_module, "_INFER_CHUNK_BYTES", chunk_bytes)
    net = _network(cell, n_layers, bidirectional, head)
    flat = _params(net, rng, dtype)
    seqs = _container(rng, dtype=dtype)
    batch = PackedBatch(seqs, INDICES)
    want = net.forward(net.views(flat), batch, Workspace(dtype))
    ws = Workspace(dtype)
    for _ in range(2):  # a reused work space gives the same again
        got = net.predict(net.views(flat), batch, ws)
        assert got.shape == want.shape and got.dtype == dtype
        if dtype == np.float64:
            # Chunks change the shape of the input products, which some BLAS
            # builds round differently (by an ulp).
            assert_allclose(got, want, rtol=1e-14, atol=1e-15)
        else:
            assert_allclose(got, want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(("cell", "n_layers", "bidirectional", "head"),
                         DEEP + [("gru", 1, False, "many-to-one")],
                         ids=DEEP_IDS + ["gru-1L-uni-many-to-one"])
def test_predict_on_sparse_input_matches_dense(rng, cell, n_layers,
                                               bidirectional, head):
    net = _network(cell, n_layers, bidirectional, head)
    flat = net.views(_params(net, rng))
    dense, sparse = _sparse_copy(_container(rng), rng)
    Z = net.predict(flat, PackedBatch(dense, INDICES), Workspace(np.float64))
    Z_sp = net.predict(flat, PackedBatch(sparse, INDICES),
                       Workspace(np.float64))
    assert_allclose(Z_sp, Z, **ROUND_OFF)


# --------------------------------------------------------------------------
# Initial and final states
# --------------------------------------------------------------------------


def _random_state(net, n_sequences, rng, dtype=np.float64):
    state = net.zero_state(n_sequences, dtype)
    for row in state:
        for direction in row:
            for value in direction.values():
                value[...] = rng.uniform(-0.8, 0.8, value.shape)
    return state


def _state_dot(state, weights):
    return sum(float(np.sum(d[kind] * w[kind]))
               for row, w_row in zip(state, weights)
               for d, w in zip(row, w_row) for kind in d)


@pytest.mark.parametrize(("cell", "n_layers", "bidirectional", "head"), GRID,
                         ids=GRID_IDS)
def test_initial_state_gradients_match_finite_differences(rng, cell, n_layers,
                                                          bidirectional, head):
    # loss = sum(R * Z) + sum(R_n * final states): the gradient with respect to
    # every initial state, and to a sample of the parameters, with states in.
    net = _network(cell, n_layers, bidirectional, head)
    seqs = _container(rng)
    batch = PackedBatch(seqs, INDICES)
    flat = _params(net, rng)
    views = net.views(flat)
    ws = Workspace(np.float64)
    h0 = _random_state(net, batch.n_sequences, rng)
    R_n = _random_state(net, batch.n_sequences, rng)
    objective = _Linear(net, seqs, rng)

    def evaluate():
        Z, final = net.forward(views, batch, ws, initial_state=h0,
                               return_state=True)
        pattern = _relu_pattern(ws) if net.relu else None
        return objective(Z, batch)[0] + _state_dot(final, R_n), pattern

    Z = net.forward(views, batch, ws, initial_state=h0)
    grad = np.full(net.n_params, np.nan)
    _, d_h0 = net.backward(views, net.views(grad), batch, objective(Z, batch)[1],
                           ws, d_final_state=R_n, return_state_grad=True)
    assert not np.isnan(grad).any()

    def fd_of(arr, indices):
        return _central_differences(evaluate, arr, indices)

    for layer, row in enumerate(h0):
        for direction, state in enumerate(row):
            for kind, value in state.items():
                indices = list(np.ndindex(value.shape))
                got = d_h0[layer][direction][kind]
                assert got.shape == value.shape
                _assert_matches_fd(np.array([got[i] for i in indices]),
                                   fd_of(value, indices))
    sample = [(int(i),) for i in rng.choice(net.n_params, 40, replace=False)]
    _assert_matches_fd(grad[[i for (i,) in sample]], fd_of(flat, sample))


def _chunks(seqs, cut):
    """The first ``cut`` steps of every sequence, and the rest of the longer ones."""
    first = [seqs[i][:cut] for i in range(seqs.n_sequences)]
    longer = [i for i in range(seqs.n_sequences) if seqs.lengths[i] > cut]
    rest = [seqs[i][cut:] for i in longer]
    return (Sequences.from_lengths(np.vstack(first), [len(x) for x in first]),
            Sequences.from_lengths(np.vstack(rest), [len(x) for x in rest]),
            np.array(longer))


def _step_rows(seqs, chunk, members, cut):
    """Container rows of ``seqs`` that the container rows of a chunk hold."""
    rows = []
    for j, i in enumerate(members):
        start = seqs.offsets[i] + cut
        rows.extend(range(start, start + chunk.lengths[j]))
    return np.array(rows)


def _by_sequence(state, batch, n):
    """A state's rows indexed by sequence of the container instead of packed order."""
    out = []
    for row in state:
        out.append([])
        for d in row:
            full = {}
            for kind, value in d.items():
                full[kind] = np.zeros((n,) + value.shape[1:], dtype=value.dtype)
                full[kind][batch.order] = value
            out[-1].append(full)
    return out


def _select(state, members, batch):
    """Rows of a by-sequence state for a chunk's members, in its packed order."""
    return [[{kind: np.ascontiguousarray(v[members][batch.order])
              for kind, v in d.items()} for d in row] for row in state]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("head", HEADS)
@pytest.mark.parametrize("n_layers", [1, 2])
@pytest.mark.parametrize("cell", ref.CELLS)
def test_chunked_run_equals_whole_run(rng, cell, n_layers, head, dtype):
    # A unidirectional network run over every sequence's first steps, then
    # over the rest from the states it ended in, gives the whole run's outputs;
    # the backward passes, the second handing its initial-state gradient to
    # the first as its final-state gradient, give the whole run's gradient.
    tol = ({"rtol": 1e-12, "atol": 1e-13} if dtype == np.float64
           else {"rtol": 2e-5, "atol": 2e-6})
    net = _network(cell, n_layers, False, head)
    seqs = _container(rng, [7, 3, 6, 1, 5], dtype=dtype)
    n = seqs.n_sequences
    flat = _params(net, rng, dtype)
    views = net.views(flat)
    per_step = head == "per-step"
    R = rng.normal(size=(seqs.n_steps if per_step else n, 2)).astype(dtype)

    whole = PackedBatch(seqs, np.arange(n))
    ws = Workspace(dtype)
    Z_whole = net.forward(views, whole, ws)
    grad_whole = np.zeros(net.n_params, dtype=dtype)
    net.backward(views, net.views(grad_whole), whole, R[_rows(whole, per_step)], ws)
    by_row = np.empty_like(Z_whole)
    by_row[_rows(whole, per_step)] = Z_whole  # container order

    for cut in (1, 3):
        first, rest, members = _chunks(seqs, cut)
        b1, b2 = PackedBatch(first, np.arange(n)), PackedBatch(rest,
                                                              np.arange(len(members)))
        ws1, ws2 = Workspace(dtype), Workspace(dtype)
        Z1, s1 = net.forward(views, b1, ws1, return_state=True)
        s1 = _by_sequence(s1, b1, n)
        Z2 = net.forward(views, b2, ws2, initial_state=_select(s1, members, b2))
        # predict, which keeps no trace, continues the same way
        P1, p1 = net.predict(views, b1, Workspace(dtype), return_state=True)
        P2 = net.predict(views, b2, Workspace(dtype),
                         initial_state=_select(_by_sequence(p1, b1, n), members, b2))
        if per_step:
            rows1 = _step_rows(seqs, first, np.arange(n), 0)[b1.gather]
            rows2 = _step_rows(seqs, rest, members, cut)[b2.gather]
            dZ1, dZ2 = R[rows1], R[rows2]
            assert_allclose(Z1, by_row[rows1], **tol)
            assert_allclose(Z2, by_row[rows2], **tol)
            assert_allclose(P2, by_row[rows2], **tol)
        else:
            ended = np.isin(b1.order, members, invert=True)
            dZ1 = np.where(ended[:, None], R[b1.order], 0).astype(dtype)
            dZ2 = R[members[b2.order]]
            assert_allclose(Z1[ended], by_row[b1.order[ended]], **tol)
            assert_allclose(P1[ended], by_row[b1.order[ended]], **tol)
            assert_allclose(Z2, by_row[members[b2.order]], **tol)
            assert_allclose(P2, by_row[members[b2.order]], **tol)
        g2 = np.zeros(net.n_params, dtype=dtype)
        _, d2 = net.backward(views, net.views(g2), b2, dZ2, ws2,
                             return_state_grad=True)
        # by member index -> by sequence of the whole container
        d_final = [[{kind: _scatter(v, members, n) for kind, v in d.items()}
                    for d in row] for row in _by_sequence(d2, b2, len(members))]
        g1 = np.zeros(net.n_params, dtype=dtype)
        net.backward(views, net.views(g1), b1, dZ1, ws1,
                     d_final_state=_select(d_final, np.arange(n), b1))
        assert_allclose(g1 + g2, grad_whole, **tol)


def _scatter(values, members, n):
    out = np.zeros((n,) + values.shape[1:], dtype=values.dtype)
    out[members] = values
    return out


def test_states_of_the_wrong_form_are_refused(rng):
    net = _network("lstm", 2, True, "per-step")
    batch = PackedBatch(_container(rng), INDICES)
    views = net.views(_params(net, rng))
    state = net.zero_state(batch.n_sequences, np.float64)
    with pytest.raises(ValueError, match="has 1 layers"):
        net.forward(views, batch, Workspace(np.float64), initial_state=state[:1])
    bad = net.zero_state(batch.n_sequences, np.float64)
    del bad[1][0]["c"]
    with pytest.raises(ValueError, match=r"layer 1, direction 0 has \['h'\]"):
        net.predict(views, batch, Workspace(np.float64), initial_state=bad)
    bad = net.zero_state(batch.n_sequences - 1, np.float64)
    with pytest.raises(ValueError, match=r"initial_state\[0\]\[0\]\['h'\] has "
                       r"shape \(4, 4\); it needs \(5, 4\)"):
        net.forward(views, batch, Workspace(np.float64), initial_state=bad)


# Initialisation
# --------------------------------------------------------------------------

INIT_GRID = list(itertools.product(["rnn", "lstm", "gru"], [1, 2],
                                   [False, True]))
INIT_IDS = [f"{cell}-{layers}L-{'bi' if bi else 'uni'}"
            for cell, layers, bi in INIT_GRID]
INIT_HIDDEN = {1: (8,), 2: (8, 6)}
N_GATES_OF = {"rnn": 1, "lstm": 4, "gru": 3}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(("cell", "n_layers", "bidirectional"), INIT_GRID,
                         ids=INIT_IDS)
def test_init_params(rng, cell, n_layers, bidirectional, dtype):
    """Glorot-uniform input weights and head (bound sqrt(6 / (fan_in +
    fan_out)), fan_out being the layer's units), one random orthogonal
    recurrent block per gate, the LSTM forget-gate bias one and every other
    bias zero."""
    hidden_sizes = INIT_HIDDEN[n_layers]
    net = RecurrentNetwork(cell=cell, activation="tanh", n_features=5,
                           hidden_layer_sizes=hidden_sizes,
                           bidirectional=bidirectional, n_outputs=3,
                           per_step=False)
    flat = net.init_params(np.random.RandomState(rng.integers(2**31)), dtype)
    assert flat.dtype == dtype and flat.shape == (net.n_params,)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    params = net.views(flat)
    scaled = []  # every Glorot weight over its bound: uniform on (-1, 1)

    def check_glorot(W, fan_in, fan_out):
        bound = np.sqrt(6.0 / (fan_in + fan_out))
        assert np.all(np.abs(W) <= bound * (1 + tol))
        # Not a narrower law: some entries come close to the bound.
        assert np.max(np.abs(W)) > 0.5 * bound
        scaled.append((W / bound).ravel())

    n_in = 5
    n_gates = N_GATES_OF[cell]
    for layer, hidden in enumerate(hidden_sizes):
        blocks = []
        for p in params.layers[layer]:
            assert p["W_ih"].shape == (n_in, n_gates * hidden)
            check_glorot(p["W_ih"], n_in, hidden)
            for gate in range(n_gates):
                Q = p["W_hh"][:, gate * hidden:(gate + 1) * hidden]
                assert_allclose(Q.T @ Q, np.eye(hidden), rtol=0, atol=tol)
                assert_allclose(Q @ Q.T, np.eye(hidden), rtol=0, atol=tol)
                blocks.append(Q)
            expected_b = np.zeros(n_gates * hidden)
            if cell == "lstm":  # gates i, f, g, o
                expected_b[hidden:2 * hidden] = 1.0
            assert_array_equal(p["b"], expected_b)
            if cell == "gru":
                assert_array_equal(p["b_hn"], np.zeros(hidden))
            else:
                assert "b_hn" not in p
        # Each gate and direction draws its own orthogonal block.
        for a, b in itertools.combinations(blocks, 2):
            assert not np.allclose(a, b)
        n_in = hidden * (2 if bidirectional else 1)
    check_glorot(params.W_out, n_in, 3)
    assert_array_equal(params.b_out, np.zeros(3))
    # Together the scaled weights are uniform on (-1, 1). Every bound below
    # fails by chance with probability under 1e-6 (five standard errors for
    # the moments; (1 - 15 / n) ** n < e ** -15 for the extremes).
    scaled = np.concatenate(scaled)
    n = scaled.shape[0]
    assert scaled.min() < -1 + 30 / n and scaled.max() > 1 - 30 / n
    assert abs(np.mean(scaled ** 2) - 1 / 3) < 5 * np.sqrt(4 / 45 / n)
    assert abs(np.mean(scaled)) < 5 * np.sqrt(1 / 3 / n)


# --------------------------------------------------------------------------
# Recurrent dropout
# --------------------------------------------------------------------------


@pytest.mark.parametrize(("cell", "n_layers", "bidirectional", "head"), GRID,
                         ids=GRID_IDS)
def test_recurrent_mask_matches_reference_and_finite_differences(
        rng, cell, n_layers, bidirectional, head):
    # A fixed mask per sequence, layer and direction on h_{t-1} in the
    # recurrent product: outputs and gradient against the NumPy reference,
    # and the gradient against central differences.
    net, flat, seqs, batch, objective, ws = _linear_problem(
        rng, cell, n_layers, bidirectional, head)
    views = net.views(flat)
    masks = net.recurrent_masks(rng, batch.n_sequences, 0.4, np.float64)
    assert any(np.any(m == 0) for row in masks for m in row)

    Z = net.forward(views, batch, ws, recurrent_mask=masks)
    grad = np.full(net.n_params, np.nan)
    net.backward(views, net.views(grad), batch, objective(Z, batch)[1], ws)
    assert not np.isnan(grad).any()

    position = {int(i): j for j, i in enumerate(batch.order)}

    def masks_of(i):
        return [[m[position[i]] for m in row] for row in masks]

    Z_expected, grad_ref, _ = _reference_of_batch(
        cell, net, flat, seqs, INDICES, batch, objective, masks_of)
    assert_allclose(Z, Z_expected, **ROUND_OFF)
    assert_allclose(grad, grad_ref, **ROUND_OFF)

    def evaluate():
        Z = net.forward(views, batch, ws, recurrent_mask=masks)
        return objective(Z, batch)[0], (_relu_pattern(ws) if net.relu else None)

    sample = [(int(i),) for i in rng.choice(net.n_params, 40, replace=False)]
    _assert_matches_fd(grad[[i for (i,) in sample]],
                       _central_differences(evaluate, flat, sample))


def test_recurrent_masks_are_inverted_dropout(rng):
    net = _network("lstm", 2, True, "per-step")
    masks = net.recurrent_masks(np.random.RandomState(0), 2000, 0.25, np.float32)
    assert [len(row) for row in masks] == [2, 2]
    for row, hidden in zip(masks, HIDDEN[2]):
        for m in row:
            assert m.shape == (2000, hidden) and m.dtype == np.float32
            assert set(np.unique(m)) <= {0.0, np.float32(1 / 0.75)}
            assert abs(m.mean() - 1.0) < 0.03


def test_recurrent_mask_of_the_wrong_shape_is_refused(rng):
    net = _network("gru", 1, False, "per-step")
    batch = PackedBatch(_container(rng), INDICES)
    with pytest.raises(ValueError, match="recurrent_mask"):
        net.forward(net.views(_params(net, rng)), batch, Workspace(np.float64),
                    recurrent_mask=[[np.ones((2, 4))]])


def test_workspace_views_are_made_once_per_array(rng):
    net = _network("lstm", 1, False, "last")
    other = _network("lstm", 1, False, "last")
    ws = Workspace(np.float64)
    flat = _params(net, rng)
    views = ws.views(net, flat)
    assert ws.views(net, flat) is views
    # Views, not copies: in-place updates of the vector show through.
    flat += 1
    assert_array_equal(views.W_out, net.views(flat).W_out)
    assert ws.views(other, flat) is not views
    copy = flat.copy()
    assert np.shares_memory(ws.views(net, copy).W_out, copy)
    # Callers passing a new array each time keep only a few alive.
    for _ in range(20):
        ws.views(net, flat.copy())
    assert len(ws._views) <= 8
