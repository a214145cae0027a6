"""The network against PyTorch's RNN/LSTM/GRU as an oracle; golden values without it.

PyTorch is a test oracle only: the oracle tests take the ``torch`` fixture, which
skips them when torch is absent, while the golden-value tests below pin the
outputs of constant-weight networks against closed-form scalar recursions and
hard-coded numbers, and run everywhere.
"""

import math

import numpy as np
import pytest
from numpy.testing import assert_allclose

from skrnn import RNNClassifier
from skrnn._network import RecurrentNetwork, Workspace
from skrnn._packing import PackedBatch
from skrnn._sequences import Sequences

CELLS = ["rnn-tanh", "rnn-relu", "lstm", "gru"]
N_FEATURES, N_HIDDEN, N_OUTPUTS = 3, 5, 3
# Ragged, not sorted by length, with a tie, so packing reorders the sequences.
LENGTHS = [4, 9, 1, 7, 2, 7]
TOL = {
    np.float64: {"rtol": 1e-10, "atol": 1e-12},
    np.float32: {"rtol": 1e-4, "atol": 1e-5},
}


@pytest.fixture(scope="module")
def torch():
    torch = pytest.importorskip("torch")
    # The tensors here are tiny; threads only add run-to-run noise.
    torch.set_num_threads(1)
    return torch


def _cell_and_activation(cell):
    return ("rnn", cell[4:]) if cell.startswith("rnn") else (cell, "tanh")


def _make_network(cell, n_layers, bidirectional, per_step,
                  n_features=N_FEATURES, n_hidden=N_HIDDEN, n_outputs=N_OUTPUTS,
                  readout="last"):
    kind, activation = _cell_and_activation(cell)
    return RecurrentNetwork(
        cell=kind, activation=activation, n_features=n_features,
        hidden_layer_sizes=(n_hidden,) * n_layers, bidirectional=bidirectional,
        n_outputs=n_outputs, per_step=per_step, readout=readout)


def _make_torch(torch, net, dtype):
    """Empty torch counterparts of ``net``: the recurrent module and the head."""
    kwargs = {
        "input_size": net.n_features,
        "hidden_size": net.hidden_layer_sizes[0],
        "num_layers": len(net.hidden_layer_sizes),
        "bidirectional": net.n_directions == 2,
        "batch_first": False,
        "dtype": dtype,
    }
    if net.cell == "rnn":
        module = torch.nn.RNN(nonlinearity="relu" if net.relu else "tanh", **kwargs)
    elif net.cell == "lstm":
        module = torch.nn.LSTM(**kwargs)
    else:
        module = torch.nn.GRU(**kwargs)
    head = torch.nn.Linear(net.n_head_in, net.n_outputs, dtype=dtype)
    if net.readout == "attention":
        # The attention readout's score vector rides along on the head.
        head.w_att = torch.nn.Parameter(torch.zeros(net.n_head_in, dtype=dtype))
    return module, head


