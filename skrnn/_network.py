"""The stacked, optionally bidirectional recurrent network on a flat parameter array."""

import numpy as np

from ._kernels import _recurrent

N_GATES = {"rnn": 1, "lstm": 4, "gru": 3}

# Bytes of input projection the predict kernels form at a time: a chunk of
# steps that stays in cache while the time loop reads it (one step at least).
_INFER_CHUNK_BYTES = 1 << 18


class Workspace:
    """Named work buffers reused from minibatch to minibatch.

    A buffer grows to the largest size asked of it and is handed out as a
    C-contiguous view of its first elements, so a fit allocates its work space
    during the first minibatches and then never again.
    """

    def __init__(self, dtype):
        self.dtype = np.dtype(dtype)
        self._buffers = {}
        # What the last forward pass kept for the backward pass.
        self.trace = None

    def get(self, key, shape):
        size = int(np.prod(shape))
        buf = self._buffers.get(key)
        if buf is None or buf.shape[0] < size:
            buf = self._buffers[key] = np.empty(max(size, 1), dtype=self.dtype)
        return buf[:size].reshape(shape)

    def zeros(self, key, shape):
        out = self.get(key, shape)
        out.fill(0)
        return out


class _Params:
    """Views of one flat vector as the weights of each layer and the head."""

    __slots__ = ("layers", "W_out", "b_out")

    def __init__(self, layers, W_out, b_out):
        self.layers = layers
        self.W_out = W_out
        self.b_out = b_out


