/* The packed product for one real type REAL and one instruction set
 * (TARGET, vectors of VBYTES bytes, tiles of up to MR rows), named by TGT;
 * included twice by _gemm_type.h; _gemm.h documents the layout. */

#define NV (SKRNN_PANEL_BYTES / VBYTES)
#define NR (SKRNN_PANEL_BYTES / (int) sizeof(REAL))
#define LANES (VBYTES / (int) sizeof(REAL))

typedef REAL TGT(skrnn_vec) __attribute__((vector_size(VBYTES)));
/* The same vector at any element alignment, for the rows of C. */
typedef REAL TGT(skrnn_uvec) __attribute__((vector_size(VBYTES), aligned(sizeof(REAL))));

/* C[:m, :cols] (+)= A[:m] @ one panel; m is a constant after inlining, so
 * the accumulators live in registers. */
static inline __attribute__((always_inline, target(TARGET))) void
TGT(skrnn_tile)(const int m, int k, const REAL *a, int lda, const REAL *panel,
                int accumulate, REAL *c, int ldc, int cols)
{
    TGT(skrnn_vec) acc[MR][NV];
    TGT(skrnn_vec) row[NV];
    REAL edge[NR] __attribute__((aligned(SKRNN_PANEL_BYTES)));
    int i, v, j, kk;
#pragma GCC unroll 8
    for (i = 0; i < m; i++) {
#pragma GCC unroll 4
        for (v = 0; v < NV; v++)
            acc[i][v] = (TGT(skrnn_vec)) {0};
    }
    for (kk = 0; kk < k; kk++) {
#pragma GCC unroll 4
        for (v = 0; v < NV; v++)
            row[v] = *(const TGT(skrnn_vec) *) (panel + (size_t) kk * NR + v * LANES);
#pragma GCC unroll 8
        for (i = 0; i < m; i++) {
            const REAL x = a[(size_t) i * lda + kk];
#pragma GCC unroll 4
            for (v = 0; v < NV; v++)
                acc[i][v] += row[v] * x;
        }
    }
    /* C is added to the finished sum, as BLAS does with beta = 1. */
#pragma GCC unroll 8
    for (i = 0; i < m; i++) {
        REAL *out = c + (size_t) i * ldc;
        if (cols == NR) {
#pragma GCC unroll 4
            for (v = 0; v < NV; v++) {
                if (accumulate)
                    acc[i][v] += *(const TGT(skrnn_uvec) *) (out + v * LANES);
                *(TGT(skrnn_uvec) *) (out + v * LANES) = acc[i][v];
            }
        } else {
            /* The right edge: the padded columns are not written. */
#pragma GCC unroll 4
            for (v = 0; v < NV; v++)
                *(TGT(skrnn_vec) *) (edge + v * LANES) = acc[i][v];
            for (j = 0; j < cols; j++)
                out[j] = accumulate ? edge[j] + out[j] : edge[j];
        }
    }
}

static __attribute__((target(TARGET))) void
TGT(skrnn_packed_gemm)(int m, int n, int k, const REAL *a, int lda,
                       const REAL *packed, int accumulate, REAL *c, int ldc)
{
    int p, i, cols;
    const REAL *panel;
    for (p = 0; p * NR < n; p++) {
        panel = packed + (size_t) p * k * NR;
        cols = n - p * NR < NR ? n - p * NR : NR;
        for (i = 0; i + MR <= m; i += MR)
            TGT(skrnn_tile)(MR, k, a + (size_t) i * lda, lda, panel, accumulate,
                            c + (size_t) i * ldc + p * NR, ldc, cols);
        /* The last m % MR rows, in a tile of that constant height. */
        switch (m - i) {
#define SKRNN_REST(r)                                                          \
        case r:                                                                \
            TGT(skrnn_tile)(r, k, a + (size_t) i * lda, lda, panel, accumulate, \
                            c + (size_t) i * ldc + p * NR, ldc, cols);         \
            break;
        SKRNN_REST(1)
        SKRNN_REST(2)
#if MR > 3
        SKRNN_REST(3)
        SKRNN_REST(4)
        SKRNN_REST(5)
        SKRNN_REST(6)
        SKRNN_REST(7)
#endif
#undef SKRNN_REST
        default:
            break;
        }
    }
}

#undef NV
#undef NR
#undef LANES
