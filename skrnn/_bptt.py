"""Truncated backpropagation through time: the windows of a minibatch, and
their loss and gradient (``bptt_steps``)."""

import numpy as np

from . import _readout
from ._kernels._pack import packed_gather
from ._packing import PackedBatch
from ._sequences import Sequences, block_rows


def _window_of(seqs, starts, lengths):
    """Sequences of the steps ``starts[j]:starts[j] + lengths[j]`` of ``seqs``'
    data, and the data row of each of its rows; a view of one sequence's."""
    if starts.shape[0] == 1:
        a = int(starts[0])
        b = a + int(lengths[0])
        return (Sequences(seqs.data[a:b], np.array([0, b - a], dtype=np.int64)),
                np.arange(a, b))
    rows, offsets = block_rows(starts, lengths)
    return Sequences(seqs.data[rows], offsets), rows


def _window_rows(seqs, starts, lengths, k, bptt_steps):
    """Window k of the sequences (starts, lengths), sorted longest first:
    those longer than ``k * bptt_steps``, a prefix, and its data rows."""
    first = k * bptt_steps
    n = int(np.count_nonzero(lengths > first))
    return _window_of(seqs, starts[:n] + first,
                      np.minimum(lengths[:n] - first, bptt_steps))


def _packed_window_rows(starts, lengths, k, bptt_steps):
    """The data rows of window k in packed order (its PackedBatch's gather
    through its data rows), without copying its data."""
    first = k * bptt_steps
    n = int(np.count_nonzero(lengths > first))
    lengths = np.minimum(lengths[:n] - first, bptt_steps)
    at_least = np.bincount(lengths)[::-1].cumsum()[::-1]
    rows = np.empty(int(lengths.sum()), dtype=np.intp)
    packed_gather(np.ascontiguousarray(starts[:n] + first, dtype=np.int64),
                  np.ascontiguousarray(at_least[1:], dtype=np.intp), rows)
    return rows


def _carried(state, n):
    """The initial state of a window's first ``n`` sequences, carried from
    the last window's final ``state`` (None: the first window). A reverse
    direction starts every window from the zero state."""
    if state is None:
        return None
    out = []
    for row in state:
        forward = {kind: value[:n] for kind, value in row[0].items()}
        out.append([forward] + [{kind: np.zeros_like(value)
                                 for kind, value in forward.items()}
                                for _ in row[1:]])
    return out


def _prefix(masks, n):
    """Recurrent masks of the first ``n`` sequences."""
    if masks is None:
        return None
    return [[m[:n] for m in row] for row in masks]


