"""The packed layout (see :mod:`skrnn._packing`): its row indices, the
caller's arrays copied into it, and its rows reduced per sequence (the
pooled readouts' sums and maxima), in one pass each."""

from cython cimport floating
from libc.stdint cimport int64_t, uint32_t, uint64_t
from libc.stdlib cimport free, malloc
from libc.string cimport memcpy

cimport numpy as cnp
import numpy as np

cnp.import_array()


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


def packed_layout(const int64_t[::1] offsets, const Py_ssize_t[::1] order,
                  const int64_t[::1] lengths):
    """The packed layout of the sequences ``order`` (container rows
    ``offsets[order[j]]:`` on), of non-increasing ``lengths``, in one pass:
    (batch_sizes (T,), starts (T + 1,), last (B,)), all intp; see
    :class:`skrnn._packing.PackedBatch`, which makes the gather rows
    (:func:`packed_gather`) only if read. Empty sequences come last and pack
    nothing; their ``last`` is ``starts[T] + j``, past every row.
    """
    cdef Py_ssize_t B = order.shape[0], j, t, T
    if lengths.shape[0] != B or B == 0:
        raise ValueError(f"{lengths.shape[0]} lengths for {B} sequences; a "
                         "batch needs at least one.")
    for j in range(B):
        if lengths[j] < 0 or (j and lengths[j] > lengths[j - 1]):
            raise ValueError("lengths must be non-negative and non-increasing; "
                             f"entry {j} is {lengths[j]}.")
        if order[j] < 0 or order[j] + 1 >= offsets.shape[0]:
            raise ValueError(f"Sequence {order[j]} is not one of the "
                             f"{offsets.shape[0] - 1} sequences.")
    T = lengths[0]
    batch_sizes = np.empty(T, dtype=np.intp)
    starts = np.empty(T + 1, dtype=np.intp)
    last = np.empty(B, dtype=np.intp)
    cdef Py_ssize_t[::1] bs = batch_sizes, st = starts, la = last
    with nogil:
        # batch_sizes[t] = #{j : L_j > t}: sequence j is the last active one
        # at the steps L_{j+1} <= t < L_j.
        for j in range(B):
            for t in range(lengths[j + 1] if j + 1 < B else 0, lengths[j]):
                bs[t] = j + 1
        st[0] = 0
        for t in range(T):
            st[t + 1] = st[t] + bs[t]
        for j in range(B):
            la[j] = st[lengths[j] - 1 if lengths[j] else T] + j
    return batch_sizes, starts, last


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


def matrix_shapes(list arrays):
    """The shapes of a list of 2-D ndarrays in one pass: (shapes (n, 2)
    int64, the set of their dtypes), or None if an item is not exactly an
    ndarray or not 2-D (the caller's general path then looks at each).

    Reading ``.shape`` and ``.dtype`` through Python per item was most of
    validating a predict of many short sequences.
    """
    cdef Py_ssize_t i, n = len(arrays)
    cdef object item
    cdef cnp.ndarray a
    cdef void *last = NULL
    shapes = np.empty((n, 2), dtype=np.int64)
    cdef int64_t[:, ::1] out = shapes
    dtypes = set()
    for i in range(n):
        item = arrays[i]
        if not cnp.PyArray_CheckExact(item):
            return None
        a = <cnp.ndarray> item
        if cnp.PyArray_NDIM(a) != 2:
            return None
        out[i, 0] = cnp.PyArray_DIM(a, 0)
        out[i, 1] = cnp.PyArray_DIM(a, 1)
        # Items of one dtype share its descriptor: the set is seldom touched.
        if <void *> cnp.PyArray_DESCR(a) != last:
            last = <void *> cnp.PyArray_DESCR(a)
            dtypes.add(a.dtype)
    return shapes, dtypes


cdef enum:
    # Sequences pack_arrays copies step by step together (see there).
    _PACK_GROUP = 16


ctypedef fused source_t:
    float
    double


