"""The stacked, optionally bidirectional recurrent network on a flat parameter array."""

import math
from typing import NamedTuple

import numpy as np

from . import _readout
from ._kernels import _recurrent

# Bytes of input projection the predict kernels form at a time: a chunk of
# steps that stays in cache while the time loop reads it (one step at least).
_INFER_CHUNK_BYTES = 1 << 18


class _Cell(NamedTuple):
    """What the passes need to know of a cell: one row per cell, read by every pass."""

    code: int  # the kernels' cell enum
    n_gates: int
    cell_state: bool  # the LSTM's c, stored and carried beside h
    b_hn: bool  # the GRU's bias inside the reset product, with its own R work space
    forget_gate: int  # gate block whose bias starts at 1, or -1


CELLS = {
    "rnn": _Cell(_recurrent.ELMAN, 1, False, False, -1),
    "lstm": _Cell(_recurrent.LSTM, 4, True, False, 1),
    "gru": _Cell(_recurrent.GRU, 3, False, True, -1),
}


class Workspace:
    """Named work buffers reused from minibatch to minibatch.

    A buffer grows to the largest size asked of it and is handed out as a
    C-contiguous view of its first elements, so a fit allocates its work space
    during the first minibatches and then never again.
    """

    def __init__(self, dtype):
        self.dtype = np.dtype(dtype)
        self._buffers = {}
        # What the last forward pass kept for the backward pass (a _Trace).
        self.trace = None
        self._views = {}

    def get(self, key, shape):
        size = math.prod(shape)
        buf = self._buffers.get(key)
        if buf is None or buf.shape[0] < size:
            buf = self._buffers[key] = np.empty(max(size, 1), dtype=self.dtype)
        return buf[:size].reshape(shape)

    def views(self, net, flat):
        """``net.views(flat)``, made once per array: a work space serves one
        fit, whose parameter and gradient vectors stay the same arrays."""
        hit = self._views.get(id(flat))
        # The entry holds flat, so its id is not reused while it is kept.
        if hit is None or hit[0] is not flat or hit[1] is not net:
            if len(self._views) >= 8:
                # A caller passing new arrays every time: keep few alive.
                self._views.clear()
            hit = self._views[id(flat)] = (flat, net, net.views(flat))
        return hit[2]

    def zeros(self, key, shape):
        out = self.get(key, shape)
        out.fill(0)
        return out


class _Params:
    """Views of one flat vector as the weights of each layer and the head."""

    __slots__ = ("layers", "W_out", "b_out", "w_att")

    def __init__(self, layers, W_out, b_out, w_att=None):
        self.layers = layers
        self.W_out = W_out
        self.b_out = b_out
        self.w_att = w_att  # the attention readout's score vector


class _Trace(NamedTuple):
    """What a training forward pass keeps for its backward pass."""

    cells: list  # [layer][direction]: (the direction's input, its kernel buffers)
    masks: list  # [layer]: the dropout mask on the layer's output, or None
    features: np.ndarray  # what the head read
    pooled: tuple  # a pooled readout's cache for its backward, or None


