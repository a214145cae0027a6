"""Pooled readouts: each sequence's steps reduced to one vector (mean, max, attention).

A pooled readout reads the top layer's output S at every step (both
directions side by side, aligned in time) and reduces each sequence's rows to
one vector ``F_j``:

- ``'mean'``: ``F_j = sum_t S_jt / T_j``;
- ``'max'``: ``F_j = max_t S_jt`` per unit (the first maximum gets the gradient);
- ``'attention'``: scores ``s_jt = S_jt . w``, weights ``a_jt = softmax_t(s_j)``
  within the sequence, ``F_j = sum_t a_jt S_jt``.

Each is also written as running *statistics* that merge chunk by chunk
(sums and counts; maxima; a max-shifted softmax's running maximum, normaliser
and weighted sum), so that a sequence predicted in chunks with its state
carried over reads the same features as the whole sequence, to round-off.
"""

import numpy as np

from ._kernels._pack import pool_rows, spread_rows
from ._sequences import offsets_from_lengths

READOUTS = ("last", "mean", "max", "attention")


def sequence_rows(batch):
    """Packed rows of each sequence in turn, and where each sequence's rows begin.

    Returns ``rows`` (N,) and ``starts`` (B,): sequence j (in packed order)
    owns ``rows[starts[j]:starts[j] + lengths[j]]``, its steps in time order.
    """
    lengths = batch.lengths
    starts = offsets_from_lengths(lengths, np.intp)[:-1]
    # Step t of sequence j is packed row starts_of_step[t] + j.
    t = np.arange(batch.n_steps, dtype=np.intp) - np.repeat(starts, lengths)
    rows = batch.starts[t] + np.repeat(np.arange(lengths.shape[0], dtype=np.intp),
                                       lengths)
    return rows, starts


def statistics(kind, S, batch, w_att=None, arg=None):
    """The running statistics of one chunk of steps ``S`` (packed rows).

    For 'max', ``arg`` (B, D) intp, if given, receives the packed row of
    each maximum (the first in time).
    """
    if kind in ("mean", "max"):
        return direction_statistics(kind, [S], batch, arg)
    rows, starts = sequence_rows(batch)
    by_seq = S[rows]
    scores = by_seq @ w_att
    top = np.maximum.reduceat(scores, starts)
    e = np.exp(scores - np.repeat(top, batch.lengths))
    return {"top": top, "norm": np.add.reduceat(e, starts),
            "acc": np.add.reduceat(e[:, None] * by_seq, starts, axis=0)}


def direction_statistics(kind, states, batch, arg=None):
    """:func:`statistics` of 'mean' or 'max' over a layer's output given as
    its directions' states (the second in reversed time, as the kernels
    leave it), without merging them; each is reduced in time order, so the
    result equals that of the merged output bit for bit."""
    dtype = states[0].dtype
    width = sum(H.shape[1] for H in states)
    out = np.empty((batch.n_sequences, width), dtype=dtype)
    column = 0
    for direction, H in enumerate(states):
        block = slice(column, column + H.shape[1])
        pool_rows(kind == "max", np.ascontiguousarray(H), batch.starts,
                  batch.batch_sizes, out[:, block],
                  None if arg is None else arg[:, block],
                  batch.rev if direction else None)
        column += H.shape[1]
    if kind == "mean":
        return {"sum": out, "count": batch.lengths.astype(dtype)}
    return {"max": out}


def merge(kind, old, new):
    """Statistics of two consecutive chunks of the same sequences."""
    if old is None:
        return new
    if kind == "mean":
        return {"sum": old["sum"] + new["sum"], "count": old["count"] + new["count"]}
    if kind == "max":
        return {"max": np.maximum(old["max"], new["max"])}
    top = np.maximum(old["top"], new["top"])
    a, b = np.exp(old["top"] - top), np.exp(new["top"] - top)
    return {"top": top, "norm": a * old["norm"] + b * new["norm"],
            "acc": a[:, None] * old["acc"] + b[:, None] * new["acc"]}


def features(kind, stats):
    """The pooled features ``F`` (B, D) of merged statistics."""
    if kind == "mean":
        return stats["sum"] / stats["count"][:, None]
    if kind == "max":
        return stats["max"]
    return stats["acc"] / stats["norm"][:, None]


