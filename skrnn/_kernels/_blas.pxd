"""Row-major BLAS façade over scipy.linalg.cython_blas for the fused type floating."""

from cython cimport floating
from scipy.linalg.cython_blas cimport dgemm, sgemm


cdef inline void gemm(bint trans_a, bint trans_b, int m, int n, int k,
                      floating alpha, const floating *a, int lda,
                      const floating *b, int ldb, floating beta,
                      floating *c, int ldc) noexcept nogil:
    """C = alpha * op(A) @ op(B) + beta * C with every matrix row-major.

    op(A) is (m, k), op(B) is (k, n) and C is (m, n); lda, ldb and ldc are the
    row strides in elements. A row-major product is the column-major product of
    the transposes, C^T = op(B)^T op(A)^T, so the Fortran routine is called with
    the operands swapped and the same transpose flags.
    """
    cdef char ta = b'T' if trans_a else b'N'
    cdef char tb = b'T' if trans_b else b'N'
    cdef Py_ssize_t i, j
    if m <= 0 or n <= 0:
        return
    if k <= 0:
        # BLAS rejects a zero leading dimension; an empty sum is beta * C.
        for i in range(m):
            for j in range(n):
                c[i * ldc + j] = 0 if beta == 0 else beta * c[i * ldc + j]
        return
    if floating is float:
        sgemm(&tb, &ta, &n, &m, &k, &alpha, <float *> b, &ldb,
              <float *> a, &lda, &beta, c, &ldc)
    else:
        dgemm(&tb, &ta, &n, &m, &k, &alpha, <double *> b, &ldb,
              <double *> a, &lda, &beta, c, &ldc)


cdef extern from "_gemm.h" nogil:
    int skrnn_gemm_level()
    void skrnn_packed_free(void *packed)
    float *skrnn_pack_f(const float *b, int ldb, int k, int n, int transposed)
    double *skrnn_pack_d(const double *b, int ldb, int k, int n, int transposed)
    void skrnn_packed_gemm_f(int m, int n, int k, const float *a, int lda,
                             const float *packed, int accumulate, float *c,
                             int ldc)
    void skrnn_packed_gemm_d(int m, int n, int k, const double *a, int lda,
                             const double *packed, int accumulate, double *c,
                             int ldc)


cdef inline floating *pack(const floating *b, int ldb, int k, int n,
                           bint transposed) noexcept nogil:
    """The packed copy of B (k, n) or, if ``transposed``, of W^T for W (n, k)
    with row stride ldb, for :func:`packed_gemm`; NULL where there is none
    (no SIMD path, or no memory), and the caller uses :func:`gemm`. Free it
    with ``skrnn_packed_free``."""
    if floating is float:
        return skrnn_pack_f(b, ldb, k, n, transposed)
    else:
        return skrnn_pack_d(b, ldb, k, n, transposed)


cdef inline void packed_gemm(int m, int n, int k, const floating *a, int lda,
                             const floating *packed, bint accumulate,
                             floating *c, int ldc) noexcept nogil:
    """C (m, n) = A (m, k) @ B (+ C if ``accumulate``), B packed by :func:`pack`."""
    if floating is float:
        skrnn_packed_gemm_f(m, n, k, a, lda, packed, accumulate, c, ldc)
    else:
        skrnn_packed_gemm_d(m, n, k, a, lda, packed, accumulate, c, ldc)