class RecurrentNetwork:
    """Stacked recurrent layers read through a linear output head.

    Layer l, direction d has ``W_ih`` (n_in, G*H), ``W_hh`` (H, G*H), a bias
    ``b`` (G*H,) and for the GRU ``b_hn`` (H,), with G the gates of the cell
    (see :mod:`skrnn._kernels._recurrent` for the gate order and equations).
    A bidirectional layer runs a second direction on every sequence reversed
    in time and concatenates both directions' states, aligned in time, as the
    next layer's input. The head maps features to raw outputs, ``Z = F W_out +
    b_out``: for a many-to-one network F is each sequence's final state (of the
    reverse direction, its state after reading the whole sequence backwards);
    for a per-step network F is the top layer's output at every step.

    The flat vector holds every weight matrix first and every bias after, so
    L2 regularisation acts on the slice ``[:n_weights]``.
    """

    def __init__(self, *, cell, activation, n_features, hidden_layer_sizes,
                 bidirectional, n_outputs, per_step):
        self.cell = cell
        self.relu = activation == "relu"
        self.n_features = int(n_features)
        self.hidden_layer_sizes = tuple(int(h) for h in hidden_layer_sizes)
        self.n_directions = 2 if bidirectional else 1
        self.n_outputs = int(n_outputs)
        self.per_step = per_step
        self.n_gates = N_GATES[cell]

        weights, biases = [], []
        n_in = self.n_features
        for layer, hidden in enumerate(self.hidden_layer_sizes):
            for direction in range(self.n_directions):
                key = (layer, direction)
                weights.append((key, "W_ih", (n_in, self.n_gates * hidden)))
                weights.append((key, "W_hh", (hidden, self.n_gates * hidden)))
                biases.append((key, "b", (self.n_gates * hidden,)))
                if cell == "gru":
                    biases.append((key, "b_hn", (hidden,)))
            n_in = hidden * self.n_directions
        self.n_head_in = n_in
        weights.append(("head", "W_out", (n_in, self.n_outputs)))
        biases.append(("head", "b_out", (self.n_outputs,)))

        self._slots = []
        offset = 0
        for key, name, shape in weights + biases:
            size = int(np.prod(shape))
            self._slots.append((key, name, shape, offset))
            offset += size
        self.n_weights = sum(int(np.prod(shape)) for _, _, shape in weights)
        self.n_params = offset

    # -- parameters ------------------------------------------------------

    def views(self, flat):
        """Named views into the flat vector ``flat`` (parameters or gradient)."""
        layers = [[{} for _ in range(self.n_directions)]
                  for _ in self.hidden_layer_sizes]
        head = {}
        for key, name, shape, offset in self._slots:
            view = flat[offset:offset + int(np.prod(shape))].reshape(shape)
            if key == "head":
                head[name] = view
            else:
                layers[key[0]][key[1]][name] = view
        return _Params(layers, head["W_out"], head["b_out"])

    def steps_per_batch(self, itemsize=4):
        """Time steps per predict minibatch.

        :meth:`predict` keeps per step only what the layers pass on (the
        packed input, the states below the top layer, a bidirectional layer's
        reversed input and merged output); the gates live in a chunk of fixed
        size. Long blocks give each step's recurrent product many rows, which
        is what makes it efficient: for an LSTM of 64 units, 32768-step blocks
        predicted 1.7 times faster than 4096-step ones, and at 256 units
        65536-step blocks 1.4 times faster than 9000-step ones. So a block
        holds up to 64 MiB of those per-step arrays, and 2048 to 65536 steps.
        """
        per_step = self.n_features
        n_layers = len(self.hidden_layer_sizes)
        for layer, hidden in enumerate(self.hidden_layer_sizes):
            if self.per_step or layer < n_layers - 1:
                # states, and for two directions the reversed input and the
                # merged output
                per_step += self.n_directions * hidden * (
                    3 if self.n_directions == 2 else 1)
        return int(np.clip((64 << 20) // (per_step * itemsize), 2048, 1 << 16))

    def init_params(self, rng, dtype):
        """A new flat parameter vector, initialised for recurrent training.

        Input weights and the head are Glorot-uniform; each gate's recurrent
        block is a random orthogonal matrix, so the recurrence neither grows
        nor shrinks a state at the start of training; biases are zero except
        the LSTM forget gate's, which is 1 so the cell remembers by default.
        """
        flat = np.zeros(self.n_params, dtype=dtype)
        params = self.views(flat)
        for layer, hidden in enumerate(self.hidden_layer_sizes):
            for p in params.layers[layer]:
                n_in = p["W_ih"].shape[0]
                bound = np.sqrt(6.0 / (n_in + hidden))
                p["W_ih"][...] = rng.uniform(-bound, bound, p["W_ih"].shape)
                for gate in range(self.n_gates):
                    block = slice(gate * hidden, (gate + 1) * hidden)
                    p["W_hh"][:, block] = _orthogonal(rng, hidden)
                if self.cell == "lstm":
                    p["b"][hidden:2 * hidden] = 1.0
        bound = np.sqrt(6.0 / (self.n_head_in + self.n_outputs))
        params.W_out[...] = rng.uniform(-bound, bound, params.W_out.shape)
        return flat

    # -- forward ---------------------------------------------------------

    def forward(self, params, batch, ws, dropout=0.0, rng=None):
        """Raw outputs Z of a packed minibatch; keeps what backward needs.

        Returns Z of shape (B, n_outputs) for a many-to-one network, in the
        batch's packed order, or (N, n_outputs) in packed rows for a per-step
        one; what backward needs stays in ``ws``, so concurrent calls with
        their own work spaces share nothing. With ``dropout > 0`` (training)
        the input of every layer above the first and of the head is multiplied
        by a fresh inverted-dropout mask drawn from rng.
        """
        n_layers = len(self.hidden_layer_sizes)
        cells, masks = [], []
        inp = batch.X
        for layer in range(n_layers):
            states, layer_cells = [], []
            for direction in range(self.n_directions):
                x = self._direction_input(inp, batch, ws, layer, direction)
                bufs = self._cell_forward(params.layers[layer][direction], x,
                                          batch, ws, (layer, direction))
                states.append(bufs["H"])
                layer_cells.append((x, bufs))
            cells.append(layer_cells)
            if layer == n_layers - 1 and not self.per_step:
                # The head reads final states; both directions keep theirs
                # at the rows batch.last.
                feats = np.concatenate([s[batch.last] for s in states], axis=1)
            else:
                feats = self._merge_directions(states, batch, ws, layer)
            mask = None
            if dropout > 0:
                mask = _dropout_mask(rng, feats.shape, dropout, ws, ("mask", layer))
                feats = feats * mask
            masks.append(mask)
            inp = feats
        ws.trace = (cells, masks, feats)
        return feats @ params.W_out + params.b_out

    @staticmethod
    def _direction_input(inp, batch, ws, layer, direction):
        """A direction's input: the layer's, reversed in time for direction 1."""
        if direction == 0:
            return inp
        if isinstance(inp, np.ndarray):
            return np.take(inp, batch.rev, axis=0,
                           out=ws.get(("x_rev", layer), inp.shape))
        return inp[batch.rev]

    def _merge_directions(self, states, batch, ws, layer):
        """One layer's output: both directions' states side by side, in time order."""
        if self.n_directions == 1:
            return states[0]
        hidden = states[0].shape[1]
        out = ws.get(("out", layer), (batch.n_steps, 2 * hidden))
        out[:, :hidden] = states[0]
        out[:, hidden:] = states[1][batch.rev]
        return out

    def _cell_forward(self, p, x, batch, ws, key):
        n = batch.n_steps
        hidden = p["W_hh"].shape[0]
        width = self.n_gates * hidden
        dtype = ws.dtype
        sparse = not isinstance(x, np.ndarray)
        bufs = {"H": ws.get(key + ("H",), (n, hidden))}
        if self.cell == "rnn":
            pre = bufs["H"]
        else:
            pre = bufs["G"] = ws.get(key + ("G",), (n, width))
        if sparse:
            # Sparse input enters through scipy's sparse product; the kernel
            # then starts from the pre-activations.
            np.add(x @ p["W_ih"], p["b"], out=pre)
            x_k = np.empty((0, 0), dtype=dtype)
        else:
            x_k = x
        project = not sparse
        if self.cell == "rnn":
            _recurrent.rnn_forward(x_k, p["W_ih"], p["W_hh"], p["b"],
                                   batch.batch_sizes, bufs["H"], self.relu, project)
        elif self.cell == "lstm":
            bufs["C"] = ws.get(key + ("C",), (n, hidden))
            _recurrent.lstm_forward(x_k, p["W_ih"], p["W_hh"], p["b"],
                                    batch.batch_sizes, bufs["G"], bufs["C"],
                                    bufs["H"], project)
        else:
            bufs["Hn"] = ws.get(key + ("Hn",), (n, hidden))
            _recurrent.gru_forward(x_k, p["W_ih"], p["W_hh"], p["b"], p["b_hn"],
                                   batch.batch_sizes, bufs["G"], bufs["Hn"],
                                   bufs["H"], project)
        return bufs

    # -- forward only (predict) ------------------------------------------

    def predict(self, params, batch, ws):
        """Raw outputs Z of a packed minibatch, as :meth:`forward` without dropout.

        Keeps nothing for a backward pass: the kernels hold the input
        projection of one chunk of steps at a time and only the states a
        layer passes on (every step's, below the top or for a per-step head;
        the final ones at the top of a many-to-one network), so the work
        space stays small and in cache.
        """
        n_layers = len(self.hidden_layer_sizes)
        inp = batch.X
        for layer in range(n_layers):
            keep_all = self.per_step or layer < n_layers - 1
            states = []
            for direction in range(self.n_directions):
                x = self._direction_input(inp, batch, ws, layer, direction)
                states.append(self._cell_infer(params.layers[layer][direction],
                                               x, batch, ws, (layer, direction),
                                               keep_all))
            if keep_all:
                inp = self._merge_directions(states, batch, ws, layer)
            else:
                # Row j of each holds sequence j's final state, as the rows
                # batch.last of the training forward do.
                inp = np.concatenate(states, axis=1)
        return inp @ params.W_out + params.b_out

    def _cell_infer(self, p, x, batch, ws, key, keep_all):
        n, n_seqs = batch.n_steps, batch.n_sequences
        hidden = p["W_hh"].shape[0]
        width = self.n_gates * hidden
        H = ws.get(key + ("H",), (n if keep_all else n_seqs, hidden))
        if isinstance(x, np.ndarray):
            project = True
            rows = max(int(batch.batch_sizes[0]),
                       _INFER_CHUNK_BYTES // (width * ws.dtype.itemsize))
            A = ws.get(("A",), (min(rows, n), width))
        else:
            # Sparse input enters through scipy's sparse product.
            project = False
            A = np.add(x @ p["W_ih"], p["b"], out=ws.get(("A",), (n, width)))
            x = np.empty((0, 0), dtype=ws.dtype)
        if self.cell == "rnn":
            _recurrent.rnn_infer(x, p["W_ih"], p["W_hh"], p["b"],
                                 batch.batch_sizes, A, H, self.relu, keep_all,
                                 project)
        elif self.cell == "lstm":
            _recurrent.lstm_infer(x, p["W_ih"], p["W_hh"], p["b"],
                                  batch.batch_sizes, A,
                                  ws.get(("C",), (n_seqs, hidden)), H,
                                  keep_all, project)
        else:
            _recurrent.gru_infer(x, p["W_ih"], p["W_hh"], p["b"], p["b_hn"],
                                 batch.batch_sizes, A,
                                 ws.get(("R",), (n_seqs, width)), H, keep_all,
                                 project)
        return H

    # -- backward --------------------------------------------------------

    def backward(self, params, grads, batch, dZ, ws, input_grad=False):
        """Fill ``grads`` (views of the flat gradient) from dZ = dLoss/dZ.

        Uses what the last :meth:`forward` kept in ``ws``; dZ has the shape
        of its Z. With ``input_grad`` (dense input only) also returns the
        gradient with respect to the packed input ``batch.X``, which training
        never needs.
        """
        if input_grad and not isinstance(batch.X, np.ndarray):
            raise ValueError(
                "input_grad=True needs dense input: the first layer of sparse "
                "input takes its gradient through scipy's product, not dX.")
        cells, masks, feats = ws.trace
        np.matmul(feats.T, dZ, out=grads.W_out)
        dZ.sum(axis=0, out=grads.b_out)
        d_out = dZ @ params.W_out.T
        n = batch.n_steps
        for layer in range(len(self.hidden_layer_sizes) - 1, -1, -1):
            hidden = self.hidden_layer_sizes[layer]
            if masks[layer] is not None:
                d_out *= masks[layer]
            if layer == len(self.hidden_layer_sizes) - 1 and not self.per_step:
                d_states = []
                for direction in range(self.n_directions):
                    d = ws.zeros(("dH", direction), (n, hidden))
                    cols = slice(direction * hidden, (direction + 1) * hidden)
                    d[batch.last] = d_out[:, cols]
                    d_states.append(d)
            else:
                d_states = self._split_directions(d_out, hidden, batch, ws)
            d_inputs = [
                self._cell_backward(params.layers[layer][direction],
                                    grads.layers[layer][direction], x, bufs,
                                    d_states[direction], batch, ws,
                                    (layer, direction),
                                    need_dx=layer > 0 or input_grad)
                for direction, (x, bufs) in enumerate(cells[layer])
            ]
            if layer > 0 or input_grad:
                d_out = d_inputs[0]
                if self.n_directions == 2:
                    # The reverse direction read its input through batch.rev.
                    d_out = d_out + d_inputs[1][batch.rev]
        return d_out.copy() if input_grad else None

    def _split_directions(self, d_out, hidden, batch, ws):
        """Gradient of a layer's output split into its directions' own row orders."""
        if self.n_directions == 1:
            return [np.ascontiguousarray(d_out)]
        fwd = ws.get(("dH", 0), (batch.n_steps, hidden))
        fwd[...] = d_out[:, :hidden]
        bwd = ws.get(("dH", 1), (batch.n_steps, hidden))
        np.take(d_out[:, hidden:], batch.rev, axis=0, out=bwd)
        return [fwd, bwd]

    def _cell_backward(self, p, g, x, bufs, d_states, batch, ws, key, need_dx):
        n = batch.n_steps
        hidden = p["W_hh"].shape[0]
        width = self.n_gates * hidden
        n_seqs = batch.n_sequences
        dtype = ws.dtype
        sparse = not isinstance(x, np.ndarray)
        empty = np.empty((0, 0), dtype=dtype)
        x_k = empty if sparse else x
        # Alternate by layer parity: this layer's dX must not overwrite the
        # gradient of its own states, which is the layer above's dX.
        dX = (ws.get(("dX", key[0] % 2, key[1]), (n, x.shape[1])) if need_dx
              else empty)
        hprev = ws.get(("Hprev",), (n, hidden))
        # W_hh transposed once per call: the per-step products then need no
        # transposition, which BLAS runs faster.
        w_hh_t = ws.get(("W_hhT",), (width, hidden))
        input_grads = not sparse
        if self.cell == "rnn":
            d_pre = ws.get(("dG",), (n, hidden))
            _recurrent.rnn_backward(
                x_k, p["W_ih"], p["W_hh"], batch.batch_sizes, bufs["H"],
                d_states, d_pre, hprev, ws.get(("carry",), (n_seqs, hidden)),
                dX, g["W_ih"], g["W_hh"], g["b"], self.relu, input_grads,
                need_dx, w_hh_t)
        elif self.cell == "lstm":
            d_pre = ws.get(("dG",), (n, width))
            _recurrent.lstm_backward(
                x_k, p["W_ih"], p["W_hh"], batch.batch_sizes, bufs["G"],
                bufs["C"], bufs["H"], d_states, d_pre, hprev,
                ws.get(("carry",), (n_seqs, hidden)),
                ws.get(("carry_c",), (n_seqs, hidden)), dX, g["W_ih"],
                g["W_hh"], g["b"], input_grads, need_dx, w_hh_t)
        else:
            d_pre = ws.get(("dG",), (n, width))
            _recurrent.gru_backward(
                x_k, p["W_ih"], p["W_hh"], batch.batch_sizes, bufs["G"],
                bufs["Hn"], bufs["H"], d_states, d_pre,
                ws.get(("dGh",), (n, width)), hprev,
                ws.get(("carry",), (n_seqs, hidden)), dX, g["W_ih"],
                g["W_hh"], g["b"], g["b_hn"], input_grads, need_dx, w_hh_t)
        if sparse:
            g["W_ih"][...] = x.T @ d_pre
            d_pre.sum(axis=0, out=g["b"])
        return dX


def _orthogonal(rng, n):
    """A random n x n orthogonal matrix (QR of a Gaussian, signs fixed)."""
    q, r = np.linalg.qr(rng.standard_normal((n, n)))
    return q * np.sign(np.diag(r))


def _dropout_mask(rng, shape, rate, ws, key):
    """Inverted-dropout mask: 0 with probability rate, else 1 / (1 - rate)."""
    mask = ws.get(key, shape)
    keep = rng.random(shape) >= rate
    np.multiply(keep, 1.0 / (1.0 - rate), out=mask)
    return mask