def _torch_layout(net, params, module, head, grad=False):
    """The one map between skrnn's parameter views and torch's tensors.

    skrnn computes ``x W_ih + h W_hh`` with row-major ``W_ih`` (n_in, G*H) and
    ``W_hh`` (H, G*H); torch computes ``x weight_ih^T + h weight_hh^T``, so
    ``W_ih = weight_ih_l{k}[_reverse].T`` and ``W_hh = weight_hh_l{k}[_reverse].T``.
    The gate blocks are in torch's own orders: LSTM i, f, g, o and GRU r, z, n.
    skrnn adds a single bias ``b`` (G*H,) to the pre-activations, so torch's
    ``bias_ih = b`` and ``bias_hh = 0``, except for the GRU candidate, whose
    recurrent bias sits inside ``r * (h W_hn + b_hn)``: ``bias_hh = [0, 0, b_hn]``.
    The head ``Z = F W_out + b_out`` is a Linear with ``weight = W_out.T`` and
    ``bias = b_out``.

    Returns ``(pairs, tied)``. ``pairs`` holds ``(name, skrnn view, torch view)``
    with equal values, for every skrnn parameter. ``tied`` holds ``(name, torch
    view, skrnn view)`` for the torch biases that skrnn does not have: they are
    held at zero, and since they enter the sum exactly where a part of ``b``
    does, their gradient is that part's. With ``grad`` the torch views are of
    the ``.grad`` tensors, and ``params`` may be views of a flat gradient.
    """
    def of(tensor):
        return tensor.grad if grad else tensor

    pairs, tied = [], []
    for layer, hidden in enumerate(net.hidden_layer_sizes):
        for direction in range(net.n_directions):
            suffix = f"_l{layer}" + ("_reverse" if direction else "")
            name = f"layer {layer} direction {direction}"
            p = params.layers[layer][direction]
            weight_ih = of(getattr(module, f"weight_ih{suffix}"))
            weight_hh = of(getattr(module, f"weight_hh{suffix}"))
            bias_ih = of(getattr(module, f"bias_ih{suffix}"))
            bias_hh = of(getattr(module, f"bias_hh{suffix}"))
            pairs += [
                (f"{name} W_ih", p["W_ih"], weight_ih.T),
                (f"{name} W_hh", p["W_hh"], weight_hh.T),
                (f"{name} b", p["b"], bias_ih),
            ]
            if net.cell == "gru":
                pairs.append((f"{name} b_hn", p["b_hn"], bias_hh[2 * hidden:]))
                tied.append((f"{name} bias_hh[r, z]", bias_hh[:2 * hidden],
                             p["b"][:2 * hidden]))
            else:
                tied.append((f"{name} bias_hh", bias_hh, p["b"]))
    pairs += [
        ("head W_out", params.W_out, of(head.weight).T),
        ("head b_out", params.b_out, of(head.bias)),
    ]
    if net.readout == "attention":
        pairs.append(("head w_att", params.w_att, of(head.w_att)))
    return pairs, tied


def _load_into_torch(torch, net, params, module, head):
    """Copy skrnn's parameters into the torch module and head."""
    pairs, tied = _torch_layout(net, params, module, head)
    with torch.no_grad():
        for _, view, tensor in pairs:
            tensor.copy_(torch.from_numpy(np.ascontiguousarray(view)))
        for _, tensor, _ in tied:
            tensor.zero_()


def _random_params(net, rng, dtype):
    """Initialised parameters with random biases, so zero biases hide nothing."""
    flat = net.init_params(rng, np.float64)
    flat[net.n_weights:] += rng.normal(scale=0.5, size=net.n_params - net.n_weights)
    return flat.astype(dtype)


def _torch_forward(torch, module, head, sequences, per_step, readout="last"):
    """Raw outputs in the caller's order (per step: data rows) and the final states."""
    packed = torch.nn.utils.rnn.pack_sequence(sequences, enforce_sorted=False)
    out, final = module(packed)
    h_n = final[0] if isinstance(final, tuple) else final
    padded, _ = torch.nn.utils.rnn.pad_packed_sequence(out)
    steps = [padded[:len(s), i] for i, s in enumerate(sequences)]
    if per_step:
        feats = torch.cat(steps)
    elif readout == "mean":
        feats = torch.stack([s.mean(dim=0) for s in steps])
    elif readout == "max":
        feats = torch.stack([s.max(dim=0).values for s in steps])
    elif readout == "attention":
        feats = torch.stack([torch.softmax(s @ head.w_att, dim=0) @ s
                             for s in steps])
    else:
        # h_n is (layers * directions, B, H), the last layer's directions last.
        n_dir = 2 if module.bidirectional else 1
        feats = torch.cat(list(h_n[-n_dir:]), dim=1)
    return head(feats), final


