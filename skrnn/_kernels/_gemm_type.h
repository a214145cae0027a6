/* The packed product for the real type REAL: its kernels for AVX-512 and
 * for AVX2 with FMA, packing and dispatch (included by _gemm.h, which
 * documents the layout). */

#ifdef SKRNN_HAVE_PACKED
#define TGT(name) SFX(name##512)
#define TARGET "avx512f"
#define VBYTES 64
#define MR 8
#include "_gemm_impl.h"
#undef TGT
#undef TARGET
#undef VBYTES
#undef MR

#define TGT(name) SFX(name##256)
#define TARGET "avx2,fma"
#define VBYTES 32
#define MR 3
#include "_gemm_impl.h"
#undef TGT
#undef TARGET
#undef VBYTES
#undef MR
#endif

/* The packed copy of B (k x n, row stride ldb), or of B = W^T for W (n x k,
 * row stride ldb) when `transposed`; NULL when there is no SIMD path, no
 * memory, or B is narrower than one panel (half of it would be padding, and
 * BLAS is faster there), and the caller then uses BLAS. Free it with
 * skrnn_packed_free. */
static REAL *SFX(skrnn_pack)(const REAL *b, int ldb, int k, int n,
                             int transposed)
{
    const int nr = SKRNN_PANEL_BYTES / (int) sizeof(REAL);
    const int panels = (n + nr - 1) / nr;
    REAL *packed;
    int p, kk, j;
    if (skrnn_gemm_level() == 0 || k <= 0 || n < nr)
        return NULL;
    packed = (REAL *) aligned_alloc(SKRNN_PANEL_BYTES,
                                    (size_t) panels * k * SKRNN_PANEL_BYTES);
    if (packed == NULL)
        return NULL;
    for (p = 0; p < panels; p++) {
        REAL *panel = packed + (size_t) p * k * nr;
        const int cols = n - p * nr < nr ? n - p * nr : nr;
        for (kk = 0; kk < k; kk++) {
            REAL *row = panel + (size_t) kk * nr;
            for (j = 0; j < cols; j++)
                row[j] = transposed ? b[(size_t) (p * nr + j) * ldb + kk]
                                    : b[(size_t) kk * ldb + p * nr + j];
            for (; j < nr; j++)
                row[j] = 0;
        }
    }
    return packed;
}

/* C (m x n, row stride ldc) = A (m x k, row stride lda) @ B, plus C itself
 * when `accumulate`; `packed` is skrnn_pack's copy of B, not NULL. */
static void SFX(skrnn_packed_gemm)(int m, int n, int k, const REAL *a, int lda,
                                   const REAL *packed, int accumulate, REAL *c,
                                   int ldc)
{
#ifdef SKRNN_HAVE_PACKED
    if (m <= 0 || n <= 0)
        return;
    if (skrnn_gemm_level() == 2)
        SFX(skrnn_packed_gemm512)(m, n, k, a, lda, packed, accumulate, c, ldc);
    else
        SFX(skrnn_packed_gemm256)(m, n, k, a, lda, packed, accumulate, c, ldc);
#else
    /* Unreachable: without a SIMD path no packed copy is ever made. */
    (void) m; (void) n; (void) k; (void) a; (void) lda; (void) packed;
    (void) accumulate; (void) c; (void) ldc;
#endif
}
