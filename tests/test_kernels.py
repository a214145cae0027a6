"""Packed RNN/LSTM/GRU kernels against the NumPy reference and finite differences."""

import itertools

import _reference as ref
import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from skrnn._kernels._blas import gemm_into

from skrnn._kernels import _recurrent

DTYPES = [np.float64, np.float32]
# float64 must agree to round-off; float32 is compared with the float64 reference
# evaluated on the same (float32-representable) inputs.
TOL = {
    np.float64: {"rtol": 1e-11, "atol": 1e-13},
    np.float32: {"rtol": 1e-4, "atol": 1e-5},
}
# Two runs of the kernels that should differ at most by BLAS blocking.
SAME = {
    np.float64: {"rtol": 1e-13, "atol": 1e-15},
    np.float32: {"rtol": 1e-6, "atol": 1e-7},
}
N_INPUTS, N_HIDDEN = 3, 4
LENGTH_CASES = {
    "ragged": [7, 5, 5, 2, 1],
    "unsorted": [2, 7, 1, 5, 5],
    "single": [6],
    "single-step": [1, 1, 1],
    "one-step-one-sequence": [1],
}
PARAM_NAMES = {
    "rnn-tanh": ("W_ih", "W_hh", "b"),
    "rnn-relu": ("W_ih", "W_hh", "b"),
    "lstm": ("W_ih", "W_hh", "b"),
    "gru": ("W_ih", "W_hh", "b", "b_hn"),
}
SENTINEL = 12345.0


# --------------------------------------------------------------------------
# Calling the kernels
# --------------------------------------------------------------------------


def _gate_buffer(cell):
    """Name of the buffer that holds the pre-activations during the forward pass."""
    return "H" if cell.startswith("rnn") else "G"


def _forward(cell, X, params, batch_sizes, n_hidden=N_HIDDEN, projection=None):
    """Run the forward kernel on fresh NaN-filled buffers; returns them by name.

    With ``projection`` given, it is copied into the pre-activation buffer and
    the kernel runs with ``project=False`` and empty X, W_ih and b, which it
    must not read.
    """
    dtype = X.dtype
    N = X.shape[0]
    gh = ref.N_GATES[cell] * n_hidden
    out = {"H": np.full((N, n_hidden), np.nan, dtype=dtype)}
    if cell == "lstm":
        out["G"] = np.full((N, gh), np.nan, dtype=dtype)
        out["C"] = np.full((N, n_hidden), np.nan, dtype=dtype)
    elif cell == "gru":
        out["G"] = np.full((N, gh), np.nan, dtype=dtype)
        out["Hn"] = np.full((N, n_hidden), np.nan, dtype=dtype)
    W_ih, b = params["W_ih"], params["b"]
    project = projection is None
    if not project:
        out[_gate_buffer(cell)][...] = projection
        X = np.empty((0, 0), dtype=dtype)
        W_ih = np.empty((0, 0), dtype=dtype)
        b = np.empty(0, dtype=dtype)
    W_hh = params["W_hh"]
    if cell in ("rnn-tanh", "rnn-relu"):
        _recurrent.rnn_forward(X, W_ih, W_hh, b, batch_sizes, out["H"],
                               cell == "rnn-relu", project)
    elif cell == "lstm":
        _recurrent.lstm_forward(X, W_ih, W_hh, b, batch_sizes, out["G"],
                                out["C"], out["H"], project)
    else:
        _recurrent.gru_forward(X, W_ih, W_hh, b, params["b_hn"], batch_sizes,
                               out["G"], out["Hn"], out["H"], project)
    return out