def forward(kind, S, batch, w_att=None):
    """Pooled features of a training minibatch and what :func:`backward` needs."""
    arg = (np.empty((batch.n_sequences, S.shape[1]), dtype=np.intp)
           if kind == "max" else None)
    stats = statistics(kind, S, batch, w_att, arg)
    F = features(kind, stats)
    return np.ascontiguousarray(F, dtype=S.dtype), (S, F, stats, arg)


def backward(kind, dF, cache, batch, w_att=None, d_w_att=None):
    """dL/dS (packed rows) from dL/dF; writes dL/dw into ``d_w_att`` for attention."""
    S, F, stats, arg = cache
    if kind == "mean":
        return _spread_mean(dF, S, batch, stats["count"])
    if kind == "max":
        # The gradient of each maximum goes to the step forward took it from.
        return _scatter_max(dF, S, arg)
    dS, d_w, _ = chunk_backward(kind, dF, S, batch, F, stats, w_att)
    if d_w is not None:
        d_w_att[...] = d_w
    return dS


def _spread_mean(dF, S, batch, count):
    """dL/dS of the mean: dF_j / T_j (T_j of every chunk) at each of j's rows."""
    dS = np.empty(S.shape, dtype=S.dtype)
    spread_rows(dF / count[:, None].astype(dF.dtype), batch.starts,
                batch.batch_sizes, dS)
    return dS


def _scatter_max(dF, S, arg, found=None):
    """dL/dS of the max: dF at the row ``arg`` each maximum came from (only
    the sequences and units ``found`` marks, if given), zero elsewhere."""
    dS = np.zeros(S.shape, dtype=S.dtype)
    if found is None:
        dS[arg, np.arange(S.shape[1])] = dF
    else:
        seq, unit = np.nonzero(found)
        dS[arg[seq, unit], unit] = dF[seq, unit]
    return dS


def prefix(stats, n):
    """Statistics of the first ``n`` sequences."""
    return {key: value[:n] for key, value in stats.items()}


def merge_prefix(kind, stats, new, n):
    """Merge a chunk's statistics ``new`` of the first ``n`` sequences into
    ``stats`` (None: the first chunk, which holds every sequence)."""
    if stats is None:
        return new
    merged = merge(kind, prefix(stats, n), new)
    for key, value in merged.items():
        stats[key][:n] = value
    return stats


def chunk_backward(kind, dF, S, batch, F, stats, w_att=None, taken=None):
    """dL/dS of one chunk of steps S (packed rows) of sequences whose pooled
    features ``F`` and merged statistics ``stats`` cover every chunk.

    Returns ``(dS, d_w, taken)``: ``d_w`` the chunk's share of dL/dw for
    attention (else None), ``taken`` for max, (B, D) booleans of the units
    whose maximum an earlier chunk already took (None: none did), updated
    with this chunk's, so the first maximum over all chunks gets the gradient.
    """
    if kind == "mean":
        return _spread_mean(dF, S, batch, stats["count"]), None, taken
    if kind == "max":
        # The chunk's own first maximum of each unit, and its row: the one
        # the gradient goes to if it is the maximum of every chunk, and no
        # earlier chunk took it.
        S = np.ascontiguousarray(S)
        top = np.empty_like(S, shape=F.shape)
        arg = np.empty(F.shape, dtype=np.intp)
        pool_rows(True, S, batch.starts, batch.batch_sizes, top, arg)
        found = top == F
        if taken is not None:
            found &= ~taken
        return (_scatter_max(dF, S, arg, found), None,
                found if taken is None else taken | found)
    rows, starts = sequence_rows(batch)
    lengths = batch.lengths
    dS = np.zeros_like(S)
    by_seq = S[rows]
    scores = by_seq @ w_att
    e = np.exp(scores - np.repeat(stats["top"], lengths))
    alpha = e / np.repeat(stats["norm"], lengths)
    dF_steps = np.repeat(dF, lengths, axis=0)
    # ds_t = a_t (dF . S_t - dF . F): the softmax's Jacobian applied to dF . S.
    g = np.einsum("ij,ij->i", dF_steps, by_seq)
    d_scores = alpha * (g - np.repeat(np.einsum("ij,ij->i", dF, F), lengths))
    dS[rows] = alpha[:, None] * dF_steps + d_scores[:, None] * w_att[None, :]
    return dS, by_seq.T @ d_scores, taken
