"""The packed RNN/LSTM/GRU and packing kernels (skrnn/_kernels/_recurrent.pyx,
_pack.pyx) against the NumPy reference and finite differences, and offsets
past 2**31."""

import itertools

import _reference as ref
import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from skrnn._kernels._blas import gemm_into, packed_gemm_level

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

CODE = {"rnn-tanh": _recurrent.ELMAN, "rnn-relu": _recurrent.ELMAN,
        "lstm": _recurrent.LSTM, "gru": _recurrent.GRU}


def _forward(cell, X, params, batch_sizes, n_hidden=N_HIDDEN, projection=None,
             h0=None, c0=None, final=None, mask=None):
    """Run the forward kernel on fresh NaN-filled buffers; returns them by name.

    With ``projection`` given, it is copied into the pre-activation buffer and
    the kernel runs with ``project=False`` and empty X, W_ih and b, which it
    must not read. The final states go into the dict ``final`` if given.
    """
    dtype = X.dtype
    N, B = X.shape[0], (int(batch_sizes[0]) if len(batch_sizes) else 0)
    gh = ref.N_GATES[cell] * n_hidden
    out = {"H": np.full((N, n_hidden), np.nan, dtype=dtype)}
    kw = {}
    if cell == "lstm":
        out["C"] = kw["C"] = np.full((N, n_hidden), np.nan, dtype=dtype)
    elif cell == "gru":
        out["Hn"] = kw["Hn"] = np.full((N, n_hidden), np.nan, dtype=dtype)
        kw["R"] = np.full((B, gh), np.nan, dtype=dtype)
        kw["b_hn"] = params["b_hn"]
    # The Elman cell forms its pre-activations where its states go.
    G = out["H"] if cell.startswith("rnn") else np.full((N, gh), np.nan, dtype=dtype)
    if not cell.startswith("rnn"):
        out["G"] = G
    W_ih, b = params["W_ih"], params["b"]
    project = projection is None
    if not project:
        G[...] = projection
        X = np.empty((0, 0), dtype=dtype)
        W_ih = np.empty((0, 0), dtype=dtype)
        b = np.empty(0, dtype=dtype)
    if mask is not None:
        kw.update(mask=mask, Hm=np.full((B, n_hidden), np.nan, dtype=dtype))
    if final is not None:
        final["h"] = kw["h_n"] = np.full((B, n_hidden), np.nan, dtype=dtype)
        if cell == "lstm":
            final["c"] = kw["c_n"] = np.full((B, n_hidden), np.nan, dtype=dtype)
    _recurrent.forward(CODE[cell], cell == "rnn-relu", X, W_ih, params["W_hh"], b,
                       batch_sizes, G, out["H"], h0=h0, c0=c0, project=project,
                       **kw)
    return out


def _grad_buffers(cell, X, params, batch_sizes, fill=np.nan, need_dx=True,
                  dh_n=None, dc_n=None):
    """Output and work buffers of a backward call, filled with ``fill``; the
    final-state gradients dh (and dc) are dh_n (and dc_n), zero unless given."""
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
        "dG": full((N, gh)),
        "dh": np.zeros((B, n_hidden), dtype=dtype),
    }
    if cell == "gru":
        bufs.update(dGh=full((N, gh)), b_hn=full(n_hidden))
    elif cell == "lstm":
        bufs.update(dc=np.zeros((B, n_hidden), dtype=dtype))
    if dh_n is not None:
        bufs["dh"][...] = dh_n
    if dc_n is not None:
        bufs["dc"][...] = dc_n
    return bufs


def _backward(cell, X, params, batch_sizes, fwd, dH, input_grads=True,
              need_dx=True, bufs=None, h0=None, c0=None, **extra):
    """Run the backward kernel; returns its buffers (gradients under param
    names, those of the initial states under dh and dc)."""
    if bufs is None:
        bufs = _grad_buffers(cell, X, params, batch_sizes, need_dx=need_dx)
    kw = dict(extra)
    if cell == "lstm":
        kw.update(C=fwd["C"], dc=bufs["dc"])
    elif cell == "gru":
        kw.update(Hn=fwd["Hn"], dGh=bufs["dGh"], db_hn=bufs["b_hn"])
    _recurrent.backward(
        CODE[cell], cell == "rnn-relu", X, params["W_ih"], params["W_hh"],
        batch_sizes, fwd.get("G", fwd["H"]), fwd["H"], dH, bufs["dG"],
        bufs["Hprev"], bufs["dh"], bufs["X"], bufs["W_ih"], bufs["W_hh"],
        bufs["b"], h0=h0, c0=c0, input_grads=input_grads, need_dx=need_dx, **kw)
    return bufs


def _gate_grads(cell):
    """Names of the pre-activation gradient buffers the backward pass fills."""
    return ("dG", "dGh") if cell == "gru" else ("dG",)


def _problem(rng, cell, lengths, dtype, n_inputs=N_INPUTS, n_hidden=N_HIDDEN):
    """Random sequences, upstream gradients and parameters of one dtype.

    The weights' scale shrinks as 1/sqrt(n_hidden) from its N_HIDDEN value,
    so that wider layers neither saturate nor explode more, and TOL's
    bounds hold for every width.
    """
    seqs = [rng.standard_normal((T, n_inputs)).astype(dtype) for T in lengths]
    dHs = [rng.standard_normal((T, n_hidden)).astype(dtype) for T in lengths]
    params = ref.init_params(cell, n_inputs, n_hidden, rng, dtype=dtype,
                             scale=0.5 * np.sqrt(N_HIDDEN / n_hidden))
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


def _packed_problem(rng, cell, lengths, dtype, **kw):
    """_problem's sequences and upstream gradients, packed:
    seqs, dHs, params, X, dH, batch_sizes, order."""
    seqs, dHs, params = _problem(rng, cell, lengths, dtype, **kw)
    X, batch_sizes, order = ref.pack(seqs)
    dH, _, _ = ref.pack(dHs)
    return seqs, dHs, params, X, dH, batch_sizes, order