cdef inline void _copy_row(const source_t *src, Py_ssize_t stride,
                           floating *dst, Py_ssize_t n) noexcept nogil:
    """dst[:n] = src[::stride] (a stride in bytes), cast."""
    cdef Py_ssize_t f
    cdef const char *base = <const char *> src
    if stride == sizeof(source_t):
        for f in range(n):
            dst[f] = <floating> src[f]
    else:
        for f in range(n):
            dst[f] = <floating> (<const source_t *> (base + f * stride))[0]


cdef bint _all_finite(const floating *x, Py_ssize_t n) noexcept nogil:
    """Whether x[:n] holds no infinity and no NaN: no value whose exponent
    bits are all ones, an integer test that gcc vectorises (a float test
    reduced with &= it did not, and it cost a quarter of the packing)."""
    cdef Py_ssize_t i
    cdef uint32_t word32, bad32 = 0
    cdef uint64_t word64, bad64 = 0
    if floating is float:
        for i in range(n):
            memcpy(&word32, &x[i], 4)
            bad32 |= (word32 & 0x7f800000u) == 0x7f800000u
        return bad32 == 0
    else:
        for i in range(n):
            memcpy(&word64, &x[i], 8)
            bad64 |= (word64 & 0x7ff0000000000000u) == 0x7ff0000000000000u
        return bad64 == 0


