"""Slow, obvious NumPy reference of the recurrent cells and the packed layout.

Everything here works on ONE unpacked sequence ``x`` of shape (T, I) and loops
over time in plain NumPy, straight from the cell equations; it shares no code
with the Cython kernels. Weights follow the layout of the package: ``W_ih``
(I, G*H) and ``W_hh`` (H, G*H) with the G gate blocks of H columns side by side,
``b`` (G*H,), and for the GRU a separate ``b_hn`` (H,) inside the reset product.
The initial state h0 (and for the LSTM the initial cell c0) is zero unless
given; the backward functions also take the gradient with respect to the final
states (``dh_n``, ``dc_n``) and return the gradient with respect to the
initial ones under "h0" (and "c0").

Cells (gate order in brackets)::

    rnn-tanh   h = tanh(x W_ih + b + h_prev W_hh)
    rnn-relu   h = max(x W_ih + b + h_prev W_hh, 0)            (derivative 0 at 0)
    lstm [i, f, g, o]
               a = x W_ih + b + h_prev W_hh
               i, f, o = sigmoid(a_i, a_f, a_o),  g = tanh(a_g)
               c = f * c_prev + i * g,   h = o * tanh(c)
    gru [r, z, n]
               r = sigmoid(x W_ir + b_r + h_prev W_hr)
               z = sigmoid(x W_iz + b_z + h_prev W_hz)
               n = tanh(x W_in + b_n + r * (h_prev W_hn + b_hn))
               h = (1 - z) * n + z * h_prev

The backward functions take ``dH`` (T, H), the gradient of a loss with respect
to every state h_t as it enters from outside the layer, and return the
gradients of that loss with respect to ``x`` and every parameter.

Recurrent dropout: the forward functions take an optional ``mask`` (H,), one
sequence's mask, and read ``h_prev * mask`` wherever ``h_prev W_hh`` appears
above (the GRU's ``z * h_prev`` and the LSTM's c are not masked); the states
keep the mask under "mask" for the backward functions.
"""

import numpy as np

CELLS = ("rnn-tanh", "rnn-relu", "lstm", "gru")
N_GATES = {"rnn-tanh": 1, "rnn-relu": 1, "lstm": 4, "gru": 3}


def sigmoid(a):
    """Logistic function, written through tanh so that it never overflows."""
    return 0.5 * (1.0 + np.tanh(0.5 * a))


def init_params(cell, n_inputs, n_hidden, rng, dtype=np.float64, scale=0.5):
    """Random parameters of ``cell``: dict with W_ih, W_hh, b (and b_hn for the GRU)."""
    gh = N_GATES[cell] * n_hidden
    params = {
        "W_ih": rng.uniform(-scale, scale, (n_inputs, gh)),
        "W_hh": rng.uniform(-scale, scale, (n_hidden, gh)),
        "b": rng.uniform(-scale, scale, gh),
    }
    if cell == "gru":
        params["b_hn"] = rng.uniform(-scale, scale, n_hidden)
    return {name: np.ascontiguousarray(p, dtype=dtype) for name, p in params.items()}


# --------------------------------------------------------------------------
# Elman cell
# --------------------------------------------------------------------------


def _state(value, H):
    return np.zeros(H) if value is None else np.asarray(value, dtype=np.float64)


def _mask(value, H):
    return np.ones(H) if value is None else np.asarray(value, dtype=np.float64)


def _zero_grads(x, W_ih, W_hh):
    """Zero gradients with respect to x, W_ih, W_hh and b, to accumulate into."""
    return {
        "X": np.zeros(x.shape),
        "W_ih": np.zeros(W_ih.shape),
        "W_hh": np.zeros(W_hh.shape),
        "b": np.zeros(W_ih.shape[1]),
    }


def elman_forward(x, W_ih, W_hh, b, relu, h0=None, mask=None):
    """States h (T, H) and pre-activations a (T, H) of the Elman cell."""
    T, H = x.shape[0], W_hh.shape[0]
    a = np.zeros((T, H))
    h = np.zeros((T, H))
    h_prev = _state(h0, H)
    m = _mask(mask, H)
    for t in range(T):
        a[t] = x[t] @ W_ih + b + (h_prev * m) @ W_hh
        h[t] = np.maximum(a[t], 0.0) if relu else np.tanh(a[t])
        h_prev = h[t]
    return {"h": h, "a": a, "h0": _state(h0, H), "mask": m}


def elman_backward(x, W_ih, W_hh, states, dH, relu, dh_n=None):
    """BPTT through the Elman cell: gradients wrt x, W_ih, W_hh and b."""
    T, H = x.shape[0], W_hh.shape[0]
    a, h = states["a"], states["h"]
    grads = _zero_grads(x, W_ih, W_hh)
    dh_from_next = _state(dh_n, H).copy()
    for t in reversed(range(T)):
        dh = dH[t] + dh_from_next
        if relu:
            da = np.where(a[t] > 0, dh, 0.0)
        else:
            da = dh * (1.0 - np.tanh(a[t]) ** 2)
        h_prev = h[t - 1] if t > 0 else states["h0"]
        grads["X"][t] = W_ih @ da
        grads["W_ih"] += np.outer(x[t], da)
        grads["W_hh"] += np.outer(h_prev * states["mask"], da)
        grads["b"] += da
        dh_from_next = (W_hh @ da) * states["mask"]
    grads["h0"] = dh_from_next
    return grads