def _forward_backward(cell, X, params, batch_sizes, dH):
    """The forward kernel's buffers and the backward kernel's after them."""
    fwd = _forward(cell, X, params, batch_sizes)
    return fwd, _backward(cell, X, params, batch_sizes, fwd, dH)


def _ragged_run(rng, cell, dtype):
    """The "ragged" case packed, run forward and backward: params, X, dH,
    batch_sizes, and the forward and backward kernels' buffers."""
    _, _, params, X, dH, batch_sizes, _ = _packed_problem(
        rng, cell, LENGTH_CASES["ragged"], dtype)
    fwd, grads = _forward_backward(cell, X, params, batch_sizes, dH)
    return params, X, dH, batch_sizes, fwd, grads


def _packs(columns, dtype):
    """Whether the kernels take a product of that many columns from a packed
    copy of its weights (at least one 128-byte panel) rather than BLAS."""
    return packed_gemm_level() > 0 and columns >= 128 // np.dtype(dtype).itemsize


def _projection(X, params):
    """The input projection formed exactly as the kernels do: b, then += X @ W_ih."""
    projection = np.empty((X.shape[0], params["b"].shape[0]), dtype=X.dtype)
    projection[...] = params["b"]
    gemm_into(X, params["W_ih"], projection, beta=1.0)
    return projection


def _assert_match_reference(cell, seqs, dHs, params, batch_sizes, order, fwd,
                            grads, tol, h0=None, c0=None, dh_n=None, dc_n=None,
                            mask=None, final=None):
    """The kernels' forward buffers, final states and gradients (those of the
    initial states too, given h0) against the reference run on each sequence."""
    unpacked = {name: ref.unpack(buf, batch_sizes, order) for name, buf in fwd.items()}
    dX_seqs = ref.unpack(grads["X"], batch_sizes, order)
    summed = {name: 0.0 for name in PARAM_NAMES[cell]}
    # With initial states, packed row j of the states belongs to sequence
    # order[j]; without, the sequences are taken in their own order.
    for j, k in enumerate(order if h0 is not None else range(len(seqs))):
        states = ref.forward(cell, seqs[k], params,
                             None if h0 is None else h0[j],
                             None if c0 is None else c0[j],
                             mask=None if mask is None else mask[j])
        for name, want in _reference_stored(cell, states).items():
            assert_allclose(unpacked[name][k], want, **tol, err_msg=name)
        for kind in final or ():
            assert_allclose(final[kind][j], states[kind][-1], **tol, err_msg=kind)
        seq_grads = ref.backward(cell, seqs[k], params, states, dHs[k],
                                 None if dh_n is None else dh_n[j],
                                 None if dc_n is None else dc_n[j])
        assert_allclose(dX_seqs[k], seq_grads["X"], **tol)
        if h0 is not None:
            assert_allclose(grads["dh"][j], seq_grads["h0"], **tol, err_msg="d h0")
            if cell == "lstm":
                assert_allclose(grads["dc"][j], seq_grads["c0"], **tol,
                                err_msg="d c0")
        for name in summed:
            summed[name] = summed[name] + seq_grads[name]
    for name, want in summed.items():
        assert_allclose(grads[name], want, **tol, err_msg=name)


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
    seqs, dHs, params, X, dH, batch_sizes, order = _packed_problem(
        rng, cell, lengths, dtype)
    assert X.dtype == dtype and dH.dtype == dtype

    fwd, grads = _forward_backward(cell, X, params, batch_sizes, dH)
    for name in PARAM_NAMES[cell]:
        assert grads[name].dtype == dtype
    _assert_match_reference(cell, seqs, dHs, params, batch_sizes, order, fwd,
                            grads, TOL[dtype])
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
    given = _forward(cell, X, params, batch_sizes, projection=_projection(X, params))

    for name in full:
        assert_array_equal(given[name], full[name], err_msg=name)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("cell", ref.CELLS)
