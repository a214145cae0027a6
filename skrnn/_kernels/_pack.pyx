"""Row indices of the packed layout (see :mod:`skrnn._packing`), in one pass each."""

from libc.stdint cimport int64_t


def packed_gather(const int64_t[::1] offsets, const Py_ssize_t[::1] batch_sizes,
                  Py_ssize_t[::1] gather):
    """gather[k] = offsets[j] + t for the packed row k of step t of sequence j.

    ``offsets`` holds the first container row of each sequence in packed
    order; ``gather`` has sum(batch_sizes) entries.
    """
    cdef Py_ssize_t t, j, k = 0
    if gather.shape[0] != _total(batch_sizes):
        raise ValueError(f"gather has {gather.shape[0]} entries; the batch "
                         f"has {_total(batch_sizes)} rows.")
    if batch_sizes.shape[0] and offsets.shape[0] < batch_sizes[0]:
        raise ValueError(f"{offsets.shape[0]} offsets for {batch_sizes[0]} "
                         "sequences.")
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
    if rev.shape[0] != _total(batch_sizes):
        raise ValueError(f"rev has {rev.shape[0]} entries; the batch has "
                         f"{_total(batch_sizes)} rows.")
    if batch_sizes.shape[0] and lengths.shape[0] < batch_sizes[0]:
        raise ValueError(f"{lengths.shape[0]} lengths for {batch_sizes[0]} "
                         "sequences.")
    with nogil:
        for t in range(batch_sizes.shape[0]):
            for j in range(batch_sizes[t]):
                rev[k] = starts[lengths[j] - 1 - t] + j
                k += 1


cdef Py_ssize_t _total(const Py_ssize_t[::1] batch_sizes) noexcept:
    cdef Py_ssize_t t, n = 0
    for t in range(batch_sizes.shape[0]):
        n += batch_sizes[t]
    return n