# --------------------------------------------------------------------------
# LSTM cell
# --------------------------------------------------------------------------


def lstm_forward(x, W_ih, W_hh, b, h0=None, c0=None, mask=None):
    """Gates i, f, g, o, cells c and states h (each (T, H)) of the LSTM cell."""
    T, H = x.shape[0], W_hh.shape[0]
    out = {name: np.zeros((T, H)) for name in ("i", "f", "g", "o", "c", "h")}
    out["h0"], out["c0"] = _state(h0, H), _state(c0, H)
    out["mask"] = m = _mask(mask, H)
    h_prev, c_prev = out["h0"], out["c0"]
    for t in range(T):
        a = x[t] @ W_ih + b + (h_prev * m) @ W_hh
        i = sigmoid(a[:H])
        f = sigmoid(a[H : 2 * H])
        g = np.tanh(a[2 * H : 3 * H])
        o = sigmoid(a[3 * H :])
        c = f * c_prev + i * g
        h = o * np.tanh(c)
        for name, value in zip("ifgoch", (i, f, g, o, c, h)):
            out[name][t] = value
        h_prev, c_prev = h, c
    return out


def lstm_backward(x, W_ih, W_hh, states, dH, dh_n=None, dc_n=None):
    """BPTT through the LSTM cell: gradients wrt x, W_ih, W_hh and b."""
    T, H = x.shape[0], W_hh.shape[0]
    grads = _zero_grads(x, W_ih, W_hh)
    dh_from_next = _state(dh_n, H).copy()
    dc_from_next = _state(dc_n, H).copy()
    for t in reversed(range(T)):
        i, f, g, o = (states[name][t] for name in "ifgo")
        c = states["c"][t]
        c_prev = states["c"][t - 1] if t > 0 else states["c0"]
        h_prev = states["h"][t - 1] if t > 0 else states["h0"]
        dh = dH[t] + dh_from_next
        # h = o * tanh(c)
        d_o = dh * np.tanh(c)
        dc = dc_from_next + dh * o * (1.0 - np.tanh(c) ** 2)
        # c = f * c_prev + i * g
        d_f = dc * c_prev
        d_i = dc * g
        d_g = dc * i
        dc_from_next = dc * f
        # back through the nonlinearities to the pre-activations
        da = np.concatenate(
            [d_i * i * (1.0 - i), d_f * f * (1.0 - f), d_g * (1.0 - g**2),
             d_o * o * (1.0 - o)]
        )
        grads["X"][t] = W_ih @ da
        grads["W_ih"] += np.outer(x[t], da)
        grads["W_hh"] += np.outer(h_prev * states["mask"], da)
        grads["b"] += da
        dh_from_next = (W_hh @ da) * states["mask"]
    grads["h0"], grads["c0"] = dh_from_next, dc_from_next
    return grads


# --------------------------------------------------------------------------
# GRU cell
# --------------------------------------------------------------------------


def gru_forward(x, W_ih, W_hh, b, b_hn, h0=None, mask=None):
    """Gates r, z, n, the recurrent candidate term hn and states h of the GRU."""
    T, H = x.shape[0], W_hh.shape[0]
    out = {name: np.zeros((T, H)) for name in ("r", "z", "n", "hn", "h")}
    out["h0"] = h_prev = _state(h0, H)
    out["mask"] = m = _mask(mask, H)
    for t in range(T):
        gx = x[t] @ W_ih + b
        gh = (h_prev * m) @ W_hh
        r = sigmoid(gx[:H] + gh[:H])
        z = sigmoid(gx[H : 2 * H] + gh[H : 2 * H])
        hn = gh[2 * H :] + b_hn
        n = np.tanh(gx[2 * H :] + r * hn)
        h = (1.0 - z) * n + z * h_prev
        for name, value in zip(("r", "z", "n", "hn", "h"), (r, z, n, hn, h)):
            out[name][t] = value
        h_prev = h
    return out