def _grad_buffers(cell, X, params, batch_sizes, fill=np.nan, need_dx=True):
    """Output and work buffers of a backward call, filled with ``fill``."""
    dtype = X.dtype
    N, n_inputs = X.shape
    n_hidden = params["W_hh"].shape[0]
    gh = params["W_hh"].shape[1]
    B = int(batch_sizes[0])

    def full(shape):
        return np.full(shape, fill, dtype=dtype)

    bufs = {
        "Hprev": full((N, n_hidden)),
        "X": full((N, n_inputs)) if need_dx else np.empty((0, 0), dtype=dtype),
        "W_ih": full((n_inputs, gh)),
        "W_hh": full((n_hidden, gh)),
        "b": full(gh),
    }
    if cell == "gru":
        bufs.update(dGx=full((N, gh)), dGh=full((N, gh)), carry=full((B, n_hidden)),
                    b_hn=full(n_hidden))
    elif cell == "lstm":
        bufs.update(dA=full((N, gh)), carry=full((B, n_hidden)),
                    carry_c=full((B, n_hidden)))
    else:
        bufs.update(dA=full((N, gh)), carry=full((B, n_hidden)))
    return bufs


def _backward(cell, X, params, batch_sizes, fwd, dH, input_grads=True,
              need_dx=True, bufs=None):
    """Run the backward kernel; returns its buffers (gradients under param names)."""
    if bufs is None:
        bufs = _grad_buffers(cell, X, params, batch_sizes, need_dx=need_dx)
    W_ih, W_hh = params["W_ih"], params["W_hh"]
    if cell in ("rnn-tanh", "rnn-relu"):
        _recurrent.rnn_backward(
            X, W_ih, W_hh, batch_sizes, fwd["H"], dH, bufs["dA"], bufs["Hprev"],
            bufs["carry"], bufs["X"], bufs["W_ih"], bufs["W_hh"], bufs["b"],
            cell == "rnn-relu", input_grads, need_dx,
        )
    elif cell == "lstm":
        _recurrent.lstm_backward(
            X, W_ih, W_hh, batch_sizes, fwd["G"], fwd["C"], fwd["H"], dH,
            bufs["dA"], bufs["Hprev"], bufs["carry"], bufs["carry_c"], bufs["X"],
            bufs["W_ih"], bufs["W_hh"], bufs["b"], input_grads, need_dx,
        )
    else:
        _recurrent.gru_backward(
            X, W_ih, W_hh, batch_sizes, fwd["G"], fwd["Hn"], fwd["H"], dH,
            bufs["dGx"], bufs["dGh"], bufs["Hprev"], bufs["carry"], bufs["X"],
            bufs["W_ih"], bufs["W_hh"], bufs["b"], bufs["b_hn"], input_grads,
            need_dx,
        )
    return bufs


def _gate_grads(cell):
    """Names of the pre-activation gradient buffers the backward pass fills."""
    return ("dGx", "dGh") if cell == "gru" else ("dA",)


def _problem(rng, cell, lengths, dtype, n_inputs=N_INPUTS, n_hidden=N_HIDDEN):
    """Random sequences, upstream gradients and parameters of one dtype."""
    seqs = [rng.standard_normal((T, n_inputs)).astype(dtype) for T in lengths]
    dHs = [rng.standard_normal((T, n_hidden)).astype(dtype) for T in lengths]
    params = ref.init_params(cell, n_inputs, n_hidden, rng, dtype=dtype)
    return seqs, dHs, params


def _reference_stored(cell, states):
    """What the forward kernel stores, as the reference computed it (per sequence)."""
    stored = {"H": states["h"]}
    if cell == "lstm":
        stored["G"] = np.hstack([states[k] for k in "ifgo"])
        stored["C"] = states["c"]
    elif cell == "gru":
        stored["G"] = np.hstack([states["r"], states["z"], states["n"]])
        stored["Hn"] = states["hn"]
    return stored


# --------------------------------------------------------------------------
# The packing helpers of the reference themselves
# --------------------------------------------------------------------------


def test_reference_pack_layout():
    seqs = [np.full((T, 1), 10.0 * k) + np.arange(T)[:, None]
            for k, T in enumerate([2, 3, 1, 3])]
    P, batch_sizes, order = ref.pack(seqs)
    assert batch_sizes.dtype == np.intp
    assert_array_equal(batch_sizes, [4, 3, 2])
    assert_array_equal(order, [1, 3, 0, 2])
    assert_array_equal(P[:, 0], [10, 30, 0, 20, 11, 31, 1, 12, 32])
    for got, want in zip(ref.unpack(P, batch_sizes, order), seqs):
        assert_array_equal(got, want)


