"""Python entry point to the BLAS façade, for tests and one-off products."""

from cython cimport floating

from ._blas cimport gemm, pack, packed_gemm, skrnn_gemm_level, skrnn_packed_free


def gemm_into(const floating[:, ::1] a, const floating[:, ::1] b,
              floating[:, ::1] c, bint trans_a=False, bint trans_b=False,
              floating alpha=1.0, floating beta=0.0):
    """c = alpha * op(a) @ op(b) + beta * c, in place, without the GIL.

    All three arrays are C-contiguous and of one floating dtype.
    """
    cdef int m = a.shape[1] if trans_a else a.shape[0]
    cdef int k = a.shape[0] if trans_a else a.shape[1]
    cdef int kb = b.shape[1] if trans_b else b.shape[0]
    cdef int n = b.shape[0] if trans_b else b.shape[1]
    if k != kb or c.shape[0] != m or c.shape[1] != n:
        raise ValueError(
            f"gemm_into: shapes do not conform: op(a) is ({m}, {k}), "
            f"op(b) is ({kb}, {n}), c is ({c.shape[0]}, {c.shape[1]})"
        )
    if m == 0 or n == 0:
        return
    with nogil:
        gemm(trans_a, trans_b, m, n, k, alpha,
             &a[0, 0] if a.shape[0] * a.shape[1] else NULL, a.shape[1],
             &b[0, 0] if b.shape[0] * b.shape[1] else NULL, b.shape[1],
             beta, &c[0, 0], n)


def packed_gemm_into(const floating[:, ::1] a, const floating[:, ::1] b,
                     floating[:, ::1] c, bint trans_b=False,
                     bint accumulate=False):
    """c = a @ op(b) (+ c if ``accumulate``) through the packed product.

    Returns False, leaving c untouched, where the packed product has no
    SIMD path on this machine (the kernels then use BLAS).
    """
    cdef int m = a.shape[0], k = a.shape[1]
    cdef int kb = b.shape[1] if trans_b else b.shape[0]
    cdef int n = b.shape[0] if trans_b else b.shape[1]
    cdef floating *packed
    if k != kb or c.shape[0] != m or c.shape[1] != n:
        raise ValueError(
            f"packed_gemm_into: shapes do not conform: a is ({m}, {k}), "
            f"op(b) is ({kb}, {n}), c is ({c.shape[0]}, {c.shape[1]})"
        )
    if m == 0 or n == 0 or k == 0:
        raise ValueError("packed_gemm_into needs non-empty operands")
    with nogil:
        packed = pack(&b[0, 0], b.shape[1], k, n, trans_b)
        if packed != NULL:
            packed_gemm(m, n, k, &a[0, 0], k, packed, accumulate, &c[0, 0], n)
            skrnn_packed_free(packed)
    return packed != NULL


def packed_gemm_level():
    """2 for the AVX-512 packed product, 1 for AVX2 with FMA, 0 for none."""
    return skrnn_gemm_level()