def _final_states(net, batch, ws):
    """skrnn's final h (and LSTM c) of every layer and direction, in packed order.

    Stacked as torch's h_n, (layers * directions, B, H); the reverse direction's
    final state, after reading its sequence backwards, is at the same rows
    ``batch.last``.
    """
    cells = ws.trace[0]
    h = np.stack([bufs["H"][batch.last] for layer in cells for _, bufs in layer])
    if net.cell != "lstm":
        return h, None
    c = np.stack([bufs["C"][batch.last] for layer in cells for _, bufs in layer])
    return h, c


def _run_both(torch, cell, n_layers, bidirectional, per_step, dtype, rng,
              readout="last"):
    """Forward and backward of one configuration in skrnn and torch.

    Returns a dict quantity -> (skrnn value, torch value), both in the caller's
    order (rows of sequences, or data rows for per-step outputs and inputs).
    """
    t_dtype = torch.float64 if dtype == np.float64 else torch.float32
    net = _make_network(cell, n_layers, bidirectional, per_step, readout=readout)
    flat = _random_params(net, rng, dtype)
    if readout == "attention":
        # Scores that differ from step to step: zero would be the mean.
        net.views(flat).w_att[...] = rng.normal(size=net.n_head_in)
    params = net.views(flat)
    lengths = np.array(LENGTHS)
    data = rng.standard_normal((lengths.sum(), N_FEATURES)).astype(dtype)
    seqs = Sequences.from_lengths(data, lengths)
    n_seqs = len(lengths)
    # A shuffled minibatch: packing must undo the caller's order and this one.
    batch = PackedBatch(seqs, rng.permutation(n_seqs))
    n_rows = data.shape[0] if per_step else n_seqs
    R = rng.standard_normal((n_rows, N_OUTPUTS)).astype(dtype)
    rows = batch.gather if per_step else batch.order

    # skrnn: Z in packed order, the loss sum(R * Z), its gradients.
    ws = Workspace(dtype)
    Z_packed = net.forward(params, batch, ws)
    h_n, c_n = _final_states(net, batch, ws)
    Z = np.empty_like(Z_packed)
    Z[rows] = Z_packed
    grad_flat = np.zeros_like(flat)
    grads = net.views(grad_flat)
    dX_packed = net.backward(params, grads, batch, np.ascontiguousarray(R[rows]),
                             ws, input_grad=True)
    dX = np.empty_like(dX_packed)
    dX[batch.gather] = dX_packed

    # torch on the same weights and sequences.
    module, head = _make_torch(torch, net, t_dtype)
    _load_into_torch(torch, net, params, module, head)
    sequences = [torch.tensor(seqs[i], requires_grad=True) for i in range(n_seqs)]
    Z_t, final_t = _torch_forward(torch, module, head, sequences, per_step,
                                  readout)
    loss_t = (torch.from_numpy(R) * Z_t).sum()
    loss_t.backward()

    def numpy(tensor):
        return tensor.detach().numpy()

    out = {
        "Z": (Z, numpy(Z_t)),
        "loss": (np.sum(R * Z, dtype=np.float64), loss_t.detach().item()),
        "dX": (dX, np.concatenate([numpy(s.grad) for s in sequences])),
    }
    h_t = final_t[0] if net.cell == "lstm" else final_t
    out["h_n"] = (h_n, numpy(h_t)[:, batch.order])
    if net.cell == "lstm":
        out["c_n"] = (c_n, numpy(final_t[1])[:, batch.order])
    pairs, tied = _torch_layout(net, grads, module, head, grad=True)
    for name, view, tensor in pairs:
        out[f"d {name}"] = (view, numpy(tensor))
    for name, tensor, view in tied:
        out[f"d {name} (tied)"] = (view, numpy(tensor))
    return out


