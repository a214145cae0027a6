"""Prediction: validated input streamed through the network in blocks of
sequences on threads, with states in and out."""

import numpy as np
from sklearn.utils.validation import check_is_fitted

from ._network import Workspace
from ._packing import PackedBatch, step_budget_batches
from ._sequences import Sequences
from ._state import RecurrentState
from ._threads import Threads, single_threaded_blas


class PredictionMixin:
    """The raw outputs of a fitted :class:`~skrnn._base.BaseRNN`."""

    def _raw_predict(self, X, initial_state=None, return_state=False):
        """Validated X, its raw outputs (see :meth:`_raw_predict_seqs`) and,
        with ``return_state``, the final states as a RecurrentState."""
        check_is_fitted(self, "_params")
        # Values deferred: each block packs and checks its own rows from the
        # caller's arrays, in the threads, with no copy of all of X first.
        seqs = self._validate_sequences(X, reset=False,
                                        allow_empty=self._per_step,
                                        defer_values=True)
        if initial_state is not None or return_state:
            if self._network.n_directions == 2:
                raise ValueError(
                    f"{type(self).__name__} with bidirectional=True cannot carry "
                    "its state from one predict call to the next: its reverse "
                    "direction reads each sequence from its end. Predict whole "
                    "sequences, or fit with bidirectional=False.")
            if initial_state is not None:
                initial_state = self._check_initial_state(initial_state, seqs)
        raw, state = self._raw_predict_seqs(seqs, initial_state, return_state)
        # Users read float64 outputs, as scikit-learn returns, whatever the
        # precision the network computed them in.
        return seqs, raw.astype(np.float64, copy=False), state

    def _check_initial_state(self, state, seqs):
        if not isinstance(state, RecurrentState):
            raise TypeError(
                "initial_state must be the RecurrentState that predict returned "
                f"with return_state=True; got {type(state).__name__}.")
        net = self._network
        return state._checked(
            seqs.n_sequences, net.hidden_layer_sizes, net._cell.cell_state,
            net.readout if net.pooled else None, self._params.dtype,
            type(self).__name__)

    def _raw_predict_seqs(self, seqs, initial_state=None, return_state=False):
        """Raw outputs in the caller's order: (n, k), or per step (sum T_i, k),
        and the final states (a RecurrentState, or None without ``return_state``).

        Streams over length-sorted minibatches with a work space of its own,
        so it writes nothing to the estimator and threads can share a model.
        Each sequence starts from its row of ``initial_state`` (zero if None).
        """
        net = self._network
        params = net.views(self._params)
        rows = seqs.n_steps if self._per_step else seqs.n_sequences
        out = np.empty((rows, self.n_outputs_), dtype=self._params.dtype)
        final = None
        if return_state:
            # A zero-length sequence (a tagger's) keeps the state it came with.
            final = (RecurrentState._zeros(
                seqs.n_sequences, net.hidden_layer_sizes, net._cell.cell_state,
                net.readout if net.pooled else None, self._params.dtype)
                if initial_state is None
                else initial_state[np.arange(seqs.n_sequences)])
        nonempty = np.flatnonzero(seqs.lengths > 0)
        max_steps = net.steps_per_batch(itemsize=self._params.dtype.itemsize)
        lengths = seqs.lengths[nonempty]

        def run(idx):
            # Each block writes its own rows of out and final.
            ws = spaces.get()
            try:
                members = nonempty[idx]
                if lengths[idx[0]] > max_steps and net.n_directions == 1:
                    # One sequence longer than the budget: in chunks of time,
                    # the state carried over, so that memory beyond its data
                    # does not grow with its length (a reversed direction
                    # needs the whole sequence at once).
                    self._predict_in_chunks(seqs, int(members[0]), max_steps,
                                            params, ws, out, initial_state, final)
                    return
                batch = PackedBatch(seqs, members)
                Z = self._predict_batch(batch, params, ws, batch.order,
                                        initial_state, final)
                out[batch.rows(self._per_step)] = Z
            finally:
                spaces.put(ws)

        with single_threaded_blas(), Threads(self.n_jobs) as threads:
            spaces = threads.slots(lambda: Workspace(self._params.dtype))
            threads.map(run, step_budget_batches(lengths, max_steps))
        return out, final

    def _predict_batch(self, batch, params, ws, rows, initial_state, final):
        """Raw outputs of one packed batch whose sequence j is row ``rows[j]``
        of ``initial_state`` and ``final`` (either may be None)."""
        net = self._network
        state = pool = None
        if initial_state is not None:
            state = initial_state._layers(rows)
            pool = initial_state._pool_rows(rows)
        if final is None and pool is None:
            return net.predict(params, batch, ws, initial_state=state)
        result = net.predict(params, batch, ws, initial_state=state,
                             return_state=True, pool_state=pool)
        if final is not None:
            final._write(rows, result[1], result[2] if net.pooled else None)
        return result[0]

    def _predict_in_chunks(self, seqs, i, max_steps, params, ws, out,
                           initial_state, final):
        start, stop = int(seqs.offsets[i]), int(seqs.offsets[i + 1])
        rows = np.array([i])
        # The chunks hand their state on through `carried`, row i of a state
        # of its own, so that `initial_state` is only read.
        carried = (initial_state[rows] if initial_state is not None else
                   RecurrentState._zeros(
                       1, self._network.hidden_layer_sizes,
                       self._network._cell.cell_state,
                       self._network.readout if self._network.pooled else None,
                       self._params.dtype))
        for a in range(start, stop, max_steps):
            b = min(a + max_steps, stop)
            chunk = Sequences(seqs.data[a:b], np.array([0, b - a], dtype=np.int64))
            Z = self._predict_batch(PackedBatch(chunk, [0]), params, ws,
                                    np.array([0]), carried if a > start or
                                    initial_state is not None else None, carried)
            if self._per_step:
                out[a:b] = Z
        if not self._per_step:
            out[i] = Z[0]
        if final is not None:
            final._write(rows, carried._layers([0]),
                         carried._pool_rows([0]) if self._network.pooled else None)

    # -- persistence -----------------------------------------------------
