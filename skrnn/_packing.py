"""Minibatch planning: the length-sorted, time-major packed layout the kernels read."""

import numpy as np

from ._kernels._pack import packed_gather, packed_layout, packed_reversal

# The default step budget of step_budget_batches, which L-BFGS's full-batch
# passes use (predict sizes its blocks by RecurrentNetwork.steps_per_batch):
# minibatches of at most this many time steps, or one sequence if a single
# sequence is longer, so memory does not grow with the number of sequences.
STEPS_PER_BATCH = 1 << 15

# BLAS takes 32-bit dimensions: a packed minibatch's rows must fit one.
_MAX_BLAS_ROWS = (1 << 31) - 1


class PackedBatch:
    """A minibatch of sequences in the packed layout.

    The sequences ``indices`` of a :class:`~skrnn._sequences.Sequences` are
    sorted by length, longest first (stably, so ties keep the caller's order).
    Their N time steps are stored time-major: the rows of step t are the block
    ``starts[t]:starts[t + 1]`` of ``batch_sizes[t]`` rows, the number of
    sequences longer than t, and row j of each block belongs to the j-th
    sequence in ``order``.

    Attributes
    ----------
    order : ndarray of shape (B,)
        Indices of the batch's sequences into the container, in packed order.
    lengths : ndarray of shape (B,)
        Their lengths, non-increasing.
    batch_sizes : ndarray of shape (T,), dtype intp
        Active sequences at each step; T is the longest length.
    starts : ndarray of shape (T + 1,)
        First packed row of each step.
    gather : ndarray of shape (N,)
        Row of the container's data that each packed row holds; made on
        first use, as a batch packed from the caller's arrays needs none.
    rev : ndarray of shape (N,)
        Row permutation that reverses every sequence in time: packed row
        ``rev[k]`` holds the step ``L_j - 1 - t`` of the sequence whose step t
        is at row k. It is an involution, so it maps a reversed buffer back too;
        made on first use, since only bidirectional layers read it.
    last : ndarray of shape (B,)
        Packed row of each sequence's last step; for the reversed sequences
        the same row holds their last step, which is the first in time.
    X : ndarray or csr_matrix of shape (N, n_features)
        The packed input.
    """

    __slots__ = ("order", "lengths", "batch_sizes", "starts", "last", "X",
                 "_n_steps", "_offsets", "_gather", "_rev")

    def __init__(self, seqs, indices):
        indices = np.asarray(indices, dtype=np.intp)
        # The minibatch's own lengths, not seqs.lengths[indices]: that
        # property differences all N offsets, which made every minibatch
        # O(N) in time and memory (a fit O(N^2 / batch_size)).
        offsets = seqs.offsets
        lengths = offsets[indices + 1] - offsets[indices]
        by_length = np.argsort(-lengths, kind="stable")
        self.order = indices[by_length]
        self.lengths = lengths = lengths[by_length]
        # Checked before anything of the batch's length is allocated.
        n_steps = int(lengths.sum(dtype=np.int64))
        if n_steps > _MAX_BLAS_ROWS:
            raise ValueError(
                f"A minibatch of {n_steps} time steps exceeds the {_MAX_BLAS_ROWS} "
                "rows BLAS can index in one product; use a smaller batch_size "
                "or split the longest sequences.")

        self._n_steps = n_steps
        self._offsets = np.ascontiguousarray(offsets, dtype=np.int64)
        self.batch_sizes, self.starts, self.last = packed_layout(
            self._offsets, self.order, lengths)
        self._gather = self._rev = None
        self.X = seqs.pack(self)

    @property
    def gather(self):
        if self._gather is None:
            self._gather = np.empty(self._n_steps, dtype=np.intp)
            packed_gather(self._offsets[self.order], self.batch_sizes,
                          self._gather)
        return self._gather

    @property
    def rev(self):
        # Only bidirectional layers read it: made on first use.
        if self._rev is None:
            self._rev = np.empty(self.n_steps, dtype=np.intp)
            packed_reversal(self.lengths, self.starts, self.batch_sizes,
                            self._rev)
        return self._rev

    def rows(self, per_step):
        """Rows of the container's per-step (``per_step``) or per-sequence
        arrays that the batch's outputs, in packed order, stand for.

        Parameters
        ----------
        per_step : bool
            Whether the arrays have one row per time step (as ``seqs.data``)
            or one per sequence.

        Returns
        -------
        rows : ndarray of shape (N,) or (B,)
            ``gather`` or ``order``.
        """
        return self.gather if per_step else self.order

    @property
    def n_sequences(self):
        return self.order.shape[0]

    @property
    def n_steps(self):
        return self._n_steps


def minibatch_indices(n_sequences, batch_size, rng=None):
    """Split range(n_sequences), shuffled if ``rng`` is given, into minibatches."""
    indices = np.arange(n_sequences, dtype=np.intp)
    if rng is not None:
        rng.shuffle(indices)
    return [indices[i:i + batch_size] for i in range(0, n_sequences, batch_size)]


def step_budget_batches(lengths, max_steps=STEPS_PER_BATCH):
    """Length-sorted minibatches of at most ``max_steps`` steps each, as few
    as that allows and as even in steps as whole sequences let them be.

    A sequence longer than ``max_steps`` is a minibatch of its own. Sorting by
    length before chunking keeps the active block of each step as large as
    possible, which is what makes the per-step products efficient. Even
    blocks share threads evenly: filling each to ``max_steps`` left a short
    last one, and a thread with nothing to do while another ran a full one.
    """
    lengths = np.asarray(lengths)
    order = np.argsort(-lengths, kind="stable").astype(np.intp)
    ends = np.cumsum(lengths[order])
    total = int(ends[-1]) if ends.shape[0] else 0
    batches = []
    start, done = 0, 0
    # One iteration per minibatch, not per sequence. Each ends at the first
    # sequence that reaches its share of the steps left, unless that would
    # pass max_steps.
    while start < order.shape[0]:
        left = total - done
        share = left / max(1, -(-left // max_steps))
        even = int(np.searchsorted(ends, done + share, side="left")) + 1
        limit = int(np.searchsorted(ends, done + max_steps, side="right"))
        stop = max(min(even, limit), start + 1)
        batches.append(order[start:stop])
        done = int(ends[stop - 1])
        start = stop
    return batches