def _max_relative(ours, theirs, atol):
    """Largest |ours - theirs| / (|theirs| + atol), for reports and messages."""
    ours = np.asarray(ours, dtype=np.float64)
    theirs = np.asarray(theirs, dtype=np.float64)
    return float(np.max(np.abs(ours - theirs) / (np.abs(theirs) + atol)))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("per_step", [False, True], ids=["many-to-one", "per-step"])
@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
@pytest.mark.parametrize("n_layers", [1, 2])
@pytest.mark.parametrize("cell", CELLS)
def test_network_matches_torch(torch, cell, n_layers, bidirectional, per_step,
                               dtype, rng):
    results = _run_both(torch, cell, n_layers, bidirectional, per_step, dtype, rng)
    # Every skrnn parameter, the input, outputs, states and loss are compared.
    n_params = len([q for q in results if q.startswith("d ") and "tied" not in q])
    expected = n_layers * (2 if bidirectional else 1) * (4 if cell == "gru" else 3)
    assert n_params == expected + 2
    for quantity, (ours, theirs) in results.items():
        ours, theirs = np.asarray(ours), np.asarray(theirs)
        assert ours.shape == theirs.shape, quantity
        assert np.isfinite(ours).all(), quantity
        assert_allclose(
            ours, theirs, **TOL[dtype],
            err_msg=f"{quantity}: max relative discrepancy "
                    f"{_max_relative(ours, theirs, TOL[dtype]['atol']):.3g}")


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("bidirectional", [False, True], ids=["uni", "bi"])
@pytest.mark.parametrize("n_layers", [1, 2])
@pytest.mark.parametrize("cell", CELLS)
@pytest.mark.parametrize("readout", ["mean", "max", "attention"])
def test_pooled_readouts_match_torch(torch, readout, cell, n_layers,
                                     bidirectional, dtype, rng):
    results = _run_both(torch, cell, n_layers, bidirectional, False, dtype, rng,
                        readout=readout)
    assert ("d head w_att" in results) == (readout == "attention")
    for quantity, (ours, theirs) in results.items():
        ours, theirs = np.asarray(ours), np.asarray(theirs)
        assert ours.shape == theirs.shape, quantity
        assert_allclose(
            ours, theirs, **TOL[dtype],
            err_msg=f"{quantity}: max relative discrepancy "
                    f"{_max_relative(ours, theirs, TOL[dtype]['atol']):.3g}")


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_fitted_classifier_matches_torch(torch, rng):
    # A fitted estimator's network, loaded into torch, predicts the same
    # probabilities: softmax of the head on both directions' final states.
    lengths = rng.integers(1, 12, size=40)
    X = [rng.standard_normal((n, 2)) for n in lengths]
    y = np.digitize([x[:, 0].sum() for x in X], [-1.0, 1.0])
    # float64: compared with torch in float64.
    clf = RNNClassifier(hidden_layer_sizes=(4, 4), cell="gru", bidirectional=True,
                        readout="last", max_iter=3, batch_size=8, random_state=0,
                        dtype="float64").fit(X, y)
    assert clf.n_outputs_ == 3
    net, flat = clf._network, clf._params
    module, head = _make_torch(torch, net, torch.float64)
    _load_into_torch(torch, net, net.views(flat), module, head)
    X_new = [rng.standard_normal((n, 2)) for n in [5, 11, 1, 8, 3]]
    with torch.no_grad():
        Z_t, _ = _torch_forward(torch, module, head,
                                [torch.from_numpy(x) for x in X_new], per_step=False)
        proba_t = torch.softmax(Z_t, dim=1).numpy()
    assert_allclose(clf.predict_proba(X_new), proba_t, **TOL[np.float64])


# --------------------------------------------------------------------------
# Golden values: constant weights, no torch
# --------------------------------------------------------------------------