class TruncatedBPTTMixin:
    """The loss and gradient of a minibatch cut into windows of time steps;
    mixed into :class:`~skrnn._base.BaseRNN`, whose network, loss and
    ``_per_step`` it reads."""

    def _truncated_weight_total(self, seqs, weights, idx, bptt_steps):
        """The weight of the rows the windows of ``idx`` read, summed window
        by window as the full pass sums its packed rows."""
        lengths = seqs.offsets[idx + 1] - seqs.offsets[idx]
        by_length = np.argsort(-lengths, kind="stable")
        if not self._per_step:
            return weights[idx[by_length]].sum()
        starts, lengths = seqs.offsets[idx[by_length]], lengths[by_length]
        total = 0.0
        for k in range(int(-(-lengths[0] // bptt_steps))):
            total += weights[_packed_window_rows(starts, lengths, k,
                                                 bptt_steps)].sum()
        return total

    def _truncated_loss_grad(self, seqs, targets, weights, idx, params, grad,
                             ws, bptt_steps, dropout=0.0, rng=None,
                             recurrent_dropout=0.0, weight_total=None):
        """Truncated BPTT of the minibatch ``idx``: (loss, weight_total), its
        gradient written into ``grad``; None if the minibatch weighs nothing.
        A shard of a minibatch is passed the minibatch's ``weight_total``.

        Each sequence is cut into consecutive windows of ``bptt_steps`` steps
        (the last may be shorter). Window k of every sequence long enough is
        packed with the others' into one minibatch, so the recurrent products
        stay as wide as the minibatch; the states a window ends in start the
        next one, as constants: the gradient is taken within each window
        only. Only one window's trace is alive at a time, so memory is
        O(batch x bptt_steps x H) whatever the lengths.

        A per-step loss is taken in every window. A loss on each sequence's
        final state (the 'last' readout) reaches only its last window; the
        earlier windows run forward only. A pooled readout pools every
        window's steps (see :meth:`_pooled_windows`). The loss is the
        minibatch loss (the weights are divided by the minibatch's total),
        so the windows' gradients are summed into one gradient for one
        optimiser step.

        A reverse direction (bidirectional) is truncated by the same
        windows: it reads each window backwards from the zero state, as if
        the window were the whole sequence; only the forward direction
        carries its state from window to window. The recurrent-dropout mask
        of a sequence is drawn once and holds over all its windows.

        With ``bptt_steps`` at least the longest length this is the
        untruncated :meth:`_minibatch_loss_grad`, bit for bit.
        """
        net = self._network
        views = net.views(params)
        offsets = seqs.offsets
        lengths = offsets[idx + 1] - offsets[idx]
        # The packed order of the whole minibatch: every window's active
        # sequences are a prefix of it, in the same order.
        by_length = np.argsort(-lengths, kind="stable")
        order, lengths = idx[by_length], lengths[by_length]
        starts = offsets[order]
        n_windows = -(-lengths // bptt_steps)
        if weight_total is None:
            weight_total = self._truncated_weight_total(seqs, weights, idx,
                                                        bptt_steps)
        if weight_total <= 0:
            return None
        masks = None
        if recurrent_dropout > 0:
            masks = net.recurrent_masks(rng, order.shape[0], recurrent_dropout,
                                        params.dtype)
        if net.pooled:
            loss = self._pooled_windows(seqs, targets, weights, order, starts,
                                        lengths, n_windows, views, grad, ws,
                                        bptt_steps, weight_total, dropout,
                                        rng, masks)
        elif self._per_step:
            loss = self._per_step_windows(seqs, targets, weights, starts,
                                          lengths, n_windows, views, grad, ws,
                                          bptt_steps, weight_total, dropout,
                                          rng, masks)
        else:
            loss = self._last_window(seqs, targets, weights, order, starts,
                                     lengths, n_windows, views, grad, ws,
                                     bptt_steps, weight_total, dropout, rng,
                                     masks)
        return loss, weight_total

    def _per_step_windows(self, seqs, targets, weights, starts, lengths,
                          n_windows, views, grad, ws, bptt_steps,
                          weight_total, dropout, rng, masks):
        """Per-step loss: every window's forward and backward, summed."""
        net = self._network
        state, loss = None, 0.0
        grads = net.views(grad)
        window_grad = ws.get(("window_grad",), grad.shape)
        window_grads = net.views(window_grad)
        for k in range(int(n_windows[0])):
            window, rows = _window_rows(seqs, starts, lengths, k, bptt_steps)
            batch = PackedBatch(window, np.arange(window.n_sequences))
            n = batch.n_sequences
            Z, final = net.forward(
                views, batch, ws, dropout=dropout, rng=rng,
                initial_state=_carried(state, n),
                return_state=True, recurrent_mask=_prefix(masks, n))
            rows = rows[batch.gather]
            window_loss, dZ = self._loss.loss_gradient(
                Z, targets[rows], weights[rows] / weight_total)
            loss += window_loss
            # The first window writes the gradient, the others add to it.
            net.backward(views, grads if k == 0 else window_grads, batch,
                         dZ.astype(Z.dtype, copy=False), ws)
            if k > 0:
                grad += window_grad
            state = final
        return loss

    def _pooled_windows(self, seqs, targets, weights, order, starts, lengths,
                        n_windows, views, grad, ws, bptt_steps, weight_total,
                        dropout, rng, masks):
        """Pooled readout: the features pool every window's steps, so a first
        pass runs the windows forward and merges their pooled statistics,
        which give the features, the loss and dL/dF; a second runs each
        window again and takes its gradient, its steps' share of dL/dF
        flowing back from the same global features (mean: 1/T of it; max:
        to the first maximum over all windows; attention: through the
        softmax over all steps). The second pass replays the first's
        dropout draws, so both see the same network; one window is run
        once."""
        net = self._network
        kind = net.readout
        n_k = int(n_windows[0])

        def window_forward(k, state):
            window, _ = _window_rows(seqs, starts, lengths, k, bptt_steps)
            batch = PackedBatch(window, np.arange(window.n_sequences))
            n = batch.n_sequences
            S, final = net.forward(views, batch, ws, dropout=dropout, rng=rng,
                                   initial_state=_carried(state, n),
                                   return_state=True,
                                   recurrent_mask=_prefix(masks, n),
                                   steps_only=True)
            return batch, S, final

        state, stats, draws = None, None, []
        for k in range(n_k):
            if dropout > 0 and n_k > 1:
                draws.append(rng.get_state())
            batch, S, state = window_forward(k, state)
            stats = _readout.merge_prefix(kind, stats, _readout.statistics(
                kind, S, batch, views.w_att), batch.n_sequences)
        Z, head = net.pooled_head(views, stats, ws, dropout=dropout, rng=rng)
        loss, dZ = self._loss.loss_gradient(Z, targets[order],
                                            weights[order] / weight_total)
        dF, d_W_out, d_b_out = net.pooled_head_backward(
            views, dZ.astype(Z.dtype, copy=False), head)
        F = head[0]
        after = rng.get_state() if draws else None
        grads = net.views(grad)
        window_grad = ws.get(("window_grad",), grad.shape)
        d_w_att, taken, state = None, None, None
        for k in range(n_k):
            if n_k > 1:
                if draws:
                    rng.set_state(draws[k])
                batch, S, state = window_forward(k, state)
            n = batch.n_sequences
            dS, d_w, taken = _readout.chunk_backward(
                kind, dF[:n], S, batch, F[:n], _readout.prefix(stats, n),
                views.w_att, None if taken is None else taken[:n])
            if d_w is not None:
                d_w_att = d_w if d_w_att is None else d_w_att + d_w
            # The first window writes the gradient, the others add to it.
            net.backward(views, grads if k == 0 else net.views(window_grad),
                         batch, dS, ws, d_steps=True)
            if k > 0:
                grad += window_grad
        if after is not None:
            rng.set_state(after)
        grads.W_out[...] = d_W_out
        grads.b_out[...] = d_b_out
        if d_w_att is not None:
            grads.w_att[...] = d_w_att
        return loss

    def _last_window(self, seqs, targets, weights, order, starts, lengths,
                     n_windows, views, grad, ws, bptt_steps, weight_total,
                     dropout, rng, masks):
        """Loss on the final state: the earlier windows forward only, then
        each sequence's last window with its gradient."""
        net = self._network
        n_all = order.shape[0]
        carried = None
        for k in range(int(n_windows[0]) - 1):
            # Sequences with a window after this one: a prefix, all of whose
            # windows k are full.
            n = int(np.count_nonzero(n_windows > k + 1))
            window, _ = _window_rows(seqs, starts[:n], lengths[:n], k,
                                     bptt_steps)
            batch = PackedBatch(window, np.arange(n))
            initial = _carried(carried, n)
            if dropout > 0 or masks is not None:
                # A training pass, so the carried state sees the same dropout
                # as the window that takes the gradient; its trace is dropped.
                _, final = net.forward(views, batch, ws, dropout=dropout,
                                       rng=rng, initial_state=initial,
                                       return_state=True,
                                       recurrent_mask=_prefix(masks, n))
            else:
                _, final = net.predict(views, batch, ws, initial_state=initial,
                                       return_state=True)
            if carried is None:
                carried = net.zero_state(n_all, views.W_out.dtype)
            for layer, row in enumerate(final):
                for kind, value in row[0].items():
                    carried[layer][0][kind][:n] = value
        first = (n_windows - 1) * bptt_steps
        window, _ = _window_of(seqs, starts + first, lengths - first)
        batch = PackedBatch(window, np.arange(n_all))
        initial = None
        if carried is not None:
            initial = [[{kind: value[batch.order] for kind, value in d.items()}
                        for d in row] for row in carried]
        Z = net.forward(views, batch, ws, dropout=dropout, rng=rng,
                        initial_state=initial,
                        recurrent_mask=None if masks is None else
                        [[m[batch.order] for m in row] for row in masks])
        rows = order[batch.order]
        loss, dZ = self._loss.loss_gradient(Z, targets[rows],
                                            weights[rows] / weight_total)
        net.backward(views, net.views(grad), batch,
                     dZ.astype(Z.dtype, copy=False), ws)
        return loss