def pack_arrays(list arrays, const Py_ssize_t[::1] order,
                const Py_ssize_t[::1] batch_sizes, floating[:, ::1] out):
    """Copy the sequences ``arrays[order[j]]`` into the packed ``out``, cast.

    Row j of step t goes to the packed row ``starts[t] + j``, ``starts``
    being the cumulative ``batch_sizes``; ``order`` lists the sequences
    longest first (empty ones last, packing nothing). Each array is a 2-D
    float32 or float64 ndarray in native byte order, with any strides.
    Returns whether every copied value is finite in ``out``'s dtype (a
    float64 value too large for float32 is not).
    """
    cdef Py_ssize_t n_seqs = order.shape[0], n_features = out.shape[1]
    cdef Py_ssize_t n_steps = batch_sizes.shape[0], total = 0
    cdef Py_ssize_t j, t, length, col_stride, group, first, stop
    cdef cnp.ndarray a
    cdef char *src
    cdef floating *dst
    cdef bint finite = True
    if n_steps and batch_sizes[0] > n_seqs:
        raise ValueError(f"batch_sizes[0] is {batch_sizes[0]}; the batch has "
                         f"{n_seqs} sequences.")
    for t in range(n_steps):
        if batch_sizes[t] < 0 or (t and batch_sizes[t] > batch_sizes[t - 1]):
            raise ValueError("batch_sizes must be non-negative and non-increasing.")
        total += batch_sizes[t]
    if total != out.shape[0]:
        raise ValueError(f"out has {out.shape[0]} rows; the batch has {total}.")
    # References held here keep every array alive while the GIL is released.
    held = [arrays[i] for i in order]
    cdef char **data = <char **> malloc(n_seqs * sizeof(char *) + 1)
    cdef Py_ssize_t *shape = <Py_ssize_t *> malloc(3 * n_seqs * sizeof(Py_ssize_t) + 1)
    cdef int *is_double = <int *> malloc(n_seqs * sizeof(int) + 1)
    cdef Py_ssize_t *starts = <Py_ssize_t *> malloc((n_steps + 1) * sizeof(Py_ssize_t))
    if data == NULL or shape == NULL or is_double == NULL or starts == NULL:
        free(data)
        free(shape)
        free(is_double)
        free(starts)
        raise MemoryError()
    try:
        for j in range(n_seqs):
            a = held[j]
            if (cnp.PyArray_NDIM(a) != 2 or a.shape[1] != n_features
                    or not cnp.PyArray_ISNOTSWAPPED(a)
                    or cnp.PyArray_TYPE(a) not in (cnp.NPY_FLOAT32, cnp.NPY_FLOAT64)):
                raise ValueError(
                    f"Sequence {order[j]} is not a 2-D float32 or float64 array "
                    f"of {n_features} features in native byte order.")
            length = a.shape[0]
            # Sequence j is active in exactly its first `length` steps.
            if (length > n_steps or (length and batch_sizes[length - 1] <= j)
                    or (length < n_steps and batch_sizes[length] > j)):
                raise ValueError(f"Sequence {order[j]} has {length} steps, but "
                                 "batch_sizes makes it active in another number.")
            data[j] = <char *> cnp.PyArray_DATA(a)
            shape[3 * j] = length
            shape[3 * j + 1] = cnp.PyArray_STRIDE(a, 0)
            shape[3 * j + 2] = cnp.PyArray_STRIDE(a, 1)
            is_double[j] = cnp.PyArray_TYPE(a) == cnp.NPY_FLOAT64
        with nogil:
            starts[0] = 0
            for t in range(n_steps):
                starts[t + 1] = starts[t] + batch_sizes[t]
            # Sequences in groups of _PACK_GROUP, each group step by step: the
            # reads are that many sequential streams, and each step's writes
            # are one run of rows, where going through one sequence at a
            # time wrote one row every batch_sizes[t] rows and missed the
            # cache on nearly all of them.
            for group in range((n_seqs + _PACK_GROUP - 1) // _PACK_GROUP):
                first = group * _PACK_GROUP
                stop = min(first + _PACK_GROUP, n_seqs)
                for t in range(shape[3 * first]):
                    for j in range(first, min(stop, batch_sizes[t])):
                        src = data[j] + t * shape[3 * j + 1]
                        dst = &out[starts[t] + j, 0]
                        col_stride = shape[3 * j + 2]
                        if is_double[j]:
                            _copy_row(<double *> src, col_stride, dst, n_features)
                        else:
                            _copy_row(<float *> src, col_stride, dst, n_features)
            # Checked in out's dtype: a float64 too large for float32 is not
            # finite there.
            if total and n_features:
                finite = _all_finite(&out[0, 0], total * n_features)
    finally:
        free(data)
        free(shape)
        free(is_double)
        free(starts)
    return bool(finite)


def pool_rows(bint take_max, const floating[:, ::1] S,
              const Py_ssize_t[::1] starts, const Py_ssize_t[::1] batch_sizes,
              floating[:, :] out, Py_ssize_t[:, :] arg=None,
              const Py_ssize_t[::1] index=None):
    """Each sequence's packed rows of S reduced in time order into ``out`` (B, D).

    The sum of its rows, or with ``take_max`` their maximum per column, the
    first in time kept on a tie, and its packed row written to ``arg`` (B,
    D) if given. Row ``starts[t] + j`` is step t of sequence j; with
    ``index`` it is read at ``S[index[starts[t] + j]]`` instead (a reversed
    direction through ``rev``). Every sequence must have a step. The
    columns of ``out`` and ``arg`` are adjacent (a column block of a wider
    array will do), so that each row is read and written whole.
    """
    cdef Py_ssize_t T = batch_sizes.shape[0], B = out.shape[0], D = out.shape[1]
    cdef Py_ssize_t t, j, d, row, n
    cdef const floating *src
    cdef floating *dst
    if T == 0 or batch_sizes[0] != B:
        raise ValueError(f"Pooling {B} sequences needs each to have a step; "
                         f"{batch_sizes[0] if T else 0} have one.")
    n = _check_starts(starts, batch_sizes)
    if S.shape[1] != D:
        raise ValueError(f"S has {S.shape[1]} columns; out has {D}.")
    if (S.shape[0] if index is None else index.shape[0]) != n:
        raise ValueError(f"{n} packed rows; S has {S.shape[0]} and index "
                         f"{'none' if index is None else index.shape[0]}.")
    if arg is not None and (arg.shape[0] != B or arg.shape[1] != D):
        raise ValueError(f"arg has shape ({arg.shape[0]}, {arg.shape[1]}); "
                         f"it needs ({B}, {D}).")
    if D > 1 and (out.strides[1] != sizeof(floating) or (
            arg is not None and arg.strides[1] != sizeof(Py_ssize_t))):
        raise ValueError("The columns of out and arg must be adjacent.")
    if index is not None:
        for row in range(n):
            if index[row] < 0 or index[row] >= S.shape[0]:
                raise ValueError(f"index[{row}] = {index[row]} is not a row of S.")
    if D == 0:
        return
    with nogil:
        for t in range(T):
            for j in range(batch_sizes[t]):
                row = starts[t] + j
                src = &S[row if index is None else index[row], 0]
                dst = &out[j, 0]
                if t == 0:
                    memcpy(dst, src, D * sizeof(floating))
                    if arg is not None:
                        for d in range(D):
                            arg[j, d] = row
                elif not take_max:
                    _add_row(dst, src, D)
                elif arg is None:
                    _max_row(dst, src, D)
                else:
                    _argmax_row(dst, &arg[j, 0], src, row, D)


cdef inline void _add_row(floating *dst, const floating *src,
                          Py_ssize_t n) noexcept nogil:
    """dst += src per element."""
    cdef Py_ssize_t d
    for d in range(n):
        dst[d] += src[d]


cdef inline void _max_row(floating *dst, const floating *src,
                          Py_ssize_t n) noexcept nogil:
    """dst = max(dst, src) per element, dst kept on a tie; a select, not a
    branch, so that gcc vectorises it."""
    cdef Py_ssize_t d
    cdef floating v
    for d in range(n):
        v = src[d]
        dst[d] = v if v > dst[d] else dst[d]


cdef inline void _argmax_row(floating *dst, Py_ssize_t *at, const floating *src,
                             Py_ssize_t row, Py_ssize_t n) noexcept nogil:
    """:func:`_max_row`, and ``row`` written to ``at`` wherever src won."""
    cdef Py_ssize_t d
    cdef floating v, old
    for d in range(n):
        v = src[d]
        old = dst[d]
        dst[d] = v if v > old else old
        at[d] = row if v > old else at[d]


def spread_rows(const floating[:, :] src, const Py_ssize_t[::1] starts,
                const Py_ssize_t[::1] batch_sizes, floating[:, ::1] out):
    """out[starts[t] + j] = src[j] for every packed row: each sequence's row
    of ``src`` (B, D) copied to all its steps."""
    cdef Py_ssize_t T = batch_sizes.shape[0], t, j, d, D = src.shape[1]
    _check_sizes(batch_sizes, out.shape[0], "out", src.shape[0], "rows of src")
    _check_starts(starts, batch_sizes)
    if out.shape[1] != D:
        raise ValueError(f"out has {out.shape[1]} columns; src has {D}.")
    with nogil:
        for t in range(T):
            for j in range(batch_sizes[t]):
                for d in range(D):
                    out[starts[t] + j, d] = src[j, d]


cdef Py_ssize_t _check_starts(const Py_ssize_t[::1] starts,
                              const Py_ssize_t[::1] batch_sizes) except -1:
    """The number of packed rows; raise ValueError unless ``batch_sizes`` do
    not increase and ``starts`` are their cumulative sums from 0."""
    cdef Py_ssize_t t, T = batch_sizes.shape[0]
    if starts.shape[0] != T + 1 or starts[0] != 0:
        raise ValueError(f"starts must be the {T + 1} cumulative batch sizes "
                         "from 0.")
    for t in range(T):
        if batch_sizes[t] < 0 or (t and batch_sizes[t] > batch_sizes[t - 1]):
            raise ValueError("batch_sizes must be non-negative and non-increasing.")
        if starts[t + 1] - starts[t] != batch_sizes[t]:
            raise ValueError(f"starts must be the {T + 1} cumulative batch sizes "
                             f"from 0; entry {t + 1} is not.")
    return starts[T]