# --------------------------------------------------------------------------
# Kernels against the reference
# --------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("lengths", LENGTH_CASES.values(), ids=LENGTH_CASES.keys())
@pytest.mark.parametrize("cell", ref.CELLS)
def test_kernels_match_reference(rng, cell, lengths, dtype):
    seqs, dHs, params = _problem(rng, cell, lengths, dtype)
    X, batch_sizes, order = ref.pack(seqs)
    dH, _, _ = ref.pack(dHs)
    assert X.dtype == dtype and dH.dtype == dtype

    fwd = _forward(cell, X, params, batch_sizes)
    grads = _backward(cell, X, params, batch_sizes, fwd, dH)

    unpacked = {name: ref.unpack(buf, batch_sizes, order) for name, buf in fwd.items()}
    dX_seqs = ref.unpack(grads["X"], batch_sizes, order)
    summed = {name: 0.0 for name in PARAM_NAMES[cell]}
    tol = TOL[dtype]
    for k, (x, dh) in enumerate(zip(seqs, dHs)):
        states = ref.forward(cell, x, params)
        for name, want in _reference_stored(cell, states).items():
            assert_allclose(unpacked[name][k], want, **tol, err_msg=name)
        seq_grads = ref.backward(cell, x, params, states, dh)
        assert_allclose(dX_seqs[k], seq_grads["X"], **tol)
        for name in summed:
            summed[name] = summed[name] + seq_grads[name]
    for name, want in summed.items():
        assert grads[name].dtype == dtype
        assert_allclose(grads[name], want, **tol, err_msg=name)
    if len(batch_sizes) == 1:
        # No step has a predecessor: the recurrent weights get no gradient.
        assert_array_equal(grads["W_hh"], 0)


# --------------------------------------------------------------------------
# Flags: project, input_grads, need_dx
# --------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("cell", ref.CELLS)
def test_forward_without_projection(rng, cell, dtype):
    seqs, _, params = _problem(rng, cell, LENGTH_CASES["ragged"], dtype)
    X, batch_sizes, _ = ref.pack(seqs)
    full = _forward(cell, X, params, batch_sizes)

    # The projection formed exactly as the kernel does: b, then += X @ W_ih.
    projection = np.empty((X.shape[0], params["b"].shape[0]), dtype=dtype)
    projection[...] = params["b"]
    gemm_into(X, params["W_ih"], projection, beta=1.0)
    given = _forward(cell, X, params, batch_sizes, projection=projection)

    for name in full:
        assert_array_equal(given[name], full[name], err_msg=name)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("cell", ref.CELLS)
