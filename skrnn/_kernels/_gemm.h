/* Products with a pre-packed right operand, for the per-step recurrent
 * products of the time loops, instantiated from _gemm_impl.h for float
 * (suffix _f) and double (suffix _d).
 *
 * A time loop multiplies a few rows (the sequences still running) by the
 * same weight matrix at every step. BLAS packs that matrix again on every
 * call, which for a few rows costs about as much as the product itself
 * (benchmarks/README.md). Here it is packed once per pass, into panels of
 * 128 bytes of columns, k rows each, zero-padded at the right edge, and the
 * product streams the panels: a tile of up to MR rows keeps its 128-byte
 * rows of C in registers and adds one broadcast element of A times one
 * panel row per k.
 *
 * Compiled for AVX-512 and for AVX2 with FMA, chosen at run time; elsewhere
 * (another CPU, compiler or OS) skrnn_pack_* returns NULL and the caller
 * uses BLAS. Each element of C is summed over k in order, one multiply-add
 * per term (fused in optimised builds), whatever m, and C (when
 * accumulating) is added to the finished sum, as BLAS adds beta * C: so a
 * row's result does not depend on which other rows share its product.
 */
#ifndef SKRNN_GEMM_H
#define SKRNN_GEMM_H

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#define SKRNN_PANEL_BYTES 128

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && \
    defined(__linux__) && !defined(SKRNN_NO_TARGET_CLONES)
#define SKRNN_HAVE_PACKED 1
#endif

/* 2 for AVX-512, 1 for AVX2 with FMA, 0 for neither (or no support built,
 * or SKRNN_NO_PACKED_GEMM set to anything but 0, which tests the BLAS path). */
static int skrnn_gemm_level(void)
{
#ifdef SKRNN_HAVE_PACKED
    static int level = -1;
    int seen = __atomic_load_n(&level, __ATOMIC_RELAXED);
    const char *off;
    if (seen < 0) {
        __builtin_cpu_init();
        seen = __builtin_cpu_supports("avx512f") ? 2
               : (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) ? 1
               : 0;
        off = getenv("SKRNN_NO_PACKED_GEMM");
        if (off != NULL && off[0] != '\0' && strcmp(off, "0") != 0)
            seen = 0;
        __atomic_store_n(&level, seen, __ATOMIC_RELAXED);
    }
    return seen;
#else
    return 0;
#endif
}

static void skrnn_packed_free(void *packed)
{
    free(packed);
}

#define REAL float
#define SFX(name) name##_f
#include "_gemm_type.h"
#undef REAL
#undef SFX

#define REAL double
#define SFX(name) name##_d
#include "_gemm_type.h"
#undef REAL
#undef SFX

#endif