GOLDEN_SEQUENCES = [[0.5, -1.0, 2.0], [1.5, 0.25]]
W_IH, W_HH, BIAS, W_OUT = 0.1, 0.2, 0.05, 0.3
GOLDEN_HIDDEN = 2
# Z at every step of both sequences, printed once to 12 significant digits.
# rnn-relu is exact by hand: the second step's pre-activation, -0.01, is cut to 0.
GOLDEN_Z = {
    "rnn-tanh": [0.109800796775, 0.0439205267759, 0.194663020569,
                 0.168425192135, 0.141647185901],
    "rnn-relu": [0.11, 0.05, 0.2, 0.17, 0.143],
    "lstm": [0.0664662636424, 0.0519209097632, 0.0976427866581,
             0.0856621067737, 0.0840527536209],
    "gru": [0.0857925681905, 0.0635439990816, 0.129772458617,
            0.110406925908, 0.11646958235],
}


def _sigmoid(a):
    return 1.0 / (1.0 + math.exp(-a))


def _golden_recursion(cell, xs):
    """Z at every step from the scalar recursion every hidden unit follows.

    With every entry of a matrix equal, all units are equal, so ``h W_hh`` is
    ``H * W_HH * h`` in every column and each cell reduces to one scalar
    recursion; the head reads ``Z = H * W_OUT * h + BIAS``.
    """
    h = c = 0.0
    out = []
    for x in xs:
        a = W_IH * x + BIAS + GOLDEN_HIDDEN * W_HH * h
        if cell == "rnn-tanh":
            h = math.tanh(a)
        elif cell == "rnn-relu":
            h = max(a, 0.0)
        elif cell == "lstm":
            # i, f, g, o share the pre-activation a.
            c = _sigmoid(a) * c + _sigmoid(a) * math.tanh(a)
            h = _sigmoid(a) * math.tanh(c)
        else:
            # r and z share a; the candidate's recurrent part carries b_hn.
            r = z = _sigmoid(a)
            n = math.tanh(W_IH * x + BIAS + r * (GOLDEN_HIDDEN * W_HH * h + BIAS))
            h = (1.0 - z) * n + z * h
        out.append(GOLDEN_HIDDEN * W_OUT * h + BIAS)
    return out


def _constant_network(cell, per_step):
    net = _make_network(cell, 1, False, per_step, n_features=1,
                        n_hidden=GOLDEN_HIDDEN, n_outputs=1)
    flat = np.empty(net.n_params)
    params = net.views(flat)
    p = params.layers[0][0]
    p["W_ih"][...] = W_IH
    p["W_hh"][...] = W_HH
    p["b"][...] = BIAS
    if "b_hn" in p:
        p["b_hn"][...] = BIAS
    params.W_out[...] = W_OUT
    params.b_out[...] = BIAS
    return net, params


def _golden_run(cell, per_step):
    """skrnn's Z for the golden sequences, in the caller's order."""
    net, params = _constant_network(cell, per_step)
    data = np.concatenate(GOLDEN_SEQUENCES)[:, None]
    seqs = Sequences.from_lengths(data, [len(s) for s in GOLDEN_SEQUENCES])
    batch = PackedBatch(seqs, np.arange(len(GOLDEN_SEQUENCES)))
    Z_packed = net.forward(params, batch, Workspace(np.float64))
    Z = np.empty_like(Z_packed)
    Z[batch.gather if per_step else batch.order] = Z_packed
    return Z[:, 0]


@pytest.mark.parametrize("cell", CELLS)
def test_golden_values(cell):
    expected = np.concatenate([_golden_recursion(cell, xs) for xs in GOLDEN_SEQUENCES])
    Z = _golden_run(cell, per_step=True)
    assert_allclose(Z, expected, rtol=1e-13, atol=1e-15)
    assert_allclose(Z, GOLDEN_Z[cell], rtol=1e-11)
    # A many-to-one network reads the last step of the per-step outputs.
    last = np.cumsum([len(s) for s in GOLDEN_SEQUENCES]) - 1
    assert_allclose(_golden_run(cell, per_step=False), Z[last], rtol=1e-13)