def test_backward_without_input_grads(rng, cell, dtype):
    seqs, dHs, params = _problem(rng, cell, LENGTH_CASES["ragged"], dtype)
    X, batch_sizes, _ = ref.pack(seqs)
    dH, _, _ = ref.pack(dHs)
    fwd = _forward(cell, X, params, batch_sizes)
    full = _backward(cell, X, params, batch_sizes, fwd, dH)

    bufs = _grad_buffers(cell, X, params, batch_sizes, fill=SENTINEL)
    part = _backward(cell, X, params, batch_sizes, fwd, dH, input_grads=False,
                     bufs=bufs)
    for name in ("X", "W_ih", "b"):
        assert np.all(part[name] == SENTINEL), name
    for name in (*_gate_grads(cell), "W_hh", *(("b_hn",) if cell == "gru" else ())):
        assert_array_equal(part[name], full[name], err_msg=name)

    # What the caller does with the gate gradients gives the full call's answer.
    dA = part["dGx" if cell == "gru" else "dA"]
    assert_allclose(X.T @ dA, full["W_ih"], **SAME[dtype])
    assert_allclose(dA.sum(axis=0), full["b"], **SAME[dtype])
    assert_allclose(dA @ params["W_ih"].T, full["X"], **SAME[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("cell", ref.CELLS)
def test_backward_without_input_grads_reads_no_input(rng, cell, dtype):
    # With input_grads=False neither X nor W_ih nor the input-side outputs are
    # touched, so empty arrays may stand in for them (the sparse first layer).
    seqs, dHs, params = _problem(rng, cell, LENGTH_CASES["ragged"], dtype)
    X, batch_sizes, _ = ref.pack(seqs)
    dH, _, _ = ref.pack(dHs)
    fwd = _forward(cell, X, params, batch_sizes)
    full = _backward(cell, X, params, batch_sizes, fwd, dH)

    empty2 = np.empty((0, 0), dtype=dtype)
    bufs = _grad_buffers(cell, X, params, batch_sizes)
    bufs.update(X=empty2, W_ih=empty2, b=np.empty(0, dtype=dtype))
    no_input = dict(params, W_ih=empty2)
    part = _backward(cell, empty2, no_input, batch_sizes, fwd, dH,
                     input_grads=False, bufs=bufs)
    for name in (*_gate_grads(cell), "W_hh"):
        assert_array_equal(part[name], full[name], err_msg=name)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("cell", ref.CELLS)
def test_backward_without_dx(rng, cell, dtype):
    seqs, dHs, params = _problem(rng, cell, LENGTH_CASES["ragged"], dtype)
    X, batch_sizes, _ = ref.pack(seqs)
    dH, _, _ = ref.pack(dHs)
    fwd = _forward(cell, X, params, batch_sizes)
    full = _backward(cell, X, params, batch_sizes, fwd, dH)

    # A full-size dX is left untouched ...
    bufs = _grad_buffers(cell, X, params, batch_sizes)
    bufs["X"][...] = SENTINEL
    part = _backward(cell, X, params, batch_sizes, fwd, dH, need_dx=False,
                     bufs=bufs)
    assert np.all(part["X"] == SENTINEL)
    # ... and an empty one is accepted; everything else is as in the full call.
    empty = _backward(cell, X, params, batch_sizes, fwd, dH, need_dx=False)
    assert empty["X"].shape == (0, 0)
    for out in (part, empty):
        for name, buf in full.items():
            if name not in ("X", "Hprev", "carry", "carry_c"):
                assert_array_equal(out[name], buf, err_msg=name)


# --------------------------------------------------------------------------
# Finite differences
# --------------------------------------------------------------------------


def _numerical_grad(loss, arr, eps=1e-6):
    """Central differences of loss() with respect to every entry of arr, in place."""
    grad = np.empty(arr.shape)
    for idx in np.ndindex(arr.shape):
        orig = arr[idx]
        arr[idx] = orig + eps
        up = loss()
        arr[idx] = orig - eps
        down = loss()
        arr[idx] = orig
        grad[idx] = (up - down) / (2 * eps)
    return grad


@pytest.mark.parametrize("cell", ref.CELLS)
def test_gradients_match_finite_differences(rng, cell):
    seqs, _, params = _problem(rng, cell, LENGTH_CASES["ragged"], np.float64)
    X, batch_sizes, _ = ref.pack(seqs)
    R = rng.standard_normal((X.shape[0], N_HIDDEN))

    def loss():
        return float(np.sum(R * _forward(cell, X, params, batch_sizes)["H"]))

    fwd = _forward(cell, X, params, batch_sizes)
    grads = _backward(cell, X, params, batch_sizes, fwd, R)
    wrt = {name: params[name] for name in PARAM_NAMES[cell]}
    wrt["X"] = X
    for name, arr in wrt.items():
        numerical = _numerical_grad(loss, arr)
        assert np.any(numerical != 0), name
        assert_allclose(grads[name], numerical, rtol=1e-6, atol=1e-8, err_msg=name)


# --------------------------------------------------------------------------
# Packing invariance
# --------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("cell", ref.CELLS)
def test_packing_invariance(rng, cell, dtype):
    lengths = [4, 6, 4, 2, 6, 1]
    seqs, dHs, params = _problem(rng, cell, lengths, dtype)

    alone_h, alone_dx, summed = [], [], {}
    for x, dh in zip(seqs, dHs):
        bs = ref.batch_sizes_of([len(x)])
        fwd = _forward(cell, x, params, bs)
        grads = _backward(cell, x, params, bs, fwd, dh)
        alone_h.append(fwd["H"])
        alone_dx.append(grads["X"])
        for name in PARAM_NAMES[cell]:
            summed[name] = summed.get(name, 0.0) + grads[name].astype(np.float64)

    batch_grads = None
    perms = [list(p) for p in itertools.islice(itertools.permutations(range(6)), 0,
                                               720, 97)]
    perms.append(list(range(6))[::-1])
    for perm in perms:
        X, batch_sizes, order = ref.pack([seqs[k] for k in perm])
        dH, _, _ = ref.pack([dHs[k] for k in perm])
        fwd = _forward(cell, X, params, batch_sizes)
        grads = _backward(cell, X, params, batch_sizes, fwd, dH)
        H_seqs = ref.unpack(fwd["H"], batch_sizes, order)
        dX_seqs = ref.unpack(grads["X"], batch_sizes, order)
        for pos, k in enumerate(perm):
            assert_allclose(H_seqs[pos], alone_h[k], **SAME[dtype])
            assert_allclose(dX_seqs[pos], alone_dx[k], **SAME[dtype])
        # Weight gradients are sums over the sequences, equal to the sum of the
        # gradients of each sequence alone; the order of that sum changes with
        # the permutation, hence the round-off tolerance.
        if batch_grads is None:
            batch_grads = {name: grads[name].copy() for name in PARAM_NAMES[cell]}
        for name in PARAM_NAMES[cell]:
            assert_allclose(grads[name], batch_grads[name], **TOL[dtype])
            assert_allclose(grads[name], summed[name], **TOL[dtype])


# --------------------------------------------------------------------------
# Read-only inputs
# --------------------------------------------------------------------------


def _read_only(arr):
    arr = arr.copy()
    arr.flags.writeable = False
    return arr


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("cell", ref.CELLS)
def test_read_only_inputs(rng, cell, dtype):
    seqs, dHs, params = _problem(rng, cell, LENGTH_CASES["ragged"], dtype)
    X, batch_sizes, _ = ref.pack(seqs)
    dH, _, _ = ref.pack(dHs)
    fwd = _forward(cell, X, params, batch_sizes)
    grads = _backward(cell, X, params, batch_sizes, fwd, dH)

    ro_params = {name: _read_only(p) for name, p in params.items()}
    ro_X, ro_bs, ro_dH = _read_only(X), _read_only(batch_sizes), _read_only(dH)
    ro_fwd = _forward(cell, ro_X, ro_params, ro_bs)
    for name in fwd:
        assert_array_equal(ro_fwd[name], fwd[name], err_msg=name)
    # The stored forward results are inputs of the backward pass.
    ro_fwd = {name: _read_only(buf) for name, buf in ro_fwd.items()}
    ro_grads = _backward(cell, ro_X, ro_params, ro_bs, ro_fwd, ro_dH)
    for name in ("X", *PARAM_NAMES[cell]):
        assert_array_equal(ro_grads[name], grads[name], err_msg=name)


# --------------------------------------------------------------------------
# ReLU at zero
# --------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
def test_relu_zero_preactivation(rng, dtype):
    # Unit 0 has no input weight, no recurrent weight and no bias: its
    # pre-activation is exactly 0 at every step. Unit 1 has only a bias of 0
    # and input weights, and the first step of every sequence is x = 0, so its
    # pre-activation there is exactly 0 too (no recurrence at t = 0).
    cell = "rnn-relu"
    lengths = LENGTH_CASES["ragged"]
    seqs, dHs, params = _problem(rng, cell, lengths, dtype)
    for x in seqs:
        x[0] = 0
    params["W_ih"][:, 0] = 0
    params["W_hh"][:, 0] = 0
    params["b"][:2] = 0
    X, batch_sizes, order = ref.pack(seqs)
    dH, _, _ = ref.pack(dHs)
    first = slice(0, batch_sizes[0])

    fwd = _forward(cell, X, params, batch_sizes)
    grads = _backward(cell, X, params, batch_sizes, fwd, dH)
    assert np.all(dH[:, 0] != 0) and np.all(dH[first, 1] != 0)
    assert_array_equal(fwd["H"][:, 0], 0)
    assert_array_equal(fwd["H"][first, 1], 0)
    assert not np.any(np.signbit(fwd["H"]))
    # The derivative of relu at 0 is taken as 0: no gradient flows there.
    assert_array_equal(grads["dA"][:, 0], 0)
    assert_array_equal(grads["dA"][first, 1], 0)
    assert_array_equal(grads["W_ih"][:, 0], 0)
    assert_array_equal(grads["W_hh"][:, 0], 0)
    assert grads["b"][0] == 0
    # and the reference, which takes the same convention from the pre-activation,
    # agrees on everything else.
    dX_seqs = ref.unpack(grads["X"], batch_sizes, order)
    summed = {name: 0.0 for name in PARAM_NAMES[cell]}
    for k, (x, dh) in enumerate(zip(seqs, dHs)):
        states = ref.forward(cell, x, params)
        assert np.all(states["a"][0, :2] == 0)
        seq_grads = ref.backward(cell, x, params, states, dh)
        assert_allclose(dX_seqs[k], seq_grads["X"], **TOL[dtype])
        for name in summed:
            summed[name] = summed[name] + seq_grads[name]
    for name, want in summed.items():
        assert_allclose(grads[name], want, **TOL[dtype], err_msg=name)


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_pretransposed_recurrent_weights_give_the_same_gradients(rng, cell):
    # The optional W_hhT work buffer only changes how BLAS is called.
    from skrnn._network import RecurrentNetwork, Workspace
    from skrnn._packing import PackedBatch
    from skrnn._sequences import Sequences

    lengths = np.array([6, 2, 4, 4, 1])
    seqs = Sequences.from_lengths(rng.normal(size=(lengths.sum(), 3)), lengths)
    batch = PackedBatch(seqs, np.arange(5))
    net = RecurrentNetwork(cell=cell, activation="tanh", n_features=3,
                           hidden_layer_sizes=(4,), bidirectional=False,
                           n_outputs=2, per_step=True)
    params = net.views(net.init_params(np.random.RandomState(0), np.float64))
    p = params.layers[0][0]
    x, n = batch.X, batch.n_steps
    ws = Workspace(np.float64)
    bufs = net._cell_forward(p, x, batch, ws, (0, 0))
    dH = rng.normal(size=(n, 4))
    results = []
    for transposed in (False, True):
        g = net.views(np.zeros(net.n_params)).layers[0][0]
        args = dict(W_hhT=np.empty((p["W_hh"].shape[1], 4))) if transposed else {}
        carry = np.zeros((5, 4))
        dX = np.zeros((n, 3))
        if cell == "rnn":
            _recurrent.rnn_backward(x, p["W_ih"], p["W_hh"], batch.batch_sizes,
                                    bufs["H"], dH, np.empty((n, 4)),
                                    np.empty((n, 4)), carry, dX, g["W_ih"],
                                    g["W_hh"], g["b"], False, **args)
        elif cell == "lstm":
            _recurrent.lstm_backward(x, p["W_ih"], p["W_hh"], batch.batch_sizes,
                                     bufs["G"], bufs["C"], bufs["H"], dH,
                                     np.empty((n, 16)), np.empty((n, 4)), carry,
                                     np.zeros((5, 4)), dX, g["W_ih"], g["W_hh"],
                                     g["b"], **args)
        else:
            _recurrent.gru_backward(x, p["W_ih"], p["W_hh"], batch.batch_sizes,
                                    bufs["G"], bufs["Hn"], bufs["H"], dH,
                                    np.empty((n, 12)), np.empty((n, 12)),
                                    np.empty((n, 4)), carry, dX, g["W_ih"],
                                    g["W_hh"], g["b"], g["b_hn"], **args)
        results.append([dX.copy()] + [v.copy() for v in g.values()])
    for plain, pre in zip(*results):
        np.testing.assert_allclose(pre, plain, rtol=1e-12, atol=1e-14)


def test_pretransposed_weights_of_the_wrong_shape_are_refused(rng):
    X = rng.normal(size=(5, 2))
    W_hh = rng.normal(size=(3, 3))
    with pytest.raises(ValueError, match="W_hhT has shape"):
        _recurrent.rnn_backward(
            X, rng.normal(size=(2, 3)), W_hh, np.array([2, 2, 1], np.intp),
            np.zeros((5, 3)), np.zeros((5, 3)), np.empty((5, 3)),
            np.empty((5, 3)), np.zeros((2, 3)), np.zeros((5, 2)),
            np.zeros((2, 3)), np.zeros((3, 3)), np.zeros(3), False,
            W_hhT=np.empty((2, 3)))


# --------------------------------------------------------------------------
# Inference kernels (predict): states only, projection in chunks
# --------------------------------------------------------------------------


def _infer(cell, X, params, batch_sizes, keep_all, chunk_rows=None,
           projection=None, n_hidden=N_HIDDEN):
    """Run an inference kernel on NaN-filled buffers; returns H.

    ``chunk_rows`` is the height of the projection work buffer A (default:
    all N rows); with ``projection`` given, A holds it and the kernel runs
    with ``project=False`` and empty X, W_ih and b.
    """
    dtype = X.dtype
    N, B = X.shape[0], int(batch_sizes[0])
    gh = ref.N_GATES[cell] * n_hidden
    H = np.full((N if keep_all else B, n_hidden), np.nan, dtype=dtype)
    W_ih, b = params["W_ih"], params["b"]
    project = projection is None
    if project:
        A = np.full((chunk_rows or N, gh), np.nan, dtype=dtype)
    else:
        A = projection.copy()
        X = np.empty((0, 0), dtype=dtype)
        W_ih = np.empty((0, 0), dtype=dtype)
        b = np.empty(0, dtype=dtype)
    W_hh = params["W_hh"]
    if cell in ("rnn-tanh", "rnn-relu"):
        _recurrent.rnn_infer(X, W_ih, W_hh, b, batch_sizes, A, H,
                             cell == "rnn-relu", keep_all, project)
    elif cell == "lstm":
        C = np.full((B, n_hidden), np.nan, dtype=dtype)
        _recurrent.lstm_infer(X, W_ih, W_hh, b, batch_sizes, A, C, H,
                              keep_all, project)
    else:
        R = np.full((B, gh), np.nan, dtype=dtype)
        _recurrent.gru_infer(X, W_ih, W_hh, b, params["b_hn"], batch_sizes, A,
                             R, H, keep_all, project)
    return H


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("lengths", LENGTH_CASES.values(), ids=LENGTH_CASES.keys())
@pytest.mark.parametrize("cell", ref.CELLS)
def test_infer_matches_reference(rng, cell, lengths, dtype):
    seqs, _, params = _problem(rng, cell, lengths, dtype)
    X, batch_sizes, order = ref.pack(seqs)
    B = int(batch_sizes[0])
    tol = TOL[dtype]
    wanted = [ref.forward(cell, x, params)["h"] for x in seqs]
    # Chunks of one step (B rows), of a few steps, and one chunk of all.
    for chunk_rows in (B, B + 3, X.shape[0]):
        H = _infer(cell, X, params, batch_sizes, True, chunk_rows)
        for got, want in zip(ref.unpack(H, batch_sizes, order), wanted):
            assert_allclose(got, want, **tol, err_msg=f"chunk {chunk_rows}")
        final = _infer(cell, X, params, batch_sizes, False, chunk_rows)
        for j, k in enumerate(order):
            assert_allclose(final[j], wanted[k][-1], **tol,
                            err_msg=f"final state, chunk {chunk_rows}")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("cell", ref.CELLS)
def test_infer_gives_the_states_of_the_training_forward(rng, cell, dtype):
    # The same products and gate arithmetic: equal to round-off in float32
    # (the GRU's recurrent product is one GEMM here, two there) and exactly
    # in float64.
    seqs, _, params = _problem(rng, cell, [9, 6, 6, 3, 1], dtype, n_hidden=5)
    X, batch_sizes, _ = ref.pack(seqs)
    trained = _forward(cell, X, params, batch_sizes, n_hidden=5)["H"]
    for chunk_rows in (5, 11, X.shape[0]):
        H = _infer(cell, X, params, batch_sizes, True, chunk_rows, n_hidden=5)
        if dtype == np.float64:
            assert_array_equal(H, trained)
        else:
            assert_allclose(H, trained, **SAME[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("cell", ref.CELLS)
def test_infer_without_projection(rng, cell, dtype):
    seqs, _, params = _problem(rng, cell, LENGTH_CASES["ragged"], dtype)
    X, batch_sizes, _ = ref.pack(seqs)
    projection = np.empty((X.shape[0], params["b"].shape[0]), dtype=dtype)
    projection[...] = params["b"]
    gemm_into(X, params["W_ih"], projection, beta=1.0)
    for keep_all in (True, False):
        full = _infer(cell, X, params, batch_sizes, keep_all, 6)
        given = _infer(cell, X, params, batch_sizes, keep_all,
                       projection=projection)
        assert_array_equal(given, full)


@pytest.mark.parametrize("cell", ref.CELLS)
def test_infer_reads_only_read_only_inputs(rng, cell):
    seqs, _, params = _problem(rng, cell, LENGTH_CASES["ragged"], np.float64)
    X, batch_sizes, _ = ref.pack(seqs)
    want = _infer(cell, X, params, batch_sizes, True, 7)
    frozen = {k: _read_only(v) for k, v in params.items()}
    got = _infer(cell, _read_only(X), frozen, _read_only(batch_sizes), True, 7)
    assert_array_equal(got, want)


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_infer_refuses_buffers_that_do_not_fit(rng, cell):
    seqs, _, params = _problem(rng, "rnn-tanh" if cell == "rnn" else cell,
                               [4, 3, 1], np.float64)
    X, batch_sizes, _ = ref.pack(seqs)
    gh = params["W_hh"].shape[1]
    N, B, H = X.shape[0], 3, N_HIDDEN

    def run(A, H_out, state=None, X=X, b_hn=None):
        args = (X, params["W_ih"], params["W_hh"], params["b"])
        b_hn = params.get("b_hn") if b_hn is None else b_hn
        if cell == "rnn":
            _recurrent.rnn_infer(*args, batch_sizes, A, H_out, False, True)
        elif cell == "lstm":
            _recurrent.lstm_infer(*args, batch_sizes, A, state, H_out, True)
        else:
            _recurrent.gru_infer(*args, b_hn, batch_sizes, A, state, H_out,
                                 True)

    state = np.empty((B, H if cell == "lstm" else gh))
    with pytest.raises(ValueError, match="A has shape"):
        run(np.empty((B - 1, gh)), np.empty((N, H)), state)
    with pytest.raises(ValueError, match="A has shape"):
        run(np.empty((N, gh + 1)), np.empty((N, H)), state)
    with pytest.raises(ValueError, match="H has shape"):
        run(np.empty((N, gh)), np.empty((N - 1, H)), state)
    if cell != "rnn":
        with pytest.raises(ValueError, match="state buffer has 2 rows"):
            run(np.empty((N, gh)), np.empty((N, H)), state[:2])
    with pytest.raises(ValueError, match="do not fit 8 rows"):
        run(np.empty((N, gh)), np.empty((N, H)), state, X=X[:-1])
    with pytest.raises(ValueError, match="do not fit 8 rows"):
        run(np.empty((N, gh)), np.empty((N, H)), state, X=X[:, :-1].copy())
    if cell == "gru":
        with pytest.raises(ValueError, match="b_hn has 3 entries"):
            run(np.empty((N, gh)), np.empty((N, H)), state,
                b_hn=params["b_hn"][:-1].copy())
