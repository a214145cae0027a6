"""Row indices of the packed layout (see :mod:`skrnn._packing`), in one pass each."""

from libc.stdint cimport int64_t


def packed_gather(const int64_t[::1] offsets, const Py_ssize_t[::1] batch_sizes,
                  Py_ssize_t[::1] gather):
    """gather[k] = offsets[j] + t for the packed row k of step t of sequence j.

    ``offsets`` holds the first container row of each sequence in packed
    order; ``gather`` has sum(batch_sizes) entries.
    """
    cdef Py_ssize_t t, j, k = 0
    _check_sizes(batch_sizes, gather.shape[0], "gather", offsets.shape[0],
                 "offsets")
    with nogil:
        for t in range(batch_sizes.shape[0]):
            for j in range(batch_sizes[t]):
                gather[k] = <Py_ssize_t> offsets[j] + t
                k += 1


def packed_reversal(const Py_ssize_t[::1] lengths,
                    const Py_ssize_t[::1] starts,
                    const Py_ssize_t[::1] batch_sizes, Py_ssize_t[::1] rev):
    """rev[k] = starts[L_j - 1 - t] + j for the packed row k of step t of sequence j."""
    cdef Py_ssize_t t, j, k = 0
    _check_sizes(batch_sizes, rev.shape[0], "rev", lengths.shape[0], "lengths")
    if starts.shape[0] != batch_sizes.shape[0] + 1:
        raise ValueError(f"starts has {starts.shape[0]} entries; it needs "
                         f"{batch_sizes.shape[0] + 1}.")
    # Each length must be the number of steps its sequence is active in, or
    # starts would be read out of range: one sweep, as batch_sizes does not
    # increase.
    t = batch_sizes.shape[0]
    for j in range(batch_sizes[0] if t else 0):
        while t > 0 and batch_sizes[t - 1] <= j:
            t -= 1
        if lengths[j] != t:
            raise ValueError(f"Sequence {j} has length {lengths[j]}, but "
                             f"batch_sizes makes it active in {t} steps.")
    with nogil:
        for t in range(batch_sizes.shape[0]):
            for j in range(batch_sizes[t]):
                rev[k] = starts[lengths[j] - 1 - t] + j
                k += 1


cdef int _check_sizes(const Py_ssize_t[::1] batch_sizes, Py_ssize_t n_out,
                      str out_name, Py_ssize_t n_per_sequence,
                      str per_sequence_name) except -1:
    """Raise ValueError unless the output has one entry per packed row and
    the per-sequence input one per sequence: the loops would run past them."""
    cdef Py_ssize_t t, n = 0
    for t in range(batch_sizes.shape[0]):
        n += batch_sizes[t]
    if n_out != n:
        raise ValueError(f"{out_name} has {n_out} entries; the batch has {n} "
                         "rows.")
    if batch_sizes.shape[0] and n_per_sequence < batch_sizes[0]:
        raise ValueError(f"{n_per_sequence} {per_sequence_name} for "
                         f"{batch_sizes[0]} sequences.")
    return 0