class RecurrentNetwork:
    """Stacked recurrent layers read through a linear output head.

    Layer l, direction d has ``W_ih`` (n_in, G*H), ``W_hh`` (H, G*H), a bias
    ``b`` (G*H,) and for the GRU ``b_hn`` (H,), with G the gates of the cell
    (see :mod:`skrnn._kernels._recurrent` for the gate order and equations).
    A bidirectional layer runs a second direction on every sequence reversed
    in time and concatenates both directions' states, aligned in time, as the
    next layer's input. The head maps features to raw outputs, ``Z = F W_out +
    b_out``: for a many-to-one network with the ``'last'`` readout F is each
    sequence's final state (of the reverse direction, its state after reading
    the whole sequence backwards); with a pooled readout (``'mean'``,
    ``'max'``, ``'attention'``, see :mod:`skrnn._readout`) it pools the top
    layer's output over each sequence's steps; for a per-step network F is
    the top layer's output at every step.

    States: ``state[layer][direction]`` is a dict with ``"h"`` and, for the
    LSTM, ``"c"``, each (B, H) with one row per sequence in the batch's packed
    order. :meth:`forward` and :meth:`predict` start from ``initial_state``
    (zero when None) and return the final states with ``return_state=True``;
    :meth:`backward` takes the gradient with respect to the final states and
    returns the gradient with respect to the initial ones. A reverse
    direction's initial state is its state before the last step in time.

    The flat vector holds every weight matrix first and every bias after, so
    L2 regularisation acts on the slice ``[:n_weights]``.
    """

    def __init__(self, *, cell, activation, n_features, hidden_layer_sizes,
                 bidirectional, n_outputs, per_step, readout="last"):
        self.cell = cell
        self._cell = CELLS[cell]
        self.relu = activation == "relu"
        self.n_features = int(n_features)
        self.hidden_layer_sizes = tuple(int(h) for h in hidden_layer_sizes)
        self.n_directions = 2 if bidirectional else 1
        self.n_outputs = int(n_outputs)
        self.per_step = per_step
        if readout not in _readout.READOUTS:
            raise ValueError(f"readout must be one of {_readout.READOUTS}; got "
                             f"{readout!r}.")
        # A per-step head reads every step as it is: there is nothing to pool.
        self.readout = "last" if per_step else readout
        self.pooled = self.readout != "last"
        self.n_gates = self._cell.n_gates

        weights, biases = [], []
        n_in = self.n_features
        for layer, hidden in enumerate(self.hidden_layer_sizes):
            for direction in range(self.n_directions):
                key = (layer, direction)
                weights.append((key, "W_ih", (n_in, self.n_gates * hidden)))
                weights.append((key, "W_hh", (hidden, self.n_gates * hidden)))
                biases.append((key, "b", (self.n_gates * hidden,)))
                if self._cell.b_hn:
                    biases.append((key, "b_hn", (hidden,)))
            n_in = hidden * self.n_directions
        self.n_head_in = n_in
        if self.readout == "attention":
            weights.append(("head", "w_att", (n_in,)))
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
            view = flat[offset:offset + math.prod(shape)].reshape(shape)
            if key == "head":
                head[name] = view
            else:
                layers[key[0]][key[1]][name] = view
        return _Params(layers, head["W_out"], head["b_out"], head.get("w_att"))

    def steps_per_batch(self, itemsize=4):
        """Time steps per predict minibatch.

        :meth:`predict` keeps per step only what the layers pass on (the
        packed input, the states below the top layer, a bidirectional layer's
        reversed input and merged output); the gates live in a chunk of fixed
        size. Long blocks give each step's recurrent product many rows, which
        is what makes it efficient, so a block holds up to 64 MiB of those
        per-step arrays, and 2048 to 32768 steps: at most that, so that a
        predict of many sequences has several blocks for n_jobs threads.
        """
        per_step = self.n_features
        n_layers = len(self.hidden_layer_sizes)
        for layer, hidden in enumerate(self.hidden_layer_sizes):
            if self.per_step or self.pooled or layer < n_layers - 1:
                # states, and for two directions the reversed input and the
                # merged output
                per_step += self.n_directions * hidden * (
                    3 if self.n_directions == 2 else 1)
        return int(np.clip((64 << 20) // (per_step * itemsize), 2048, 1 << 15))

    def init_params(self, rng, dtype):
        """A new flat parameter vector, initialised for recurrent training.

        Input weights and the head are Glorot-uniform; each gate's recurrent
        block is a random orthogonal matrix, so the recurrence neither grows
        nor shrinks a state at the start of training; biases are zero except
        the LSTM forget gate's, which is 1 so the cell remembers by default.
        The attention readout's score vector starts at zero: attention starts
        as the mean over the steps.
        """
        flat = np.zeros(self.n_params, dtype=dtype)
        params = self.views(flat)
        forget = self._cell.forget_gate
        for layer, hidden in enumerate(self.hidden_layer_sizes):
            for p in params.layers[layer]:
                n_in = p["W_ih"].shape[0]
                bound = np.sqrt(6.0 / (n_in + hidden))
                p["W_ih"][...] = rng.uniform(-bound, bound, p["W_ih"].shape)
                for gate in range(self.n_gates):
                    block = slice(gate * hidden, (gate + 1) * hidden)
                    p["W_hh"][:, block] = _orthogonal(rng, hidden)
                if forget >= 0:
                    p["b"][forget * hidden:(forget + 1) * hidden] = 1.0
        bound = np.sqrt(6.0 / (self.n_head_in + self.n_outputs))
        params.W_out[...] = rng.uniform(-bound, bound, params.W_out.shape)
        return flat

    def zero_state(self, n_sequences, dtype):
        """The zero state of ``n_sequences`` sequences, in the states' layout."""
        return [[self._state_dict(np.zeros((n_sequences, hidden), dtype=dtype),
                                  np.zeros((n_sequences, hidden), dtype=dtype))
                 for _ in range(self.n_directions)]
                for hidden in self.hidden_layer_sizes]

    def _state_dict(self, h, c):
        return {"h": h, "c": c} if self._cell.cell_state else {"h": h}

    def _check_state(self, state, batch, dtype, what):
        """``state`` as contiguous arrays of the compute dtype, after checking
        that it has one row per sequence of the batch and the layers' units."""
        if state is None:
            return None
        n_layers = len(self.hidden_layer_sizes)
        if len(state) != n_layers or any(len(s) != self.n_directions
                                         for s in state):
            raise ValueError(
                f"{what} has {len(state)} layers of "
                f"{[len(s) for s in state]} directions; the network has "
                f"{n_layers} of {self.n_directions}.")
        out = []
        for layer, hidden in enumerate(self.hidden_layer_sizes):
            row = []
            for direction, s in enumerate(state[layer]):
                kinds = set(s)
                if kinds != set(self._state_dict(0, 0)):
                    raise ValueError(
                        f"{what} of layer {layer}, direction {direction} has "
                        f"{sorted(kinds)}; a {self.cell} state has "
                        f"{sorted(self._state_dict(0, 0))}.")
                arrays = {}
                for kind, value in s.items():
                    value = np.ascontiguousarray(value, dtype=dtype)
                    if value.shape != (batch.n_sequences, hidden):
                        raise ValueError(
                            f"{what}[{layer}][{direction}][{kind!r}] has shape "
                            f"{value.shape}; it needs "
                            f"{(batch.n_sequences, hidden)}.")
                    arrays[kind] = value
                row.append(arrays)
            out.append(row)
        return out

    # -- forward ---------------------------------------------------------

    def forward(self, params, batch, ws, dropout=0.0, rng=None,
                initial_state=None, return_state=False, recurrent_mask=None,
                steps_only=False):
        """Raw outputs Z of a packed minibatch; keeps what backward needs.

        Returns Z of shape (B, n_outputs) for a many-to-one network, in the
        batch's packed order, or (N, n_outputs) in packed rows for a per-step
        one, and with ``return_state`` the final states too; what backward
        needs stays in ``ws``, so concurrent calls with their own work spaces
        share nothing. With ``dropout > 0`` (training) the input of every
        layer above the first and of the head is multiplied by a fresh
        inverted-dropout mask drawn from rng. ``recurrent_mask[layer][direction]``
        (B, H), in the batch's packed order (see :meth:`recurrent_masks`),
        multiplies the previous state in every recurrent product of that
        layer direction (recurrent dropout); backward applies the same.
        With ``steps_only`` the pass stops at the top layer's output at every
        step (packed rows, both directions side by side), before any readout,
        head dropout or head, and returns it with the final states; backward
        then starts from its gradient (``d_steps``).
        """
        initial_state = self._check_state(initial_state, batch, ws.dtype,
                                          "initial_state")
        recurrent_mask = self._check_masks(recurrent_mask, batch, ws.dtype)
        n_layers = len(self.hidden_layer_sizes)
        cells, masks, final = [], [], []
        pooled = None
        inp = batch.X
        for layer in range(n_layers):
            layer_cells, layer_final = [], []
            for direction in range(self.n_directions):
                x = self._direction_input(inp, batch, ws, layer, direction)
                state = initial_state[layer][direction] if initial_state else None
                bufs = self._cell_forward(
                    params.layers[layer][direction], x, batch, ws,
                    (layer, direction), state,
                    recurrent_mask[layer][direction] if recurrent_mask else None)
                layer_cells.append((x, bufs))
                layer_final.append(bufs)
            cells.append(layer_cells)
            final.append(layer_final)
            top_pools = layer == n_layers - 1 and self.pooled
            if steps_only and layer == n_layers - 1:
                feats = self._merge_directions([b["H"] for b in layer_final],
                                               batch, ws, layer)
                ws.trace = _Trace(cells, masks + [None], None, None)
                return feats, self._final_states(final)
            if layer == n_layers - 1 and self.readout == "last" and not self.per_step:
                # The head reads each sequence's final state, of both directions.
                feats = np.concatenate([b["h_n"] for b in layer_final], axis=1)
            else:
                feats = self._merge_directions([b["H"] for b in layer_final],
                                               batch, ws, layer)
            if top_pools:
                feats, pooled = _readout.forward(self.readout, feats, batch,
                                                 params.w_att)
            mask = None
            if dropout > 0:
                mask = _dropout_mask(rng, feats.shape, dropout, ws, ("mask", layer))
                feats = feats * mask
            masks.append(mask)
            inp = feats
        ws.trace = _Trace(cells, masks, feats, pooled)
        Z = feats @ params.W_out + params.b_out
        if not return_state:
            return Z
        return Z, self._final_states(final)

    def _final_states(self, final):
        """Copies of every layer direction's final states, from its buffers."""
        return [[_copy_state(self._state_dict(b["h_n"], b.get("c_n")))
                 for b in row] for row in final]

    def pooled_head(self, params, stats, ws, dropout=0.0, rng=None):
        """Raw outputs Z (B, n_outputs) of a pooled readout's statistics merged
        over every chunk of the sequences (truncated BPTT's windows), with the
        head's dropout, and what :meth:`pooled_head_backward` needs."""
        F = np.ascontiguousarray(_readout.features(self.readout, stats),
                                 dtype=ws.dtype)
        feats, mask = F, None
        if dropout > 0:
            mask = _dropout_mask(rng, F.shape, dropout, ws,
                                 ("mask", len(self.hidden_layer_sizes) - 1))
            feats = F * mask
        return feats @ params.W_out + params.b_out, (F, feats, mask)

    @staticmethod
    def pooled_head_backward(params, dZ, head):
        """(dL/dF, dL/dW_out, dL/db_out) of :meth:`pooled_head`'s outputs."""
        _, feats, mask = head
        dF = dZ @ params.W_out.T
        if mask is not None:
            dF *= mask
        return dF, feats.T @ dZ, dZ.sum(axis=0)

    @staticmethod
    def _direction_input(inp, batch, ws, layer, direction):
        """A direction's input: the layer's, reversed in time for direction 1."""
        if direction == 0:
            return inp
        if isinstance(inp, np.ndarray):
            # rev is a permutation of the rows: mode='clip' only skips the
            # buffered copy that bounds checking into ``out`` costs.
            return np.take(inp, batch.rev, axis=0, mode="clip",
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

    def _kernel_input(self, x, p, pre, ws):
        """(X, project) for a kernel: dense input is projected by the kernel;
        sparse input enters through scipy's sparse product into ``pre``."""
        if isinstance(x, np.ndarray):
            return x, True
        np.add(x @ p["W_ih"], p["b"], out=pre)
        return np.empty((0, 0), dtype=ws.dtype), False

    def recurrent_masks(self, rng, n_sequences, rate, dtype):
        """Recurrent-dropout masks, ``[layer][direction]`` of (n_sequences, H).

        Inverted dropout: each entry is 0 with probability ``rate``, else
        ``1 / (1 - rate)``; one mask per sequence, held for all its steps.
        """
        return [[np.multiply(rng.random((n_sequences, hidden)) >= rate,
                             1.0 / (1.0 - rate), dtype=dtype)
                 for _ in range(self.n_directions)]
                for hidden in self.hidden_layer_sizes]

    def _check_masks(self, masks, batch, dtype):
        if masks is None:
            return None
        out = []
        for layer, hidden in enumerate(self.hidden_layer_sizes):
            row = []
            for direction in range(self.n_directions):
                m = np.ascontiguousarray(masks[layer][direction], dtype=dtype)
                if m.shape != (batch.n_sequences, hidden):
                    raise ValueError(
                        f"recurrent_mask[{layer}][{direction}] has shape "
                        f"{m.shape}; it needs {(batch.n_sequences, hidden)}.")
                row.append(m)
            out.append(row)
        return out

    def _cell_forward(self, p, x, batch, ws, key, state, mask=None):
        n, n_seqs = batch.n_steps, batch.n_sequences
        hidden = p["W_hh"].shape[0]
        width = self.n_gates * hidden
        cell = self._cell
        H = ws.get(key + ("H",), (n, hidden))
        # The Elman cell's pre-activations are formed where its states go.
        G = ws.get(key + ("G",), (n, width)) if cell.n_gates > 1 else H
        bufs = {"H": H, "G": G, "h_n": ws.get(key + ("h_n",), (n_seqs, hidden))}
        if cell.cell_state:
            bufs["C"] = ws.get(key + ("C",), (n, hidden))
            bufs["c_n"] = ws.get(key + ("c_n",), (n_seqs, hidden))
        if cell.b_hn:
            bufs["Hn"] = ws.get(key + ("Hn",), (n, hidden))
        if state is not None:
            bufs["h0"] = state["h"]
            if cell.cell_state:
                bufs["c0"] = state["c"]
        if mask is not None:
            bufs["mask"] = mask
        x_k, project = self._kernel_input(x, p, G, ws)
        _recurrent.forward(
            cell.code, self.relu, x_k, p["W_ih"], p["W_hh"], p["b"],
            batch.batch_sizes, G, H, b_hn=p.get("b_hn"), C=bufs.get("C"),
            Hn=bufs.get("Hn"),
            R=ws.get(("R",), (n_seqs, width)) if cell.b_hn else None,
            h0=bufs.get("h0"), c0=bufs.get("c0"), h_n=bufs["h_n"],
            c_n=bufs.get("c_n"), mask=mask,
            Hm=None if mask is None else ws.get(("Hm",), (n_seqs, hidden)),
            project=project)
        return bufs

    # -- forward only (predict) ------------------------------------------

    def predict(self, params, batch, ws, initial_state=None, return_state=False,
                pool_state=None):
        """Raw outputs Z of a packed minibatch, as :meth:`forward` without dropout.

        Keeps nothing for a backward pass: the kernels hold the input
        projection of one chunk of steps at a time and only the states a
        layer passes on (every step's, below the top, for a per-step head or
        a pooled readout; the final ones at the top of a 'last' readout), so
        the work space stays small and in cache. With ``return_state`` also
        returns the final states, and for a pooled readout its running
        statistics (see :mod:`skrnn._readout`) as a third value; passing
        those back as ``pool_state`` continues the pooling where it stopped.
        """
        initial_state = self._check_state(initial_state, batch, ws.dtype,
                                          "initial_state")
        n_layers = len(self.hidden_layer_sizes)
        # Sums and maxima read each direction's states where the kernels
        # left them: no merged copy of the top layer.
        by_direction = self.readout in ("mean", "max")
        inp = batch.X
        final = []
        for layer in range(n_layers):
            keep_all = self.per_step or self.pooled or layer < n_layers - 1
            states, layer_final = [], []
            for direction in range(self.n_directions):
                x = self._direction_input(inp, batch, ws, layer, direction)
                state = initial_state[layer][direction] if initial_state else None
                H, last = self._cell_infer(params.layers[layer][direction], x,
                                           batch, ws, (layer, direction),
                                           keep_all, state, return_state)
                states.append(H)
                layer_final.append(last)
            final.append(layer_final)
            if layer == n_layers - 1 and by_direction:
                inp = states
            elif keep_all:
                inp = self._merge_directions(states, batch, ws, layer)
            else:
                # Row j of each holds sequence j's final state, as h_n of the
                # training forward does.
                inp = np.concatenate(states, axis=1)
        stats = None
        if self.pooled:
            new = (_readout.direction_statistics(self.readout, inp, batch)
                   if by_direction else
                   _readout.statistics(self.readout, inp, batch, params.w_att))
            stats = _readout.merge(self.readout, pool_state, new)
            inp = _readout.features(self.readout, stats).astype(ws.dtype, copy=False)
        Z = inp @ params.W_out + params.b_out
        if not return_state:
            return Z
        return (Z, final, stats) if self.pooled else (Z, final)

    def _cell_infer(self, p, x, batch, ws, key, keep_all, state, return_state):
        n, n_seqs = batch.n_steps, batch.n_sequences
        hidden = p["W_hh"].shape[0]
        width = self.n_gates * hidden
        cell = self._cell
        H = ws.get(key + ("H",), (n if keep_all else n_seqs, hidden))
        if isinstance(x, np.ndarray):
            rows = max(int(batch.batch_sizes[0]),
                       _INFER_CHUNK_BYTES // (width * ws.dtype.itemsize))
            A = ws.get(("A",), (min(rows, n), width))
        else:
            A = ws.get(("A",), (n, width))
        x_k, project = self._kernel_input(x, p, A, ws)
        C = ws.get(("C",), (n_seqs, hidden)) if cell.cell_state else None
        h_n = (np.empty((n_seqs, hidden), dtype=ws.dtype)
               if return_state and keep_all else None)
        _recurrent.infer(
            cell.code, self.relu, x_k, p["W_ih"], p["W_hh"], p["b"],
            batch.batch_sizes, A, H, b_hn=p.get("b_hn"), C=C,
            R=ws.get(("R",), (n_seqs, width)) if cell.b_hn else None,
            h0=state["h"] if state else None,
            c0=state["c"] if state and cell.cell_state else None, h_n=h_n,
            keep_all=keep_all, project=project)
        if not return_state:
            return H, None
        return H, _copy_state(self._state_dict(H if h_n is None else h_n, C))

    # -- generation ------------------------------------------------------

    def generate(self, flat, h, c, y0, exog, n_steps):
        """Outputs of ``n_steps`` steps, each step's input being the previous
        output (``y0`` (B, n_outputs) first) beside its row of ``exog``
        (n_steps, B, n_exog); unidirectional per-step networks only.

        ``h`` (and for the LSTM ``c``) are each layer's (B, H) states, which
        the run starts from; returns the outputs (n_steps, B, n_outputs) and
        the final states. One kernel call runs every step and layer.
        """
        offsets = {(key, name): offset for key, name, _, offset in self._slots}
        layout, n_in = [], self.n_outputs + exog.shape[2]
        for layer, hidden in enumerate(self.hidden_layer_sizes):
            key = (layer, 0)
            layout.append([offsets[key, "W_ih"], offsets[key, "W_hh"],
                           offsets[key, "b"], offsets.get((key, "b_hn"), -1),
                           n_in, hidden])
            n_in = hidden
        dtype = flat.dtype
        B = y0.shape[0]
        h_flat = np.concatenate([np.ascontiguousarray(a, dtype=dtype).ravel()
                                 for a in h])
        c_flat = (np.concatenate([np.ascontiguousarray(a, dtype=dtype).ravel()
                                  for a in c]) if self._cell.cell_state
                  else np.empty(0, dtype=dtype))
        widest = self.n_gates * max(self.hidden_layer_sizes)
        Y = np.empty((n_steps, B, self.n_outputs), dtype=dtype)
        _recurrent.generate(
            self._cell.code, self.relu, flat, np.array(layout, dtype=np.intp),
            offsets["head", "W_out"], offsets["head", "b_out"], h_flat, c_flat,
            np.ascontiguousarray(y0, dtype=dtype),
            np.ascontiguousarray(exog, dtype=dtype), Y,
            np.empty((B, exog.shape[2] + self.n_outputs), dtype=dtype),
            np.empty((B, widest), dtype=dtype),
            np.empty((B, widest), dtype=dtype) if self._cell.b_hn else None)
        bounds = np.cumsum([0] + [B * units for units in self.hidden_layer_sizes])
        split = [flat_part.reshape(B, units) for flat_part, units in zip(
            np.split(h_flat, bounds[1:-1]), self.hidden_layer_sizes)]
        split_c = ([part.reshape(B, units) for part, units in zip(
            np.split(c_flat, bounds[1:-1]), self.hidden_layer_sizes)]
            if self._cell.cell_state else None)
        return Y, split, split_c

    # -- backward --------------------------------------------------------

    def backward(self, params, grads, batch, dZ, ws, input_grad=False,
                 d_final_state=None, return_state_grad=False, d_steps=False):
        """Fill ``grads`` (views of the flat gradient) from dZ = dLoss/dZ.

        Uses what the last :meth:`forward` kept in ``ws``; dZ has the shape
        of its Z. ``d_final_state`` is the gradient of the loss with respect
        to the final states, if they feed a loss (as the next chunk of a
        sequence run in chunks does). With ``input_grad`` (dense input only)
        returns the gradient with respect to the packed input ``batch.X``,
        which training never needs, else None; with ``return_state_grad``
        also the gradient with respect to the initial states. The recurrent
        masks the forward pass was given (kept in its trace) apply again.
        With ``d_steps`` (after a ``steps_only`` forward) dZ is the gradient
        of the top layer's output at every step, and the head's gradients
        are zero.
        """
        if input_grad and not isinstance(batch.X, np.ndarray):
            raise ValueError(
                "input_grad=True needs dense input: the first layer of sparse "
                "input takes its gradient through scipy's product, not dX.")
        d_final_state = self._check_state(d_final_state, batch, ws.dtype,
                                          "d_final_state")
        cells, masks, feats, pooled = ws.trace
        if d_steps:
            grads.W_out[...] = 0
            grads.b_out[...] = 0
            if grads.w_att is not None:
                grads.w_att[...] = 0
            d_out = dZ
        else:
            np.matmul(feats.T, dZ, out=grads.W_out)
            dZ.sum(axis=0, out=grads.b_out)
            d_out = dZ @ params.W_out.T
        n_layers = len(self.hidden_layer_sizes)
        d_initial = [None] * n_layers
        for layer in range(n_layers - 1, -1, -1):
            hidden = self.hidden_layer_sizes[layer]
            if masks[layer] is not None:
                d_out *= masks[layer]
            if layer == n_layers - 1 and self.pooled and not d_steps:
                d_out = _readout.backward(self.readout, d_out, pooled, batch,
                                          params.w_att, grads.w_att)
            d_last = [None] * self.n_directions
            if (layer == n_layers - 1 and self.readout == "last"
                    and not self.per_step and not d_steps):
                # The head read only the final states: their gradient enters
                # the kernel as the final-state gradient, and no step's
                # states get one from above.
                d_states = [None] * self.n_directions
                d_last = [d_out[:, direction * hidden:(direction + 1) * hidden]
                          for direction in range(self.n_directions)]
            else:
                d_states = self._split_directions(d_out, hidden, batch, ws)
            results = [
                self._cell_backward(
                    params.layers[layer][direction],
                    grads.layers[layer][direction], x, bufs,
                    d_states[direction],
                    d_final_state[layer][direction] if d_final_state else None,
                    batch, ws, (layer, direction),
                    need_dx=layer > 0 or input_grad, d_last=d_last[direction])
                for direction, (x, bufs) in enumerate(cells[layer])
            ]
            d_initial[layer] = [d_state for _, d_state in results]
            if layer > 0 or input_grad:
                d_out = results[0][0]
                if self.n_directions == 2:
                    # The reverse direction read its input through batch.rev.
                    d_out = d_out + results[1][0][batch.rev]
        dX = d_out.copy() if input_grad else None
        if not return_state_grad:
            return dX
        return dX, [[_copy_state(d) for d in row] for row in d_initial]

    def _split_directions(self, d_out, hidden, batch, ws):
        """Gradient of a layer's output split into its directions' own row orders."""
        if self.n_directions == 1:
            return [np.ascontiguousarray(d_out)]
        fwd = ws.get(("dH", 0), (batch.n_steps, hidden))
        fwd[...] = d_out[:, :hidden]
        bwd = ws.get(("dH", 1), (batch.n_steps, hidden))
        np.take(d_out[:, hidden:], batch.rev, axis=0, mode="clip", out=bwd)
        return [fwd, bwd]

    def _cell_backward(self, p, g, x, bufs, d_states, d_final, batch, ws, key,
                       need_dx, d_last=None):
        n, n_seqs = batch.n_steps, batch.n_sequences
        hidden = p["W_hh"].shape[0]
        width = self.n_gates * hidden
        cell = self._cell
        sparse = not isinstance(x, np.ndarray)
        empty = np.empty((0, 0), dtype=ws.dtype)
        # Alternate by layer parity: this layer's dX must not overwrite the
        # gradient of its own states, which is the layer above's dX.
        dX = (ws.get(("dX", key[0] % 2, key[1]), (n, x.shape[1])) if need_dx
              else empty)
        # The gradient with respect to the final states goes in; the one
        # with respect to the initial states comes out.
        # ``d_last`` (None: none) is the loss's own gradient wrt the final
        # states h; ``d_states`` (None: none) the gradient from above.
        dh = ws.get(key + ("dh",), (n_seqs, hidden))
        if d_final is not None and d_last is not None:
            np.add(d_final["h"], d_last, out=dh)
        elif d_final is not None or d_last is not None:
            dh[...] = d_final["h"] if d_last is None else d_last
        else:
            dh.fill(0)
        dc = None
        if cell.cell_state:
            dc = ws.get(key + ("dc",), (n_seqs, hidden))
            if d_final is not None:
                dc[...] = d_final["c"]
            else:
                dc.fill(0)
        d_pre = ws.get(("dG",), (n, width))
        _recurrent.backward(
            cell.code, self.relu, empty if sparse else x, p["W_ih"], p["W_hh"],
            batch.batch_sizes, bufs["G"], bufs["H"], d_states, d_pre,
            ws.get(("Hprev",), (n, hidden)), dh, dX, g["W_ih"], g["W_hh"],
            g["b"], C=bufs.get("C"), Hn=bufs.get("Hn"),
            dGh=ws.get(("dGh",), (n, width)) if cell.b_hn else None, dc=dc,
            db_hn=g.get("b_hn"), h0=bufs.get("h0"), c0=bufs.get("c0"),
            # W_hh transposed once per call: the per-step products then need
            # no transposition, which BLAS runs faster.
            W_hhT=ws.get(("W_hhT",), (width, hidden)), mask=bufs.get("mask"),
            Hm=ws.get(("Hm",), (n_seqs, hidden)) if "mask" in bufs else None,
            input_grads=not sparse, need_dx=need_dx)
        if sparse:
            g["W_ih"][...] = x.T @ d_pre
            d_pre.sum(axis=0, out=g["b"])
        return dX, self._state_dict(dh, dc)


def _copy_state(state):
    """A state that outlives the work space its arrays came from."""
    return {kind: value.copy() for kind, value in state.items()}


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