def test_backward_without_input_grads(rng, cell, dtype):
    params, X, dH, batch_sizes, fwd, full = _ragged_run(rng, cell, dtype)

    bufs = _grad_buffers(cell, X, params, batch_sizes, fill=SENTINEL)
    part = _backward(cell, X, params, batch_sizes, fwd, dH, input_grads=False,
                     bufs=bufs)
    for name in ("X", "W_ih", "b"):
        assert np.all(part[name] == SENTINEL), name
    for name in (*_gate_grads(cell), "W_hh", *(("b_hn",) if cell == "gru" else ())):
        assert_array_equal(part[name], full[name], err_msg=name)

    # What the caller does with the gate gradients gives the full call's answer.
    dA = part["dG"]
    assert_allclose(X.T @ dA, full["W_ih"], **SAME[dtype])
    assert_allclose(dA.sum(axis=0), full["b"], **SAME[dtype])
    assert_allclose(dA @ params["W_ih"].T, full["X"], **SAME[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("cell", ref.CELLS)
def test_backward_without_input_grads_reads_no_input(rng, cell, dtype):
    # With input_grads=False neither X nor W_ih nor the input-side outputs are
    # touched, so empty arrays may stand in for them (the sparse first layer).
    params, X, dH, batch_sizes, fwd, full = _ragged_run(rng, cell, dtype)

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
    params, X, dH, batch_sizes, fwd, full = _ragged_run(rng, cell, dtype)

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
            if name not in ("X", "Hprev"):
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


def _assert_match_finite_differences(loss, grads, wrt):
    """grads[name] is the (non-zero) central difference of loss() with respect
    to wrt[name], for every name."""
    for name, arr in wrt.items():
        numerical = _numerical_grad(loss, arr)
        assert np.any(numerical != 0), name
        assert_allclose(grads[name], numerical, rtol=1e-6, atol=1e-8, err_msg=name)


@pytest.mark.parametrize("cell", ref.CELLS)
def test_gradients_match_finite_differences(rng, cell):
    seqs, _, params = _problem(rng, cell, LENGTH_CASES["ragged"], np.float64)
    X, batch_sizes, _ = ref.pack(seqs)
    R = rng.standard_normal((X.shape[0], N_HIDDEN))

    def loss():
        return float(np.sum(R * _forward(cell, X, params, batch_sizes)["H"]))

    fwd, grads = _forward_backward(cell, X, params, batch_sizes, R)
    wrt = {name: params[name] for name in PARAM_NAMES[cell]}
    wrt["X"] = X
    _assert_match_finite_differences(loss, grads, wrt)


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
    params, X, dH, batch_sizes, fwd, grads = _ragged_run(rng, cell, dtype)

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

    fwd, grads = _forward_backward(cell, X, params, batch_sizes, dH)
    assert np.all(dH[:, 0] != 0) and np.all(dH[first, 1] != 0)
    assert_array_equal(fwd["H"][:, 0], 0)
    assert_array_equal(fwd["H"][first, 1], 0)
    assert not np.any(np.signbit(fwd["H"]))
    # The derivative of relu at 0 is taken as 0: no gradient flows there.
    assert_array_equal(grads["dG"][:, 0], 0)
    assert_array_equal(grads["dG"][first, 1], 0)
    assert_array_equal(grads["W_ih"][:, 0], 0)
    assert_array_equal(grads["W_hh"][:, 0], 0)
    assert grads["b"][0] == 0
    # and the reference, which takes the same convention from the pre-activation,
    # agrees on everything else.
    for x in seqs:
        assert np.all(ref.forward(cell, x, params)["a"][0, :2] == 0)
    _assert_match_reference(cell, seqs, dHs, params, batch_sizes, order, fwd,
                            grads, TOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("cell", ref.CELLS)
def test_pretransposed_recurrent_weights_give_the_same_gradients(rng, cell, dtype):
    # The optional W_hhT work buffer only changes how BLAS is called.
    params, X, dH, batch_sizes, fwd, plain = _ragged_run(rng, cell, dtype)
    W_hhT = np.full(params["W_hh"].T.shape, np.nan, dtype=dtype)
    pre = _backward(cell, X, params, batch_sizes, fwd, dH, W_hhT=W_hhT)
    if _packs(params["W_hh"].shape[0], dtype):
        # The packed copy of W_hh^T stands in for it, and it is left alone.
        assert np.isnan(W_hhT).all()
    else:
        assert_array_equal(W_hhT, params["W_hh"].T)
    for name in plain:
        if name != "Hprev":
            assert_allclose(pre[name], plain[name], **SAME[dtype], err_msg=name)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("lengths", LENGTH_CASES.values(), ids=LENGTH_CASES.keys())
@pytest.mark.parametrize("cell", ref.CELLS)
def test_final_state_loss_without_dH(rng, cell, lengths, dtype):
    # A loss on the final states alone: its gradient given as the final-state
    # gradient dh with dH=None is the same, bit for bit, as given in dH at
    # each sequence's last row, and dH=None is a zero dH.
    _, _, params, X, _, batch_sizes, _ = _packed_problem(rng, cell, lengths,
                                                         dtype)
    fwd = _forward(cell, X, params, batch_sizes)
    B = int(batch_sizes[0])
    g = rng.standard_normal((B, N_HIDDEN)).astype(dtype)
    lengths_sorted = (batch_sizes[None, :] > np.arange(B)[:, None]).sum(axis=1)
    starts = np.concatenate([[0], np.cumsum(batch_sizes)])
    last = starts[lengths_sorted - 1] + np.arange(B)
    dH = np.zeros((X.shape[0], N_HIDDEN), dtype=dtype)
    dH[last] = g
    through_dH = _backward(cell, X, params, batch_sizes, fwd, dH)
    through_dh = _backward(
        cell, X, params, batch_sizes, fwd, None,
        bufs=_grad_buffers(cell, X, params, batch_sizes, dh_n=g))
    zero = _backward(cell, X, params, batch_sizes, fwd,
                     np.zeros_like(dH))
    none = _backward(cell, X, params, batch_sizes, fwd, None)
    for name in through_dH:
        assert_array_equal(through_dh[name], through_dH[name], err_msg=name)
        assert_array_equal(none[name], zero[name], err_msg=name)


def test_pretransposed_weights_of_the_wrong_shape_are_refused(rng):
    _, _, params, X, dH, batch_sizes, _ = _packed_problem(
        rng, "rnn-tanh", [3, 2], np.float64)
    fwd = _forward("rnn-tanh", X, params, batch_sizes)
    with pytest.raises(ValueError, match=r"W_hhT has shape \(3, 4\); it needs "
                       r"\(4, 4\)"):
        _backward("rnn-tanh", X, params, batch_sizes, fwd, dH,
                  W_hhT=np.empty((3, 4)))


# --------------------------------------------------------------------------
# Inference kernels (predict): states only, projection in chunks
# --------------------------------------------------------------------------


def _infer(cell, X, params, batch_sizes, keep_all, chunk_rows=None,
           projection=None, n_hidden=N_HIDDEN, h0=None, c0=None, final=None):
    """Run an inference kernel on NaN-filled buffers; returns H.

    ``chunk_rows`` is the height of the projection work buffer A (default:
    all N rows); with ``projection`` given, A holds it and the kernel runs
    with ``project=False`` and empty X, W_ih and b. With ``final`` a dict,
    the final states go into it.
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
    kw = {}
    if cell == "lstm":
        kw["C"] = np.full((B, n_hidden), np.nan, dtype=dtype)
    elif cell == "gru":
        kw.update(R=np.full((B, gh), np.nan, dtype=dtype), b_hn=params["b_hn"])
    if final is not None and keep_all:
        kw["h_n"] = np.full((B, n_hidden), np.nan, dtype=dtype)
    _recurrent.infer(CODE[cell], cell == "rnn-relu", X, W_ih, params["W_hh"], b,
                     batch_sizes, A, H, h0=h0, c0=c0, keep_all=keep_all,
                     project=project, **kw)
    if final is not None:
        final["h"] = kw["h_n"] if keep_all else H
        if cell == "lstm":
            final["c"] = kw["C"]
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
    projection = _projection(X, params)
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
    code = CODE["rnn-tanh" if cell == "rnn" else cell]

    def run(A, H_out, state=None, X=X, b_hn=None, **kw):
        if cell == "lstm":
            kw["C"] = state
        elif cell == "gru":
            kw["R"] = state
            kw["b_hn"] = params["b_hn"] if b_hn is None else b_hn
        _recurrent.infer(code, False, X, params["W_ih"], params["W_hh"],
                         params["b"], batch_sizes, A, H_out, keep_all=True, **kw)

    state = np.empty((B, H if cell == "lstm" else gh))
    with pytest.raises(ValueError, match="A has shape"):
        run(np.empty((B - 1, gh)), np.empty((N, H)), state)
    with pytest.raises(ValueError, match="A has shape"):
        run(np.empty((N, gh + 1)), np.empty((N, H)), state)
    with pytest.raises(ValueError, match="H has shape"):
        run(np.empty((N, gh)), np.empty((N - 1, H)), state)
    if cell != "rnn":
        with pytest.raises(ValueError, match=r"(C|R) has shape \(2, "):
            run(np.empty((N, gh)), np.empty((N, H)), state[:2])
        with pytest.raises(ValueError, match="(C|R) is needed"):
            run(np.empty((N, gh)), np.empty((N, H)), None)
    with pytest.raises(ValueError, match="do not fit 8 rows"):
        run(np.empty((N, gh)), np.empty((N, H)), state, X=X[:-1])
    with pytest.raises(ValueError, match="do not fit 8 rows"):
        run(np.empty((N, gh)), np.empty((N, H)), state, X=X[:, :-1].copy())
    with pytest.raises(ValueError, match=r"h0 has shape \(2, 4\)"):
        run(np.empty((N, gh)), np.empty((N, H)), state, h0=np.zeros((2, H)))
    with pytest.raises(ValueError, match=r"h_n has shape"):
        run(np.empty((N, gh)), np.empty((N, H)), state, h_n=np.zeros((B, H + 1)))
    if cell == "gru":
        with pytest.raises(ValueError, match="b_hn has 3 entries"):
            run(np.empty((N, gh)), np.empty((N, H)), state,
                b_hn=params["b_hn"][:-1].copy())
    else:
        with pytest.raises(ValueError, match="W_hh has shape"):
            _recurrent.infer(CODE["gru"], False, X, params["W_ih"],
                             params["W_hh"], params["b"], batch_sizes,
                             np.empty((N, gh)), np.empty((N, H)))


# --------------------------------------------------------------------------
# Initial and final states
# --------------------------------------------------------------------------


def _initial_states(rng, cell, B, dtype, n_hidden=N_HIDDEN):
    h0 = rng.uniform(-0.8, 0.8, (B, n_hidden)).astype(dtype)
    c0 = (rng.uniform(-0.8, 0.8, (B, n_hidden)).astype(dtype) if cell == "lstm"
          else None)
    return h0, c0


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("lengths", [LENGTH_CASES["ragged"],
                                     LENGTH_CASES["single-step"]],
                         ids=["ragged", "single-step"])
@pytest.mark.parametrize("cell", ref.CELLS)
def test_initial_and_final_states_match_reference(rng, cell, lengths, dtype):
    seqs, dHs, params, X, dH, batch_sizes, order = _packed_problem(
        rng, cell, lengths, dtype)
    B = len(lengths)
    h0, c0 = _initial_states(rng, cell, B, dtype)
    dh_n, dc_n = _initial_states(rng, cell, B, dtype)
    final = {}
    fwd = _forward(cell, X, params, batch_sizes, h0=h0, c0=c0, final=final)
    bufs = _grad_buffers(cell, X, params, batch_sizes, dh_n=dh_n, dc_n=dc_n)
    grads = _backward(cell, X, params, batch_sizes, fwd, dH, bufs=bufs, h0=h0,
                      c0=c0)
    assert set(final) == ({"h", "c"} if cell == "lstm" else {"h"})
    _assert_match_reference(cell, seqs, dHs, params, batch_sizes, order, fwd,
                            grads, TOL[dtype], h0=h0, c0=c0, dh_n=dh_n,
                            dc_n=dc_n, final=final)

    # The predict kernel starts from the same states and ends in the same.
    for keep_all in (True, False):
        got = {}
        H = _infer(cell, X, params, batch_sizes, keep_all, 7, h0=h0, c0=c0,
                   final=got)
        if keep_all:
            assert_allclose(H, fwd["H"], **SAME[dtype])
        for kind in final:
            assert_allclose(got[kind], final[kind], **SAME[dtype], err_msg=kind)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("cell", ref.CELLS)
def test_zero_initial_state_is_no_initial_state(rng, cell, dtype):
    # Given as zeros, the initial states change no bit of the forward results.
    _, _, params, X, dH, batch_sizes, _ = _packed_problem(
        rng, cell, LENGTH_CASES["ragged"], dtype)
    zero = np.zeros((int(batch_sizes[0]), N_HIDDEN), dtype=dtype)
    c0 = zero if cell == "lstm" else None
    plain_final, given_final = {}, {}
    plain = _forward(cell, X, params, batch_sizes, final=plain_final)
    given = _forward(cell, X, params, batch_sizes, h0=zero, c0=c0,
                     final=given_final)
    for name in plain:
        assert_array_equal(given[name], plain[name], err_msg=name)
    for name in plain_final:
        assert_array_equal(given_final[name], plain_final[name], err_msg=name)
    grads = _backward(cell, X, params, batch_sizes, plain, dH)
    grads_given = _backward(cell, X, params, batch_sizes, given, dH, h0=zero, c0=c0)
    # The weight gradients take one more (zero) row of h0 into their products,
    # which some BLAS builds block, and so round, differently.
    for name in grads:
        if name != "Hprev":
            assert_allclose(grads_given[name], grads[name], **SAME[dtype],
                            err_msg=name)
    for keep_all in (True, False):
        assert_array_equal(
            _infer(cell, X, params, batch_sizes, keep_all, 6, h0=zero, c0=c0),
            _infer(cell, X, params, batch_sizes, keep_all, 6))


@pytest.mark.parametrize("cell", ref.CELLS)
def test_initial_state_gradients_match_finite_differences(rng, cell):
    seqs, _, params = _problem(rng, cell, LENGTH_CASES["ragged"], np.float64)
    X, batch_sizes, _ = ref.pack(seqs)
    B = int(batch_sizes[0])
    h0, c0 = _initial_states(rng, cell, B, np.float64)
    # The loss reads every state and the final states.
    R = rng.standard_normal((X.shape[0], N_HIDDEN))
    Rh, Rc = rng.standard_normal((B, N_HIDDEN)), rng.standard_normal((B, N_HIDDEN))

    def loss():
        final = {}
        H = _forward(cell, X, params, batch_sizes, h0=h0, c0=c0, final=final)["H"]
        value = np.sum(R * H) + np.sum(Rh * final["h"])
        return float(value + (np.sum(Rc * final["c"]) if cell == "lstm" else 0))

    fwd = _forward(cell, X, params, batch_sizes, h0=h0, c0=c0)
    bufs = _grad_buffers(cell, X, params, batch_sizes, dh_n=Rh,
                         dc_n=Rc if cell == "lstm" else None)
    grads = _backward(cell, X, params, batch_sizes, fwd, R, bufs=bufs, h0=h0, c0=c0)
    wrt = {name: params[name] for name in PARAM_NAMES[cell]}
    wrt.update(X=X, dh=h0)
    if cell == "lstm":
        wrt["dc"] = c0
    _assert_match_finite_differences(loss, grads, wrt)


def _rows_of_steps(batch_sizes, first, stop):
    """Packed rows of steps first..stop-1."""
    starts = np.concatenate([[0], np.cumsum(batch_sizes)])
    return slice(int(starts[first]), int(starts[stop]))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("cell", ref.CELLS)
def test_chunked_run_equals_whole_run(rng, cell, dtype):
    # Steps [0, k) then [k, T) of a packed minibatch: the second chunk holds the
    # batch_sizes[k] longest sequences, started from the first chunk's states,
    # and hands its initial-state gradient back to the first chunk's backward.
    _, _, params, X, dH, batch_sizes, _ = _packed_problem(
        rng, cell, [9, 7, 7, 4, 2, 1], dtype)
    whole_final = {}
    whole = _forward(cell, X, params, batch_sizes, final=whole_final)
    whole_grads = _backward(cell, X, params, batch_sizes, whole, dH)
    tol = {np.float64: {"rtol": 1e-12, "atol": 1e-14},
           np.float32: {"rtol": 1e-5, "atol": 1e-6}}[dtype]
    T = len(batch_sizes)
    for cuts in ([3], [1, 5], [2, 4, 6, 8]):
        bounds = [0, *cuts, T]
        chunks, state = [], None
        for first, stop in zip(bounds[:-1], bounds[1:]):
            rows = _rows_of_steps(batch_sizes, first, stop)
            bs = np.ascontiguousarray(batch_sizes[first:stop])
            x = np.ascontiguousarray(X[rows])
            h0 = c0 = None
            if state is not None:
                h0 = np.ascontiguousarray(state["h"][:bs[0]])
                c0 = (np.ascontiguousarray(state["c"][:bs[0]]) if cell == "lstm"
                      else None)
            final = {}
            fwd = _forward(cell, x, params, bs, h0=h0, c0=c0, final=final)
            assert_allclose(fwd["H"], whole["H"][rows], **tol)
            chunks.append((rows, bs, x, h0, c0, fwd))
            # The sequences that end in this chunk keep their final state.
            if state is not None:
                for kind in final:
                    prev = state[kind].copy()
                    prev[:bs[0]] = final[kind]
                    final[kind] = prev
            state = final
        for kind in whole_final:
            assert_allclose(state[kind], whole_final[kind], **tol, err_msg=kind)

        summed = {name: 0.0 for name in PARAM_NAMES[cell]}
        d_state = None
        for rows, bs, x, h0, c0, fwd in reversed(chunks):
            bufs = _grad_buffers(cell, x, params, bs)
            if d_state is not None:
                # Sequences that end in this chunk get no gradient from later.
                for kind in ("dh", "dc"):
                    if kind in bufs:
                        bufs[kind][:d_state[kind].shape[0]] = d_state[kind]
            grads = _backward(cell, x, params, bs, fwd,
                              np.ascontiguousarray(dH[rows]), bufs=bufs, h0=h0, c0=c0)
            assert_allclose(grads["X"], whole_grads["X"][rows], **tol)
            d_state = {kind: grads[kind] for kind in ("dh", "dc") if kind in grads}
            for name in summed:
                summed[name] = summed[name] + grads[name]
        for name, want in summed.items():
            assert_allclose(want, whole_grads[name], **tol, err_msg=name)
        assert_allclose(d_state["dh"], whole_grads["dh"], **tol)


@pytest.mark.parametrize("cell", ref.CELLS)
def test_kernels_refuse_arguments_that_do_not_fit(rng, cell):
    _, _, params, X, dH, batch_sizes, _ = _packed_problem(
        rng, cell, [4, 3, 1], np.float64)
    fwd = _forward(cell, X, params, batch_sizes)
    H = N_HIDDEN
    with pytest.raises(ValueError, match="non-increasing; entry 1 is 3"):
        _forward(cell, X, params, np.array([2, 3, 2, 1], dtype=np.intp))
    with pytest.raises(ValueError, match="positive and non-increasing; entry 2 is 0"):
        _forward(cell, X, params, np.array([3, 3, 0, 2], dtype=np.intp))
    with pytest.raises(ValueError, match="do not fit 8 rows"):
        _forward(cell, X[:-1].copy(), params, batch_sizes)
    with pytest.raises(ValueError, match=r"h0 has shape \(2, 4\); it needs \(3, 4\)"):
        _forward(cell, X, params, batch_sizes, h0=np.zeros((2, H)))
    if cell != "lstm":
        with pytest.raises(ValueError, match="only the LSTM has one"):
            _forward(cell, X, params, batch_sizes, h0=np.zeros((3, H)),
                     c0=np.zeros((3, H)))
    with pytest.raises(ValueError, match="Unknown cell 7"):
        _recurrent.forward(7, False, X, params["W_ih"], params["W_hh"],
                           params["b"], batch_sizes, fwd["H"], fwd["H"])
    # A buffer the cell needs, missing or short, and the backward's own ones.
    with pytest.raises(ValueError, match=r"H has shape \(7, 4\)"):
        _recurrent.forward(CODE[cell], False, X, params["W_ih"], params["W_hh"],
                           params["b"], batch_sizes, fwd.get("G", fwd["H"]),
                           fwd["H"][:-1], b_hn=params.get("b_hn"))
    bufs = _grad_buffers(cell, X, params, batch_sizes)
    bufs["dh"] = np.zeros((2, H))
    with pytest.raises(ValueError, match=r"dh has shape \(2, 4\)"):
        _backward(cell, X, params, batch_sizes, fwd, dH, bufs=bufs)
    bufs = _grad_buffers(cell, X, params, batch_sizes)
    bufs["W_hh"] = bufs["W_hh"][:, :-1].copy()
    with pytest.raises(ValueError, match="dW_hh has shape"):
        _backward(cell, X, params, batch_sizes, fwd, dH, bufs=bufs)
    with pytest.raises(ValueError, match=r"dH has shape \(8, 3\)"):
        _backward(cell, X, params, batch_sizes, fwd, dH[:, :-1].copy())
    if cell == "lstm":
        with pytest.raises(ValueError, match="C is needed"):
            _recurrent.forward(CODE[cell], False, X, params["W_ih"],
                               params["W_hh"], params["b"], batch_sizes,
                               fwd["G"], fwd["H"])
        bufs = _grad_buffers(cell, X, params, batch_sizes)
        bufs["dc"] = np.zeros((3, H + 1))
        with pytest.raises(ValueError, match="dc has shape"):
            _backward(cell, X, params, batch_sizes, fwd, dH, bufs=bufs)
    if cell == "gru":
        with pytest.raises(ValueError, match="R is needed"):
            _recurrent.forward(CODE[cell], False, X, params["W_ih"],
                               params["W_hh"], params["b"], batch_sizes,
                               fwd["G"], fwd["H"], b_hn=params["b_hn"],
                               Hn=fwd["Hn"])
        bufs = _grad_buffers(cell, X, params, batch_sizes)
        bufs["b_hn"] = np.zeros(H - 1)
        with pytest.raises(ValueError, match="db_hn has 3 entries"):
            _backward(cell, X, params, batch_sizes, fwd, dH, bufs=bufs)


# --------------------------------------------------------------------------
# Recurrent dropout
# --------------------------------------------------------------------------


def _recurrent_mask(rng, B, dtype, rate=0.4, n_hidden=N_HIDDEN):
    keep = rng.random((B, n_hidden)) >= rate
    return (keep / (1.0 - rate)).astype(dtype)


def _masked_backward(cell, X, params, batch_sizes, fwd, dH, mask, **kw):
    B = int(batch_sizes[0])
    Hm = np.full((B, params["W_hh"].shape[0]), np.nan, dtype=X.dtype)
    return _backward(cell, X, params, batch_sizes, fwd, dH, mask=mask, Hm=Hm,
                     **kw)


# --------------------------------------------------------------------------
# Wide layers: the recurrent products from the packed W_hh (a panel is 32
# float or 16 double columns; narrower products use BLAS, as above)
# --------------------------------------------------------------------------

# 12 sequences: steps of 12 rows down to 1, so whole tiles of 8 (AVX-512) or
# 3 (AVX2) rows and every remainder; 40 units: whole panels and an edge (the
# backward product has 40 columns, the forward one 40 per gate block).
WIDE_LENGTHS = [9, 8, 8, 7, 6, 6, 5, 4, 3, 2, 2, 1]
WIDE = 40


@pytest.mark.parametrize("masked", [False, True], ids=["plain", "masked"])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("cell", ref.CELLS)
def test_wide_layers_match_reference(rng, cell, dtype, masked):
    seqs, dHs, params, X, dH, batch_sizes, order = _packed_problem(
        rng, cell, WIDE_LENGTHS, dtype, n_hidden=WIDE)
    assert _packs(WIDE, dtype) == (packed_gemm_level() > 0)
    B = len(seqs)
    h0, c0 = _initial_states(rng, cell, B, dtype, n_hidden=WIDE)
    dh_n, dc_n = _initial_states(rng, cell, B, dtype, n_hidden=WIDE)
    mask = _recurrent_mask(rng, B, dtype, n_hidden=WIDE) if masked else None
    final = {}
    fwd = _forward(cell, X, params, batch_sizes, n_hidden=WIDE, h0=h0, c0=c0,
                   final=final, mask=mask)
    bufs = _grad_buffers(cell, X, params, batch_sizes, dh_n=dh_n, dc_n=dc_n)
    if masked:
        grads = _masked_backward(cell, X, params, batch_sizes, fwd, dH, mask,
                                 bufs=bufs, h0=h0, c0=c0)
    else:
        grads = _backward(cell, X, params, batch_sizes, fwd, dH, bufs=bufs,
                          h0=h0, c0=c0)
    _assert_match_reference(cell, seqs, dHs, params, batch_sizes, order, fwd,
                            grads, TOL[dtype], h0=h0, c0=c0, dh_n=dh_n,
                            dc_n=dc_n, mask=mask, final=final)
    if not masked:
        # The predict kernel, in chunks of a few steps, ends in the same states.
        got = {}
        H = _infer(cell, X, params, batch_sizes, True, B + 5, n_hidden=WIDE,
                   h0=h0, c0=c0, final=got)
        assert_allclose(H, fwd["H"], **SAME[dtype])
        for kind in final:
            assert_allclose(got[kind], final[kind], **SAME[dtype], err_msg=kind)


@pytest.mark.parametrize("cell", ref.CELLS)
def test_wide_layer_gradients_match_finite_differences(rng, cell):
    # 17 units: a whole double panel and an edge of one column.
    seqs, _, params = _problem(rng, cell, [4, 3, 3, 1], np.float64, n_hidden=17)
    X, batch_sizes, _ = ref.pack(seqs)
    h0, c0 = _initial_states(rng, cell, len(seqs), np.float64, n_hidden=17)
    R = rng.standard_normal((X.shape[0], 17))

    def loss():
        return float(np.sum(R * _forward(cell, X, params, batch_sizes,
                                         n_hidden=17, h0=h0, c0=c0)["H"]))

    fwd = _forward(cell, X, params, batch_sizes, n_hidden=17, h0=h0, c0=c0)
    grads = _backward(cell, X, params, batch_sizes, fwd, R, h0=h0, c0=c0)
    grads["h0"] = grads["dh"]
    wrt = {name: params[name] for name in PARAM_NAMES[cell]}
    wrt.update(X=X, h0=h0)
    _assert_match_finite_differences(loss, grads, wrt)


# --------------------------------------------------------------------------
# Generation: the network fed its own outputs
# --------------------------------------------------------------------------


def _generate_by_reference(cell, layers, W_out, b_out, h0, c0, y0, exog):
    """Each step through ref.forward, one layer after another, one sequence at
    a time; the output of each step is the next step's input."""
    n_steps, B = exog.shape[:2]
    Y = np.empty((n_steps, B, W_out.shape[1]))
    for j in range(B):
        h = [s[j] for s in h0]
        c = [s[j] for s in c0] if c0 else [None] * len(layers)
        y = y0[j]
        for k in range(n_steps):
            inp = np.concatenate([y, exog[k, j]])[None]
            for layer, params in enumerate(layers):
                out = ref.forward(cell, inp, params, h0=h[layer], c0=c[layer])
                h[layer] = out["h"][0]
                if cell == "lstm":
                    c[layer] = out["c"][0]
                inp = out["h"]
            y = inp[0] @ W_out + b_out
            Y[k, j] = y
    return Y


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("cell", ref.CELLS)
def test_recurrent_mask_matches_reference(rng, cell, dtype):
    # With initial and final states too: the mask acts on h0 as on every
    # other previous state.
    seqs, dHs, params, X, dH, batch_sizes, order = _packed_problem(
        rng, cell, LENGTH_CASES["ragged"], dtype)
    B = len(seqs)
    h0, c0 = _initial_states(rng, cell, B, dtype)
    dh_n, dc_n = _initial_states(rng, cell, B, dtype)
    mask = _recurrent_mask(rng, B, dtype)
    final = {}
    fwd = _forward(cell, X, params, batch_sizes, h0=h0, c0=c0, final=final,
                   mask=mask)
    bufs = _grad_buffers(cell, X, params, batch_sizes, dh_n=dh_n, dc_n=dc_n)
    grads = _masked_backward(cell, X, params, batch_sizes, fwd, dH, mask,
                             bufs=bufs, h0=h0, c0=c0)
    # The final states, the LSTM's cell too, against the reference's.
    _assert_match_reference(cell, seqs, dHs, params, batch_sizes, order, fwd,
                            grads, TOL[dtype], h0=h0, c0=c0, dh_n=dh_n,
                            dc_n=dc_n, mask=mask, final=final)
    # The mask changes the result: it is not silently ignored.
    plain = _forward(cell, X, params, batch_sizes, h0=h0, c0=c0)
    assert not np.allclose(plain["H"], fwd["H"])


@pytest.mark.parametrize("cell", ref.CELLS)
def test_recurrent_mask_of_ones_changes_nothing(rng, cell):
    seqs, _, params, X, dH, batch_sizes, _ = _packed_problem(
        rng, cell, LENGTH_CASES["ragged"], np.float64)
    ones = np.ones((len(seqs), N_HIDDEN))
    plain = _forward(cell, X, params, batch_sizes)
    masked = _forward(cell, X, params, batch_sizes, mask=ones)
    for name in plain:
        assert_array_equal(masked[name], plain[name], err_msg=name)
    grads = _backward(cell, X, params, batch_sizes, plain, dH)
    grads_masked = _masked_backward(cell, X, params, batch_sizes, masked, dH,
                                    ones)
    for name in PARAM_NAMES[cell] + ("X", "dh"):
        assert_array_equal(grads_masked[name], grads[name], err_msg=name)


@pytest.mark.parametrize("cell", ref.CELLS)
def test_recurrent_mask_gradients_match_finite_differences(rng, cell):
    seqs, _, params = _problem(rng, cell, LENGTH_CASES["ragged"], np.float64)
    X, batch_sizes, _ = ref.pack(seqs)
    B = int(batch_sizes[0])
    h0, c0 = _initial_states(rng, cell, B, np.float64)
    mask = _recurrent_mask(rng, B, np.float64)
    R = rng.standard_normal((X.shape[0], N_HIDDEN))
    Rh = rng.standard_normal((B, N_HIDDEN))

    def loss():
        final = {}
        H = _forward(cell, X, params, batch_sizes, h0=h0, c0=c0, final=final,
                     mask=mask)["H"]
        return float(np.sum(R * H) + np.sum(Rh * final["h"]))

    fwd = _forward(cell, X, params, batch_sizes, h0=h0, c0=c0, mask=mask)
    bufs = _grad_buffers(cell, X, params, batch_sizes, dh_n=Rh)
    grads = _masked_backward(cell, X, params, batch_sizes, fwd, R, mask,
                             bufs=bufs, h0=h0, c0=c0)
    wrt = {name: params[name] for name in PARAM_NAMES[cell]}
    wrt.update(X=X, dh=h0)
    _assert_match_finite_differences(loss, grads, wrt)


def test_recurrent_mask_needs_its_work_space(rng):
    seqs, _, params = _problem(rng, "lstm", [3, 2], np.float64)
    X, batch_sizes, _ = ref.pack(seqs)
    with pytest.raises(ValueError, match="Hm"):
        _recurrent.forward(
            _recurrent.LSTM, False, X, params["W_ih"], params["W_hh"],
            params["b"], batch_sizes, np.empty((X.shape[0], 4 * N_HIDDEN)),
            np.empty((X.shape[0], N_HIDDEN)), C=np.empty((X.shape[0], N_HIDDEN)),
            mask=np.ones((2, N_HIDDEN)))
    with pytest.raises(ValueError, match="mask"):
        _forward("lstm", X, params, batch_sizes, mask=np.ones((3, N_HIDDEN)))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("cell", ref.CELLS)
def test_generate_matches_reference(rng, cell, dtype):
    n_out, n_exog, hidden, B, n_steps = 2, 1, (4, 3), 3, 6
    code = CODE[cell]
    layers, pieces, layout, offset, n_in = [], [], [], 0, n_out + n_exog
    for units in hidden:
        params = ref.init_params(cell, n_in, units, rng)
        layers.append(params)
        row = []
        for name in ("W_ih", "W_hh", "b", "b_hn"):
            if name in params:
                row.append(offset)
                pieces.append(params[name].ravel())
                offset += params[name].size
            else:
                row.append(-1)
        layout.append(row + [n_in, units])
        n_in = units
    W_out = rng.uniform(-0.5, 0.5, (hidden[-1], n_out))
    b_out = rng.uniform(-0.5, 0.5, n_out)
    flat = np.concatenate(pieces + [W_out.ravel(), b_out]).astype(dtype)
    h0 = [rng.uniform(-0.5, 0.5, (B, units)) for units in hidden]
    c0 = [rng.uniform(-0.5, 0.5, (B, units)) for units in hidden] \
        if cell == "lstm" else []
    y0 = rng.uniform(-1, 1, (B, n_out))
    exog = rng.uniform(-1, 1, (n_steps, B, n_exog))
    expected = _generate_by_reference(cell, layers, W_out, b_out, h0, c0, y0, exog)
    h = np.concatenate([a.ravel() for a in h0]).astype(dtype)
    c = (np.concatenate([a.ravel() for a in c0]) if c0 else np.empty(0)).astype(dtype)
    widest = ref.N_GATES[cell] * max(hidden)
    Y = np.empty((n_steps, B, n_out), dtype=dtype)
    _recurrent.generate(
        code, cell == "rnn-relu", flat, np.array(layout, dtype=np.intp),
        offset, offset + W_out.size, h, c, y0.astype(dtype), exog.astype(dtype),
        Y, np.empty((B, n_out + n_exog), dtype=dtype),
        np.empty((B, widest), dtype=dtype),
        np.empty((B, widest), dtype=dtype) if cell == "gru" else None)
    tol = {"rtol": 1e-12, "atol": 1e-13} if dtype == np.float64 else {
        "rtol": 1e-4, "atol": 1e-5}
    assert_allclose(Y, expected, **tol)


def test_generate_refuses_inconsistent_arguments(rng):
    flat = np.zeros(100)
    layout = np.array([[0, 12, 16, -1, 3, 4]], dtype=np.intp)

    def run(layout=layout, W_out=20, h=8, exog=(2, 2, 1), Y=(2, 2, 2)):
        _recurrent.generate(_recurrent.ELMAN, False, flat, layout, W_out, 28,
                            np.zeros(h), np.empty(0), np.zeros((2, 2)),
                            np.zeros(exog), np.empty(Y), np.empty((2, 3)),
                            np.empty((2, 4)), None)

    run()  # consistent
    with pytest.raises(ValueError, match="lies outside params"):
        run(W_out=99)
    with pytest.raises(ValueError, match="layer 0 reads 5 inputs"):
        run(layout=np.array([[0, 12, 16, -1, 5, 4]], dtype=np.intp))
    with pytest.raises(ValueError, match="need 8 entries"):
        run(h=6)
    with pytest.raises(ValueError, match="exog has 3 x 2 rows"):
        run(exog=(3, 2, 1))
    with pytest.raises(ValueError, match="Y has rows of 2 x 1"):
        run(Y=(2, 2, 1))


# --------------------------------------------------------------------------
# Offsets past 2**31
# --------------------------------------------------------------------------


def test_offsets_past_2_31_index_the_right_rows():
    # Sequences that start past row 2**31: the offsets are int64 all the way
    # into the gather kernel, which must not wrap them around.
    from skrnn._kernels._pack import packed_gather

    start = 2**31 + 3
    offsets = np.array([start, start + 4], dtype=np.int64)  # lengths 4 and 2
    batch_sizes = np.array([2, 2, 1, 1], dtype=np.intp)
    gather = np.empty(6, dtype=np.intp)
    packed_gather(offsets, batch_sizes, gather)
    assert_array_equal(gather, [start, start + 4, start + 1, start + 5,
                                start + 2, start + 3])