def gru_backward(x, W_ih, W_hh, states, dH, dh_n=None):
    """BPTT through the GRU cell: gradients wrt x, W_ih, W_hh, b and b_hn."""
    T, H = x.shape[0], W_hh.shape[0]
    grads = dict(_zero_grads(x, W_ih, W_hh), b_hn=np.zeros(H))
    dh_from_next = _state(dh_n, H).copy()
    for t in reversed(range(T)):
        r, z, n, hn = (states[name][t] for name in ("r", "z", "n", "hn"))
        h_prev = states["h"][t - 1] if t > 0 else states["h0"]
        dh = dH[t] + dh_from_next
        # h = (1 - z) * n + z * h_prev
        dn = dh * (1.0 - z)
        dz = dh * (h_prev - n)
        dh_prev = dh * z
        # n = tanh(an),  an = gx_n + r * hn
        dan = dn * (1.0 - n**2)
        dr = dan * hn
        dhn = dan * r
        # r, z = sigmoid(gx + gh)
        dar = dr * r * (1.0 - r)
        daz = dz * z * (1.0 - z)
        dgx = np.concatenate([dar, daz, dan])  # wrt x W_ih + b
        dgh = np.concatenate([dar, daz, dhn])  # wrt h_prev W_hh (+ b_hn in n)
        grads["X"][t] = W_ih @ dgx
        grads["W_ih"] += np.outer(x[t], dgx)
        grads["b"] += dgx
        grads["W_hh"] += np.outer(h_prev * states["mask"], dgh)
        grads["b_hn"] += dhn
        dh_from_next = dh_prev + (W_hh @ dgh) * states["mask"]
    grads["h0"] = dh_from_next
    return grads


# --------------------------------------------------------------------------
# Dispatch by cell name
# --------------------------------------------------------------------------


def forward(cell, x, params, h0=None, c0=None, mask=None):
    """Forward pass of ``cell`` over one sequence; the states are under "h"."""
    x = np.asarray(x, dtype=np.float64)
    p = {name: np.asarray(v, dtype=np.float64) for name, v in params.items()}
    if cell in ("rnn-tanh", "rnn-relu"):
        return elman_forward(x, p["W_ih"], p["W_hh"], p["b"], cell == "rnn-relu",
                             h0, mask)
    if cell == "lstm":
        return lstm_forward(x, p["W_ih"], p["W_hh"], p["b"], h0, c0, mask)
    if cell == "gru":
        return gru_forward(x, p["W_ih"], p["W_hh"], p["b"], p["b_hn"], h0, mask)
    raise ValueError(f"unknown cell {cell!r}")


def backward(cell, x, params, states, dH, dh_n=None, dc_n=None):
    """Backward pass of ``cell`` over one sequence; keys X, W_ih, W_hh, b (, b_hn),
    h0 (, c0)."""
    x = np.asarray(x, dtype=np.float64)
    dH = np.asarray(dH, dtype=np.float64)
    p = {name: np.asarray(v, dtype=np.float64) for name, v in params.items()}
    if cell in ("rnn-tanh", "rnn-relu"):
        return elman_backward(x, p["W_ih"], p["W_hh"], states, dH,
                              cell == "rnn-relu", dh_n)
    if cell == "lstm":
        return lstm_backward(x, p["W_ih"], p["W_hh"], states, dH, dh_n, dc_n)
    if cell == "gru":
        return gru_backward(x, p["W_ih"], p["W_hh"], states, dH, dh_n)
    raise ValueError(f"unknown cell {cell!r}")


# --------------------------------------------------------------------------
# Packed layout
# --------------------------------------------------------------------------


def pack_order(lengths):
    """Sequence indices sorted by length, longest first, ties in input order."""
    lengths = np.asarray(lengths)
    return np.argsort(-lengths, kind="stable")


def batch_sizes_of(lengths):
    """batch_sizes[t] = number of sequences longer than t, as np.intp."""
    lengths = np.asarray(lengths)
    T = int(lengths.max()) if lengths.size else 0
    return np.array([np.sum(lengths > t) for t in range(T)], dtype=np.intp)


def pack(seqs, dtype=None):
    """Pack a list of (T_i, F) arrays time-major: returns (P, batch_sizes, order).

    Row block t of P holds step t of the sequences ``order[:batch_sizes[t]]``,
    in that order.
    """
    lengths = [len(s) for s in seqs]
    order = pack_order(lengths)
    batch_sizes = batch_sizes_of(lengths)
    rows = []
    for t, bs in enumerate(batch_sizes):
        for j in range(bs):
            rows.append(seqs[order[j]][t])
    if dtype is None:
        dtype = np.result_type(*[np.asarray(s).dtype for s in seqs])
    n_features = np.asarray(seqs[0]).shape[1]
    P = np.array(rows, dtype=dtype).reshape(len(rows), n_features)
    return np.ascontiguousarray(P), batch_sizes, order


def unpack(P, batch_sizes, order):
    """Inverse of :func:`pack`: the list of sequences, in their original order."""
    B = len(order)
    per_slot = [[] for _ in range(B)]
    row = 0
    for bs in batch_sizes:
        for j in range(bs):
            per_slot[j].append(P[row])
            row += 1
    assert row == P.shape[0]
    seqs = [None] * B
    for j, idx in enumerate(order):
        seqs[idx] = np.array(per_slot[j]).reshape(len(per_slot[j]), P.shape[1])
    return seqs


def pool(readout, steps, w_att=None):
    """One sequence's (T, D) top-layer states pooled, written as the definition."""
    if readout == "mean":
        return steps.mean(axis=0)
    if readout == "max":
        return steps.max(axis=0)
    scores = steps @ w_att
    weights = np.exp(scores - scores.max())
    return (weights / weights.sum()) @ steps
